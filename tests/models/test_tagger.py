"""SequenceTagger: learning, padding ignored, save/load, bad input."""

from __future__ import annotations

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import Batch, PaddedBatches
from rnnkit.data.synthetic import parity_sequences
from rnnkit.models import MODELS
from rnnkit.models.classifier import CELLS
from rnnkit.models.tagger import SequenceTagger
from rnnkit.tasks import load_run
from rnnkit.train import Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models: one thread is fastest and immune to a busy machine's oversubscription.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def parity_batches(n: int, seed: int, shuffle: bool = False) -> PaddedBatches:
    sequences, tags = parity_sequences(n, seed=seed)
    return PaddedBatches(sequences, step_targets=tags, batch_size=32, shuffle=shuffle, seed=seed)


def accuracy(model: SequenceTagger, batches: PaddedBatches) -> float:
    right = count = 0.0
    with torch.no_grad():
        for batch in batches:
            logits, _ = model(batch.inputs, lengths=batch.lengths)
            r, c = model.metrics(logits, batch)["accuracy"]
            right, count = right + r, count + c
    return right / count


def test_learns_the_running_parity_of_a_bit_sequence() -> None:
    torch.manual_seed(0)
    model = SequenceTagger(2, vocab_size=3, embedding_dim=8, hidden_size=16)
    assert model.rnn.bidirectional  # the default
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train = parity_batches(256, seed=0, shuffle=True)
    for epoch in range(38):  # 8 batches an epoch: 304 steps
        train.set_epoch(epoch)
        for batch in train:
            _, loss = model(batch.inputs, batch.targets, batch.lengths)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    assert accuracy(model, parity_batches(200, seed=1)) >= 0.98


@pytest.mark.parametrize("cell", list(CELLS))
def test_padding_changes_neither_tags_nor_loss_nor_accuracy(cell: str) -> None:
    torch.manual_seed(0)
    model = SequenceTagger(4, vocab_size=9, embedding_dim=4, hidden_size=5, num_layers=2,
                           cell=cell).eval()
    words, tags = torch.tensor([[3, 1, 4]]), torch.tensor([[0, 3, 1]])
    alone, loss_alone = model(words, tags)
    batch = torch.tensor([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]])
    targets = torch.tensor([[0, 3, 1, -100, -100], [1, 1, 2, 2, 0]])
    lengths = torch.tensor([3, 5])
    padded, _ = model(batch, targets, lengths)
    torch.testing.assert_close(padded[0, :3], alone[0], rtol=1e-5, atol=1e-6)
    # ignore_index and lengths each hide the padding: a junk tag past the end changes nothing
    junk = targets.clone()
    junk[0, 3:] = 2
    _, loss_first = model(batch[:1], junk[:1], lengths[:1])
    torch.testing.assert_close(loss_first, loss_alone, rtol=1e-5, atol=1e-6)
    hits = padded.argmax(-1) == junk
    right, count = model.metrics(padded, Batch(batch, junk, lengths))["accuracy"]
    assert (right, count) == (float(hits[0, :3].sum() + hits[1].sum()), 8.0)


def test_save_and_load_through_a_run_directory_gives_identical_tags(tmp_path) -> None:
    torch.manual_seed(0)
    model = SequenceTagger(2, vocab_size=3, embedding_dim=4, hidden_size=6, cell="gru",
                           labels=["EVEN", "ODD"])
    batches = parity_batches(64, seed=0)
    Trainer(
        model, batches, TrainConfig(max_steps=3, progress=False, lr=0.05), tmp_path / "run",
        val_data=batches, model_name="sequence_tagger", run_config={"task": "tag"},
    ).fit()
    run = load_run(tmp_path / "run", best=False)
    assert isinstance(run.model, SequenceTagger) and run.model.class_names() == ["EVEN", "ODD"]
    model.eval()
    batch = next(iter(batches))
    assert torch.equal(run.model(batch.inputs, lengths=batch.lengths)[0],
                       model(batch.inputs, lengths=batch.lengths)[0])
    assert MODELS["sequence_tagger"] is SequenceTagger


def test_targets_must_give_one_tag_per_input_step() -> None:
    model = SequenceTagger(3, vocab_size=5, embedding_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match=r"must have shape \(2, 3\) \(one tag per input step"):
        model(torch.ones(2, 3, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"holds the class id 7, outside \[0, 3\)"):
        model(torch.ones(1, 2, dtype=torch.long), torch.tensor([[0, 7]]))
    with pytest.raises(ValueError, match=r"must hold at least one step"):
        model(torch.ones(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`ignore_index` must not be a tag id"):
        SequenceTagger(3, vocab_size=5, ignore_index=1)
    features = SequenceTagger(2, input_size=2, hidden_size=3)
    assert features(torch.randn(1, 4, 2))[0].shape == (1, 4, 2)
    with pytest.raises(ValueError, match=r"input_size=2 features per step, got 5"):
        features(torch.randn(1, 4, 5))
