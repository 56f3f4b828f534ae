"""Helpers for the rnnkit.nn tests: run a module, backprop a random gradient, compare all."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

DTYPE = torch.float64


def flatten_outputs(result: object) -> list[Tensor]:
    """Every tensor in a nested (output, state) result, packed sequences as their data."""
    if isinstance(result, PackedSequence):
        return [result.data]
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [t for item in result for t in flatten_outputs(item)]
    raise TypeError(f"unexpected result type {type(result).__name__}")


def run_with_grads(
    module: torch.nn.Module,
    call: Callable[[torch.nn.Module], object],
    inputs: Iterable[Tensor],
    seed: int = 1,
) -> dict[str, Tensor]:
    """Call, backprop a seeded random upstream gradient, return outputs and every gradient.

    The same seed gives the same upstream gradient for two modules with equal output shapes.
    """
    inputs = list(inputs)
    module.zero_grad(set_to_none=True)
    for x in inputs:
        x.grad = None
    outputs = flatten_outputs(call(module))
    generator = torch.Generator().manual_seed(seed)
    grads = [torch.randn(o.shape, generator=generator, dtype=o.dtype) for o in outputs]
    torch.autograd.backward(outputs, grads)
    found: dict[str, Tensor] = {f"output[{k}]": o.detach() for k, o in enumerate(outputs)}
    for name, p in module.named_parameters():
        found[f"grad {name}"] = p.grad if p.grad is not None else torch.zeros_like(p)
    for k, x in enumerate(inputs):
        found[f"grad input[{k}]"] = x.grad if x.grad is not None else torch.zeros_like(x)
    return found


def assert_all_close(
    got: dict[str, Tensor], expected: dict[str, Tensor], atol: float = 1e-10, rtol: float = 1e-8
) -> None:
    """Compare two result dicts key by key, naming the first difference."""
    assert set(got) == set(expected), f"keys differ: {set(got) ^ set(expected)}"
    for key, value in expected.items():
        assert got[key].shape == value.shape, f"{key}: shape {got[key].shape} != {value.shape}"
        diff = (got[key] - value).abs().max().item() if value.numel() else 0.0
        assert torch.allclose(got[key], value, atol=atol, rtol=rtol), f"{key}: max diff {diff}"


def leaf(*shape: int, seed: int = 0) -> Tensor:
    """A float64 leaf tensor with requires_grad, from its own seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=DTYPE).requires_grad_()


def count_sequence_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count the layers' calls of the sequence function ``rnnkit.nn.layers.<name>`` (e.g.
    ``layer_norm_lstm_sequence``); the count is ``calls[0]``."""
    from rnnkit.nn import layers

    original = getattr(layers, name)
    calls = [0]

    def counted(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(layers, name, counted)
    return calls


def sequence_and_step_loop(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    layer: torch.nn.Module,
    call: Callable[[torch.nn.Module], object],
    inputs: list[Tensor],
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Results and gradients of ``call(layer)`` with the sequence function ``name`` (checked
    to run once per layer and direction), then with it switched off: the step loop."""
    from rnnkit.nn import layers

    calls = count_sequence_calls(monkeypatch, name)
    torch.manual_seed(7)  # the same recurrent-dropout masks both times
    fused = run_with_grads(layer, call, inputs)
    assert calls[0] == layer.num_layers * layer.num_directions
    with monkeypatch.context() as patch:
        patch.setattr(layers.RecurrentLayer, "_runs_sequence_function", lambda *args: False)
        torch.manual_seed(7)
        stepped = run_with_grads(layer, call, inputs)
    assert calls[0] == layer.num_layers * layer.num_directions  # not called again
    return fused, stepped
