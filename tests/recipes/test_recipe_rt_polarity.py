"""The rt-polarity benchmark: the stratified folds, the reader, a reduced cross-validation end
to end on a small file this test writes, and (slow) the full 10-fold run."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest

from rnnkit.recipes import run_recipe
from rnnkit.recipes.rt_polarity import Settings, _run_fold, read_polarity, stratified_folds

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BENCHMARK_KEYS = {"metric", "value", "higher_is_better", "target", "target_text", "met",
                  "published", "setting", "wall_seconds", "table"}


def _polarity_file(root: Path, per_class: int = 90) -> Path:
    rng = random.Random(0)
    filler = ("the", "movie", "is", "a", "story", "with", "its", "cast", ",", ".", "and")
    lines = ["label\ttext"]
    for label, words in (("pos", ("moving", "funny", "smart")),
                         ("neg", ("dull", "tedious", "mess"))):
        for _ in range(per_class):
            tokens = [rng.choice(filler) for _ in range(rng.randint(3, 12))]
            tokens.insert(rng.randint(0, len(tokens)), rng.choice(words))
            lines.append(f"{label}\t{' '.join(tokens)} ")
    path = root / "rt-polarity.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_stratified_folds_partition_and_share_out_every_class() -> None:
    labels = [0] * 23 + [1] * 17 + [2] * 5
    folds = stratified_folds(labels, 4, seed=3)
    together = np.concatenate(folds)
    assert sorted(together.tolist()) == list(range(45))  # each position exactly once
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    y = np.asarray(labels)
    for c in (0, 1, 2):
        counts = [int((y[f] == c).sum()) for f in folds]
        assert max(counts) - min(counts) <= 1 and sum(counts) == int((y == c).sum())
    assert all(np.all(np.diff(f) > 0) for f in folds)  # sorted
    again = stratified_folds(labels, 4, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))
    other = stratified_folds(labels, 4, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(folds, other, strict=True))


def test_stratified_folds_golden() -> None:
    folds = stratified_folds([0, 0, 0, 0, 1, 1, 1], 3, seed=0)
    assert [f.tolist() for f in folds] == [[2, 3, 4], [0, 6], [1, 5]]


@pytest.mark.parametrize(
    ("folds", "message"),
    [(1, r"Argument `folds` must be an integer in \[2, 3\] \(the number of labels\), got 1"),
     (4, r"Argument `folds` must be an integer in \[2, 3\] \(the number of labels\), got 4")],
)
def test_stratified_folds_refuses_impossible_counts(folds: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stratified_folds([0, 1, 1], folds, seed=0)


def test_read_polarity_splits_words_and_draws_per_class(tmp_path: Path) -> None:
    path = _polarity_file(tmp_path, per_class=20)
    sentences, labels = read_polarity(path)
    assert labels == [1] * 20 + [0] * 20
    assert all(isinstance(s, list) and s and "" not in s for s in sentences)
    few, few_labels = read_polarity(path, limit=5, seed=1)
    assert sorted(few_labels) == [0] * 5 + [1] * 5
    assert all(s in sentences for s in few)


def test_read_polarity_refuses_other_labels_and_one_class(tmp_path: Path) -> None:
    path = tmp_path / "mr.tsv"
    path.write_text("label\ttext\npos\tfine\nmaybe\tso so\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 3 has the label 'maybe', which is not one of "
                                         r"the classes \['neg', 'pos'\]"):
        read_polarity(path)
    path.write_text("label\ttext\npos\tfine\npos\tgood\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"must hold both classes \['neg', 'pos'\]; it has "
                                         r"\{'neg': 0, 'pos': 2\}"):
        read_polarity(path)


def test_settings_refuse_one_fold() -> None:
    from rnnkit.recipes import recipe_settings

    with pytest.raises(ValueError, match=r"Setting `folds` must be an integer >= 2, got 1"):
        recipe_settings("rt-polarity", overrides={"folds": 1})


def test_rt_polarity_reduced_cross_validates(tmp_path: Path) -> None:
    path = _polarity_file(tmp_path)
    out = tmp_path / "run"
    results = run_recipe("rt-polarity", data=path, out=out, stream=io.StringIO(),
                         overrides={"limit": 0, "max_epochs": 6, "lr": 0.01}).results
    bench = results["benchmark"]
    assert set(bench) == BENCHMARK_KEYS
    json.dumps(bench)
    assert bench["metric"] == "mean accuracy over 3 folds" and bench["target"] == 0.77
    assert bench["met"] == (bench["value"] >= 0.77)
    rows = bench["table"]
    assert [r["fold"] for r in rows] == [1, 2, 3]
    assert sum(r["test_sentences"] for r in rows) == 180  # the folds cover every sentence
    accuracy = [r["test_accuracy"] for r in rows]
    assert bench["value"] == pytest.approx(np.mean(accuracy))
    assert results["std_accuracy"] == pytest.approx(np.std(accuracy, ddof=1))
    assert bench["value"] >= 0.8  # one sentiment word per made-up sentence; chance is 0.5
    for k in (1, 2, 3):
        fold = out / f"fold{k}"
        assert (fold / "metrics.csv").is_file()
        # checkpoints are deleted once the fold is scored
        assert not (fold / "model.safetensors").exists() and not (fold / "best").exists()
    assert (out / "folds.png").stat().st_size > 1000
    assert (out / "validation.png").is_file()


@pytest.mark.parametrize(("key", "value"), [("ensemble", 0), ("ensemble", True),
                                            ("precision", "fp16")])
def test_settings_refuse_bad_ensembles_and_precisions(key: str, value: object) -> None:
    from rnnkit.recipes import recipe_settings

    with pytest.raises(ValueError, match=rf"(Setting|Option) `{key}` (must be|expects)"):
        recipe_settings("rt-polarity", overrides={key: value})


def test_fold_probabilities_agree_with_the_trainers_test_accuracy(tmp_path: Path) -> None:
    from rnnkit.recipes.common import RecipeContext

    sentences, labels = read_polarity(_polarity_file(tmp_path, per_class=40))
    folds = stratified_folds(labels, 3, seed=0)
    settings = Settings.reduced()
    ctx = RecipeContext(name="rt-polarity", run_dir=tmp_path / "run", full=False, seed=0,
                        stream=io.StringIO())
    ctx.run_dir.mkdir()
    out, _, probabilities = _run_fold(ctx, settings, sentences, labels, folds, 1)
    truth = np.array([labels[i] for i in folds[1]])
    assert probabilities.shape == (len(folds[1]), 2)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-6)
    assert (probabilities.argmax(1) == truth).mean() == pytest.approx(out["test_accuracy"])
    # a second model of the ensemble draws its own validation slice and weights
    _, _, other = _run_fold(ctx, settings, sentences, labels, folds, 1, member=1)
    assert not np.allclose(other, probabilities)
    assert (ctx.run_dir / "fold2-model2" / "metrics.csv").is_file()


def test_an_ensemble_votes_with_the_mean_probability(tmp_path: Path) -> None:
    path = _polarity_file(tmp_path, per_class=30)
    stream = io.StringIO()
    results = run_recipe("rt-polarity", data=path, out=tmp_path / "run", stream=stream,
                         overrides={"ensemble": 2, "max_epochs": 2}).results
    rows = results["benchmark"]["table"]
    assert all(0.0 <= r["single_accuracy"] <= 1.0 for r in rows)
    assert results["single_model_accuracy"] == pytest.approx(
        np.mean([r["single_accuracy"] for r in rows]))
    assert "an ensemble of 2 such models per fold" in results["benchmark"]["setting"]
    assert "-> ensemble" in stream.getvalue() and "one model alone" in stream.getvalue()
    # the table says which of its columns are the models' means
    assert "one model (mean)" in stream.getvalue() and "vocabulary (mean)" in stream.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "rt-polarity.tsv").is_file(),
                    reason="the shared datasets (../shared/data) are not beside the repository")
def test_rt_polarity_full_meets_the_target(tmp_path: Path) -> None:
    results = run_recipe("rt-polarity", full=True, data=SHARED, out=tmp_path,
                         stream=io.StringIO()).results
    assert len(results["fold_accuracy"]) == 10
    assert sum(r["test_sentences"] for r in results["folds"]) == 10_662
    assert results["benchmark"]["met"], results["benchmark"]
