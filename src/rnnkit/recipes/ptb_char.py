"""Benchmark: a character-level LSTM language model on Penn Treebank, test bits per character
within 60 minutes of this CPU.

Mikolov's character files (5.0M / 390k / 439k symbols; 49 symbols plus ``<eos>`` at each
line's end, counted as a character as the published models count it). The anchor is
AWD-LSTM's 1.175 bpc (Merity et al. 2018, a 3-layer 1000-unit model trained for days on a
GPU); the target is 1.45 bpc in one hour here. Bits per character = nats / ln 2.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from rnnkit.recipes.common import RecipeContext, fmt
from rnnkit.recipes.lm_benchmark import (
    LMBenchmarkSettings,
    bits_per_char,
    clip_ids,
    plot_loss_vs_time,
    report_curve,
    resumed_note,
    train_language_model,
    update_text,
)
from rnnkit.recipes.ptb import SPLITS, load_ptb

__all__ = ["Settings", "run"]

TARGET = 1.45
ANCHOR = 1.175


@dataclass
class Settings(LMBenchmarkSettings):
    """Settings of the character-level PTB benchmark (see LMBenchmarkSettings)."""

    @classmethod
    def reduced(cls) -> Settings:
        """A run of some seconds: 30,000 symbols, 2×64 units, 40 steps."""
        return cls(limit=30_000, embedding_dim=16, hidden_size=64, batch_size=8, bptt=32,
                   max_steps=40, warmup_steps=5, eval_every=20, max_time=120.0, threads=1)

    @classmethod
    def full(cls) -> Settings:
        """The benchmark: 2×512 LSTM, 60 minutes at most."""
        return cls(dropout=0.1, max_steps=4000, max_time=3600.0, eval_every=400)


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train, report validation and test bits per character and the curve over time."""
    start = time.perf_counter()
    vocab, splits = load_ptb(ctx, char=True)
    ctx.say("Penn Treebank (characters): " + ", ".join(
        f"{split} {len(splits[split]):,} symbols" for split in SPLITS
    ) + f"; {len(vocab) - 2} symbols, <eos> and <unk> (never seen).")
    if settings.limit:
        splits = {k: clip_ids(v, settings.limit) for k, v in splits.items()}
    out = train_language_model(ctx, settings, vocab, splits)
    bpc = {k: bits_per_char(v) for k, v in out["losses"].items()}
    ctx.say(f"trained {out['steps']} steps in {out['train_seconds'] / 60:.1f} min "
            f"({out['tokens_per_s']:,.0f} symbols/s, stopped by {out['stopped_by']}); best "
            f"checkpoint at step {out['best_step']}.")
    ctx.say("validation bits per character over wall-clock time:")
    report_curve(ctx, out["curve"], "bits/char", scale=1 / math.log(2))
    met = bpc["test"] <= TARGET
    ctx.say(f"bits per character: validation {fmt(bpc['valid'], 3)}, test "
            f"{fmt(bpc['test'], 3)}: {'meets' if met else 'misses'} the target ≤ {TARGET}; "
            f"AWD-LSTM (days on a GPU): {ANCHOR}.")
    plot_loss_vs_time(ctx, out["curve"], title="Penn Treebank (characters): validation bpc",
                      ylabel="validation bits per character", target=TARGET,
                      anchors=(("AWD-LSTM", ANCHOR),), scale=1 / math.log(2))
    wall = time.perf_counter() - start + out["resumed_seconds"]
    return {
        "bits_per_char": bpc,
        "losses": out["losses"],
        "curve_minutes_nats": out["curve"],
        "steps": out["steps"],
        "best_step": out["best_step"],
        "stopped_by": out["stopped_by"],
        "parameters": out["parameters"],
        "symbols_per_s": out["tokens_per_s"],
        "benchmark": {
            "metric": "test bits per character",
            "value": bpc["test"],
            "higher_is_better": False,
            "target": TARGET,
            "target_text": f"≤ {TARGET} within {settings.max_time / 60:g} min",
            "met": bool(met),
            "published": f"AWD-LSTM: {ANCHOR} bpc (days on a GPU)",
            "setting": (f"{settings.num_layers}×{settings.hidden_size} LSTM, embedding "
                        f"{settings.embedding_dim}, dropout {settings.dropout:g}, "
                        f"{settings.batch_size}×{settings.bptt} chunks, {update_text(settings)}, "
                        f"{out['steps']} steps in {out['train_seconds'] / 60:.1f} min"
                        + resumed_note(out)),
            "wall_seconds": wall,
        },
    }
