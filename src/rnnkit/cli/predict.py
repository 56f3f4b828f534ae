"""``rnnkit predict RUN [INPUT ...]``: use a trained run on new inputs, one result per line.

Inputs are the given strings, the lines of ``@FILE`` arguments, or -- when none is given --
the lines of standard input (blank lines are skipped). What one input means depends on the
run's task (recorded in its ``config.json``): a text to classify, a sentence to tag, a window
of numbers to forecast from, a sentence to translate, a prompt to continue. ``--json`` prints
one JSON object per input instead of the task's plain format. The task's own options
(``rnnkit predict RUN --help`` lists them) follow the run directory.

Example::

    rnnkit predict runs/classify-1 "a great film" "dull and long" --json
    rnnkit predict runs/tag-1 < sentences.txt
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

__all__ = ["add_arguments", "json_line", "run"]


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
        help="inputs (text, or @FILE for its lines; standard input if none) and task options",
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
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="an input, or @FILE")
    if hasattr(task, "add_predict_arguments"):
        task.add_predict_arguments(parser)
    options = parser.parse_args(args.rest)
    lines = read_input_lines(options.inputs)
    predictions = task.predict_lines(loaded, lines, options)
    as_json = args.json or options.json
    for prediction in predictions:
        print(json_line(prediction) if as_json else task.format_prediction(prediction))
    return 0
