"""Render BENCHMARKS.md from the JSON files in bench/results/.

BENCHMARKS.md is generated: every section sits between two markers,
``<!-- rnnkit:NAME:begin -->`` and ``<!-- rnnkit:NAME:end -->``, and a writer rewrites only
the blocks it names, so text outside the markers (a note added by hand) survives. The blocks,
in the order they appear in a new file:

  intro       the machine and how to reproduce a row
  quality     one row per benchmark recipe of issue 8 (``bench/quality.py`` writes
              ``NAME.json``), "not run yet" where there is no result, then one sub-section
              per recipe that returned a multi-row ``table``
  layers      training speed of rnnkit.nn layers vs torch.nn (``bench/layers.py``)
  reference   the NumPy reference engine vs torch (``bench/reference.py``)
  generate    batch-1 generation vs the plain loop (``bench/generate.py``)
  precision   training speed in float32 vs bfloat16 autocast (``bench/precision.py``)
  softmax     a word model's training speed, full vs adaptive softmax (``bench/softmax.py``)

Nothing here measures anything and no number is ever written that is not in a result file.

    python bench/report.py                  # rewrite every block of BENCHMARKS.md
    python bench/report.py --markdown X.md --results DIR
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
MARKDOWN = ROOT / "BENCHMARKS.md"

#: Every block, in the order of a new file.
BLOCKS: tuple[str, ...] = ("intro", "quality", "layers", "reference", "generate", "precision",
                           "softmax")


@dataclass(frozen=True)
class QualityRow:
    """One row of issue 8's table, as shown before (and beside) any result.

    Attributes:
        name: the recipe (``rnnkit recipe run NAME``) and the result file ``NAME.json``.
        data: the dataset and its split.
        metric: what is measured.
        target: the issue's target.
        published: the issue's published anchor.
    """

    name: str
    data: str
    metric: str
    target: str
    published: str


#: Issue 8's table, in its order.
QUALITY_ROWS: tuple[QualityRow, ...] = (
    QualityRow("shakespeare-char", "tiny Shakespeare, first 90% train / last 10% validation",
               "validation loss, nats/char", "≤ 1.47 within 30 min",
               "nanoGPT char Transformer: 1.88 after ~3 min on a laptop CPU; 1.47 on a GPU"),
    QualityRow("sherlock-char", "Sherlock Holmes canon", "validation loss, nats/char",
               "≤ 1.45 within 30 min", "(course assignment)"),
    QualityRow("ptb-word", "Penn Treebank (Mikolov split)", "test perplexity",
               "≤ 100 within 60 min",
               "PyTorch word LM example, 200-unit tied LSTM: 87.2 test"),
    QualityRow("ptb-char", "character-level Penn Treebank", "test bits per character",
               "≤ 1.45 within 60 min", "AWD-LSTM 1.175 (days on a GPU)"),
    QualityRow("imdb-lstm", "IMDB official 25k/25k", "test accuracy",
               "report each improvement's gain", "from-scratch LSTM ~86–89%"),
    QualityRow("imdb-bilstm", "IMDB official 25k/25k", "test accuracy", "≥ 88%",
               "from-scratch LSTM ~86–89%"),
    QualityRow("rt-polarity", "MR sentence polarity, 10-fold cross-validation", "accuracy",
               "≥ 77%", "CNN without pretrained vectors 76.1%"),
    QualityRow("pos-ewt", "UD English EWT train/dev/test", "UPOS test accuracy", "≥ 95.0%",
               "BiLSTM tagger without pretrained vectors 94.6%"),
    QualityRow("translate-en-fr", "English–French pairs ≤ 10 words, fixed held-out 5%",
               "BLEU (sacreBLEU), greedy and beam 5", "beam ≥ greedy",
               "PyTorch tutorial setting (reports no BLEU)"),
    QualityRow("lstm-variants", "synthetic addition of two numbers of up to 8 digits",
               "sequence accuracy", "a table over the cells, 3 seeds each",
               "Jozefowicz et al. 2015; Greff et al. 2017"),
    QualityRow("kalman", "linear dynamical system with Gaussian noise; a nonlinear sensor",
               "test MSE", "RNN within 5% of the Kalman filter; better on the nonlinear one",
               "the Kalman filter (optimal on the linear system)"),
)

#: The script that produces each speed block, for its "not run yet" line.
SPEED_SCRIPTS = {"layers": "bench/layers.py", "reference": "bench/reference.py",
                 "generate": "bench/generate.py", "precision": "bench/precision.py",
                 "softmax": "bench/softmax.py"}


def begin_marker(name: str) -> str:
    """The line that opens block ``name``.

    Example:
        >>> begin_marker("quality")
        '<!-- rnnkit:quality:begin -->'
    """
    return f"<!-- rnnkit:{name}:begin -->"


def end_marker(name: str) -> str:
    """The line that closes block ``name``."""
    return f"<!-- rnnkit:{name}:end -->"


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with block ``name`` set to ``body``; everything outside it unchanged.

    A block that is not there yet is inserted after the nearest earlier block of
    :data:`BLOCKS` that is, else before the nearest later one, else at the end.

    Args:
        text: the markdown file's text (may be empty).
        name: the block's name.
        body: its new content (without the markers).

    Returns:
        The new text.

    Raises:
        ValueError: the markers of ``name`` are not one begin followed by one end.

    Example:
        >>> text = "kept\\n<!-- rnnkit:intro:begin -->\\nold\\n<!-- rnnkit:intro:end -->\\n"
        >>> print(replace_block(text, "intro", "new"), end="")
        kept
        <!-- rnnkit:intro:begin -->
        new
        <!-- rnnkit:intro:end -->
    """
    begin, end = begin_marker(name), end_marker(name)
    block = f"{begin}\n{body.strip(chr(10))}\n{end}"
    n_begin, n_end = text.count(begin), text.count(end)
    if n_begin == n_end == 1 and text.index(begin) < text.index(end):
        start = text.index(begin)
        stop = text.index(end) + len(end)
        return text[:start] + block + text[stop:]
    if n_begin or n_end:
        raise ValueError(
            f"Argument `text` must hold the markers of block {name!r} once each, begin before "
            f"end, got {n_begin} begin and {n_end} end marker(s)."
        )
    order = list(BLOCKS) if name in BLOCKS else [*BLOCKS, name]
    k = order.index(name)
    for earlier in reversed(order[:k]):
        marker = end_marker(earlier)
        if marker in text:
            at = text.index(marker) + len(marker)
            return text[:at] + "\n\n" + block + text[at:]
    for later in order[k + 1:]:
        marker = begin_marker(later)
        if marker in text:
            at = text.index(marker)
            return text[:at] + block + "\n\n" + text[at:]
    if not text:
        return block + "\n"
    return text.rstrip("\n") + "\n\n" + block + "\n"


