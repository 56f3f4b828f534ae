"""Layer-normalised LSTM, peephole LSTM and GRU layers (``layer_norm=True``).

Oracles: the NumPy reference engine (``rnnkit.reference``, forward and backward by hand) on
the same parameters, torch.autograd.gradcheck, the layer-norm cells stepped by hand, and the
equations of ``rnnkit.spec`` written out here with a projection.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nn_checks import DTYPE, assert_all_close, leaf, run_with_grads

import rnnkit.nn as rnn
from rnnkit.nn import functional as RF
from rnnkit.reference.network import Network
from rnnkit.spec import LAYER_NORM_EPS, get_spec

B, T, I, H = 2, 4, 3, 4
LAYERS = {"lstm": {}, "peephole_lstm": {"peephole": True}, "gru": {}}


def _layer(cell: str, **kwargs: object) -> rnn.RecurrentLayer:
    cls = rnn.GRU if cell == "gru" else rnn.LSTM
    layer = cls(I, H, layer_norm=True, dtype=DTYPE, **LAYERS[cell], **kwargs)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("ln_"):  # gains and biases away from 1 and 0
                p.add_(0.3 * torch.randn_like(p))
    return layer


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"num_layers": 2},
        {"bidirectional": True},
        {"num_layers": 2, "bidirectional": True, "bias": False},
    ],
    ids=["single", "stacked", "bidirectional", "stacked-bidirectional-nobias"],
)
@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_norm_equals_the_reference_engine(cell: str, config: dict) -> None:
    layer = _layer(cell, batch_first=True, **config)
    net = Network(
        cell,
        I,
        H,
        layer.num_layers,
        bidirectional=layer.bidirectional,
        layer_norm=True,
        bias=layer.bias,
    )
    params = {name: p.detach().numpy().copy() for name, p in layer.named_parameters()}
    assert set(params) == set(net.parameter_shapes())
    x = leaf(B, T, I)
    LD = layer.num_layers * layer.num_directions
    init = [leaf(LD, B, H, seed=10 + k) for k in range(len(layer.spec.state_names))]
    hx = tuple(init) if len(init) == 2 else init[0]
    out, h_n = layer(x, hx)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    generator = torch.Generator().manual_seed(3)
    g_out = torch.randn(out.shape, dtype=DTYPE, generator=generator)
    g_fin = [torch.randn(f.shape, dtype=DTYPE, generator=generator) for f in finals]
    objective = (out * g_out).sum() + sum((f * g).sum() for f, g in zip(finals, g_fin, strict=True))
    objective.backward()

    fwd = net.forward(params, x.detach().numpy(), tuple(s.detach().numpy() for s in init))
    grads = net.backward(params, fwd, g_out.numpy(), tuple(g.numpy() for g in g_fin))

    def same(what: str, reference: np.ndarray, value: torch.Tensor) -> None:
        np.testing.assert_allclose(
            reference, value.detach().numpy(), rtol=1e-9, atol=1e-11, err_msg=what
        )

    same("outputs", fwd.outputs, out)
    for name, mine, theirs in zip(layer.spec.state_names, fwd.final_state, finals, strict=True):
        same(f"final {name}", mine, theirs)
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
        same(f"gradient of {name}", grads.params[name], p.grad)
    same("gradient of the inputs", grads.inputs, x.grad)
    for name, mine, s in zip(layer.spec.state_names, grads.initial_state, init, strict=True):
        same(f"gradient of {name}_0", mine, s.grad)


@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_norm_gradcheck(cell: str) -> None:
    layer = _layer(cell, num_layers=1, bidirectional=True)
    names = [name for name, _ in layer.named_parameters()]
    x = leaf(3, 2, I)
    h0 = leaf(2, 2, H, seed=1)
    extra = (leaf(2, 2, H, seed=2),) if cell != "gru" else ()

    def run(x, h0, *rest):
        state, values = (h0, *rest[: len(extra)]), rest[len(extra) :]
        params = dict(zip(names, values, strict=True))
        hx = state if len(state) == 2 else state[0]
        out, h_n = torch.func.functional_call(layer, params, (x, hx), {"lengths": [3, 2]})
        return (out, *(h_n if isinstance(h_n, tuple) else (h_n,)))

    values = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    assert torch.autograd.gradcheck(run, (x, h0, *extra, *values))


@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_norm_layer_equals_its_cell_stepped_by_hand(cell: str) -> None:
    layer = _layer(cell, bidirectional=True)
    cells = {"lstm": rnn.LSTMCell, "peephole_lstm": rnn.PeepholeLSTMCell, "gru": rnn.GRUCell}
    x = leaf(T, B, I)
    lengths = [4, 2]
    out, _ = layer(x, lengths=lengths)
    for direction in range(2):
        step = cells[cell](I, H, layer_norm=True, dtype=DTYPE)
        step.load_state_dict(layer.direction_parameters(0, direction))
        for b, n in enumerate(lengths):
            state = None
            order = range(n - 1, -1, -1) if direction else range(n)
            for t in order:
                y, state = step(x[t, b], state)
                torch.testing.assert_close(out[t, b, direction * H : (direction + 1) * H], y)
        assert not out[lengths[1] :, 1].any()


def _ln(a: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor, blocks: int) -> torch.Tensor:
    """Per-block layer norm, straight from spec.py's equation."""
    parts = []
    for block in a.chunk(blocks, -1):
        mu = block.mean(-1, keepdim=True)
        var = ((block - mu) ** 2).mean(-1, keepdim=True)
        parts.append((block - mu) / torch.sqrt(var + LAYER_NORM_EPS))
    return torch.cat(parts, -1) * gain + bias


