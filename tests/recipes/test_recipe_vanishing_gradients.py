"""The vanishing-gradients recipe (reduced): the qualitative facts it shows."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from rnnkit.recipes import run_recipe
from rnnkit.recipes.vanishing_gradients import INITS, Settings, flow_curves
from rnnkit.reference.flow import gradient_flow
from rnnkit.reference.network import Network


def test_gradient_flow_facts_and_clipping(tmp_path: Path) -> None:
    results = run_recipe("vanishing-gradients", out=tmp_path, stream=io.StringIO()).results
    small_rnn = results["init"]["rnn"]["small (±0.1/√H)"]
    lstm = results["cells"]["LSTM"]
    steps = len(small_rnn["norms"])
    assert steps == 100 and len(lstm["norms"]) == steps
    # one sequence, as the report says: the loss is the sum of the last step's 16 hidden
    # units, so dL/dh_T is a vector of ones of norm √16 = 4 (with B sequences it is 4·√B)
    for curve in (small_rnn, lstm, results["cells"]["GRU"]):
        assert abs(curve["norms"][-1] - 4.0) < 1e-12
    # the LSTM keeps more gradient at t = 0 than a small-init tanh RNN
    assert lstm["norms"][0] > 1e6 * small_rnn["norms"][0]
    assert lstm["kept"] > small_rnn["kept"]
    # an open forget gate keeps more than the default LSTM; orthogonal beats small init
    assert results["cells"]["LSTM, forget-gate bias 3"]["kept"] > lstm["kept"]
    assert results["init"]["rnn"]["orthogonal W_hh"]["kept"] > small_rnn["kept"]
    # the exploding case: its gradient grows going back in time
    assert results["exploding"]["kept"] > 10
    training = results["exploding"]["training"]
    unclipped, clipped = training["no clipping"], training["clip norm 1"]
    # without clipping the loss leaves the finite numbers; with it, every update is bounded
    assert unclipped["loss"][-1] is None
    assert max(g for g in unclipped["grad_norm"] if g is not None) > 1e6
    assert all(u <= 0.01 * (1 + 1e-9) for u in clipped["update_norm"])
    assert None not in clipped["loss"] and clipped["loss"][-1] < clipped["loss"][0]
    for name in ("cells.png", "init_rnn.png", "init_lstm.png", "init_gru.png", "clipping.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_gradient_norms_are_measured_below_float64_square_underflow() -> None:
    # Squaring a gradient of 1e-200 gives 0 in float64; gradient_flow's norms must not.
    settings = Settings(steps=200, hidden_size=16)
    small = ("rnn", INITS["small (±0.1/√H)"])
    norms = flow_curves(settings, 0, {"small": small})["small"]
    assert np.all(norms > 0) and norms[0] < 1e-160
    # where squaring is still safe they are the plain Euclidean norms
    net = Network("rnn", settings.input_size, settings.hidden_size)
    params = net.init_params(0, scale=0.1 / np.sqrt(settings.hidden_size))
    x = np.random.default_rng(0).normal(size=(1, settings.steps, settings.input_size))
    fwd = net.forward(params, x)
    d_out = np.zeros_like(fwd.outputs)
    d_out[:, -1] = 1.0
    g = net.backward(params, fwd, d_out, state_grads=True).state_grads[0][0][0]  # [T, H]
    naive = np.sqrt((g * g).sum(axis=1))
    safe = naive > 1e-150
    assert safe.sum() > 10 and (~safe).sum() > 10  # both regimes are exercised
    np.testing.assert_allclose(gradient_flow(net, params, x)[safe], naive[safe], rtol=1e-12)
    np.testing.assert_array_equal(gradient_flow(net, params, x), norms)
