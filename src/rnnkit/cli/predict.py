"""``rnnkit predict RUN [INPUT ...]``: use a trained run on new inputs, one result per line.

Inputs are the given strings, the lines of ``@FILE`` arguments, or -- when none is given --
the lines of standard input (blank lines are skipped). What one input means depends on the
run's task (recorded in its ``config.json``): a text to classify, a sentence to tag, a window
of numbers to forecast from, a sentence to translate, a prompt to continue. ``--json`` prints
one JSON object per input instead of the task's plain format. The task's own options
(``rnnkit predict RUN --help`` lists them) follow the run directory.

An input is text even when it happens to name a file: only ``@FILE`` reads a file, so the
result never depends on what the current directory holds. An input that names an existing
file gets a one-line note on stderr saying so.

Tokens outside the run's vocabulary become ``<unk>`` (classify, tag, seq2seq); a one-line note
on stderr names them, as ``rnnkit sample`` does for a prompt.

Example::

    rnnkit predict runs/classify-1 "a great film" "dull and long" --json
    rnnkit predict runs/tag-1 < sentences.txt
    rnnkit predict runs/seq2seq-1 @sentences.txt
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["add_arguments", "file_input_notes", "json_line", "run", "unknown_token_note"]

#: distinct unknown tokens the note names before it only counts the rest
NOTE_LIMIT = 10

INPUT_HELP = (
    "an input text, or @FILE for the lines of FILE (a bare file name is read as text); "
    "standard input if none"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit predict`` options (the task adds its own after RUN)."""
    parser.add_argument("run", metavar="RUN", help="run directory of a trained model")
    parser.add_argument("--json", action="store_true", help="print one JSON object per input")
    parser.add_argument("--last", action="store_true", help="use the last checkpoint, not best/")
    parser.add_argument("--device", default="cpu", help="where to run the model (default: cpu)")
    parser.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        metavar="INPUT ...",
        help=f"inputs and task options; INPUT is {INPUT_HELP}",
    )


def json_line(record: dict[str, Any]) -> str:
    """``record`` as one line of JSON (non-finite numbers become ``null``).

    Example:
        >>> json_line({"label": "pos", "loss": float("nan")})
        '{"label": "pos", "loss": null}'
    """

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(record), ensure_ascii=False)


def file_input_notes(inputs: Sequence[str]) -> list[str]:
    """A note for each input that is read as text although it names an existing file.

    Example:
        >>> file_input_notes(["a great film", "@reviews.txt"])
        []
    """
    return [
        f"rnnkit predict: note: input {item!r} names a file but is read as text; "
        f"write @{item} to read the file's lines."
        for item in inputs
        if not item.startswith("@") and os.path.isfile(item)
    ]


def unknown_token_note(vocab: Any, token_lines: Sequence[Sequence[str]]) -> str | None:
    """The one-line note naming the input tokens a vocabulary maps to ``<unk>``, or ``None``.

    Each distinct token is named once, with the first input (counted from 1) that holds it;
    past :data:`NOTE_LIMIT` tokens the rest are only counted. A vocabulary without ``<unk>``
    gets no note (encoding refuses such a token with its own error).

    Example:
        >>> from rnnkit.data.vocab import Vocabulary
        >>> v = Vocabulary(["<pad>", "<unk>", "a", "b"], level="word",
        ...                specials=("<pad>", "<unk>"))
        >>> note = unknown_token_note(v, [["a", "zebra"], ["b"], ["zebra", "qux"]])
        >>> print(note)  # doctest: +NORMALIZE_WHITESPACE
        rnnkit predict: note: words not in the vocabulary, mapped to <unk>:
        'zebra' (input 1), 'qux' (input 3).
        >>> unknown_token_note(v, [["a", "b"]]) is None
        True
    """
    if vocab.unk_id is None:
        return None
    first: dict[str, int] = {}
    for number, tokens in enumerate(token_lines, start=1):
        for token in tokens:
            if token not in vocab and token not in first:
                first[token] = number
    if not first:
        return None
    named = [f"{token!r} (input {number})" for token, number in first.items()]
    if len(named) > NOTE_LIMIT:
        named = [*named[:NOTE_LIMIT], f"and {len(named) - NOTE_LIMIT} more"]
    kind = "characters" if vocab.level == "char" else "words"
    listed = ", ".join(named)
    return f"rnnkit predict: note: {kind} not in the vocabulary, mapped to <unk>: {listed}."


def task_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser for what follows RUN: ``--json`` and the options of the run's task."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Load the run, read the inputs and print one prediction per input."""
    from rnnkit.tasks import get_task, load_run, read_input_lines

    loaded = load_run(args.run, best=not args.last, device=args.device)
    task = get_task(loaded.task)
    if not hasattr(task, "predict_lines"):
        raise ValueError(f"Task {loaded.task!r} of run {args.run!r} has no `rnnkit predict`.")
    parser = task_parser(
        f"rnnkit predict {args.run}",
        f"predict with a {loaded.task} run; inputs are strings, @FILE, or standard input",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help=INPUT_HELP)
    if hasattr(task, "add_predict_arguments"):
        task.add_predict_arguments(parser)
    options = parser.parse_args(args.rest)
    for note in file_input_notes(options.inputs):
        print(note, file=sys.stderr)
    lines = read_input_lines(options.inputs)
    predictions = task.predict_lines(loaded, lines, options)
    if hasattr(task, "predict_tokens"):
        note = unknown_token_note(*task.predict_tokens(loaded, lines))
        if note:
            print(note, file=sys.stderr)
    as_json = args.json or options.json
    for prediction in predictions:
        print(json_line(prediction) if as_json else task.format_prediction(prediction))
    return 0
