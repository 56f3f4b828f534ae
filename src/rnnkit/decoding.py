"""Decoding: samplers and one ``generate`` that carries the recurrent state forward.

A model is seen through ``step(tokens [B], state) -> (logits [B, V], state)``; each new token
costs one step, never a re-run of the prefix. The samplers turn next-token logits into ids:

    p = softmax(logits / temperature)         temperature → 0 is greedy (argmax)
    top-k: keep the k most likely tokens, renormalise
    top-p: keep the smallest set of most likely tokens whose mass reaches p, renormalise

:func:`beam_search` keeps the ``K`` best partial sequences of each row, all advanced by one
batched ``step`` call per position (``B * K`` rows), ranked by the length-normalised
log-probability (Wu et al. 2016, GNMT)::

    score(y) = log P(y) / lp(|y|),    lp(n) = ((5 + n) / 6) ** alpha

``alpha = 0`` ranks by plain log-probability (short sequences are favoured); larger ``alpha``
favours longer ones. A sequence that has produced ``<eos>`` is finished: it keeps its score
and length and stays in the beam while it ranks among the ``K`` best.

How beams are reordered: the state is any nested tuple or list of tensors. Between steps the
beam search selects rows of it with ``select_state(state, index)``; the default,
:func:`reorder_state`, indexes 3-D tensors along dim 1 (torch's recurrent-state layout
``[num_layers * num_directions, B, H]``) and every other tensor along dim 0 (``[B]``,
``[B, H]``). A model whose state breaks that rule (a batch-first ``[B, S, H]`` encoder memory)
passes its own ``select_state`` (:meth:`rnnkit.models.Seq2Seq.select_state`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = [
    "beam_search",
    "filter_logits",
    "generate",
    "length_penalty",
    "reorder_state",
    "sample_next",
]

StepFn = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]
PrimeFn = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]
SelectFn = Callable[[Any, torch.Tensor], Any]


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
    scores = logits.float()
    if temperature != 1:  # x / 1 == x: skip the copy
        scores = scores / temperature
    if top_k is not None or top_p is not None:
        scores = filter_logits(scores, top_k, top_p)
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
    on_token: Callable[[torch.Tensor], None] | None = None,
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
        on_token: called with each step's tokens ``[B]`` as soon as they are drawn (``eos_id``
            included, and repeated for rows already finished), so a caller can show text
            while it is generated.

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
    length = _check_length(length)
    prime_t = _prime_tensor(prime)
    B = prime_t.shape[0]
    with torch.inference_mode():
        logits, state = _run_prime(step, prime_t, state, prime_fn)
        device = logits.device
        generator = None
        if seed is not None:
            generator = torch.Generator(device=device).manual_seed(seed)
        out = torch.empty(B, length, dtype=torch.long, device=device)
        finished = torch.zeros(B, dtype=torch.bool, device=device)
        for t in range(length):
            token = sample_next(logits, temperature, top_k, top_p, generator)
            if eos_id is not None:
                token = token.masked_fill(finished, eos_id)
                finished |= token == eos_id
            out[:, t] = token
            if on_token is not None:
                on_token(token)
            if eos_id is not None and bool(finished.all()):
                out[:, t + 1 :] = eos_id
                break
            if t + 1 < length:  # the last token needs no logits after it
                logits, state = step(token, state)
    return out


def _check_length(length: object) -> int:
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"Argument `length` must be a non-negative integer, got {length!r}.")
    return length


def _prime_tensor(prime: Sequence[int] | torch.Tensor) -> torch.Tensor:
    prime_t = torch.as_tensor(prime, dtype=torch.long)
    if prime_t.dim() == 1:
        prime_t = prime_t[None, :]
    if prime_t.dim() != 2 or prime_t.shape[1] == 0:
        raise ValueError(
            "Argument `prime` must hold at least one token id, as [P] or [B, P], got shape "
            f"{tuple(prime_t.shape)}."
        )
    return prime_t


def _run_prime(
    step: StepFn, prime_t: torch.Tensor, state: Any, prime_fn: PrimeFn | None
) -> tuple[torch.Tensor, Any]:
    """Feed the prompt; return the logits after its last token and the state."""
    if prime_fn is not None:
        return prime_fn(prime_t, state)
    for t in range(prime_t.shape[1]):
        logits, state = step(prime_t[:, t], state)
    return logits, state


def reorder_state(state: Any, index: torch.Tensor) -> Any:
    """Select the batch rows ``index`` of every tensor of a nested tuple/list state.

    3-D tensors are indexed along dim 1 (``[layers * directions, B, H]``, torch's recurrent
    state), all others along dim 0; ``None`` stays ``None``.

    Example:
        >>> h = torch.arange(6.0).view(1, 3, 2)          # [L=1, B=3, H=2]
        >>> out = reorder_state((h, torch.tensor([7, 8, 9])), torch.tensor([2, 0]))
        >>> out[0].tolist(), out[1].tolist()
        ([[[4.0, 5.0], [0.0, 1.0]]], [9, 7])
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        index = index.to(state.device)
        return state.index_select(1 if state.dim() == 3 else 0, index)
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index) for s in state)
    raise TypeError(
        "Argument `state` must be tensors in nested tuples or lists (or None), got "
        f"{type(state).__name__}."
    )


def length_penalty(length: torch.Tensor, alpha: float) -> torch.Tensor:
    """GNMT's length normalisation ``lp(n) = ((5 + n) / 6) ** alpha``.

    >>> length_penalty(torch.tensor([1, 7]), 1.0).tolist()
    [1.0, 2.0]
    """
    return ((5.0 + length.float()) / 6.0) ** alpha


