"""Benchmark: a character-level LSTM on the Sherlock Holmes canon, validation loss within 30
minutes of this CPU, and samples at three temperatures.

"The Complete Sherlock Holmes" (3.87M characters, the 4 novels and 56 stories): the first 90%
trains, the last 10% validates. A course assignment's exercise: watch what the temperature
does -- low temperatures repeat the likeliest words, high ones invent spellings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnkit.data.text import read_text
from rnnkit.data.vocab import Vocabulary
from rnnkit.recipes.common import RecipeContext, fmt, resolve_data
from rnnkit.recipes.lm_benchmark import (
    LMBenchmarkSettings,
    clip_ids,
    plot_loss_vs_time,
    print_samples,
    report_curve,
    resumed_note,
    train_language_model,
    update_text,
)

__all__ = ["Settings", "run"]

TARGET = 1.45


@dataclass
class Settings(LMBenchmarkSettings):
    """Settings of the Sherlock Holmes benchmark (see LMBenchmarkSettings for the model)."""

    valid_fraction: float = 0.1  # the last part of the text held out for validation
    sample_chars: int = 400  # characters per sample
    temperatures: list[float] = field(default_factory=lambda: [0.5, 0.8, 1.1])  # of the samples
    prime: str = "\"Holmes,\" said I, "  # the text the samples continue

    @classmethod
    def reduced(cls) -> Settings:
        """A run of some seconds: 30,000 characters, 2×64 units, 40 steps."""
        return cls(limit=30_000, embedding_dim=16, hidden_size=64, batch_size=8, bptt=32,
                   max_steps=40, warmup_steps=5, eval_every=20, max_time=120.0,
                   sample_chars=60, threads=1)

    @classmethod
    def full(cls) -> Settings:
        """The benchmark: 2×512 LSTM, 30 minutes at most."""
        return cls(dropout=0.1, max_steps=2000)


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train, report the validation loss and its curve, print samples at 3 temperatures."""
    if not settings.temperatures or any(t <= 0 for t in settings.temperatures):
        raise ValueError(
            f"Setting `temperatures` must list positive numbers, got {settings.temperatures!r}."
        )
    start = time.perf_counter()
    text = read_text(resolve_data(ctx, "sherlock", "sherlock.txt"))
    vocab = Vocabulary.build([text], level="char", specials=())
    ids = np.asarray(vocab.encode(text), dtype=np.int64)
    n_train = int(len(ids) * (1 - settings.valid_fraction))
    splits = {"train": clip_ids(ids[:n_train], settings.limit),
              "valid": clip_ids(ids[n_train:], settings.limit // 9 if settings.limit else 0)}
    ctx.say(f"{len(text):,} characters, {len(vocab)} distinct: the first {n_train:,} train, "
            f"the last {len(ids) - n_train:,} validate.")
    prime = "".join(c for c in settings.prime if c in vocab.stoi) or text[0]
    out = train_language_model(ctx, settings, vocab, splits)
    loss = out["losses"]["valid"]
    ctx.say(f"trained {out['steps']} steps in {out['train_seconds'] / 60:.1f} min "
            f"({out['tokens_per_s']:,.0f} characters/s, stopped by {out['stopped_by']}); "
            f"best checkpoint at step {out['best_step']}.")
    ctx.say("validation loss over wall-clock time:")
    report_curve(ctx, out["curve"], "loss (nats/char)")
    met = loss <= TARGET
    ctx.say(f"validation loss {fmt(loss, 4)} nats/char ({fmt(loss / np.log(2), 3)} bits/char): "
            f"{'meets' if met else 'misses'} the target ≤ {TARGET}.")
    samples = print_samples(ctx, out["model"], vocab, prime, settings.sample_chars,
                            settings.temperatures)
    plot_loss_vs_time(ctx, out["curve"], title="Sherlock Holmes: validation loss vs time",
                      ylabel="validation loss (nats/char)", target=TARGET)
    wall = time.perf_counter() - start + out["resumed_seconds"]
    return {
        "validation_loss": loss,
        "curve_minutes_loss": out["curve"],
        "steps": out["steps"],
        "best_step": out["best_step"],
        "stopped_by": out["stopped_by"],
        "parameters": out["parameters"],
        "chars_per_s": out["tokens_per_s"],
        "samples": samples,
        "benchmark": {
            "metric": "validation loss (nats/char)",
            "value": loss,
            "higher_is_better": False,
            "target": TARGET,
            "target_text": f"≤ {TARGET} within {settings.max_time / 60:g} min",
            "met": bool(met),
            "published": "(course assignment; no published number)",
            "setting": (f"{settings.num_layers}×{settings.hidden_size} LSTM, embedding "
                        f"{settings.embedding_dim}, dropout {settings.dropout:g}, "
                        f"{settings.batch_size}×{settings.bptt} chunks, {update_text(settings)}, "
                        f"{out['steps']} steps in {out['train_seconds'] / 60:.1f} min; "
                        "90/10 split"
                        + resumed_note(out)),
            "wall_seconds": wall,
        },
    }
