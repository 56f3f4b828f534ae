"""Run the benchmark recipes of issue 8 one after another and keep their results.

Each recipe runs as its own process,
``python -m rnnkit recipe run NAME --full --json --data PATH --out runs/bench-NAME-TIME``,
its progress streaming to this terminal; from the ``benchmark`` dict of its results this
script writes ``bench/results/NAME.json`` (atomically) and rewrites the intro and quality
blocks of ``BENCHMARKS.md`` (see ``bench/report.py``). A recipe that fails writes nothing; the
script goes on with the next and exits non-zero at the end, naming what failed.

The data come from ``--shared`` (default ``../shared/data`` beside the repository):

  shakespeare-char  tinyshakespeare.txt        imdb-lstm, imdb-bilstm  imdb.tsv.gz
  sherlock-char     sherlock.txt.gz            rt-polarity             rt-polarity.tsv
  ptb-word          ptb/                       pos-ewt                 ud_english_ewt/
  ptb-char          ptb/                       translate-en-fr         eng-fra.txt.gz
  lstm-variants, kalman: no data (synthetic)

Usage:
    python bench/quality.py                    # every recipe, in the issue's order (hours)
    python bench/quality.py ptb-word kalman    # a subset
    python bench/quality.py --reduced kalman   # smoke run: reduced settings, results into a
                                               # temporary folder (never bench/results)
    python bench/quality.py --render           # only rewrite BENCHMARKS.md from the JSON files
    python bench/quality.py kalman --set iterations=5000   # a changed setting (recorded)
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
MARKDOWN = ROOT / "BENCHMARKS.md"
SHARED = ROOT.parent / "shared" / "data"

#: Recipe -> its data under ``--shared`` (``None``: synthetic, no data), in the issue's order.
DATA: dict[str, str | None] = {
    "shakespeare-char": "tinyshakespeare.txt",
    "sherlock-char": "sherlock.txt.gz",
    "ptb-word": "ptb",
    "ptb-char": "ptb",
    "imdb-lstm": "imdb.tsv.gz",
    "imdb-bilstm": "imdb.tsv.gz",
    "rt-polarity": "rt-polarity.tsv",
    "pos-ewt": "ud_english_ewt",
    "translate-en-fr": "eng-fra.txt.gz",
    "lstm-variants": None,
    "kalman": None,
}

#: The keys every recipe's ``results["benchmark"]`` holds (issue 8's contract); ``table`` and
#: ``finding`` are optional.
BENCHMARK_KEYS: tuple[str, ...] = ("metric", "value", "higher_is_better", "target",
                                   "target_text", "met", "published", "setting", "wall_seconds")


def _load_report() -> ModuleType:
    """bench/report.py, beside this file (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("rnnkit_bench_report",
                                                  Path(__file__).with_name("report.py"))
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {Path(__file__).with_name('report.py')}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


report = _load_report()


def check_names(names: Sequence[str]) -> list[str]:
    """The recipes to run: ``names`` in the order given, or all of :data:`DATA` when empty.

    Raises:
        ValueError: a name that is not a benchmark recipe (the message lists the valid ones).

    Example:
        >>> check_names(["kalman", "ptb-word"])
        ['kalman', 'ptb-word']
        >>> len(check_names([]))
        11
    """
    bad = [name for name in names if name not in DATA]
    if bad:
        raise ValueError(
            f"Unknown benchmark {', '.join(repr(b) for b in bad)}: the valid names are "
            f"{', '.join(DATA)}."
        )
    return list(dict.fromkeys(names)) if names else list(DATA)


def data_path(name: str, shared: Path) -> Path | None:
    """The data recipe ``name`` reads under ``shared`` (``None`` for a synthetic one).

    Raises:
        FileNotFoundError: the file or folder is not there.
    """
    relative = DATA[name]
    if relative is None:
        return None
    path = shared / relative
    if not path.exists():
        raise FileNotFoundError(
            f"{name} needs its data at {str(path)!r}, which does not exist "
            f"(give the data folder with --shared DIR)."
        )
    return path


def recipe_command(
    name: str,
    *,
    full: bool,
    data: Path | None,
    run_dir: Path,
    overrides: Sequence[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """The command line that runs one recipe and prints its results as JSON on stdout.

    ``overrides`` are ``KEY=VALUE`` settings passed on as ``--set KEY=VALUE``.

    Example:
        >>> recipe_command("kalman", full=True, data=None, run_dir=Path("runs/x"),
        ...                python="python")
        ['python', '-m', 'rnnkit', 'recipe', 'run', 'kalman', '--full', '--json', '--out', 'runs/x']
    """
    command = [python, "-m", "rnnkit", "recipe", "run", name]
    if full:
        command.append("--full")
    command.append("--json")
    if data is not None:
        command += ["--data", str(data)]
    for item in overrides:
        command += ["--set", item]
    return [*command, "--out", str(run_dir)]


def parse_output(stdout: str) -> dict[str, Any]:
    """The ``{"recipe": ..., "results": {...}}`` object a ``--json`` run printed last.

    Raises:
        ValueError: no line of ``stdout`` is such an object.

    Example:
        >>> parse_output('noise\\n{"recipe": "kalman", "results": {"x": 1}}\\n')["results"]
        {'x': 1}
    """
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            payload = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(payload, dict) and isinstance(payload.get("results"), dict):
            return payload
    raise ValueError("the recipe printed no JSON object with a `results` dict on stdout.")


def machine_info() -> dict[str, Any]:
    """Cores, torch version and torch threads of this machine (what a recipe run gets)."""
    import torch

    return {"cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def result_record(
    name: str,
    payload: dict[str, Any],
    *,
    command: str,
    date: str,
    machine: dict[str, Any],
) -> dict[str, Any]:
    """What ``bench/results/NAME.json`` holds, from a recipe's ``--json`` output.

    Args:
        name: the recipe.
        payload: ``{"recipe": NAME, "results": {...}}`` as the recipe printed it.
        command: the command line that produced it.
        date: when it ran (ISO 8601).
        machine: see :func:`machine_info`.

    Returns:
        The benchmark's keys (``recipe``, ``metric``, ``value``, ``higher_is_better``,
        ``target``, ``target_text``, ``met``, ``published``, ``setting``, ``wall_seconds``,
        ``table`` and ``finding`` when there are) plus ``date``, ``command``, ``run_dir``,
        ``plots``, ``machine``.

    Raises:
        ValueError: the output is for another recipe, or has no complete ``benchmark`` dict.
    """
    if payload.get("recipe") != name:
        raise ValueError(f"Argument `payload` must be recipe {name!r}'s output, got recipe "
                         f"{payload.get('recipe')!r}.")
    results = payload["results"]
    bench = results.get("benchmark")
    if not isinstance(bench, dict):
        raise ValueError(f"Recipe {name!r} must return a `benchmark` dict in its results "
                         f"(issue 8), got keys {sorted(results)}.")
    missing = [key for key in BENCHMARK_KEYS if key not in bench]
    if missing:
        raise ValueError(f"Recipe {name!r}'s `benchmark` dict must hold {list(BENCHMARK_KEYS)}, "
                         f"got it without {missing}.")
    record: dict[str, Any] = {"recipe": name}
    record.update({key: bench[key] for key in BENCHMARK_KEYS})
    record["value"] = float(record["value"])
    record["target"] = float(record["target"])
    record["wall_seconds"] = float(record["wall_seconds"])
    for optional in ("table", "finding"):  # a finding: what the numbers say beyond the target
        if bench.get(optional):
            record[optional] = bench[optional]
    record.update(date=date, command=command, run_dir=results.get("run_dir"),
                  plots=results.get("plots", []), machine=machine)
    return record


def write_result(results_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` to ``results_dir/RECIPE.json`` atomically; return the path."""
    path = Path(results_dir) / f"{record['recipe']}.json"
    report.write_atomic(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return path


def run_one(
    name: str,
    *,
    shared: Path,
    results_dir: Path,
    runs_dir: Path,
    full: bool,
    log: TextIO,
    overrides: Sequence[str] = (),
) -> Path:
    """Run one recipe in its own process and write its result file; return its path.

    The child's stderr (its report and progress bars) goes straight to this process's
    stderr; its stdout is the JSON.

    Raises:
        FileNotFoundError: the recipe's data is missing.
        RuntimeError: the recipe's process failed.
        ValueError: its output holds no complete ``benchmark`` dict.
    """
    data = data_path(name, shared)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = runs_dir / f"bench-{name}-{stamp}"
    if runs_dir == ROOT / "runs":
        run_dir = run_dir.relative_to(ROOT)  # shorter, and valid from the repository root
    argv = recipe_command(name, full=full, data=data, run_dir=run_dir, overrides=overrides)
    command = shlex.join(["python", *argv[1:]])
    print(f"== {name}: {command}", file=log, flush=True)
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=None, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} exited with status {done.returncode} (its messages are "
                           "above).")
    record = result_record(name, parse_output(done.stdout), command=command, date=date,
                           machine=machine_info())
    path = write_result(results_dir, record)
    verdict = "met" if record["met"] else "NOT met"
    print(f"== {name}: {report.format_value(record['value'], record['metric'])} "
          f"{record['metric']}, target {record['target_text']} {verdict}, "
          f"{report.format_duration(record['wall_seconds'])}; wrote {path}", file=log,
          flush=True)
    return path


def import_run(run_dir: Path, *, shared: Path, results_dir: Path) -> Path:
    """Write the result file of a recipe run made without this script (``rnnkit recipe run
    NAME --full --out RUN_DIR``) from its ``RUN_DIR/results.json``; return its path.

    Raises:
        FileNotFoundError: ``RUN_DIR/results.json`` does not exist.
        ValueError: the run used reduced settings, or its results hold no ``benchmark``.
    """
    source = Path(run_dir) / "results.json"
    if not source.is_file():
        raise FileNotFoundError(f"Argument `--from-run` must be a recipe run directory with a "
                                f"results.json, got {str(run_dir)!r}.")
    saved = json.loads(source.read_text(encoding="utf-8"))
    name = check_names([str(saved.get("recipe"))])[0]
    if not saved.get("full"):
        raise ValueError(f"Run {str(run_dir)!r} used the reduced settings; a benchmark row "
                         "needs a --full run.")
    argv = recipe_command(name, full=True, data=data_path(name, shared), run_dir=Path(run_dir))
    mtime = datetime.datetime.fromtimestamp(source.stat().st_mtime).astimezone()
    record = result_record(name, {"recipe": name, "results": saved["results"]},
                           command=shlex.join(["python", *argv[1:]]),
                           date=mtime.isoformat(timespec="seconds"), machine=machine_info())
    return write_result(results_dir, record)


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (default: all), write their results, rewrite BENCHMARKS.md."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="benchmarks: " + ", ".join(DATA),
    )
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="benchmark recipes to run (default: all, in the issue's order)")
    parser.add_argument("--shared", type=Path, default=SHARED,
                        help=f"the data folder (default {SHARED})")
    parser.add_argument("--results", type=Path, default=None,
                        help="where NAME.json goes (default bench/results; with --reduced a "
                             "new temporary folder)")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="the file to rewrite (default BENCHMARKS.md; with --reduced "
                             "BENCHMARKS.md inside the results folder)")
    parser.add_argument("--reduced", action="store_true",
                        help="the recipes' reduced settings (seconds): a smoke run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a recipe setting (passed on to every recipe run; the "
                             "result file's command records it)")
    parser.add_argument("--from-run", type=Path, action="append", default=[], metavar="RUN_DIR",
                        help="run nothing: take the result of a finished `rnnkit recipe run "
                             "NAME --full --out RUN_DIR` (repeatable), then rewrite the page")
    parser.add_argument("--render", action="store_true",
                        help="run nothing: only rewrite the markdown from the result files")
    args = parser.parse_args(argv)
    try:
        names = check_names(args.names)
    except ValueError as err:
        parser.error(str(err))
    if (args.render or args.from_run) and args.names:
        parser.error("--render and --from-run run nothing: give them no names.")

    if args.reduced:
        results_dir = args.results or Path(tempfile.mkdtemp(prefix="rnnkit-bench-reduced-"))
        markdown = args.markdown or results_dir / "BENCHMARKS.md"
        if _same(results_dir, RESULTS_DIR) or _same(markdown, MARKDOWN):
            parser.error("--reduced never writes into bench/results or BENCHMARKS.md: give "
                         "--results and --markdown elsewhere, or leave them out.")
        runs_dir = results_dir / "runs"
    else:
        results_dir = args.results or RESULTS_DIR
        markdown = args.markdown or MARKDOWN
        runs_dir = ROOT / "runs"

    if args.from_run:
        for run_dir in args.from_run:
            try:
                print(f"wrote {import_run(run_dir, shared=args.shared, results_dir=results_dir)}")
            except (FileNotFoundError, ValueError) as err:
                parser.error(str(err))
        args.render = True
    if args.render:
        report.render(markdown, results_dir)
        print(f"wrote {markdown}")
        return 0

    log = sys.stderr
    failed: list[str] = []
    for k, name in enumerate(names, 1):
        print(f"[{k}/{len(names)}] {name}{' (reduced)' if args.reduced else ''}", file=log,
              flush=True)
        try:
            run_one(name, shared=args.shared, results_dir=results_dir, runs_dir=runs_dir,
                    full=not args.reduced, log=log, overrides=args.set)
        except (FileNotFoundError, RuntimeError, ValueError) as err:
            print(f"== {name} FAILED: {err}", file=log, flush=True)
            failed.append(name)
            continue
        report.render(markdown, results_dir, ["intro", "quality"])
    if len(failed) < len(names):
        print(f"results in {results_dir}; {markdown} rewritten", file=log)
    if failed:
        print(f"failed: {', '.join(failed)} (nothing written for them).", file=log)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
