"""The Arith task of Jozefowicz et al. 2015: add two numbers written as characters.

Two non-negative integers of up to ``max_digits`` digits are written ``"12345+678="`` and the
model continues with the digits of their sum and an end mark, ``"13023."``. A problem is one
character sequence read left to right::

    12345+678=13023.        (reverse=False)
    12345+678=32031.        (reverse=True: the sum's digits least significant first)
    inputs   1 2 3 4 5 + 6 7 8 = 1 3 0 2 3    (the sequence without its last character)
    targets  _ _ _ _ _ _ _ _ _ 1 3 0 2 3 .    (the next character; "_" = ignored: the loss
                                               and the metric see only the answer and its
                                               end mark)

Each operand's number of digits is drawn uniformly from ``1..max_digits``, then its digits
uniformly (no leading zero), so short and long problems are equally common. The three splits
are drawn from one seeded generator and are disjoint (no pair ``(a, b)`` in two splits).

Example:
    >>> format_problem(12345, 678)
    '12345+678=13023.'
    >>> format_problem(12345, 678, reverse=True)
    '12345+678=32031.'
    >>> x, y = encode_problems([(5, 7)])
    >>> decode(x[0].tolist()), [decode([t]) if t >= 0 else "_" for t in y[0].tolist()]
    ('5+7=12', ['_', '_', '_', '1', '2', '.'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "ALPHABET",
    "END",
    "IGNORE_INDEX",
    "PAD",
    "ArithSplits",
    "decode",
    "encode_problems",
    "format_problem",
    "make_splits",
    "sample_problems",
]

#: The characters of the task; token ``k + 1`` is ``ALPHABET[k]`` (token 0 is padding).
ALPHABET = "0123456789+=."
#: Token id of the padding after a sequence's end.
PAD = 0
#: The end mark written after the sum.
END = "."
#: Target value of the positions no loss is taken on (``torch.nn.CrossEntropyLoss``'s default).
IGNORE_INDEX = -100

_IDS = {ch: k + 1 for k, ch in enumerate(ALPHABET)}


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")
    return int(value)


def format_problem(a: int, b: int, reverse: bool = False) -> str:
    """The problem's whole character sequence: ``"a+b="``, the sum's digits, the end mark.

    Args:
        a, b: the non-negative operands.
        reverse: write the sum's digits least significant first.

    Raises:
        ValueError: an operand is not a non-negative integer.
    """
    for name, value in (("a", a), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"Argument `{name}` must be a non-negative integer, got {value!r}.")
    total = str(int(a) + int(b))
    return f"{int(a)}+{int(b)}=" + (total[::-1] if reverse else total) + END


def decode(ids: Sequence[int]) -> str:
    """Characters of token ids, padding dropped.

    Raises:
        ValueError: an id outside ``0..len(ALPHABET)``.
    """
    out = []
    for t in ids:
        if not 0 <= int(t) <= len(ALPHABET):
            raise ValueError(
                f"Argument `ids` must hold token ids in [0, {len(ALPHABET)}], got {int(t)}."
            )
        if int(t) != PAD:
            out.append(ALPHABET[int(t) - 1])
    return "".join(out)


def encode_problems(
    problems: Sequence[tuple[int, int]], reverse: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-character targets of a batch, padded at the end.

    Args:
        problems: ``(a, b)`` pairs.
        reverse: write each sum's digits least significant first.

    Shape:
        Both outputs ``[B, T]`` (``T`` = the longest sequence minus one), int64.

    Returns:
        ``(inputs, targets)``: ``inputs`` the sequence without its last character (``PAD``
        after it); ``targets[t]`` the character at ``t + 1`` where that character is part of
        the answer (its digits and the end mark), else :data:`IGNORE_INDEX`.

    Raises:
        ValueError: no problems, or an operand is not a non-negative integer.
    """
    if len(problems) == 0:
        raise ValueError("Argument `problems` must hold at least one (a, b) pair, got none.")
    texts = [format_problem(a, b, reverse) for a, b in problems]
    T = max(len(s) for s in texts) - 1
    inputs = torch.full((len(texts), T), PAD, dtype=torch.int64)
    targets = torch.full((len(texts), T), IGNORE_INDEX, dtype=torch.int64)
    for row, text in enumerate(texts):
        ids = [_IDS[ch] for ch in text]
        inputs[row, : len(ids) - 1] = torch.tensor(ids[:-1])
        start = text.index("=")  # the input "=" is where the first answer digit is predicted
        targets[row, start : len(ids) - 1] = torch.tensor(ids[start + 1 :])
    return inputs, targets


def sample_problems(
    count: int, max_digits: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """``count`` pairs whose digit counts are uniform in ``1..max_digits``.

    Raises:
        ValueError: ``count`` or ``max_digits`` is not a positive integer.

    >>> sample_problems(3, 2, np.random.default_rng(0))
    [(11, 83), (92, 6), (7, 5)]
    """
    count = _check_count("count", count)
    max_digits = _check_count("max_digits", max_digits)
    digits = rng.integers(1, max_digits + 1, size=(count, 2))
    low = np.where(digits == 1, 0, 10 ** (digits - 1))
    values = low + np.floor(rng.random((count, 2)) * (10**digits - low)).astype(np.int64)
    return [(int(a), int(b)) for a, b in values]


@dataclass(frozen=True)
class ArithSplits:
    """Fixed, disjoint train / validation / test problems.

    Attributes:
        train, valid, test: ``(a, b)`` pairs.
        max_digits: the most digits an operand has.
    """

    train: list[tuple[int, int]]
    valid: list[tuple[int, int]]
    test: list[tuple[int, int]]
    max_digits: int


def make_splits(
    train: int, valid: int, test: int, max_digits: int = 8, seed: int = 0
) -> ArithSplits:
    """Draw the three splits from one generator seeded with ``seed``, without repeats.

    The test set is drawn first, then validation, then training, each skipping the pairs
    already drawn, so the same ``seed`` and sizes give the same test set whatever ``train`` is.

    Raises:
        ValueError: a size is not a positive integer, or there are not enough distinct pairs.

    >>> s = make_splits(50, 5, 5, max_digits=2, seed=1)
    >>> len(set(s.train) | set(s.valid) | set(s.test))
    60
    """
    sizes = {name: _check_count(name, n) for name, n in (("test", test), ("valid", valid),
                                                        ("train", train))}
    max_digits = _check_count("max_digits", max_digits)
    if sum(sizes.values()) > 0.5 * 10 ** (2 * max_digits):
        raise ValueError(
            f"Arguments `train`, `valid`, `test` must add up to at most half of the "
            f"{10 ** (2 * max_digits)} pairs of up to {max_digits} digits, got "
            f"{sum(sizes.values())}."
        )
    rng = np.random.default_rng(seed)
    seen: set[tuple[int, int]] = set()
    out: dict[str, list[tuple[int, int]]] = {}
    for name, n in sizes.items():
        chosen: list[tuple[int, int]] = []
        while len(chosen) < n:
            for pair in sample_problems(2 * (n - len(chosen)), max_digits, rng):
                if pair not in seen and len(chosen) < n:
                    seen.add(pair)
                    chosen.append(pair)
        out[name] = chosen
    return ArithSplits(out["train"], out["valid"], out["test"], max_digits)