def load_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or ``None`` when the file does not exist.

    Raises:
        ValueError: the file is not a JSON object.
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"Result file {str(path)!r} must hold JSON, got an error: {err}."
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"Result file {str(path)!r} must hold a JSON object, got {type(data).__name__}."
        )
    return data


def cell(value: Any) -> str:
    """``value`` as one markdown table cell: pipes escaped, newlines joined, floats short.

    Example:
        >>> cell("a|b"), cell(True), cell(None), cell(0.123456), cell(12345.6), cell(3)
        ('a\\\\|b', 'yes', '—', '0.1235', '12,346', '3')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """Lines of a markdown table; every cell goes through :func:`cell`.

    Example:
        >>> print("\\n".join(markdown_table(["a", "b"], [[1, 0.5]])))
        | a | b |
        |---|---|
        | 1 | 0.5 |
    """
    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def dict_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """A markdown table of flat dicts: one column per key, in the order keys first appear.

    Example:
        >>> print("\\n".join(dict_table([{"cell": "lstm", "acc": 0.9}, {"cell": "gru", "x": 1}])))
        | cell | acc | x |
        |---|---|---|
        | lstm | 0.9 | — |
        | gru | — | 1 |
    """
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return markdown_table(keys, [[row.get(k) for k in keys] for row in rows])


def format_value(value: float, metric: str) -> str:
    """The headline number: a fraction of an accuracy as a percentage, others to 4 digits.

    Example:
        >>> format_value(0.8812, "test accuracy"), format_value(1.4523, "validation loss")
        ('88.1%', '1.452')
    """
    if "accuracy" in metric.lower() and 0.0 <= value <= 1.0:
        return f"{100 * value:.1f}%"
    return cell(float(value))


def format_duration(seconds: float) -> str:
    """A wall time a person reads at a glance.

    Example:
        >>> format_duration(42.4), format_duration(754), format_duration(3900)
        ('42 s', '12.6 min', '1 h 05 min')
    """
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def _ignored_by_git(path: Path) -> bool:
    """Whether git ignores ``path`` (False outside a git work tree or without git)."""
    try:
        done = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=path.parent,
                              capture_output=True, check=False)
    except OSError:
        return False
    return done.returncode == 0


def plot_links(result: dict[str, Any], markdown_dir: Path) -> list[str]:
    """Markdown links to the recipe's plots that exist inside the repository.

    A plot is linked only when the file exists under ``markdown_dir`` and git does not ignore
    it (``runs/`` is ignored, so a plot there would be a dead link for anyone else).
    """
    links = []
    for plot in result.get("plots") or []:
        path = Path(plot)
        if not path.is_absolute():
            path = markdown_dir / path
        path = path.resolve()
        if not path.is_file() or not path.is_relative_to(markdown_dir.resolve()):
            continue
        if _ignored_by_git(path):
            continue
        rel = path.relative_to(markdown_dir.resolve()).as_posix()
        links.append(f"[{path.stem}]({rel})")
    return links


def render_intro(results_dir: Path) -> str:
    """The intro block: the machine and how to reproduce a row."""
    machines = set()
    for spec in QUALITY_ROWS:
        data = load_json(results_dir / f"{spec.name}.json") or {}
        machine = data.get("machine")
        if isinstance(machine, dict) and "torch" in machine:
            machines.add(f"{machine.get('cores', '?')} cores, torch {machine['torch']}, "
                         f"{machine.get('threads', '?')} threads")
    lines = [
        "# rnnkit benchmarks",
        "",
        "Where rnnkit stands on the datasets everyone knows and how fast its layers run, all "
        "measured on a 2-core CPU (no GPU). This file is generated from `bench/results/*.json`: "
        "edit only outside the `rnnkit:…` markers.",
        "",
        "Reproduce a quality row with `python bench/quality.py NAME` (the data from "
        "`../shared/data/`, or `--shared DIR`); `python bench/quality.py` runs them all, one "
        "after another, and `python bench/quality.py --render` rewrites this file from the "
        "results alone. The speed sections come from `python bench/layers.py`, "
        "`bench/reference.py`, `bench/generate.py`, `bench/precision.py` and "
        "`bench/softmax.py`.",
    ]
    if machines:
        lines += ["", "Quality results measured with: " + "; ".join(sorted(machines)) + "."]
    return "\n".join(lines)


def thread_note(result: dict) -> str:
    """`` (1 thread)`` when the run was limited to fewer torch threads than the machine's
    cores with ``--set threads=N`` (its wall time then uses part of the machine).

    >>> thread_note({"command": "python -m rnnkit recipe run x --set threads=1"})
    ' (1 thread)'
    >>> thread_note({"command": "python -m rnnkit recipe run x"})
    ''
    """
    match = re.search(r"--set threads=(\d+)", str(result.get("command", "")))
    if match is None or int(match.group(1)) == 0:
        return ""
    n = int(match.group(1))
    return f" ({n} thread{'s' if n > 1 else ''})"


def render_quality(results_dir: Path, markdown_dir: Path) -> str:
    """The quality block: issue 8's table with the results there are, then their tables."""
    lines = [
        "## Quality on the standard datasets",
        "",
        "One row per benchmark recipe (`rnnkit recipe run NAME --full`); the wall time is the "
        "recipe's own, from reading the data to the last number.",
        "",
    ]
    rows, tables = [], []
    for spec in QUALITY_ROWS:
        result = load_json(results_dir / f"{spec.name}.json")
        if result is None:
            rows.append([f"`{spec.name}`", spec.data, "—", "—",
                         f"not run yet: `python bench/quality.py {spec.name}`",
                         spec.target, "—", spec.published])
            continue
        metric = str(result.get("metric", spec.metric))
        value = format_value(float(result["value"]), metric)
        links = plot_links(result, markdown_dir)
        shown = f"**{value}** {metric}" + (" (" + ", ".join(links) + ")" if links else "")
        rows.append([f"`{spec.name}`", spec.data, result.get("setting", "—"),
                     format_duration(float(result["wall_seconds"])) + thread_note(result), shown,
                     result.get("target_text", spec.target), result.get("met"),
                     result.get("published", spec.published)])
        table = result.get("table")
        if isinstance(table, list) and table and all(isinstance(r, dict) for r in table):
            tables.append((spec.name, result, table))
    lines += markdown_table(["recipe", "data", "setting", "wall time", "result", "target",
                             "met?", "published anchor"], rows)
    for name, result, table in tables:
        lines += ["", f"### {name}", "",
                  f"{result.get('metric', '')}, measured {str(result.get('date', '?'))[:10]}:", ""]
        lines += dict_table(table)
        if result.get("finding"):
            lines += ["", str(result["finding"])]
    return "\n".join(lines)


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _speed_section(block: str, title: str, results_dir: Path) -> tuple[list[str], Any]:
    """The section's heading and its JSON; "not run yet" under the heading when missing."""
    lines = [f"## {title}", ""]
    data = load_json(results_dir / f"{block}.json")
    if data is None:
        lines.append(f"Not run yet: `python {SPEED_SCRIPTS[block]}`.")
    return lines, data


