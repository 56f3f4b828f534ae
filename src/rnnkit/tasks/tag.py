"""The tagging task: `rnnkit train tag` on CoNLL-U treebanks, and what `predict` and `eval` do
with a tagger run.

Data: CoNLL-U files (``/work/shared/data/ud_english_ewt`` holds UD English EWT); each sentence
is its words (FORM) and one tag per word, UPOS by default or XPOS (``--data.tags xpos``). The
word vocabulary ``<pad> <unk> ...`` comes from the training sentences; words seen fewer than
``min_freq`` times (default 2) become ``<unk>``, so the model learns an ``<unk>`` embedding it
can use for words it never saw. The tag set is the sorted tags of the training file and is
stored in the checkpoint; a validation or evaluation sentence with another tag is refused,
naming the file and line. Without ``--valid`` a shuffled ``valid_fraction`` of the training
sentences is held out.

The model is a :class:`rnnkit.models.SequenceTagger` (bidirectional by default); padding is
ignored in the loss and the accuracy. The best checkpoint is picked by validation accuracy.
``rnnkit predict`` reads whitespace-separated words, one sentence per line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import PaddedBatches
from rnnkit.data.conllu import Sentence, read_conllu
from rnnkit.data.vocab import Vocabulary
from rnnkit.models.tagger import SequenceTagger
from rnnkit.tasks.classify import SPECIALS
from rnnkit.tasks.common import (
    accuracy_train_config,
    add_common_train_arguments,
    check_data_section,
    check_resumed_vocab,
    check_task,
    evaluate_batches,
    fit_model,
    load_pretrained_embeddings,
    run_config_of,
    split_indices,
    token_head_arguments,
    train_task,
)
from rnnkit.train import TrainSummary

__all__ = ["HELP", "RunConfig", "TagData", "TagModel", "fit_tagger", "tag_sentences"]

HELP = "many-to-many tagger (part of speech) from CoNLL-U files, bidirectional by default"


@dataclass
class TagData:
    """Where the tagged sentences come from and how they are batched."""

    train: str = ""  # CoNLL-U file to train on (.gz allowed)
    valid: str = ""  # CoNLL-U file to validate on (empty: hold out valid_fraction of train)
    valid_fraction: float = 0.1  # without `valid`: the share of (shuffled) sentences held out
    tags: Literal["upos", "xpos"] = "upos"  # which tag column to learn
    lowercase: bool = False  # lower-case words before looking them up
    min_freq: int = 2  # rarer words become <unk> (so that <unk> is learned)
    max_vocab: int = 0  # keep the most frequent words only, specials included (0 = all)
    max_length: int = 0  # cut sentences to their first max_length words (0 = keep all)
    batch_size: int = 32  # B: sentences per batch
    bucket_size: int = 0  # sort by length within buckets of this many sentences (0 = off)
    seed: int = 0  # seeds the split and the batch order


@dataclass
class TagModel:
    """The network: embedding → (bi)directional recurrent layers → linear output per word."""

    cell: Literal["rnn", "lstm", "peephole_lstm", "gru"] = "lstm"  # recurrent cell
    embedding_dim: int = 64  # D: size of each word's embedding (set by `embeddings` if given)
    hidden_size: int = 128  # H: units per layer and direction
    num_layers: int = 1  # stacked recurrent layers
    bidirectional: bool = True  # read sentences in both directions
    dropout: float = 0.0  # on embeddings, between layers and before the output layer
    embeddings: str = ""  # word-vector text file ("word v1 v2 ...", GloVe) to start from
    freeze_embeddings: bool = False  # keep the embedding fixed during training
    options: dict[str, Any] = field(default_factory=dict)  # further layer options (JSON)


@dataclass
class RunConfig:
    """A tagging run: data, model and training sections."""

    task: str = "tag"  # the task this configuration is for (always tag here)
    out: str = ""  # run directory (default: runs/tag-YYYYmmdd-HHMMSS)
    data: TagData = field(default_factory=TagData)
    model: TagModel = field(default_factory=TagModel)
    train: TrainConfig = field(default_factory=accuracy_train_config)

    def __post_init__(self) -> None:
        check_task(self.task, "tag", "a tagging run")
        check_data_section(self.data)


def _words(words: Sequence[str], data: TagData) -> list[str]:
    return [w.lower() for w in words] if data.lowercase else list(words)


def _tag_ids(
    sentences: Sequence[Sentence], tags: Sequence[str], data: TagData, path: str
) -> list[list[int]]:
    index = {tag: i for i, tag in enumerate(tags)}
    out = []
    for sentence in sentences:
        row = []
        for position, tag in enumerate(getattr(sentence, data.tags)):
            if tag not in index:
                raise ValueError(
                    f"CoNLL-U file {path!r} sentence at line {sentence.line} has the "
                    f"{data.tags.upper()} tag {tag!r} (word {position + 1}), which is not one of "
                    f"the {len(tags)} tags the model knows: {list(tags)}."
                )
            row.append(index[tag])
        out.append(row)
    return out


def prepare_data(
    config: RunConfig,
) -> tuple[Vocabulary, list[str], PaddedBatches, PaddedBatches]:
    """Read, split, encode and batch the training and validation treebanks.

    Returns:
        ``(vocab, tags, train_batches, valid_batches)``.

    Raises:
        ValueError: as :func:`rnnkit.data.conllu.read_conllu`, or a validation tag not seen in
            training (naming the line).
    """
    data = config.data
    sentences = read_conllu(data.train)
    tags = sorted({t for s in sentences for t in getattr(s, data.tags)})
    if data.valid:
        valid = read_conllu(data.valid)
        valid_path = data.valid
    else:
        train_idx, valid_idx = split_indices(len(sentences), data.valid_fraction, data.seed)
        valid = [sentences[i] for i in valid_idx]
        sentences = [sentences[i] for i in train_idx]
        valid_path = data.train
    vocab = Vocabulary.build(
        [_words(s.words, data) for s in sentences],
        level="word",
        specials=SPECIALS,
        max_size=data.max_vocab or None,
        min_freq=data.min_freq,
    )
    common = {"batch_size": data.batch_size, "pad_id": 0, "max_length": data.max_length or None}
    train = PaddedBatches(
        [vocab.encode(_words(s.words, data)) for s in sentences],
        step_targets=_tag_ids(sentences, tags, data, data.train),
        shuffle=True,
        bucket_size=data.bucket_size or None,
        seed=data.seed,
        **common,
    )
    valid_batches = PaddedBatches(
        [vocab.encode(_words(s.words, data)) for s in valid],
        step_targets=_tag_ids(valid, tags, data, valid_path),
        **common,
    )
    return vocab, tags, train, valid_batches


def fit_tagger(
    config: RunConfig, *, run_dir: Path, resume: bool = False, overwrite: bool = False
) -> tuple[TrainSummary, SequenceTagger, Vocabulary]:
    """Train a tagger as ``config`` says; checkpoints go to ``run_dir``.

    Returns:
        The training summary, the trained model (last state, eval mode) and the vocabulary.
    """
    vocab, tags, train_data, valid_data = prepare_data(config)
    m = config.model
    model = SequenceTagger(len(tags), labels=tags, **token_head_arguments(m, vocab))
    load_pretrained_embeddings(model, vocab, m, resume)
    check_resumed_vocab(run_dir, vocab, resume)
    summary = fit_model(
        model, train_data, valid_data, config, run_dir, "sequence_tagger",
        vocab=vocab, resume=resume, overwrite=overwrite,
    )
    return summary, model, vocab


def tag_sentences(
    model: SequenceTagger, vocab: Vocabulary, sentences: Sequence[Sequence[str]], data: TagData
) -> list[list[str]]:
    """Tag sentences (lists of words) with a trained tagger; unseen words become ``<unk>``.

    Raises:
        ValueError: no sentences, or an empty sentence.
    """
    if not sentences:
        raise ValueError("Argument `sentences` is empty: give at least one sentence to tag.")
    for n, words in enumerate(sentences):
        if not words:
            raise ValueError(f"Argument `sentences` item {n} has no words; expected a sentence.")
    ids = [vocab.encode(_words(words, data)) for words in sentences]
    # No max_length here: every word gets a tag, however long the sentence.
    batches = PaddedBatches(ids, batch_size=64, pad_id=0)
    names = model.class_names()
    out: list[list[str]] = []
    model.eval()
    with torch.inference_mode():
        for batch in batches:
            predicted = model.predict(model(batch.inputs, lengths=batch.lengths)[0])
            for row, length in zip(predicted.tolist(), batch.lengths.tolist(), strict=True):
                out.append([names[t] for t in row[:length]])
    return out


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit train tag`` options: the run configuration plus --train, --valid, ..."""
    add_common_train_arguments(parser, RunConfig, "CoNLL-U file")


