"""Pre-trained word vectors from a text file (GloVe, or word2vec/fastText ``.vec`` text).

The file has one word per line followed by its numbers, separated by single spaces::

    the 0.418 0.24968 -0.41242 ...
    , 0.013441 0.23682 -0.16899 ...

An optional first line of two integers (``count dim``, the word2vec text header) is skipped.
Every line must have the same number of values; a word may itself hold spaces (GloVe 840B
has a few), since the last ``dim`` fields are the numbers. Files ending in ``.gz`` are
decompressed on the fly. Only the words of the vocabulary are kept, so a file larger than
memory can be read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.tables import iter_lines
from rnnkit.data.vocab import Vocabulary

__all__ = ["EmbeddingsLoaded", "load_embeddings", "read_word_vectors", "vector_dim"]


def _fields(line: str) -> list[str]:
    return line.rstrip("\r\n").rstrip(" ").split(" ")


def _is_header(fields: list[str]) -> bool:
    return len(fields) == 2 and all(f.isdigit() for f in fields)


def vector_dim(path: str | os.PathLike[str]) -> int:
    """The dimension of the vectors in a word-vector file (from its first vector line).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty or binary file, or a first line without numbers.
    """
    for number, line in iter_lines(path, "Word-vector"):
        fields = _fields(line)
        if not line.strip() or _is_header(fields):
            continue
        if len(fields) < 2:
            raise ValueError(
                f"Word-vector file {str(path)!r} line {number} holds no numbers after the word; "
                "expected 'word v1 v2 ...'."
            )
        return len(fields) - 1
    raise ValueError(f"Word-vector file {str(path)!r} holds no vectors.")


def read_word_vectors(
    path: str | os.PathLike[str], words: set[str] | None = None
) -> dict[str, np.ndarray]:
    """Read the vectors of ``words`` (all words when ``None``) from a word-vector text file.

    Args:
        path: the file (``.gz`` is decompressed).
        words: the words to keep; the others are skipped without being parsed.

    Returns:
        ``{word: vector}`` with float32 vectors of one dimension (the first occurrence of a
        word wins).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line with another number of values than the first, or a value that
            is not a finite number (naming the file and the line).

    Example:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp) / "vectors.txt"
        ...     _ = path.write_text("2 3\\nthe 1 2 3\\ncat 0.5 0 -1\\n")
        ...     vectors = read_word_vectors(path, {"cat", "dog"})
        >>> {w: v.tolist() for w, v in vectors.items()}
        {'cat': [0.5, 0.0, -1.0]}
    """
    name = str(path)
    dim = vector_dim(path)
    out: dict[str, np.ndarray] = {}
    for number, line in iter_lines(path, "Word-vector"):
        if not line.strip():
            continue
        fields = _fields(line)
        if _is_header(fields):
            continue
        if len(fields) < dim + 1:
            raise ValueError(
                f"Word-vector file {name!r} line {number} has {len(fields) - 1} values, expected "
                f"{dim} as on the first line."
            )
        word = " ".join(fields[: len(fields) - dim])
        if (words is not None and word not in words) or word in out:
            continue
        try:
            vector = np.asarray(fields[len(fields) - dim :], dtype=np.float32)
        except ValueError:
            raise ValueError(
                f"Word-vector file {name!r} line {number} (word {word!r}) holds a value that is "
                "not a number."
            ) from None
        if not np.isfinite(vector).all():
            raise ValueError(
                f"Word-vector file {name!r} line {number} (word {word!r}) holds NaN or inf."
            )
        out[word] = vector
    return out


@dataclass
class EmbeddingsLoaded:
    """What :func:`load_embeddings` did: how many vocabulary words had a vector."""

    found: int  # vocabulary words given a vector from the file
    total: int  # vocabulary words looked for (specials excluded)
    dim: int  # the vectors' dimension
    path: str  # the file read

    def __str__(self) -> str:
        share = 100.0 * self.found / self.total if self.total else 0.0
        return (
            f"found vectors for {self.found} of {self.total} words ({share:.1f}%) in "
            f"{self.path} (dim {self.dim})"
        )


def load_embeddings(
    weight: torch.Tensor, vocab: Vocabulary, path: str | os.PathLike[str]
) -> EmbeddingsLoaded:
    """Copy the file's vectors into the rows of ``weight`` that belong to vocabulary words.

    A word missing from the file is looked up in lower case too (GloVe is lower-cased);
    rows of words without a vector and of the specials keep their values.

    Args:
        weight: ``[V, D]`` embedding matrix (``model.embedding.weight``), changed in place.
        vocab: the vocabulary whose ids index ``weight``.
        path: the word-vector text file.

    Returns:
        The counts, printable as one sentence.

    Raises:
        ValueError: ``weight`` is not ``[len(vocab), D]`` with ``D`` the file's dimension.
    """
    dim = vector_dim(path)
    V = len(vocab)
    if weight.dim() != 2 or tuple(weight.shape) != (V, dim):
        raise ValueError(
            f"Argument `weight` must have shape ({V}, {dim}) (vocabulary size, the dimension of "
            f"{str(path)!r}), got {tuple(weight.shape)}."
        )
    wanted = list(vocab.itos[len(vocab.specials) :])
    vectors = read_word_vectors(path, set(wanted) | {w.lower() for w in wanted})
    found = 0
    with torch.no_grad():
        for word in wanted:
            vector = vectors.get(word)
            if vector is None:
                vector = vectors.get(word.lower())
            if vector is not None:
                weight[vocab.stoi[word]] = torch.from_numpy(vector).to(weight)
                found += 1
    return EmbeddingsLoaded(found=found, total=len(wanted), dim=dim, path=str(Path(path)))
