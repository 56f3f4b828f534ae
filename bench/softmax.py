"""Training speed of a word language model with the full softmax and with the adaptive
softmax, in the same run.

A PTB-sized word model -- ``V = 10,000``, 2×400 LSTM, embedding 400, dropout 0.3, batch 32 ×
T 35, as ``rnnkit recipe run ptb-word`` trains it -- takes full training steps (forward +
loss, backward, an Adam step) with each output layer:

  full, tied        ``Linear(400, V)`` sharing the embedding matrix (ptb-word's setting)
  full              the same, untied
  adaptive ...      :class:`rnnkit.models.LanguageModel` with ``adaptive_cutoffs``: the head
                    scores the shortlist and one entry per tail cluster; a tail (projected to
                    ``H / 4^k`` units) is computed only for the positions whose target is in it

in float32 and under bfloat16 autocast (the Trainer's ``precision="bf16"``). The adaptive
softmax's cost depends on how often the target falls in a tail, so the batches are real text:
the Penn Treebank training stream (``--text``, default ``../shared/data/ptb/ptb.train.txt.gz``,
word ids by descending frequency as :class:`rnnkit.data.Vocabulary` numbers them), or, when
that file is absent, ids drawn from a Zipf distribution (``p(rank r) ∝ 1 / r``), which is
close to word frequencies in text. The share of targets that fall in each model's shortlist
is reported beside its speed.

After two warm-up steps per model, ``--repeats`` timed steps go round the models in turn (the
same batch for all, a new batch each round) so that load on the machine hits them alike; the
table shows the median tokens per second and the ratio to ``full, tied`` in the same
precision.

Usage:
    python bench/softmax.py                 # 7 repeats, 1 thread
    python bench/softmax.py --quick         # V = 2,000, H = 64, batch 8 × T 16; 2 repeats
    python bench/softmax.py --threads 2 --repeats 9

Writes bench/results/softmax.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.text import read_text
from rnnkit.data.vocab import Vocabulary
from rnnkit.models import LanguageModel
from rnnkit.train.trainer import training_precision

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "softmax.json"
PTB_TRAIN = ROOT.parent / "shared" / "data" / "ptb" / "ptb.train.txt.gz"
PRECISIONS = ("fp32", "bf16")
WARMUP = 2  # untimed steps per model and precision
LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class Sizes:
    """The model and batch every decoder is measured with."""

    vocab_size: int = 10_000
    hidden_size: int = 400  # also the embedding size, so that the full decoder can be tied
    num_layers: int = 2
    dropout: float = 0.3
    batch_size: int = 32
    steps: int = 35


@dataclass(frozen=True)
class Decoder:
    """One output layer: a label, whether tied, and the adaptive softmax's cutoffs."""

    label: str
    tie_weights: bool = False
    cutoffs: tuple[int, ...] = ()


FULL = Sizes()
QUICK = Sizes(vocab_size=2_000, hidden_size=64, batch_size=8, steps=16)


