"""Benchmark: a character-level LSTM on tiny Shakespeare, validation loss within 30 minutes
of this CPU.

The text (1,115,394 characters, 65 distinct) is split as nanoGPT splits it: the first 90%
for training, the last 10% for validation. The anchor is nanoGPT's character-level
Transformer ("baby GPT"): validation loss 1.47 nats/char after training on a GPU, 1.88 after
about 3 minutes on a laptop CPU. A plain 2×512 ``torch.nn.LSTM`` reaches 1.58 in 10 minutes
on this machine and is still falling. The recipe trains a 2×512 LSTM with dropout, a warm-up
and a cosine learning-rate decay sized to the 30-minute budget, keeps the best validation
checkpoint, and draws the validation loss against wall-clock time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
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

TARGET = 1.47  # nanoGPT's GPU number, nats/char
ANCHORS = (("nanoGPT char Transformer, GPU", 1.47), ("nanoGPT, ~3 min laptop CPU", 1.88))


@dataclass
class Settings(LMBenchmarkSettings):
    """Settings of the tiny-Shakespeare benchmark (see LMBenchmarkSettings for the model)."""

    valid_fraction: float = 0.1  # the last part of the text held out for validation
    sample_chars: int = 500  # characters sampled from the best model at the end
    temperature: float = 0.8  # temperature of that sample

    @classmethod
    def reduced(cls) -> Settings:
        """A run of some seconds: 30,000 characters, 2×64 units, 40 steps."""
        return cls(limit=30_000, embedding_dim=16, hidden_size=64, batch_size=8, bptt=32,
                   max_steps=40, warmup_steps=5, eval_every=20, max_time=120.0,
                   sample_chars=60, threads=1)

    @classmethod
    def full(cls) -> Settings:
        """The benchmark: 2×512 LSTM, 30 minutes at most."""
        return cls()


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train, report the validation loss and its curve over time, print a sample."""
    start = time.perf_counter()
    path = resolve_data(ctx, "tiny-shakespeare", "tinyshakespeare.txt")
    text = read_text(path)
    vocab = Vocabulary.build([text], level="char", specials=())
    ids = np.asarray(vocab.encode(text), dtype=np.int64)
    n_train = int(len(ids) * (1 - settings.valid_fraction))
    splits = {"train": clip_ids(ids[:n_train], settings.limit),
              "valid": clip_ids(ids[n_train:], settings.limit // 9 if settings.limit else 0)}
    ctx.say(f"{len(text):,} characters, {len(vocab)} distinct: the first {n_train:,} train, "
            f"the last {len(ids) - n_train:,} validate"
            + (f" (reduced: {len(splits['train']):,} and {len(splits['valid']):,})"
               if settings.limit else "") + ".")
    out = train_language_model(ctx, settings, vocab, splits)
    loss = out["losses"]["valid"]
    ctx.say(f"trained {out['steps']} steps in {out['train_seconds'] / 60:.1f} min "
            f"({out['tokens_per_s']:,.0f} characters/s, stopped by {out['stopped_by']}); "
            f"best checkpoint at step {out['best_step']}.")
    ctx.say("validation loss over wall-clock time:")
    report_curve(ctx, out["curve"], "loss (nats/char)")
    met = loss <= TARGET
    ctx.say(f"validation loss {fmt(loss, 4)} nats/char ({fmt(loss / np.log(2), 3)} bits/char): "
            f"{'meets' if met else 'misses'} the target ≤ {TARGET} (nanoGPT's GPU number); "
            f"nanoGPT on a laptop CPU for ~3 min: 1.88.")
    samples = print_samples(ctx, out["model"], vocab, "ROMEO:", settings.sample_chars,
                            [settings.temperature])
    plot_loss_vs_time(ctx, out["curve"], title="tiny Shakespeare: validation loss vs time",
                      ylabel="validation loss (nats/char)", target=TARGET, anchors=ANCHORS)
    wall = time.perf_counter() - start + out["resumed_seconds"]
    return {
        "validation_loss": loss,
        "bits_per_char": loss / np.log(2),
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
            "published": "nanoGPT char Transformer: 1.47 (GPU), 1.88 (~3 min laptop CPU)",
            "setting": (f"{settings.num_layers}×{settings.hidden_size} LSTM, embedding "
                        f"{settings.embedding_dim}, dropout {settings.dropout:g}, "
                        f"{settings.batch_size}×{settings.bptt} chunks, {update_text(settings)}, "
                        f"{out['steps']} steps in "
                        f"{out['train_seconds'] / 60:.1f} min; 90/10 split"
                        + resumed_note(out)),
            "wall_seconds": wall,
        },
    }