def test_layer_norm_lstm_with_projection_follows_the_equations() -> None:
    P = 2
    layer = _layer("lstm", proj_size=P)
    assert layer.weight_hh_l0.shape == (4 * H, P)
    x = leaf(T, B, I)
    out, (h_n, c_n) = layer(x)
    p = layer.direction_parameters(0)
    h, c = torch.zeros(B, P, dtype=DTYPE), torch.zeros(B, H, dtype=DTYPE)
    for t in range(T):
        a = (
            _ln(x[t] @ p["weight_ih"].T, p["ln_ih_weight"], p["ln_ih_bias"], 4)
            + p["bias_ih"]
            + _ln(h @ p["weight_hh"].T, p["ln_hh_weight"], p["ln_hh_bias"], 4)
            + p["bias_hh"]
        )
        i, f, g, o = a.chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(_ln(c, p["ln_c_weight"], p["ln_c_bias"], 1))
        h = h @ p["weight_hr"].T
        torch.testing.assert_close(out[t], h)
    torch.testing.assert_close((h_n[0], c_n[0]), (h, c))


@pytest.mark.parametrize("cell", list(LAYERS))
def test_layer_norm_parameters_names_and_initial_values(cell: str) -> None:
    cls = rnn.GRU if cell == "gru" else rnn.LSTM
    layer = cls(I, H, 2, bidirectional=True, layer_norm=True, init="orthogonal", **LAYERS[cell])
    expected = {}
    for k in range(2):
        shapes = get_spec(cell).parameter_shapes(I if k == 0 else 2 * H, H, layer_norm=True)
        for suffix in (f"_l{k}", f"_l{k}_reverse"):
            expected.update({name + suffix: shape for name, shape in shapes.items()})
    assert {n: tuple(p.shape) for n, p in layer.named_parameters()} == expected
    for name, p in layer.named_parameters():
        if name.startswith("ln_"):
            assert torch.all(p == (1.0 if "_weight" in name else 0.0)), name
    # The plain weights load into torch.nn; the gains and biases are the extras.
    torch_cls = torch.nn.GRU if cell == "gru" else torch.nn.LSTM
    result = torch_cls(I, H, 2, bidirectional=True).load_state_dict(
        layer.state_dict(), strict=False
    )
    assert result.missing_keys == []
    assert all(k.startswith("ln_") or k.startswith("weight_c") for k in result.unexpected_keys)
    assert "layer_norm=True" in repr(layer)


def test_layer_norm_with_lengths_packed_and_learned_state_agree() -> None:
    layer = _layer("lstm", num_layers=2, learn_initial_state=True)
    x = leaf(T, B, I)
    padded = run_with_grads(layer, lambda m: m(x, lengths=[4, 3]), [x])

    def packed(module: torch.nn.Module) -> object:
        seq = torch.nn.utils.rnn.pack_padded_sequence(x, [4, 3])
        out, state = module(seq)
        return torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)[0], state

    assert_all_close(run_with_grads(layer, packed, [x]), padded)


def test_block_layer_norm_equals_torch_layer_norm_per_block() -> None:
    a = leaf(5, 12)
    gain, bias = leaf(12, seed=1), leaf(12, seed=2)
    expected = torch.cat(
        [
            torch.nn.functional.layer_norm(
                block, (4,), gain[4 * k : 4 * k + 4], bias[4 * k : 4 * k + 4], LAYER_NORM_EPS
            )
            for k, block in enumerate(a.chunk(3, -1))
        ],
        -1,
    )
    torch.testing.assert_close(RF.block_layer_norm(a, gain, bias, 3), expected)
    torch.testing.assert_close(RF.block_layer_norm(a, gain, bias, 3), _ln(a, gain, bias, 3))


def test_layer_norm_bad_input() -> None:
    with pytest.raises(ValueError, match=r"`layer_norm=True` is defined for cells"):
        RF.project_input("rnn", torch.ones(2, 3), {"weight_ih": torch.ones(4, 3)}, layer_norm=True)
    with pytest.raises(ValueError, match=r"`layer_norm=True` is defined for cells"):
        rnn.RecurrentLayer("jordan", I, H, output_size=2, layer_norm=True)
    with pytest.raises(TypeError, match=r"`layer_norm` must be a bool"):
        rnn.GRUCell(I, H, layer_norm="yes")
