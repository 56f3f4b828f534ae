"""``rnnkit eval RUN DATA``: the metrics of a trained run on a data file.

DATA is a file of the kind the run's task trains on (a labelled table for ``classify``, a
CoNLL-U file for ``tag``, a series CSV for ``regress``, a text for ``lm``, pairs for
``seq2seq``); the task reads it with the run's own data options and vocabulary. The metrics
print one per line, or as one JSON object with ``--json``, e.g.
``{"accuracy": 0.93, "macro_f1": 0.92, "loss": 0.21, ...}``. The task's own options
(``rnnkit eval RUN DATA --help`` lists them) follow DATA.
"""

from __future__ import annotations

import argparse
import math

from rnnkit.cli.predict import json_line, task_parser

__all__ = ["add_arguments", "format_metrics", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit eval`` options (the task adds its own after DATA)."""
    parser.add_argument("run", metavar="RUN", help="run directory of a trained model")
    parser.add_argument("data", metavar="DATA", help="file to evaluate on")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--last", action="store_true", help="use the last checkpoint, not best/")
    parser.add_argument("--device", default="cpu", help="where to run the model (default: cpu)")
    parser.add_argument(
        "rest", nargs=argparse.REMAINDER, metavar="...", help="the task's evaluation options"
    )


#: metrics that are counts, printed without decimals
COUNTS = frozenset(
    {"examples", "sentences", "words", "unknown_words", "windows", "tokens", "pairs"}
)


def format_metrics(metrics: dict[str, float]) -> str:
    """One ``name: value`` line per metric; counts without decimals.

    Example:
        >>> print(format_metrics({"accuracy": 0.93, "examples": 200.0}))
        accuracy: 0.9300
        examples: 200
    """
    lines = []
    for name, value in metrics.items():
        count = name in COUNTS and math.isfinite(value)
        lines.append(f"{name}: {int(value)}" if count else f"{name}: {value:.4f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Load the run, evaluate it on DATA and print the metrics."""
    from rnnkit.tasks import get_task, load_run

    loaded = load_run(args.run, best=not args.last, device=args.device)
    task = get_task(loaded.task)
    if not hasattr(task, "evaluate_file"):
        raise ValueError(f"Task {loaded.task!r} of run {args.run!r} has no `rnnkit eval`.")
    parser = task_parser(
        f"rnnkit eval {args.run} {args.data}", f"evaluate a {loaded.task} run on a file"
    )
    if hasattr(task, "add_eval_arguments"):
        task.add_eval_arguments(parser)
    options = parser.parse_args(args.rest)
    metrics = task.evaluate_file(loaded, args.data, options)
    print(json_line(metrics) if args.json or options.json else format_metrics(metrics))
    return 0
