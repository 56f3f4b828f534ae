"""The Arith addition task: formatting, encoding, targets only on the answer, fixed splits."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.arith import (
    IGNORE_INDEX,
    PAD,
    decode,
    encode_problems,
    format_problem,
    make_splits,
    sample_problems,
)


def test_format_and_encode_golden() -> None:
    assert format_problem(99999999, 1) == "99999999+1=100000000."
    assert format_problem(0, 0, reverse=True) == "0+0=0."
    x, y = encode_problems([(12, 9), (3, 4)], reverse=True)
    # "12+9=12." -> inputs "12+9=12" (sum 21 reversed), "3+4=7." -> "3+4=7" then padding
    assert decode(x[0].tolist()) == "12+9=12" and decode(x[1].tolist()) == "3+4=7"
    assert x[1, 5:].tolist() == [PAD, PAD]
    assert x.tolist()[0] == [2, 3, 11, 10, 12, 2, 3]  # token k + 1 for ALPHABET[k]
    assert y.tolist() == [
        [IGNORE_INDEX] * 4 + [2, 3, 13],  # "1", "2", "."
        [IGNORE_INDEX] * 3 + [8, 13, IGNORE_INDEX, IGNORE_INDEX],  # "7", "."
    ]


def test_digit_counts_are_uniform_and_splits_fixed_and_disjoint() -> None:
    pairs = sample_problems(8000, 8, np.random.default_rng(0))
    counts = np.bincount([len(str(a)) for a, _ in pairs], minlength=9)[1:]
    assert counts.min() > 850 and counts.max() < 1150  # 1000 expected per digit count
    assert max(max(p) for p in pairs) < 10**8
    a = make_splits(300, 50, 60, seed=3)
    b = make_splits(500, 50, 60, seed=3)
    assert a.test == b.test and a.valid == b.valid  # the test set does not move with train
    assert len(set(a.train) | set(a.valid) | set(a.test)) == 410
    assert make_splits(300, 50, 60, seed=4).test != a.test


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="Argument `a` must be a non-negative integer, got -1"):
        format_problem(-1, 2)
    with pytest.raises(ValueError, match="Argument `problems` must hold at least one"):
        encode_problems([])
    with pytest.raises(ValueError, match=r"Argument `ids` must hold token ids in \[0, 13\]"):
        decode([14])
    with pytest.raises(ValueError, match="Argument `max_digits` must be a positive integer"):
        sample_problems(3, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="must add up to at most half of the 100 pairs"):
        make_splits(40, 10, 10, max_digits=1)
