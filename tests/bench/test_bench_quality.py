"""bench/quality.py and bench/report.py: result files, BENCHMARKS.md blocks, a reduced run.

bench/ is not a package: both modules are loaded from their paths.
"""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any

import pytest
from bench_modules import ROOT, load_bench

quality = load_bench("quality")
report = quality.report  # the bench/report.py that quality.py loaded

MACHINE = {"cores": 2, "torch": "2.13.0+cpu", "threads": 2}


def _benchmark(**changes: Any) -> dict[str, Any]:
    bench = {
        "metric": "test perplexity",
        "value": 95.25,
        "higher_is_better": False,
        "target": 100.0,
        "target_text": "≤ 100 within 60 min",
        "met": True,
        "published": "PyTorch word LM example: 87.2",
        "setting": "2×650 tied LSTM, 39 epochs",
        "wall_seconds": 3480.0,
    }
    bench.update(changes)
    return bench


def _write_result(results: Path, name: str, **changes: Any) -> dict[str, Any]:
    payload = {"recipe": name, "results": {"benchmark": _benchmark(**changes),
                                           "run_dir": f"/elsewhere/bench-{name}",
                                           "plots": [f"/elsewhere/bench-{name}/loss.png"]}}
    record = quality.result_record(name, payload, command=f"python -m rnnkit recipe run {name}",
                                   date="2025-01-01T00:00:00+00:00", machine=MACHINE)
    quality.write_result(results, record)
    return record


def _row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))


def test_doctests_of_both_modules_pass() -> None:
    for module in (report, quality):
        outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert outcome.attempted > 0 and outcome.failed == 0, module.__name__


def test_result_file_from_a_recipe_output(tmp_path: Path) -> None:
    stdout = "a stray line\n" + json.dumps({"recipe": "ptb-word", "results": {
        "benchmark": _benchmark(table=[{"epochs": 10, "ppl": 120.0}]),
        "run_dir": "runs/bench-ptb-word-1", "plots": ["runs/bench-ptb-word-1/loss.png"],
        "test_perplexity": 95.25}}) + "\n"
    record = quality.result_record("ptb-word", quality.parse_output(stdout), command="cmd",
                                   date="2025-01-01T00:00:00+00:00", machine=MACHINE)
    path = quality.write_result(tmp_path, record)
    assert path == tmp_path / "ptb-word.json"
    assert [p.name for p in tmp_path.iterdir()] == ["ptb-word.json"]  # no temporary left
    saved = json.loads(path.read_text(encoding="utf-8"))
    for key in ("recipe", "metric", "value", "higher_is_better", "target", "wall_seconds",
                "date", "command", "target_text", "met", "published", "setting", "table",
                "run_dir", "machine"):
        assert key in saved, key
    assert saved["recipe"] == "ptb-word" and saved["value"] == 95.25
    assert saved["target_text"] == "≤ 100 within 60 min"  # not escaped
    assert saved["table"] == [{"epochs": 10, "ppl": 120.0}]
    assert saved["machine"] == MACHINE and saved["run_dir"] == "runs/bench-ptb-word-1"
    assert "test_perplexity" not in saved  # only the benchmark's keys and the run's facts


def test_result_record_rejects_outputs_without_a_complete_benchmark() -> None:
    kw = {"command": "c", "date": "d", "machine": MACHINE}
    with pytest.raises(ValueError, match="must return a `benchmark` dict"):
        quality.result_record("kalman", {"recipe": "kalman", "results": {"ratio": 1.0}}, **kw)
    partial = _benchmark()
    del partial["met"]
    with pytest.raises(ValueError, match=r"without \['met'\]"):
        quality.result_record("kalman", {"recipe": "kalman", "results": {"benchmark": partial}},
                              **kw)
    with pytest.raises(ValueError, match="must be recipe 'kalman'"):
        quality.result_record("kalman", {"recipe": "ptb-word", "results": {}}, **kw)
    with pytest.raises(ValueError, match="no JSON object"):
        quality.parse_output("progress\n[1, 2]\n")


