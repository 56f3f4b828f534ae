"""Learning-rate schedules: warm-up, then constant, step, cosine or plateau.

``get_lr`` is a pure function of the step for every schedule but ``plateau``, whose factor
depends on the validation history and lives in :class:`Plateau` (its state is saved in
checkpoints). With ``w`` warm-up steps, ``lr`` the peak rate and ``s`` the number of updates
already made::

    warm-up (s < w):  lr * (s + 1) / (w + 1)
    constant:         lr
    step:             lr * gamma ** (s // step_size)
    cosine:           min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2,   p = (s - w) / (S - w)
    plateau:          lr * plateau_factor ** (reductions so far)

where ``S`` is the total number of steps (``p`` is clamped to ``[0, 1]``).
"""

from __future__ import annotations

import math
from typing import Any

from rnnkit.config import TrainConfig

__all__ = ["Plateau", "get_lr", "is_better"]


def get_lr(step: int, config: TrainConfig, total_steps: int | None = None) -> float:
    """The learning rate of the update made after ``step`` updates (before plateau factors).

    Args:
        step: updates already made (0 for the first update).
        config: supplies ``lr``, ``schedule``, ``warmup_steps``, ``step_size``, ``gamma`` and
            ``min_lr``.
        total_steps: ``S``, needed by the cosine schedule.

    Returns:
        The learning rate.

    Raises:
        ValueError: a negative ``step``, or the cosine schedule without ``total_steps``.

    Example:
        >>> cfg = TrainConfig(lr=1.0, schedule="step", step_size=10, gamma=0.5, warmup_steps=3)
        >>> [get_lr(s, cfg) for s in (0, 2, 3, 9, 10, 25)]
        [0.25, 0.75, 1.0, 1.0, 0.5, 0.25]
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"Argument `step` expects a non-negative integer, got {step!r}.")
    if step < config.warmup_steps:
        return config.lr * (step + 1) / (config.warmup_steps + 1)
    if config.schedule in ("constant", "plateau"):
        return config.lr
    if config.schedule == "step":
        return config.lr * config.gamma ** (step // config.step_size)
    if total_steps is None or total_steps <= 0:
        raise ValueError(
            "Schedule `cosine` needs the total number of steps (set max_steps, or max_epochs "
            f"with a training source of known length), got total_steps={total_steps!r}."
        )
    span = max(total_steps - config.warmup_steps, 1)
    progress = min(max((step - config.warmup_steps) / span, 0.0), 1.0)
    return config.min_lr + (config.lr - config.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` (``None`` = nothing yet) under ``mode`` min/max.

    Example:
        >>> is_better(0.5, 0.7, "min"), is_better(0.5, 0.7, "max"), is_better(1.0, None, "max")
        (True, False, True)
    """
    if mode not in ("min", "max"):
        raise ValueError(f"Argument `mode` expects 'min' or 'max', got {mode!r}.")
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


class Plateau:
    """Multiply the learning rate by ``factor`` after ``patience`` evaluations without progress.

    Args:
        factor: in (0, 1).
        patience: evaluations without improvement tolerated before a reduction.
        mode: ``"min"`` or ``"max"``, as for the monitored metric.

    Example:
        >>> plateau = Plateau(factor=0.5, patience=1, mode="min")
        >>> [plateau.update(v) for v in (3.0, 2.0, 2.5, 2.4, 2.6)]
        [False, False, False, True, False]
        >>> plateau.scale
        0.5
    """

    def __init__(self, factor: float, patience: int, mode: str) -> None:
        if not 0 < factor < 1:
            raise ValueError(f"Argument `factor` expects a float in (0, 1), got {factor!r}.")
        self.factor = factor
        self.patience = patience
        self.mode = mode
        self.best: float | None = None
        self.bad_evals = 0
        self.scale = 1.0

    def update(self, value: float) -> bool:
        """Record one evaluation; return ``True`` when it lowers the rate."""
        if is_better(value, self.best, self.mode):
            self.best = value
            self.bad_evals = 0
            return False
        self.bad_evals += 1
        if self.bad_evals > self.patience:
            self.scale *= self.factor
            self.bad_evals = 0
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        """JSON-safe state for a checkpoint."""
        return {"best": self.best, "bad_evals": self.bad_evals, "scale": self.scale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.best = state["best"]
        self.bad_evals = int(state["bad_evals"])
        self.scale = float(state["scale"])
