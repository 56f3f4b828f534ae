"""Small synthetic tasks with known answers, for tests, recipes and first experiments.

Each task is deterministic given its ``seed`` and small enough to learn in seconds:

* :func:`marker_sequences` (many-to-one): does the sequence contain the marker token?
* :func:`parity_sequences` (many-to-many): tag every position with the parity of the number
  of ones seen so far (a running XOR).
* :func:`delayed_sum` (regression): the sum of the inputs ``delay`` to
  ``delay + span - 1`` steps back, per step or at the last step.

The ``*_texts`` / ``*_sentences`` / ``delayed_sum_series`` variants give the same tasks as
strings and columns, and :func:`write_table`, :func:`write_conllu` and :func:`write_series`
put them into the files the ``rnnkit train`` commands read.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "delayed_sum",
    "delayed_sum_series",
    "marker_sequences",
    "marker_texts",
    "parity_sentences",
    "parity_sequences",
    "write_conllu",
    "write_series",
    "write_table",
]


def _check_count(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"Argument `{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_lengths(min_length: int, max_length: int) -> None:
    _check_count("min_length", min_length)
    _check_count("max_length", max_length)
    if max_length < min_length:
        raise ValueError(
            f"Argument `max_length` must be >= min_length={min_length}, got {max_length}."
        )


def marker_sequences(
    n: int,
    *,
    vocab_size: int = 8,
    min_length: int = 3,
    max_length: int = 10,
    seed: int = 0,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Token sequences labelled 1 when they contain the marker (id 1), else 0 (about half
    each).

    Other tokens are drawn from ``[2, vocab_size)``; id 0 is left for padding.

    Args:
        n: number of sequences.
        vocab_size: ``V`` (at least 3).
        min_length, max_length: the range of lengths (inclusive).
        seed: seeds the draw.

    Returns:
        ``(sequences, labels)``: ``n`` int64 arrays and ``[n]`` int64 labels.

    Example:
        >>> seqs, labels = marker_sequences(4, seed=1)
        >>> [int(1 in s) for s in seqs] == labels.tolist()
        True
    """
    _check_count("n", n)
    _check_count("vocab_size", vocab_size, 3)
    _check_lengths(min_length, max_length)
    rng = np.random.default_rng(seed)
    sequences, labels = [], []
    for _ in range(n):
        length = int(rng.integers(min_length, max_length + 1))
        seq = rng.integers(2, vocab_size, size=length)
        label = int(rng.integers(2))
        if label:
            seq[rng.integers(length)] = 1
        sequences.append(seq.astype(np.int64))
        labels.append(label)
    return sequences, np.asarray(labels, dtype=np.int64)


def parity_sequences(
    n: int, *, min_length: int = 2, max_length: int = 8, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Bit sequences and, at every position, the parity of the ones so far.

    Bits are encoded as token ids 1 (a zero) and 2 (a one); id 0 is left for padding.

    Returns:
        ``(sequences, tags)``: ``n`` int64 arrays of ids and ``n`` int64 arrays of 0/1 tags,
        each as long as its sequence.

    Example:
        >>> seqs, tags = parity_sequences(1, min_length=5, max_length=5, seed=3)
        >>> bits = seqs[0] - 1
        >>> tags[0].tolist() == (np.cumsum(bits) % 2).tolist()
        True
    """
    _check_count("n", n)
    _check_lengths(min_length, max_length)
    rng = np.random.default_rng(seed)
    sequences, tags = [], []
    for _ in range(n):
        length = int(rng.integers(min_length, max_length + 1))
        bits = rng.integers(2, size=length)
        sequences.append((bits + 1).astype(np.int64))
        tags.append((np.cumsum(bits) % 2).astype(np.int64))
    return sequences, tags


def _delayed(x: np.ndarray, delay: int, span: int) -> np.ndarray:
    """``y[t] = x[t - delay] + ... + x[t - delay - span + 1]`` (zero before the start)."""
    y = np.zeros_like(x)
    for k in range(delay, delay + span):
        if k == 0:
            y += x
        elif k < len(x):
            y[k:] += x[:-k]
    return y


def delayed_sum(
    n: int,
    *,
    length: int = 10,
    delay: int = 2,
    span: int = 2,
    many_to_one: bool = True,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and the sum of the inputs ``delay .. delay + span - 1`` steps back.

    Args:
        n: number of sequences.
        length: ``T``.
        delay: how far back the window of summed inputs ends (0 includes the current step).
        span: how many inputs are summed.
        many_to_one: targets only at the last step (``[n]``) instead of every step.
        seed: seeds the draw.

    Returns:
        ``inputs [n, T, 1]`` float32 uniform in ``[-1, 1]``, targets ``[n]`` or ``[n, T]``.

    Example:
        >>> x, y = delayed_sum(2, length=4, delay=1, span=2, many_to_one=False)
        >>> bool(np.allclose(y[:, 3], x[:, 2, 0] + x[:, 1, 0]))
        True
    """
    _check_count("n", n)
    _check_count("length", length)
    _check_count("delay", delay, 0)
    _check_count("span", span)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n, length)).astype(np.float32)
    y = np.stack([_delayed(row, delay, span) for row in x])
    targets = y[:, -1] if many_to_one else y
    return x[:, :, None], targets.astype(np.float32)


