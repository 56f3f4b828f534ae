"""``rnnkit plot RUN``: draw a run's curves again from its ``metrics.csv``.

Useful while a run is still training (its own plots are redrawn at most every 30 s), after
copying a run from another machine, or to choose another smoothing window.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``rnnkit plot``."""
    parser.add_argument("run", metavar="RUN", help="run directory (or a metrics.csv file)")
    parser.add_argument("--out", metavar="DIR", help="where the PNGs go (default: RUN)")
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help="rows in the rolling mean of the training loss (default: a tenth of them)",
    )


def run(args: argparse.Namespace) -> int:
    """Plot and print the files written."""
    from rnnkit.train.plots import plot_metrics

    source = Path(args.run)
    csv_path = source / "metrics.csv" if source.is_dir() else source
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"Argument `RUN` must be a run directory holding metrics.csv or a metrics.csv "
            f"file; {str(csv_path)!r} does not exist."
        )
    written = plot_metrics(csv_path, args.out, window=args.window)
    if not written:
        print(f"{csv_path} has no rows yet: nothing to plot.")
    for path in written:
        print(path)
    return 0
