"""Training speed in float32 and under bfloat16 autocast, in the same run.

Each model below takes full training steps -- forward + loss, backward, an Adam step,
``zero_grad(set_to_none=True)`` -- on :class:`rnnkit.models.LanguageModel`, the way
:class:`rnnkit.train.Trainer` takes them: with ``precision="bf16"`` the forward pass and the
loss run under ``torch.autocast("cpu", dtype=torch.bfloat16)``; with ``"fp32"`` under nothing.
Parameters, gradients and the optimizer state stay float32 on both sides.

  word LM       V = 10,000, 2×400 LSTM, embedding 400, tied, dropout 0.4, batch 32 × T 35 (PTB)
  char LM       V = 65, 2×512 LSTM, embedding 128, dropout 0.2, batch 64 × T 128 (Shakespeare)
  GRU word LM   the word LM with cell = "gru"

Both sides start from the same weights (one ``state_dict`` copied) and train on the same
random batch. After two warm-up steps per side, ``--repeats`` timed steps alternate between
fp32 and bf16 so that load on the machine hits both alike; the table shows the median tokens
per second and the ratio bf16 / fp32. As a sanity check the loss of each side's first timed
step (same seed, so the same dropout masks where the dtypes allow) is compared: the relative
difference of bf16 from fp32 should be well under 1%.

bfloat16 is fast on a CPU only with hardware support (AMX-BF16 or AVX512-BF16); without it
the products are emulated and usually slower than float32. The flags are read from
``/proc/cpuinfo`` and recorded.

Usage:
    python bench/precision.py              # the three models, 7 repeats, 1 thread
    python bench/precision.py --quick      # batch 8, T 16, H 64, V <= 1,000; 2 repeats
    python bench/precision.py --threads 2 --repeats 9

Writes bench/results/precision.json.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rnnkit.models import LanguageModel
from rnnkit.train.trainer import training_precision

RESULTS = Path(__file__).resolve().parent / "results" / "precision.json"
CPUINFO = Path("/proc/cpuinfo")
PRECISIONS = ("fp32", "bf16")
WARMUP = 2  # untimed steps per side before the timed ones
LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class ModelCase:
    """One benchmarked language model and its batch.

    Attributes:
        name: the row's label (sizes are appended).
        vocab_size: ``V``.
        embedding_dim: ``D`` (equal to ``hidden_size`` when ``tie_weights``).
        hidden_size: ``H``.
        num_layers: stacked recurrent layers.
        cell: ``lstm`` or ``gru``.
        dropout: the model's dropout.
        tie_weights: share the embedding and decoder matrices.
        batch_size: ``B``.
        steps: ``T``.
    """

    name: str
    vocab_size: int
    embedding_dim: int
    hidden_size: int
    num_layers: int
    cell: str
    dropout: float
    tie_weights: bool
    batch_size: int
    steps: int

    @property
    def label(self) -> str:
        """The row's name with its sizes, e.g. ``word LM (2×400 LSTM, V=10,000, tied)``."""
        tied = ", tied" if self.tie_weights else ""
        return (f"{self.name} ({self.num_layers}×{self.hidden_size} {self.cell.upper()}, "
                f"V={self.vocab_size:,}{tied})")

    def quick(self) -> ModelCase:
        """The same model at the ``--quick`` size: batch 8, T 16, H 64, V at most 1,000."""
        hidden = 64
        return replace(self, vocab_size=min(self.vocab_size, 1000), hidden_size=hidden,
                       embedding_dim=hidden if self.tie_weights else min(self.embedding_dim,
                                                                         hidden),
                       batch_size=8, steps=16)


MODELS: tuple[ModelCase, ...] = (
    ModelCase("word LM", 10_000, 400, 400, 2, "lstm", 0.4, True, 32, 35),
    ModelCase("char LM", 65, 128, 512, 2, "lstm", 0.2, False, 64, 128),
    ModelCase("GRU word LM", 10_000, 400, 400, 2, "gru", 0.4, True, 32, 35),
)


