"""What the IMDB benchmarks (``imdb-bilstm``, ``imdb-lstm``) share: reading and tokenising the
reviews, the vocabulary, the batches, and training one classifier to its test accuracy.

The data is the Large Movie Review Dataset (Maas et al. 2011) as one TSV file with the header
``split  label  text`` (no quoting): the official 25,000 training and 25,000 test reviews,
half ``pos`` and half ``neg`` in each. A review is lower-cased, its ``<br />`` tags become
spaces, and it is split into words (inner apostrophes kept: ``don't``) and single punctuation
marks (:func:`tokenize_review`). The vocabulary holds the ``max_vocab`` most frequent words
of the training reviews seen at least ``min_freq`` times; every other word is ``<unk>``. A
seeded ``valid_fraction`` of the training reviews is held out: the trainer evaluates it after
every epoch, keeps the checkpoint of best validation accuracy and stops early; the test
reviews are scored once, with that checkpoint. Long reviews keep their last (or first)
``max_tokens`` tokens.

The word embeddings start from ``U(-0.1, 0.1)`` (:func:`uniform_embedding`), not torch's
``N(0, 1)``. Variable lengths. A batch is padded to its longest review and the model gets the true
``lengths``: the recurrent layer then takes each review's final state at its true end, and
the backward direction starts there -- what ``pack_padded_sequence`` gives. In training on
the CPU the layer does this on its loop path, which masks the state past each end: it trains
a BiLSTM ~5-12 times faster at 200 steps than torch's packed kernel, whose backward pass
costs time quadratic in the length (see ``RecurrentLayer._packed_is_slow``); evaluation
keeps the packed kernel. Both give the same numbers (tested). Training also flushes
subnormal floats to zero: the gradient that reaches the early steps of a long review through
a final state shrinks into the subnormal range, where this CPU's matrix products run ~15
times slower.

Example:
    >>> tokenize_review("Great film!<br /><br />I'd see it AGAIN...")
    ['great', 'film', '!', "i'd", 'see', 'it', 'again', '.', '.', '.']
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import Batch
from rnnkit.data.tables import read_columns
from rnnkit.data.vocab import Vocabulary
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.recipes.common import RecipeContext, fmt, resolve_data
from rnnkit.tasks.common import ExampleBatches, split_indices
from rnnkit.train import Trainer
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.checkpoint import load_model_state, read_checkpoint
from rnnkit.train.metrics import read_metrics
from rnnkit.train.trainer import check_precision

__all__ = [
    "CLASSES",
    "DATASET",
    "FILENAME",
    "ImdbData",
    "ImdbSettings",
    "WithoutLengths",
    "build_model",
    "cpu_settings",
    "load_imdb",
    "make_batches",
    "read_imdb",
    "report_model",
    "tokenize_review",
    "train_and_test",
    "uniform_embedding",
    "update_text",
]

DATASET = "imdb"
FILENAME = "imdb.tsv"
#: The labels, in class-id order.
CLASSES = ("neg", "pos")
SPLITS = ("train", "test")

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
# a word (letters, digits, inner apostrophes) or any single other visible character
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize_review(text: str) -> list[str]:
    """Lower-case ``text``, turn ``<br />`` tags into spaces, split words and punctuation.

    Example:
        >>> tokenize_review("It's GOOD.<br />10/10")
        ["it's", 'good', '.', '10', '/', '10']
    """
    return _TOKEN.findall(_BREAK.sub(" ", text.lower()))


@dataclass
class ImdbSettings:
    """Data, model-size and training settings both IMDB benchmarks have."""

    limit: int = 0  # reviews per split and label read (0 = all; the reduced runs)
    max_vocab: int = 25_000  # vocabulary size, <pad> and <unk> included
    min_freq: int = 2  # rarer training words become <unk>
    max_tokens: int = 400  # tokens kept of a longer review (0 = all)
    keep: str = "last"  # which tokens of a long review are kept: last | first
    valid_fraction: float = 0.1  # share of the training reviews held out for validation
    embedding_dim: int = 100  # D: size of each word's embedding
    embedding_init: float = 0.1  # embeddings start U(-a, a) (0: torch's N(0, 1))
    hidden_size: int = 256  # H: units per layer and direction
    batch_size: int = 64  # B: reviews per training batch
    eval_batch_size: int = 256  # reviews per validation and test batch
    bucket: bool = True  # train on batches of reviews of similar length (less padding)
    lr: float = 1e-3  # Adam's learning rate
    schedule: str = "constant"  # constant | cosine (to lr / 100 at max_epochs)
    clip_norm: float = 1.0  # gradient clipping by global norm (0 = off)
    max_epochs: int = 5  # passes over the training reviews (per model)
    patience: int = 2  # epochs without a better validation accuracy before stopping (0 = off)
    max_time: float = 0.0  # seconds of training per model at most (0 = no limit)
    evals_per_epoch: int = 1  # validation passes per epoch (patience counts them)
    precision: str = "fp32"  # training forward pass: fp32 | bf16 (autocast; evaluation fp32)
    force_loop: bool = False  # the loop path in evaluation too (training on the CPU uses it)
    threads: int = 0  # torch CPU threads (0 = torch's default: one per core)

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"Setting `schedule` must be 'constant' or 'cosine', got "
                             f"{self.schedule!r}.")
        _check_evals_per_epoch(self.evals_per_epoch, "Setting")
        if self.keep not in ("last", "first"):
            raise ValueError(f"Setting `keep` must be 'last' or 'first', got {self.keep!r}.")
        if not 0.0 < self.valid_fraction < 0.5:
            raise ValueError(
                f"Setting `valid_fraction` must be in (0, 0.5), got {self.valid_fraction!r}."
            )


def _check_evals_per_epoch(value: Any, kind: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{kind} `evals_per_epoch` must be an integer >= 1, got {value!r}.")


@dataclass
class ImdbData:
    """The reviews as ids: training, validation and test parts, and the vocabulary.

    Attributes:
        vocab: the word vocabulary (``<pad>`` = 0, ``<unk>`` = 1), from the training part.
        ids: split -> one id list per review (``train``, ``valid``, ``test``), cut to
            ``max_tokens``.
        labels: split -> class ids (``0 = neg``, ``1 = pos``).
        full_lengths: split -> token counts before cutting.
    """

    vocab: Vocabulary
    ids: dict[str, list[list[int]]]
    labels: dict[str, list[int]]
    full_lengths: dict[str, np.ndarray]

    def describe(self) -> str:
        """One line: reviews per part, vocabulary, lengths and the share that was cut."""
        train = self.full_lengths["train"]
        cut = float(np.mean([len(s) < n for s, n in zip(self.ids["train"], train, strict=True)]))
        return (
            f"{len(self.ids['train']):,} training, {len(self.ids['valid']):,} validation and "
            f"{len(self.ids['test']):,} test reviews; {len(self.vocab):,} words in the "
            f"vocabulary; training reviews {int(np.median(train))} tokens at the median, "
            f"{int(np.percentile(train, 90))} at the 90th percentile, {100 * cut:.0f}% cut."
        )


def read_imdb(path: str | Path, limit: int = 0, seed: int = 0) -> dict[str, tuple[list[str],
                                                                                   list[int]]]:
    """The reviews of the IMDB TSV file: split -> (texts, class ids).

    Args:
        path: the file (``.gz`` is decompressed), header ``split  label  text``.
        limit: keep at most this many reviews per split and label, drawn with ``seed``
            (0 = all, in file order).
        seed: seeds the draw.

    Raises:
        ValueError: a split other than ``train``/``test``, a label other than ``neg``/``pos``
            (naming the line), or a split missing.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     p = Path(tmp) / "imdb.tsv"
        ...     _ = p.write_text("split\\tlabel\\ttext\\ntrain\\tpos\\tFun\\ntrain\\tneg\\tDull\\n"
        ...                      "test\\tneg\\tBad\\n")
        ...     read_imdb(p)
        {'train': (['Fun', 'Dull'], [1, 0]), 'test': (['Bad'], [0])}
    """
    data = read_columns(path, ["split", "label", "text"], format="tsv")
    out: dict[str, tuple[list[str], list[int]]] = {s: ([], []) for s in SPLITS}
    for split, label, text, line in zip(*data.values, data.line_numbers, strict=True):
        if split not in out:
            raise ValueError(
                f"IMDB file {str(path)!r} line {line} has the split {split!r}; expected one of "
                f"{list(SPLITS)}."
            )
        if label not in CLASSES:
            raise ValueError(
                f"IMDB file {str(path)!r} line {line} has the label {label!r}; expected one of "
                f"{list(CLASSES)}."
            )
        out[split][0].append(text)
        out[split][1].append(CLASSES.index(label))
    for split, (texts, _) in out.items():
        if not texts:
            raise ValueError(f"IMDB file {str(path)!r} has no {split!r} reviews; expected both "
                             f"splits {list(SPLITS)}.")
    if limit:
        rng = np.random.default_rng(seed)
        for split, (texts, labels) in out.items():
            y = np.asarray(labels)
            keep = np.sort(np.concatenate([
                rng.permutation(np.flatnonzero(y == c))[:limit] for c in range(len(CLASSES))
            ]))
            out[split] = ([texts[i] for i in keep], [labels[i] for i in keep])
    return out


def load_imdb(ctx: RecipeContext, settings: ImdbSettings) -> ImdbData:
    """Read, tokenise, split and encode the reviews as ``settings`` say (see the module)."""
    path = resolve_data(ctx, DATASET, FILENAME)
    raw = read_imdb(path, settings.limit, ctx.seed)
    tokens = {split: [tokenize_review(t) for t in texts] for split, (texts, _) in raw.items()}
    labels = {split: list(y) for split, (_, y) in raw.items()}
    train_idx, valid_idx = split_indices(len(tokens["train"]), settings.valid_fraction, ctx.seed)
    parts = {
        "train": [tokens["train"][i] for i in train_idx],
        "valid": [tokens["train"][i] for i in valid_idx],
        "test": tokens["test"],
    }
    part_labels = {
        "train": [labels["train"][i] for i in train_idx],
        "valid": [labels["train"][i] for i in valid_idx],
        "test": labels["test"],
    }
    vocab = Vocabulary.build(parts["train"], level="word", specials=("<pad>", "<unk>"),
                             max_size=settings.max_vocab, min_freq=settings.min_freq)
    n = settings.max_tokens
    ids = {}
    for split, texts in parts.items():
        # an empty review (none in IMDB) would be one <unk>, so no sequence is empty
        cut = [(t[-n:] if settings.keep == "last" else t[:n]) if n else t for t in texts]
        ids[split] = [vocab.encode(t) if t else [vocab.stoi["<unk>"]] for t in cut]
    full = {split: np.array([len(t) for t in texts]) for split, texts in parts.items()}
    return ImdbData(vocab=vocab, ids=ids, labels=part_labels, full_lengths=full)


def make_batches(data: ImdbData, settings: ImdbSettings, seed: int) -> dict[str, ExampleBatches]:
    """Batch sources of the three parts.

    Training batches are reshuffled every epoch (and bucketed by length when
    ``settings.bucket``); without bucketing, validation and test batches are one fixed
    shuffle too, so every part is padded alike; with it they are sorted by length.
    """
    out = {}
    for split in ("train", "valid", "test"):
        ids = data.ids[split]
        train = split == "train"
        size = settings.batch_size if train else settings.eval_batch_size
        bucket = None
        if settings.bucket:
            bucket = size * 16 if train else size * math.ceil(len(ids) / size)
        out[split] = ExampleBatches(ids, labels=data.labels[split], batch_size=size, pad_id=0,
                                    shuffle=train or not settings.bucket, bucket_size=bucket,
                                    seed=seed)
    return out


class WithoutLengths:
    """A batch source whose batches carry no ``lengths``: the model reads every padded step.

    With post-padding, a model given no lengths takes its "final" state after the padding of
    every review shorter than the batch's longest -- the classic mistake the ``imdb-lstm``
    ladder starts from.

    Args:
        source: the batch source to strip (``__iter__``, ``__len__``, ``set_epoch``,
            ``iter_from``).

    Example:
        >>> batches = WithoutLengths(ExampleBatches([[1, 2], [3]], labels=[0, 1], batch_size=2))
        >>> batch = next(iter(batches))
        >>> batch.inputs.tolist(), batch.lengths, batch.num_tokens
        ([[1, 2], [3, 0]], None, 2)
    """

    def __init__(self, source: ExampleBatches) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration yields (as the wrapped source)."""
        self.source.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Batch]:
        """The wrapped source's batches from number ``start`` on, without ``lengths``."""
        for batch in self.source.iter_from(start):
            yield Batch(inputs=batch.inputs, targets=batch.targets, lengths=None,
                        num_tokens=batch.num_tokens)


