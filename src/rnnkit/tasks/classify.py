"""The text-classification task: `rnnkit train classify`, and what `predict` and `eval` do with
a classifier run.

Data: a CSV, TSV or JSONL table with a text column and a label column (``--data.text_column``,
``--data.label_column``; TSV is read without quoting, as the IMDB and rt-polarity files need).
Texts become characters or whitespace-separated words (``--data.level``), optionally
lower-cased, with a vocabulary ``<pad> <unk> ...`` built from the training texts (rarer tokens
than ``min_freq`` become ``<unk>``, as do unseen tokens at prediction time). The label set is
the sorted distinct labels of the training file and is stored in the checkpoint (the model's
``labels``); a validation or evaluation file with another label is refused, naming the line.
Without ``--valid`` a shuffled ``valid_fraction`` of the training rows is held out.

The best checkpoint is picked by validation accuracy. ``rnnkit eval`` reports accuracy, macro
F1, the per-class F1 and the loss.

:class:`ExampleBatches`, :func:`evaluate_batches`, :func:`split_indices`,
:func:`resolve_run_config` and :func:`run_config_of` live in :mod:`rnnkit.tasks.common` (shared
by every task) and are importable from here as well.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import PaddedBatches
from rnnkit.data.tables import TextTable, read_table
from rnnkit.data.vocab import Vocabulary
from rnnkit.models.classifier import SequenceClassifier, classification_scores
from rnnkit.tasks.common import (
    EVAL_FILE,
    TRAIN_FILE,
    VALID_FILE,
    ExampleBatches,
    accuracy_train_config,
    add_common_train_arguments,
    as_options,
    check_data_section,
    check_resumed_vocab,
    check_task,
    evaluate_batches,
    fit_model,
    load_pretrained_embeddings,
    resolve_run_config,
    run_config_of,
    split_indices,
    token_head_arguments,
    train_task,
)
from rnnkit.train import TrainSummary, seed_everything

__all__ = [
    "HELP",
    "ClassifyData",
    "ClassifyModel",
    "ExampleBatches",
    "RunConfig",
    "classify_texts",
    "evaluate_batches",
    "fit_classifier",
    "resolve_run_config",
    "run_config_of",
    "split_indices",
    "tokenize",
]

HELP = "many-to-one text classifier from a CSV/TSV/JSONL table of texts and labels"

#: Specials of the vocabularies the classify and tag tasks build.
SPECIALS = ("<pad>", "<unk>")


@dataclass
class ClassifyData:
    """Where the texts come from, how they are tokenised and batched."""

    train: str = ""  # table to train on: CSV, TSV or JSONL (.gz allowed)
    valid: str = ""  # table to validate on (empty: hold out valid_fraction of train)
    valid_fraction: float = 0.1  # without `valid`: the share of (shuffled) rows held out
    format: str = ""  # csv | tsv | jsonl (empty: from the file name)
    text_column: str = "text"  # the text column's name (its 0-based index when header = false)
    label_column: str = "label"  # the label column's name (its index when header = false)
    header: bool = True  # the first line of a CSV/TSV names the columns
    level: Literal["char", "word"] = "word"  # char: every character a token; word: whitespace
    lowercase: bool = False  # lower-case texts before tokenising
    min_freq: int = 1  # rarer tokens become <unk>
    max_vocab: int = 0  # keep the most frequent tokens only, specials included (0 = all)
    max_length: int = 0  # cut texts to their first max_length tokens (0 = keep all)
    batch_size: int = 32  # B: texts per batch
    bucket_size: int = 0  # sort by length within buckets of this many texts (0 = off)
    seed: int = 0  # seeds the split and the batch order


@dataclass
class ClassifyModel:
    """The network: embedding → recurrent layers → pooling → linear output."""

    cell: Literal["rnn", "lstm", "peephole_lstm", "gru"] = "lstm"  # recurrent cell
    embedding_dim: int = 64  # D: size of each token's embedding (set by `embeddings` if given)
    hidden_size: int = 128  # H: units per layer and direction
    num_layers: int = 1  # stacked recurrent layers
    bidirectional: bool = False  # read texts in both directions
    dropout: float = 0.0  # on embeddings, between layers and before the output layer
    embedding_dropout: float = 0.0  # in training, drop whole words (every occurrence) w.p. p
    pooling: Literal["last", "mean", "max"] = "last"  # final state, or mean/max over steps
    binary: bool = False  # two classes: one sigmoid output instead of a 2-way softmax
    embeddings: str = ""  # word-vector text file ("word v1 v2 ...", GloVe) to start from
    freeze_embeddings: bool = False  # keep the embedding fixed during training
    options: dict[str, Any] = field(default_factory=dict)  # further layer options (JSON)


@dataclass
class RunConfig:
    """A classification run: data, model and training sections."""

    task: str = "classify"  # the task this configuration is for (always classify here)
    out: str = ""  # run directory (default: runs/classify-YYYYmmdd-HHMMSS)
    data: ClassifyData = field(default_factory=ClassifyData)
    model: ClassifyModel = field(default_factory=ClassifyModel)
    train: TrainConfig = field(default_factory=accuracy_train_config)

    def __post_init__(self) -> None:
        check_task(self.task, "classify", "a classification run")
        check_data_section(self.data)


def tokenize(text: str, level: str, lowercase: bool) -> list[str]:
    """Split a text the way the classify and tag tasks do (characters or whitespace words).

    Example:
        >>> tokenize("Hi there", "word", True), tokenize("ab", "char", False)
        (['hi', 'there'], ['a', 'b'])
    """
    if lowercase:
        text = text.lower()
    return list(text) if level == "char" else text.split()


# -- data ------------------------------------------------------------------------------------


def _columns(data: ClassifyData) -> tuple[str | int, str | int]:
    if data.header:
        return data.text_column, data.label_column
    try:
        return int(data.text_column), int(data.label_column)
    except ValueError:
        raise ValueError(
            "Options `data.text_column` and `data.label_column` must be 0-based column indices "
            f"when header = false, got {data.text_column!r} and {data.label_column!r}."
        ) from None


def read_labelled(path: str, data: ClassifyData, name: str = "Table file") -> TextTable:
    """Read a table of texts and labels as the run's data section says.

    Args:
        path: the table.
        data: the run's data section (format, header, columns).
        name: how messages name the file before its path, e.g. :data:`TRAIN_FILE`.

    Raises:
        ValueError: as :func:`rnnkit.data.tables.read_table` (a file without rows included),
            the message naming the file as ``name`` says.
    """
    text_column, label_column = _columns(data)
    return read_table(
        path, text_column, label_column, format=data.format or None, header=data.header,
        name=name,
    )


def _encode_texts(
    texts: Sequence[str], vocab: Vocabulary, data: Any, where: str = "Argument `texts`"
) -> list[list[int]]:
    out = []
    for n, text in enumerate(texts):
        tokens = tokenize(text, vocab.level, data.lowercase)
        if not tokens:
            raise ValueError(f"{where} item {n} has no tokens; expected a non-empty text.")
        out.append(vocab.encode(tokens))
    return out


def _max_length(data: Any) -> int | None:
    return data.max_length or None


def prepare_data(
    config: RunConfig,
) -> tuple[Vocabulary, list[str], ExampleBatches, ExampleBatches]:
    """Read, split, tokenise and batch the training and validation tables.

    Returns:
        ``(vocab, labels, train_batches, valid_batches)``.

    Raises:
        ValueError: as :func:`rnnkit.data.tables.read_table`, a validation label not seen in
            training (naming the line), or fewer than two classes.
    """
    data = config.data
    table = read_labelled(data.train, data, TRAIN_FILE)
    labels = table.classes()
    if len(labels) < 2:
        raise ValueError(
            f"{TRAIN_FILE} {data.train!r} has one label ({labels[0]!r}); a classifier needs at "
            "least two classes."
        )
    ids = table.class_ids(labels)
    texts = table.texts
    if data.valid:
        valid_table = read_labelled(data.valid, data, VALID_FILE)
        valid_texts, valid_ids = valid_table.texts, valid_table.class_ids(labels)
    else:
        train_idx, valid_idx = split_indices(len(texts), data.valid_fraction, data.seed)
        valid_texts = [texts[i] for i in valid_idx]
        valid_ids = [ids[i] for i in valid_idx]
        texts = [texts[i] for i in train_idx]
        ids = [ids[i] for i in train_idx]
    vocab = Vocabulary.build(
        [tokenize(t, data.level, data.lowercase) for t in texts],
        level=data.level,
        specials=SPECIALS,
        max_size=data.max_vocab or None,
        min_freq=data.min_freq,
    )
    common = {"batch_size": data.batch_size, "pad_id": 0, "max_length": _max_length(data)}
    train = ExampleBatches(
        _encode_texts(texts, vocab, data, f"{TRAIN_FILE} {data.train!r}"),
        labels=ids,
        shuffle=True,
        bucket_size=data.bucket_size or None,
        seed=data.seed,
        **common,
    )
    valid_where = f"{VALID_FILE} {data.valid!r}" if data.valid else f"{TRAIN_FILE} {data.train!r}"
    valid = ExampleBatches(
        _encode_texts(valid_texts, vocab, data, valid_where),
        labels=valid_ids,
        **common,
    )
    return vocab, labels, train, valid


# -- training --------------------------------------------------------------------------------


def fit_classifier(
    config: RunConfig, *, run_dir: Path, resume: bool = False, overwrite: bool = False
) -> tuple[TrainSummary, SequenceClassifier, Vocabulary]:
    """Train a text classifier as ``config`` says; checkpoints go to ``run_dir``.

    Returns:
        The training summary, the trained model (last state, eval mode) and the vocabulary.

    Raises:
        ValueError: bad data (see :func:`prepare_data`), ``binary`` with other than two
            classes, or a word-vector file whose words do not fit.
    """
    vocab, labels, train_data, valid_data = prepare_data(config)
    m = config.model
    if m.binary and len(labels) != 2:
        raise ValueError(
            f"Option `model.binary` needs exactly two classes; the training data has {labels}."
        )
    seed_everything(config.train.seed)  # the initial weights follow train.seed
    with as_options("model", m):
        model = SequenceClassifier(
            len(labels),
            pooling=m.pooling,
            binary=m.binary,
            labels=labels,
            embedding_dropout=m.embedding_dropout,
            **token_head_arguments(m, vocab),
        )
    load_pretrained_embeddings(model, vocab, m, resume)
    check_resumed_vocab(run_dir, vocab, resume)
    summary = fit_model(
        model, train_data, valid_data, config, run_dir, "sequence_classifier",
        vocab=vocab, resume=resume, overwrite=overwrite,
    )
    return summary, model, vocab


# -- using a trained run ---------------------------------------------------------------------


def classify_texts(
    model: SequenceClassifier, vocab: Vocabulary, texts: Sequence[str], data: ClassifyData
) -> list[dict[str, Any]]:
    """Classify texts with a trained model: the label, its probability and all probabilities.

    Args:
        model: the classifier.
        vocab: its vocabulary (unseen tokens become ``<unk>``).
        texts: the texts.
        data: the run's data section (tokenisation and ``max_length``).

    Returns:
        One ``{"input", "label", "probability", "probabilities": {label: p}}`` per text.

    Raises:
        ValueError: no texts, or a text without tokens.
    """
    if not texts:
        raise ValueError("Argument `texts` is empty: give at least one text to classify.")
    ids = _encode_texts(texts, vocab, data)
    batches = PaddedBatches(ids, batch_size=64, pad_id=0, max_length=_max_length(data))
    names = model.class_names()
    out: list[dict[str, Any]] = []
    model.eval()
    with torch.inference_mode():
        for batch in batches:
            logits, _ = model(batch.inputs, lengths=batch.lengths)
            for row in model.probabilities(logits).tolist():
                best = int(np.argmax(row))
                out.append(
                    {
                        "input": texts[len(out)],
                        "label": names[best],
                        "probability": row[best],
                        "probabilities": dict(zip(names, row, strict=True)),
                    }
                )
    return out


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit train classify`` options: the run configuration plus --train, --valid, ..."""
    add_common_train_arguments(parser, RunConfig, "table of texts and labels")


