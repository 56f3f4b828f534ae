"""What every sequence function (one autograd node per direction, a hand-written backward
through time) owes autograd, checked once for all three: ``lstm_sequence`` (the plain and
peephole LSTM's loop path), ``layer_norm_lstm_sequence`` and ``layer_norm_gru_sequence``.

Each test also checks that the layer really ran the sequence function, so none of them can
pass through the step loop instead. Their equality with the step loop is tested in each
function's own file.
"""

from __future__ import annotations

import pytest
import torch
from nn_checks import DTYPE, count_sequence_calls, flatten_outputs, leaf

import rnnkit.nn as rnn

B, T, I, H = 3, 5, 3, 4

#: kind -> (layer class, its options, the function it runs, how its backward names itself)
KINDS = {
    "lstm": (rnn.LSTM, {"force_loop": True, "peephole": True}, "lstm_sequence",
             "LSTM's sequence function"),
    "layer_norm_lstm": (rnn.LSTM, {"layer_norm": True, "peephole": True},
                        "layer_norm_lstm_sequence", r"LSTM\(layer_norm=True\)"),
    "layer_norm_gru": (rnn.GRU, {"layer_norm": True}, "layer_norm_gru_sequence",
                       r"GRU\(layer_norm=True\)"),
}


def _layer(kind: str, **kwargs: object) -> torch.nn.Module:
    cls, options, _, _ = KINDS[kind]
    layer = cls(I, H, dtype=DTYPE, **options, **kwargs)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith(("ln_", "weight_c")):  # gains, shifts, peepholes away from 1, 0
                p.add_(0.3 * torch.randn_like(p))
    return layer


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each kind, with its sequence function's calls counted in ``request.node.calls``."""
    request.node.calls = count_sequence_calls(monkeypatch, KINDS[request.param][2])
    return request.param


def _ran(request: pytest.FixtureRequest) -> bool:
    return request.node.calls[0] > 0


def test_without_autograd_it_equals_itself_with_autograd(kind: str, request) -> None:
    layer = _layer(kind, num_layers=2, bidirectional=True)
    x = leaf(T, B, I)
    with_grad = flatten_outputs(layer(x, lengths=[5, 1, 3]))
    with torch.no_grad():
        without = flatten_outputs(layer(x, lengths=[5, 1, 3]))
    assert _ran(request)
    torch.testing.assert_close(without, [t.detach() for t in with_grad])


def test_backward_twice_with_retain_graph_gives_the_same_gradient(kind: str, request) -> None:
    layer = _layer(kind, bidirectional=True)
    out, _ = layer(leaf(T, B, I))
    out.sum().backward(retain_graph=True)
    first = layer.weight_hh_l0.grad.clone()
    layer.zero_grad()
    out.sum().backward()
    assert _ran(request)
    torch.testing.assert_close(layer.weight_hh_l0.grad, first)


def test_a_second_order_gradient_is_an_error(kind: str) -> None:
    layer, x = _layer(kind), leaf(T, B, I)
    with pytest.raises(RuntimeError, match=KINDS[kind][3] + r" has a hand-written backward .* "
                                           r"\(create_graph=True\)"):
        torch.autograd.grad(layer(x)[0].sum(), x, create_graph=True)


def test_an_output_changed_in_place_is_an_error_as_in_torch(kind: str, request) -> None:
    out, _ = _layer(kind)(leaf(T, B, I))
    out.mul_(2)
    assert _ran(request)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