def cpu_bf16_support(cpuinfo: Path = CPUINFO) -> dict[str, bool | None]:
    """Whether the CPU has the AMX-BF16 and AVX512-BF16 instructions.

    Args:
        cpuinfo: the ``/proc/cpuinfo`` file to read.

    Returns:
        ``{"amx_bf16": ..., "avx512_bf16": ...}``, each ``True`` or ``False`` from the
        ``flags`` lines, or ``None`` (unknown) when the file does not exist or has no flags.
    """
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "flags":
                flags.update(value.split())
    names = ("amx_bf16", "avx512_bf16")
    if not flags:
        return dict.fromkeys(names)
    return {name: name in flags for name in names}


class Side:
    """One precision's model and optimizer, taking training steps on a fixed batch."""

    def __init__(self, model: LanguageModel, precision: str) -> None:
        self.model = model.train()
        self.precision = precision
        self.optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)

    def step(self, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        """One training step; returns the loss."""
        with training_precision(self.precision, "cpu"):
            _, loss = self.model(inputs, targets=targets)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())


def bench_model(case: ModelCase, repeats: int, seed: int = 0) -> dict[str, Any]:
    """Time ``case`` in fp32 and bf16; one result row (see the module docstring)."""
    torch.manual_seed(seed)
    model = LanguageModel(case.vocab_size, case.embedding_dim, case.hidden_size,
                          case.num_layers, cell=case.cell, dropout=case.dropout,
                          tie_weights=case.tie_weights)
    sides = {}
    for precision in PRECISIONS:
        sides[precision] = Side(copy.deepcopy(model), precision)  # same weights, tie kept
    tokens = torch.randint(case.vocab_size, (case.batch_size, case.steps + 1),
                           generator=torch.Generator().manual_seed(seed))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    first_loss: dict[str, float] = {}
    for k in range(WARMUP + repeats):
        for precision, side in sides.items():
            torch.manual_seed(seed + 1 + k)  # the same dropout stream for both sides
            start = time.perf_counter()
            loss = side.step(inputs, targets)
            elapsed = time.perf_counter() - start
            if k >= WARMUP:
                times[precision].append(elapsed)
                first_loss.setdefault(precision, loss)
    n = case.batch_size * case.steps
    rate = {p: n / statistics.median(times[p]) for p in PRECISIONS}
    return {
        "model": case.label,
        "tokens_per_step": n,
        "fp32_tok_s": rate["fp32"],
        "bf16_tok_s": rate["bf16"],
        "ratio": rate["bf16"] / rate["fp32"],
        "loss_rel_diff": abs(first_loss["bf16"] - first_loss["fp32"]) / abs(first_loss["fp32"]),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON and update BENCHMARKS.md
    when it is the committed result file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per side")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--quick", action="store_true",
                        help="batch 8, T 16, H 64, V <= 1,000; 2 repeats")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 2
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be positive integers, got "
                     f"--repeats {args.repeats} and --threads {args.threads}.")
    torch.set_num_threads(args.threads)
    cases = [case.quick() for case in MODELS] if args.quick else list(MODELS)
    rows = [bench_model(case, args.repeats) for case in cases]
    report = {
        "benchmark": "training step (forward + loss + backward + Adam), tokens/s (median), "
                     "float32 vs bfloat16 autocast",
        "rows": rows,
        "repeats": args.repeats,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "cpu_bf16": cpu_bf16_support(),
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    print(f"{'model':44} {'tok/step':>8} {'fp32 tok/s':>11} {'bf16 tok/s':>11} {'ratio':>6} "
          f"{'loss diff':>9}")
    for r in rows:
        print(f"{r['model']:44} {r['tokens_per_step']:8} {r['fp32_tok_s']:11.0f} "
              f"{r['bf16_tok_s']:11.0f} {r['ratio']:6.2f} {100 * r['loss_rel_diff']:8.3f}%")
    print("CPU bf16 support: " + ", ".join(
        f"{name} {'unknown' if has is None else has}" for name, has in report["cpu_bf16"].items()))
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/report.py
    from report import publish

    publish("precision", args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