def beam_search(
    step: StepFn,
    prime: Sequence[int] | torch.Tensor,
    length: int,
    *,
    beam_size: int,
    state: Any = None,
    eos_id: int | None = None,
    alpha: float = 0.0,
    prime_fn: PrimeFn | None = None,
    select_state: SelectFn | None = None,
    return_scores: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The most likely continuation of ``prime`` found with a beam of ``beam_size`` sequences.

    Every position costs one ``step`` call on ``B * beam_size`` rows; the prompt is fed once
    (before the beams are made), the state carried throughout.

    Args:
        step: ``step(tokens [N], state) -> (logits [N, V], state)``.
        prime: the prompt, ``[P]`` or ``[B, P]`` ids, ``P >= 1`` (``<sos>`` for a decoder).
        length: the most tokens to generate (``<eos>`` included).
        beam_size: ``K >= 1`` sequences kept per row; ``K = 1`` is greedy decoding.
        state: the state before the prompt.
        eos_id: the id that finishes a sequence (``None``: every sequence runs ``length``).
        alpha: length-normalisation exponent, ``>= 0`` (see the module docstring).
        prime_fn: runs the whole prompt in one call, as in :func:`generate`.
        select_state: ``select_state(state, index) -> state`` picks rows of the state;
            default :func:`reorder_state`.
        return_scores: also return each row's best normalised score.

    Returns:
        ``[B, length]`` ids of the best sequence per row (after its ``<eos>``, padded with
        ``eos_id``), and ``[B]`` scores with ``return_scores``.

    Raises:
        ValueError: ``beam_size < 1``, a negative ``alpha`` or ``length``, an empty prompt.

    >>> table = torch.log(torch.tensor([[0.0, 0.6, 0.4, 0.0],   # after token 0
    ...                                 [0.0, 0.0, 0.5, 0.5],   # after 1: a coin toss
    ...                                 [0.0, 0.0, 0.0, 1.0],   # after 2: surely 3
    ...                                 [0.0, 0.0, 0.0, 1.0]]))
    >>> def step(tokens, state):
    ...     return table[tokens], state
    >>> generate(step, [0], 2, temperature=0).tolist()   # greedy: 0.6 * 0.5
    [[1, 2]]
    >>> beam_search(step, [0], 2, beam_size=2).tolist()  # best: 0.4 * 1.0
    [[2, 3]]
    """
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"Argument `beam_size` must be a positive integer, got {beam_size!r}.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha >= 0:
        raise ValueError(f"Argument `alpha` must be a number >= 0, got {alpha!r}.")
    length = _check_length(length)
    prime_t = _prime_tensor(prime)
    select = reorder_state if select_state is None else select_state
    B, K = prime_t.shape[0], beam_size
    with torch.inference_mode():
        logits, state = _run_prime(step, prime_t, state, prime_fn)
        device = logits.device
        expand = torch.arange(B, device=device).repeat_interleave(K)
        state = select(state, expand)
        logits = logits.index_select(0, expand)
        V = logits.shape[-1]
        # Only beam 0 is alive at first, so the first step picks K distinct tokens.
        raw = torch.full((B, K), float("-inf"), device=device)
        raw[:, 0] = 0.0
        lengths = torch.zeros(B, K, dtype=torch.long, device=device)
        finished = torch.zeros(B, K, dtype=torch.bool, device=device)
        offsets = (torch.arange(B, device=device) * K)[:, None]
        tokens: list[torch.Tensor] = []  # token chosen at each position, [B, K]
        parents: list[torch.Tensor] = []  # the beam it extends, [B, K]
        for t in range(length):
            logp = torch.log_softmax(logits.float(), dim=-1).view(B, K, V)
            candidates = raw[:, :, None] + logp  # [B, K, V]
            scores = candidates / length_penalty(torch.tensor(t + 1), alpha)
            if eos_id is not None:
                # A finished beam has one candidate: itself, extended by <eos> at no cost.
                frozen = torch.full_like(scores, float("-inf"))
                frozen[:, :, eos_id] = raw / length_penalty(lengths, alpha)
                scores = torch.where(finished[:, :, None], frozen, scores)
            _, best = scores.view(B, K * V).topk(K, dim=-1)
            beam, token = best // V, best % V
            was_finished = finished.gather(1, beam)
            raw = torch.where(
                was_finished, raw.gather(1, beam), candidates.view(B, K * V).gather(1, best)
            )
            lengths = torch.where(was_finished, lengths.gather(1, beam), t + 1)
            finished = was_finished | (token == eos_id) if eos_id is not None else was_finished
            tokens.append(token)
            parents.append(beam)
            if eos_id is not None and bool(finished.all()):
                break
            if t + 1 < length:  # the last token needs no logits after it
                state = select(state, (offsets + beam).view(-1))
                logits, state = step(token.view(-1), state)
        final = raw / length_penalty(lengths, alpha)
        best_score, pick = final.max(dim=1)
        # Follow the parent pointers back from the best beam of each row.
        out = torch.full((B, length), -1 if eos_id is None else eos_id, dtype=torch.long,
                         device=device)
        rows = torch.arange(B, device=device)
        for t in range(len(tokens) - 1, -1, -1):
            out[:, t] = tokens[t][rows, pick]
            pick = parents[t][rows, pick]
        if eos_id is not None:
            # after its own <eos> a sequence is padded with <eos> (a finished beam's
            # extensions are <eos> already; this covers rows that stopped early)
            done = torch.cumsum((out == eos_id).long(), dim=1) > 0
            out = out.masked_fill(done, eos_id)
    if return_scores:
        return out, best_score
    return out
