"""The ``rnnkit`` command: one module per subcommand.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``. Modules are
imported only when their command is used, so ``rnnkit --help`` does not pay for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from rnnkit import __version__

# name -> (module under rnnkit.cli, one-line help). Keep in the order `rnnkit --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "train a small character LSTM on an embedded corpus and sample from it"),
    "train": ("train", "train a model: lm | classify | tag | regress | seq2seq"),
    "sample": ("sample", "continue a prompt with a language model, or translate it (seq2seq)"),
    "predict": ("predict", "use a trained run: classify, tag, forecast, translate, continue"),
    "eval": ("eval", "print a trained run's metrics on a data file (--json for one object)"),
    "data": ("data", "named datasets (list, get), file info, memory-mapped token files"),
    "explain": ("explain", "run one network on given numbers and print every step and gradient"),
    "gradcheck": ("gradcheck", "check the reference engine's gradients by finite differences"),
    "plot": ("plot", "draw a run's loss and metric curves again from its metrics.csv"),
    "recipe": ("recipe", "the course exercises, reproduced: recipe list | recipe run NAME"),
}


#: The exit status when stdout is closed early: 128 + SIGPIPE (13), as `cat`, `git log` ... give.
_BROKEN_PIPE = 141


class UsageError(ValueError):
    """A command-line argument is wrong; printed as one sentence with exit status 2."""


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks: train, sample, explain, benchmark.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items())
        + "\n\nRun `rnnkit COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    parser.add_argument("command", nargs="?", help="one of: " + ", ".join(COMMANDS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    if not argv or argv[0].startswith("-"):
        top.parse_args(argv)  # handles --help / --version and exits
        top.print_help()
        return 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"rnnkit: unknown command {name!r}; expected one of: {', '.join(COMMANDS)}.",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module(f"rnnkit.cli.{COMMANDS[name][0]}")
    parser = argparse.ArgumentParser(prog=f"rnnkit {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        status = int(module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return status
    except BrokenPipeError:
        # The reader went away (`rnnkit explain ... | head`): stop quietly with the status a
        # shell gives a program killed by SIGPIPE, 128 + 13. Python flushes stdout once more
        # at exit, so point it at /dev/null first or that flush fails again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _BROKEN_PIPE
    except (UsageError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"rnnkit {name}: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        from rnnkit.train.trainer import DivergenceError

        if not isinstance(err, DivergenceError):
            raise
        print(f"rnnkit {name}: training diverged: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rnnkit {name}: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
