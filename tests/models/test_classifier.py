"""SequenceClassifier: learning, padding invariance, save/load, metrics, word vectors, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import PaddedBatches
from rnnkit.data.synthetic import marker_sequences
from rnnkit.data.vocab import Vocabulary
from rnnkit.models import MODELS
from rnnkit.models.classifier import (
    CELLS,
    POOLINGS,
    SequenceClassifier,
    class_metrics,
    classification_scores,
)
from rnnkit.models.embeddings import load_embeddings, read_word_vectors, vector_dim
from rnnkit.tasks import load_run
from rnnkit.train import Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models: one thread is fastest and immune to a busy machine's oversubscription.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fit(model: torch.nn.Module, batches: PaddedBatches, steps: int, lr: float = 1e-2) -> None:
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    done, epoch = 0, 0
    while done < steps:
        batches.set_epoch(epoch)
        for batch in batches:
            _, loss = model(batch.inputs, batch.targets, batch.lengths)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
        epoch += 1
    model.eval()


def scores(model: torch.nn.Module, batches: PaddedBatches) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    with torch.no_grad():
        for batch in batches:
            outputs, _ = model(batch.inputs, lengths=batch.lengths)
            for name, (s, c) in model.metrics(outputs, batch).items():
                pair = sums.setdefault(name, [0.0, 0.0])
                pair[0] += s
                pair[1] += c
    return classification_scores({k: (s, c) for k, (s, c) in sums.items()})


def marker_batches(n: int, seed: int, shuffle: bool = False) -> PaddedBatches:
    sequences, labels = marker_sequences(n, seed=seed)
    return PaddedBatches(sequences, labels=labels, batch_size=32, shuffle=shuffle, seed=seed)


@pytest.mark.parametrize(
    ("options", "threshold"),
    [
        ({"cell": "lstm"}, 0.97),
        ({"cell": "gru", "binary": True, "pooling": "max", "bidirectional": True}, 0.97),
    ],
)
def test_learns_whether_a_sequence_contains_the_marker(
    options: dict[str, object], threshold: float
) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(2, vocab_size=8, embedding_dim=8, hidden_size=16, **options)
    fit(model, marker_batches(256, seed=0, shuffle=True), steps=150)
    result = scores(model, marker_batches(200, seed=1))
    assert result["accuracy"] >= threshold
    assert result["macro_f1"] >= threshold


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_changes_prediction_or_loss(
    cell: str, pooling: str, bidirectional: bool
) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(
        3, vocab_size=9, embedding_dim=4, hidden_size=5, num_layers=2, cell=cell,
        pooling=pooling, bidirectional=bidirectional,
    ).eval()
    example = torch.tensor([[3, 1, 4, 1]])
    alone, loss_alone = model(example, torch.tensor([2]))
    batch = torch.tensor([[3, 1, 4, 1, 0, 0, 0], [2, 7, 1, 8, 2, 8, 1]])
    padded, _ = model(batch, torch.tensor([2, 0]), lengths=torch.tensor([4, 7]))
    torch.testing.assert_close(padded[0], alone[0], rtol=1e-5, atol=1e-6)
    _, loss_padded = model(batch[:1], torch.tensor([2]), lengths=torch.tensor([4]))
    torch.testing.assert_close(loss_padded, loss_alone, rtol=1e-5, atol=1e-6)
    # the padding's token ids do not matter either
    noisy = batch.clone()
    noisy[0, 4:] = 5
    torch.testing.assert_close(
        model(noisy, lengths=torch.tensor([4, 7]))[0], padded, rtol=1e-5, atol=1e-6
    )


def test_feature_input_and_options_pass_through() -> None:
    model = SequenceClassifier(
        4, input_size=3, hidden_size=6, cell="lstm", options={"forget_bias": 1.0}
    )
    logits, loss = model(torch.randn(2, 5, 3), torch.tensor([0, 3]), torch.tensor([5, 2]))
    assert logits.shape == (2, 4) and loss.ndim == 0
    assert model.rnn.forget_bias == 1.0
    assert model.probabilities(logits).sum(-1).allclose(torch.ones(2))


def test_save_and_load_through_a_run_directory_gives_identical_predictions(tmp_path) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(
        2, vocab_size=8, embedding_dim=4, hidden_size=6, binary=True, pooling="mean",
        bidirectional=True, cell="peephole_lstm", labels=["no", "yes"],
        freeze_embedding=True,
    )
    batches = marker_batches(64, seed=0)
    config = TrainConfig(max_steps=3, progress=False, lr=0.05)
    Trainer(
        model, batches, config, tmp_path / "run", val_data=batches,
        model_name="sequence_classifier", run_config={"task": "classify"},
    ).fit()
    run = load_run(tmp_path / "run", best=False)
    assert isinstance(run.model, SequenceClassifier) and run.task == "classify"
    assert not run.model.embedding.weight.requires_grad
    assert run.model.class_names() == ["no", "yes"]
    model.eval()
    batch = next(iter(batches))
    expected, _ = model(batch.inputs, lengths=batch.lengths)
    got, _ = run.model(batch.inputs, lengths=batch.lengths)
    assert torch.equal(got, expected)
    assert MODELS["sequence_classifier"] is SequenceClassifier


def test_metrics_add_up_exactly_over_batches() -> None:
    predicted = torch.tensor([0, 1, 2, 2, 1, 0, 2])
    targets = torch.tensor([0, 1, 1, 2, 1, 2, 2])
    names = ["a", "b", "c"]
    whole = class_metrics(predicted, targets, names)
    parts = [class_metrics(predicted[s], targets[s], names) for s in (slice(0, 3), slice(3, 7))]
    summed = {k: (parts[0][k][0] + parts[1][k][0], parts[0][k][1] + parts[1][k][1]) for k in whole}
    assert summed == whole
    result = classification_scores(summed)
    # by hand: a: tp 1 fp 1 fn 0 -> 2/3; b: tp 2 fp 0 fn 1 -> 4/5; c: tp 2 fp 1 fn 1 -> 4/6
    assert result["accuracy"] == pytest.approx(5 / 7)
    assert result["f1_a"] == pytest.approx(2 / 3)
    assert result["f1_b"] == pytest.approx(4 / 5)
    assert result["f1_c"] == pytest.approx(4 / 6)
    assert result["macro_f1"] == pytest.approx((2 / 3 + 4 / 5 + 4 / 6) / 3)


def test_macro_f1_skips_a_class_absent_from_targets_and_predictions() -> None:
    result = classification_scores(class_metrics(torch.tensor([0, 1]), torch.tensor([0, 1]),
                                                 ["a", "b", "c"]))
    assert math.isnan(result["f1_c"]) and result["macro_f1"] == 1.0


def test_word_vectors_initialise_the_embedding(tmp_path) -> None:
    path = tmp_path / "vectors.txt"
    path.write_text("3 2\nthe 1 2\ncat 3 4\nDog 9 9\ndog 5 6\n", encoding="utf-8")
    vocab = Vocabulary.build([["the", "Cat", "bird"]], level="word", specials=("<pad>", "<unk>"))
    model = SequenceClassifier(2, vocab_size=len(vocab), embedding_dim=vector_dim(path))
    before = model.embedding.weight.detach().clone()
    loaded = load_embeddings(model.embedding.weight, vocab, path)
    assert (loaded.found, loaded.total, loaded.dim) == (2, 3, 2)
    assert "found vectors for 2 of 3 words" in str(loaded)
    weight = model.embedding.weight
    assert weight[vocab.stoi["the"]].tolist() == [1.0, 2.0]
    assert weight[vocab.stoi["Cat"]].tolist() == [3.0, 4.0]  # lower-case fallback
    assert torch.equal(weight[vocab.stoi["bird"]], before[vocab.stoi["bird"]])
    assert set(read_word_vectors(path)) == {"the", "cat", "Dog", "dog"}


def test_word_vector_files_with_problems_are_refused(tmp_path) -> None:
    vocab = Vocabulary.build([["the"]], level="word", specials=("<pad>",))
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("the 1 2 3\ncat 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2 has 2 values, expected 3"):
        read_word_vectors(ragged)
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1 \(word 'the'\) holds a value that is not a"):
        read_word_vectors(bad)
    good = tmp_path / "good.txt"
    good.write_text("the 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"`weight` must have shape \(2, 2\)"):
        load_embeddings(torch.zeros(2, 5), vocab, good)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": 3, "vocab_size": 5, "binary": True}, r"binary=True` needs num_classes=2"),
        ({"num_classes": 2}, r"exactly one of `vocab_size`"),
        ({"num_classes": 2, "vocab_size": 5, "input_size": 3}, r"exactly one of `vocab_size`"),
        ({"num_classes": 2, "vocab_size": 5, "cell": "jordan"}, r"`cell` must be one of"),
        ({"num_classes": 2, "vocab_size": 5, "pooling": "sum"}, r"`pooling` must be one of"),
        ({"num_classes": 1, "vocab_size": 5}, r"`num_classes` must be at least 2"),
        ({"num_classes": 2, "vocab_size": 5, "labels": ["a"]}, r"`labels` must name the 2"),
        ({"num_classes": 2, "vocab_size": 5, "options": {"batch_first": False}}, r"must not set"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SequenceClassifier(**kwargs)  # type: ignore[arg-type]


def test_bad_forward_input() -> None:
    tokens = SequenceClassifier(3, vocab_size=6, embedding_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match=r"holds the class id 3, outside \[0, 3\)"):
        tokens(torch.tensor([[1, 2]]), torch.tensor([3]))
    with pytest.raises(ValueError, match=r"must hold at least one step"):
        tokens(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token ids in \[0, 6\)"):
        tokens(torch.tensor([[1, 9]]))
    with pytest.raises(ValueError, match=r"must have shape \(1,\) \(one class id per sequence\)"):
        tokens(torch.tensor([[1, 2]]), torch.tensor([[1]]))
    with pytest.raises(ValueError, match=r"`lengths` must be in \[1, 2\]"):
        tokens(torch.tensor([[1, 2]]), lengths=torch.tensor([3]))
    features = SequenceClassifier(2, input_size=3, hidden_size=4)
    with pytest.raises(ValueError, match=r"input_size=3 features per step, got 4"):
        features(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"must be a \[B, T, 3\] float tensor"):
        features(torch.tensor([[1, 2]]))


def test_config_round_trip_refuses_unknown_keys() -> None:
    model = SequenceClassifier(2, vocab_size=5, labels=["a", "b"], options={"forget_bias": 2.0})
    config = model.config_dict()
    assert SequenceClassifier.from_config_dict(config).config_dict() == config
    with pytest.raises(ValueError, match=r"unknown keys \['colour'\]"):
        SequenceClassifier.from_config_dict({**config, "colour": 1})
    assert np.isclose(SequenceClassifier.from_config_dict(config).rnn.forget_bias, 2.0)


def test_trainer_reports_macro_f1_and_can_select_the_best_checkpoint_by_it(tmp_path) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(2, vocab_size=8, embedding_dim=4, hidden_size=6, labels=["n", "y"])
    batches = marker_batches(64, seed=0)
    config = TrainConfig(max_steps=6, eval_every=3, metric="macro_f1", mode="max",
                         progress=False, lr=0.05)
    trainer = Trainer(model, batches, config, tmp_path / "run", val_data=batches,
                      model_name="sequence_classifier", run_config={"task": "classify"})
    summary = trainer.fit()
    scores = trainer.evaluate()
    # the hook's macro F1 is the mean of the per-class F1 the same evaluation reports
    assert scores["macro_f1"] == pytest.approx((scores["f1_n"] + scores["f1_y"]) / 2)
    assert summary.metric == "macro_f1" and summary.best_metric is not None
    assert 0.0 <= summary.best_metric <= 1.0
