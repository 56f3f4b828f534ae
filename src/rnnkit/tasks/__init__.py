"""Tasks: what `rnnkit train TASK`, `predict`, `eval` and `sample` do for each model shape.

A task module (``rnnkit.tasks.NAME``) turns data files and a run configuration into batch
sources and a model, trains it with :class:`rnnkit.train.Trainer`, and knows how to use a
trained run. It defines:

- ``HELP``: one line for ``rnnkit train --help``;
- ``RunConfig``: a dataclass with sections (``data``, ``model``, ``train``: a
  :class:`rnnkit.config.TrainConfig`) and the field ``task`` equal to ``NAME``;
- ``add_train_arguments(parser)`` and ``train(args) -> int`` for ``rnnkit train NAME``;
- ``predict_lines(run: Run, lines: list[str], args) -> list[dict]`` (one JSON-safe dict per
  input line) and ``format_prediction(dict) -> str`` for ``rnnkit predict``, plus
  ``add_predict_arguments(parser)``;
- ``evaluate_file(run: Run, path: str, args) -> dict[str, float]`` for ``rnnkit eval``, plus
  ``add_eval_arguments(parser)``.

A run directory records its task in ``config.json`` (``run.task``), so ``predict``, ``eval``
and ``sample`` find the right module from the run alone.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

__all__ = ["TASKS", "Run", "get_task", "load_run"]

#: task name -> module under rnnkit.tasks
TASKS: dict[str, str] = {
    "lm": "lm",
    "classify": "classify",
    "tag": "tag",
    "regress": "regress",
    "seq2seq": "seq2seq",
}


def get_task(name: str) -> ModuleType:
    """Import and return the module of task ``name``.

    Raises:
        ValueError: ``name`` is not a task.
    """
    if name not in TASKS:
        raise ValueError(f"Argument `task` must be one of {list(TASKS)}, got {name!r}.")
    return importlib.import_module(f"rnnkit.tasks.{TASKS[name]}")


@dataclass
class Run:
    """A trained run loaded for use: model (eval mode), its config.json, task and vocabulary."""

    directory: Path
    model: nn.Module
    config: dict[str, Any]
    task: str
    vocab: Any  # rnnkit.data.vocab.Vocabulary or None


def load_run(directory: str | Path, *, best: bool = True, device: str = "cpu") -> Run:
    """Load the model a run directory holds (``RUN/best`` when present and ``best``).

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        ValueError: it holds no rnnkit checkpoint, or a broken one (the message says which
            file and why).
    """
    from rnnkit.data.vocab import Vocabulary
    from rnnkit.models import build_model
    from rnnkit.train.checkpoint import has_checkpoint, load_model

    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"Run directory {str(root)!r} does not exist.")
    source = root / "best" if best and has_checkpoint(root / "best") else root
    if not has_checkpoint(source):
        raise ValueError(
            f"Run directory {str(root)!r} holds no rnnkit checkpoint (no trainer_state.json)."
        )
    model, config = load_model(source, build_model, device=device)
    run = config.get("run") or {}
    task = run.get("task")
    if task not in TASKS:
        raise ValueError(
            f"Run directory {str(root)!r} does not say which task it was trained for "
            f"(config.json run.task = {task!r}; expected one of {list(TASKS)})."
        )
    vocab = config.get("vocab")
    if isinstance(vocab, dict) and vocab.get("format") == "rnnkit.vocabulary":
        vocab = Vocabulary.from_dict(vocab)
    return Run(directory=root, model=model, config=config, task=task, vocab=vocab)


def read_input_lines(inputs: Sequence[str]) -> list[str]:
    """Inputs for ``predict``: the given strings, or the lines of standard input if none.

    An input ``@FILE`` reads the lines of FILE.
    """
    lines: list[str] = []
    for item in inputs:
        if item.startswith("@"):
            path = Path(item[1:])
            if not path.is_file():
                raise FileNotFoundError(f"Input file {str(path)!r} does not exist.")
            lines.extend(path.read_text(encoding="utf-8").splitlines())
        else:
            lines.append(item)
    if not inputs:
        lines = sys.stdin.read().splitlines()
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValueError("Argument `INPUT` is empty: give at least one non-empty input line.")
    return lines
