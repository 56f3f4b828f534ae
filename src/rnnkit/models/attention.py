"""Attention over an encoder's outputs: Luong (dot, general) and Bahdanau (additive) scores.

A decoder state ``q`` (the *query*) scores every source position ``s`` of the encoder's
outputs ``k_s`` (the *memory*); the scores become weights over the valid positions and the
context is the weighted mean of the memory::

    dot       score(q, k_s) = q · k_s                       Luong et al. 2015 (needs Hq == Hk)
    general   score(q, k_s) = q · (W_a k_s)                 Luong et al. 2015
    additive  score(q, k_s) = v_a · tanh(W_q q + W_k k_s)   Bahdanau et al. 2015

    a_s = softmax_s(score(q, k_s))   over s < length (padding gets weight 0)
    c   = Σ_s a_s k_s

The part of the score that depends only on the memory (``W_a k_s``, ``W_k k_s``) is computed
once per source sentence by :meth:`Attention.prepare`, not once per decoder step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ATTENTION_KINDS", "Attention"]

#: Score functions :class:`Attention` offers (``none`` is the Seq2Seq option for no attention).
ATTENTION_KINDS = ("dot", "general", "additive")


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")
    return value


class Attention(nn.Module):
    """Score a query against a padded memory and return the context and the weights.

    Args:
        kind: ``"dot"``, ``"general"`` or ``"additive"`` (see the module docstring).
        query_size: ``Hq``, features of the decoder state.
        key_size: ``Hk``, features of each memory position.
        attention_size: ``A``, the hidden size of the additive score (default ``Hq``).

    Shape:
        query ``[B, Hq]`` or ``[B, T, Hq]``, memory ``[B, S, Hk]``, mask ``[B, S]`` (``True``
        at valid positions) → context ``[B, Hk]`` / ``[B, T, Hk]`` and weights ``[B, S]`` /
        ``[B, T, S]``.

    Raises:
        ValueError: an unknown ``kind``, a size that is not a positive integer, or ``dot``
            with ``query_size != key_size``.

    Example:
        >>> attn = Attention("dot", 2, 2)
        >>> memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
        >>> mask = torch.tensor([[True, True, False]])  # the third position is padding
        >>> context, weights = attn(torch.tensor([[0.0, 0.0]]), memory, mask)
        >>> context.tolist(), weights.tolist()
        ([[0.5, 0.5]], [[0.5, 0.5, 0.0]])
    """

    def __init__(
        self, kind: str, query_size: int, key_size: int, attention_size: int | None = None
    ) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(
                f"Argument `kind` must be one of {', '.join(ATTENTION_KINDS)}, got {kind!r}."
            )
        self.kind = kind
        self.query_size = _check_size("query_size", query_size)
        self.key_size = _check_size("key_size", key_size)
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                "Argument `kind`='dot' needs query_size == key_size, got query_size="
                f"{query_size} and key_size={key_size}; use 'general' or 'additive'."
            )
        self.attention_size = _check_size(
            "attention_size", query_size if attention_size is None else attention_size
        )
        if kind == "general":
            self.weight_a = nn.Linear(key_size, query_size, bias=False)
        elif kind == "additive":
            self.weight_q = nn.Linear(query_size, self.attention_size, bias=False)
            self.weight_k = nn.Linear(key_size, self.attention_size, bias=True)
            self.v = nn.Linear(self.attention_size, 1, bias=False)

    def extra_repr(self) -> str:
        return f"{self.kind!r}, query_size={self.query_size}, key_size={self.key_size}"

    def prepare(self, memory: Tensor) -> Tensor:
        """The query-independent part of the score: ``k``, ``W_a k`` or ``W_k k``.

        Shape:
            memory ``[B, S, Hk]`` → ``[B, S, Hk]`` (dot), ``[B, S, Hq]`` (general) or
            ``[B, S, A]`` (additive).
        """
        if self.kind == "general":
            return self.weight_a(memory)
        if self.kind == "additive":
            return self.weight_k(memory)
        return memory

    def scores(self, query: Tensor, prepared: Tensor) -> Tensor:
        """Unnormalised scores ``[B, T, S]`` of queries ``[B, T, Hq]`` against a prepared memory."""
        if self.kind == "additive":
            # [B, T, 1, A] + [B, 1, S, A] -> [B, T, S, A] -> [B, T, S]
            hidden = torch.tanh(self.weight_q(query).unsqueeze(2) + prepared.unsqueeze(1))
            return self.v(hidden).squeeze(-1)
        return torch.bmm(query, prepared.transpose(1, 2))

    def forward(
        self,
        query: Tensor,
        memory: Tensor,
        mask: Tensor | None = None,
        prepared: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Context and attention weights of ``query`` over ``memory``.

        Args:
            query: ``[B, Hq]`` (one decoder step) or ``[B, T, Hq]`` (every step at once).
            memory: ``[B, S, Hk]`` encoder outputs.
            mask: ``[B, S]`` bool, ``True`` at valid positions; ``None``: all valid. Every
                row needs at least one valid position.
            prepared: :meth:`prepare` of ``memory``, when the caller keeps it between steps.

        Returns:
            ``(context, weights)``, see the class docstring for shapes.

        Raises:
            ValueError: shapes that do not match the module or each other.
        """
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)
        if query.dim() != 3 or query.shape[-1] != self.query_size:
            raise ValueError(
                f"Argument `query` must be [B, {self.query_size}] or [B, T, {self.query_size}], "
                f"got shape {tuple(query.shape)}."
            )
        if (
            memory.dim() != 3
            or memory.shape[-1] != self.key_size
            or (memory.shape[0] != query.shape[0])
        ):
            raise ValueError(
                f"Argument `memory` must be [B={query.shape[0]}, S, {self.key_size}], got shape "
                f"{tuple(memory.shape)}."
            )
        if mask is not None and tuple(mask.shape) != tuple(memory.shape[:2]):
            raise ValueError(
                f"Argument `mask` must be [B, S] = {tuple(memory.shape[:2])}, got shape "
                f"{tuple(mask.shape)}."
            )
        if prepared is None:
            prepared = self.prepare(memory)
        scores = self.scores(query, prepared)
        if mask is not None:
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights, memory)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights
