"""read_series and make_windows: numeric columns, missing values and ragged rows reported."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.series import make_windows, read_series


def test_reads_columns_by_name_and_index(tmp_path) -> None:
    path = tmp_path / "air.csv"
    path.write_text("month,passengers,temp\n1949-01,112,3.5\n1949-02,118,-1e1\n", "utf-8")
    series = read_series(path, ["passengers", "temp"])
    assert series.values.tolist() == [[112.0, 3.5], [118.0, -10.0]]
    assert series.columns == ["passengers", "temp"] and len(series) == 2
    assert read_series(path, [1]).values.tolist() == [[112.0], [118.0]]
    headerless = tmp_path / "raw.tsv"
    headerless.write_text("1\t2\n3\t4\n", "utf-8")
    assert read_series(headerless, header=False).values.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1949-03,,2", r"line 3 column 'passengers' is empty, a missing value"),
        ("1949-03,NaN,2", r"line 3 column 'passengers' holds 'NaN', a missing value"),
        ("1949-03,inf,2", r"line 3 column 'passengers' holds 'inf'; expected a finite number"),
        ("1949-03,12x,2", r"line 3 column 'passengers' holds '12x'; expected a number"),
        ("1949-03,1", r"line 3 has 2 fields, expected 3 as on the first line \(ragged rows\)"),
    ],
)
def test_bad_values_are_reported_with_row_and_column(tmp_path, row: str, message: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(f"month,passengers,temp\n1949-01,112,3\n{row}\n", "utf-8")
    with pytest.raises(ValueError, match=r"Series file '.*s\.csv' " + message):
        read_series(path, ["passengers", "temp"])


def test_all_columns_must_be_numeric_and_columns_must_exist(tmp_path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("month,passengers\n1949-01,112\n", "utf-8")
    with pytest.raises(ValueError, match=r"line 2 column 'month' holds '1949-01'"):
        read_series(path)
    with pytest.raises(ValueError, match=r"line 1 has no column 'temp'; the header has"):
        read_series(path, ["temp"])
    empty = tmp_path / "e.csv"
    empty.write_text("month,passengers\n", "utf-8")
    with pytest.raises(ValueError, match=r"e\.csv' has no data rows"):
        read_series(empty)


def test_make_windows() -> None:
    values = np.stack([np.arange(10.0), 10 * np.arange(10.0)], axis=1)
    inputs, targets = make_windows(values, window=4, horizon=2, target_columns=[1], stride=3)
    assert inputs.shape == (2, 4, 2) and targets.shape == (2, 2)
    assert inputs[1, :, 0].tolist() == [3, 4, 5, 6] and targets[1].tolist() == [70, 80]
    with pytest.raises(ValueError, match=r"at least window \+ horizon = 12 steps; got 10"):
        make_windows(values, window=11)
    with pytest.raises(ValueError, match=r"must be finite; row 2 holds NaN"):
        make_windows(np.array([1.0, 2.0, np.nan, 3.0]), window=1)