def render_layers(results_dir: Path) -> str:
    """The layers block: rnnkit.nn vs torch.nn training speed, and the options section."""
    lines, data = _speed_section("layers", "Training speed: rnnkit.nn layers vs torch.nn",
                                 results_dir)
    if data is None:
        return "\n".join(lines)
    lines += [
        f"Forward + backward of a random gradient, batch {data.get('batch_size')}, "
        f"T={data.get('steps')}, I=H; median of {data.get('repeats')} runs after "
        f"{data.get('warmup')} warm-up, alternating with the baseline in the same run "
        f"({data.get('clock', 'wall')} clock, torch {data.get('torch')}, "
        f"{data.get('threads')} threads, {data.get('cpu_count')} cores"
        + (f", {data['cpu']}" if data.get("cpu") else "")
        + "). Ratio = rnnkit tokens/s ÷ baseline tokens/s.",
        "",
    ]
    lines += markdown_table(
        ["path", "layer", "H", "layers", "rnnkit tok/s", "baseline", "baseline tok/s", "ratio"],
        [[r["path"], r["layer"], r["hidden_size"], r["num_layers"],
          _rate(r["rnnkit_tokens_per_s"]), r["baseline"], _rate(r["baseline_tokens_per_s"]),
          f"{r['ratio']:.2f}×"]
         for r in data.get("rows", [])],
    )
    options = data.get("options")
    if isinstance(options, dict) and options.get("rows"):
        lines += ["", "Each option of rnnkit.nn.LSTM in training mode against a plain "
                      "torch.nn.LSTM of the same size, and the layer-norm GRU against "
                      f"torch.nn.GRU (median of {options.get('repeats')} after "
                      f"{options.get('warmup')} warm-up):", ""]
        lines += markdown_table(
            ["option", "path", "H", "layers", "rnnkit tok/s", "baseline", "baseline tok/s",
             "ratio", "target"],
            [[r["option"], r["path"], r["hidden_size"], r["num_layers"],
              _rate(r["rnnkit_tokens_per_s"]), r.get("baseline", "torch.nn.LSTM"),
              _rate(r["baseline_tokens_per_s"]),
              f"{r['ratio']:.2f}×",
              f"≥ {r['target']:.2f}×"] for r in options["rows"]],
        )
    return "\n".join(lines)


