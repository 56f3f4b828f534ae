"""Samplers and generate(): the equalities that define them, and the cost of generation."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import filter_logits, generate, sample_next


class Counting:
    """A tiny deterministic 'model': logits depend on the token and a running state."""

    def __init__(self, vocab_size: int = 7) -> None:
        self.calls = 0
        g = torch.Generator().manual_seed(3)
        self.table = torch.randn(vocab_size, vocab_size, generator=g)

    def step(self, tokens: torch.Tensor, state: torch.Tensor | None):
        self.calls += 1
        state = torch.zeros(tokens.shape[0]) if state is None else state + 1
        return self.table[tokens] + 0.1 * state[:, None], state


def test_top_k_one_and_zero_temperature_equal_greedy() -> None:
    greedy = generate(Counting().step, [1, 2], 20, temperature=0)
    assert torch.equal(generate(Counting().step, [1, 2], 20, top_k=1, seed=5), greedy)
    assert torch.equal(generate(Counting().step, [1, 2], 20, temperature=1e-6, seed=5), greedy)


def test_top_p_one_equals_plain_sampling_with_the_same_seed() -> None:
    plain = generate(Counting().step, [3], 30, temperature=1.0, seed=11)
    nucleus = generate(Counting().step, [3], 30, temperature=1.0, top_p=1.0, seed=11)
    assert torch.equal(plain, nucleus)
    other = generate(Counting().step, [3], 30, temperature=1.0, seed=12)
    assert not torch.equal(plain, other)


def test_filter_logits_keeps_the_nucleus() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, top_p=0.8))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, top_p=0.81))
    assert kept.tolist() == [[True, True, True, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).sum() == 1


def test_sampling_follows_the_distribution() -> None:
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(20000, 3)
    draws = sample_next(logits, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=3).float() / draws.numel()
    assert torch.allclose(freq, torch.tensor([0.7, 0.2, 0.1]), atol=0.02)


def test_generation_cost_is_one_step_per_token() -> None:
    for length in (10, 40):
        model = Counting()
        generate(model.step, [1, 2, 3], length, seed=0)
        # one call per prompt token, then one per generated token except the last
        assert model.calls == 3 + length - 1


def test_eos_stops_each_row() -> None:
    V = 5

    def step(tokens: torch.Tensor, state: None):
        return torch.nn.functional.one_hot((tokens + 1) % V, V).float() * 10, state

    out = generate(step, torch.tensor([[0], [2]]), 6, temperature=0, eos_id=4)
    assert out.tolist() == [[1, 2, 3, 4, 4, 4], [3, 4, 4, 4, 4, 4]]


def test_bad_arguments_are_named() -> None:
    step = Counting().step
    with pytest.raises(ValueError, match="`temperature` must be a number >= 0"):
        generate(step, [1], 3, temperature=-1)
    with pytest.raises(ValueError, match="`top_k` must be a positive integer"):
        generate(step, [1], 3, top_k=0)
    with pytest.raises(ValueError, match=r"`top_p` must be in \(0, 1\]"):
        generate(step, [1], 3, top_p=1.5)
    with pytest.raises(ValueError, match="`prime` must hold at least one token"):
        generate(step, [], 3)
    with pytest.raises(ValueError, match="`length` must be a non-negative integer"):
        generate(step, [1], -2)
