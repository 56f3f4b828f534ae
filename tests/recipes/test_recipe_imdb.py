"""The IMDB benchmarks (imdb-bilstm, imdb-lstm): the reader and tokeniser, the batches
without lengths, the loop path against torch's packed kernel, reduced runs end to end on a
small file this test writes (and on the real file when present), and (slow) the full runs."""

from __future__ import annotations

import io
import itertools
import json
import random
from pathlib import Path

import pytest
import torch

from rnnkit.models.classifier import SequenceClassifier
from rnnkit.recipes import run_recipe
from rnnkit.recipes.imdb import WithoutLengths, read_imdb, tokenize_review
from rnnkit.tasks.common import ExampleBatches

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_imdb = pytest.mark.skipif(
    not (SHARED / "imdb.tsv.gz").is_file(),
    reason="the shared datasets (../shared/data) are not beside the repository",
)
BENCHMARK_KEYS = {"metric", "value", "higher_is_better", "target", "target_text", "met",
                  "published", "setting", "wall_seconds"}

GOOD = ("great", "superb", "loved", "wonderful")
BAD = ("awful", "boring", "hated", "dreadful")
FILLER = ("the", "film", "plot", "actor", "scene", "was", "a", "and", "it", "story", "of",
          "director", "music", "long", "ending", "character")


def _imdb_file(root: Path, per_label: int = 120) -> Path:
    """A made-up IMDB file: filler words, some of them sentiment words, <br /> tags."""
    rng = random.Random(0)
    lines = ["split\tlabel\ttext"]
    for split in ("train", "test"):
        for label, words in (("pos", GOOD), ("neg", BAD)):
            for _ in range(per_label):
                tokens = [rng.choice(FILLER) for _ in range(rng.randint(4, 30))]
                for _ in range(3):
                    tokens.insert(rng.randint(0, len(tokens)), rng.choice(words).capitalize())
                text = " ".join(tokens) + '. "Really"!<br /><br />' + rng.choice(FILLER) + "."
                lines.append(f"{split}\t{label}\t{text}")
    path = root / "imdb.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_tokenize_review_lowercases_drops_breaks_and_splits_punctuation() -> None:
    text = 'It\'s a "10/10"!<br />Café-style<BR>fun... don\'t miss_it'
    assert tokenize_review(text) == ["it's", "a", '"', "10", "/", "10", '"', "!", "café", "-",
                                     "style", "fun", ".", ".", ".", "don't", "miss_it"]