def decoders(vocab_size: int) -> list[Decoder]:
    """The decoders compared: full tied (the baseline), full untied, and adaptive softmaxes
    whose shortlists hold the 20% and 10% most frequent words (plus a second cluster)."""
    short, mid = vocab_size // 5, vocab_size // 2
    return [
        Decoder("full, tied", tie_weights=True),
        Decoder("full"),
        Decoder(f"adaptive [{short:,}]", cutoffs=(short,)),
        Decoder(f"adaptive [{vocab_size // 10:,}, {mid:,}]", cutoffs=(vocab_size // 10, mid)),
    ]


def token_stream(text_path: Path | None, vocab_size: int, length: int, seed: int) -> tuple[
        np.ndarray, str]:
    """``length`` word ids numbered by descending frequency, and where they came from.

    The words of ``text_path`` (lines end with ``<eos>``, as PTB is read), when given and
    present, capped to ``vocab_size`` ids (rarer words become ``<unk>``); otherwise Zipf ids.
    """
    if text_path is not None and text_path.exists():
        words = [w for line in read_text(text_path).splitlines() if line.strip()
                 for w in [*line.split(), "<eos>"]]
        vocab = Vocabulary.build([words], level="word", max_size=vocab_size)
        ids = np.asarray(vocab.encode(words[: length]), dtype=np.int64)
        return ids, f"{text_path.name} ({len(vocab):,} word ids by frequency)"
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab_size + 1)
    ids = rng.choice(vocab_size, size=length, p=p / p.sum())
    return ids.astype(np.int64), f"Zipf ids (p ∝ 1/rank, V={vocab_size:,})"


def build(decoder: Decoder, sizes: Sizes, seed: int = 0) -> LanguageModel:
    """The word model with ``decoder`` as its output layer."""
    torch.manual_seed(seed)
    return LanguageModel(sizes.vocab_size, sizes.hidden_size, sizes.hidden_size,
                         sizes.num_layers, cell="lstm", dropout=sizes.dropout,
                         tie_weights=decoder.tie_weights,
                         adaptive_cutoffs=list(decoder.cutoffs)).train()


def training_step(model: LanguageModel, optimizer: torch.optim.Optimizer, precision: str,
                  inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Forward + loss (under autocast for bf16), backward, Adam; returns the loss."""
    with training_precision(precision, "cpu"):
        _, loss, _ = model.forward_stream(inputs, None, targets)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def run(sizes: Sizes, repeats: int, text_path: Path | None, seed: int = 0) -> dict[str, Any]:
    """Time every decoder in both precisions; the result rows and the data's description."""
    n = sizes.batch_size * sizes.steps
    rounds = WARMUP + repeats
    ids, source = token_stream(text_path, sizes.vocab_size, rounds * (n + sizes.batch_size),
                               seed)
    batches = []
    for r in range(rounds):
        chunk = torch.from_numpy(ids[r * (n + sizes.batch_size):(r + 1) * (n + sizes.batch_size)])
        rows = chunk.view(sizes.batch_size, sizes.steps + 1)
        batches.append((rows[:, :-1].contiguous(), rows[:, 1:].contiguous()))
    sides = []
    for decoder in decoders(sizes.vocab_size):
        for precision in PRECISIONS:
            model = build(decoder, sizes, seed)
            optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
            sides.append((decoder, precision, model, optimizer))
    times: dict[tuple[str, str], list[float]] = {(d.label, p): [] for d, p, _, _ in sides}
    losses: dict[tuple[str, str], float] = {}
    for r, (inputs, targets) in enumerate(batches):
        for decoder, precision, model, optimizer in sides:
            torch.manual_seed(seed + 1 + r)  # the same dropout stream for every side
            start = time.perf_counter()
            loss = training_step(model, optimizer, precision, inputs, targets)
            elapsed = time.perf_counter() - start
            if r >= WARMUP:
                times[(decoder.label, precision)].append(elapsed)
                losses.setdefault((decoder.label, precision), loss)
    all_targets = torch.cat([t.reshape(-1) for _, t in batches])
    rows = []
    for decoder, precision, model, _ in sides:
        rate = n / statistics.median(times[(decoder.label, precision)])
        baseline = n / statistics.median(times[("full, tied", precision)])
        shortlist = decoder.cutoffs[0] if decoder.cutoffs else sizes.vocab_size
        rows.append({
            "decoder": decoder.label,
            "precision": precision,
            "cutoffs": list(decoder.cutoffs),
            "parameters": sum(p.numel() for p in model.parameters()),
            "tokens_per_s": rate,
            "ratio_vs_full_tied": rate / baseline,
            "shortlist_share": float((all_targets < shortlist).float().mean()),
            "first_loss": losses[(decoder.label, precision)],
        })
    return {"rows": rows, "data": source, "tokens_per_step": n}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON and update BENCHMARKS.md when it
    is the committed result file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per model")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--quick", action="store_true",
                        help="V = 2,000, H = 64, batch 8 × T 16, Zipf ids; 2 repeats")
    parser.add_argument("--text", type=Path, default=PTB_TRAIN,
                        help="word-level training text for the batches (default: PTB's)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.text = 2, None
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be positive integers, got "
                     f"--repeats {args.repeats} and --threads {args.threads}.")
    torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    result = run(sizes, args.repeats, args.text)
    report = {
        "benchmark": "word LM training step (forward + loss + backward + Adam), tokens/s "
                     "(median): full softmax vs adaptive softmax",
        "model": {"vocab": sizes.vocab_size, "hidden": sizes.hidden_size,
                  "layers": sizes.num_layers, "dropout": sizes.dropout,
                  "batch": sizes.batch_size, "steps": sizes.steps},
        **result,
        "repeats": args.repeats,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    print(f"batches: {result['data']}")
    print(f"{'decoder':26} {'prec':>4} {'params':>10} {'tok/s':>8} {'vs full tied':>12} "
          f"{'shortlist':>9} {'loss':>6}")
    for r in result["rows"]:
        print(f"{r['decoder']:26} {r['precision']:>4} {r['parameters']:10,} "
              f"{r['tokens_per_s']:8.0f} {r['ratio_vs_full_tied']:11.2f}× "
              f"{100 * r['shortlist_share']:8.1f}% {r['first_loss']:6.3f}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/report.py
    from report import publish

    publish("softmax", args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
