"""Numeric time series from CSV files, and the sliding windows a forecaster trains on.

A series file is a CSV (or TSV, by its name) with one row per time step. The chosen columns
must hold finite numbers on every row: a missing value, ``NaN``, ``inf`` or text is reported
with its file line and column, never silently filled or dropped, and so is a row with the
wrong number of fields.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.tables import iter_lines

__all__ = ["Series", "make_windows", "read_series"]

# Spellings of a missing value (compared in lower case); all are errors, never filled.
_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "?", "-"})


@dataclass
class Series:
    """A numeric series read by :func:`read_series`.

    Attributes:
        values: ``[N, C]`` float64, one row per time step, one column per chosen column.
        columns: the column names (or ``"column {i}"`` without a header).
        path: the file read.
    """

    values: np.ndarray
    columns: list[str]
    path: str

    def __len__(self) -> int:
        return int(self.values.shape[0])


def read_series(
    path: str | os.PathLike[str],
    columns: Sequence[str | int] | None = None,
    *,
    header: bool = True,
    delimiter: str | None = None,
    name: str = "Series file",
) -> Series:
    """Read numeric columns of a CSV file into a ``[N, C]`` array.

    Args:
        path: the file (``.gz`` is decompressed).
        columns: names (needs a header) or 0-based indices; ``None`` takes every column.
        header: the first line names the columns.
        delimiter: the field separator; default TAB for ``.tsv`` names, else comma.
        name: how messages name the file before its path, e.g.
            ``"Setting `data.train` (--train) file"`` so that a command's error names its
            option.

    Returns:
        A :class:`Series` with ``values [N, C]`` float64.

    Raises:
        FileNotFoundError: no such file.
        ValueError: empty or binary file, an unknown column, a row with another number of
            fields than the first (ragged), or a value that is missing, NaN, infinite or not
            a number; the message names the file, the line and the column.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp) / "sine.csv"
        ...     _ = path.write_text("date,value\\n2024-01-01,0.5\\n2024-01-02,1.5\\n")
        ...     series = read_series(path, ["value"])
        >>> series.values.tolist(), series.columns
        ([[0.5], [1.5]], ['value'])
    """
    path = Path(path)
    where = f"{name} {str(path)!r}"
    if delimiter is None:
        stem = path.name[:-3] if path.name.endswith(".gz") else path.name
        delimiter = "\t" if stem.endswith((".tsv", ".tab")) else ","
    if columns is not None and (isinstance(columns, (str, int)) or not columns):
        raise TypeError(f"Argument `columns` must be None or a non-empty list; got {columns!r}.")
    rows: list[list[float]] = []
    width: int | None = None
    positions: list[int] = []
    names: list[str] = []
    for number, line in iter_lines(path, name=name):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        fields = next(csv.reader([text], delimiter=delimiter))
        if width is None:
            width = len(fields)
            header_names = fields if header else [f"column {i}" for i in range(width)]
            wanted = list(range(width)) if columns is None else list(columns)
            for column in wanted:
                if isinstance(column, bool) or not isinstance(column, (str, int)):
                    raise TypeError(
                        f"Argument `columns` must hold names or indices; got {column!r}."
                    )
                if isinstance(column, str):
                    if not header:
                        raise ValueError(
                            f"{where}: column {column!r} is a name but the file is read "
                            "without a header; pass column indices or header=True."
                        )
                    if column not in header_names:
                        raise ValueError(
                            f"{where} line {number} has no column {column!r}; the "
                            f"header has {header_names}."
                        )
                    positions.append(header_names.index(column))
                else:
                    if not 0 <= column < width:
                        raise ValueError(
                            f"{where} line {number} has {width} fields; column "
                            f"index {column} is out of range."
                        )
                    positions.append(column)
            names = [header_names[p] for p in positions]
            if header:
                continue
        if len(fields) != width:
            raise ValueError(
                f"{where} line {number} has {len(fields)} fields, expected {width} "
                "as on the first line (ragged rows)."
            )
        row = []
        for position, column_name in zip(positions, names, strict=True):
            field = fields[position].strip()
            if field.lower() in _MISSING:
                shown = "is empty" if not field else f"holds {field!r}"
                raise ValueError(
                    f"{where} line {number} column {column_name!r} {shown}, a "
                    "missing value; expected a finite number (gaps are never filled silently)."
                )
            try:
                value = float(field)
            except ValueError:
                raise ValueError(
                    f"{where} line {number} column {column_name!r} holds "
                    f"{field!r}; expected a number."
                ) from None
            if not math.isfinite(value):
                raise ValueError(
                    f"{where} line {number} column {column_name!r} holds "
                    f"{field!r}; expected a finite number."
                )
            row.append(value)
        rows.append(row)
    if not rows:
        raise ValueError(f"{where} has no data rows; expected numbers.")
    return Series(values=np.asarray(rows, dtype=np.float64), columns=names, path=str(path))


def make_windows(
    values: np.ndarray,
    window: int,
    horizon: int = 1,
    *,
    target_columns: Sequence[int] | None = None,
    stride: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into (past window, next values) pairs for forecasting.

    Pair ``m`` takes ``window`` steps starting at ``m * stride`` as inputs and the
    ``horizon`` steps right after them as targets.

    Args:
        values: ``[N]`` or ``[N, C]`` series.
        window: ``T``, input steps per example.
        horizon: steps to forecast.
        target_columns: which columns are forecast (default: all).
        stride: steps between the starts of consecutive windows.

    Shape:
        Returns ``inputs [M, T, C]`` and ``targets [M, horizon * O]`` (O target columns,
        horizon-major: all columns of the first future step, then the next), float32, with
        ``M = (N - window - horizon) // stride + 1``.

    Raises:
        ValueError: a series too short for one window, non-positive sizes, bad columns or
            non-finite values.

    Examples:
        >>> inputs, targets = make_windows(np.arange(6.0), window=3, horizon=2)
        >>> inputs[:, :, 0].tolist(), targets.tolist()
        ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"Argument `values` must be [N] or [N, C]; got shape {array.shape}.")
    for name, size in (("window", window), ("horizon", horizon), ("stride", stride)):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"Argument `{name}` must be a positive integer; got {size!r}.")
    if not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0, 0])
        raise ValueError(f"Argument `values` must be finite; row {row} holds NaN or inf.")
    steps, channels = array.shape
    if target_columns is None:
        target_columns = list(range(channels))
    for column in target_columns:
        if not 0 <= column < channels:
            raise ValueError(
                f"Argument `target_columns` must index the {channels} columns; got {column}."
            )
    if steps < window + horizon:
        raise ValueError(
            f"Argument `values` must have at least window + horizon = {window + horizon} steps; "
            f"got {steps}."
        )
    starts = np.arange(0, steps - window - horizon + 1, stride)
    inputs = array[starts[:, None] + np.arange(window)[None, :]]
    future = array[starts[:, None] + window + np.arange(horizon)[None, :]]
    targets = future[:, :, list(target_columns)].reshape(len(starts), -1)
    return inputs.astype(np.float32), targets.astype(np.float32)
