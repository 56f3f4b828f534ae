"""Decoding: samplers and one ``generate`` that carries the recurrent state forward.

A model is seen through ``step(tokens [B], state) -> (logits [B, V], state)``; each new token
costs one step, never a re-run of the prefix. The samplers turn next-token logits into ids:

    p = softmax(logits / temperature)         temperature → 0 is greedy (argmax)
    top-k: keep the k most likely tokens, renormalise
    top-p: keep the smallest set of most likely tokens whose mass reaches p, renormalise
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["filter_logits", "generate", "sample_next"]

StepFn = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]
PrimeFn = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


def _check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"Argument `temperature` must be a number >= 0, got {temperature!r}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"Argument `top_k` must be a positive integer or None, got {top_k!r}.")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"Argument `top_p` must be in (0, 1] or None, got {top_p!r}.")


def filter_logits(
    logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Set the logits of tokens outside the top-k / top-p (nucleus) set to ``-inf``.

    Shape:
        logits ``[B, V]`` → ``[B, V]``.

    >>> filter_logits(torch.tensor([[1.0, 3.0, 2.0]]), top_k=2).tolist()
    [[-inf, 3.0, 2.0]]
    """
    _check_sampling(1.0, top_k, top_p)
    out = logits
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(out, top_k, dim=-1).values[..., -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # mass strictly before each token: a token is kept while that mass is below p, so the
        # most likely token is always kept and the kept set is the smallest reaching p
        before = torch.cumsum(probs, dim=-1) - probs
        drop_sorted = before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw the next token id for each row of ``logits``.

    Args:
        logits: ``[B, V]`` unnormalised scores.
        temperature: divides the logits; 0 means greedy (argmax).
        top_k: sample among the ``k`` most likely tokens only.
        top_p: sample among the smallest set whose probability reaches ``p``.
        generator: a seeded ``torch.Generator`` for reproducible draws.

    Returns:
        ``[B]`` int64 token ids.

    >>> sample_next(torch.tensor([[0.1, 2.0, 0.3]]), temperature=0).tolist()
    [1]
    """
    _check_sampling(temperature, top_k, top_p)
    if logits.dim() != 2:
        raise ValueError(f"Argument `logits` must be [B, V], got shape {tuple(logits.shape)}.")
    if temperature == 0:
        return logits.argmax(dim=-1)
    scores = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = torch.softmax(scores, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def generate(
    step: StepFn,
    prime: Sequence[int] | torch.Tensor,
    length: int,
    *,
    state: Any = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    seed: int | None = None,
    prime_fn: PrimeFn | None = None,
) -> torch.Tensor:
    """Generate ``length`` tokens after ``prime``, carrying the recurrent state.

    Args:
        step: ``step(tokens [B], state) -> (logits [B, V], state)``.
        prime: the prompt, ``[P]`` ids (one sequence) or ``[B, P]`` (a batch); ``P >= 1``.
        length: how many tokens to generate.
        state: the state before the prompt (``None``: the model's initial state).
        temperature, top_k, top_p: see :func:`sample_next`.
        eos_id: stop a row once it has produced this id (the row is padded with it).
        seed: seeds a private generator, so the same seed gives the same text.
        prime_fn: ``prime_fn(tokens [B, P], state) -> (last logits [B, V], state)`` runs the
            whole prompt in one call; without it the prompt is fed one step at a time.

    Returns:
        ``[B, length]`` int64 generated ids (the prompt is not included).

    Raises:
        ValueError: an empty prompt, a negative length, or bad sampling arguments.

    >>> V = 4
    >>> def step(tokens, state):  # always predicts (token + 1) mod V
    ...     return torch.nn.functional.one_hot((tokens + 1) % V, V).float() * 10, state
    >>> generate(step, [0], 5, temperature=0).tolist()
    [[1, 2, 3, 0, 1]]
    """
    _check_sampling(temperature, top_k, top_p)
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"Argument `length` must be a non-negative integer, got {length!r}.")
    prime_t = torch.as_tensor(prime, dtype=torch.long)
    if prime_t.dim() == 1:
        prime_t = prime_t[None, :]
    if prime_t.dim() != 2 or prime_t.shape[1] == 0:
        raise ValueError(
            "Argument `prime` must hold at least one token id, as [P] or [B, P], got shape "
            f"{tuple(prime_t.shape)}."
        )
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
    B = prime_t.shape[0]
    out = torch.empty(B, length, dtype=torch.long)
    with torch.inference_mode():
        if prime_fn is not None:
            logits, state = prime_fn(prime_t, state)
        else:
            for t in range(prime_t.shape[1]):
                logits, state = step(prime_t[:, t], state)
        finished = torch.zeros(B, dtype=torch.bool)
        for t in range(length):
            token = sample_next(logits, temperature, top_k, top_p, generator)
            if eos_id is not None:
                token = token.masked_fill(finished, eos_id)
                finished |= token == eos_id
            out[:, t] = token
            if eos_id is not None and bool(finished.all()):
                out[:, t + 1 :] = eos_id
                break
            if t + 1 < length:  # the last token needs no logits after it
                logits, state = step(token, state)
    return out
