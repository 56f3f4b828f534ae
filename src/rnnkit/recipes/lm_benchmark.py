"""What the language-model benchmarks share: train a model on a token stream for a time
budget, evaluate its best checkpoint on the held-out splits, plot loss against wall time.

``shakespeare-char``, ``sherlock-char``, ``ptb-char`` and ``ptb-word`` differ only in their
data and their settings. Each trains with :class:`rnnkit.train.Trainer` by truncated BPTT over
contiguous rows (:class:`rnnkit.data.batching.StreamBatches`, the state carried and detached
between chunks), evaluates the validation stream every ``eval_every`` steps, keeps the best
checkpoint (``RUN/lm/best``) and stops at ``max_steps`` or after ``max_time`` seconds,
whichever comes first. ``resume=RUN`` continues an interrupted run from its last checkpoint
(exact resume: the same steps as the uninterrupted run), its time counted against the budget.
The learning rate warms up, then follows a cosine to ``min_lr`` at
``max_steps``: sized so that the budget is spent when the schedule ends.

Losses are in nats per token (the natural log); bits per character are nats / ln 2 and
perplexity is e ** nats.

Example:
    >>> bits_per_char(math.log(2))
    1.0
    >>> round(perplexity(math.log(100.0)), 6)
    100.0
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import StreamBatches
from rnnkit.data.vocab import Vocabulary
from rnnkit.models import LanguageModel
from rnnkit.recipes.common import RecipeContext, fmt, table, torch_threads
from rnnkit.train import Trainer
from rnnkit.train.checkpoint import has_checkpoint, load_model_state, read_checkpoint
from rnnkit.train.metrics import read_metrics
from rnnkit.train.trainer import check_precision

__all__ = [
    "LMBenchmarkSettings",
    "bits_per_char",
    "clip_ids",
    "perplexity",
    "plot_loss_vs_time",
    "print_samples",
    "report_curve",
    "resumed_note",
    "train_language_model",
]


@dataclass
class LMBenchmarkSettings:
    """Model and training settings every language-model benchmark has."""

    limit: int = 0  # tokens of each split used, from its start (0 = all; the reduced runs)
    embedding_dim: int = 128  # D: size of each token's embedding
    hidden_size: int = 512  # H: units per recurrent layer
    num_layers: int = 2  # stacked recurrent layers
    cell: str = "lstm"  # recurrent cell: lstm | gru | rnn | peephole_lstm
    dropout: float = 0.2  # on embeddings, between layers and before the decoder
    tie_weights: bool = False  # share embedding and decoder weights (needs D == H)
    batch_size: int = 64  # B: parallel rows of the token stream
    bptt: int = 128  # T: steps per chunk (truncated BPTT)
    eval_batch_size: int = 16  # rows of the validation and test streams
    optimizer: str = "adam"  # update rule: adam | sgd (plain SGD, as Zaremba et al.)
    lr: float = 3e-3  # peak learning rate
    schedule: str = "cosine"  # cosine (to min_lr at max_steps) | plateau (x plateau_factor)
    min_lr: float = 5e-5  # the learning rate the cosine reaches at max_steps
    plateau_factor: float = 0.25  # plateau: lr factor when the validation loss did not improve
    warmup_steps: int = 100  # linear warm-up steps
    weight_decay: float = 0.0  # L2 penalty
    clip_norm: float = 1.0  # gradient clipping by global norm
    precision: str = "fp32"  # fp32 | bf16 (training under bfloat16 autocast; evaluation fp32)
    max_steps: int = 2200  # optimizer steps (the cosine schedule's length)
    max_time: float = 1800.0  # seconds of training at most (the benchmark's budget)
    eval_every: int = 200  # steps between evaluations of the validation stream
    threads: int = 0  # torch CPU threads (0 = torch's default: one per core)
    resume: str = ""  # an interrupted run of this benchmark (its RUN directory) to continue

    def __post_init__(self) -> None:
        # refused here, before any data is read: an optimizer, schedule or precision the
        # benchmarks do not offer, then any training option the trainer refuses
        update_text(self)
        self.train_config()

    def train_config(self, spent: float = 0.0) -> TrainConfig:
        """The trainer's options: these settings, the budget less ``spent`` seconds (what
        an interrupted run being resumed had trained)."""
        return TrainConfig(
            optimizer=self.optimizer,  # type: ignore[arg-type]  # checked in update_text
            lr=self.lr,
            momentum=0.0,
            weight_decay=self.weight_decay,
            schedule=self.schedule,  # type: ignore[arg-type]
            warmup_steps=self.warmup_steps,
            min_lr=self.min_lr,
            plateau_factor=self.plateau_factor,
            plateau_patience=0,  # anneal after the first evaluation without progress
            precision=self.precision,  # type: ignore[arg-type]
            clip_norm=self.clip_norm,
            max_steps=self.max_steps,
            max_time=self.max_time - spent,  # the budget is for the whole run
            eval_every=self.eval_every,
            checkpoint_every=self.eval_every,
            log_every=10,
            device="cpu",
            progress=True,
        )


def update_text(settings: LMBenchmarkSettings) -> str:
    """The update rule and schedule in words, e.g. ``"Adam 0.003 cosine to 5e-05"``.

    Raises:
        ValueError: an ``optimizer``, ``schedule`` or ``precision`` the benchmarks do not
            offer.

    Example:
        >>> update_text(LMBenchmarkSettings(optimizer="sgd", lr=20, schedule="plateau"))
        'SGD 20, x0.25 when the validation loss does not improve'
    """
    names = {"adam": "Adam", "sgd": "SGD"}
    if settings.optimizer not in names:
        raise ValueError(f"Setting `optimizer` must be one of {list(names)}, got "
                         f"{settings.optimizer!r}.")
    check_precision(settings.precision)
    if settings.schedule == "cosine":
        text = f"{names[settings.optimizer]} {settings.lr:g} cosine to {settings.min_lr:g}"
    elif settings.schedule == "plateau":
        text = (f"{names[settings.optimizer]} {settings.lr:g}, x{settings.plateau_factor:g} "
                "when the validation loss does not improve")
    else:
        raise ValueError(f"Setting `schedule` must be 'cosine' or 'plateau', got "
                         f"{settings.schedule!r}.")
    return text + (", trained in bf16 autocast" if settings.precision == "bf16" else "")


def bits_per_char(nats: float) -> float:
    """Nats per character as bits per character."""
    return nats / math.log(2)


def perplexity(nats: float) -> float:
    """Perplexity ``e ** nats`` of a mean cross-entropy in nats per token."""
    return math.exp(min(nats, 700.0))


def _stream(ids: np.ndarray, batch_size: int, bptt: int, **kw: Any) -> StreamBatches:
    rows = max(1, min(batch_size, len(ids) // (2 * bptt) or 1))
    return StreamBatches(ids, rows, bptt, **kw)


def train_language_model(
    ctx: RecipeContext,
    settings: LMBenchmarkSettings,
    vocab: Vocabulary,
    splits: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Train on ``splits["train"]``, pick the best checkpoint on ``splits["valid"]``, score it
    on every split but train.

    Args:
        ctx: the recipe's context (the run goes to ``ctx.run_dir / "lm"``).
        settings: model and training settings.
        vocab: the vocabulary the ids come from.
        splits: ``"train"``, ``"valid"`` and optionally ``"test"`` token ids.

    Returns:
        ``{"losses": {split: nats}, "steps", "train_seconds", "resumed_seconds",
        "stopped_by", "best_step", "parameters", "tokens_per_s", "curve": [(minutes, valid
        nats), ...], "model"}`` (the model is the best checkpoint's, in eval mode;
        ``resumed_seconds`` is what an interrupted run had trained before, 0 for new runs).

    Raises:
        ValueError: a split too short for ``batch_size`` rows of ``bptt`` + 1 tokens.
        FileNotFoundError: ``settings.resume`` names a directory without a checkpoint.
    """
    train_ids = splits["train"]
    if len(train_ids) // settings.batch_size <= settings.bptt:
        raise ValueError(
            f"The training text is too short for batch_size={settings.batch_size} and "
            f"bptt={settings.bptt}: {len(train_ids)} tokens; use a longer text or smaller "
            "settings."
        )
    resume = _resume_source(settings.resume)
    with torch_threads(settings.threads):
        return _train(ctx, settings, vocab, splits, resume)


