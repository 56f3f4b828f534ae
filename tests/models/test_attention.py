"""Attention scores against hand-written loops, masking, and bad input."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.attention import Attention


def _loop_scores(attn: Attention, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """score(q_b, k_bs) one pair at a time, straight from the equations."""
    B, S, _ = memory.shape
    out = torch.empty(B, S)
    for b in range(B):
        for s in range(S):
            k = memory[b, s]
            if attn.kind == "dot":
                out[b, s] = q[b] @ k
            elif attn.kind == "general":
                out[b, s] = q[b] @ (attn.weight_a.weight @ k)
            else:
                hidden = torch.tanh(
                    attn.weight_q.weight @ q[b] + attn.weight_k.weight @ k + attn.weight_k.bias
                )
                out[b, s] = attn.v.weight[0] @ hidden
    return out


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_context_is_the_softmax_weighted_memory(kind: str) -> None:
    attn = Attention(kind, 3, 3, attention_size=5)
    q, memory = torch.randn(2, 3), torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    context, weights = attn(q, memory, mask)
    scores = _loop_scores(attn, q, memory).masked_fill(~mask, float("-inf"))
    expected = torch.softmax(scores, dim=-1)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(context, torch.einsum("bs,bsh->bh", expected, memory))
    assert weights[1, 2:].abs().sum() == 0  # padding gets no weight


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_padding_content_and_amount_do_not_change_the_context(kind: str) -> None:
    attn = Attention(kind, 4, 4)
    q, memory = torch.randn(1, 4), torch.randn(1, 3, 4)
    alone, _ = attn(q, memory, torch.ones(1, 3, dtype=torch.bool))
    padded = torch.cat([memory, 100 * torch.randn(1, 5, 4)], dim=1)
    mask = torch.tensor([[True] * 3 + [False] * 5])
    with_padding, _ = attn(q, padded, mask)
    torch.testing.assert_close(with_padding, alone)


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_all_steps_at_once_equal_one_step_at_a_time(kind: str) -> None:
    attn = Attention(kind, 4, 4)
    queries, memory = torch.randn(2, 5, 4), torch.randn(2, 3, 4)
    prepared = attn.prepare(memory)
    together, weights = attn(queries, memory, prepared=prepared)
    assert together.shape == (2, 5, 4) and weights.shape == (2, 5, 3)
    for t in range(5):
        single, _ = attn(queries[:, t], memory)
        torch.testing.assert_close(together[:, t], single)


def test_general_and_additive_take_different_query_and_key_sizes() -> None:
    for kind in ("general", "additive"):
        context, weights = Attention(kind, 3, 6)(torch.randn(2, 3), torch.randn(2, 4, 6))
        assert context.shape == (2, 6) and weights.shape == (2, 4)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="`kind` must be one of dot, general, additive"):
        Attention("concat", 2, 2)
    with pytest.raises(ValueError, match="'dot' needs query_size == key_size"):
        Attention("dot", 2, 3)
    with pytest.raises(ValueError, match="`query_size` must be a positive integer"):
        Attention("general", 0, 3)
    attn = Attention("general", 2, 3)
    with pytest.raises(ValueError, match=r"`query` must be \[B, 2\]"):
        attn(torch.randn(1, 3), torch.randn(1, 4, 3))
    with pytest.raises(ValueError, match=r"`memory` must be \[B=1, S, 3\]"):
        attn(torch.randn(1, 2), torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match=r"`mask` must be \[B, S\]"):
        attn(torch.randn(1, 2), torch.randn(1, 4, 3), torch.ones(1, 3, dtype=torch.bool))
