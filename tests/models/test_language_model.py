"""LanguageModel: learns a tiny corpus, round-trips through a checkpoint, samples reproducibly."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import StreamBatches
from rnnkit.data.vocab import Vocabulary
from rnnkit.models import LanguageModel, build_model
from rnnkit.tasks import load_run
from rnnkit.tasks.lm import LMData, LMModel, RunConfig, fit_language_model, sample_text
from rnnkit.train import Trainer

CORPUS = "the cat sat on the mat. the dog sat on the log. " * 40


def _tiny_run(tmp_path, cell: str = "lstm", steps: int = 120):
    config = RunConfig(
        data=LMData(batch_size=8, bptt=16, valid_fraction=0.1),
        model=LMModel(embedding_dim=16, hidden_size=32, num_layers=1, cell=cell, dropout=0.0),
        train=TrainConfig(lr=1e-2, max_steps=steps, max_epochs=0, eval_every=40, progress=False),
    )
    return fit_language_model(config, CORPUS, run_dir=tmp_path / "run")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_training_lowers_the_loss_well_below_uniform(tmp_path, cell: str) -> None:
    summary, _model, vocab = _tiny_run(tmp_path, cell)
    uniform = math.log(len(vocab))
    assert summary.best_metric is not None
    # the corpus is a short repeated sentence: well under half the uniform loss
    assert summary.best_metric < 0.4 * uniform, (summary.best_metric, uniform)


def test_save_load_gives_identical_logits_and_samples(tmp_path) -> None:
    _, model, vocab = _tiny_run(tmp_path, steps=30)
    run = load_run(tmp_path / "run", best=False)
    x = torch.tensor([vocab.encode("the cat sat")])
    with torch.no_grad():
        assert torch.equal(model(x)[0], run.model(x)[0])
    assert run.vocab.itos == vocab.itos and run.task == "lm"
    a = sample_text(model, vocab, "the ", 40, temperature=1.0, seed=7)
    b = sample_text(run.model, run.vocab, "the ", 40, temperature=1.0, seed=7)
    c = sample_text(model, vocab, "the ", 40, temperature=1.0, seed=8)
    assert a == b and len(a) == 40 and a != c


def test_stream_chunks_equal_one_long_forward() -> None:
    """Carrying the state across chunks is the same computation as one unbroken pass."""
    model = LanguageModel(vocab_size=11, embedding_dim=6, hidden_size=7, num_layers=2).double()
    model.eval()
    ids = torch.randint(0, 11, (3, 12))
    whole, _ = model(ids)
    first, _, state = model.forward_stream(ids[:, :5], None)
    second, _, _ = model.forward_stream(ids[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


def test_lengths_mask_the_loss_past_each_end() -> None:
    model = LanguageModel(vocab_size=5, embedding_dim=4, hidden_size=4, num_layers=1)
    inputs = torch.tensor([[1, 2, 3, 4], [1, 2, 0, 0]])
    targets = torch.tensor([[2, 3, 4, 1], [2, 3, 0, 0]])
    _, loss_batch = model(inputs, targets, lengths=torch.tensor([4, 2]))
    logits, _ = model(inputs)
    per = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 5), targets.reshape(-1), reduction="none"
    )
    expected = per.reshape(2, 4)[torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool()].mean()
    torch.testing.assert_close(loss_batch, expected)


def test_trainer_with_stream_batches_checkpoints_the_registry_name(tmp_path) -> None:
    vocab = Vocabulary.build([CORPUS], level="char", specials=())
    data = StreamBatches(vocab.encode(CORPUS), batch_size=4, bptt=8)
    model = LanguageModel(len(vocab), 8, 8, 1)
    Trainer(
        model,
        data,
        TrainConfig(max_steps=3, max_epochs=0, progress=False),
        tmp_path,
        model_name="language_model",
        vocab=vocab,
    ).fit()
    again = build_model("language_model", model.config_dict())
    assert isinstance(again, LanguageModel) and again.config == model.config


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="`cell` of LanguageModel must be one of"):
        LanguageModel(10, cell="jordan")
    with pytest.raises(ValueError, match="`tie_weights=True` needs embedding_dim == hidden_size"):
        LanguageModel(10, embedding_dim=8, hidden_size=16, tie_weights=True)
    with pytest.raises(ValueError, match="`vocab_size` must be a positive integer"):
        LanguageModel(0)
    model = LanguageModel(10, 4, 4, 1)
    with pytest.raises(
        ValueError, match=r"`inputs` must be a \[B, T\] tensor of integer token ids"
    ):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"`targets` must have shape \(2, 3\)"):
        model(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="config has unknown keys"):
        LanguageModel.from_config_dict({"vocab_size": 3, "colour": "red"})


def test_tied_weights_share_one_matrix() -> None:
    model = LanguageModel(12, embedding_dim=8, hidden_size=8, num_layers=1, tie_weights=True)
    assert model.decoder.weight is model.embedding.weight
