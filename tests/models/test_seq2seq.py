"""Seq2Seq: learns to reverse, padding never matters, the fast and step paths agree,
scheduled sampling, save/load, generation cost and bad input."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch

from rnnkit.models import MODELS, build_model
from rnnkit.models.seq2seq import Seq2Seq

PAD, SOS, EOS = 0, 2, 3
SYMBOLS = 8  # ids 4 .. 11
V = 4 + SYMBOLS


def reverse_pairs(n: int, generator: torch.Generator, longest: int = 5) -> list[list[int]]:
    sequences = []
    for _ in range(n):
        length = int(torch.randint(2, longest + 1, (1,), generator=generator))
        sequences.append(torch.randint(4, V, (length,), generator=generator).tolist())
    return sequences


def pad_batch(sources: list[list[int]], targets: list[list[int]]):
    """Sources padded with PAD; targets + <eos>, padded with PAD."""
    S = max(len(s) for s in sources)
    T = max(len(t) for t in targets) + 1
    x = torch.full((len(sources), S), PAD)
    y = torch.full((len(sources), T), PAD)
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        x[i, : len(s)] = torch.tensor(s)
        y[i, : len(t) + 1] = torch.tensor([*t, EOS])
    return x, y, torch.tensor([len(s) for s in sources])


def small(**kwargs) -> Seq2Seq:
    options = {"embedding_dim": 8, "hidden_size": 12, **kwargs}
    return Seq2Seq(V, V, **options)


@pytest.fixture
def one_thread():
    """Tiny matrices train faster on one thread than on several that contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize(
    ("attention", "hidden", "steps"),
    [("none", 64, 400), ("dot", 32, 300), ("general", 32, 300), ("additive", 32, 300)],
)
def test_learns_to_reverse_short_sequences(attention: str, hidden: int, steps: int) -> None:
    torch.manual_seed(0)
    data = torch.Generator().manual_seed(0)
    model = Seq2Seq(V, V, embedding_dim=16, hidden_size=hidden, attention=attention)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        sources = reverse_pairs(32, data)
        x, y, lengths = pad_batch(sources, [s[::-1] for s in sources])
        _, loss = model(x, y, lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test = reverse_pairs(200, torch.Generator().manual_seed(1))
    x, _, lengths = pad_batch(test, test)
    out = model.translate(x, lengths, max_length=10)
    exact = sum(o == s[::-1] for o, s in zip(out, test, strict=True)) / len(test)
    assert exact >= 0.9, f"{attention}: only {exact:.2f} of the sequences reversed"


@pytest.mark.parametrize("attention", ["none", "dot", "general", "additive"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_never_changes_loss_or_translation(attention: str, bidirectional: bool) -> None:
    model = small(attention=attention, bidirectional=bidirectional, cell="gru").eval()
    source, target = [5, 6, 7], [8, 9]
    x1, y1, l1 = pad_batch([source], [target])
    logits1, loss1 = model(x1, y1, l1)
    # the same pair next to a longer one: padded on both sides
    xb, yb, lb = pad_batch([[4, 5, 6, 7, 8, 9, 10], source], [[4, 4, 4, 4, 4, 4], target])
    logits_b, _ = model(xb, yb, lb)
    T = y1.shape[1]
    torch.testing.assert_close(logits_b[1, :T], logits1[0])
    torch.testing.assert_close(model.loss(logits_b[1:, :T], y1), loss1)
    assert model.translate(xb, lb, max_length=8)[1] == model.translate(x1, l1, max_length=8)[0]
    assert model.translate(xb, lb, max_length=8, beam_size=3)[1] == model.translate(
        x1, l1, max_length=8, beam_size=3
    )[0]


@pytest.mark.parametrize("attention", ["none", "dot", "general", "additive"])
def test_teacher_forced_logits_equal_feeding_the_targets_step_by_step(attention: str) -> None:
    model = small(attention=attention, num_layers=2).eval()
    x, y, lengths = pad_batch([[4, 5, 6], [7, 8]], [[9, 10, 11], [4]])
    logits, _ = model(x, y, lengths)
    state = model.encode(x, lengths)
    previous = torch.full((2,), SOS)
    for t in range(y.shape[1]):
        step_logits, state = model.step(previous, state)
        torch.testing.assert_close(step_logits, logits[:, t])
        previous = y[:, t]


def test_scheduled_sampling_feeds_the_model_its_own_guesses() -> None:
    model = small(attention="general", teacher_forcing=0.0)
    x, y, lengths = pad_batch([[4, 5, 6], [7, 8]], [[9, 10, 11], [4, 5]])
    logits, _ = model(x, y, lengths)  # training mode: p = 0, never the true token
    with torch.no_grad():
        state = model.encode(x, lengths)
        previous = torch.full((2,), SOS)
        for t in range(y.shape[1]):
            step_logits, state = model.step(previous, state)
            torch.testing.assert_close(step_logits, logits[:, t])
            previous = step_logits.argmax(-1)
    forced, _ = model.eval()(x, y, lengths)  # evaluation always teacher-forces
    assert not torch.allclose(forced, logits)


def test_teacher_forcing_decays_linearly_over_training_steps() -> None:
    model = small(teacher_forcing=1.0, teacher_forcing_final=0.0, teacher_forcing_decay=4)
    x, y, lengths = pad_batch([[4, 5]], [[6]])
    seen = []
    for _ in range(6):
        seen.append(model.teacher_forcing_ratio)
        model(x, y, lengths)
    assert seen == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    model.eval()(x, y, lengths)  # evaluation does not advance the schedule
    assert int(model.teacher_forcing_steps) == 6
    assert int(model.state_dict()["teacher_forcing_steps"]) == 6  # saved, so resume continues


def test_save_load_gives_identical_translations(tmp_path) -> None:
    model = small(attention="additive", num_layers=2, dropout=0.2)
    x, _, lengths = pad_batch([[4, 5, 6, 7], [8, 9]], [[4], [4]])
    safetensors.torch.save_file(model.state_dict(), tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps(model.config_dict()))
    loaded = build_model("seq2seq", json.loads((tmp_path / "config.json").read_text()))
    loaded.load_state_dict(safetensors.torch.load_file(tmp_path / "model.safetensors"))
    assert MODELS["seq2seq"] is Seq2Seq
    for beam in (1, 3):
        assert loaded.translate(x, lengths, beam_size=beam, max_length=9) == model.translate(
            x, lengths, beam_size=beam, max_length=9
        )
    assert model.training  # translate() restores the mode it found


def test_generation_costs_one_step_per_position() -> None:
    model = small().eval()
    with torch.no_grad():
        model.output.bias[EOS] = -1e9  # never ends: every row runs to max_length
    calls = []
    original = model.step

    def counting(tokens, state):
        calls.append(tokens.shape[0])
        return original(tokens, state)

    model.step = counting  # type: ignore[method-assign]
    x, _, lengths = pad_batch([[4, 5, 6], [7]], [[4], [4]])
    for length in (5, 20):
        for beam in (1, 3):
            calls.clear()
            rows = model.translate(x, lengths, max_length=length, beam_size=beam)
            assert [len(r) for r in rows] == [length, length]
            # <sos>, then one batched call per generated position but the last
            assert calls == [2] + [2 * beam] * (length - 1)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="`cell` of Seq2Seq must be one of"):
        Seq2Seq(5, 5, cell="jordan")
    with pytest.raises(ValueError, match="`attention` must be one of"):
        Seq2Seq(5, 5, attention="luong")
    with pytest.raises(ValueError, match="`hidden_size` must be even with bidirectional"):
        Seq2Seq(5, 5, hidden_size=7)
    with pytest.raises(ValueError, match=r"`teacher_forcing` must be a probability in \[0, 1\]"):
        Seq2Seq(5, 5, teacher_forcing=1.5)
    with pytest.raises(ValueError, match="`eos_id` must be a target id below tgt_vocab_size=3"):
        Seq2Seq(5, 3, eos_id=3)
    with pytest.raises(ValueError, match="unknown keys"):
        Seq2Seq.from_config_dict({"src_vocab_size": 5, "tgt_vocab_size": 5, "colour": 1})
    model = small()
    with pytest.raises(ValueError, match=r"`inputs` must be a \[B, T\] tensor of integer"):
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match="`inputs` must hold at least one sequence"):
        model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`targets` must have one row per source row \(2\)"):
        model(torch.ones(2, 3, dtype=torch.long), torch.ones(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="`beam_size` must be a positive integer"):
        model.translate(torch.ones(1, 3, dtype=torch.long), beam_size=0)