def render_reference(results_dir: Path) -> str:
    """The reference block: the NumPy engine's training and generation speed vs torch."""
    lines, data = _speed_section("reference", "The NumPy reference engine vs torch", results_dir)
    if data is None:
        return "\n".join(lines)
    settings, machine = data.get("settings", {}), data.get("machine", {})
    lines += [
        f"float32, median of {settings.get('repeats')} (torch {machine.get('torch')}, numpy "
        f"{machine.get('numpy')}, {machine.get('torch_threads')} threads, "
        f"{machine.get('cpus')} cores). Training: forward + backward, batch "
        f"{settings.get('batch')}, T={settings.get('steps')}, tokens/s:",
        "",
    ]
    lines += markdown_table(
        ["H", "reference", "rnnkit.nn", "torch.nn", "ref / rnnkit.nn", "ref / torch.nn"],
        [[r["hidden_size"], _rate(r["reference_tok_s"]), _rate(r["rnnkit_nn_tok_s"]),
          _rate(r["torch_nn_tok_s"]),
          f"{r['ratio_vs_rnnkit_nn']:.2f}×", f"{r['ratio_vs_torch_nn']:.2f}×"]
         for r in data.get("training", [])],
    )
    lines += ["", f"Generation: one batch-1 step, {settings.get('generation_steps')} steps, "
                  "steps/s:", ""]
    lines += markdown_table(
        ["H", "reference", "torch.nn", "ref / torch.nn"],
        [[r["hidden_size"], _rate(r["reference_steps_s"]), _rate(r["torch_nn_steps_s"]),
          f"{r['ratio_vs_torch_nn']:.2f}×"] for r in data.get("generation", [])],
    )
    return "\n".join(lines)


