"""The delayed-regression recipe (reduced): test MSE within twice the noise variance."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from rnnkit.recipes import run_recipe
from rnnkit.recipes.delayed_regression import make_sequences


def test_targets_follow_the_exercise() -> None:
    """y1(t) = 5 x1(t) - 0.2 x3(t-1), y2(t) = 25 x2(t-1) x3(t-3), plus noise of std 0.1."""
    x, y = make_sequences(64, 30, np.random.default_rng(0))
    clean1 = 5 * x[:, :, 0]
    clean1[:, 1:] -= 0.2 * x[:, :-1, 2]
    clean2 = np.zeros_like(clean1)
    clean2[:, 3:] = 25 * x[:, 2:-1, 1] * x[:, :-3, 2]
    noise = np.stack([y[:, :, 0] - clean1, y[:, :, 1] - clean2])
    assert abs(noise.std() - 0.1) < 0.005 and abs(noise.mean()) < 0.005
    assert ((x >= 0) & (x < 1)).all()
    with pytest.raises(ValueError, match="Argument `steps` must be a positive integer"):
        make_sequences(2, 0, np.random.default_rng(0))


def test_test_mse_within_twice_the_noise_variance(tmp_path: Path) -> None:
    run = run_recipe("delayed-regression", out=tmp_path, stream=io.StringIO(),
                     overrides={"course_iterations": 50})
    results = run.results
    assert results["noise_variance"] == pytest.approx(0.01)
    assert results["test_mse_mean"] < 2 * results["noise_variance"]
    assert results["test_mse"][0] < 2 * results["noise_variance"]  # y1 on its own too
    assert results["course"]["test_mse_mean"] > results["test_mse_mean"]
    assert (tmp_path / "predictions.png").stat().st_size > 1000