def test_render_rows_in_the_issues_order_and_not_run_yet(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _write_result(results, "ptb-word")
    _write_result(results, "imdb-bilstm", metric="test accuracy", value=0.8841, met=False,
                  target=0.88, target_text="≥ 88%", wall_seconds=754.0)
    text = report.render(tmp_path / "BENCHMARKS.md", results)
    assert text == (tmp_path / "BENCHMARKS.md").read_text(encoding="utf-8")
    positions = [text.index(f"| `{spec.name}` |") for spec in report.QUALITY_ROWS]
    assert positions == sorted(positions) and len(positions) == 11
    ptb = _row(text, "ptb-word")
    assert "**95.25** test perplexity" in ptb and "| 58.0 min |" in ptb
    assert "2×650 tied LSTM, 39 epochs" in ptb and "| yes |" in ptb and "87.2" in ptb
    assert "loss.png" not in ptb  # the plot is not inside the repository: no dead link
    imdb = _row(text, "imdb-bilstm")
    assert "**88.4%** test accuracy" in imdb and "| no |" in imdb and "12.6 min" in imdb
    sherlock = _row(text, "sherlock-char")
    assert "not run yet: `python bench/quality.py sherlock-char`" in sherlock
    assert "≤ 1.45 within 30 min" in sherlock
    assert text.count("not run yet") == 9
    assert "2 cores, torch 2.13.0+cpu, 2 threads" in text  # the intro names the machine
    for script in ("layers", "reference", "generate"):  # no speed results in this folder
        assert f"Not run yet: `python bench/{script}.py`." in text


def test_render_keeps_text_outside_the_markers_and_other_blocks(tmp_path: Path) -> None:
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text(
        "A note written by hand.\n\n<!-- rnnkit:intro:begin -->\nold intro\n"
        "<!-- rnnkit:intro:end -->\n\nBetween the blocks.\n\n<!-- rnnkit:quality:begin -->\n"
        "old quality\n<!-- rnnkit:quality:end -->\nAt the end.\n", encoding="utf-8")
    _write_result(tmp_path, "ptb-word")
    text = report.render(markdown, tmp_path, ["quality"])
    assert text.startswith("A note written by hand.\n\n<!-- rnnkit:intro:begin -->\nold intro\n")
    assert "Between the blocks." in text and text.endswith("<!-- rnnkit:quality:end -->\n"
                                                           "At the end.\n")
    assert "old quality" not in text and "**95.25** test perplexity" in text
    assert text.count("<!-- rnnkit:quality:begin -->") == 1
    assert report.render(markdown, tmp_path, ["quality"]) == text  # a second pass: no change
    full = report.render(markdown, tmp_path)  # missing blocks go after the last one there
    assert "old intro" not in full and "A note written by hand." in full
    order = [full.index(report.begin_marker(name)) for name in report.BLOCKS]
    assert order == sorted(order)


def test_render_multi_row_table(tmp_path: Path) -> None:
    table = [{"system": "linear", "kalman_mse": 0.6558, "rnn_mse": 0.6666, "ratio": 1.0166},
             {"system": "nonlinear", "kalman_mse": 0.7643, "rnn_mse": 0.7193, "ratio": 0.9412,
              "ekf_mse": 2.0509}]
    _write_result(tmp_path, "kalman", metric="test MSE ratio (GRU / Kalman)", value=1.0165,
                  target=1.05, table=table)
    text = report.render(tmp_path / "B.md", tmp_path, ["quality"])
    section = text[text.index("### kalman"):]
    assert "| system | kalman_mse | rnn_mse | ratio | ekf_mse |" in section
    assert "| linear | 0.6558 | 0.6666 | 1.017 | — |" in section
    assert "| nonlinear | 0.7643 | 0.7193 | 0.9412 | 2.051 |" in section
    assert "### ptb-word" not in text  # a recipe without a table gets no sub-section


def test_render_speed_sections_from_their_json(tmp_path: Path) -> None:
    row = {"path": "loop", "layer": "LSTM peephole", "hidden_size": 128, "num_layers": 1,
           "rnnkit_tokens_per_s": 140642.8, "baseline": "torch.nn.LSTM",
           "baseline_tokens_per_s": 315501.7, "ratio": 0.4458}
    option = {"option": "zoneout=0.1", "path": "loop", "hidden_size": 512, "num_layers": 2,
              "rnnkit_tokens_per_s": 8953.4, "baseline": "torch.nn.LSTM",
              "baseline_tokens_per_s": 12196.2, "ratio": 0.7341, "target": 0.6}
    gru_option = {**option, "option": "GRU layer_norm vs GRU", "baseline": "torch.nn.GRU",
                  "ratio": 0.88}
    (tmp_path / "layers.json").write_text(json.dumps({
        "torch": "2.13.0+cpu", "threads": 2, "clock": "wall", "cpu_count": 2, "batch_size": 64,
        "steps": 100, "repeats": 7, "warmup": 2, "rows": [row], "cpu": "AMD EPYC (AVX2)",
        "options": {"repeats": 7, "warmup": 2, "rows": [option, gru_option]}}))
    (tmp_path / "generate.json").write_text(json.dumps({
        "model": {"vocab": 65, "embedding": 128, "hidden": 512, "layers": 3, "cell": "lstm"},
        "chars": 2000, "repeats": 5, "threads": 1, "torch": "2.13.0+cpu", "cpu_count": 2,
        "plain_chars_per_s_wall": 562.0, "plain_chars_per_s_cpu": 281.7,
        "rnnkit_chars_per_s_wall": 1610.0, "rnnkit_chars_per_s_cpu": 806.5,
        "ratio_wall": 2.8648, "ratio_cpu": 2.8635, "greedy_agreement_first_200": 1.0,
        "numpy_chars_per_s_wall": 2000.0, "numpy_chars_per_s_cpu": 1001.0,
        "rnnkit_vs_numpy_wall": 0.805, "rnnkit_vs_numpy_cpu": 0.8057, "numpy_blas_threads": "1",
        "numpy_greedy_agreement_first_200": 0.995}))
    text = report.render(tmp_path / "B.md", tmp_path, ["layers", "reference", "generate"])
    assert "| loop | LSTM peephole | 128 | 1 | 140,643 | torch.nn.LSTM | 315,502 | 0.45× |" in text
    assert ("| zoneout=0.1 | loop | 512 | 2 | 8,953 | torch.nn.LSTM | 12,196 | 0.73× | ≥ 0.60× |"
            in text)
    assert ("| GRU layer_norm vs GRU | loop | 512 | 2 | 8,953 | torch.nn.GRU | 12,196 | 0.88× |"
            in text)
    assert "2 threads, 2 cores, AMD EPYC (AVX2))." in text
    assert "| rnnkit ÷ plain loop | 2.86× | 2.86× |" in text and "2,000 characters per run" in text
    assert "| NumPy matrix-vector loop, the yardstick (BLAS threads: 1) | 2,000 | 1,001 |" in text
    assert "| rnnkit ÷ NumPy loop | 0.81× | 0.81× |" in text
    assert "(torch 2.13.0+cpu, 1 thread, 2 cores)" in text
    assert "on 99.5% with the NumPy loop" in text
    assert "Not run yet: `python bench/reference.py`." in text
    assert "rnnkit:quality:begin" not in text  # only the blocks asked for


def test_bad_markers_and_block_names_are_refused(tmp_path: Path) -> None:
    doubled = "<!-- rnnkit:intro:begin -->\n<!-- rnnkit:intro:begin -->\n<!-- rnnkit:intro:end -->"
    with pytest.raises(ValueError, match="markers of block 'intro' once each"):
        report.replace_block(doubled, "intro", "x")
    with pytest.raises(ValueError, match="Argument `blocks` must hold names from"):
        report.render(tmp_path / "B.md", tmp_path, ["speed"])
    with pytest.raises(ValueError, match="Argument `block` must be one of"):
        report.update_after("quality", tmp_path / "quality.json")


def test_plots_are_linked_only_when_they_exist_inside_the_repository(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "loss.png").write_bytes(b"png")
    result = {"plots": ["runs/loss.png", "runs/missing.png", str(ROOT.parent / "x.png")]}
    assert report.plot_links(result, tmp_path) == ["[loss](runs/loss.png)"]


def test_speed_scripts_update_the_page_only_for_their_committed_file(tmp_path: Path) -> None:
    markdown = tmp_path / "B.md"
    assert not report.update_after("layers", tmp_path / "layers.json", markdown)
    assert not markdown.exists()
    assert report.update_after("layers", report.RESULTS_DIR / "layers.json", markdown)
    text = markdown.read_text(encoding="utf-8")
    assert "<!-- rnnkit:layers:begin -->" in text and "rnnkit:quality" not in text


def test_bad_names_are_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="Unknown benchmark 'nope': the valid names are "
                                         "shakespeare-char, sherlock-char, ptb-word"):
        quality.check_names(["kalman", "nope"])
    with pytest.raises(SystemExit) as exit_info:
        quality.main(["kalman", "nope"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Unknown benchmark 'nope'" in err and "translate-en-fr, lstm-variants, kalman" in err
    assert "[1/" not in err  # kalman did not start


def test_reduced_never_writes_the_committed_results(tmp_path: Path) -> None:
    for argv in (["--reduced", "--results", str(report.RESULTS_DIR), "kalman"],
                 ["--reduced", "--results", str(tmp_path), "--markdown",
                  str(report.MARKDOWN), "kalman"]):
        with pytest.raises(SystemExit) as exit_info:
            quality.main(argv)
        assert exit_info.value.code == 2


def test_a_failed_recipe_writes_nothing_and_the_rest_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    code = quality.main(["--reduced", "--results", str(results), "--shared",
                         str(tmp_path / "no-data"), "ptb-word", "sherlock-char"])
    assert code == 1
    err = capsys.readouterr().err
    assert "[2/2] sherlock-char" in err  # the second ran after the first failed
    assert "ptb-word needs its data at" in err
    assert "failed: ptb-word, sherlock-char" in err
    assert not list(results.glob("*.json"))


def test_reduced_kalman_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the child process: one thread, as here
    committed = {p.name: p.stat().st_mtime_ns for p in report.RESULTS_DIR.glob("*.json")}
    results = tmp_path / "results"
    argv = ["--reduced", "--results", str(results), "kalman", "--set", "iterations=100",
            "--set", "test_sequences=200"]  # the reduced setting made smaller still
    assert quality.main(argv) == 0
    saved = json.loads((results / "kalman.json").read_text(encoding="utf-8"))
    assert saved["recipe"] == "kalman" and saved["value"] > 0
    assert isinstance(saved["met"], bool) and saved["wall_seconds"] > 0
    assert saved["command"].startswith("python -m rnnkit recipe run kalman --json --set "
                                       "iterations=100 --set test_sequences=200 --out ")
    assert "--full" not in saved["command"]
    run_dir = Path(saved["run_dir"])
    assert run_dir.parent == results / "runs" and (run_dir / "results.json").is_file()
    text = (results / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "not run yet" not in _row(text, "kalman") and "not run yet" in _row(text, "ptb-word")
    assert {p.name: p.stat().st_mtime_ns
            for p in report.RESULTS_DIR.glob("*.json")} == committed


def test_from_run_imports_a_finished_full_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "bench-ptb-word"
    run_dir.mkdir()
    saved = {"recipe": "ptb-word", "full": True, "seed": 0, "settings": {},
             "results": {"benchmark": _benchmark(), "run_dir": str(run_dir), "plots": []}}
    (run_dir / "results.json").write_text(json.dumps(saved), encoding="utf-8")
    results, markdown = tmp_path / "results", tmp_path / "B.md"
    results.mkdir()
    argv = ["--from-run", str(run_dir), "--results", str(results), "--markdown", str(markdown)]
    assert quality.main(argv) == 0
    record = json.loads((results / "ptb-word.json").read_text(encoding="utf-8"))
    assert record["value"] == 95.25 and record["met"] is True
    assert record["command"].startswith("python -m rnnkit recipe run ptb-word --full --json")
    assert "95.2" in _row(markdown.read_text(encoding="utf-8"), "ptb-word")
    saved["full"] = False
    (run_dir / "results.json").write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(SystemExit):
        quality.main(argv)
    with pytest.raises(SystemExit):
        quality.main(["--from-run", str(tmp_path / "missing"), "--results", str(results)])
