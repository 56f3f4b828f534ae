"""``rnnkit train TASK``: fit a model for one task (see :mod:`rnnkit.tasks`).

Options are the task's run configuration: ``--config FILE`` (TOML or JSON), then
``--section.key value`` overrides; a dash may stand for an underscore in a key
(``--data.input-columns``), and a bare ``--key`` works when only one section has that key
(``--max-steps 100`` is ``--train.max_steps 100``; ``--help`` lists these aliases).
``--resume RUN`` continues a run.
"""

from __future__ import annotations

import argparse
import sys

from rnnkit.tasks import TASKS, get_task

EPILOG = (
    "Keys may be written with dashes for underscores (--data.input-columns). A bare key "
    "stands for the one section that has it (--max-steps is --train.max_steps); a key that "
    "several sections have (--seed) must be written in full (--train.seed)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Only the task name here; the task adds its own options (see :func:`run`)."""
    parser.add_argument("task", choices=list(TASKS), help="what to train")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the task's options")


def run(args: argparse.Namespace) -> int:
    """Parse the task's options and train."""
    task = get_task(args.task)
    parser = argparse.ArgumentParser(
        prog=f"rnnkit train {args.task}", description=task.HELP, epilog=EPILOG
    )
    task.add_train_arguments(parser)
    task_args = parser.parse_args(args.options)
    return int(task.train(task_args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(argparse.Namespace(task=sys.argv[1], options=sys.argv[2:])))
