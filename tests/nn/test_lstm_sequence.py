"""The plain LSTM's sequence function (``rnnkit.nn.lstm_sequence``) against the step loop.

Oracles: the same loop-path layer with the sequence function switched off, so that every step
runs ``lstm_step`` (``peephole_lstm_step``) under autograd (outputs, final states and every
gradient in float64, with a random upstream gradient on the outputs and the final states), and
``torch.autograd.gradcheck`` of the function itself on tiny sizes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from nn_checks import (
    DTYPE,
    assert_all_close,
    count_sequence_calls,
    leaf,
    sequence_and_step_loop,
)

import rnnkit.nn as rnn
from rnnkit.nn import lstm_sequence as LS
from rnnkit.nn.lstm_sequence import lstm_sequence

B, T, I, H = 3, 5, 3, 4


def _layer(**kwargs: object) -> rnn.LSTM:
    """A float64 LSTM on the loop path (``force_loop`` unless an option puts it there)."""
    kwargs.setdefault("force_loop", True)
    layer = rnn.LSTM(I, H, dtype=DTYPE, **kwargs)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("weight_c"):  # away from their initial values
                p.add_(0.3 * torch.randn_like(p))
    return layer


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the layers' calls of the sequence function."""
    return count_sequence_calls(monkeypatch, "lstm_sequence")


