"""Labelled texts from CSV, TSV and JSONL files.

Each row gives a text and (optionally) a label, taken from chosen columns: by name when the
file has a header (default ``text`` and ``label``), or by index. Every problem -- empty or
binary file, wrong delimiter, a row with too few or too many fields, a missing column, an empty
label -- is reported in one sentence naming the file and the line. Files whose name ends in
``.gz`` are decompressed on the fly.

The format follows the name (``.csv``, ``.tsv``/``.tab``, ``.jsonl``/``.ndjson``, after
removing ``.gz``) unless ``format`` is given. CSV honours ``"`` quoting. TSV defaults to *no*
quoting (fields are split on every TAB and ``"`` is an ordinary character), which is what the
IMDB and rt-polarity files in ``shared/data`` need; pass ``quoting=True`` for TSV written by a
CSV library.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.data.text import open_binary

__all__ = [
    "TABLE_FORMATS",
    "ColumnData",
    "TextTable",
    "iter_lines",
    "read_columns",
    "read_table",
    "table_format",
]

#: Table formats and their delimiters (``None`` for JSON lines).
TABLE_FORMATS: dict[str, str | None] = {"csv": ",", "tsv": "\t", "jsonl": None}
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_OTHER_DELIMITERS = {",": "comma", "\t": "TAB", ";": "semicolon", "|": "bar"}


def iter_lines(
    path: str | os.PathLike[str], kind: str = "Text", *, name: str | None = None
) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` of a UTF-8 file, line endings kept, numbers from 1.

    Args:
        path: the file (``.gz`` is decompressed).
        kind: how messages name the file (``"Table"``, ``"CoNLL-U"``, ...).
        name: the whole name before the path instead (default ``f"{kind} file"``), e.g.
            ``"Setting `data.train` (--train) file"``, to name the option it came from.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is empty, holds a NUL byte (binary) or a line that is not UTF-8;
            the message names the file and the line.
    """
    where = f"{name or kind + ' file'} {str(path)!r}"
    path = Path(path)
    empty = True
    with open_binary(path) as stream:
        try:
            for number, raw in enumerate(stream, start=1):
                empty = False
                if b"\0" in raw:
                    raise ValueError(
                        f"{where} line {number} contains a NUL byte; it looks "
                        "binary, expected UTF-8 text."
                    )
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise ValueError(
                        f"{where} line {number} is not valid UTF-8 (byte "
                        f"{err.start + 1} of the line: {err.reason})."
                    ) from None
        except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
            raise ValueError(f"{where} cannot be decompressed: {err}.") from None
    if empty:
        raise ValueError(f"{where} is empty; expected some lines.")


def table_format(
    path: str | os.PathLike[str], format: str | None = None, *, name: str = "Table file"
) -> str:
    """Return ``"csv"``, ``"tsv"`` or ``"jsonl"``: ``format`` if given, else from the name;
    ``name`` is how a message names the file before its path.

    Raises:
        ValueError: ``format`` unknown, or a name whose suffix says nothing.

    Examples:
        >>> table_format("reviews.tsv.gz"), table_format("x.data", format="csv")
        ('tsv', 'csv')
    """
    if format is not None:
        if format not in TABLE_FORMATS:
            raise ValueError(
                f"Argument `format` must be one of {', '.join(TABLE_FORMATS)}; got {format!r}."
            )
        return format
    base = Path(path).name
    if base.endswith(".gz"):
        base = base[:-3]
    suffix = Path(base).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"{name} {str(path)!r} has the suffix {suffix!r}, which names no table format; "
            "expected .csv, .tsv or .jsonl (optionally .gz), or the format named by the "
            f"`data.format` option (`format=` in Python): one of {', '.join(TABLE_FORMATS)}."
        )
    return _SUFFIXES[suffix]


@dataclass
class ColumnData:
    """Chosen columns of a table, as strings, with the file line of every row.

    Attributes:
        path: the file read.
        header: the header's field names (``None`` when the file has no header).
        columns: the requested columns, as given (names or indices).
        values: one list per requested column, one string per row.
        line_numbers: the line of the file each row starts on.
        name: how messages name the file before its path (see :func:`read_columns`).
    """

    path: str
    header: list[str] | None
    columns: tuple[str | int, ...]
    values: list[list[str]]
    line_numbers: list[int]
    name: str = "Table file"

    def __len__(self) -> int:
        return len(self.line_numbers)


def _delimiter_hint(line: str, delimiter: str) -> str:
    """A short hint when a line seems delimited by something else than ``delimiter``."""
    for other, name in _OTHER_DELIMITERS.items():
        if other != delimiter and other in line:
            return f" (the line contains {name} characters: is the file {name}-delimited?)"
    return ""


