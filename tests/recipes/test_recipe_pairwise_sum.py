"""The pairwise-sum recipe (reduced): the better model gets both test sequences right."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from rnnkit.cli import main


def test_pairwise_sum_predictions_within_a_tenth(tmp_path: Path) -> None:
    """y_t = x_t + x_{t-1}: (1 2 3 4) → (1 3 5 7) and (4 5 6 7) → (4 9 11 13)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        # the course's model only needs to run, not to converge: keep it short
        status = main(["recipe", "run", "pairwise-sum", "--json", "--out", str(tmp_path),
                       "--set", "course_iterations=100"])
    assert status == 0
    data = json.loads(out.getvalue())
    assert data["recipe"] == "pairwise-sum"
    predictions = data["results"]["predictions"]
    assert len(predictions) == 2 and all(len(p) == 4 for p in predictions)
    assert predictions[0] == pytest.approx([1, 3, 5, 7], abs=0.1)
    assert predictions[1] == pytest.approx([4, 9, 11, 13], abs=0.1)
    assert len(data["results"]["course_predictions"]) == 2
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
