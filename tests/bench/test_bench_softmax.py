"""bench/softmax.py and its BENCHMARKS.md block: a --quick run, the data, the rendering."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from bench_modules import ROOT, load_bench

softmax = load_bench("softmax")
report = load_bench("report")


def test_quick_run_measures_every_output_layer_in_both_precisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Path]] = []
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    imported = importlib.import_module("report")
    monkeypatch.setattr(imported, "update_after", lambda block, out: calls.append((block, out)))
    out = tmp_path / "softmax.json"
    assert softmax.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert calls == [("softmax", out)]
    assert data["repeats"] == 2 and data["tokens_per_step"] == 8 * 16
    assert data["data"].startswith("Zipf ids")
    labels = [(r["decoder"], r["precision"]) for r in data["rows"]]
    assert labels == [(d, p) for d in ("full, tied", "full", "adaptive [400]",
                                      "adaptive [200, 1,000]") for p in ("fp32", "bf16")]
    by = {(r["decoder"], r["precision"]): r for r in data["rows"]}
    for (_, precision), row in by.items():
        assert row["tokens_per_s"] > 0
        base = by[("full, tied", precision)]["tokens_per_s"]
        assert row["ratio_vs_full_tied"] == pytest.approx(row["tokens_per_s"] / base)
        assert abs(row["first_loss"] - np.log(2000)) < 1.0  # untrained: about ln V
    # the untied full softmax has one more V×H matrix and bias than the tied one
    assert by[("full", "fp32")]["parameters"] - by[("full, tied", "fp32")]["parameters"] == (
        2000 * 64)
    assert by[("full, tied", "fp32")]["shortlist_share"] == 1.0
    share = by[("adaptive [400]", "fp32")]["shortlist_share"]
    assert 0.5 < share < 1.0  # Zipf: the 20% most frequent ids carry most of the text


def test_token_stream_numbers_words_by_frequency(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("b a a\nc a b\n", encoding="utf-8")
    ids, source = softmax.token_stream(text, 50, 100, seed=0)
    assert "t.txt" in source
    words = ["b", "a", "a", "<eos>", "c", "a", "b", "<eos>"]
    assert len(ids) == len(words)
    # the specials first, then a (3), b (2) and <eos> (2, already a special), c (1)
    assert ids[1] == ids[2] == ids[5] and ids[0] == ids[6] and ids[1] < ids[0] < ids[4]
    zipf, source = softmax.token_stream(None, 50, 1000, seed=0)
    assert source.startswith("Zipf") and zipf.min() >= 0 and zipf.max() < 50
    assert (zipf == 0).sum() > (zipf == 10).sum()


def test_render_softmax_from_a_hand_written_json(tmp_path: Path) -> None:
    assert "Not run yet: `python bench/softmax.py`." in report.render_softmax(tmp_path)
    (tmp_path / "softmax.json").write_text(json.dumps({
        "model": {"vocab": 10000, "hidden": 400, "layers": 2, "dropout": 0.3, "batch": 32,
                  "steps": 35},
        "data": "ptb.train.txt.gz (10,000 word ids by frequency)", "tokens_per_step": 1120,
        "repeats": 7, "threads": 1, "torch": "2.13.0+cpu", "cpu_count": 2,
        "rows": [{"decoder": "adaptive [2,000]", "precision": "bf16", "cutoffs": [2000],
                  "parameters": 5_000_000, "tokens_per_s": 9000.4, "ratio_vs_full_tied": 1.91,
                  "shortlist_share": 0.8712, "first_loss": 9.2103}]}))
    text = report.render(tmp_path / "B.md", tmp_path, ["softmax"])
    assert "## Training speed: full softmax vs adaptive softmax" in text
    assert "| adaptive [2,000] | bf16 | 5,000,000 | 9,000 | 1.91× | 87.1% | 9.210 |" in text
    assert "2×400 LSTM" in text and "1 thread, 2 cores" in text
