"""Training speed of rnnkit.nn layers against torch.nn, measured in the same run.

For each configuration: forward, then backward of a fixed random upstream gradient (one
training step without the optimizer), on ``[T, B, H]`` inputs with ``I = H``. Warm-up runs
first, then ``--repeats`` timed runs alternating between the candidate and its baseline so
that load on the machine hits both alike; the table shows median tokens/s (``B * T`` per
step) and the ratio candidate / baseline.

Rows:
  fused   rnnkit.nn.LSTM / GRU (fused kernel)       vs torch.nn.LSTM / GRU, 1-3 layers
  loop    rnnkit.nn.LSTM(force_loop=True)           vs torch.nn.LSTM
          rnnkit.nn.LSTM(peephole=True)             vs torch.nn.LSTM
          rnnkit.nn.JordanRNN(output_size=H)        vs torch.nn.LSTM
          rnnkit.nn.GRU(force_loop=True)            vs torch.nn.GRU

Options section (issue 4): each regularisation / normalisation option of rnnkit.nn.LSTM at
H=512, 2 layers, B=64, T=100 (``--option-size``, ``--option-layers``), in training mode,
against plain torch.nn.LSTM of the same size in the same run, with the target ratio:

  weight_drop=0.5 (fused, dropped weight_hh passed to the kernel)        >= 0.9
  locked_dropout=0.5 (fused, one kernel call per layer)                   >= 0.9
  weight_drop + locked_dropout (AWD-LSTM's pair)                          >= 0.9
  layer_norm (loop)                                                       >= 0.6
  zoneout=0.1 (loop)                                                      >= 0.6
  recurrent_dropout=0.25 (loop)                                           >= 0.6

and rnnkit.nn.GRU(layer_norm=True) against plain torch.nn.GRU of the same size (the one row
whose baseline is a GRU; its JSON row names its baseline):

  GRU layer_norm vs GRU (loop)                                            >= 0.6

Usage:
    python bench/layers.py                 # full table + options, writes bench/results/layers.json
    python bench/layers.py --quick         # H=128 only, one layer, few repeats; options with
                                           # 2 repeats
    python bench/layers.py --options       # the options section alone
    python bench/layers.py --sizes 256 512 --repeats 9
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import rnnkit.nn as rnn

RESULTS = Path(__file__).resolve().parent / "results" / "layers.json"
RESULTS_OPTIONS = RESULTS.with_name("layers_options.json")  # --options alone


def _step(module: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    out, _ = module(x)
    out.backward(grad)


def _timed(fn: Callable[[], None], clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    fn()
    return clock() - start


def compare(
    candidate: torch.nn.Module,
    baseline: torch.nn.Module,
    hidden_size: int,
    batch_size: int,
    steps: int,
    warmup: int,
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Median seconds per training step of the candidate and of the baseline."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(steps, batch_size, hidden_size, generator=generator)
    grads = {}
    for module in (candidate, baseline):
        out, _ = module(x)
        grads[id(module)] = torch.randn(out.shape, generator=generator)
    times: dict[int, list[float]] = {id(candidate): [], id(baseline): []}
    for k in range(warmup + repeats):
        for module in (candidate, baseline) if k % 2 == 0 else (baseline, candidate):
            module.zero_grad(set_to_none=True)
            seconds = _timed(lambda m=module: _step(m, x, grads[id(m)]), clock)
            if k >= warmup:
                times[id(module)].append(seconds)
    return statistics.median(times[id(candidate)]), statistics.median(times[id(baseline)])


def configurations(
    sizes: list[int], layers: list[int]
) -> list[tuple[str, str, int, int, Callable[[], torch.nn.Module], Callable[[], torch.nn.Module]]]:
    """(path, name, H, num_layers, make candidate, make baseline) for every row."""
    rows = []
    for H in sizes:
        for L in layers:
            rows.append(
                (
                    "fused",
                    "LSTM",
                    H,
                    L,
                    lambda H=H, L=L: rnn.LSTM(H, H, L),
                    lambda H=H, L=L: torch.nn.LSTM(H, H, L),
                )
            )
            rows.append(
                (
                    "fused",
                    "GRU",
                    H,
                    L,
                    lambda H=H, L=L: rnn.GRU(H, H, L),
                    lambda H=H, L=L: torch.nn.GRU(H, H, L),
                )
            )
        rows.append(
            (
                "loop",
                "LSTM force_loop",
                H,
                1,
                lambda H=H: rnn.LSTM(H, H, force_loop=True),
                lambda H=H: torch.nn.LSTM(H, H),
            )
        )
        rows.append(
            (
                "loop",
                "LSTM peephole",
                H,
                1,
                lambda H=H: rnn.LSTM(H, H, peephole=True),
                lambda H=H: torch.nn.LSTM(H, H),
            )
        )
        rows.append(
            (
                "loop",
                "JordanRNN O=H",
                H,
                1,
                lambda H=H: rnn.JordanRNN(H, H, output_size=H),
                lambda H=H: torch.nn.LSTM(H, H),
            )
        )
        rows.append(
            (
                "loop",
                "GRU force_loop",
                H,
                1,
                lambda H=H: rnn.GRU(H, H, force_loop=True),
                lambda H=H: torch.nn.GRU(H, H),
            )
        )
    return rows


def option_configurations(
    hidden_size: int, num_layers: int
) -> list[tuple[str, float, Callable[[], torch.nn.Module], Callable[[], torch.nn.Module]]]:
    """(option name, target ratio, make candidate, make baseline) for the options section."""
    H, L = hidden_size, num_layers
    options: list[tuple[str, float, dict]] = [
        ("weight_drop=0.5", 0.9, {"weight_drop": 0.5}),
        ("locked_dropout=0.5", 0.9, {"locked_dropout": 0.5}),
        ("weight_drop+locked", 0.9, {"weight_drop": 0.5, "locked_dropout": 0.4}),
        ("layer_norm", 0.6, {"layer_norm": True}),
        ("zoneout=0.1", 0.6, {"zoneout": 0.1}),
        ("recurrent_dropout=0.25", 0.6, {"recurrent_dropout": 0.25}),
    ]
    return [
        (
            name,
            target,
            lambda kwargs=kwargs: rnn.LSTM(H, H, L, **kwargs),
            lambda: torch.nn.LSTM(H, H, L),
        )
        for name, target, kwargs in options
    ] + [
        (
            "GRU layer_norm vs GRU",
            0.6,
            lambda: rnn.GRU(H, H, L, layer_norm=True),
            lambda: torch.nn.GRU(H, H, L),
        )
    ]


def cpu_description() -> str:
    """The processor's model name and widest vector unit, e.g. ``"AMD EPYC (AVX2)"``: the
    speed of torch's CPU kernels, and so every ratio here, depends on both."""
    model, flags = "unknown CPU", set()
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    if "amx_bf16" in flags:
        unit = "AVX-512, AMX"
    elif "avx512f" in flags:
        unit = "AVX-512" + (", AVX512-BF16" if "avx512_bf16" in flags else "")
    elif "avx2" in flags:
        unit = "AVX2"
    else:
        unit = platform.machine()
    return f"{model} ({unit})"


