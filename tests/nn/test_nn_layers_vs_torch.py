"""rnnkit.nn layers equal torch.nn layers given the same weights: outputs, states, gradients.

Both paths (fused and loop) are checked against torch for every configuration, in float64,
with a random upstream gradient on the outputs and the final states.
"""

from __future__ import annotations

import pytest
import torch
from nn_checks import DTYPE, assert_all_close, leaf, run_with_grads
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn as rnn

B, T, I, H = 3, 5, 3, 4
LENGTHS = [3, 5, 2]  # unsorted on purpose: exercises sorted_indices

MODES = {
    "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {}),
}


def _pair(mode: str, **kwargs: object) -> tuple[torch.nn.Module, torch.nn.Module]:
    name, extra = MODES[mode]
    ours = getattr(rnn, name)(I, H, **extra, **kwargs, dtype=DTYPE)
    theirs = getattr(torch.nn, name)(I, H, **extra, **kwargs, dtype=DTYPE)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def _initial_state(mode: str, num_states: int) -> list[torch.Tensor]:
    count = 2 if mode == "lstm" else 1
    return [leaf(num_states, B, H, seed=10 + k) for k in range(count)]


def _hx(mode: str, states: list[torch.Tensor]) -> object:
    return tuple(states) if mode == "lstm" else states[0]


@pytest.mark.parametrize("path", ["fused", "loop"])
@pytest.mark.parametrize("case", ["plain", "hx", "packed", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mode", list(MODES))
def test_layer_equals_torch(
    mode: str, batch_first: bool, num_layers: int, bidirectional: bool, case: str, path: str
) -> None:
    ours, theirs = _pair(
        mode, num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional
    )
    ours.force_loop = path == "loop"
    assert ours.path == path
    x = leaf(B, T, I) if batch_first else leaf(T, B, I)
    states = _initial_state(mode, num_layers * (2 if bidirectional else 1))
    hx = _hx(mode, states) if case != "plain" else None
    inputs = [x, *states] if hx is not None else [x]

    def packed(module: torch.nn.Module) -> object:
        seq = pack_padded_sequence(x, LENGTHS, batch_first=batch_first, enforce_sorted=False)
        return module(seq, hx)

    if case == "packed":
        got = run_with_grads(ours, packed, inputs)
        expected = run_with_grads(theirs, packed, inputs)
    elif case == "lengths":

        def reference(module: torch.nn.Module) -> object:
            out, state = packed(module)
            padded, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
            return padded, state

        got = run_with_grads(ours, lambda m: m(x, hx, lengths=torch.tensor(LENGTHS)), inputs)
        expected = run_with_grads(theirs, reference, inputs)
    else:
        got = run_with_grads(ours, lambda m: m(x, hx), inputs)
        expected = run_with_grads(theirs, lambda m: m(x, hx), inputs)
    assert_all_close(got, expected)


@pytest.mark.parametrize("path", ["fused", "loop"])
@pytest.mark.parametrize("mode", list(MODES))
def test_unbatched_input_equals_torch(mode: str, path: str) -> None:
    ours, theirs = _pair(mode, num_layers=2, bidirectional=True)
    ours.force_loop = path == "loop"
    x = leaf(T, I)
    states = [leaf(4, H, seed=10 + k) for k in range(2 if mode == "lstm" else 1)]
    hx = _hx(mode, states)
    got = run_with_grads(ours, lambda m: m(x, hx), [x, *states])
    expected = run_with_grads(theirs, lambda m: m(x, hx), [x, *states])
    assert_all_close(got, expected)


@pytest.mark.parametrize("path", ["fused", "loop"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_projection_equals_torch(path: str, bidirectional: bool) -> None:
    ours, theirs = _pair("lstm", num_layers=2, proj_size=2, bidirectional=bidirectional)
    ours.force_loop = path == "loop"
    x = leaf(T, B, I)
    got = run_with_grads(ours, lambda m: m(x, lengths=LENGTHS), [x])

    def reference(module: torch.nn.Module) -> object:
        seq = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
        out, state = module(seq)
        return pad_packed_sequence(out, total_length=T)[0], state

    assert_all_close(got, run_with_grads(theirs, reference, [x]))


ROUND_TRIPS = [(mode, options) for mode in MODES for options in ({"bias": False}, {})]
ROUND_TRIPS.append(("lstm", {"proj_size": 2}))


@pytest.mark.parametrize(("mode", "options"), ROUND_TRIPS)
def test_state_dict_round_trip_both_ways(mode: str, options: dict) -> None:
    ours, theirs = _pair(mode, num_layers=2, bidirectional=True, **options)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for value in theirs.parameters():
        torch.nn.init.normal_(value)  # new weights, so that the load is seen to take effect
    ours.load_state_dict(theirs.state_dict())  # strict: the same names and shapes
    for name, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], value), name
    _, back = _pair(mode, num_layers=2, bidirectional=True, **options)
    back.load_state_dict(ours.state_dict())  # and back into a fresh torch.nn layer
    for name, value in ours.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name
    x = leaf(T, B, I)
    assert_all_close(
        run_with_grads(ours, lambda m: m(x), [x]), run_with_grads(theirs, lambda m: m(x), [x])
    )


@pytest.mark.parametrize("path", ["fused", "loop"])
def test_eval_mode_ignores_dropout_like_torch(path: str) -> None:
    ours, theirs = _pair("lstm", num_layers=3, dropout=0.5)
    ours.force_loop = path == "loop"
    ours.eval()
    theirs.eval()
    x = leaf(T, B, I)
    assert_all_close(
        run_with_grads(ours, lambda m: m(x), [x]), run_with_grads(theirs, lambda m: m(x), [x])
    )
