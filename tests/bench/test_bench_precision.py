"""bench/precision.py and its BENCHMARKS.md block: a --quick run, the rendering, bad input.

bench/ is not a package: both modules are loaded from their paths.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from bench_modules import ROOT, load_bench

precision = load_bench("precision")
report = load_bench("report")

KEYS = {"benchmark", "rows", "repeats", "threads", "torch", "cpu_count", "cpu_bf16", "machine",
        "python"}
ROW_KEYS = {"model", "tokens_per_step", "fp32_tok_s", "bf16_tok_s", "ratio", "loss_rel_diff"}


def test_quick_run_writes_the_json_and_leaves_the_page_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, Path]] = []

    def update_after(block: str, written: Path) -> bool:
        calls.append((block, written))
        return False

    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # as main() does, so `report` resolves
    imported = importlib.import_module("report")  # the module main() takes update_after from
    monkeypatch.setattr(imported, "update_after", update_after)
    out = tmp_path / "precision.json"
    assert precision.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert set(data) == KEYS and data["repeats"] == 2 and data["threads"] == 1
    assert calls == [("precision", out)]
    assert set(data["cpu_bf16"]) == {"amx_bf16", "avx512_bf16"}
    assert [row["model"].split(" (")[0] for row in data["rows"]] == [
        "word LM", "char LM", "GRU word LM"]
    for row in data["rows"]:
        assert set(row) == ROW_KEYS
        assert row["tokens_per_step"] == 8 * 16
        assert row["fp32_tok_s"] > 0 and row["bf16_tok_s"] > 0
        assert row["ratio"] == pytest.approx(row["bf16_tok_s"] / row["fp32_tok_s"], rel=1e-12)
        assert 0 <= row["loss_rel_diff"] < 0.05  # same weights and batch, bf16 rounding only
    assert "2×64 LSTM, V=1,000, tied" in data["rows"][0]["model"]
    assert "2×64 LSTM, V=65)" in data["rows"][1]["model"]
    assert "wrote" in capsys.readouterr().out


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\n"
                    "processor\t: 1\nflags\t\t: fpu sse2 avx512f avx512_bf16\n")
    assert precision.cpu_bf16_support(info) == {"amx_bf16": False, "avx512_bf16": True}
    assert precision.cpu_bf16_support(tmp_path / "missing") == {"amx_bf16": None,
                                                                "avx512_bf16": None}


def test_render_precision_from_a_hand_written_json(tmp_path: Path) -> None:
    (tmp_path / "precision.json").write_text(json.dumps({
        "benchmark": "training step", "repeats": 7, "threads": 1, "torch": "2.13.0+cpu",
        "cpu_count": 2, "cpu_bf16": {"amx_bf16": True, "avx512_bf16": True},
        "machine": "Linux", "python": "3.11.9",
        "rows": [{"model": "word LM (2×400 LSTM, V=10,000, tied)", "tokens_per_step": 1120,
                  "fp32_tok_s": 1546.96, "bf16_tok_s": 2528.2, "ratio": 1.6343,
                  "loss_rel_diff": 0.000412}]}))
    text = report.render(tmp_path / "B.md", tmp_path, ["precision"])
    assert "## Training speed: float32 vs bfloat16 autocast" in text
    assert ("| model | tokens/step | fp32 tokens/s | bf16 tokens/s | ratio | loss difference |"
            in text)
    assert "| word LM (2×400 LSTM, V=10,000, tied) | 1,120 | 1,547 | 2,528 | 1.63× | 0.041% |" \
        in text
    assert "median of 7 steps" in text and "1 thread, 2 cores" in text
    assert "The CPU has AMX-BF16 and AVX512-BF16" in text
    assert "<!-- rnnkit:precision:begin -->" in text and "rnnkit:generate" not in text


def test_render_precision_without_bf16_hardware_and_without_a_result(tmp_path: Path) -> None:
    text = report.render_precision(tmp_path)
    assert "Not run yet: `python bench/precision.py`." in text
    (tmp_path / "precision.json").write_text(json.dumps({
        "repeats": 2, "cpu_bf16": {"amx_bf16": False, "avx512_bf16": False}, "rows": []}))
    assert "neither AMX-BF16 nor AVX512-BF16" in report.render_precision(tmp_path)
    assert "precision" in report.BLOCKS
    assert not report.update_after("precision", tmp_path / "precision.json", tmp_path / "B.md")


@pytest.mark.parametrize("argv", [["--repeats", "0"], ["--threads", "0"]])
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        precision.main([*argv, "--out", "/nonexistent/never-written.json"])
    assert exit_info.value.code == 2
    assert "--repeats and --threads must be positive integers, got" in capsys.readouterr().err
