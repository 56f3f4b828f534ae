"""Gradient flow through time, the optimisers and clipping, and the fit loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.reference.fit import fit
from rnnkit.reference.flow import compare_gradient_flow, gradient_flow, plot_gradient_flow
from rnnkit.reference.network import Network
from rnnkit.reference.optim import SGD, Adam, clip_grad_norm, clip_grad_value


@pytest.fixture(scope="module")
def curves() -> dict[str, np.ndarray]:
    return compare_gradient_flow(steps=40, hidden_size=16, seed=0)


def test_vanishing_gradients_are_visible(curves: dict[str, np.ndarray]) -> None:
    """Loss on the last of 40 steps: how much gradient reaches step 0."""
    small = curves["tanh RNN, small init (±0.1/√H)"]
    assert small[0] < 1e-30 * small[-1]  # a product of 39 Jacobians of norm ~0.1
    for gated in ("LSTM", "GRU", "LSTM, forget-gate bias 1"):
        assert curves[gated][0] > 1e10 * small[0], gated
    # the forget-gate bias keeps the LSTM's memory open longer
    assert curves["LSTM, forget-gate bias 1"][0] > 100 * curves["LSTM"][0]
    # identity init (IRNN) passes the gradient on almost unchanged; small init does not
    irnn = curves["ReLU RNN, identity init (IRNN)"]
    assert irnn[0] > 0.1 * irnn[-1]
    assert irnn[0] > 1e20 * small[0]
    # every norm decreases going back in time for the small-init tanh RNN
    assert np.all(np.diff(small) > 0)


def test_gradient_flow_is_the_norm_of_the_state_gradient() -> None:
    net = Network("gru", 2, 3, output_size=2, output_activation="softmax")
    params = net.init_params(seed=1)
    x = np.random.default_rng(2).normal(size=(2, 5, 2))
    targets = np.array([[0, 1, 1, 0, 1], [1, 1, 0, 0, 0]])
    norms = gradient_flow(net, params, x, targets=targets)
    # by hand: only the last step's loss, then dL/dh_t from the state gradients
    mask = np.zeros((2, 5), dtype=bool)
    mask[:, -1] = True
    fwd = net.forward(params, x)
    _, d_out = net.loss(fwd, targets, mask=mask)
    state_grads = net.backward(params, fwd, d_out, state_grads=True).state_grads[0][0]
    np.testing.assert_allclose(norms, np.linalg.norm(state_grads.reshape(2, 5, 3).transpose(1, 0, 2)
                                                     .reshape(5, -1), axis=1))
    with pytest.raises(ValueError, match=r"Argument `layer` must be in \[0, 1\), got 1"):
        gradient_flow(net, params, x, layer=1)


def test_plot_is_written(tmp_path: Path, curves: dict[str, np.ndarray]) -> None:
    path = tmp_path / "flow.png"
    plot_gradient_flow(curves, path)
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="`curves` must hold at least one curve"):
        plot_gradient_flow({}, path)


def test_sgd_and_adam_match_torch() -> None:
    rng = np.random.default_rng(3)
    params = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    steps = [{k: rng.normal(size=v.shape) for k, v in params.items()} for _ in range(4)]
    for make_ours, make_theirs in [
        (lambda: SGD(0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        (lambda: Adam(0.01, betas=(0.8, 0.99), eps=1e-6),
         lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ]:
        ours = {k: v.copy() for k, v in params.items()}
        theirs = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        opt_ours, opt_theirs = make_ours(), make_theirs(list(theirs.values()))
        for grads in steps:
            opt_ours.step(ours, grads)
            for k, t in theirs.items():
                t.grad = torch.tensor(grads[k])
            opt_theirs.step()
        for k in params:
            np.testing.assert_allclose(ours[k], theirs[k].detach().numpy(), rtol=1e-12,
                                       err_msg=f"{type(opt_ours).__name__}: {k}")


def test_clipping() -> None:
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    total = np.sqrt(sum((g**2).sum() for g in grads.values()))
    assert total == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0])
    small = {"a": np.array([0.1, -0.2])}
    assert clip_grad_norm(small, 1.0) == pytest.approx(np.sqrt(0.05))
    np.testing.assert_allclose(small["a"], [0.1, -0.2])
    grads = {"a": np.array([-3.0, 0.5, 2.0])}
    clip_grad_value(grads, 1.0)
    np.testing.assert_array_equal(grads["a"], [-1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="`max_norm` must be a finite number > 0"):
        clip_grad_norm(grads, 0.0)
    with pytest.raises(ValueError, match=r"`momentum` must be in \[0, 1\)"):
        SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="`lr` must be a finite number > 0"):
        Adam(lr=-1.0)


def test_fit_learns_a_small_problem_with_truncation_and_clipping() -> None:
    """Is the number of +1 steps in a sign sequence larger than the number of -1 steps?"""
    rng = np.random.default_rng(4)
    x = rng.choice([-1.0, 1.0], size=(48, 5, 1))
    y = (x.sum(axis=(1, 2)) > 0).astype(int)
    net = Network("gru", 1, 6, output_size=2, output_activation="softmax", many_to_one=True)
    params = net.init_params(seed=5)
    history = fit(net, params, x, y, optimizer=Adam(0.05), epochs=40, batch_size=16,
                  clip_norm=5.0, seed=6)
    assert history.losses[-1] < 0.25 * history.losses[0]
    predictions = net.forward(params, x).outputs.argmax(axis=-1)
    assert (predictions == y).mean() >= 0.95
    assert len(history.grad_norms) == 40 * 3
    # truncated BPTT and value clipping also train (the window covers the last 3 steps)
    params = net.init_params(seed=5)
    history = fit(net, params, x, y, optimizer=Adam(0.05), epochs=10, truncate=3,
                  clip_value=1.0, seed=6)
    assert history.losses[-1] < history.losses[0]


def test_fit_stops_when_the_loss_diverges() -> None:
    net = Network("rnn", 1, 3, nonlinearity="relu", output_size=1)
    params = net.init_params(seed=7)
    x = np.ones((4, 3, 1)) * 100.0
    with pytest.raises(ValueError, match=r"Training diverged at epoch \d+, batch 0"):
        fit(net, params, x, np.ones((4, 3, 1)), optimizer=SGD(1e8), epochs=20)
    with pytest.raises(ValueError, match="`x` \\[N, T, I\\] and `targets` must hold the same"):
        fit(net, params, x, np.ones((3, 3, 1)))
