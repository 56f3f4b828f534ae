"""Oracle 1: every reference cell and network option against finite differences (float64).

The upstream gradients are random (never ones), the initial states random, the sizes tiny;
``check_*_gradients`` compare every parameter, the inputs and the initial state.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.reference.cells import make_cell
from rnnkit.reference.gradcheck import (
    check_cell_gradients,
    check_network_gradients,
    numerical_gradient,
    relative_error,
)
from rnnkit.reference.network import Network

TOL = 1e-6

# (label, make_cell / Network options)
CELL_VARIANTS = [
    ("rnn-tanh", {"cell": "rnn"}),
    ("rnn-relu", {"cell": "rnn", "nonlinearity": "relu"}),
    ("jordan-identity", {"cell": "jordan", "output_activation": "identity"}),
    ("jordan-sigmoid", {"cell": "jordan", "output_activation": "sigmoid"}),
    ("jordan-tanh", {"cell": "jordan", "output_activation": "tanh", "nonlinearity": "relu"}),
    ("jordan-softmax", {"cell": "jordan", "output_activation": "softmax"}),
    ("lstm", {"cell": "lstm"}),
    ("peephole_lstm", {"cell": "peephole_lstm"}),
    ("gru", {"cell": "gru"}),
    ("lstm-layer_norm", {"cell": "lstm", "layer_norm": True}),
    ("peephole_lstm-layer_norm", {"cell": "peephole_lstm", "layer_norm": True}),
    ("gru-layer_norm", {"cell": "gru", "layer_norm": True}),
]


def _network(options: dict, **extra: object) -> Network:
    options = dict(options)
    cell = options.pop("cell")
    if cell == "jordan":
        options["output_size"] = 2
    return Network(cell, 2, 3, **options, **extra)


def _assert_ok(result, label: str) -> None:
    assert result.ok, f"{label}: gradient check failed\n{result.table()}"


@pytest.mark.parametrize(("label", "options"), CELL_VARIANTS, ids=[v[0] for v in CELL_VARIANTS])
def test_one_cell_step(label: str, options: dict) -> None:
    options = dict(options)
    cell_name = options.pop("cell")
    cell = make_cell(cell_name, **options)
    rng = np.random.default_rng(1)
    O = 2 if cell_name == "jordan" else None
    shapes = cell.parameter_shapes(3, 4, output_size=O)
    params = {k: rng.normal(size=s) * 0.7 for k, s in shapes.items()}
    state = tuple(rng.normal(size=(2, n)) for n in cell.state_sizes(4, O))
    result = check_cell_gradients(cell, params, rng.normal(size=(2, 3)), state, seed=2)
    states = {f"{s}_prev" for s in cell.spec.state_names}
    assert set(result.errors) == set(params) | {"x_t"} | states
    _assert_ok(result, label)


@pytest.mark.parametrize(("label", "options"), CELL_VARIANTS, ids=[v[0] for v in CELL_VARIANTS])
def test_one_layer_over_time(label: str, options: dict) -> None:
    net = _network(options)
    x = np.random.default_rng(3).normal(size=(2, 3, 2))
    _assert_ok(check_network_gradients(net, net.init_params(seed=4), x, seed=5), label)


STACKED = ["rnn-tanh", "jordan-softmax", "lstm", "peephole_lstm", "gru", "lstm-layer_norm",
           "gru-layer_norm"]


@pytest.mark.parametrize("label", STACKED)
def test_stacked_and_bidirectional(label: str) -> None:
    options = dict(CELL_VARIANTS)[label]
    net = _network(options, num_layers=2, bidirectional=True)
    x = np.random.default_rng(6).normal(size=(2, 3, 2))
    result = check_network_gradients(net, net.init_params(seed=7), x, seed=8)
    assert "weight_hh_l1_reverse" in result.errors or "weight_yh_l1_reverse" in result.errors
    _assert_ok(result, label + " 2 layers bidirectional")


def test_stacked_unidirectional_three_layers() -> None:
    net = Network("gru", 2, 3, num_layers=3)
    x = np.random.default_rng(9).normal(size=(2, 3, 2))
    _assert_ok(check_network_gradients(net, net.init_params(seed=10), x), "gru 3 layers")


LOSSES = [
    ("softmax+ce", "softmax", "ce"),
    ("sigmoid+bce", "sigmoid", "bce"),
    ("softmax+bce", "softmax", "bce"),
    ("identity+mse", "identity", "mse"),
    ("tanh+mse", "tanh", "mse"),
    ("softmax+mse", "softmax", "mse"),
]


def _targets(loss: str, shape: tuple[int, ...], O: int, rng: np.random.Generator) -> np.ndarray:
    if loss == "ce":
        return rng.integers(0, O, size=shape)
    return rng.uniform(0.05, 0.95, size=(*shape, O))


@pytest.mark.parametrize(("label", "activation", "loss"), LOSSES, ids=[v[0] for v in LOSSES])
@pytest.mark.parametrize("many_to_one", [False, True], ids=["many-to-many", "many-to-one"])
def test_output_layer_and_losses(label: str, activation: str, loss: str, many_to_one: bool) -> None:
    net = Network("lstm", 2, 3, output_size=3, output_activation=activation,
                  many_to_one=many_to_one)
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 3, 2))
    targets = _targets(loss, (2,) if many_to_one else (2, 3), 3, rng)
    result = check_network_gradients(net, net.init_params(seed=12), x, targets=targets, loss=loss)
    assert {"weight_hy", "bias_y"} <= set(result.errors)
    _assert_ok(result, f"{label} {'many-to-one' if many_to_one else 'many-to-many'}")


def test_jordan_network_loss_on_its_own_outputs() -> None:
    net = Network("jordan", 2, 3, output_size=2, output_activation="softmax")
    rng = np.random.default_rng(13)
    x = rng.normal(size=(2, 3, 2))
    targets = rng.integers(0, 2, size=(2, 3))
    _assert_ok(check_network_gradients(net, net.init_params(seed=14), x, targets=targets),
               "jordan softmax ce")


def test_mask_and_mean_reduction() -> None:
    net = Network("gru", 2, 3, bidirectional=True, output_size=2, output_activation="sigmoid")
    rng = np.random.default_rng(15)
    x = rng.normal(size=(3, 4, 2))
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 0, 0]], dtype=bool)
    targets = rng.uniform(size=(3, 4, 2))
    result = check_network_gradients(net, net.init_params(seed=16), x, targets=targets,
                                      mask=mask, reduction="mean")
    _assert_ok(result, "gru bidirectional, masked mean bce")


TRUNCATED = [
    ("rnn-tanh k=1", "rnn-tanh", 1, 1, False),
    ("lstm k=2", "lstm", 2, 1, False),
    ("jordan k=2", "jordan-sigmoid", 2, 1, False),
    ("gru 2 layers bidirectional k=2", "gru", 2, 2, True),
    ("peephole layer norm k=1", "peephole_lstm-layer_norm", 1, 1, False),
]


@pytest.mark.parametrize(("label", "variant", "k", "layers", "bidirectional"), TRUNCATED,
                         ids=[v[0] for v in TRUNCATED])
def test_truncated_bptt_against_windowed_finite_differences(
    label: str, variant: str, k: int, layers: int, bidirectional: bool
) -> None:
    net = _network(dict(CELL_VARIANTS)[variant], num_layers=layers, bidirectional=bidirectional)
    x = np.random.default_rng(17).normal(size=(2, 4, 2))
    result = check_network_gradients(net, net.init_params(seed=18), x, truncate=k, seed=19)
    _assert_ok(result, label)


def test_truncated_with_a_loss_many_to_one() -> None:
    net = Network("rnn", 2, 3, output_size=2, output_activation="softmax", many_to_one=True)
    rng = np.random.default_rng(20)
    x = rng.normal(size=(2, 5, 2))
    result = check_network_gradients(net, net.init_params(seed=21), x,
                                     targets=np.array([0, 1]), truncate=2)
    _assert_ok(result, "many-to-one truncated")
    # the window of the only loss term does not reach step 0: x_0 gets no gradient
    grads = net.loss_and_grads(net.init_params(seed=21), x, np.array([0, 1]), truncate=2)[1]
    assert np.all(grads.inputs[:, :3] == 0) and np.any(grads.inputs[:, 3:] != 0)


def test_a_wrong_gradient_is_caught() -> None:
    """The check can fail: a backward pass with a sign error gives errors near 1."""
    net = Network("rnn", 2, 3)
    params = net.init_params(seed=22)
    x = np.random.default_rng(23).normal(size=(1, 3, 2))
    cell = net.cell
    original = cell.step_backward

    def wrong(p, d_state, cache, grads, notes=None, deferred=None):
        d_u, d_prev = original(p, d_state, cache, grads, notes, deferred)
        return d_u, tuple(-d for d in d_prev)

    cell.step_backward = wrong  # type: ignore[method-assign]
    result = check_network_gradients(net, params, x)
    assert not result.ok and result.errors["weight_hh_l0"] > 0.1
    assert "FAIL" in result.table()


def test_numerical_gradient_and_relative_error() -> None:
    a = np.array([[0.3, -1.2], [2.0, 0.5]])
    numeric = numerical_gradient(lambda: float(np.sin(a).sum()), a)
    assert relative_error(np.cos(a), numeric) < 1e-9
    numeric2 = numerical_gradient(lambda: float(np.sin(a).sum()), a, eps=1e-5, order=2)
    assert relative_error(np.cos(a), numeric2) < 1e-8
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="`order` must be 2 or 4"):
        numerical_gradient(lambda: 0.0, a, order=3)


def test_gradcheck_refuses_float32() -> None:
    net = Network("rnn", 2, 3)
    with pytest.raises(ValueError, match="needs float64 parameters; parameter `weight_ih_l0`"):
        check_network_gradients(net, net.init_params(dtype=np.float32), np.zeros((1, 2, 2)))
