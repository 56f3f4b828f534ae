"""A layer equals its cell stepped by hand, for every cell kind, path and layout.

The reference below runs each sequence on its own, for exactly its length, through cells that
use the layer's own parameters (``torch.func.functional_call``), so gradients compare too.
"""

from __future__ import annotations

import pytest
import torch
from nn_checks import DTYPE, assert_all_close, leaf, run_with_grads
from torch.func import functional_call

import rnnkit.nn as rnn

B, T, I, H, O = 3, 5, 3, 4, 2
LENGTHS = [4, 5, 2]

KINDS = {
    "rnn_tanh": (rnn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnn.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnn.LSTM, {}),
    "peephole_lstm": (rnn.LSTM, {"peephole": True}),
    "gru": (rnn.GRU, {}),
    "jordan_identity": (rnn.JordanRNN, {"output_size": O}),
    "jordan_sigmoid": (rnn.JordanRNN, {"output_size": O, "output_activation": "sigmoid"}),
    "jordan_tanh": (rnn.JordanRNN, {"output_size": O, "output_activation": "tanh"}),
    "jordan_softmax_relu": (
        rnn.JordanRNN,
        {"output_size": O, "output_activation": "softmax", "nonlinearity": "relu"},
    ),
}
FUSED_KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def _cell_for(layer: rnn.RecurrentLayer, input_size: int) -> torch.nn.Module:
    name = layer.spec.name
    if name == "rnn":
        return rnn.RNNCell(input_size, H, nonlinearity=layer.nonlinearity, dtype=DTYPE)
    if name == "lstm":
        return rnn.LSTMCell(input_size, H, dtype=DTYPE)
    if name == "peephole_lstm":
        return rnn.PeepholeLSTMCell(input_size, H, dtype=DTYPE)
    if name == "gru":
        return rnn.GRUCell(input_size, H, dtype=DTYPE)
    return rnn.JordanCell(
        input_size,
        H,
        O,
        nonlinearity=layer.nonlinearity,
        output_activation=layer.output_activation,
        dtype=DTYPE,
    )


def hand_stepped(
    layer: rnn.RecurrentLayer, x: torch.Tensor, hx: tuple[torch.Tensor, ...], lengths: list[int]
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Time-major ``x [T, B, I]``; ``hx`` a tuple of ``[L*D, B, ·]``; zero-padded outputs."""
    D = layer.num_directions
    out_size = layer.direction_output_size
    outputs = []
    finals: list[list[tuple[torch.Tensor, ...]]] = []
    for b, length in enumerate(lengths):
        layer_input = x[:length, b : b + 1]
        finals_b = []
        for k in range(layer.num_layers):
            cell = _cell_for(layer, I if k == 0 else D * out_size)
            per_direction = []
            for d in range(D):
                params = layer.direction_parameters(k, d)
                state = tuple(s[k * D + d, b : b + 1] for s in hx)
                ys = [None] * length
                for t in reversed(range(length)) if d == 1 else range(length):
                    ys[t], state = functional_call(cell, params, (layer_input[t], state))
                per_direction.append(torch.stack(ys))
                finals_b.append(state)
            layer_input = torch.cat(per_direction, dim=-1)
        pad = layer_input.new_zeros(T - length, 1, layer_input.shape[-1])
        outputs.append(torch.cat([layer_input, pad]))
        finals.append(finals_b)
    output = torch.cat(outputs, dim=1)
    num_states = len(hx)
    state_n = tuple(
        torch.stack([torch.cat([finals[b][j][s] for b in range(B)]) for j in range(len(finals[0]))])
        for s in range(num_states)
    )
    return output, state_n


def _layer(kind: str, **kwargs: object) -> rnn.RecurrentLayer:
    cls, extra = KINDS[kind]
    return cls(I, H, **extra, **kwargs, dtype=DTYPE)


@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "batch_first"), [(1, False, False), (2, True, True)]
)
@pytest.mark.parametrize(
    ("kind", "path"),
    [(kind, "loop") for kind in KINDS] + [(kind, "fused") for kind in FUSED_KINDS],
)
def test_layer_equals_hand_stepped_cell(
    kind: str,
    path: str,
    num_layers: int,
    bidirectional: bool,
    batch_first: bool,
    with_lengths: bool,
) -> None:
    layer = _layer(
        kind, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    layer.force_loop = path == "loop"
    assert layer.path == path
    x = leaf(T, B, I)
    LD = num_layers * layer.num_directions
    hx = tuple(leaf(LD, B, size, seed=7 + k) for k, size in enumerate(layer.state_sizes))
    lengths = LENGTHS if with_lengths else [T] * B

    def run_layer(module: torch.nn.Module) -> object:
        given = x.transpose(0, 1) if batch_first else x
        out, state = module(given, hx if len(hx) > 1 else hx[0], lengths=lengths)
        return (out.transpose(0, 1) if batch_first else out), state

    got = run_with_grads(layer, run_layer, [x, *hx])
    expected = run_with_grads(layer, lambda m: hand_stepped(m, x, hx, lengths), [x, *hx])
    assert_all_close(got, expected)


@pytest.mark.parametrize("kind", ["peephole_lstm", "jordan_softmax_relu", "gru"])
def test_learned_initial_state_equals_given_state(kind: str) -> None:
    layer = _layer(kind, num_layers=2, bidirectional=True, learn_initial_state=True)
    layer.force_loop = True
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name[1] == "0":  # h0_l*, c0_l*, y0_l*
                p.normal_()
    x = leaf(T, B, I)
    learned = [
        torch.stack(
            [getattr(layer, f"{s}0{sfx}") for sfx in ("_l0", "_l0_reverse", "_l1", "_l1_reverse")]
        )
        for s in layer.spec.state_names
    ]
    given = tuple(v.unsqueeze(1).expand(-1, B, -1) for v in learned)
    out, state = layer(x)
    out2, state2 = layer(x, given if len(given) > 1 else given[0])
    torch.testing.assert_close(out, out2)
    torch.testing.assert_close(state, state2)