def render_generate(results_dir: Path) -> str:
    """The generate block: batch-1 character generation, rnnkit vs the plain loop."""
    lines, data = _speed_section(
        "generate", "Generation at batch 1: rnnkit vs the plain per-character loop", results_dir)
    if data is None:
        return "\n".join(lines)
    model = data.get("model", {})
    lines += [
        f"{model.get('layers')}×{model.get('hidden')} {model.get('cell', 'lstm').upper()} "
        f"character model (V={model.get('vocab')}, embedding {model.get('embedding')}), "
        f"{data['chars']:,} characters per run, median of {data.get('repeats')} "
        f"(torch {data.get('torch')}, {data.get('threads')} "
        f"thread{'' if data.get('threads') == 1 else 's'}, {data.get('cpu_count')} cores):",
        "",
    ]
    table = [["plain loop (torch.nn.LSTM per character)", _rate(data["plain_chars_per_s_wall"]),
              _rate(data["plain_chars_per_s_cpu"])],
             ["rnnkit (`rnnkit.decoding.generate`)", _rate(data["rnnkit_chars_per_s_wall"]),
              _rate(data["rnnkit_chars_per_s_cpu"])],
             ["rnnkit ÷ plain loop", f"{data['ratio_wall']:.2f}×", f"{data['ratio_cpu']:.2f}×"]]
    if "numpy_chars_per_s_wall" in data:
        table += [[f"NumPy matrix-vector loop, the yardstick (BLAS threads: "
                   f"{data.get('numpy_blas_threads', 'default')})",
                   _rate(data["numpy_chars_per_s_wall"]), _rate(data["numpy_chars_per_s_cpu"])],
                  ["rnnkit ÷ NumPy loop", f"{data['rnnkit_vs_numpy_wall']:.2f}×",
                   f"{data['rnnkit_vs_numpy_cpu']:.2f}×"]]
    lines += markdown_table(["", "characters/s (wall)", "characters/s (CPU)"], table)
    agreement = data.get("greedy_agreement_first_200")
    if agreement is not None:
        lines += ["", f"Greedy decoding agrees on {100 * agreement:.1f}% of the first 200 "
                      "characters with the plain loop"
                  + (f" and on {100 * data['numpy_greedy_agreement_first_200']:.1f}% with the "
                     "NumPy loop" if "numpy_greedy_agreement_first_200" in data else "")
                  + " (same weights)."]
    return "\n".join(lines)


