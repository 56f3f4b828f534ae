"""The pos-ewt benchmark recipe: its scores, the reduced run on the real treebank, the full run
(slow)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.recipes import run_recipe
from rnnkit.recipes.pos_ewt import confused_pairs, confusion_matrix, tagging_scores

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EWT = SHARED / "ud_english_ewt"
needs_ewt = pytest.mark.skipif(
    not (EWT / "en_ewt-ud-train.conllu.gz").is_file(),
    reason="the shared UD English EWT files (../shared/data/ud_english_ewt) are not here",
)
BENCHMARK_KEYS = {"metric", "value", "higher_is_better", "target", "target_text", "met",
                  "published", "setting", "wall_seconds", "table"}


def test_scores_split_seen_and_unseen_words() -> None:
    gold = [["DET", "NOUN", "VERB"], ["PROPN", "VERB"]]
    predicted = [["DET", "NOUN", "NOUN"], ["NOUN", "VERB"]]
    words = [["the", "dog", "barks"], ["rex", "barks"]]
    scores = tagging_scores(gold, predicted, words, seen={"the", "dog", "barks"})
    assert scores == {"accuracy": 0.6, "oov_accuracy": 0.0, "seen_accuracy": 0.75,
                      "words": 5, "oov_words": 1}
    everything_seen = tagging_scores(gold, predicted, words, seen={"the", "dog", "barks", "rex"})
    assert everything_seen["oov_accuracy"] is None and everything_seen["oov_words"] == 0
    tags = ["DET", "NOUN", "PROPN", "VERB"]
    confusion = confusion_matrix(gold, predicted, tags)
    assert confusion.sum() == 5 and np.trace(confusion) == 3
    assert confusion[tags.index("VERB"), tags.index("NOUN")] == 1
    assert [(p["true"], p["predicted"], p["count"]) for p in confused_pairs(confusion, tags)] == [
        ("PROPN", "NOUN", 1), ("VERB", "NOUN", 1)]
    with pytest.raises(ValueError, match=r"Sentence 1 has 2 gold tags, 1 predicted tags"):
        tagging_scores(gold, [predicted[0], ["VERB"]], words, seen=set())
    with pytest.raises(ValueError, match=r"must hold the same sentences, got 2, 1 and 2"):
        tagging_scores(gold, predicted[:1], words, seen=set())


@needs_ewt
def test_reduced_run_on_the_treebank(tmp_path: Path) -> None:
    report = io.StringIO()
    run = run_recipe("pos-ewt", data=EWT, out=tmp_path / "run", stream=report,
                     overrides={"max_epochs": 4})
    results = run.results
    assert results["sizes"]["train"]["sentences"] == 300
    assert results["sizes"]["test"]["sentences"] == 75
    test = results["scores"]["test"]
    # 4 epochs on 300 sentences with tiny sizes: far above the most common tag's share (~17%)
    assert test["accuracy"] > 0.45
    assert test["oov_words"] > 0 and test["words"] == results["sizes"]["test"]["words"]
    assert sum(map(sum, results["confusion"])) == test["words"]
    assert len(results["tags"]) == len(results["confusion"]) == 17  # the UPOS tag set
    pairs = results["confused_pairs"]
    assert pairs and all(p["true"] != p["predicted"] for p in pairs)
    assert [p["count"] for p in pairs] == sorted((p["count"] for p in pairs), reverse=True)
    curve = [c["accuracy"] for c in results["dev_curve"]]
    assert len(curve) >= 4 and curve[-1] > curve[0]  # dev accuracy rises over training

    bench = results["benchmark"]
    assert set(bench) == BENCHMARK_KEYS
    assert bench["value"] == test["accuracy"] and bench["met"] == (bench["value"] >= 0.95)
    assert bench["higher_is_better"] is True and bench["target"] == 0.95
    assert "94.6%" in bench["published"] and bench["wall_seconds"] > 0
    assert [row["split"] for row in bench["table"]] == ["dev", "test"]

    out = tmp_path / "run"
    for name in ("dev_accuracy.png", "confusion.png"):
        assert (out / name).stat().st_size > 5000
    assert (out / "tagger" / "metrics.csv").is_file()
    saved = json.loads((out / "tagger" / "best" / "config.json").read_text())
    model = saved["model"]["config"]
    assert model["char_features"] == "lstm" and model["char_vocab"][:2] == ["<pad>", "<unk>"]
    text = report.getvalue()
    assert "most confused tag pairs on test" in text and "OOV" in text


@pytest.mark.slow
@needs_ewt
def test_full_run_meets_the_target(tmp_path: Path) -> None:
    results = run_recipe("pos-ewt", full=True, data=EWT, out=tmp_path / "run",
                         stream=io.StringIO()).results
    assert results["scores"]["dev"]["accuracy"] > 0.94
    assert results["benchmark"]["met"], results["benchmark"]
