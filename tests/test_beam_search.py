"""Beam search: equals greedy at beam 1, finds what greedy misses, equals exhaustive search
with a wide enough beam, length normalisation, one batched step per position, bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnkit.decoding import beam_search, generate, length_penalty, reorder_state


class Markov:
    """Logits from a fixed random table indexed by the last token, plus a drift scaled by a
    decaying sum of the earlier tokens carried in the state (``[L=1, B, 1]``): the logits
    depend on the whole history, so a beam only scores right if its state followed it."""

    def __init__(self, vocab_size: int = 5, seed: int = 3, batch_first: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(vocab_size, vocab_size, generator=g) * 2
        self.drift = torch.randn(vocab_size, generator=g)
        self.batch_first = batch_first  # keep the state as [B, 1, 1] instead
        self.calls: list[int] = []

    def step(self, tokens: torch.Tensor, state: torch.Tensor | None):
        self.calls.append(int(tokens.shape[0]))
        if state is None:
            state = torch.zeros(tokens.shape[0], 1, 1)
        elif not self.batch_first:
            state = state.transpose(0, 1)
        state = 0.5 * state + tokens.view(-1, 1, 1)  # [B, 1, 1]
        logits = self.table[tokens] + state[:, 0] * self.drift
        return logits, state if self.batch_first else state.transpose(0, 1)

    def log_prob(self, prime: list[int], sequence: list[int]) -> float:
        """log P(sequence | prime), one step at a time."""
        state, total = None, 0.0
        for token in prime[:-1]:
            _, state = self.step(torch.tensor([token]), state)
        previous = prime[-1]
        for token in sequence:
            logits, state = self.step(torch.tensor([previous]), state)
            total += float(torch.log_softmax(logits, -1)[0, token])
            previous = token
        return total


def brute_force(model: Markov, prime: list[int], length: int, eos: int | None, alpha: float):
    """The best hypothesis by enumeration: sequences end at their first <eos>."""
    best, best_score = None, -math.inf
    seen = set()
    for seq in itertools.product(range(model.table.shape[0]), repeat=length):
        seq = list(seq)
        if eos is not None and eos in seq:
            seq = seq[: seq.index(eos) + 1]
        if tuple(seq) in seen:
            continue
        seen.add(tuple(seq))
        score = model.log_prob(prime, seq) / float(length_penalty(torch.tensor(len(seq)), alpha))
        if score > best_score:
            best, best_score = seq, score
    return best, best_score


def test_beam_one_equals_greedy() -> None:
    primes = torch.tensor([[0, 1], [2, 2], [4, 3]])
    for eos in (None, 2):
        greedy = generate(Markov().step, primes, 12, temperature=0, eos_id=eos)
        beam = beam_search(Markov().step, primes, 12, beam_size=1, eos_id=eos)
        assert torch.equal(beam, greedy)


def test_finds_the_best_sequence_greedy_misses() -> None:
    # token 0 = start; greedy takes 1 (0.6) and then faces a coin toss (0.5): 0.30 in all;
    # the best path is 2 (0.4) then 3 (0.9): 0.36.
    probs = torch.tensor(
        [
            [0.00, 0.60, 0.40, 0.00],
            [0.00, 0.00, 0.50, 0.50],
            [0.00, 0.05, 0.05, 0.90],
            [0.25, 0.25, 0.25, 0.25],
        ]
    )
    table = torch.log(probs)

    def step(tokens, state):
        return table[tokens], state

    assert generate(step, [0], 2, temperature=0).tolist() == [[1, 2]]
    out, score = beam_search(step, [0], 2, beam_size=2, return_scores=True)
    assert out.tolist() == [[2, 3]]
    assert float(score) == pytest.approx(math.log(0.36))


def test_each_beam_carries_the_state_of_its_own_history() -> None:
    # The next-token table depends on the first generated token, kept in the state
    # ([L=1, B, 1]). The best sequence, 2 3 3 (0.4 * 0.9 * 1.0), comes from the second beam
    # of the first step, so it is only found if states are reordered with their beams.
    eps = 1e-6
    start = torch.tensor([eps, 0.6, 0.4, eps])
    flat, surely_3 = [0.25] * 4, [eps, eps, eps, 1.0]
    after = {  # first generated token -> (current token -> next-token probabilities)
        1: torch.tensor([flat, [eps, eps, 0.5, 0.5], flat, flat]),
        2: torch.tensor([flat, flat, [0.05, 0.05, eps, 0.9], surely_3]),
    }

    def step(tokens, state):
        if state is None:  # the prompt <sos> = 0
            return torch.log(start).expand(len(tokens), 4), torch.zeros(1, len(tokens), 1)
        first = state[0, :, 0].long()
        first = torch.where(first == 0, tokens, first)  # remember the first generated token
        pairs = zip(first.tolist(), tokens.tolist(), strict=True)
        logits = torch.stack([torch.log(after[f][t]) for f, t in pairs])
        return logits, first.view(1, -1, 1).float()

    out, score = beam_search(step, [0], 3, beam_size=2, return_scores=True)
    assert out.tolist() == [[2, 3, 3]]
    assert float(score) == pytest.approx(math.log(0.4 * 0.9 * 1.0), abs=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("eos", [None, 1])
def test_a_beam_as_wide_as_the_search_space_is_exhaustive(eos: int | None, alpha: float) -> None:
    model = Markov(vocab_size=4, seed=7)
    length = 3
    expected, expected_score = brute_force(model, [0, 2], length, eos, alpha)
    out, score = beam_search(
        model.step, [0, 2], length, beam_size=4**length, eos_id=eos, alpha=alpha,
        return_scores=True,
    )
    got = out[0].tolist()
    if eos is not None and eos in got:
        got = got[: got.index(eos) + 1]
    assert got == expected
    assert float(score) == pytest.approx(expected_score, abs=1e-5)


def test_length_normalisation_changes_the_choice() -> None:
    # from <sos>=0: <eos>=2 at once (0.5) or `a`=1 (0.5), then <eos> (0.9)
    probs = torch.tensor([[1e-9, 0.5, 0.5], [1e-9, 0.1, 0.9], [1e-9, 1e-9, 1.0]])
    table = torch.log(probs / probs.sum(-1, keepdim=True))

    def step(tokens, state):
        return table[tokens], state

    # alpha = 0: log 0.5 > log 0.45, the short answer wins
    assert beam_search(step, [0], 4, beam_size=2, eos_id=2).tolist() == [[2, 2, 2, 2]]
    # alpha = 1: log 0.5 / 1 < log 0.45 / (7 / 6), the longer answer wins
    assert beam_search(step, [0], 4, beam_size=2, eos_id=2, alpha=1.0).tolist() == [[1, 2, 2, 2]]


def test_one_batched_step_per_generated_position() -> None:
    for length in (6, 30):
        model = Markov()
        beam_search(model.step, torch.tensor([[1, 2, 3], [3, 2, 1]]), length, beam_size=4)
        # three prompt steps on the 2 rows, then one call on 2 x 4 beams per position but
        # the last: linear in the length
        assert model.calls == [2, 2, 2] + [8] * (length - 1)


def test_stops_when_every_beam_has_finished() -> None:
    def step(tokens, state):  # <eos> = 3 is certain after anything
        return torch.log(torch.tensor([0.01, 0.01, 0.01, 0.97])).expand(len(tokens), 4), state

    calls = []

    def counting(tokens, state):
        calls.append(1)
        return step(tokens, state)

    out = beam_search(counting, [0], 50, beam_size=3, eos_id=3)
    assert out.tolist() == [[3] * 50]
    assert len(calls) < 5


def test_a_model_with_its_own_state_layout_passes_select_state() -> None:
    # a batch-first [B, 1, 1] state breaks the default rule (3-D: dim 1)
    model = Markov(vocab_size=4, seed=5, batch_first=True)

    selected = []

    def select(state, index):
        selected.append(len(index))
        return state.index_select(0, index)

    expected, _ = brute_force(model, [3], 3, None, 0.0)
    out = beam_search(model.step, [3], 3, beam_size=4**3, select_state=select)
    assert out[0].tolist() == expected
    assert selected == [64, 64, 64]  # expand the prompt's state, then once per step


def test_reorder_state_follows_the_documented_rule() -> None:
    h = torch.arange(12.0).view(2, 3, 2)  # [L, B, H]
    flat = torch.arange(3)  # [B]
    index = torch.tensor([2, 2, 0])
    out_h, (out_flat, none) = reorder_state((h, [flat, None]), index)
    assert torch.equal(out_h, h[:, index])
    assert out_flat.tolist() == [2, 2, 0] and none is None
    with pytest.raises(TypeError, match="`state` must be tensors in nested tuples"):
        reorder_state({"h": h}, index)


def test_bad_arguments_are_named() -> None:
    step = Markov().step
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="`beam_size` must be a positive integer"):
            beam_search(step, [1], 3, beam_size=bad)
    with pytest.raises(ValueError, match="`alpha` must be a number >= 0"):
        beam_search(step, [1], 3, beam_size=2, alpha=-0.5)
    with pytest.raises(ValueError, match="`prime` must hold at least one token"):
        beam_search(step, [], 3, beam_size=2)
    with pytest.raises(ValueError, match="`length` must be a non-negative integer"):
        beam_search(step, [1], -1, beam_size=2)