def train(args: argparse.Namespace) -> int:
    """Run ``rnnkit train classify``."""
    return train_task(args, RunConfig, "classify", fit_classifier)


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit predict`` needs nothing more for a classifier."""


def predict_lines(run: Any, lines: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Classify each input line."""
    config = run_config_of(run, RunConfig)
    return classify_texts(run.model, run.vocab, lines, config.data)


def predict_tokens(run: Any, lines: list[str]) -> tuple[Vocabulary, list[list[str]]]:
    """The vocabulary :func:`predict_lines` encodes with, and each line's tokens as it sees
    them (lower-cased if the run was trained so): ``rnnkit predict`` names those that become
    ``<unk>``."""
    data = run_config_of(run, RunConfig).data
    return run.vocab, [tokenize(line, run.vocab.level, data.lowercase) for line in lines]


def format_prediction(prediction: dict[str, Any]) -> str:
    """One line of ``rnnkit predict`` output: label, probability and the text, TAB-separated."""
    return f"{prediction['label']}\t{prediction['probability']:.4f}\t{prediction['input']}"


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit eval`` needs nothing more for a classifier."""


def evaluate_file(run: Any, path: str, args: argparse.Namespace) -> dict[str, float]:
    """Accuracy, macro F1, loss and per-class F1 of a classifier run on a labelled table.

    Raises:
        ValueError: the table has a label the run was not trained with (naming the line).
    """
    config = run_config_of(run, RunConfig)
    data = config.data
    table = read_labelled(path, data, EVAL_FILE)
    labels = run.model.class_names()
    ids = table.class_ids(labels)
    batches = ExampleBatches(
        _encode_texts(table.texts, run.vocab, data, f"{EVAL_FILE} {path!r}"),
        labels=ids,
        batch_size=64,
        pad_id=0,
        max_length=_max_length(data),
    )
    sums = evaluate_batches(run.model, batches)
    scores = classification_scores(sums)
    result = {"accuracy": scores.pop("accuracy"), "macro_f1": scores.pop("macro_f1")}
    result["loss"] = scores.pop("loss")
    result.update(scores)
    result["examples"] = float(len(ids))
    return result


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="rnnkit train classify", description=HELP)
    add_train_arguments(parser)
    sys.exit(train(parser.parse_args()))
