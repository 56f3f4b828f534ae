"""The layer-norm GRU's sequence function (``rnnkit.nn.layer_norm_gru``) against the step loop.

Oracles: the same layer with the sequence function switched off, so that every step runs
``layer_norm_gru_step`` under autograd (outputs, final states and every gradient in float64,
with a random upstream gradient on the outputs and the final states), and
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
from rnnkit.nn import layer_norm_gru as LN
from rnnkit.nn.layer_norm_gru import layer_norm_gru_sequence

B, T, I, H = 3, 5, 3, 4


def _layer(**kwargs: object) -> rnn.GRU:
    layer = rnn.GRU(I, H, layer_norm=True, dtype=DTYPE, **kwargs)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("ln_"):  # away from 1, 0
                p.add_(0.3 * torch.randn_like(p))
    return layer


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the layers' calls of the sequence function."""
    return count_sequence_calls(monkeypatch, "layer_norm_gru_sequence")


def _both_ways(
    monkeypatch: pytest.MonkeyPatch,
    layer: rnn.GRU,
    call: Callable[[torch.nn.Module], object],
    inputs: list[torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Results and gradients with the sequence function, then with the step loop."""
    return sequence_and_step_loop(monkeypatch, "layer_norm_gru_sequence", layer, call, inputs)


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
    "recurrent_dropout": {"num_layers": 2, "bidirectional": True, "recurrent_dropout": 0.4},
    "weight_drop-learned_state": {"weight_drop": 0.3, "learn_initial_state": True},
}


@pytest.mark.parametrize("lengths", [None, [5, 2, 4]], ids=["full", "lengths"])
@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
def test_sequence_function_equals_the_step_loop(
    monkeypatch: pytest.MonkeyPatch, config: dict, lengths: list[int] | None
) -> None:
    layer = _layer(**config)
    LD = layer.num_layers * layer.num_directions
    x = leaf(B, T, I) if layer.batch_first else leaf(T, B, I)
    h0 = leaf(LD, B, H, seed=1)
    inputs = [x] if config.get("learn_initial_state") else [x, h0]
    hx = None if config.get("learn_initial_state") else h0
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
    monkeypatch.setattr(LN, "_CHUNK_ROWS", 2 * B)
    layer = _layer(bidirectional=True, recurrent_dropout=0.3)
    x = leaf(T, B, I)
    fused, stepped = _both_ways(monkeypatch, layer, lambda m: m(x, lengths=[5, 2, 4]), [x])
    assert_all_close(fused, stepped, atol=1e-12, rtol=1e-10)


def test_sequence_function_in_float32_equals_the_step_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # float32 on the CPU takes oneDNN's matrix product where torch has it (float64 takes
    # torch.mm, so the tests above do not reach it).
    layer = rnn.GRU(I, H, 2, bidirectional=True, layer_norm=True)
    x = torch.randn(T, B, I, requires_grad=True)
    fused, stepped = _both_ways(monkeypatch, layer, lambda m: m(x, lengths=[5, 2, 4]), [x])
    assert_all_close(fused, stepped, atol=2e-5, rtol=1e-4)


def test_sequence_function_with_a_gradient_on_the_final_state_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A classifier reads h_n alone: the node gets no gradient for its outputs.
    layer = _layer(bidirectional=True)
    x = leaf(T, B, I)
    fused, stepped = _both_ways(monkeypatch, layer, lambda m: m(x, lengths=[5, 3, 1])[1], [x])
    assert_all_close(fused, stepped, atol=1e-12, rtol=1e-10)


def test_sequence_function_packed_input_equals_the_step_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer = _layer(num_layers=2, bidirectional=True)
    x = leaf(T, B, I)

    def packed(module: torch.nn.Module) -> object:
        seq = torch.nn.utils.rnn.pack_padded_sequence(x, [2, 5, 3], enforce_sorted=False)
        return module(seq)

    fused, stepped = _both_ways(monkeypatch, layer, packed, [x])
    assert_all_close(fused, stepped, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize(
    ("bias", "reverse", "masked"),
    [(True, False, False), (True, True, True), (False, False, True)],
    ids=["plain", "reverse-masked", "nobias-masked"],
)
def test_sequence_function_gradcheck(bias: bool, reverse: bool, masked: bool) -> None:
    layer = _layer(bias=bias)
    names = [name[: -len("_l0")] for name, _ in layer.named_parameters()]
    values = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    x, h0 = leaf(4, 2, I), leaf(2, H, seed=1)
    recurrent_mask = step_mask = None
    if masked:
        recurrent_mask = torch.tensor([[2.0, 0.0, 2.0, 2.0], [0.0, 2.0, 2.0, 0.0]], dtype=DTYPE)
        step_mask = (torch.arange(4).unsqueeze(1) < torch.tensor([4, 2])).unsqueeze(-1)

    def run(x, h0, *weights):
        out, (h_n,) = layer_norm_gru_sequence(
            x,
            (h0,),
            dict(zip(names, weights, strict=True)),
            reverse=reverse,
            recurrent_mask=recurrent_mask,
            step_mask=step_mask,
        )
        return out, h_n

    assert torch.autograd.gradcheck(run, (x, h0, *values))


@pytest.mark.parametrize(
    "config",
    [{"zoneout": 0.1}, {"force_loop": True, "zoneout": 0.1}],
    ids=["zoneout", "force_loop-zoneout"],
)
def test_options_that_change_the_step_keep_the_step_loop(
    monkeypatch: pytest.MonkeyPatch, config: dict
) -> None:
    calls = _counting(monkeypatch)
    layer = _layer(**config)
    assert layer.path == "loop"
    layer(leaf(T, B, I))
    assert calls[0] == 0


def test_autocast_keeps_the_step_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    layer = rnn.GRU(I, H, layer_norm=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(torch.randn(T, B, I))
    assert calls[0] == 0
    layer(torch.randn(T, B, I))
    assert calls[0] == 1


def test_mixed_dtypes_keep_the_step_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # An hx of another dtype than the weights gets the step loop's own error.
    calls = _counting(monkeypatch)
    layer = rnn.GRU(I, H, layer_norm=True)
    with pytest.raises(RuntimeError, match="same dtype"):
        layer(torch.randn(T, B, I), torch.zeros(1, B, H, dtype=DTYPE))
    assert calls[0] == 0


def test_sequence_function_bad_input() -> None:
    params = rnn.GRU(I, H, layer_norm=True).direction_parameters(0)
    with pytest.raises(ValueError, match=r"`x` and `state` must be \[T, B, 3\] and one \[B, 4\]"):
        layer_norm_gru_sequence(torch.zeros(T, B, I + 1), (torch.zeros(B, H),), params)
    with pytest.raises(ValueError, match=r"got \[5, 3, 3\] and \[2, 4\]"):
        layer_norm_gru_sequence(torch.zeros(T, B, I), (torch.zeros(2, H),), params)