def _both_ways(
    monkeypatch: pytest.MonkeyPatch,
    layer: rnn.LSTM,
    call: Callable[[torch.nn.Module], object],
    inputs: list[torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Results and gradients with the sequence function, then with the step loop."""
    return sequence_and_step_loop(monkeypatch, "lstm_sequence", layer, call, inputs)


CONFIGS = {
    "single": {},
    "stacked": {"num_layers": 2},
    "bidirectional": {"bidirectional": True},
    "stacked-bidirectional-batch_first": {
        "num_layers": 2,
        "bidirectional": True,
        "batch_first": True,
    },
    "nobias": {"bias": False},
    "recurrent_dropout": {
        "num_layers": 2,
        "bidirectional": True,
        "recurrent_dropout": 0.4,
        "force_loop": False,
    },
    "peephole": {"peephole": True, "force_loop": False},
    "peephole-bidirectional-dropout": {
        "peephole": True,
        "bidirectional": True,
        "recurrent_dropout": 0.3,
    },
    "weight_drop-learned_state": {"weight_drop": 0.3, "learn_initial_state": True},
}


@pytest.mark.parametrize("lengths", [None, [5, 2, 4]], ids=["full", "lengths"])
@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
def test_sequence_function_equals_the_step_loop(
    monkeypatch: pytest.MonkeyPatch, config: dict, lengths: list[int] | None
) -> None:
    layer = _layer(**config)
    assert layer.path == "loop"
    LD = layer.num_layers * layer.num_directions
    x = leaf(B, T, I) if layer.batch_first else leaf(T, B, I)
    h0, c0 = leaf(LD, B, H, seed=1), leaf(LD, B, H, seed=2)
    inputs = [x] if config.get("learn_initial_state") else [x, h0, c0]
    hx = None if config.get("learn_initial_state") else (h0, c0)
    fused, stepped = _both_ways(monkeypatch, layer, lambda m: m(x, hx, lengths=lengths), inputs)
    assert_all_close(fused, stepped, atol=1e-12, rtol=1e-10)
    for name, value in fused.items():
        if name.startswith("grad"):
            assert value.abs().sum() > 0, f"{name} is zero: the comparison would prove nothing"


def test_sequence_function_in_chunks_of_steps_equals_the_step_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The recurrent weight's gradient is summed one product per chunk of steps: with 2 steps
    # a chunk, 5 steps take three products (and the reverse direction three of its own).
    monkeypatch.setattr(LS, "_CHUNK_ROWS", 2 * B)
    layer = _layer(bidirectional=True, recurrent_dropout=0.3, peephole=True)
    x = leaf(T, B, I)
    fused, stepped = _both_ways(monkeypatch, layer, lambda m: m(x, lengths=[5, 2, 4]), [x])
    assert_all_close(fused, stepped, atol=1e-12, rtol=1e-10)


def test_sequence_function_in_float32_equals_the_step_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # float32 on the CPU takes oneDNN's matrix product where torch has it (float64 takes
    # torch.mm, so the tests above do not reach it).
    layer = rnn.LSTM(I, H, 2, bidirectional=True, peephole=True)
    x = torch.randn(T, B, I, requires_grad=True)
    fused, stepped = _both_ways(monkeypatch, layer, lambda m: m(x, lengths=[5, 2, 4]), [x])
    assert_all_close(fused, stepped, atol=2e-5, rtol=1e-4)


def test_sequence_function_with_a_gradient_on_the_final_state_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A classifier reads h_n alone: the node gets no gradient for its outputs.
    layer = _layer(bidirectional=True)
    x = leaf(T, B, I)
    fused, stepped = _both_ways(monkeypatch, layer, lambda m: m(x, lengths=[5, 3, 1])[1][0], [x])
    assert_all_close(fused, stepped, atol=1e-12, rtol=1e-10)


def test_sequence_function_packed_input_equals_the_step_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fused layer: variable lengths on the CPU under autograd take the loop.
    layer = _layer(num_layers=2, bidirectional=True, force_loop=False)
    x = leaf(T, B, I)

    def packed(module: torch.nn.Module) -> object:
        seq = torch.nn.utils.rnn.pack_padded_sequence(x, [2, 5, 3], enforce_sorted=False)
        return module(seq)

    fused, stepped = _both_ways(monkeypatch, layer, packed, [x])
    assert_all_close(fused, stepped, atol=1e-12, rtol=1e-10)


def test_sequence_function_equals_torch_lstm() -> None:
    torch.manual_seed(0)
    ours = _layer(num_layers=2, bidirectional=True)
    theirs = torch.nn.LSTM(I, H, 2, bidirectional=True, dtype=DTYPE)
    theirs.load_state_dict(ours.state_dict())
    x = leaf(T, B, I)
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize(
    ("peephole", "reverse", "masked", "bias"),
    [
        (False, False, False, True),
        (False, True, True, True),
        (True, False, True, False),
        (True, True, False, True),
    ],
    ids=["plain", "reverse-masked", "peephole-masked-nobias", "peephole-reverse"],
)
def test_sequence_function_gradcheck(
    peephole: bool, reverse: bool, masked: bool, bias: bool
) -> None:
    layer = _layer(peephole=peephole, bias=bias)
    names = [name[: -len("_l0")] for name, _ in layer.named_parameters()]
    values = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    x, h0, c0 = leaf(4, 2, I), leaf(2, H, seed=1), leaf(2, H, seed=2)
    recurrent_mask = step_mask = None
    if masked:
        recurrent_mask = torch.tensor([[2.0, 0.0, 2.0, 2.0], [0.0, 2.0, 2.0, 0.0]], dtype=DTYPE)
        step_mask = (torch.arange(4).unsqueeze(1) < torch.tensor([4, 2])).unsqueeze(-1)

    def run(x, h0, c0, *weights):
        out, (h_n, c_n) = lstm_sequence(
            x,
            (h0, c0),
            dict(zip(names, weights, strict=True)),
            reverse=reverse,
            recurrent_mask=recurrent_mask,
            step_mask=step_mask,
        )
        return out, h_n, c_n

    assert torch.autograd.gradcheck(run, (x, h0, c0, *values))


ZONEOUT_CONFIGS = {
    "h": {"zoneout": 0.3, "zoneout_c": 0.0},
    "c": {"zoneout_c": 0.4},  # zoneout of h 0
    "both": {"zoneout": 0.3, "zoneout_c": 0.5},
    "both-bidirectional-stacked": {
        "zoneout": 0.3,
        "zoneout_c": 0.5,
        "num_layers": 2,
        "bidirectional": True,
    },
    "both-peephole-dropout-bidirectional": {
        "zoneout": 0.3,
        "zoneout_c": 0.5,
        "peephole": True,
        "recurrent_dropout": 0.3,
        "bidirectional": True,
    },
    "c-peephole-bidirectional": {"zoneout_c": 0.4, "peephole": True, "bidirectional": True},
}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4]], ids=["full", "lengths"])
@pytest.mark.parametrize("config", list(ZONEOUT_CONFIGS.values()), ids=list(ZONEOUT_CONFIGS))
def test_zoneout_sequence_function_equals_the_step_loop(
    monkeypatch: pytest.MonkeyPatch, config: dict, lengths: list[int] | None, training: bool
) -> None:
    # Zoneout runs the sequence function too (the same masks both times: the same seed).
    layer = _layer(**config).train(training)
    assert layer.path == "loop"
    LD = layer.num_layers * layer.num_directions
    x = leaf(T, B, I)
    h0, c0 = leaf(LD, B, H, seed=1), leaf(LD, B, H, seed=2)
    fused, stepped = _both_ways(
        monkeypatch, layer, lambda m: m(x, (h0, c0), lengths=lengths), [x, h0, c0]
    )
    assert_all_close(fused, stepped, atol=1e-12, rtol=1e-10)
    for name, value in fused.items():
        if name.startswith("grad"):
            assert value.abs().sum() > 0, f"{name} is zero: the comparison would prove nothing"
    if training:
        masks = [m for key, m in layer.last_masks.items() if key.startswith("zoneout")]
        assert masks and all(0 < m.mean() < 1 for m in masks)  # both kinds of unit


@pytest.mark.parametrize(
    ("peephole", "reverse", "masked", "zone"),
    [
        (False, False, False, "masks"),
        (False, True, True, "masks"),
        (True, False, True, "masks-h"),
        (True, True, True, "probabilities"),
        (True, False, False, "c"),
    ],
    ids=["plain", "reverse-masked", "peephole-masked-h", "peephole-reverse-eval", "peephole-c"],
)
def test_sequence_function_with_zoneout_gradcheck(
    peephole: bool, reverse: bool, masked: bool, zone: str
) -> None:
    layer = _layer(peephole=peephole)
    names = [name[: -len("_l0")] for name, _ in layer.named_parameters()]
    values = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    x, h0, c0 = leaf(4, 2, I), leaf(2, H, seed=1), leaf(2, H, seed=2)
    recurrent_mask = step_mask = None
    if masked:
        recurrent_mask = torch.tensor([[2.0, 0.0, 2.0, 2.0], [0.0, 2.0, 2.0, 0.0]], dtype=DTYPE)
        step_mask = (torch.arange(4).unsqueeze(1) < torch.tensor([4, 2])).unsqueeze(-1)
    generator = torch.Generator().manual_seed(3)
    mask_h, mask_c = (
        torch.empty(4, 2, H, dtype=DTYPE).bernoulli_(0.5, generator=generator) for _ in range(2)
    )
    zoneout = {
        "masks": (mask_h, mask_c),
        "masks-h": (mask_h, None),
        "c": (None, mask_c),
        "probabilities": (0.3, 0.6),
    }[zone]

    def run(x, h0, c0, *weights):
        out, (h_n, c_n) = lstm_sequence(
            x,
            (h0, c0),
            dict(zip(names, weights, strict=True)),
            reverse=reverse,
            recurrent_mask=recurrent_mask,
            step_mask=step_mask,
            zoneout=zoneout,
        )
        return out, h_n, c_n

    assert torch.autograd.gradcheck(run, (x, h0, c0, *values))


def test_zoneout_runs_it_without_autograd_as_with() -> None:
    layer = _layer(bidirectional=True, peephole=True, zoneout=0.3, zoneout_c=0.5).eval()
    x = leaf(T, B, I)
    out, (h_n, c_n) = layer(x, lengths=[5, 1, 3])
    with torch.no_grad():
        out_ng, (h_ng, c_ng) = layer(x, lengths=[5, 1, 3])
    torch.testing.assert_close((out_ng, h_ng, c_ng), (out.detach(), h_n.detach(), c_n.detach()))


@pytest.mark.parametrize(
    "config",
    [{"proj_size": 2}, {"layer_norm": True}, {"layer_norm": True, "zoneout": 0.1}],
    ids=["proj_size", "layer_norm", "layer_norm-zoneout"],
)
def test_other_steps_do_not_run_it(monkeypatch: pytest.MonkeyPatch, config: dict) -> None:
    calls = _counting(monkeypatch)
    layer = _layer(**config)
    assert layer.path == "loop"
    layer(leaf(T, B, I))
    assert calls[0] == 0


def test_variants_and_the_gru_do_not_run_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    rnn.GRU(I, H, force_loop=True, recurrent_dropout=0.2)(torch.randn(T, B, I))
    rnn.LSTM(I, H, variant="cifg")(torch.randn(T, B, I))
    assert calls[0] == 0


def test_the_fused_path_does_not_run_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    layer = rnn.LSTM(I, H)
    assert layer.path == "fused"
    layer(torch.randn(T, B, I))
    assert calls[0] == 0


def test_autocast_keeps_the_step_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    layer = rnn.LSTM(I, H, force_loop=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(torch.randn(T, B, I))
    assert calls[0] == 0
    layer(torch.randn(T, B, I))
    assert calls[0] == 1


def test_mixed_dtypes_keep_the_step_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # An hx of another dtype than the weights gets the step loop's own error.
    calls = _counting(monkeypatch)
    layer = rnn.LSTM(I, H, force_loop=True)
    hx = (torch.zeros(1, B, H, dtype=DTYPE), torch.zeros(1, B, H, dtype=DTYPE))
    with pytest.raises(RuntimeError, match="same dtype"):
        layer(torch.randn(T, B, I), hx)
    assert calls[0] == 0


def test_sequence_function_bad_input() -> None:
    params = rnn.LSTM(I, H, proj_size=2).direction_parameters(0)
    state = (torch.zeros(B, 2), torch.zeros(B, H))
    with pytest.raises(ValueError, match=r"must not hold `weight_hr`"):
        lstm_sequence(torch.zeros(T, B, I), state, params)
    params = rnn.LSTM(I, H).direction_parameters(0)
    state = (torch.zeros(B, H), torch.zeros(B, H))
    with pytest.raises(ValueError, match=r"`x` and `state` must be \[T, B, 3\] and two \[B, 4\]"):
        lstm_sequence(torch.zeros(T, B, I + 1), state, params)
    with pytest.raises(ValueError, match=r"got \[5, 3, 3\] and \[2, 4\], \[3, 4\]"):
        lstm_sequence(torch.zeros(T, B, I), (torch.zeros(2, H), state[1]), params)
