"""Speed of the NumPy reference LSTM against the torch engines, measured in the same run.

Two measurements, float32 everywhere (torch's default):

* training: tokens/s of forward + backward (a random upstream gradient on every output) for
  batch 64, T = 100, H = I in {128, 512}: ``rnnkit.reference.Network("lstm")`` against
  ``rnnkit.nn.LSTM`` (fused path) and ``torch.nn.LSTM``;
* generation: steps/s of one batch-1 step (matrix-vector products), the reference cell's
  ``project_input`` + ``step`` against ``torch.nn.LSTM`` called once per step with its state.

Warm-up first, then the median of ``--repeats`` timings; the ratio columns are
reference / torch. Prints a table and writes ``bench/results/reference.json``.

    python bench/reference.py            # the full run
    python bench/reference.py --quick    # T = 20, 2 repeats: checks that it runs
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from rnnkit import nn as rnn_nn
from rnnkit.reference.network import Network


def _median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_training(H: int, batch: int, steps: int, repeats: int) -> dict[str, float]:
    """Tokens/s of forward + backward for the three LSTMs at hidden size ``H``."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, steps, H)).astype(np.float32)
    g = rng.normal(size=(batch, steps, H)).astype(np.float32)

    net = Network("lstm", H, H)
    params = net.init_params(seed=0, dtype=np.float32)

    def reference() -> None:
        fwd = net.forward(params, x)
        net.backward(params, fwd, g)

    xt, gt = torch.from_numpy(x), torch.from_numpy(g)
    ours = rnn_nn.LSTM(H, H, batch_first=True)
    theirs = torch.nn.LSTM(H, H, batch_first=True)

    def run(module: torch.nn.Module) -> Callable[[], None]:
        def step() -> None:
            module.zero_grad(set_to_none=True)
            out, _ = module(xt)
            out.backward(gt)

        return step

    tokens = batch * steps
    result = {
        "hidden_size": H,
        "reference_tok_s": tokens / _median_time(reference, repeats),
        "rnnkit_nn_tok_s": tokens / _median_time(run(ours), repeats),
        "torch_nn_tok_s": tokens / _median_time(run(theirs), repeats),
    }
    result["ratio_vs_rnnkit_nn"] = result["reference_tok_s"] / result["rnnkit_nn_tok_s"]
    result["ratio_vs_torch_nn"] = result["reference_tok_s"] / result["torch_nn_tok_s"]
    return result


def bench_generation(H: int, steps: int, repeats: int) -> dict[str, float]:
    """Steps/s of batch-1 generation: one step at a time, the state carried."""
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(steps, 1, H)).astype(np.float32)
    net = Network("lstm", H, H)
    params = net.layer_params(net.init_params(seed=1, dtype=np.float32), 0, 0)
    cell = net.cell

    def reference() -> None:
        state = cell.initial_state(1, H, dtype=np.float32)
        for t in range(steps):
            u, _ = cell.project_input(params, xs[t])
            state, _ = cell.step(params, u, state)

    module = torch.nn.LSTM(H, H)
    xt = torch.from_numpy(xs).unsqueeze(1)  # [steps, 1 (T), 1 (B), H]

    def torch_steps() -> None:
        with torch.no_grad():
            state = None
            for t in range(steps):
                _, state = module(xt[t], state)

    result = {
        "hidden_size": H,
        "reference_steps_s": steps / _median_time(reference, repeats),
        "torch_nn_steps_s": steps / _median_time(torch_steps, repeats),
    }
    result["ratio_vs_torch_nn"] = result["reference_steps_s"] / result["torch_nn_steps_s"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="T=20, 2 repeats, 50 gen steps")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5)")
    parser.add_argument("--sizes", default="128,512", help="hidden sizes, comma-separated")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=None, help="T (default 100)")
    parser.add_argument("--gen-steps", type=int, default=None, help="generation steps (200)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "reference.json"))
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    steps = args.steps or (20 if args.quick else 100)
    gen_steps = args.gen_steps or (50 if args.quick else 200)
    sizes = [int(s) for s in args.sizes.split(",")]

    train = [bench_training(H, args.batch, steps, repeats) for H in sizes]
    generate = [bench_generation(H, gen_steps, repeats) for H in sizes]

    print(f"training, batch {args.batch}, T={steps}, float32, median of {repeats} (tokens/s)")
    print(f"{'H':>5} {'reference':>11} {'rnnkit.nn':>11} {'torch.nn':>11} "
          f"{'ref/rnnkit.nn':>14} {'ref/torch.nn':>13}")
    for r in train:
        print(f"{r['hidden_size']:>5} {r['reference_tok_s']:>11,.0f} "
              f"{r['rnnkit_nn_tok_s']:>11,.0f} "
              f"{r['torch_nn_tok_s']:>11,.0f} {r['ratio_vs_rnnkit_nn']:>14.2f} "
              f"{r['ratio_vs_torch_nn']:>13.2f}")
    print(f"\ngeneration, batch 1, {gen_steps} steps, median of {repeats} (steps/s)")
    print(f"{'H':>5} {'reference':>11} {'torch.nn':>11} {'ref/torch.nn':>13}")
    for r in generate:
        print(f"{r['hidden_size']:>5} {r['reference_steps_s']:>11,.0f} "
              f"{r['torch_nn_steps_s']:>11,.0f} {r['ratio_vs_torch_nn']:>13.2f}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "reference LSTM vs rnnkit.nn.LSTM and torch.nn.LSTM",
        "settings": {"batch": args.batch, "steps": steps, "generation_steps": gen_steps,
                     "repeats": repeats, "dtype": "float32", "quick": args.quick},
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "numpy": np.__version__, "torch": torch.__version__,
                    "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "training": train,
        "generation": generate,
    }
    print()
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/report.py
    from report import publish

    publish("reference", out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
