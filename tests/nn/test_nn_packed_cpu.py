"""Variable-length input on the CPU under autograd runs the loop (torch's packed CPU kernel
has a backward pass quadratic in the length); without autograd it stays on the fused kernel.
Either way the numbers are those of torch.nn."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn as rnn


def _pair(kind: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    ours = getattr(rnn, kind)(3, 4, num_layers=2, batch_first=True, bidirectional=True,
                              dtype=torch.float64)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, batch_first=True, bidirectional=True,
                                     dtype=torch.float64)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def _as_tuple(state: object) -> tuple:
    """An LSTM's ``(h, c)`` as it is, a GRU's ``h`` as ``(h,)``."""
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_lengths_under_autograd_take_the_loop_and_match_torch(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = _pair(kind)
    assert ours.path == "fused"
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4])
    calls = []
    fused = type(ours)._call_fused

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return fused(self, *args, **kwargs)

    monkeypatch.setattr(type(ours), "_call_fused", spy)
    out, _ = ours(x, lengths=lengths)
    packed_out, _ = ours(pack_padded_sequence(x, lengths, batch_first=True,
                                              enforce_sorted=False))
    assert calls == []  # the loop ran both times
    ref, _ = theirs(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    torch.testing.assert_close(packed_out.data, ref.data)
    g = torch.randn_like(out)
    (out * g).sum().backward()
    ref_out, _ = pad_packed_sequence(ref, batch_first=True, total_length=6)
    (ref_out * g).sum().backward()
    for name, param in ours.named_parameters():
        torch.testing.assert_close(param.grad, theirs.get_parameter(name).grad, msg=name)
    mask = (torch.arange(6)[None, :] < lengths[:, None]).unsqueeze(-1)
    torch.testing.assert_close(out, out * mask)  # zero past each end
    with torch.no_grad():
        again, again_state = ours(x, lengths=lengths)
        packed_again, packed_state = ours(
            pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        )
        _, ref_state = theirs(pack_padded_sequence(x, lengths, batch_first=True,
                                                   enforce_sorted=False))
    assert calls == [1, 1]  # evaluation keeps the fused kernel
    torch.testing.assert_close(again, out.detach())
    torch.testing.assert_close(packed_again.data, ref.data.detach())
    # final states at each sequence's true end, from the fused kernel, equal torch.nn's
    for mine in (again_state, packed_state):
        for got, expected in zip(_as_tuple(mine), _as_tuple(ref_state), strict=True):
            torch.testing.assert_close(got, expected)
