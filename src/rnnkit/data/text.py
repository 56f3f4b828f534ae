"""Plain-text corpora: read and check a UTF-8 file, whole or in bounded pieces.

A corpus must be non-empty UTF-8 text. A NUL byte means a binary file; invalid UTF-8 means a
wrong encoding. Both are reported with the file, the byte offset and the line, before any
work is done on the text. Files whose name ends in ``.gz`` are decompressed on the fly.
"""

from __future__ import annotations

import codecs
import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["DEFAULT_PIECE_BYTES", "iter_text", "open_binary", "read_text"]

#: Bytes read at a time by :func:`iter_text` (1 MiB).
DEFAULT_PIECE_BYTES = 1 << 20


def open_binary(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for reading bytes, decompressing when the name ends in ``.gz``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is a directory.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"Expected a file, got the directory {str(path)!r}.")
    if not path.exists():
        raise FileNotFoundError(f"No such file: {str(path)!r}.")
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")  # the caller closes it


def iter_text(
    path: str | os.PathLike[str],
    piece_bytes: int = DEFAULT_PIECE_BYTES,
    *,
    name: str = "Text file",
) -> Iterator[str]:
    """Yield the text of a UTF-8 file in pieces of about ``piece_bytes`` bytes.

    The memory used is bounded by ``piece_bytes`` whatever the size of the file. A multi-byte
    character split between two reads is kept whole. Pieces may cut words and lines.

    Args:
        path: a UTF-8 text file (``.gz`` is decompressed).
        piece_bytes: bytes read at a time.
        name: how the messages name the file before its path, e.g. ``"Option `--text` file"``
            so that a command's error names the option it came from.

    Yields:
        Consecutive pieces whose concatenation is the whole text.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is empty, contains a NUL byte (binary) or is not valid UTF-8;
            the message names the file, the byte offset (in the decompressed stream) and
            the line.
    """
    if isinstance(piece_bytes, bool) or not isinstance(piece_bytes, int) or piece_bytes < 1:
        raise ValueError(f"Argument `piece_bytes` must be a positive integer; got {piece_bytes!r}.")
    path = Path(path)
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0  # bytes consumed before this piece
    newlines = 0  # newlines before this piece
    with open_binary(path) as stream:
        while True:
            try:
                raw = stream.read(piece_bytes)
            except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
                raise ValueError(
                    f"{name} {str(path)!r} cannot be decompressed after byte offset "
                    f"{offset}: {err}."
                ) from None
            final = not raw
            if final and offset == 0:
                raise ValueError(f"{name} {str(path)!r} is empty; expected some text.")
            nul = raw.find(b"\0")
            if nul >= 0:
                line = newlines + raw.count(b"\n", 0, nul) + 1
                raise ValueError(
                    f"{name} {str(path)!r} contains a NUL byte at byte offset {offset + nul} "
                    f"(line {line}); it looks binary, expected UTF-8 text."
                )
            pending = decoder.getstate()[0]  # bytes of a character cut by the last read
            try:
                piece = decoder.decode(raw, final=final)
            except UnicodeDecodeError as err:
                # err.object is the held-back bytes followed by this read.
                position = offset - len(pending) + err.start
                line = newlines + err.object.count(b"\n", 0, err.start) + 1
                raise ValueError(
                    f"{name} {str(path)!r} is not valid UTF-8 at byte offset {position} "
                    f"(line {line}): {err.reason}."
                ) from None
            if final:
                return
            offset += len(raw)
            newlines += raw.count(b"\n")
            if piece:
                yield piece


def read_text(path: str | os.PathLike[str], *, name: str = "Text file") -> str:
    """Read a whole UTF-8 text file, checking that it is text.

    Args:
        path: the file (``.gz`` is decompressed).
        name: how the messages name the file (see :func:`iter_text`).

    Returns:
        The text, unchanged (line endings kept as they are in the file).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is empty, binary (a NUL byte) or not UTF-8; the message names
            the file and the byte offset.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp) / "tiny.txt"
        ...     _ = path.write_bytes("to be\\nor not\\n".encode())
        ...     text = read_text(path)
        ...     _ = path.write_bytes(b"ok\\n\\xff")
        ...     try:
        ...         read_text(path)
        ...     except ValueError as err:
        ...         message = str(err)
        >>> text
        'to be\\nor not\\n'
        >>> message.split("' ")[1]
        'is not valid UTF-8 at byte offset 3 (line 2): invalid start byte.'
    """
    return "".join(iter_text(path, name=name))