def _resolve_columns(
    where: str,
    header: list[str] | None,
    columns: Sequence[str | int],
    first_line: str,
    delimiter: str,
) -> list[int]:
    positions = []
    for column in columns:
        if isinstance(column, bool) or not isinstance(column, (str, int)):
            raise TypeError(f"Argument `columns` must hold names or indices; got {column!r}.")
        if isinstance(column, int):
            width = len(header) if header is not None else None
            if column < 0 or (width is not None and column >= width):
                raise ValueError(
                    f"{where} line 1 has {width} fields; column index "
                    f"{column} is out of range."
                )
            positions.append(column)
        else:
            if header is None:
                raise ValueError(
                    f"{where} is read without a header, so column {column!r} cannot be a "
                    "name; pass column indices or header=True."
                )
            if column not in header:
                hint = _delimiter_hint(first_line, delimiter) if len(header) == 1 else ""
                raise ValueError(
                    f"{where} line 1 has no column {column!r}; the header "
                    f"has {header}{hint}."
                )
            positions.append(header.index(column))
    return positions


def _read_delimited(
    path: Path,
    columns: Sequence[str | int],
    delimiter: str,
    quoting: bool,
    header: bool,
    name: str,
) -> ColumnData:
    where = f"{name} {str(path)!r}"
    numbered = iter_lines(path, name=name)
    current = [0]  # line number of the line csv last pulled

    def lines() -> Iterator[str]:
        for number, line in numbered:
            current[0] = number
            yield line

    reader = csv.reader(
        lines(),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
        strict=True,
    )
    names: list[str] | None = None
    width: int | None = None
    positions: list[int] | None = None
    values: list[list[str]] = [[] for _ in columns]
    line_numbers: list[int] = []
    row_start = 1
    try:
        for row in reader:
            start, row_start = row_start, current[0] + 1
            if not row:  # a blank line
                continue
            if width is None:
                width = len(row)
                first_line = delimiter.join(row)
                if header:
                    names = row
                positions = _resolve_columns(where, names, columns, first_line, delimiter)
                if header:
                    continue
            if len(row) != width:
                first = "in the header" if header else "on the first row"
                raise ValueError(
                    f"{where} line {start} has {len(row)} fields, expected "
                    f"{width} as {first}{_delimiter_hint(delimiter.join(row), delimiter)}."
                )
            if positions is None:
                raise ValueError(f"{where} has no header line.")
            for out, position in zip(values, positions, strict=True):
                if position >= len(row):
                    raise ValueError(
                        f"{where} line {start} has {len(row)} fields; column "
                        f"index {position} is out of range."
                    )
                out.append(row[position])
            line_numbers.append(start)
    except csv.Error as err:
        raise ValueError(
            f"{where} line {current[0]} is not valid "
            f"{'CSV' if delimiter == ',' else 'delimited text'}: {err}."
        ) from None
    if width is None:
        raise ValueError(f"{where} holds only blank lines; expected rows.")
    if not line_numbers:
        raise ValueError(f"{where} has a header line but no rows; expected at least one row.")
    return ColumnData(str(path), names, tuple(columns), values, line_numbers, name)


def _read_jsonl(path: Path, columns: Sequence[str | int], name: str) -> ColumnData:
    where = f"{name} {str(path)!r}"
    for column in columns:
        if not isinstance(column, str):
            raise TypeError(
                f"Argument `columns` must hold key names for a JSONL file; got {column!r}."
            )
    values: list[list[str]] = [[] for _ in columns]
    line_numbers: list[int] = []
    for number, line in iter_lines(path, name=name):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{where} line {number} is not valid JSON: {err.msg} at "
                f"column {err.colno}."
            ) from None
        if not isinstance(record, dict):
            raise ValueError(
                f"{where} line {number} must be a JSON object; got "
                f"{type(record).__name__}."
            )
        for out, column in zip(values, columns, strict=True):
            if column not in record:
                raise ValueError(
                    f"{where} line {number} has no key {column!r}; it has "
                    f"{sorted(record)}."
                )
            value: Any = record[column]
            if isinstance(value, (dict, list)) or value is None:
                raise ValueError(
                    f"{where} line {number} key {column!r} must be a string or "
                    f"a number; got {json.dumps(value)[:40]}."
                )
            out.append(value if isinstance(value, str) else json.dumps(value))
        line_numbers.append(number)
    if not line_numbers:
        raise ValueError(f"{where} holds only blank lines; expected records.")
    return ColumnData(str(path), None, tuple(columns), values, line_numbers, name)


