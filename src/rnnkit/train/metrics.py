"""The metrics log: ``RUN/metrics.csv``, one row per logged training interval or evaluation.

Columns, in order: ``step, epoch, split, loss``, then one column per model metric (added the
first time a metric appears; the file is rewritten once with the wider header), then
``lr, tokens_per_s, elapsed, grad_norm``. ``step`` counts optimizer updates, ``epoch`` the
passes over the training data done (fractional: 1.5 is half-way through the second),
``elapsed`` the seconds since the run started (resumed runs included). ``split`` is ``train``
(the mean over the steps since the previous training row), ``val`` or ``diverged`` (a step
whose loss or gradient was not finite, with the values seen).
Every row is flushed as soon as it is written, so the file can be watched while a run goes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["BASE_COLUMNS", "TAIL_COLUMNS", "MetricsLog", "read_metrics"]

BASE_COLUMNS = ("step", "epoch", "split", "loss")
TAIL_COLUMNS = ("lr", "tokens_per_s", "elapsed", "grad_norm")


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Read a ``metrics.csv`` into dicts: ``step`` as int, numbers as float.

    Empty cells are left out of their row.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file lacks the ``step``, ``split`` or ``loss`` column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Metrics file {str(path)!r} does not exist.")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("step", "split", "loss") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"Metrics file {str(path)!r} must have the columns step, split and loss; "
                f"it lacks {', '.join(missing)}."
            )
        rows = []
        for raw in reader:
            row: dict[str, Any] = {}
            for key, text in raw.items():
                if key is None or text in (None, ""):
                    continue
                if key == "split":
                    row[key] = text
                elif key == "step":
                    row[key] = int(text)
                else:
                    try:
                        row[key] = float(text)
                    except ValueError:
                        row[key] = text
            rows.append(row)
    return rows


class MetricsLog:
    """Append rows to ``metrics.csv``, widening the header when a new metric appears.

    Args:
        path: the CSV file.
        keep_rows: continue an existing file, keeping only its first ``keep_rows`` rows (the
            rows written before the checkpoint a run resumes from); ``None`` starts a new
            file.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.csv"
        >>> log = MetricsLog(path)
        >>> log.write({"step": 1, "epoch": 0, "split": "train", "loss": 2.5, "lr": 0.1})
        >>> log.write({"step": 1, "epoch": 0, "split": "val", "loss": 2.0, "accuracy": 0.25})
        >>> log.close()
        >>> path.read_text().splitlines()[0]
        'step,epoch,split,loss,accuracy,lr,tokens_per_s,elapsed,grad_norm'
        >>> [row["loss"] for row in read_metrics(path)]
        [2.5, 2.0]
    """

    def __init__(self, path: str | Path, keep_rows: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._metric_columns: list[str] = []
        self._rows: list[dict[str, str]] = []
        if keep_rows is not None and self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                header = list(reader.fieldnames or [])
                self._metric_columns = [
                    c for c in header if c not in BASE_COLUMNS and c not in TAIL_COLUMNS
                ]
                for row in reader:
                    if len(self._rows) >= keep_rows:
                        break
                    self._rows.append({k: v or "" for k, v in row.items() if k is not None})
        self._handle = None
        self._rewrite()

    @property
    def columns(self) -> list[str]:
        """The header, in order."""
        return [*BASE_COLUMNS, *self._metric_columns, *TAIL_COLUMNS]

    def _rewrite(self) -> None:
        if self._handle is not None:
            self._handle.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self._rows)
        os.replace(tmp, self.path)
        self._handle = self.path.open("a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._handle, fieldnames=self.columns, extrasaction="ignore")

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one row (missing columns stay empty) and flush it to disk."""
        text = {str(k): _format(v) for k, v in row.items()}
        new = [k for k in text if k not in self.columns]
        self._rows.append(text)
        if new:
            self._metric_columns.extend(new)
            self._rewrite()
        else:
            self._writer.writerow(text)
        if self._handle is not None:
            self._handle.flush()

    def __len__(self) -> int:
        return len(self._rows)

    def truncate(self, rows: int) -> None:
        """Keep only the first ``rows`` rows (training replayed from a restored state)."""
        if rows < len(self._rows):
            self._rows = self._rows[:rows]
            self._rewrite()

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
