"""The character-GRU sentiment recipe (reduced): both test sentences classified right."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from rnnkit.cli import main


def test_both_test_sentences_right(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["recipe", "run", "char-gru-sentiment", "--json", "--out", str(tmp_path),
                       "--set", "seeds=2", "--set", "course_epochs=50"])
    assert status == 0
    results = json.loads(out.getvalue())["results"]
    probabilities = results["probabilities"]
    negative = probabilities["The movie was not interesting to me"]
    positive = probabilities["I liked the movie with great interest"]
    assert set(negative) == {"negative", "positive"}
    assert negative["negative"] > 0.5 > negative["positive"]
    assert positive["positive"] > 0.5 > positive["negative"]
    assert abs(negative["negative"] + negative["positive"] - 1.0) < 1e-6
    assert results["better"]["seeds"] == 2 and len(results["better"]["per_seed"]) == 2
    assert "both test sentences right on" in err.getvalue()
    for name in ("cost.png", "accuracy.png"):
        assert (tmp_path / name).stat().st_size > 1000
