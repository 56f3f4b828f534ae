"""The language-model benchmarks (shakespeare-char, sherlock-char, ptb-word, ptb-char):
reduced runs end to end, the PTB reader, and (slow) the full runs against their targets."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from rnnkit.recipes import recipe_settings, run_recipe
from rnnkit.recipes.lm_benchmark import bits_per_char, perplexity
from rnnkit.recipes.ptb import read_ptb
from rnnkit.train import Trainer
from rnnkit.train.metrics import read_metrics

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED / "ptb").is_dir(),
    reason="the shared datasets (../shared/data) are not beside the repository",
)
BENCHMARK_KEYS = {"metric", "value", "higher_is_better", "target", "target_text", "met",
                  "published", "setting", "wall_seconds"}

WORDS = "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n"


def _ptb_folder(root: Path, *, repeat: int = 60) -> Path:
    folder = root / "ptb"
    folder.mkdir()
    for split, times in (("train", repeat), ("valid", repeat // 4), ("test", repeat // 4)):
        words = WORDS * times
        (folder / f"ptb.{split}.txt").write_text(words)
        chars = "\n".join(" ".join("_" if c == " " else c for c in line)
                          for line in words.splitlines())
        (folder / f"ptb.char.{split}.txt").write_text(chars + "\n")
    return folder


def test_read_ptb_adds_eos_and_takes_the_vocabulary_from_train() -> None:
    vocab, splits = read_ptb({"train": "a b <unk>\nb", "valid": "b\n\na", "test": "<unk> a"})
    assert vocab.itos[:2] == ["<unk>", "<eos>"]
    assert [vocab.itos[i] for i in splits["train"]] == ["a", "b", "<unk>", "<eos>", "b",
                                                        "<eos>"]
    assert [vocab.itos[i] for i in splits["valid"]] == ["b", "<eos>", "a", "<eos>"]
    assert splits["test"].dtype == np.int64


def test_read_ptb_rejects_mixed_files_and_empty_splits() -> None:
    with pytest.raises(ValueError, match=r"The PTB test split has 1 token\(s\) the training "
                                         r"split lacks \(first: \['zebra'\]\)"):
        read_ptb({"train": "a b", "valid": "a", "test": "zebra a"})
    with pytest.raises(ValueError, match="The PTB valid split holds no text"):
        read_ptb({"train": "a b", "valid": "\n \n", "test": "a"})


def test_units() -> None:
    assert bits_per_char(math.log(2) * 1.5) == pytest.approx(1.5)
    assert perplexity(math.log(87.2)) == pytest.approx(87.2)


@pytest.mark.parametrize("name", ["ptb-word", "ptb-char"])
def test_ptb_reduced_runs_on_a_small_folder(tmp_path: Path, name: str) -> None:
    folder = _ptb_folder(tmp_path)
    stream = io.StringIO()
    results = run_recipe(name, data=folder, out=tmp_path / "run", stream=stream,
                         overrides={"limit": 0, "max_steps": 25, "batch_size": 4,
                                    "bptt": 8}).results
    bench = results["benchmark"]
    assert set(bench) == BENCHMARK_KEYS
    assert bench["higher_is_better"] is False and bench["met"] == (bench["value"]
                                                                   <= bench["target"])
    losses = results["losses"]
    assert set(losses) == {"valid", "test"}
    # 25 steps on a 12-word language beat the uniform guess by far
    vocab_size = 14 if name == "ptb-word" else 21
    assert losses["test"] < 0.8 * math.log(vocab_size)
    assert (tmp_path / "run" / "lm" / "metrics.csv").is_file()
    assert (tmp_path / "run" / "loss_vs_time.png").is_file()
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["results"]["benchmark"]["value"] == pytest.approx(bench["value"])
    assert "meets" in stream.getvalue() or "misses" in stream.getvalue()


def test_best_checkpoint_is_the_one_scored(tmp_path: Path) -> None:
    folder = _ptb_folder(tmp_path)
    results = run_recipe("ptb-word", data=folder, out=tmp_path / "run", stream=io.StringIO(),
                         overrides={"max_steps": 20, "eval_every": 5, "batch_size": 4,
                                    "bptt": 8}).results
    curve = [v for _, v in results["curve_minutes_perplexity"]]
    # the scored model is the best validation checkpoint: the best curve point, on the
    # same stream (the final evaluation repeats it exactly)
    assert results["perplexity"]["valid"] == pytest.approx(min(curve), rel=1e-5)


def test_an_interrupted_benchmark_resumes_to_the_uninterrupted_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _ptb_folder(tmp_path)
    overrides = {"max_steps": 20, "eval_every": 5, "batch_size": 4, "bptt": 8}
    whole = run_recipe("ptb-word", data=folder, out=tmp_path / "whole", stream=io.StringIO(),
                       overrides=overrides).results

    after_step = Trainer._after_step

    def crash_after_step_12(self: Trainer) -> str:
        stopped_by = after_step(self)
        if self.step == 12:  # the last checkpoint is step 10's
            raise KeyboardInterrupt
        return stopped_by

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_after_step", crash_after_step_12)
        with pytest.raises(KeyboardInterrupt):
            run_recipe("ptb-word", data=folder, out=tmp_path / "cut", stream=io.StringIO(),
                       overrides=overrides)
    stream = io.StringIO()
    resumed = run_recipe("ptb-word", data=folder, out=tmp_path / "resumed", stream=stream,
                         overrides={**overrides, "resume": str(tmp_path / "cut")}).results
    assert "resuming" in stream.getvalue() and "at step 10" in stream.getvalue()
    assert resumed["steps"] == 20
    # exact resume: the same steps, so the same scores and the same validation curve
    assert resumed["perplexity"] == pytest.approx(whole["perplexity"], rel=1e-6)
    val = [[r["step"], r["loss"]] for r in read_metrics(tmp_path / "whole/lm/metrics.csv")
           if r["split"] == "val"]
    val_resumed = [[r["step"], r["loss"]]
                   for r in read_metrics(tmp_path / "resumed/lm/metrics.csv")
                   if r["split"] == "val"]
    assert val_resumed == val and len(val) == 4
    assert "resumed at step 10" in resumed["benchmark"]["setting"]
    assert "resumed" not in whole["benchmark"]["setting"]


def test_sgd_with_plateau_annealing_lowers_the_rate_and_says_so(tmp_path: Path) -> None:
    folder = _ptb_folder(tmp_path)
    stream = io.StringIO()
    # a rate far too large: the validation loss gets worse, and each such evaluation divides
    # the rate by 4
    results = run_recipe("ptb-word", data=folder, out=tmp_path / "run", stream=stream,
                         overrides={"optimizer": "sgd", "lr": 200.0, "schedule": "plateau",
                                    "plateau_factor": 0.25, "clip_norm": 0.0,
                                    "max_steps": 30, "eval_every": 5, "batch_size": 4,
                                    "bptt": 8, "warmup_steps": 0}).results
    assert "SGD 200, x0.25 when the validation loss does not improve" in (
        results["benchmark"]["setting"])
    rates = [float(r["lr"]) for r in read_metrics(tmp_path / "run" / "lm" / "metrics.csv")
             if r["split"] == "train"]
    assert rates[0] == 200.0 and min(rates) < 200.0
    assert {r / 200.0 for r in rates} <= {0.25 ** k for k in range(7)}


@pytest.mark.parametrize(("key", "value", "message"), [
    ("optimizer", "adagrad", r"Setting `optimizer` must be one of \['adam', 'sgd'\], got "
                             r"'adagrad'\."),
    ("schedule", "step", r"Setting `schedule` must be 'cosine' or 'plateau', got 'step'\."),
    ("precision", "fp16", r"Setting `precision` must be 'fp32' or 'bf16', got 'fp16'\."),
    ("plateau_factor", 1.5, r"Option `plateau_factor` expects a float in \(0, 1\), got 1\.5\."),
    ("warmup_steps", -3, r"Option `warmup_steps` expects"),
])
def test_unknown_update_rules_are_refused_before_any_work(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    folder = _ptb_folder(tmp_path)
    with pytest.raises(ValueError, match=message):
        run_recipe("ptb-word", data=folder, out=tmp_path / "run", stream=io.StringIO(),
                   overrides={key: value, "max_steps": 5, "batch_size": 4, "bptt": 8})
    assert not (tmp_path / "run" / "lm").exists()


def test_resume_names_a_run_without_a_checkpoint(tmp_path: Path) -> None:
    folder = _ptb_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"Setting `resume` = .* is not a language-model"):
        run_recipe("ptb-word", data=folder, out=tmp_path / "run", stream=io.StringIO(),
                   overrides={"resume": str(tmp_path / "empty")})
    assert not (tmp_path / "run" / "lm").exists()


def test_sherlock_rejects_bad_temperatures(tmp_path: Path) -> None:
    text = tmp_path / "s.txt"
    text.write_text("Holmes said I. " * 400)
    with pytest.raises(ValueError, match="Setting `temperatures` must list positive numbers"):
        run_recipe("sherlock-char", data=text, out=tmp_path / "run", stream=io.StringIO(),
                   overrides={"temperatures": "[0.5, 0]"})


@needs_shared
@pytest.mark.parametrize(("name", "data"), [
    ("shakespeare-char", "tinyshakespeare.txt"),
    ("sherlock-char", "sherlock.txt.gz"),
])
def test_char_benchmarks_reduced_on_the_real_text(tmp_path: Path, name: str, data: str) -> None:
    stream = io.StringIO()
    results = run_recipe(name, data=SHARED / data, out=tmp_path, stream=stream).results
    assert set(results["benchmark"]) == BENCHMARK_KEYS
    assert results["steps"] == 40
    assert results["validation_loss"] < math.log(60)  # below a uniform guess over the letters
    n_samples = 3 if name == "sherlock-char" else 1
    assert len(results["samples"]) == n_samples
    assert "validation loss" in stream.getvalue()


def test_full_settings_fit_their_budgets() -> None:
    for name, minutes in (("shakespeare-char", 30), ("sherlock-char", 30), ("ptb-word", 60),
                          ("ptb-char", 60)):
        settings = recipe_settings(name, full=True)
        assert settings.max_time == minutes * 60
        assert settings.threads == 0  # the full runs use every core


@pytest.mark.slow
@needs_shared
@pytest.mark.parametrize(("name", "data"), [
    ("shakespeare-char", SHARED / "tinyshakespeare.txt"),
    ("sherlock-char", SHARED / "sherlock.txt.gz"),
    ("ptb-word", SHARED / "ptb"),
    ("ptb-char", SHARED / "ptb"),
])
def test_full_benchmark_meets_its_target(tmp_path: Path, name: str, data: Path) -> None:
    results = run_recipe(name, full=True, data=data, out=tmp_path, stream=io.StringIO()).results
    assert results["benchmark"]["met"], results["benchmark"]