def build_model(
    data: ImdbData, settings: ImdbSettings, *, bidirectional: bool = False, num_layers: int = 1,
    dropout: float = 0.0, embedding_dropout: float = 0.0, pooling: str = "last",
) -> SequenceClassifier:
    """A two-class LSTM classifier over the vocabulary, sized by ``settings``."""
    model = SequenceClassifier(
        len(CLASSES), vocab_size=len(data.vocab), embedding_dim=settings.embedding_dim,
        hidden_size=settings.hidden_size, num_layers=num_layers, cell="lstm",
        bidirectional=bidirectional, dropout=dropout, embedding_dropout=embedding_dropout,
        pooling=pooling, labels=list(CLASSES), pad_id=0,
        options={"force_loop": True} if settings.force_loop else None,
    )
    uniform_embedding(model, settings.embedding_init)
    return model


def uniform_embedding(model: SequenceClassifier, scale: float) -> None:
    """Draw the word embeddings from ``U(-scale, scale)`` (``<pad>`` stays zero); nothing
    for ``scale`` 0.

    torch's ``N(0, 1)`` default puts each word at a norm of ``sqrt(D)``, far beyond the
    LSTM's input weights' ``1 / sqrt(H)``: the gates saturate, and on the small
    rt-polarity folds the model learns slower and generalises worse (Kim 2014 drew the
    vectors of unseen words from ``U(-0.25, 0.25)``).

    Example:
        >>> model = SequenceClassifier(2, vocab_size=5, embedding_dim=3, hidden_size=2)
        >>> uniform_embedding(model, 0.1)
        >>> bool(model.embedding.weight.abs().max() <= 0.1), model.embedding.weight[0].tolist()
        (True, [0.0, 0.0, 0.0])
    """
    if not scale:
        return
    embedding = model.embedding
    if embedding is None:
        raise ValueError("Argument `model` must read tokens (an embedding) for `scale` > 0.")
    with torch.no_grad():
        embedding.weight.uniform_(-scale, scale)
        if embedding.padding_idx is not None:
            embedding.weight[embedding.padding_idx] = 0.0


