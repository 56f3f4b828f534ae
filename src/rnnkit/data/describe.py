"""What a data file is: size, lines, digests, the registry dataset it matches, its layout.

This is what ``rnnkit data info PATH`` prints.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from rnnkit.data.conllu import iter_conllu
from rnnkit.data.download import file_digests
from rnnkit.data.registry import find_by_sha256
from rnnkit.data.tables import iter_lines

__all__ = ["describe_file"]

_MAX_SHOWN_FIELDS = 8


def _base_suffix(path: Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return Path(name).suffix.lower()


def describe_file(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Describe a data file as ``(field, value)`` pairs, in display order.

    Always: path, bytes on disk, uncompressed bytes (``.gz``), sha256 and git blob id of the
    content, and which registry dataset file it is, if any. For UTF-8 text also the lines
    and characters; for TAB- or comma-separated files the header and the number of fields
    per line; for CoNLL-U the sentences and words. A file that is not text is described as
    such, with the reason, rather than raising.

    Raises:
        FileNotFoundError: no such file.
        ValueError: ``path`` is a directory.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp) / "pairs.tsv"
        ...     _ = path.write_text("en\\tfr\\nGo.\\tVa !\\n")
        ...     info = dict(describe_file(path))
        >>> info["lines"], info["columns"], info["fields per line"]
        ('2', "TAB-separated; first line: ['en', 'fr']", '2 on every line')
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"Argument `path` must be a file; got the directory {str(path)!r}.")
    if not path.exists():
        raise FileNotFoundError(f"No such file: {str(path)!r}.")
    out: list[tuple[str, str]] = [("path", str(path)), ("bytes", f"{path.stat().st_size:,}")]
    try:
        digests = file_digests(path)
    except (OSError, EOFError) as err:
        out.append(("content", f"unreadable ({err})"))
        return out
    if path.name.endswith(".gz"):
        out.append(("uncompressed bytes", f"{digests['size']:,}"))
    out += [("sha256", str(digests["sha256"])), ("git blob", str(digests["git_blob"]))]
    matches = find_by_sha256(str(digests["sha256"]))
    out.append((
        "dataset",
        ", ".join(f"{d.name} ({f.name})" for d, f in matches) if matches
        else "no registry dataset has this content",
    ))
    if digests["size"] == 0:
        out.append(("content", "empty"))
        return out

    lines = chars = 0
    distinct: set[str] = set()
    tabs: Counter[int] = Counter()
    commas: Counter[int] = Counter()
    first_line = ""
    try:
        for number, line in iter_lines(path, "Data"):
            text = line.rstrip("\r\n")
            if number == 1:
                first_line = text
            lines += 1
            chars += len(line)
            distinct.update(line)
            tabs[text.count("\t") + 1] += 1
            commas[text.count(",") + 1] += 1
    except ValueError as err:
        out.append(("content", f"not UTF-8 text: {err}"))
        return out
    out += [("lines", f"{lines:,}"),
            ("characters", f"{chars:,}"), ("distinct characters", str(len(distinct)))]

    suffix = _base_suffix(path)
    if suffix == ".conllu":
        try:
            sentences = words = 0
            for sentence in iter_conllu(path):
                sentences += 1
                words += len(sentence)
            out += [("format", "CoNLL-U"), ("sentences", f"{sentences:,}"),
                    ("words", f"{words:,}")]
        except ValueError as err:
            out.append(("format", f"CoNLL-U with an error: {err}"))
        return out
    separated = None
    if suffix in (".tsv", ".tab") or (suffix != ".csv" and min(tabs) > 1):
        separated, counts, delimiter = "TAB-separated", tabs, "\t"
    elif suffix == ".csv" or (min(commas) > 1 and len(commas) == 1):
        separated, counts, delimiter = "comma-separated", commas, ","
    if separated is not None:
        fields = first_line.split(delimiter)
        shown = fields[:_MAX_SHOWN_FIELDS] + (["..."] if len(fields) > _MAX_SHOWN_FIELDS else [])
        shown = [f if len(f) <= 40 else f[:37] + "..." for f in shown]
        out.append(("columns", f"{separated}; first line: {shown}"))
        if len(counts) == 1:
            out.append(("fields per line", f"{next(iter(counts))} on every line"))
        else:
            spread = ", ".join(f"{n} fields: {c:,} lines" for n, c in sorted(counts.items()))
            out.append(("fields per line", f"varies ({spread})"))
    return out
