"""GenerationStep: the same numbers as LanguageModel.step, in buffers reused every step."""

from __future__ import annotations

import time

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


@pytest.mark.parametrize("matvec", ["torch", "numpy"])
@pytest.mark.parametrize(("cell", "nonlinearity"), CELLS)
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_equals_the_model_step(
    cell: str, nonlinearity: str, num_layers: int, batch_size: int, matvec: str
) -> None:
    model = LanguageModel(11, 5, 7, num_layers, cell=cell, nonlinearity=nonlinearity).eval()
    fast = model.generation_step(batch_size, matvec=matvec)
    assert isinstance(fast, GenerationStep) and fast.matvec == matvec
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


@pytest.mark.parametrize("matvec", ["torch", "numpy"])
def test_every_step_reuses_its_buffers(matvec: str) -> None:
    fast = LanguageModel(9, 4, 6, 3).eval().generation_step(matvec=matvec)
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


def test_auto_picks_the_faster_product_by_timing_both(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.models import language_model as lm

    model = LanguageModel(9, 4, 6, 2, cell="gru").eval()
    calls = {"torch": 0, "numpy": 0}
    for name in calls:
        real = getattr(lm, f"_{name}_product")

        def slow(*args, name=name, real=real):  # numpy made slow: auto must pick torch
            calls[name] += 1
            if name == "numpy":
                time.sleep(0.002)
            return real(*args)

        monkeypatch.setattr(lm, f"_{name}_product", slow)
    fast = GenerationStep(model)
    assert fast.matvec == "torch" and calls["torch"] == calls["numpy"] >= 10
    assert lm._faster_product([torch.zeros(6, 18)], 1) in ("torch", "numpy")


def test_bad_arguments_are_named() -> None:
    model = LanguageModel(9, 4, 6, 1).eval()
    with pytest.raises(ValueError, match=r"`matvec` must be one of \['auto', 'torch', 'numpy'\]"):
        GenerationStep(model, matvec="blas")
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer, got 0"):
        GenerationStep(model, 0)
    with pytest.raises(ValueError, match=r"`tokens` must have shape \(2,\)"):
        GenerationStep(model, 2)(torch.tensor([1]), None)
