"""The names recipes on tiny in-test data (the real ``names`` folder is not needed)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from rnnkit.recipes import run_recipe

# Three made-up "languages" told apart by their endings.
ENDINGS = {"Ovian": ("ov", "ev", "ova"), "Ezian": ("ez", "es", "eda"), "Sonian": ("son", "sen")}


def _names_folder(root: Path, per_language: int = 50) -> Path:
    rng = random.Random(0)
    folder = root / "names"
    folder.mkdir()
    for language, endings in ENDINGS.items():
        names = set()
        while len(names) < per_language:
            stem = "".join(rng.choice("bdgklmnprstv") + rng.choice("aeiou")
                           for _ in range(rng.randint(1, 3)))
            names.add(stem.capitalize() + rng.choice(endings))
        (folder / f"{language}.txt").write_text("\n".join(sorted(names)) + "\n",
                                                encoding="utf-8")
    return folder


def test_names_classification_well_above_chance(tmp_path: Path) -> None:
    folder = _names_folder(tmp_path)
    results = run_recipe(
        "names-classification", data=folder, out=tmp_path / "run", stream=io.StringIO(),
        overrides={"epochs": 8, "hidden_size": 32, "embedding_dim": 16, "batch_size": 16,
                   "test_fraction": 0.2, "max_per_class": 0},
    ).results
    assert results["languages"] == ["Ezian", "Ovian", "Sonian"]
    assert results["test_size"] == 30 and results["train_size"] == 120
    assert results["accuracy"] >= 0.8  # chance is 1/3
    confusion = results["confusion"]
    assert sum(map(sum, confusion)) == 30
    # whole sequence, packed and one step at a time give the same outputs
    assert max(results["equivalence_max_abs_diff"].values()) < 1e-5
    assert (tmp_path / "run" / "confusion.png").stat().st_size > 1000


def test_names_classification_needs_a_folder_of_classes(tmp_path: Path) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "Only.txt").write_text("Abc\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"one LANGUAGE\.txt file per class"):
        run_recipe("names-classification", data=folder, out=tmp_path / "run",
                   stream=io.StringIO())


def test_names_generation_counts_copies(tmp_path: Path) -> None:
    names = ["Abreu", "Araújo", "Barros", "Belo", "Costa", "Cruz", "Magalhães", "Matos",
             "Melo", "Romão", "Rocha", "Silva", "Simões", "Souza"]
    path = tmp_path / "Portuguese.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    report = io.StringIO()
    results = run_recipe(
        "names-generation", data=path, out=tmp_path / "run", stream=report,
        overrides={"epochs": 40, "hidden_size": 32, "samples": 8, "batch_size": 4,
                   "lr": 0.01},
    ).results
    assert "ã" in results["alphabet"] and "õ" in results["alphabet"]
    assert "is an Elman cell" in report.getvalue()
    for key in ("course", "regularised"):
        assert results[key]["losses"][-1] < results[key]["losses"][0]
        for strategy in ("top-1", "top-2", "top-3", "sample", "sample T=1.5"):
            entry = results[key]["generation"][strategy]
            generated = entry["names"]
            assert len(generated) == 8
            assert [g[0] for g in generated] == results["first_letters"]
            assert entry["copies"] == sum(g in names for g in generated)
            assert all(len(g) <= 20 for g in generated)
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
