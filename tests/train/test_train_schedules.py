"""Learning-rate schedules: values at given steps, written out by hand."""

from __future__ import annotations

import re

import pytest

from rnnkit.config import TrainConfig
from rnnkit.train.schedules import Plateau, get_lr, is_better


def lrs(config: TrainConfig, steps: list[int], total: int | None = None) -> list[float]:
    return [round(get_lr(s, config, total), 10) for s in steps]


def test_warmup_then_constant() -> None:
    cfg = TrainConfig(lr=0.1, warmup_steps=4)
    # warm-up: 0.1 * (s + 1) / 5
    assert lrs(cfg, [0, 1, 3, 4, 1000]) == [0.02, 0.04, 0.08, 0.1, 0.1]


def test_step_schedule() -> None:
    cfg = TrainConfig(lr=1.0, schedule="step", step_size=10, gamma=0.5)
    assert lrs(cfg, [0, 9, 10, 19, 20, 35]) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]


def test_cosine_schedule() -> None:
    cfg = TrainConfig(lr=1.0, min_lr=0.1, schedule="cosine")
    # 0.1 + 0.9 * (1 + cos(pi * s / 10)) / 2; cos(pi/5) = 0.809017
    assert lrs(cfg, [0, 2, 5, 10, 50], total=10) == [1.0, 0.9140576475, 0.55, 0.1, 0.1]
    warm = TrainConfig(lr=1.0, min_lr=0.1, schedule="cosine", warmup_steps=2)
    # warm-up 1/3, 2/3, then the decay runs over the 10 steps after it
    assert lrs(warm, [0, 1, 2, 7, 12], total=12) == [0.3333333333, 0.6666666667, 1.0, 0.55, 0.1]


def test_cosine_needs_a_total() -> None:
    with pytest.raises(ValueError, match="Schedule `cosine` needs the total number of steps"):
        get_lr(3, TrainConfig(schedule="cosine"))
    with pytest.raises(
        ValueError, match=re.escape("Argument `step` expects a non-negative integer, got -1.")
    ):
        get_lr(-1, TrainConfig())


def test_plateau_lowers_after_patience_and_saves_state() -> None:
    plateau = Plateau(factor=0.1, patience=2, mode="max")
    reductions = [plateau.update(v) for v in (0.5, 0.6, 0.6, 0.55, 0.59, 0.58, 0.7)]
    assert reductions == [False, False, False, False, True, False, False]
    assert plateau.scale == pytest.approx(0.1)
    copy = Plateau(factor=0.1, patience=2, mode="max")
    copy.load_state_dict(plateau.state_dict())
    assert copy.state_dict() == plateau.state_dict()


def test_is_better_ignores_nan() -> None:
    assert not is_better(float("nan"), None, "min")
    with pytest.raises(
        ValueError, match=re.escape("Argument `mode` expects 'min' or 'max', got 'up'.")
    ):
        is_better(1.0, 2.0, "up")
