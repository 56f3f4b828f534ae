"""PNG curves of a run's ``metrics.csv``: loss, every model metric and the learning rate.

``plot_metrics`` works on any ``metrics.csv`` (a finished run can be re-plotted). It uses
matplotlib's object API with the Agg canvas -- no pyplot, no global backend switch -- and
writes each PNG to a temporary name first, so a run killed mid-plot leaves the old picture.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from rnnkit.train.metrics import BASE_COLUMNS, TAIL_COLUMNS, read_metrics

__all__ = ["plot_metrics", "rolling_mean"]


def rolling_mean(values: list[float], window: int) -> list[float]:
    """Trailing mean over at most ``window`` values (shorter at the start).

    Example:
        >>> rolling_mean([1.0, 3.0, 5.0, 7.0], window=2)
        [1.0, 2.0, 4.0, 6.0]
    """
    if window < 1:
        raise ValueError(f"Argument `window` expects a positive integer, got {window!r}.")
    out: list[float] = []
    total = 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _series(rows: list[dict[str, Any]], split: str, column: str) -> tuple[list[int], list[float]]:
    steps, values = [], []
    for row in rows:
        if row.get("split") == split and isinstance(row.get(column), float):
            steps.append(int(row["step"]))
            values.append(float(row[column]))
    return steps, values


def _save(fig: Any, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)


def plot_metrics(
    csv_path: str | Path, out_dir: str | Path | None = None, *, window: int | None = None
) -> list[Path]:
    """Plot the curves of a ``metrics.csv`` as PNG files.

    Writes ``loss.png`` (training loss, its rolling mean, validation loss), one
    ``NAME.png`` per model metric (training and validation) and ``lr.png``.

    Args:
        csv_path: the metrics file.
        out_dir: where the PNGs go (default: the CSV's directory).
        window: rows in the rolling mean of the training loss (default: a tenth of the
            training rows, at least 1).

    Returns:
        The files written (none when the CSV has no rows yet).

    Raises:
        FileNotFoundError: ``csv_path`` does not exist.
        ValueError: the CSV lacks rnnkit's columns, or ``window`` is not positive.
    """
    from matplotlib.figure import Figure

    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or window < 1
    ):
        raise ValueError(f"Argument `window` expects a positive integer, got {window!r}.")
    csv_path = Path(csv_path)
    rows = read_metrics(csv_path)
    out = Path(out_dir) if out_dir is not None else csv_path.parent
    out.mkdir(parents=True, exist_ok=True)
    if not rows:
        return []
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    metrics = [c for c in columns if c not in BASE_COLUMNS and c not in TAIL_COLUMNS]
    written: list[Path] = []

    for name in ["loss", *metrics]:
        train_steps, train_values = _series(rows, "train", name)
        val_steps, val_values = _series(rows, "val", name)
        if not train_values and not val_values:
            continue
        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        if train_values:
            size = window if window is not None else max(len(train_values) // 10, 1)
            ax.plot(train_steps, train_values, color="tab:blue", alpha=0.3, label="train")
            # A trailing mean describes the rows it averages, so it is drawn at their centre
            # step; drawn at the last one it would lag a falling loss by half a window.
            means = rolling_mean(train_values, size)
            centres = [
                (train_steps[max(i - size + 1, 0)] + train_steps[i]) / 2
                for i in range(len(train_steps))
            ]
            ax.plot(centres, means, color="tab:blue", label=f"train (mean of {size})")
        if val_values:
            ax.plot(val_steps, val_values, "o-", color="tab:orange", label="validation")
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.set_title(f"{name} — {csv_path.parent.name}")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png")
        _save(fig, path)
        written.append(path)

    lr_steps, lr_values = _series(rows, "train", "lr")
    if lr_values:
        fig = Figure(figsize=(7, 3))
        ax = fig.add_subplot()
        ax.plot(lr_steps, lr_values, color="tab:green")
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out / "lr.png"
        _save(fig, path)
        written.append(path)
    return written
