"""The data recipes on the real datasets in ``../shared/data`` (skipped without them).

CI runs with ``../shared`` beside the repository. The names-generation test runs in the
default suite with reduced sizes (a few seconds); the others train longer and are ``slow``.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rnnkit.recipes import run_recipe

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def names_folder() -> Path:
    """``../shared/data/names``, or a skip when the shared datasets are not there."""
    path = SHARED / "names" / "Portuguese.txt"
    if not path.is_file():
        pytest.skip(f"the shared datasets are not beside the repository: no {path}")
    return path.parent


def test_names_generation_on_portuguese_names(names_folder: Path, tmp_path: Path) -> None:
    training = {line.strip() for line in
                (names_folder / "Portuguese.txt").read_text(encoding="utf-8").splitlines()
                if line.strip()}
    results = run_recipe(
        "names-generation", data=names_folder, out=tmp_path, stream=io.StringIO(),
        overrides={"epochs": 20, "hidden_size": 32, "batch_size": 8, "lr": 0.01,
                   "samples": 6},
    ).results
    assert results["train_size"] == len(training) == 74
    # the alphabet is read from the names, accented letters included
    assert {"ã", "é", "õ", "ú"} <= set(results["alphabet"])
    for key in ("course", "regularised"):
        losses = results[key]["losses"]
        assert losses[-1] < 0.6 * losses[0]
        for strategy in ("top-1", "top-3", "sample T=1.5"):
            entry = results[key]["generation"][strategy]
            assert [g[0] for g in entry["names"]] == results["first_letters"]
            # copies are counted against the real training names
            assert entry["copies"] == sum(g in training for g in entry["names"])
    assert (tmp_path / "loss.png").stat().st_size > 1000


@pytest.mark.slow
def test_names_classification_on_the_18_languages(names_folder: Path, tmp_path: Path) -> None:
    results = run_recipe("names-classification", data=names_folder, out=tmp_path,
                         stream=io.StringIO()).results
    assert len(results["languages"]) == 18
    assert results["accuracy"] > 0.4  # reduced run; uniform guessing is 1/18
    assert max(results["equivalence_max_abs_diff"].values()) < 1e-4


@pytest.mark.slow
def test_shakespeare_reduced(tmp_path: Path) -> None:
    path = SHARED / "tinyshakespeare.txt"
    if not path.is_file():
        pytest.skip(f"the shared datasets are not beside the repository: no {path}")
    results = run_recipe("shakespeare-char-small", data=path, out=tmp_path,
                         stream=io.StringIO()).results
    assert results["chars"] == 2000
    assert results["relu_rnn"]["epoch_losses"][-1] < results["relu_rnn"]["epoch_losses"][0]
