"""What the task modules share: run configuration and directories, ``rnnkit train`` options,
resuming, the training call, the evaluation loop and the summary line.

Every task module (:mod:`rnnkit.tasks.lm`, ``classify``, ``tag``, ``regress``, ``seq2seq``)
builds on these, so that a run is set up, resumed, trained and reported the same way
whatever its model shape.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from rnnkit.config import (
    TrainConfig,
    add_config_arguments,
    apply_overrides,
    config_from_args,
    config_from_dict,
)
from rnnkit.data.batching import Batch, PaddedBatches
from rnnkit.data.vocab import Vocabulary
from rnnkit.train import Trainer, TrainSummary, has_checkpoint
from rnnkit.train.distributed import is_main_process

__all__ = [
    "EVAL_FILE",
    "TRAIN_FILE",
    "VALID_FILE",
    "ExampleBatches",
    "accuracy_train_config",
    "add_common_train_arguments",
    "add_run_arguments",
    "as_options",
    "check_data_section",
    "check_open_valid_fraction",
    "check_resumed_vocab",
    "check_task",
    "default_run_dir",
    "default_train_config",
    "evaluate_batches",
    "fit_model",
    "load_pretrained_embeddings",
    "resolve_run_config",
    "run_config_of",
    "split_indices",
    "summary_line",
    "token_head_arguments",
    "train_report",
    "train_task",
]

C = TypeVar("C")

#: The ``rnnkit train`` file options of the table, treebank, series and pairs tasks: the
#: argument's ``dest`` -> the data-section field it sets (the first one is required).
TRAIN_VALID_FILES: Mapping[str, str] = {"train_file": "train", "valid_file": "valid"}

#: How the tasks' messages name the file each option gave, before its path, so that an error
#: in a file says which option to change (``rnnkit train --train/--valid``, ``rnnkit eval``).
TRAIN_FILE = "Setting `data.train` (--train) file"
VALID_FILE = "Setting `data.valid` (--valid) file"
EVAL_FILE = "Argument `DATA` file"


@contextlib.contextmanager
def as_options(section: str, values: Any) -> Iterator[None]:
    """Inside the block, a ValueError that names a constructor argument the ``section`` of
    the run configuration sets (``Argument `hidden_size` ...``) names the option instead
    (``Option `model.hidden_size` ...``), so that a command's error says what to change.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Model:
        ...     hidden_size: int = 0
        >>> with as_options("model", Model()):
        ...     raise ValueError("Argument `hidden_size` must be a positive integer, got 0.")
        Traceback (most recent call last):
        ...
        ValueError: Option `model.hidden_size` must be a positive integer, got 0.
    """
    names = {f.name for f in dataclasses.fields(values)}
    try:
        yield
    except ValueError as err:
        message = str(err)
        renamed = re.sub(
            r"\bArgument `([A-Za-z_][A-Za-z0-9_]*)`",
            lambda m: f"Option `{section}.{m.group(1)}`" if m.group(1) in names else m.group(0),
            message,
        )
        if renamed == message:
            raise
        raise ValueError(renamed) from None


# -- run configuration -----------------------------------------------------------------------


def default_train_config(**overrides: Any) -> TrainConfig:
    """The training section the tasks start from: Adam at 2e-3, norm clipping at 1, 10 epochs.

    Example:
        >>> cfg = default_train_config(max_epochs=20)
        >>> cfg.lr, cfg.clip_norm, cfg.max_epochs, cfg.log_every
        (0.002, 1.0, 20, 10)
    """
    settings: dict[str, Any] = {"lr": 2e-3, "clip_norm": 1.0, "max_epochs": 10, "log_every": 10}
    settings.update(overrides)
    return TrainConfig(**settings)


def accuracy_train_config() -> TrainConfig:
    """:func:`default_train_config` keeping the checkpoint of best validation accuracy (the
    classify and tag tasks)."""
    return default_train_config(metric="accuracy", mode="max")


def check_task(task: str, expected: str, what: str) -> None:
    """Refuse a run configuration whose ``task`` field names another task.

    Args:
        task: the configuration's ``task``.
        expected: the task the configuration class is for.
        what: the kind of run, for the message (``"a tagging run"``).

    Raises:
        ValueError: ``task != expected``.

    Example:
        >>> check_task("tag", "classify", "a classification run")
        Traceback (most recent call last):
        ...
        ValueError: Option `task` must be 'classify' for a classification run, got 'tag'.
    """
    if task != expected:
        raise ValueError(f"Option `task` must be {expected!r} for {what}, got {task!r}.")


def check_data_section(data: Any) -> None:
    """Range checks shared by the data sections of the classify, tag and regress tasks.

    Raises:
        ValueError: a ``valid_fraction`` outside (0, 0.5] or a negative or zero size.
    """
    if not 0.0 < data.valid_fraction <= 0.5:
        raise ValueError(
            "Option `data.valid_fraction` expects a float in (0, 0.5], got "
            f"{data.valid_fraction!r}."
        )
    if data.batch_size < 1:
        raise ValueError(
            f"Option `data.batch_size` expects a positive integer, got {data.batch_size}."
        )
    for name in ("min_freq", "max_vocab", "max_length", "bucket_size"):
        if not hasattr(data, name):
            continue
        value = getattr(data, name)
        if value < 0 or (name == "min_freq" and value < 1):
            low = 1 if name == "min_freq" else 0
            raise ValueError(f"Option `data.{name}` expects an integer >= {low}, got {value}.")


def check_open_valid_fraction(value: float) -> None:
    """Refuse a ``data.valid_fraction`` outside (0, 0.5) (the lm and seq2seq tasks).

    Raises:
        ValueError: the fraction is not in the open interval.
    """
    if not 0.0 < value < 0.5:
        raise ValueError(
            f"Option `data.valid_fraction` expects a float in (0, 0.5), got {value!r}."
        )


def default_run_dir(prefix: str) -> Path:
    """``runs/PREFIX-YYYYmmdd-HHMMSS`` under the current directory."""
    return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_config_of(run: Any, cls: type[C]) -> C:
    """The run configuration a trained run was made with (``config.json`` → ``run``).

    Raises:
        ValueError: the run holds no run configuration of this kind.
    """
    saved = run.config.get("run")
    if not isinstance(saved, dict):
        raise ValueError(
            f"Run {str(run.directory)!r} holds no run configuration (config.json `run`)."
        )
    return config_from_dict(cls, saved)


# -- rnnkit train ----------------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """``--resume``, ``--overwrite`` and the options of the run configuration ``cls``."""
    parser.add_argument(
        "--resume", metavar="RUN", help="continue the run in RUN from its last checkpoint"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="start afresh in an --out that holds a run"
    )
    add_config_arguments(parser, cls)


def add_common_train_arguments(parser: argparse.ArgumentParser, cls: type, what: str) -> None:
    """``--train``, ``--valid``, ``--resume``, ``--overwrite`` and the run configuration."""
    parser.add_argument(
        "--train", dest="train_file", metavar="FILE", help=f"{what} to train on (= --data.train)"
    )
    parser.add_argument(
        "--valid", dest="valid_file", metavar="FILE", help=f"{what} to validate on (= --data.valid)"
    )
    add_run_arguments(parser, cls)


def resolve_run_config(
    cls: type[C],
    args: argparse.Namespace,
    task: str,
    *,
    kind: str | None = None,
    files: Mapping[str, str] = TRAIN_VALID_FILES,
    required: Mapping[str, str] | None = None,
    what: str = "the data to train on",
) -> tuple[C, Path]:
    """The run configuration and directory of ``rnnkit train TASK`` (resume included).

    Args:
        cls: the task's run configuration class.
        args: the parsed command line.
        task: the task's name (checked against a resumed run's, and the prefix of the default
            run directory).
        kind: what the messages call such a run (default: ``task``).
        files: argument ``dest`` -> data-section field it sets when given (its checks run
            again, as for any option).
        required: data-section field -> its metavar, for the fields of which one must be set
            (default: the first field of ``files``, a ``FILE``).
        what: what the required file holds, for the message.

    Raises:
        ValueError: ``--resume`` names a run of another task, or none of the required fields
            is given.
    """
    base: dict[str, Any] = {}
    resume = getattr(args, "resume", None)
    if resume:
        from rnnkit.train.checkpoint import read_checkpoint

        saved = read_checkpoint(Path(resume)).config.get("run")
        if not isinstance(saved, dict) or saved.get("task") != task:
            raise ValueError(f"Run {resume!r} is not a {kind or task} run; cannot resume it.")
        base = saved
    config: Any = config_from_args(cls, args, base=base)
    given = {f"data.{name}": getattr(args, dest) for dest, name in files.items()
             if getattr(args, dest, None)}
    if given:
        config = apply_overrides(config, given)
    needed = required or {next(iter(files.values())): "FILE"}
    if not any(getattr(config.data, name) for name in needed):
        options = " or ".join(f"`--{name} {metavar}`" for name, metavar in needed.items())
        raise ValueError(f"Option {options} is required: {what}.")
    run_dir = Path(resume) if resume else Path(config.out or default_run_dir(task))
    config.out = str(run_dir)
    return config, run_dir


def train_task(
    args: argparse.Namespace,
    cls: type,
    task: str,
    fit: Callable[..., tuple[Any, ...]],
    *,
    sort_metrics: bool = False,
    report: Callable[[TrainSummary, Path], str] | None = None,
    **resolve: Any,
) -> int:
    """Run ``rnnkit train TASK``: resolve the configuration, seed, ``fit`` it, print the summary.

    Every task's ``fit`` seeds the generators with ``train.seed`` just before it builds the
    model (the trainer seeds its loop again), so the seed fixes the initial weights as well
    as the training: two runs of one command -- or of ``rnnkit demo``, or of a recipe that
    calls a task's ``fit`` -- end with the same weights. A resumed run loads its weights and
    generator states over these.

    Args:
        args: the parsed command line.
        cls, task: as :func:`resolve_run_config` (``resolve`` holds its further arguments).
        fit: ``fit(config, run_dir=, resume=, overwrite=)`` returning the training summary
            first.
        sort_metrics: show the validation metrics in name order (see :func:`summary_line`).
        report: the summary line, ``report(summary, run_dir)`` (default: :func:`summary_line`).

    Returns:
        0, the command's exit status.
    """
    config, run_dir = resolve_run_config(cls, args, task, **resolve)
    if not args.resume and not args.overwrite and has_checkpoint(run_dir):
        raise FileExistsError(
            f"Option `--out` directory {str(run_dir)!r} already holds a checkpoint; continue "
            f"it with --resume {str(run_dir)!r}, start over with --overwrite, or choose "
            "another --out."
        )
    summary = fit(config, run_dir=run_dir, resume=bool(args.resume), overwrite=args.overwrite)[0]
    if is_main_process():  # under torchrun every rank gets here; one line is enough
        line = report(summary, run_dir) if report else summary_line(
            summary, run_dir, sort_metrics=sort_metrics
        )
        print(line)
    return 0


def check_resumed_vocab(
    run_dir: Path,
    vocab: Vocabulary,
    resume: bool,
    *,
    given: str = "The data given",
    verb: str = "has",
    hint: str = "--train file and data options",
) -> None:
    """When resuming, refuse data whose vocabulary differs from the one the run was trained on.

    Args:
        run_dir: the run being resumed.
        vocab: the vocabulary the data gives now.
        resume: whether this is a resumed run (nothing is checked otherwise).
        given: what was given, for the message (``"The corpus given"``).
        verb: ``"has"``, or ``"have"`` after a plural ``given``.
        hint: what to resume with, for the message.

    Raises:
        ValueError: the vocabularies differ.
    """
    if not resume:
        return
    from rnnkit.train.checkpoint import read_checkpoint

    saved = read_checkpoint(run_dir).config.get("vocab")
    if saved is not None and Vocabulary.from_dict(saved).itos != vocab.itos:
        raise ValueError(
            f"{given} to resume {str(run_dir)!r} {verb} another vocabulary than the run was "
            f"trained with; resume with the same {hint}."
        )


def token_head_arguments(m: Any, vocab: Vocabulary) -> dict[str, Any]:
    """The keyword arguments of a token-input head (classifier, tagger) from a model section.

    With a word-vector file (``m.embeddings``) the section's ``embedding_dim`` is first set
    to the file's vector size. Padding is id 0.
    """
    if m.embeddings:
        from rnnkit.models.embeddings import vector_dim

        m.embedding_dim = vector_dim(m.embeddings)
    return {
        "vocab_size": len(vocab),
        "embedding_dim": m.embedding_dim,
        "hidden_size": m.hidden_size,
        "num_layers": m.num_layers,
        "cell": m.cell,
        "bidirectional": m.bidirectional,
        "dropout": m.dropout,
        "pad_id": 0,
        "freeze_embedding": m.freeze_embeddings,
        "options": m.options,
    }


def load_pretrained_embeddings(model: nn.Module, vocab: Vocabulary, m: Any, resume: bool) -> None:
    """Start ``model.embedding`` from the word-vector file ``m.embeddings`` (a fresh run only).

    Prints what was loaded to standard error; does nothing without a file, when resuming or
    for a model without an embedding.
    """
    embedding = getattr(model, "embedding", None)
    if m.embeddings and not resume and embedding is not None:
        from rnnkit.models.embeddings import load_embeddings

        loaded = load_embeddings(embedding.weight, vocab, m.embeddings)
        print(f"embeddings: {loaded}", file=sys.stderr)


def fit_model(
    model: nn.Module,
    train_data: Any,
    valid_data: Any,
    config: Any,
    run_dir: Path,
    model_name: str,
    *,
    vocab: Any = None,
    resume: bool = False,
    overwrite: bool = False,
) -> TrainSummary:
    """Train ``model`` with :class:`rnnkit.train.Trainer` as the run ``config`` says.

    The model is left in eval mode; ``vocab`` (a vocabulary or its JSON entry) and ``config``
    go into the checkpoints.

    Returns:
        The training summary.
    """
    trainer = Trainer(
        model,
        train_data,
        config.train,
        run_dir,
        val_data=valid_data,
        model_name=model_name,
        vocab=vocab,
        run_config=config,
        resume_from=run_dir if resume else None,
        overwrite=overwrite,
    )
    summary = trainer.fit()
    model.eval()
    return summary


def train_report(summary: TrainSummary, run_dir: Path, scores: str) -> str:
    """``trained N steps in S s{scores}; run directory: DIR``, the end of ``rnnkit train``."""
    return (
        f"trained {summary.steps} steps in {summary.wall_time:.0f} s"
        f"{scores}; run directory: {run_dir}"
    )


def summary_line(summary: TrainSummary, run_dir: Path, *, sort_metrics: bool = False) -> str:
    """What ``rnnkit train`` prints at the end: steps, time, validation scores, directory."""
    items = summary.val_metrics.items()
    shown = ", ".join(f"{k} {v:.4f}" for k, v in (sorted(items) if sort_metrics else items))
    return train_report(summary, run_dir, "; validation: " + shown if shown else "")


# -- data and evaluation ---------------------------------------------------------------------


class ExampleBatches(PaddedBatches):
    """:class:`~rnnkit.data.batching.PaddedBatches` whose batches count examples, not steps.

    A many-to-one loss is a mean over sequences, so the trainer must weigh each batch by its
    number of sequences (``Batch.num_tokens = B``, one per row) when it averages losses over
    batches, and each data-parallel rank by the sequences of its rows; otherwise long texts
    would count more than short ones.

    Example:
        >>> batch = next(iter(ExampleBatches([[1, 2, 3], [4]], labels=[0, 1], batch_size=2)))
        >>> batch.num_tokens, batch.row_tokens.tolist(), batch.lengths.tolist()
        (2, [1, 1], [3, 1])
    """

    def make_batch(self, index: Sequence[int] | np.ndarray) -> Batch:
        """Pad the sequences ``index`` into one batch weighted by its size."""
        batch = super().make_batch(index)
        ones = torch.ones(batch.batch_size, dtype=torch.long)
        return dataclasses.replace(batch, num_tokens=0, row_tokens=ones)


def split_indices(count: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle ``range(count)`` with ``seed`` and hold out ``fraction`` (at least one item).

    Returns:
        ``(train, valid)`` index arrays, each sorted.

    Raises:
        ValueError: fewer than two items.

    Example:
        >>> [a.tolist() for a in split_indices(5, 0.2, seed=0)]
        [[0, 1, 3, 4], [2]]
    """
    if count < 2:
        raise ValueError(
            f"Cannot hold out validation data from {count} example(s); give --valid FILE or more "
            "training data."
        )
    order = np.random.default_rng(seed).permutation(count)
    n_valid = min(count - 1, max(1, round(count * fraction)))
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def evaluate_batches(
    model: nn.Module, batches: Any, *, metrics: bool = True
) -> dict[str, tuple[float, float]]:
    """Loss and ``model.metrics`` sums over every batch, in eval mode, without gradients.

    Args:
        model: a head with ``forward(inputs, targets, lengths) -> (outputs, loss)`` and (when
            ``metrics``) ``metrics(outputs, batch)``.
        batches: the batch source.
        metrics: add up ``model.metrics`` too (else the loss only).

    Returns:
        ``{"loss": (sum of loss × Batch.num_tokens, sum of num_tokens), metric: (sum,
        count), ...}``.
    """
    model.eval()
    sums: dict[str, list[float]] = {"loss": [0.0, 0.0]}
    with torch.inference_mode():
        for batch in batches:
            outputs, loss = model(batch.inputs, batch.targets, batch.lengths)
            sums["loss"][0] += float(loss) * batch.num_tokens
            sums["loss"][1] += batch.num_tokens
            if not metrics:
                continue
            for name, (s, c) in model.metrics(outputs, batch).items():  # type: ignore[operator]
                pair = sums.setdefault(name, [0.0, 0.0])
                pair[0] += s
                pair[1] += c
    return {name: (s, c) for name, (s, c) in sums.items()}
