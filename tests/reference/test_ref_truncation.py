"""Truncated BPTT: ``truncate >= T`` is full BPTT; ``truncate=1`` is the one-step gradient."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.reference.network import Network


@pytest.mark.parametrize(("cell", "layers", "bidirectional", "many_to_one"), [
    ("rnn", 1, False, False),
    ("lstm", 2, True, False),
    ("gru", 2, False, True),
    ("jordan", 1, True, False),
])
@pytest.mark.parametrize("k", [5, 6, 50])
def test_truncate_at_least_the_length_equals_full_bptt(
    cell: str, layers: int, bidirectional: bool, many_to_one: bool, k: int
) -> None:
    net = Network(cell, 3, 4, layers, bidirectional=bidirectional, output_size=2,
                  output_activation="softmax", many_to_one=many_to_one)
    params = net.init_params(seed=1)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 3))
    init = tuple(rng.normal(size=s.shape) for s in net.initial_state(2))
    fwd = net.forward(params, x, init)
    d_out = rng.normal(size=fwd.outputs.shape)
    d_fin = tuple(rng.normal(size=s.shape) for s in fwd.final_state)
    full = net.backward(params, fwd, d_out, d_fin)
    trunc = net.backward(params, fwd, d_out, d_fin, truncate=k)
    for name in params:
        np.testing.assert_allclose(trunc.params[name], full.params[name], rtol=1e-11,
                                   atol=1e-13, err_msg=name)
    np.testing.assert_allclose(trunc.inputs, full.inputs, rtol=1e-11, atol=1e-13)
    for a, b in zip(trunc.initial_state, full.initial_state, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_truncate_one_is_the_hand_derived_one_step_gradient() -> None:
    """tanh RNN with a linear output and squared error, truncate=1: each step's loss
    differentiated with h_{t-1} held constant::

        δq_t = y_t - target_t              δh_t = W_hyᵀ δq_t     δa_t = (1 - h_t²) ⊙ δh_t
        dW_hy = Σ_t δq_t h_tᵀ   dW_ih = Σ_t δa_t x_tᵀ   dW_hh = Σ_t δa_t h_{t-1}ᵀ   db = Σ_t δa_t
        dx_t = W_ihᵀ δa_t       dh_0 = W_hhᵀ δa_1 (only step 1's window reaches h_0)
    """
    net = Network("rnn", 3, 4, output_size=2)
    params = net.init_params(seed=3, scale=0.8)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 5, 3))
    h0 = rng.normal(size=(1, 1, 4))
    target = rng.normal(size=(1, 5, 2))
    grads = net.loss_and_grads(params, x, target, loss="mse", initial_state=h0, truncate=1)[1]

    W_ih, W_hh = params["weight_ih_l0"], params["weight_hh_l0"]
    W_hy = params["weight_hy"]
    h_prev = h0[0, 0]
    expected = {k: np.zeros_like(v) for k, v in params.items()}
    d_x = np.zeros((5, 3))
    d_h0 = None
    for t in range(5):
        x_t = x[0, t]
        h_t = np.tanh(W_ih @ x_t + params["bias_ih_l0"] + W_hh @ h_prev + params["bias_hh_l0"])
        y_t = W_hy @ h_t + params["bias_y"]
        dq = y_t - target[0, t]
        da = (1 - h_t**2) * (W_hy.T @ dq)
        expected["weight_hy"] += np.outer(dq, h_t)
        expected["bias_y"] += dq
        expected["weight_ih_l0"] += np.outer(da, x_t)
        expected["weight_hh_l0"] += np.outer(da, h_prev)
        expected["bias_ih_l0"] += da
        expected["bias_hh_l0"] += da
        d_x[t] = W_ih.T @ da
        if t == 0:
            d_h0 = W_hh.T @ da
        h_prev = h_t
    for name, g in expected.items():
        np.testing.assert_allclose(grads.params[name], g, rtol=1e-12, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(grads.inputs[0], d_x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads.initial_state[0][0, 0], d_h0, rtol=1e-12, atol=1e-14)
    # and it differs from full BPTT, which also sends each δa_t back through W_hh
    full = net.loss_and_grads(params, x, target, loss="mse", initial_state=h0)[1]
    assert not np.allclose(full.params["weight_hh_l0"], grads.params["weight_hh_l0"])


def test_truncate_must_be_a_positive_integer() -> None:
    net = Network("rnn", 1, 2)
    params = net.init_params()
    fwd = net.forward(params, np.zeros((1, 3, 1)))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="`truncate` must be an integer >= 1"):
            net.backward(params, fwd, np.zeros((1, 3, 2)), truncate=bad)