def delayed_sum_series(
    steps: int, *, delay: int = 1, span: int = 2, seed: int = 0
) -> np.ndarray:
    """One long series with columns ``x`` (random) and ``y`` (its delayed sum), ``[steps, 2]``.

    With ``delay >= 1`` the next ``y`` is known from the past ``x``: a forecaster with a window
    of at least ``delay + span - 1`` steps can predict it exactly.

    Example:
        >>> values = delayed_sum_series(5, delay=1, span=1)
        >>> bool(np.allclose(values[1:, 1], values[:-1, 0]))
        True
    """
    _check_count("steps", steps)
    x, _ = delayed_sum(1, length=steps, delay=delay, span=span, seed=seed)
    column = x[0, :, 0]
    return np.stack([column, _delayed(column, delay, span)], axis=1).astype(np.float64)


def marker_texts(
    n: int, *, marker: str = "x", words: Sequence[str] = ("a", "b", "c", "d", "e"),
    min_length: int = 3, max_length: int = 8, seed: int = 0,
) -> tuple[list[str], list[str]]:
    """:func:`marker_sequences` as texts: labels ``"yes"`` when the marker word occurs.

    Example:
        >>> texts, labels = marker_texts(3, seed=2)
        >>> [("x" in t.split()) == (label == "yes") for t, label in zip(texts, labels)]
        [True, True, True]
    """
    vocab = [marker, *words]
    sequences, labels = marker_sequences(
        n, vocab_size=len(vocab) + 1, min_length=min_length, max_length=max_length, seed=seed
    )
    texts = [" ".join(vocab[i - 1] for i in seq) for seq in sequences]
    return texts, ["yes" if label else "no" for label in labels]


def parity_sentences(
    n: int, *, min_length: int = 2, max_length: int = 8, seed: int = 0
) -> tuple[list[list[str]], list[list[str]]]:
    """:func:`parity_sequences` as words ``zero``/``one`` tagged ``EVEN``/``ODD``.

    Example:
        >>> words, tags = parity_sentences(1, min_length=3, max_length=3, seed=0)
        >>> len(words[0]) == len(tags[0]) == 3
        True
    """
    sequences, tags = parity_sequences(n, min_length=min_length, max_length=max_length, seed=seed)
    names = ["", "zero", "one"]
    return (
        [[names[i] for i in seq] for seq in sequences],
        [["ODD" if t else "EVEN" for t in row] for row in tags],
    )


def write_table(
    path: str | os.PathLike[str], texts: Sequence[str], labels: Sequence[str]
) -> Path:
    """Write ``text``/``label`` rows as CSV, TSV or JSONL (by the file's suffix).

    Raises:
        ValueError: an unknown suffix, counts that differ, or a TAB or newline in a TSV text.
    """
    path = Path(path)
    if len(texts) != len(labels):
        raise ValueError(
            f"Arguments `texts` and `labels` must have the same length, got {len(texts)} and "
            f"{len(labels)}."
        )
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        lines = [json.dumps({"text": t, "label": y}) for t, y in zip(texts, labels, strict=True)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif suffix in (".csv", ".tsv"):
        if suffix == ".tsv" and any("\t" in t or "\n" in t for t in texts):
            raise ValueError("Argument `texts` must hold no TAB or newline for a TSV file.")
        with path.open("w", newline="", encoding="utf-8") as handle:
            if suffix == ".csv":
                writer = csv.writer(handle)
                writer.writerow(["text", "label"])
                writer.writerows(zip(texts, labels, strict=True))
            else:
                handle.write("text\tlabel\n")
                handle.writelines(f"{t}\t{y}\n" for t, y in zip(texts, labels, strict=True))
    else:
        raise ValueError(
            f"Argument `path` must end in .csv, .tsv or .jsonl, got {str(path)!r}."
        )
    return path


def write_conllu(
    path: str | os.PathLike[str],
    words: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
    xpos: Sequence[Sequence[str]] | None = None,
) -> Path:
    """Write tagged sentences as a minimal CoNLL-U file (FORM, UPOS and XPOS filled).

    Raises:
        ValueError: a sentence whose tags do not match its words in number.
    """
    path = Path(path)
    xpos = tags if xpos is None else xpos
    blocks = []
    for n, (ws, ts, xs) in enumerate(zip(words, tags, xpos, strict=True)):
        if not len(ws) == len(ts) == len(xs):
            raise ValueError(
                f"Sentence {n} has {len(ws)} words but {len(ts)} UPOS and {len(xs)} XPOS tags."
            )
        rows = [f"# sent_id = {n + 1}"] + [
            f"{i}\t{w}\t_\t{t}\t{x}\t_\t0\t_\t_\t_"
            for i, (w, t, x) in enumerate(zip(ws, ts, xs, strict=True), start=1)
        ]
        blocks.append("\n".join(rows) + "\n")
    path.write_text("\n".join(blocks) + "\n", encoding="utf-8")
    return path


def write_series(
    path: str | os.PathLike[str], values: np.ndarray, columns: Sequence[str]
) -> Path:
    """Write a ``[N, C]`` series as CSV with a header of ``columns``.

    Raises:
        ValueError: ``values`` is not 2-D with one column per name.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(columns):
        raise ValueError(
            f"Argument `values` must be [N, {len(columns)}] (one column per name), got shape "
            f"{array.shape}."
        )
    path = Path(path)
    lines = [",".join(columns)] + [",".join(repr(float(v)) for v in row) for row in array]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