def train(args: argparse.Namespace) -> int:
    """Run ``rnnkit train tag``."""
    return train_task(args, RunConfig, "tag", fit_tagger)


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit predict`` needs nothing more for a tagger."""


def predict_lines(run: Any, lines: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Tag each input line (words separated by whitespace)."""
    config = run_config_of(run, RunConfig)
    sentences = [line.split() for line in lines]
    tags = tag_sentences(run.model, run.vocab, sentences, config.data)
    return [
        {"input": line, "words": words, "tags": row}
        for line, words, row in zip(lines, sentences, tags, strict=True)
    ]


def format_prediction(prediction: dict[str, Any]) -> str:
    """One line of ``rnnkit predict`` output: ``word/TAG`` pairs."""
    pairs = zip(prediction["words"], prediction["tags"], strict=True)
    return " ".join(f"{w}/{t}" for w, t in pairs)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit eval`` needs nothing more for a tagger."""


def evaluate_file(run: Any, path: str, args: argparse.Namespace) -> dict[str, float]:
    """Tag accuracy, loss and counts of a tagger run on a CoNLL-U file.

    Raises:
        ValueError: the file has a tag the run was not trained with (naming the line).
    """
    config = run_config_of(run, RunConfig)
    data = config.data
    sentences = read_conllu(path)
    batches = PaddedBatches(
        [run.vocab.encode(_words(s.words, data)) for s in sentences],
        step_targets=_tag_ids(sentences, run.model.class_names(), data, path),
        batch_size=64,
        pad_id=0,
    )
    sums = evaluate_batches(run.model, batches)
    words = sum(len(s) for s in sentences)
    unknown = sum(
        1 for s in sentences for w in _words(s.words, data) if w not in run.vocab.stoi
    )
    right, count = sums["accuracy"]
    return {
        "accuracy": right / count,
        "loss": sums["loss"][0] / sums["loss"][1],
        "sentences": float(len(sentences)),
        "words": float(words),
        "unknown_words": float(unknown),
    }


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="rnnkit train tag", description=HELP)
    add_train_arguments(parser)
    sys.exit(train(parser.parse_args()))
