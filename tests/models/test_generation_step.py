"""GenerationStep: the same numbers as LanguageModel.step, in buffers reused every step."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import beam_search, generate
from rnnkit.models.language_model import GenerationStep, LanguageModel

CELLS = [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]


def prime_fn(model: LanguageModel):
    def run(tokens, state):
        logits, new_state = model.run(tokens, state)
        return logits[:, -1], new_state

    return run


@pytest.mark.parametrize(("cell", "nonlinearity"), CELLS)
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_equals_the_model_step(cell: str, nonlinearity: str, num_layers: int, batch_size: int):
    model = LanguageModel(11, 5, 7, num_layers, cell=cell, nonlinearity=nonlinearity).eval()
    fast = model.generation_step(batch_size)
    assert isinstance(fast, GenerationStep)
    tokens = torch.randint(0, 11, (batch_size,))
    slow_state = fast_state = None
    with torch.inference_mode():
        for _ in range(6):
            slow, slow_state = model.step(tokens, slow_state)
            quick, fast_state = fast(tokens, fast_state)
            torch.testing.assert_close(quick, slow)
            for a, b in zip(fast_state, slow_state, strict=True):
                torch.testing.assert_close(a, b)
            tokens = torch.randint(0, 11, (batch_size,))


@pytest.mark.parametrize(("cell", "nonlinearity"), CELLS)
def test_sampling_and_beam_search_give_the_same_sequences(cell: str, nonlinearity: str) -> None:
    model = LanguageModel(11, 5, 7, 2, cell=cell, nonlinearity=nonlinearity).eval()
    prime = torch.randint(0, 11, (2, 4))
    run = prime_fn(model)
    slow = generate(model.step, prime, 30, seed=1, prime_fn=run)
    assert torch.equal(generate(model.generation_step(2), prime, 30, seed=1, prime_fn=run), slow)
    slow = beam_search(model.step, prime, 10, beam_size=3, prime_fn=run)
    fast = beam_search(model.generation_step(6), prime, 10, beam_size=3, prime_fn=run)
    assert torch.equal(fast, slow)


def test_every_step_reuses_its_buffers() -> None:
    fast = LanguageModel(9, 4, 6, 3).eval().generation_step()
    with torch.inference_mode():
        logits, state = fast(torch.tensor([1]), None)
        pointers = [logits.data_ptr(), *(s.data_ptr() for s in state)]
        for token in (2, 3, 4):
            logits, state = fast(torch.tensor([token]), state)
            assert [logits.data_ptr(), *(s.data_ptr() for s in state)] == pointers


def test_other_layers_and_training_mode_fall_back_to_step() -> None:
    peephole = LanguageModel(9, 4, 6, 1, cell="peephole_lstm").eval()
    assert peephole.generation_step() == peephole.step
    training = LanguageModel(9, 4, 6, 1)
    assert training.generation_step() == training.step
    with pytest.raises(ValueError, match="plain lstm, gru or rnn cell for GenerationStep"):
        GenerationStep(peephole)


def test_bad_arguments_are_named() -> None:
    model = LanguageModel(9, 4, 6, 1).eval()
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer, got 0"):
        GenerationStep(model, 0)
    with pytest.raises(ValueError, match=r"`tokens` must have shape \(2,\)"):
        GenerationStep(model, 2)(torch.tensor([1]), None)