@contextlib.contextmanager
def cpu_settings(threads: int) -> Iterator[None]:
    """Inside the block: ``threads`` torch threads (0 = unchanged) and subnormal floats
    flushed to zero (see the module docstring); both restored after."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    flushing = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flushing:
            torch.set_flush_denormal(False)
        torch.set_num_threads(before)


def train_and_test(
    ctx: RecipeContext,
    name: str,
    model: SequenceClassifier,
    batches: dict[str, Any],
    settings: Any,
    *,
    keep_checkpoints: bool = True,
    evals_per_epoch: int = 1,
    schedule: str = "constant",
) -> dict[str, Any]:
    """Train ``model`` with the trainer in ``RUN/name``, pick the epoch of best validation
    accuracy, score that checkpoint on the test part (the ``rt-polarity`` folds use it too).

    Args:
        ctx: the recipe's context.
        name: the sub-directory of the run (checkpoints, ``metrics.csv``, plots).
        model: the classifier.
        batches: ``train``, ``valid`` and ``test`` batch sources.
        settings: the training settings: ``lr``, ``clip_norm``, ``max_epochs``, ``max_time``,
            ``patience`` and ``precision`` as in :class:`ImdbSettings`.
        keep_checkpoints: leave the last and best checkpoints in ``RUN/name``; else delete
            them once the test part is scored (``metrics.csv``, the plots and
            ``summary.json`` stay).
        evals_per_epoch: validate this many times per epoch, evenly spaced (the last at the
            epoch's end when the steps divide evenly); the best of all these is tested, and
            ``patience`` counts them. A model without regularisation can peak and start
            overfitting inside its second epoch.
        schedule: the learning rate over the run: ``constant``, or ``cosine`` from ``lr``
            down to ``lr / 100`` at ``max_epochs``.

    Returns:
        ``{"test_accuracy", "valid_accuracy" (best), "best_epoch", "epochs", "steps",
        "stopped_by", "train_seconds", "test_seconds", "parameters", "curve": [(epoch,
        validation accuracy, training loss), ...]}``.

    Raises:
        ValueError: ``evals_per_epoch`` below 1, or a ``schedule`` the trainer lacks.
    """
    _check_evals_per_epoch(evals_per_epoch, "Argument")
    per_epoch = len(batches["train"])
    eval_every = 0 if evals_per_epoch == 1 else max(1, math.ceil(per_epoch / evals_per_epoch))
    config = TrainConfig(
        eval_every=eval_every, optimizer="adam", lr=settings.lr,
        schedule=schedule, min_lr=settings.lr / 100,
        clip_norm=settings.clip_norm,
        max_epochs=settings.max_epochs, max_time=settings.max_time, metric="accuracy",
        mode="max", patience=settings.patience, seed=ctx.seed, log_every=10, device="cpu",
        progress=True, precision=settings.precision,
    )
    run_dir = ctx.run_dir / name
    torch.manual_seed(ctx.seed)
    trainer = Trainer(model, batches["train"], config, run_dir, val_data=batches["valid"],
                      model_name="sequence_classifier", overwrite=True)
    summary = trainer.fit()
    if (run_dir / "best" / "model.safetensors").is_file():
        load_model_state(model, read_checkpoint(run_dir / "best").model_state)
    start = time.perf_counter()
    test = trainer.evaluate(batches["test"])
    test_seconds = time.perf_counter() - start
    curve = _validation_curve(run_dir / "metrics.csv")
    if not keep_checkpoints:
        shutil.rmtree(run_dir / "best", ignore_errors=True)
        for filename in ckpt.FILES:
            (run_dir / filename).unlink(missing_ok=True)
    best = max(range(len(curve)), key=lambda k: curve[k][1]) if curve else 0
    return {
        "test_accuracy": float(test["accuracy"]),
        "valid_accuracy": float(summary.best_metric) if summary.best_metric is not None
        else math.nan,
        "best_epoch": curve[best][0] if curve else math.nan,
        "epochs": summary.epochs,
        "steps": summary.steps,
        "stopped_by": summary.stopped_by,
        "train_seconds": summary.wall_time,
        "test_seconds": test_seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
        "curve": curve,
    }


def _validation_curve(path: Path) -> list[tuple[float, float, float]]:
    """``(epoch, validation accuracy, mean training loss logged since the evaluation
    before)`` per evaluation of a run's ``metrics.csv``."""
    curve, losses = [], []
    for row in read_metrics(path):
        if row["split"] == "train":
            losses.append(float(row["loss"]))
        elif row["split"] == "val":
            mean_loss = float(np.mean(losses)) if losses else math.nan
            curve.append((float(row["epoch"]), float(row["accuracy"]), mean_loss))
            losses = []
    return curve


def update_text(settings: ImdbSettings) -> str:
    """The update rule in words: ``"Adam 0.001"``, ``"Adam 0.001 cosine to 1e-05"``, each
    followed by ``", trained in bf16 autocast"`` for that precision."""
    cosine = f" cosine to {settings.lr / 100:g}" if settings.schedule == "cosine" else ""
    bf16 = ", trained in bf16 autocast" if settings.precision == "bf16" else ""
    return f"Adam {settings.lr:g}{cosine}{bf16}"


def report_model(ctx: RecipeContext, label: str, out: dict[str, Any]) -> None:
    """Print a trained model's epochs, validation curve and test accuracy."""
    curve = ", ".join(f"{fmt(acc, 3)} ({epoch:g})" for epoch, acc, _ in out["curve"])
    ctx.say(f"  {label}: {out['steps']} steps, {out['epochs']} epoch(s) in "
            f"{out['train_seconds'] / 60:.1f} min (stopped by {out['stopped_by']}); validation "
            f"accuracy (at epoch) {curve}; best at epoch {out['best_epoch']:g} -> test "
            f"accuracy {fmt(out['test_accuracy'], 4)}")