def run_options(
    args: argparse.Namespace, clock: Callable[[], float], repeats: int, warmup: int
) -> list[dict]:
    """Time every option against its torch.nn baseline; print and return the rows."""
    H, L = args.option_size, args.option_layers
    tokens = args.batch_size * args.steps
    header = (
        f"{'option':<24} {'path':<6} {'H':>4} {'L':>2} {'rnnkit tok/s':>13} "
        f"{'baseline tok/s':>14} {'ratio':>6} {'target':>6}"
    )
    print(f"\noptions (training mode), median of {repeats} after {warmup} warm-up")
    print(header)
    print("-" * len(header))
    rows = []
    for name, target, make, make_baseline in option_configurations(H, L):
        candidate, baseline = make(), make_baseline()
        ours, theirs = compare(
            candidate, baseline, H, args.batch_size, args.steps, warmup, repeats, clock
        )
        row = {
            "option": name,
            "path": candidate.path,
            "hidden_size": H,
            "num_layers": L,
            "rnnkit_tokens_per_s": tokens / ours,
            "baseline": f"torch.nn.{type(baseline).__name__}",
            "baseline_tokens_per_s": tokens / theirs,
            "ratio": theirs / ours,
            "target": target,
        }
        rows.append(row)
        print(
            f"{name:<24} {row['path']:<6} {H:>4} {L:>2} {row['rnnkit_tokens_per_s']:>13.0f} "
            f"{row['baseline_tokens_per_s']:>14.0f} {row['ratio']:>6.2f} {target:>6.2f}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="H=128, one layer, 3 repeats")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per module")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per module first")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100, help="sequence length T")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed time (quiet machine); cpu: process CPU time, steadier on a "
        "loaded machine, best with --threads 1",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"JSON report (default {RESULTS.name}; {RESULTS_OPTIONS.name} with --options)",
    )
    parser.add_argument(
        "--options", action="store_true", help="run only the options section (issue 4)"
    )
    parser.add_argument("--option-size", type=int, default=512, help="H of the options rows")
    parser.add_argument("--option-layers", type=int, default=2, help="layers of the options rows")
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = RESULTS_OPTIONS if args.options else RESULTS
    option_repeats, option_warmup = args.repeats, args.warmup
    if args.quick:
        args.sizes, args.layers, args.repeats, args.warmup = [128], [1], 3, 1
        option_repeats, option_warmup = 2, 1
    for name in ("repeats", "batch_size", "steps", "option_size", "option_layers"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")

    if args.threads is not None:
        if args.threads <= 0:
            parser.error("--threads must be a positive integer")
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.manual_seed(0)
    tokens = args.batch_size * args.steps
    header = (
        f"{'path':<6} {'layer':<16} {'H':>4} {'L':>2} {'rnnkit tok/s':>13} "
        f"{'baseline':<14} {'tok/s':>9} {'ratio':>6}"
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, B={args.batch_size}, "
        f"T={args.steps}, median of {args.repeats} after {args.warmup} warm-up, "
        f"{args.clock} clock"
    )
    rows = []
    if not args.options:
        print(header)
        print("-" * len(header))
    for path, name, H, L, make, make_baseline in (
        [] if args.options else configurations(args.sizes, args.layers)
    ):
        candidate, baseline = make(), make_baseline()
        ours, theirs = compare(
            candidate, baseline, H, args.batch_size, args.steps, args.warmup, args.repeats, clock
        )
        row = {
            "path": path,
            "layer": name,
            "hidden_size": H,
            "num_layers": L,
            "rnnkit_tokens_per_s": tokens / ours,
            "baseline": f"torch.nn.{type(baseline).__name__}",
            "baseline_tokens_per_s": tokens / theirs,
            "ratio": theirs / ours,
        }
        rows.append(row)
        print(
            f"{path:<6} {name:<16} {H:>4} {L:>2} {row['rnnkit_tokens_per_s']:>13.0f} "
            f"{row['baseline']:<14} {row['baseline_tokens_per_s']:>9.0f} {row['ratio']:>6.2f}",
            flush=True,
        )

    option_rows = run_options(args, clock, option_repeats, option_warmup)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "training step (forward + backward of a random gradient), tokens/s",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "clock": args.clock,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "cpu": cpu_description(),
        "python": sys.version.split()[0],
        "batch_size": args.batch_size,
        "steps": args.steps,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "rows": rows,
        "options": {
            "benchmark": "rnnkit.nn.LSTM with each option, training mode, vs torch.nn.LSTM "
                         "(the GRU row: rnnkit.nn.GRU vs torch.nn.GRU)",
            "repeats": option_repeats,
            "warmup": option_warmup,
            "rows": option_rows,
        },
    }
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/report.py
    from report import publish

    publish("layers", args.output, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
