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

Character features (``--model.char_features lstm`` or ``cnn``) add to each word's embedding a
vector read from its characters, in their original case even with ``--data.lowercase`` (the
capital of a proper noun is a clue the lower-cased word vocabulary drops). The character
vocabulary is that of the training words and is saved with the model. Word dropout
(``--data.word_dropout ALPHA``) replaces a training word seen ``n`` times by ``<unk>`` with
probability ``ALPHA / (ALPHA + n)``, drawn anew each epoch (Kiperwasser and Goldberg, 2016):
rare words are the ones dropped, so the model learns what ``<unk>`` plus the characters
means, which is what it meets on words it never saw.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import Batch, PaddedBatches
from rnnkit.data.conllu import Sentence, read_conllu
from rnnkit.data.vocab import Vocabulary
from rnnkit.models.tagger import CHAR_SPECIALS, SequenceTagger
from rnnkit.tasks.classify import SPECIALS
from rnnkit.tasks.common import (
    EVAL_FILE,
    TRAIN_FILE,
    VALID_FILE,
    accuracy_train_config,
    add_common_train_arguments,
    as_options,
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
from rnnkit.train import TrainSummary, seed_everything

__all__ = [
    "HELP",
    "RunConfig",
    "TagData",
    "TagModel",
    "WordDropoutBatches",
    "encode_sentences",
    "fit_tagger",
    "tag_sentences",
]

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
    word_dropout: float = 0.0  # alpha: a word seen n times is <unk> w.p. alpha/(alpha+n) (0 = off)
    seed: int = 0  # seeds the split, the batch order and the word dropout


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
    char_features: Literal["none", "lstm", "cnn"] = "none"  # word vectors from characters too
    char_embedding_dim: int = 32  # size of each character's embedding
    char_hidden_size: int = 64  # character BiLSTM units per direction, or CNN filters
    max_word_length: int = 20  # characters kept per word (its first and last ones)


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
        if not 0.0 <= self.data.word_dropout < float("inf"):
            raise ValueError(
                "Option `data.word_dropout` expects a float >= 0 (alpha of "
                f"alpha / (alpha + count)), got {self.data.word_dropout!r}."
            )


def _words(words: Sequence[str], data: TagData) -> list[str]:
    return [w.lower() for w in words] if data.lowercase else list(words)


def _tag_ids(
    sentences: Sequence[Sentence], tags: Sequence[str], data: TagData, where: str
) -> list[list[int]]:
    """Each sentence's tags as ids; ``where`` names the file in messages (name and path)."""
    index = {tag: i for i, tag in enumerate(tags)}
    out = []
    for sentence in sentences:
        row = []
        for position, tag in enumerate(getattr(sentence, data.tags)):
            if tag not in index:
                raise ValueError(
                    f"{where} sentence at line {sentence.line} has the "
                    f"{data.tags.upper()} tag {tag!r} (word {position + 1}), which is not one of "
                    f"the {len(tags)} tags the model knows: {list(tags)}."
                )
            row.append(index[tag])
        out.append(row)
    return out


class WordDropoutBatches(PaddedBatches):
    """:class:`~rnnkit.data.batching.PaddedBatches` that replace words by ``<unk>`` at random.

    Each word id ``w`` of a batch (column 0 of ``[T, 1 + W]`` character rows) becomes
    ``unk_id`` with probability ``drop[w]``, drawn anew for every epoch but the same for a
    given epoch, seed and batch, so a resumed run sees the batches an uninterrupted one sees.

    Args:
        sequences: as :class:`PaddedBatches` (word ids, or rows of word and character ids).
        drop: ``[V]`` probabilities, one per word id (0 for the specials).
        unk_id: the id a dropped word becomes.
        **kwargs: the other arguments of :class:`PaddedBatches`.

    Raises:
        ValueError: ``drop`` not a 1-D array of probabilities in [0, 1].

    Example:
        >>> data = WordDropoutBatches([[2, 3, 3]], drop=np.array([0.0, 0.0, 1.0, 0.0]),
        ...                           unk_id=1, step_targets=[[0, 1, 1]], batch_size=1)
        >>> next(iter(data)).inputs.tolist()
        [[1, 3, 3]]
    """

    def __init__(
        self, sequences: Sequence[Any], *, drop: np.ndarray, unk_id: int, **kwargs: Any
    ) -> None:
        super().__init__(sequences, **kwargs)
        drop = np.asarray(drop, dtype=np.float64)
        if drop.ndim != 1 or drop.size == 0 or not ((drop >= 0) & (drop <= 1)).all():
            raise ValueError(
                "Argument `drop` must be a 1-D array of probabilities in [0, 1], one per word "
                f"id; got shape {drop.shape} with values from {drop.min(initial=0):g} to "
                f"{drop.max(initial=0):g}."
            )
        self.drop = torch.from_numpy(drop)
        self.unk_id = int(unk_id)

    def make_batch(self, index: Sequence[int] | np.ndarray) -> Batch:
        """Pad the sequences ``index`` into one batch, some of its words dropped."""
        batch = super().make_batch(index)
        words = batch.inputs[..., 0] if batch.inputs.dim() == 3 else batch.inputs
        rng = np.random.default_rng([self.seed, self.epoch, *np.asarray(index).tolist()])
        dropped = torch.from_numpy(rng.random(tuple(words.shape))) < self.drop[words]
        words.masked_fill_(dropped, self.unk_id)  # a view of batch.inputs: changes it
        return batch


def _read(config: RunConfig) -> tuple[list[Sentence], list[Sentence], str]:
    """The training and validation sentences (split off the training file without --valid),
    and how messages name the file the validation sentences came from."""
    data = config.data
    sentences = read_conllu(data.train, name=TRAIN_FILE)
    if data.valid:
        return sentences, read_conllu(data.valid, name=VALID_FILE), f"{VALID_FILE} {data.valid!r}"
    train_idx, valid_idx = split_indices(len(sentences), data.valid_fraction, data.seed)
    return ([sentences[i] for i in train_idx], [sentences[i] for i in valid_idx],
            f"{TRAIN_FILE} {data.train!r}")


def _build_model(
    config: RunConfig, sentences: Sequence[Sentence]
) -> tuple[SequenceTagger, Vocabulary, list[str]]:
    """The word vocabulary, the tag set, the character vocabulary (with char features) of the
    training sentences, and a fresh tagger for them."""
    data, m = config.data, config.model
    tags = sorted({t for s in sentences for t in getattr(s, data.tags)})
    vocab = Vocabulary.build(
        [_words(s.words, data) for s in sentences],
        level="word",
        specials=SPECIALS,
        max_size=data.max_vocab or None,
        min_freq=data.min_freq,
    )
    char_vocab = None
    if m.char_features != "none":
        char_vocab = Vocabulary.build(
            ["".join(s.words) for s in sentences], level="char", specials=CHAR_SPECIALS
        ).itos
    seed_everything(config.train.seed)  # the initial weights follow train.seed
    with as_options("model", m):
        model = SequenceTagger(
            len(tags),
            labels=tags,
            char_features=m.char_features,
            char_vocab=char_vocab,
            char_embedding_dim=m.char_embedding_dim,
            char_hidden_size=m.char_hidden_size,
            max_word_length=m.max_word_length,
            **token_head_arguments(m, vocab),
        )
    return model, vocab, tags


def encode_sentences(
    model: SequenceTagger, vocab: Vocabulary, sentences: Sequence[Sequence[str]], data: TagData
) -> list[np.ndarray]:
    """The model's input rows of each sentence (lists of words): word ids (of the lower-cased
    words with ``data.lowercase``), and the characters of the words as written when the
    tagger has character features (see :meth:`SequenceTagger.encode_words`)."""
    return [model.encode_words(vocab.encode(_words(words, data)), words) for words in sentences]


def _word_drop(vocab: Vocabulary, sentences: Sequence[Sentence], data: TagData) -> np.ndarray:
    """``alpha / (alpha + count)`` per word id; 0 for the specials and unseen ids."""
    counts = Counter(w for s in sentences for w in _words(s.words, data))
    alpha = data.word_dropout
    drop = np.zeros(len(vocab))
    for i, word in enumerate(vocab.itos):
        if word not in vocab.specials and counts[word]:
            drop[i] = alpha / (alpha + counts[word])
    return drop


def prepare_data(
    config: RunConfig,
) -> tuple[SequenceTagger, Vocabulary, list[str], PaddedBatches, PaddedBatches]:
    """Read, split, encode and batch the training and validation treebanks, and build the
    tagger they call for.

    Returns:
        ``(model, vocab, tags, train_batches, valid_batches)``.

    Raises:
        ValueError: as :func:`rnnkit.data.conllu.read_conllu`, or a validation tag not seen in
            training (naming the line).
    """
    data = config.data
    sentences, valid, valid_where = _read(config)
    model, vocab, tags = _build_model(config, sentences)
    common = {"batch_size": data.batch_size, "pad_id": 0, "max_length": data.max_length or None}
    train_inputs = encode_sentences(model, vocab, [s.words for s in sentences], data)
    train_options = {
        "step_targets": _tag_ids(sentences, tags, data, f"{TRAIN_FILE} {data.train!r}"),
        "shuffle": True,
        "bucket_size": data.bucket_size or None,
        "seed": data.seed,
        **common,
    }
    if data.word_dropout > 0:
        train: PaddedBatches = WordDropoutBatches(
            train_inputs, drop=_word_drop(vocab, sentences, data),
            unk_id=vocab.stoi["<unk>"], **train_options,
        )
    else:
        train = PaddedBatches(train_inputs, **train_options)
    valid_batches = PaddedBatches(
        encode_sentences(model, vocab, [s.words for s in valid], data),
        step_targets=_tag_ids(valid, tags, data, valid_where),
        **common,
    )
    return model, vocab, tags, train, valid_batches


def fit_tagger(
    config: RunConfig, *, run_dir: Path, resume: bool = False, overwrite: bool = False
) -> tuple[TrainSummary, SequenceTagger, Vocabulary]:
    """Train a tagger as ``config`` says; checkpoints go to ``run_dir``.

    Returns:
        The training summary, the trained model (last state, eval mode) and the vocabulary.
    """
    model, vocab, _, train_data, valid_data = prepare_data(config)
    m = config.model
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
    ids = encode_sentences(model, vocab, sentences, data)
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


def predict_tokens(run: Any, lines: list[str]) -> tuple[Vocabulary, list[list[str]]]:
    """The vocabulary :func:`predict_lines` encodes with, and each line's words as it looks
    them up (lower-cased if the run was trained so): ``rnnkit predict`` names those that
    become ``<unk>``."""
    data = run_config_of(run, RunConfig).data
    return run.vocab, [_words(line.split(), data) for line in lines]


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
    sentences = read_conllu(path, name=EVAL_FILE)
    batches = PaddedBatches(
        encode_sentences(run.model, run.vocab, [s.words for s in sentences], data),
        step_targets=_tag_ids(sentences, run.model.class_names(), data, f"{EVAL_FILE} {path!r}"),
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
