"""The kalman recipe: the exact filter, its steady state, and the GRU against it (reduced)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.recipes import RecipeRun, run_recipe
from rnnkit.recipes.kalman import (
    REDUCED_BOUND,
    kalman_filter,
    linear_system,
    nonlinear_system,
    stationary_covariance,
    steady_state_covariance,
)


def test_scalar_filter_matches_hand_computation() -> None:
    """A = 0.9, C = 1, Q = 0.5, R = 1, prior N(0, 1), x = 1, -0.5, 2 (computed by hand)."""
    one = np.ones((1, 1))
    means, covs = kalman_filter(np.array([[[1.0], [-0.5], [2.0]]]), 0.9 * one, one, 0.5 * one,
                                one, np.zeros(1), one)
    # t=1: P⁻ = 0.81 + 0.5 = 1.31, K = 1.31/2.31, ĥ = K·1, P = (1 - K)·1.31
    assert means[0, :, 0] == pytest.approx(
        [0.5670995670995671, 0.015675747332140222, 0.9529188015504314], abs=1e-12)
    assert covs[0, :, 0, 0] == pytest.approx(
        [0.5670995670995671, 0.48962683104659643, 0.4727400636821805], abs=1e-12)


def test_extended_filter_with_identity_sensor_is_the_kalman_filter() -> None:
    system = linear_system()
    x, _ = system.simulate(3, 10, np.random.default_rng(1))
    args = (system.A, system.C, system.Q, system.R, np.zeros(2), system.prior_covariance)
    plain = kalman_filter(x, *args)
    extended = kalman_filter(x, *args, sense=lambda z: z, sense_slope=np.ones_like)
    np.testing.assert_allclose(extended[0], plain[0], atol=1e-12)
    np.testing.assert_allclose(extended[1], plain[1], atol=1e-12)


def test_filter_mse_matches_steady_state_covariance_trace() -> None:
    system = linear_system()
    x, h = system.simulate(2000, 60, np.random.default_rng(2))
    means, covs = kalman_filter(x, system.A, system.C, system.Q, system.R, np.zeros(2),
                                system.prior_covariance)
    P_ss = steady_state_covariance(system.A, system.C, system.Q, system.R)
    np.testing.assert_allclose(covs[0, 30], P_ss, atol=1e-9)  # converged after 30 steps
    per_sequence = ((means[:, 30:] - h[:, 30:]) ** 2).sum(axis=-1).mean(axis=1)  # independent
    stderr = per_sequence.std(ddof=1) / np.sqrt(len(per_sequence))
    assert stderr < 0.02 * np.trace(P_ss)
    assert abs(per_sequence.mean() - np.trace(P_ss)) < 4 * stderr
    P0 = stationary_covariance(system.A, system.Q)
    np.testing.assert_allclose(system.A @ P0 @ system.A.T + system.Q, P0, atol=1e-12)


def test_bad_input_is_refused() -> None:
    system = linear_system()
    args = (system.A, system.C, system.Q, system.R, np.zeros(2), system.prior_covariance)
    with pytest.raises(ValueError, match=r"Argument `x` must have shape \[B, T, 1\]"):
        kalman_filter(np.zeros((2, 3)), *args)
    with pytest.raises(ValueError, match="`sense` and `sense_slope` must be given together"):
        kalman_filter(np.zeros((1, 2, 1)), *args, sense=np.tanh)
    with pytest.raises(ValueError, match="Argument `steps` must be a positive integer"):
        nonlinear_system().simulate(2, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Argument `A` must have every eigenvalue inside"):
        stationary_covariance(np.eye(2), np.eye(2))


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory: pytest.TempPathFactory) -> RecipeRun:
    return run_recipe("kalman", out=tmp_path_factory.mktemp("kalman"), stream=io.StringIO())


def test_gru_matches_kalman_on_linear_and_beats_it_on_nonlinear(reduced_run: RecipeRun) -> None:
    r = reduced_run.results
    assert r["ratio"] == pytest.approx(r["rnn_mse"] / r["kalman_mse"])
    assert r["ratio"] < REDUCED_BOUND == r["reduced_bound"]
    assert r["kalman_mse"] <= r["rnn_mse"] * 1.02  # the optimal filter is not beaten by much
    nl = r["nonlinear"]
    assert nl["rnn_mse"] < nl["kalman_mse"] and nl["rnn_mse"] < nl["ekf_mse"]
    assert nl["ratio"] < 1


def test_results_json_and_plots(reduced_run: RecipeRun) -> None:
    saved = json.loads((reduced_run.run_dir / "results.json").read_text())
    results = saved["results"]
    assert {"kalman_mse", "rnn_mse", "ratio", "nonlinear", "linear"} <= set(results)
    assert {"kalman_mse", "ekf_mse", "rnn_mse", "ratio"} <= set(results["nonlinear"])
    assert saved["settings"]["iterations"] == 400
    for name in ("estimates.png", "training.png"):
        assert (reduced_run.run_dir / name).stat().st_size > 1000


def test_json_through_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["recipe", "run", "kalman", "--json", "--out", str(tmp_path),
                 "--set", "iterations=3", "--set", "test_sequences=8", "--set", "hidden=4"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["recipe"] == "kalman"
    assert data["results"]["nonlinear"]["ekf_mse"] > 0
    assert "RNN / best filter" in captured.err