def _bf16_support_sentence(support: Any) -> str:
    """One sentence on the CPU's bfloat16 instructions, from a result's ``cpu_bf16``.

    Example:
        >>> _bf16_support_sentence({"amx_bf16": True, "avx512_bf16": True})
        'The CPU has AMX-BF16 and AVX512-BF16: bfloat16 matrix products run in hardware.'
        >>> _bf16_support_sentence({"amx_bf16": None, "avx512_bf16": None}).split(":")[0]
        'Whether the CPU has AMX-BF16 or AVX512-BF16 is unknown (no CPU flags recorded)'
    """
    support = support if isinstance(support, dict) else {}
    amx, avx = support.get("amx_bf16"), support.get("avx512_bf16")
    fast = ("bfloat16 is fast only with one of them; without, the products are emulated and "
            "usually slower than float32.")
    if amx is None and avx is None:
        return ("Whether the CPU has AMX-BF16 or AVX512-BF16 is unknown (no CPU flags "
                f"recorded): {fast}")
    if amx and avx:
        return ("The CPU has AMX-BF16 and AVX512-BF16: bfloat16 matrix products run in "
                "hardware.")
    if amx or avx:
        has, lacks = ("AMX-BF16", "AVX512-BF16") if amx else ("AVX512-BF16", "AMX-BF16")
        return f"The CPU has {has} (not {lacks}): bfloat16 matrix products run in hardware."
    return f"The CPU has neither AMX-BF16 nor AVX512-BF16: {fast}"


def render_precision(results_dir: Path) -> str:
    """The precision block: training steps in float32 vs under bfloat16 autocast."""
    lines, data = _speed_section(
        "precision", "Training speed: float32 vs bfloat16 autocast", results_dir)
    if data is None:
        return "\n".join(lines)
    lines += [
        "Full training steps (forward + loss under `torch.autocast` for bf16, backward, Adam) "
        "of `rnnkit.models.LanguageModel`, as the Trainer takes them with `precision=\"bf16\"`; "
        "parameters, gradients and optimizer state stay float32. Same weights and batch on "
        f"both sides, median of {data.get('repeats')} steps after warm-up, alternating "
        f"(torch {data.get('torch')}, {data.get('threads')} "
        f"thread{'' if data.get('threads') == 1 else 's'}, {data.get('cpu_count')} cores). "
        "Ratio = bf16 tokens/s ÷ fp32 tokens/s; loss "
        "difference = |bf16 − fp32| ÷ fp32 on the first timed step.",
        "",
    ]
    lines += markdown_table(
        ["model", "tokens/step", "fp32 tokens/s", "bf16 tokens/s", "ratio", "loss difference"],
        [[r["model"], f"{int(r['tokens_per_step']):,}", _rate(r["fp32_tok_s"]),
          _rate(r["bf16_tok_s"]), f"{r['ratio']:.2f}×", f"{100 * r['loss_rel_diff']:.2g}%"]
         for r in data.get("rows", [])],
    )
    lines += ["", _bf16_support_sentence(data.get("cpu_bf16"))]
    return "\n".join(lines)


def render_softmax(results_dir: Path) -> str:
    """The softmax block: a word model's training steps with the full and adaptive softmax."""
    lines, data = _speed_section(
        "softmax", "Training speed: full softmax vs adaptive softmax", results_dir)
    if data is None:
        return "\n".join(lines)
    model = data.get("model", {})
    threads = data.get("threads")
    lines += [
        f"Full training steps (forward + loss, backward, Adam) of a word "
        f"`rnnkit.models.LanguageModel` ({model.get('layers')}×{model.get('hidden')} LSTM, "
        f"embedding {model.get('hidden')}, V={model.get('vocab', 0):,}, dropout "
        f"{model.get('dropout')}, batch {model.get('batch')} × T {model.get('steps')}) on "
        f"batches of {data.get('data')}, with each output layer, in float32 and under "
        f"bfloat16 autocast; median of {data.get('repeats')} steps after warm-up, the models "
        f"taking turns (torch {data.get('torch')}, {threads} "
        f"thread{'' if threads == 1 else 's'}, {data.get('cpu_count')} cores). Ratio = "
        "tokens/s ÷ those of the tied full softmax in the same precision; shortlist = the "
        "share of targets the adaptive softmax's head scores without a tail.",
        "",
    ]
    lines += markdown_table(
        ["output layer", "precision", "parameters", "tokens/s", "vs full, tied", "shortlist",
         "first loss"],
        [[r["decoder"], r["precision"], f"{int(r['parameters']):,}", _rate(r["tokens_per_s"]),
          f"{r['ratio_vs_full_tied']:.2f}×", f"{100 * r['shortlist_share']:.1f}%",
          f"{r['first_loss']:.3f}"] for r in data.get("rows", [])],
    )
    return "\n".join(lines)