def _resume_source(resume: str) -> Path | None:
    """The checkpoint directory of ``resume`` (``RUN`` or ``RUN/lm``), checked up front."""
    if not resume:
        return None
    source = Path(resume).expanduser()
    if not has_checkpoint(source) and has_checkpoint(source / "lm"):
        source = source / "lm"
    if not has_checkpoint(source):
        raise FileNotFoundError(
            f"Setting `resume` = {resume!r} is not a language-model benchmark run with a "
            "checkpoint (neither it nor its lm/ folder holds trainer_state.json)."
        )
    return source


def _carry_over(source: Path, run_dir: Path) -> float:
    """Copy what a resumed run keeps from the interrupted one (its metrics and best
    checkpoint) into ``run_dir``; return the seconds the interrupted run had trained."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if (source / "metrics.csv").is_file():
        shutil.copyfile(source / "metrics.csv", run_dir / "metrics.csv")
    if has_checkpoint(source / "best"):
        shutil.copytree(source / "best", run_dir / "best", dirs_exist_ok=True)
    return float(read_checkpoint(source).trainer_state.get("elapsed", 0.0))


def _train(
    ctx: RecipeContext,
    settings: LMBenchmarkSettings,
    vocab: Vocabulary,
    splits: dict[str, np.ndarray],
    resume: Path | None,
) -> dict[str, Any]:
    torch.manual_seed(ctx.seed)
    model = LanguageModel(
        len(vocab),
        embedding_dim=settings.embedding_dim,
        hidden_size=settings.hidden_size,
        num_layers=settings.num_layers,
        cell=settings.cell,
        dropout=settings.dropout,
        tie_weights=settings.tie_weights,
    )
    train = StreamBatches(
        splits["train"], settings.batch_size, settings.bptt, seed=ctx.seed,
        random_offset=True, drop_last=True,
    )
    valid = _stream(splits["valid"], settings.eval_batch_size, settings.bptt)
    run_dir = ctx.run_dir / "lm"
    spent = _carry_over(resume, run_dir) if resume is not None else 0.0
    if resume is not None and spent >= settings.max_time:
        raise ValueError(
            f"Setting `resume` = {settings.resume!r}: that run already trained "
            f"{spent / 60:.1f} min, the whole budget of {settings.max_time / 60:g} min."
        )
    config = replace(settings.train_config(spent), seed=ctx.seed)
    trainer = Trainer(
        model, train, config, run_dir, val_data=valid, model_name="language_model",
        vocab=vocab, resume_from=resume,
    )
    parameters = sum(p.numel() for p in model.parameters())
    ctx.say(
        f"model: {settings.num_layers}×{settings.hidden_size} {settings.cell}, embedding "
        f"{settings.embedding_dim}, dropout {settings.dropout:g}, {parameters:,} parameters; "
        f"batches of {train.batch_size}×{settings.bptt} tokens; {update_text(settings)}, "
        f"warm-up {settings.warmup_steps}, {settings.max_steps} steps at most, clip "
        f"{settings.clip_norm:g}; at most "
        f"{settings.max_time / 60:g} min."
    )
    resumed_step = trainer.step
    if resume is not None:
        ctx.say(f"resuming {resume} at step {resumed_step}, after {spent / 60:.1f} min of "
                "training.")
    summary = trainer.fit()
    best = run_dir / "best"
    if (best / "model.safetensors").is_file():
        # the best validation checkpoint is the model reported, as in early stopping
        load_model_state(model, read_checkpoint(best).model_state)
    model.eval()
    losses = {"valid": trainer.evaluate(valid)["loss"]}
    if "test" in splits:
        test = _stream(splits["test"], settings.eval_batch_size, settings.bptt)
        losses["test"] = trainer.evaluate(test)["loss"]
    rows = read_metrics(run_dir / "metrics.csv")
    curve = [
        (float(r["elapsed"]) / 60.0, float(r["loss"]))
        for r in rows
        if r["split"] == "val" and r.get("elapsed") not in (None, "")
    ]
    return {
        "losses": losses,
        "steps": summary.steps,
        "train_seconds": trainer.elapsed_before,  # resumed runs: both parts
        "resumed_seconds": spent,
        "resumed_step": resumed_step,
        "stopped_by": summary.stopped_by,
        "best_step": summary.best_step,
        "parameters": parameters,
        "tokens_per_s": summary.tokens_per_s,
        "curve": curve,
        "model": model,
    }


def resumed_note(out: dict[str, Any]) -> str:
    """``"; resumed at step N after M min"`` for a resumed run, ``""`` for a new one."""
    if not out.get("resumed_seconds"):
        return ""
    return (f"; resumed at step {out['resumed_step']} after "
            f"{out['resumed_seconds'] / 60:.1f} min (exact resume)")


def plot_loss_vs_time(
    ctx: RecipeContext,
    curve: Sequence[tuple[float, float]],
    *,
    title: str,
    ylabel: str,
    target: float | None = None,
    anchors: Sequence[tuple[str, float]] = (),
    scale: float = 1.0,
) -> None:
    """``loss_vs_time.png``: the validation loss against wall-clock minutes, with the target
    and published numbers as horizontal lines (``scale`` converts nats to the plotted unit)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if curve:
        minutes, values = zip(*curve, strict=True)
        ax.plot(minutes, [v * scale for v in values], "o-", markersize=3,
                label="rnnkit, validation")
    if target is not None:
        ax.axhline(target, color="tab:red", linestyle="--", label=f"target {target:g}")
    for (label, value), style in zip(anchors, (":", "-.", (0, (5, 5))), strict=False):
        ax.axhline(value, color="gray", linestyle=style, label=f"{label} {value:g}")
    ax.set_xlabel("wall-clock minutes of training (this machine)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if curve:
        low = min(v * scale for _, v in curve)
        refs = [target or low, *(v for _, v in anchors)]
        ax.set_ylim(min(low, *refs) - 0.1, max(min(max(v * scale for _, v in curve), 3.5),
                                                *refs) + 0.1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    ctx.save_figure(fig, "loss_vs_time.png")


def report_curve(ctx: RecipeContext, curve: Sequence[tuple[float, float]], unit: str,
                 scale: float = 1.0, every: int = 1) -> None:
    """Print the validation curve as a table: minutes -> loss."""
    rows = [[fmt(m, 1), fmt(v * scale, 3)] for k, (m, v) in enumerate(curve)
            if k % every == 0 or k == len(curve) - 1]
    for line in table(["minutes", f"validation {unit}"], rows):
        ctx.say("  " + line)


def clip_ids(ids: np.ndarray, limit: int) -> np.ndarray:
    """The first ``limit`` ids (all of them for ``limit`` 0)."""
    return ids[:limit] if limit else ids


def print_samples(
    ctx: RecipeContext,
    model: LanguageModel,
    vocab: Vocabulary,
    prime: str,
    length: int,
    temperatures: Sequence[float],
) -> dict[str, str]:
    """Print one sample per temperature after ``prime``; return temperature -> text."""
    from rnnkit.tasks.lm import sample_text

    samples = {}
    for k, temperature in enumerate(temperatures):
        text = sample_text(model, vocab, prime, length, temperature=temperature,
                           seed=ctx.seed + k)
        joined = prime + (" " if vocab.level == "word" else "") + text
        samples[f"{temperature:g}"] = joined
        ctx.say(f"sample at temperature {temperature:g}:")
        for line in joined.splitlines() or [""]:
            ctx.say("    | " + line)
    return samples
