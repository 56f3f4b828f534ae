"""The data recipes on the real datasets in ``../shared/data`` (slow; skipped without them)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rnnkit.recipes import run_recipe

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHARED / "names").is_dir(),
                       reason="the shared datasets (../shared/data) are not beside the repository"),
]


def test_names_classification_on_the_18_languages(tmp_path: Path) -> None:
    results = run_recipe("names-classification", data=SHARED / "names", out=tmp_path,
                         stream=io.StringIO()).results
    assert len(results["languages"]) == 18
    assert results["accuracy"] > 0.4  # reduced run; uniform guessing is 1/18
    assert max(results["equivalence_max_abs_diff"].values()) < 1e-4


def test_names_generation_on_portuguese_names(tmp_path: Path) -> None:
    results = run_recipe("names-generation", data=SHARED / "names", out=tmp_path,
                         stream=io.StringIO()).results
    assert results["train_size"] == 74
    assert {"ã", "é", "õ", "ú"} <= set(results["alphabet"])
    assert results["course"]["losses"][-1] < 1.0


def test_shakespeare_reduced(tmp_path: Path) -> None:
    results = run_recipe("shakespeare-char-small", data=SHARED / "tinyshakespeare.txt",
                         out=tmp_path, stream=io.StringIO()).results
    assert results["chars"] == 2000
    assert results["relu_rnn"]["epoch_losses"][-1] < results["relu_rnn"]["epoch_losses"][0]