def test_read_imdb_keeps_splits_and_draws_balanced_subsets(tmp_path: Path) -> None:
    path = _imdb_file(tmp_path, per_label=10)
    full = read_imdb(path)
    assert {k: len(v[0]) for k, v in full.items()} == {"train": 20, "test": 20}
    assert full["train"][1] == [1] * 10 + [0] * 10
    small = read_imdb(path, limit=3, seed=1)
    for split, (texts, labels) in small.items():
        assert sorted(labels) == [0, 0, 0, 1, 1, 1]
        assert set(texts) <= set(full[split][0])
    assert read_imdb(path, limit=3, seed=1) == small
    assert read_imdb(path, limit=3, seed=2) != small


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("dev\tpos\tok", r"line 3 has the split 'dev'; expected one of \['train', 'test'\]"),
        ("test\tmeh\tok", r"line 3 has the label 'meh'; expected one of \['neg', 'pos'\]"),
    ],
)
def test_read_imdb_names_the_bad_line(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "imdb.tsv"
    path.write_text(f"split\tlabel\ttext\ntrain\tpos\tgood\n{row}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_imdb(path)


def test_read_imdb_needs_both_splits(tmp_path: Path) -> None:
    path = tmp_path / "imdb.tsv"
    path.write_text("split\tlabel\ttext\ntrain\tpos\tgood\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"has no 'test' reviews; expected both splits"):
        read_imdb(path)


def test_without_lengths_strips_lengths_and_keeps_everything_else() -> None:
    source = ExampleBatches([[1, 2, 3], [4], [5, 6], [7, 8, 9, 10]], labels=[0, 1, 0, 1],
                            batch_size=2, shuffle=True, seed=3)
    stripped = WithoutLengths(source)
    assert len(stripped) == len(source) == 2
    for epoch in (0, 1):
        stripped.set_epoch(epoch)
        batches = list(stripped)
        expected = list(source)  # the same epoch: set_epoch went through
        assert [b.inputs.tolist() for b in batches] == [b.inputs.tolist() for b in expected]
        assert [b.targets.tolist() for b in batches] == [b.targets.tolist() for b in expected]
        assert all(b.lengths is None for b in batches)
        assert [b.num_tokens for b in batches] == [2, 2]
    assert [b.inputs.tolist() for b in stripped.iter_from(1)] == [expected[1].inputs.tolist()]


@pytest.mark.parametrize("pooling", ["last", "max"])
def test_loop_path_gives_what_the_packed_kernel_gives(pooling: str) -> None:
    torch.manual_seed(0)
    packed = SequenceClassifier(2, vocab_size=30, embedding_dim=5, hidden_size=4, num_layers=2,
                                bidirectional=True, pooling=pooling)
    loop = SequenceClassifier(2, vocab_size=30, embedding_dim=5, hidden_size=4, num_layers=2,
                              bidirectional=True, pooling=pooling,
                              options={"force_loop": True})
    loop.load_state_dict(packed.state_dict())
    packed.eval()
    loop.eval()
    assert packed.rnn.path == "fused" and loop.rnn.path == "loop"
    inputs = torch.randint(1, 30, (4, 7))
    lengths = torch.tensor([7, 2, 5, 1])
    inputs[torch.arange(7)[None, :] >= lengths[:, None]] = 0
    expected = packed(inputs, None, lengths)[0]
    torch.testing.assert_close(loop(inputs, None, lengths)[0], expected, rtol=1e-5, atol=1e-6)
    # without the lengths the short reviews are read through their padding: other logits
    assert not torch.allclose(packed(inputs)[0], expected, atol=1e-4)


def _check_benchmark(bench: dict, target: float) -> None:
    assert BENCHMARK_KEYS <= set(bench) <= BENCHMARK_KEYS | {"table"}
    assert bench["metric"] == "test accuracy" and bench["higher_is_better"] is True
    assert bench["target"] == target
    assert 0.0 <= bench["value"] <= 1.0
    assert bench["met"] == (bench["value"] >= bench["target"])
    assert bench["wall_seconds"] > 0
    json.dumps(bench)


def test_imdb_bilstm_reduced_learns_the_made_up_reviews(tmp_path: Path) -> None:
    path = _imdb_file(tmp_path)
    out = tmp_path / "run"
    results = run_recipe("imdb-bilstm", data=path, out=out, stream=io.StringIO(),
                         overrides={"limit": 0, "max_epochs": 4, "lr": 0.01}).results
    _check_benchmark(results["benchmark"], 0.88)
    assert results["sizes"] == {"train": 216, "valid": 24, "test": 240}
    assert results["test_accuracy"] == results["benchmark"]["value"] >= 0.8  # chance: 0.5
    curve = results["curve_epoch_valid_accuracy_train_loss"]
    assert [e for e, _, _ in curve] == [1.0, 2.0, 3.0, 4.0]
    assert curve[-1][2] < curve[0][2]  # the training loss falls
    assert results["valid_accuracy"] == max(a for _, a, _ in curve)
    assert (out / "training.png").stat().st_size > 1000
    assert (out / "bilstm" / "metrics.csv").is_file()
    assert (out / "bilstm" / "best" / "model.safetensors").is_file()


def test_imdb_validates_several_times_an_epoch_when_asked(tmp_path: Path) -> None:
    path = _imdb_file(tmp_path)
    results = run_recipe("imdb-bilstm", data=path, out=tmp_path / "run", stream=io.StringIO(),
                         overrides={"limit": 0, "max_epochs": 2, "evals_per_epoch": 2,
                                    "patience": 0, "precision": "bf16"}).results
    curve = results["curve_epoch_valid_accuracy_train_loss"]
    # 216 training reviews in batches of 16: 14 steps an epoch, validated after 7 and 14
    assert [e for e, _, _ in curve] == [0.5, 1.0, 1.5, 2.0]
    assert results["valid_accuracy"] == max(a for _, a, _ in curve)
    assert results["epochs"] == 2
    assert "Adam 0.003, trained in bf16 autocast" in results["benchmark"]["setting"]


def test_imdb_cosine_schedule_lowers_the_rate_to_a_hundredth(tmp_path: Path) -> None:
    from rnnkit.train.metrics import read_metrics

    path = _imdb_file(tmp_path)
    out = tmp_path / "run"
    results = run_recipe("imdb-bilstm", data=path, out=out, stream=io.StringIO(),
                         overrides={"limit": 0, "max_epochs": 2, "schedule": "cosine"}).results
    rates = [float(r["lr"]) for r in read_metrics(out / "bilstm" / "metrics.csv")
             if r["split"] == "train"]
    # logged every 10 of the 28 steps: already below the peak 3e-3, then falling
    assert len(rates) >= 2 and rates == sorted(rates, reverse=True)
    assert rates[0] < 3e-3 and rates[-1] < 3e-3 / 4
    assert "Adam 0.003 cosine to 3e-05" in results["benchmark"]["setting"]


def test_train_and_test_refuses_no_validations(tmp_path: Path) -> None:
    from rnnkit.recipes.imdb import ImdbSettings, train_and_test

    with pytest.raises(ValueError, match=r"Argument `evals_per_epoch` must be an integer >= 1, "
                                         r"got 0\."):
        train_and_test(None, "x", None, {}, ImdbSettings(), evals_per_epoch=0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("schedule", "step", r"Setting `schedule` must be 'constant' or 'cosine', got 'step'\."),
    ("evals_per_epoch", 0, r"Setting `evals_per_epoch` must be an integer >= 1, got 0\."),
    ("precision", "fp16", r"Setting `precision` must be 'fp32' or 'bf16', got 'fp16'\."),
])
def test_imdb_settings_refuse(key: str, value: object, message: str) -> None:
    from rnnkit.recipes import recipe_settings

    for name in ("imdb-lstm", "imdb-bilstm"):
        with pytest.raises(ValueError, match=message):
            recipe_settings(name, overrides={key: value})


def test_imdb_lstm_ladder_reduced_reports_every_rung(tmp_path: Path) -> None:
    path = _imdb_file(tmp_path)
    out = tmp_path / "run"
    results = run_recipe("imdb-lstm", data=path, out=out, stream=io.StringIO(),
                         overrides={"limit": 0, "max_epochs": 4, "lr": 0.01}).results
    bench = results["benchmark"]
    _check_benchmark(bench, 0.86)
    rows = bench["table"]
    assert [r["model"] for r in rows] == ["padded", "packed", "+ dropout", "+ bidirectional",
                                          "+ 2 layers"]
    assert bench["value"] == rows[1]["test_accuracy"] >= 0.7  # chance: 0.5
    assert rows[0]["gain"] is None
    # the made-up reviews end in filler and padding: read through it, the verdict is lost
    assert rows[1]["gain"] > 0.1
    for before, after in itertools.pairwise(rows):
        assert after["gain"] == pytest.approx(after["test_accuracy"] - before["test_accuracy"])
    assert all(r["epochs"] == 4 and r["wall_seconds"] > 0 for r in rows)
    # one layer: parameters grow with a second direction and again with a second layer
    sizes = [r["parameters"] for r in rows]
    assert sizes[0] == sizes[1] == sizes[2] < sizes[3] < sizes[4]
    for k in range(1, 6):
        assert (out / f"rung{k}" / "metrics.csv").is_file()
    assert (out / "ladder.png").stat().st_size > 1000
    assert (out / "validation.png").is_file()


@needs_imdb
def test_imdb_bilstm_reduced_on_the_real_file(tmp_path: Path) -> None:
    results = run_recipe("imdb-bilstm", data=SHARED, out=tmp_path, stream=io.StringIO(),
                         overrides={"max_epochs": 1}).results
    assert results["sizes"] == {"train": 180, "valid": 20, "test": 200}
    assert results["vocabulary"] <= 2000
    _check_benchmark(results["benchmark"], 0.88)


@pytest.mark.slow
@needs_imdb
@pytest.mark.parametrize("name", ["imdb-bilstm", "imdb-lstm"])
def test_imdb_full_meets_its_target(tmp_path: Path, name: str) -> None:
    results = run_recipe(name, full=True, data=SHARED, out=tmp_path,
                         stream=io.StringIO()).results
    assert results["sizes"] == {"train": 22_500, "valid": 2_500, "test": 25_000}
    assert results["benchmark"]["met"], results["benchmark"]