def render_block(name: str, results_dir: Path, markdown_dir: Path) -> str:
    """The content of block ``name`` from the result files in ``results_dir``.

    Raises:
        ValueError: ``name`` is not one of :data:`BLOCKS`.
    """
    if name == "intro":
        return render_intro(results_dir)
    if name == "quality":
        return render_quality(results_dir, markdown_dir)
    if name == "layers":
        return render_layers(results_dir)
    if name == "reference":
        return render_reference(results_dir)
    if name == "generate":
        return render_generate(results_dir)
    if name == "precision":
        return render_precision(results_dir)
    if name == "softmax":
        return render_softmax(results_dir)
    raise ValueError(f"Argument `name` must be one of {list(BLOCKS)}, got {name!r}.")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def render(
    markdown_path: str | Path,
    results_dir: str | Path,
    blocks: Iterable[str] | None = None,
) -> str:
    """Rewrite the named blocks of ``markdown_path`` from the JSON files in ``results_dir``.

    Args:
        markdown_path: the markdown file (created when missing).
        results_dir: the folder of ``NAME.json``, ``layers.json``, ``reference.json``,
            ``generate.json``, ``precision.json``, ``softmax.json``.
        blocks: the blocks to rewrite (default: all of :data:`BLOCKS`); the others and any
            text outside the markers stay as they are.

    Returns:
        The file's new text.

    Raises:
        ValueError: an unknown block, markers out of order, or a result file that is not a
            JSON object.
    """
    markdown_path, results_dir = Path(markdown_path), Path(results_dir)
    names = list(BLOCKS if blocks is None else blocks)
    for name in names:
        if name not in BLOCKS:
            raise ValueError(f"Argument `blocks` must hold names from {list(BLOCKS)}, "
                             f"got {name!r}.")
    text = markdown_path.read_text(encoding="utf-8") if markdown_path.exists() else ""
    markdown_dir = markdown_path.resolve().parent
    for name in names:
        text = replace_block(text, name, render_block(name, results_dir, markdown_dir))
    write_atomic(markdown_path, text)
    return text


def update_after(block: str, written: str | Path, markdown_path: str | Path = MARKDOWN) -> bool:
    """Rewrite ``block`` of BENCHMARKS.md after a speed script wrote ``written``.

    Only the committed result file (``bench/results/BLOCK.json``) updates the page: a run
    that wrote its JSON elsewhere (``--output``, ``--quick`` into a scratch file) leaves it
    alone.

    Returns:
        Whether the block was rewritten.

    Raises:
        ValueError: ``block`` is not a speed block (layers, reference, generate,
            precision, softmax).
    """
    if block not in SPEED_SCRIPTS:
        raise ValueError(f"Argument `block` must be one of {list(SPEED_SCRIPTS)}, got {block!r}.")
    if Path(written).resolve() != (RESULTS_DIR / f"{block}.json").resolve():
        return False
    render(markdown_path, RESULTS_DIR, [block])
    return True


def publish(block: str, out: str | Path, data: dict[str, Any]) -> None:
    """What every speed script does last: write its result ``data`` to ``out`` (through a
    temporary file), and rewrite its ``block`` of BENCHMARKS.md when ``out`` is the committed
    result file (see :func:`update_after`)."""
    out = Path(out)
    write_atomic(out, json.dumps(data, indent=2) + "\n")
    print(f"wrote {out}")
    if update_after(block, out):
        print("updated BENCHMARKS.md")


def main(argv: list[str] | None = None) -> int:
    """Rewrite BENCHMARKS.md (or ``--markdown``) from the result files."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", type=Path, default=MARKDOWN, help="the file to rewrite")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="the JSON folder")
    parser.add_argument("--blocks", nargs="+", default=None, choices=BLOCKS,
                        help="rewrite only these blocks")
    args = parser.parse_args(argv)
    render(args.markdown, args.results, args.blocks)
    print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
