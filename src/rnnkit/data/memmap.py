"""Token files: a corpus encoded once into a flat binary array, opened as a memory map.

``prepare_token_file`` streams a text file in pieces (memory bounded by the piece size, not by
the corpus) and writes, into one directory::

    tokens.bin   the token ids, one after another: np.uint16 if the vocabulary has at most
                 65,536 entries, else np.uint32 (little-endian, no header)
    vocab.json   the Vocabulary (see rnnkit.data.vocab)
    meta.json    format, version, dtype, token count, level and the source's sha256

``open_token_file`` maps ``tokens.bin`` read-only: a :class:`~rnnkit.data.batching.StreamBatches`
over it reads only the chunks it serves, so a corpus larger than memory trains fine (the
nanoGPT ``prepare.py`` / ``np.memmap`` pattern).

At word level every line ends with ``<eos>``, as in the pytorch/examples word language model
(``line.split() + ['<eos>']``); at char level the newline is a character like any other.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.text import DEFAULT_PIECE_BYTES, iter_text
from rnnkit.data.vocab import DEFAULT_SPECIALS, Vocabulary

__all__ = [
    "TOKENS_FORMAT",
    "TOKENS_FORMAT_VERSION",
    "open_token_file",
    "prepare_token_file",
    "read_token_meta",
]

#: The ``format`` field of ``meta.json``.
TOKENS_FORMAT = "rnnkit.tokens"
#: The ``version`` field of ``meta.json``; other versions are refused.
TOKENS_FORMAT_VERSION = 1
_DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


def _word_pieces(pieces: Iterable[str], eos: str | None) -> Iterator[list[str]]:
    """Turn text pieces (which may cut words and lines) into lists of whole words.

    A line's words are followed by ``eos`` when given. Only the last, unfinished word of a
    piece is carried over, so memory stays bounded even for a file without newlines.
    """
    carry = ""
    line_open = False  # characters seen since the last newline
    for piece in pieces:
        buffer = carry + piece
        *lines, rest = buffer.split("\n")
        for line in lines:
            yield line.split() + ([eos] if eos else [])
        if lines:
            line_open = False
        # Emit the whole words of the unfinished line; keep its last (maybe cut) word.
        cut = max(rest.rfind(" "), rest.rfind("\t"), rest.rfind("\r"))
        if cut >= 0:
            words = rest[:cut].split()
            if words:
                yield words
            carry = rest[cut + 1 :]
        else:
            carry = rest
        line_open = line_open or bool(rest)
    if line_open:
        yield carry.split() + ([eos] if eos else [])


def _tokens(
    pieces: Iterable[str], level: str, eos: str | None
) -> Iterator[str | list[str]]:
    """Char level: the pieces themselves; word level: lists of words."""
    if level == "char":
        yield from pieces
    else:
        yield from _word_pieces(pieces, eos)


def _dtype_for(size: int) -> str:
    if size <= 1 << 16:
        return "uint16"
    if size <= 1 << 32:
        return "uint32"
    raise ValueError(f"Argument `vocab` has {size} entries; token files hold at most 2**32 ids.")


def _sha256_of(path: Path, piece_bytes: int) -> str:
    digest = hashlib.sha256()
    for piece in iter_text(path, piece_bytes):
        digest.update(piece.encode("utf-8"))  # valid UTF-8 re-encodes to the same bytes
    return digest.hexdigest()


#: What :func:`prepare_token_file` writes, finished or interrupted: a directory without
#: ``meta.json`` that holds nothing else is its own, and may be written into.
_OWN_FILES = frozenset(
    {"tokens.bin", "tokens.bin.tmp", "vocab.json", "vocab.json.tmp", "meta.json.tmp"}
)


def prepare_token_file(
    text_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    level: str = "char",
    vocab: Vocabulary | None = None,
    specials: Sequence[str] = DEFAULT_SPECIALS,
    max_size: int | None = None,
    min_freq: int = 1,
    overwrite: bool = False,
    piece_bytes: int = DEFAULT_PIECE_BYTES,
) -> Path:
    """Encode a text file into ``out_dir/tokens.bin`` + ``vocab.json`` + ``meta.json``.

    Two streaming passes: the first counts tokens (skipped when ``vocab`` is given), the
    second encodes and appends to ``tokens.bin``. Files are written under temporary names and
    renamed, ``meta.json`` last, so an interrupted run never leaves a directory that opens.
    Running again on the same source and level reuses the existing files.

    Args:
        text_path: a UTF-8 text file (``.gz`` is decompressed).
        out_dir: the directory to write (created if needed).
        level: ``"char"`` or ``"word"`` (with ``<eos>`` at every line end).
        vocab: encode with this vocabulary (e.g. the training split's, for valid and test);
            default: build one from the text.
        specials: specials of the built vocabulary.
        max_size: largest size of the built vocabulary (specials included).
        min_freq: rarer tokens of the built vocabulary become ``<unk>``.
        overwrite: replace files prepared from another source or with other options.
        piece_bytes: bytes read at a time (bounds the memory used).

    Returns:
        ``out_dir``.

    Raises:
        FileNotFoundError: no such text file.
        FileExistsError: ``out_dir`` holds a token file from another source or level and
            ``overwrite`` is false, or it is a non-empty directory of something else (a run
            directory, say), which is never written into.
        ValueError: the text is empty, binary or not UTF-8; ``level`` differs from the given
            vocabulary's; word level without ``<eos>`` in the vocabulary; an unknown token
            and no ``<unk>``.

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     text = pathlib.Path(tmp) / "corpus.txt"
        ...     _ = text.write_text("a cat\\na dog\\n")
        ...     out = prepare_token_file(text, pathlib.Path(tmp) / "tokens", level="word")
        ...     tokens, vocab = open_token_file(out)
        ...     print(vocab.decode(tokens.tolist()), tokens.dtype)
        a cat <eos> a dog <eos> uint16
    """
    text_path = Path(text_path)
    out_dir = Path(out_dir)
    if level not in ("char", "word"):
        raise ValueError(f"Argument `level` must be one of char, word; got {level!r}.")
    if vocab is not None and vocab.level != level:
        raise ValueError(
            f"Argument `vocab` is a {vocab.level}-level vocabulary; got level={level!r}."
        )
    source_sha256 = _sha256_of(text_path, piece_bytes)  # also checks the text up front
    options = {
        "level": level,
        "max_size": max_size,
        "min_freq": min_freq,
        "given_vocab": vocab.to_dict() if vocab is not None else None,
        "specials": list(specials) if vocab is None else None,
    }
    meta_path = out_dir / "meta.json"
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text("utf-8"))
        except (OSError, ValueError):
            old = {}
        same = old.get("source_sha256") == source_sha256 and old.get("options") == options
        if same and (out_dir / "tokens.bin").exists() and (out_dir / "vocab.json").exists():
            open_token_file(out_dir)  # validates; raises if the files were damaged
            return out_dir
        if not overwrite:
            raise FileExistsError(
                f"Directory {str(out_dir)!r} already holds a token file prepared from another "
                "source or with other options; pass overwrite=True (--overwrite) to replace it."
            )
        meta_path.unlink()
    elif out_dir.is_dir():
        foreign = sorted(e.name for e in out_dir.iterdir() if e.name not in _OWN_FILES)
        if foreign:
            # vocab.json would replace a run's own vocabulary file, for one
            raise FileExistsError(
                f"Directory {str(out_dir)!r} is not a token directory and not empty (it holds "
                f"{', '.join(map(repr, foreign[:3]))}{', ...' if len(foreign) > 3 else ''}); "
                "choose a new or empty directory."
            )

    if vocab is None:
        counts: Counter[str] = Counter()
        eos = "<eos>" if "<eos>" in specials else None
        for tokens in _tokens(iter_text(text_path, piece_bytes), level, eos):
            counts.update(tokens)
        vocab = Vocabulary.from_counts(
            counts, level=level, specials=specials, max_size=max_size, min_freq=min_freq
        )
    if level == "word" and vocab.eos_id is None:
        raise ValueError(
            "Argument `vocab` needs an <eos> token for word-level token files (every line "
            f"ends with <eos>); it has the specials {list(vocab.specials)}."
        )
    dtype_name = _dtype_for(len(vocab))
    dtype = _DTYPES[dtype_name]

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_tokens = out_dir / "tokens.bin.tmp"
    count = 0
    try:
        with open(tmp_tokens, "wb") as sink:
            eos = "<eos>" if level == "word" else None
            for tokens in _tokens(iter_text(text_path, piece_bytes), level, eos):
                ids = np.asarray(vocab.encode(tokens), dtype=dtype)
                sink.write(ids.tobytes())
                count += len(ids)
        if count < 2:
            raise ValueError(
                f"Text file {str(text_path)!r} gives {count} token(s); a token stream needs at "
                "least 2."
            )
        vocab.save(out_dir / "vocab.json")
        tmp_tokens.replace(out_dir / "tokens.bin")
    finally:
        tmp_tokens.unlink(missing_ok=True)
    meta = {
        "format": TOKENS_FORMAT,
        "version": TOKENS_FORMAT_VERSION,
        "dtype": dtype_name,
        "num_tokens": count,
        "level": level,
        "vocab_size": len(vocab),
        "source": str(text_path),
        "source_sha256": source_sha256,
        "options": options,
    }
    tmp_meta = out_dir / "meta.json.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=1), "utf-8")
    tmp_meta.replace(meta_path)
    return out_dir


def read_token_meta(
    directory: str | os.PathLike[str], *, name: str = "Token directory"
) -> dict[str, Any]:
    """Read and check ``meta.json`` of a token directory.

    Args:
        directory: the directory written by :func:`prepare_token_file`.
        name: how the messages name the directory before its path, e.g. ``"Setting
            `data.tokens` (--tokens) directory"``, so that a command's error names its option.

    Raises:
        FileNotFoundError: no such directory, or no ``meta.json`` in it.
        ValueError: a file instead of a directory, not an rnnkit token file, or another
            format version.
    """
    where = f"{name} {str(directory)!r}"
    directory = Path(directory)
    if not directory.is_dir():
        if directory.exists():
            raise ValueError(
                f"{where} is a file; expected the directory `rnnkit data prepare` writes."
            )
        raise FileNotFoundError(f"{where} does not exist.")
    path = directory / "meta.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{where} holds no token file: meta.json is missing (run `rnnkit data prepare` "
            "first)."
        )
    try:
        meta = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{where} holds a meta.json that is not valid JSON ({err}).") from None
    if not isinstance(meta, dict) or meta.get("format") != TOKENS_FORMAT:
        raise ValueError(f"{where} holds a meta.json that is not rnnkit token metadata.")
    if meta.get("version") != TOKENS_FORMAT_VERSION:
        raise ValueError(
            f"{where} holds token metadata of version {meta.get('version')!r}; this rnnkit "
            f"reads version {TOKENS_FORMAT_VERSION}."
        )
    if meta.get("dtype") not in _DTYPES or not isinstance(meta.get("num_tokens"), int):
        raise ValueError(f"{where} holds token metadata with a bad dtype or num_tokens.")
    return meta


def open_token_file(
    directory: str | os.PathLike[str], *, name: str = "Token directory"
) -> tuple[np.memmap, Vocabulary]:
    """Open a directory written by :func:`prepare_token_file`.

    Args:
        directory: the directory holding ``tokens.bin``, ``vocab.json`` and ``meta.json``.
        name: how the messages name the directory (see :func:`read_token_meta`).

    Returns:
        ``(tokens, vocab)``: a read-only 1-D ``np.memmap`` of ids (uint16 or uint32) and the
        vocabulary.

    Raises:
        FileNotFoundError: the directory or a file in it is missing.
        ValueError: the files disagree (size, vocabulary) or are not rnnkit's.
    """
    where = f"{name} {str(directory)!r}"
    directory = Path(directory)
    meta = read_token_meta(directory, name=name)
    for file in ("vocab.json", "tokens.bin"):
        if not (directory / file).exists():
            raise FileNotFoundError(f"{where} has a meta.json but no {file}.")
    try:
        vocab = Vocabulary.load(directory / "vocab.json")
    except ValueError as err:
        raise ValueError(f"{where} holds a broken vocab.json ({err})") from None
    dtype = _DTYPES[meta["dtype"]]
    tokens_path = directory / "tokens.bin"
    expected = meta["num_tokens"] * dtype.itemsize
    actual = tokens_path.stat().st_size
    if actual != expected:
        raise ValueError(
            f"{where} is damaged: tokens.bin has {actual} bytes; meta.json promises "
            f"{meta['num_tokens']} {meta['dtype']} tokens ({expected} bytes)."
        )
    if len(vocab) != meta.get("vocab_size") or vocab.level != meta.get("level"):
        raise ValueError(
            f"{where} is damaged: vocab.json does not match meta.json (size {len(vocab)} vs "
            f"{meta.get('vocab_size')}, level {vocab.level!r} vs {meta.get('level')!r})."
        )
    tokens = np.memmap(tokens_path, dtype=dtype, mode="r", shape=(meta["num_tokens"],))
    return tokens, vocab