def read_columns(
    path: str | os.PathLike[str],
    columns: Sequence[str | int],
    *,
    format: str | None = None,
    header: bool = True,
    quoting: bool | None = None,
    name: str | None = None,
) -> ColumnData:
    """Read chosen columns of a CSV, TSV or JSONL file as strings.

    Args:
        path: the file (``.gz`` is decompressed).
        columns: column names (needs a header) or 0-based indices; keys for JSONL.
        format: ``"csv"``, ``"tsv"`` or ``"jsonl"``; default from the file name.
        header: the first non-blank line names the columns (CSV and TSV).
        quoting: honour ``"`` quotes; default ``True`` for CSV and ``False`` for TSV.
        name: how the messages name the file before its path (default ``"Table file"``, or
            ``"JSONL file"``), e.g. ``"Setting `data.train` (--train) file"`` so that a
            command's error names the option the file came from.

    Returns:
        The columns with the line number of every row. Blank lines are skipped.

    Raises:
        FileNotFoundError: no such file.
        ValueError: empty or binary file, a header without rows, a row whose field count
            differs from the header (naming the line, with a hint when another delimiter
            appears), a missing column, bad quoting or bad JSON.
    """
    path = Path(path)
    kind = table_format(path, format, name=name or "Table file")
    if isinstance(columns, (str, int)) or not isinstance(columns, Sequence) or not columns:
        raise TypeError(f"Argument `columns` must be a non-empty list; got {columns!r}.")
    if kind == "jsonl":
        return _read_jsonl(path, columns, name or "JSONL file")
    delimiter = TABLE_FORMATS[kind]
    if quoting is None:
        quoting = kind == "csv"
    return _read_delimited(path, columns, str(delimiter), bool(quoting), header,
                           name or "Table file")


@dataclass
class TextTable:
    """Texts and their labels, read by :func:`read_table`.

    Attributes:
        path: the file read.
        texts: one string per row.
        labels: one label string per row (``None`` when no label column was asked for).
        line_numbers: the file line of every row, for error messages.
        name: how messages name the file before its path (see :func:`read_columns`).
    """

    path: str
    texts: list[str]
    labels: list[str] | None
    line_numbers: list[int] = field(repr=False)
    name: str = field(default="Table file", repr=False)

    def __len__(self) -> int:
        return len(self.texts)

    def classes(self) -> list[str]:
        """The distinct labels, sorted (their positions are the class ids)."""
        if self.labels is None:
            raise ValueError(f"Table {self.path!r} was read without a label column.")
        return sorted(set(self.labels))

    def class_ids(self, classes: Sequence[str] | None = None) -> list[int]:
        """Map every label to its position in ``classes`` (default: :meth:`classes`).

        Raises:
            ValueError: a label that is not among ``classes`` (naming its line).
        """
        classes = list(self.classes() if classes is None else classes)
        index = {name: i for i, name in enumerate(classes)}
        ids = []
        for label, line in zip(self.labels or [], self.line_numbers, strict=True):
            if label not in index:
                raise ValueError(
                    f"{self.name} {self.path!r} line {line} has the label {label!r}, which is not "
                    f"one of the classes {classes}."
                )
            ids.append(index[label])
        return ids

    def float_labels(self) -> list[float]:
        """The labels as numbers, for regression.

        Raises:
            ValueError: a label that is not a finite number (naming its line).
        """
        if self.labels is None:
            raise ValueError(f"Table {self.path!r} was read without a label column.")
        out = []
        for label, line in zip(self.labels, self.line_numbers, strict=True):
            try:
                value = float(label)
            except ValueError:
                value = float("nan")
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(
                    f"{self.name} {self.path!r} line {line} has the label {label!r}; expected a "
                    "finite number."
                )
            out.append(value)
        return out


def read_table(
    path: str | os.PathLike[str],
    text_column: str | int = "text",
    label_column: str | int | None = "label",
    *,
    format: str | None = None,
    header: bool = True,
    quoting: bool | None = None,
    name: str | None = None,
) -> TextTable:
    """Read texts and labels from a CSV, TSV or JSONL file.

    Args:
        path: the file (``.gz`` is decompressed).
        text_column: the text column's name or 0-based index.
        label_column: the label column's name or index; ``None`` to read texts only.
        format: ``"csv"``, ``"tsv"`` or ``"jsonl"``; default from the file name.
        header: the first line names the columns (CSV and TSV).
        quoting: honour ``"`` quotes; default on for CSV, off for TSV.
        name: how the messages name the file (see :func:`read_columns`).

    Returns:
        A :class:`TextTable`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: as :func:`read_columns`, and an empty text or label (naming the line).

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp) / "reviews.tsv"
        ...     _ = path.write_text('label\\ttext\\npos\\ta "great" film\\nneg\\tdull\\n')
        ...     table = read_table(path)
        >>> table.texts, table.labels, table.class_ids()
        (['a "great" film', 'dull'], ['pos', 'neg'], [1, 0])
    """
    columns: list[str | int] = [text_column]
    if label_column is not None:
        columns.append(label_column)
    data = read_columns(path, columns, format=format, header=header, quoting=quoting, name=name)
    for number, (values, column) in enumerate(zip(data.values, columns, strict=True)):
        what = "text" if number == 0 else "label"
        for value, line in zip(values, data.line_numbers, strict=True):
            if not value.strip():
                raise ValueError(
                    f"{data.name} {data.path!r} line {line} has an empty {what} in column "
                    f"{column!r}."
                )
    return TextTable(
        path=data.path,
        texts=data.values[0],
        labels=data.values[1] if label_column is not None else None,
        line_numbers=data.line_numbers,
        name=data.name,
    )
