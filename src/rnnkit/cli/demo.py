"""``rnnkit demo``: the main job, offline on any machine.

Trains a character-level LSTM language model on the Python reference documentation that
ships with CPython (``pydoc_data.topics``, about 465,000 characters) — or on any UTF-8 file
given with ``--text`` — for a bounded time, then prints samples at two temperatures. The run
directory gets the checkpoint, ``metrics.csv``, the loss curve (``loss.png``) and
``samples.txt``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rnnkit.config import TrainConfig
from rnnkit.tasks.lm import (
    LMData,
    LMModel,
    RunConfig,
    default_run_dir,
    fit_language_model,
    sample_text,
)


def embedded_corpus() -> str:
    """The Python reference documentation bundled with CPython, topics in sorted order."""
    from pydoc_data import topics

    return "\n\n".join(topics.topics[name] for name in sorted(topics.topics))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``rnnkit demo``."""
    parser.add_argument(
        "--text", metavar="FILE", help="train on this UTF-8 file instead of the embedded corpus"
    )
    parser.add_argument(
        "--max-time",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="training time budget (default: 180)",
    )
    parser.add_argument("--out", metavar="DIR", help="run directory (default: runs/demo-TIME)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for weights, data order and samples"
    )
    parser.add_argument(
        "--hidden-size", type=int, default=256, help="LSTM units per layer (default: 256)"
    )
    parser.add_argument("--layers", type=int, default=2, help="stacked LSTM layers (default: 2)")
    parser.add_argument("--prime", default=None, help="text the samples start from")
    parser.add_argument(
        "--length", type=int, default=400, help="characters per sample (default: 400)"
    )
    parser.add_argument("--overwrite", action="store_true", help="reuse an --out that holds a run")


#: The shortest --text the demo trains on: its batch shape (below) then leaves every
#: training row at least 3 chunks and every validation row 2 tokens.
MIN_CHARACTERS = 200


def run(args: argparse.Namespace) -> int:
    """Train, then sample at temperatures 0.5 and 1.0."""
    if not args.max_time > 0:
        raise ValueError(
            f"Option `--max-time` expects a positive number of seconds, got {args.max_time}."
        )
    if args.length < 1:
        raise ValueError(f"Option `--length` expects a positive integer, got {args.length}.")
    if args.text:
        from rnnkit.data.text import read_text

        text, source = read_text(args.text, name="Option `--text` file"), args.text
    else:
        text, source = embedded_corpus(), "the Python reference documentation (pydoc_data.topics)"
    if len(text) < MIN_CHARACTERS:
        raise ValueError(
            f"Option `--text` file {args.text!r} holds {len(text):,} characters; the demo needs "
            f"at least {MIN_CHARACTERS} to train and validate on."
        )
    run_dir = Path(args.out) if args.out else default_run_dir("demo")
    # 64 rows of 100-step chunks; a short --text gets fewer rows and shorter chunks
    bptt = max(8, min(100, len(text) // 40))
    batch_size = max(1, min(64, int(len(text) * 0.95) // (bptt + 1) // 4))
    config = RunConfig(
        out=str(run_dir),
        data=LMData(text=args.text or "", level="char", batch_size=batch_size, bptt=bptt),
        model=LMModel(
            embedding_dim=64,
            hidden_size=args.hidden_size,
            num_layers=args.layers,
            cell="lstm",
            dropout=0.1,
        ),
        train=TrainConfig(
            lr=3e-3,
            clip_norm=1.0,
            max_epochs=0,
            max_time=args.max_time,
            eval_every=100,
            checkpoint_every=100,
            log_every=10,
            seed=args.seed,
        ),
    )
    print(
        f"rnnkit demo: a {args.layers}-layer {args.hidden_size}-unit character LSTM on {source} "
        f"({len(text):,} characters) for {args.max_time:.0f} s -> {run_dir}",
        file=sys.stderr,
    )
    summary, model, vocab = fit_language_model(
        config, text, run_dir=run_dir, overwrite=args.overwrite
    )
    uniform = math.log(len(vocab))
    best = summary.best_metric
    lines = [
        f"trained {summary.steps} steps ({summary.tokens_per_s:,.0f} characters/s) in "
        f"{summary.wall_time:.0f} s",
        f"validation loss {best:.3f} nats/char ({best / math.log(2):.3f} bits/char); "
        f"a uniform guess over {len(vocab)} characters scores {uniform:.3f}"
        if best is not None
        else "no validation loss (corpus too short to hold one out)",
    ]
    prime = args.prime if args.prime is not None else _default_prime(text, vocab)
    samples = []
    for temperature in (0.5, 1.0):
        sample = sample_text(
            model, vocab, prime, args.length, temperature=temperature, seed=args.seed
        )
        samples.append(f"--- temperature {temperature} ---\n{prime}{sample}")
    report = "\n".join(lines) + "\n\n" + "\n\n".join(samples) + "\n"
    (run_dir / "samples.txt").write_text(report, encoding="utf-8")
    print(report)
    print(
        f"run directory {run_dir}: metrics.csv, loss.png, samples.txt, model.safetensors "
        f"(best under {run_dir / 'best'})"
    )
    return 0


def _default_prime(text: str, vocab: object) -> str:
    """A short prompt the vocabulary knows: the corpus's first word."""
    first = text.split(maxsplit=1)[0] if text.split() else text[:1]
    return first[:20] + " "
