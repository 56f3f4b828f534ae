"""The tiny-Shakespeare recipe on a short in-test text: both models train and sample."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rnnkit.recipes import run_recipe

VERSE = ("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
         "Rough winds do shake the darling buds of May,\n")
TINY = {"chars": 600, "hidden_size": 16, "embedding_dim": 8, "num_layers": 2, "epochs": 2,
        "bptt": 20, "sample_chars": 30, "window": 5}


def test_both_models_train_and_sample(tmp_path: Path) -> None:
    path = tmp_path / "verse.txt"
    path.write_text(VERSE * 6, encoding="utf-8")
    results = run_recipe("shakespeare-char-small", data=path, out=tmp_path / "run",
                         stream=io.StringIO(), overrides=TINY).results
    assert results["chars"] == 600
    for key in ("relu_rnn", "lstm"):
        run = results[key]
        assert len(run["samples"]) == 2  # one sample after each epoch
        assert all(len(s) == 30 and set(s) <= set(VERSE) for s in run["samples"])
        assert len(run["epoch_losses"]) == 2
        assert run["epoch_losses"][-1] < run["epoch_losses"][0]
    assert results["lstm"]["parameters"] > results["relu_rnn"]["parameters"]
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000


def test_too_short_a_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text("To be.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Argument `--data` must hold at least 40 characters"):
        run_recipe("shakespeare-char-small", data=path, out=tmp_path / "run",
                   stream=io.StringIO(), overrides=TINY)
