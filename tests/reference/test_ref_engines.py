"""Oracle 2: engine against engine -- the NumPy reference and rnnkit.nn, float64, tight.

Every comparison goes through :func:`assert_same`, which names what differs (tinygrad's
``helper_test_op``): outputs, final states, every parameter gradient, the input gradient and
the initial-state gradient, under a random upstream gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit import nn as rnn_nn
from rnnkit.nn.convert import from_reference, reference_network, to_reference
from rnnkit.reference.cells import make_cell
from rnnkit.reference.params import zeros_like

ATOL = 1e-12
RTOL = 1e-10


def assert_same(label: str, what: str, reference: np.ndarray, torch_value: torch.Tensor) -> None:
    """Compare one array of each engine; the failure names the case and the quantity."""
    theirs = torch_value.detach().cpu().numpy()
    assert reference.shape == theirs.shape, (
        f"{label}: {what} has shape {reference.shape} in the reference, {theirs.shape} in rnnkit.nn"
    )
    np.testing.assert_allclose(
        reference, theirs, rtol=RTOL, atol=ATOL,
        err_msg=f"{label}: {what} differs between rnnkit.reference and rnnkit.nn",
    )


def compare_layer(label: str, module: rnn_nn.RecurrentLayer, *, B: int = 2, T: int = 4,
                  truncate: int | None = None, seed: int = 0) -> None:
    """Run ``module`` (batch_first, float64) and its reference twin; compare everything."""
    gen = torch.Generator().manual_seed(seed)
    net = reference_network(module)
    params = to_reference(module)
    x = torch.randn(B, T, module.input_size, dtype=torch.float64, generator=gen,
                    requires_grad=True)
    init = tuple(
        torch.randn(net.num_layers * net.num_directions, B, n, dtype=torch.float64,
                    generator=gen, requires_grad=True)
        for n in module.state_sizes
    )
    hx = init if len(init) == 2 else init[0]
    g_out = None
    if truncate is None:
        out, h_n = module(x, hx)
        finals = h_n if isinstance(h_n, tuple) else (h_n,)
        g_out = torch.randn(out.shape, dtype=torch.float64, generator=gen)
        g_fin = [torch.randn(f.shape, dtype=torch.float64, generator=gen) for f in finals]
        objective = (out * g_out).sum() + sum(
            (f * g).sum() for f, g in zip(finals, g_fin, strict=True)
        )
    else:
        out, finals, objective, g_out = _torch_truncated(module, x, init, truncate, gen)
        g_fin = None
    objective.backward()

    fwd = net.forward(params, x.detach().numpy(), tuple(s.detach().numpy() for s in init))
    grads = net.backward(
        params, fwd, g_out.numpy(),
        None if g_fin is None else tuple(g.numpy() for g in g_fin), truncate=truncate,
    )
    assert_same(label, "outputs", fwd.outputs, out)
    for name, mine, theirs in zip(net.spec.state_names, fwd.final_state, finals, strict=True):
        assert_same(label, f"final state {name}", mine, theirs)
    for name, p in module.named_parameters():
        assert_same(label, f"gradient of {name}", grads.params[name], p.grad)
    assert_same(label, "gradient of the inputs", grads.inputs, x.grad)
    for name, mine, s in zip(net.spec.state_names, grads.initial_state, init, strict=True):
        assert_same(label, f"gradient of the initial state {name}", mine, s.grad)


def _torch_truncated(module, x, init, k, gen):
    """Truncated BPTT written independently in torch: each output term over its own window,
    the states entering the window detached (taken from a full forward pass)."""
    T = x.shape[1]
    D = 2 if module.bidirectional else 1
    L = module.num_layers
    with torch.no_grad():  # the states after every step, per layer and direction
        states = _all_states(module, x, init)
    out, h_n = module(x, init if len(init) == 2 else init[0])
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    g_out = torch.randn(out.shape, dtype=torch.float64, generator=gen)
    objective = torch.zeros((), dtype=torch.float64)
    for t in range(T):
        lo, hi = max(0, t - k + 1), min(T - 1, t + k - 1)
        entering = []
        for j in range(len(init)):
            rows = []
            for layer in range(L):
                for d in range(D):
                    if d == 0:
                        rows.append(init[j][layer * D] if lo == 0 else states[layer][0][lo - 1][j])
                    else:
                        rows.append(init[j][layer * D + 1] if hi == T - 1
                                    else states[layer][1][hi + 1][j])
            entering.append(torch.stack(rows))
        window_out, _ = module(x[:, lo:hi + 1], tuple(entering) if len(init) == 2 else entering[0])
        objective = objective + (window_out[:, t - lo] * g_out[:, t]).sum()
    return out, finals, objective, g_out


def _all_states(module, x, init):
    """states[layer][direction][t] = the state tuple after step t (time order)."""
    net_layers = []
    T = x.shape[1]
    D = 2 if module.bidirectional else 1
    layer_input = x
    for layer in range(module.num_layers):
        per_dir, outs = [], []
        for d in range(D):
            cell = _cell_of(module, layer, d)
            state = tuple(s[layer * D + d] for s in init)
            steps = range(T) if d == 0 else reversed(range(T))
            seq = [None] * T
            ys = [None] * T
            for t in steps:
                y, state = cell.step(layer_input[:, t], state)
                seq[t], ys[t] = state, y
            per_dir.append(seq)
            outs.append(torch.stack(ys, dim=1))
        net_layers.append(per_dir)
        layer_input = torch.cat(outs, dim=-1)
    return net_layers


def _cell_of(module, layer, direction):
    params = {k: v.detach() for k, v in module.direction_parameters(layer, direction).items()}
    net = reference_network(module)
    cell = from_reference({k: v.numpy() for k, v in params.items()}, _reference_cell(net))
    return cell


def _reference_cell(net):
    return make_cell(
        net.spec.name,
        nonlinearity=net.nonlinearity if net.spec.name in ("rnn", "jordan") else "tanh",
        output_activation=net.output_activation if net.spec.name == "jordan" else "identity",
    )


def _layer(kind: str, layers: int = 1, bidirectional: bool = False):
    common = dict(num_layers=layers, bidirectional=bidirectional, batch_first=True,
                  dtype=torch.float64)
    if kind.startswith("rnn"):
        return rnn_nn.RNN(3, 4, nonlinearity=kind.split("-")[1], **common)
    if kind == "lstm":
        return rnn_nn.LSTM(3, 4, **common)
    if kind == "peephole_lstm":
        return rnn_nn.LSTM(3, 4, peephole=True, **common)
    if kind == "gru":
        return rnn_nn.GRU(3, 4, **common)
    activation = kind.split("-")[1]
    return rnn_nn.JordanRNN(3, 4, output_size=2, output_activation=activation, **common)


KINDS = ["rnn-tanh", "rnn-relu", "lstm", "peephole_lstm", "gru", "jordan-identity",
         "jordan-sigmoid", "jordan-tanh", "jordan-softmax"]


@pytest.mark.parametrize("kind", KINDS)
def test_one_layer(kind: str) -> None:
    torch.manual_seed(1)
    compare_layer(f"{kind}, 1 layer", _layer(kind))


@pytest.mark.parametrize("kind", ["rnn-tanh", "lstm", "peephole_lstm", "gru", "jordan-softmax"])
@pytest.mark.parametrize(("layers", "bidirectional"), [(2, False), (1, True), (2, True)],
                         ids=["stacked", "bidirectional", "stacked-bidirectional"])
def test_stacked_and_bidirectional(kind: str, layers: int, bidirectional: bool) -> None:
    torch.manual_seed(2)
    compare_layer(f"{kind}, {layers} layers, bidirectional={bidirectional}",
                  _layer(kind, layers, bidirectional), seed=3)


@pytest.mark.parametrize(("kind", "layers", "bidirectional", "k"), [
    ("rnn-tanh", 1, False, 1),
    ("lstm", 2, False, 2),
    ("gru", 1, True, 2),
    ("jordan-sigmoid", 1, False, 3),
])
def test_truncated_bptt(kind: str, layers: int, bidirectional: bool, k: int) -> None:
    torch.manual_seed(4)
    compare_layer(f"{kind}, truncate={k}", _layer(kind, layers, bidirectional), T=5,
                  truncate=k, seed=5)


@pytest.mark.parametrize("kind", ["rnn-tanh", "rnn-relu", "lstm", "peephole_lstm", "gru",
                                  "jordan-identity", "jordan-softmax"])
def test_cell_step(kind: str) -> None:
    """One step of a reference cell against the rnnkit.nn cell built from its parameters."""
    name, _, option = kind.partition("-")
    cell = make_cell(
        name,
        nonlinearity=option if name == "rnn" else "tanh",
        output_activation=option if name == "jordan" else "identity",
    )
    rng = np.random.default_rng(6)
    O = 2 if name == "jordan" else None
    params = {k: rng.normal(size=s) for k, s in cell.parameter_shapes(3, 4, output_size=O).items()}
    module = from_reference(params, cell)
    x = rng.normal(size=(2, 3))
    state = tuple(rng.normal(size=(2, n)) for n in cell.state_sizes(4, O))
    x_t = torch.tensor(x, requires_grad=True)
    s_t = tuple(torch.tensor(s, requires_grad=True) for s in state)
    y_t, new_t = module.step(x_t, s_t)
    upstream = tuple(rng.normal(size=s.shape) for s in new_t)
    sum((n * torch.tensor(g)).sum() for n, g in zip(new_t, upstream, strict=True)).backward()

    y, new, cache = cell.forward(params, x, state)
    grads = zeros_like(params)
    d_x, d_state = cell.backward(params, upstream, cache, grads)
    assert_same(kind, "y_t", y, y_t)
    for i, (a, b) in enumerate(zip(new, new_t, strict=True)):
        assert_same(kind, f"new state [{i}]", a, b)
    for pname, p in module.named_parameters():
        assert_same(kind, f"gradient of {pname}", grads[pname], p.grad)
    assert_same(kind, "gradient of x_t", d_x, x_t.grad)
    for i, (a, b) in enumerate(zip(d_state, s_t, strict=True)):
        assert_same(kind, f"gradient of state [{i}]", a, b.grad)


def test_the_helper_names_what_differs() -> None:
    with pytest.raises(AssertionError, match="case: gradient of weight_hh_l0 differs"):
        assert_same("case", "gradient of weight_hh_l0", np.zeros(2), torch.tensor([0.0, 1.0]))
