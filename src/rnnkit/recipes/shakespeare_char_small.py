"""Exercise: a character-level language model on the first 10,000 characters of tiny
Shakespeare -- a 3-layer ReLU RNN, then the same with an LSTM.

The model: a 100-dimensional character embedding, three stacked recurrent layers of 512
units, a linear layer over the characters, cross-entropy on the next character, Adam at a
learning rate of 0.001, 50 epochs. The text is read as one stream cut into chunks of 50
characters (truncated backpropagation through time): the hidden state is carried from one
chunk to the next and detached there, so gradients stop at the chunk boundary while the
state keeps its memory. Each epoch starts at a random offset, so the chunk boundaries move.
After each epoch 200 characters are sampled from the softmax; the loss curve is plotted with
a 100-step rolling average. Then the same with an LSTM, and what changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from rnnkit.data.batching import StreamBatches
from rnnkit.data.text import read_text
from rnnkit.data.vocab import Vocabulary
from rnnkit.decoding import generate
from rnnkit.models.language_model import LanguageModel
from rnnkit.recipes.common import RecipeContext, fmt, one_thread, resolve_data, table
from rnnkit.train.plots import rolling_mean
from rnnkit.train.trainer import repackage_hidden

__all__ = ["Settings", "run"]


@dataclass
class Settings:
    """Settings of the tiny-Shakespeare recipe."""

    chars: int = 10000  # characters of the text used, from its start
    embedding_dim: int = 100  # size of each character's embedding
    hidden_size: int = 512  # units per recurrent layer
    num_layers: int = 3  # stacked recurrent layers
    lr: float = 0.001  # Adam learning rate
    epochs: int = 50  # passes over the text
    bptt: int = 50  # characters per chunk (truncated BPTT)
    batch_size: int = 1  # parallel streams (1: the text read once, in order)
    sample_chars: int = 200  # characters sampled after each epoch
    window: int = 100  # steps in the rolling average of the loss curve
    single_thread: bool = True  # run torch on one thread (no thread contention; see one_thread)

    @classmethod
    def reduced(cls) -> Settings:
        """A run of some seconds: 2,000 characters, 64 units, 3 epochs."""
        return cls(chars=2000, hidden_size=64, embedding_dim=32, epochs=3, sample_chars=100,
                   window=20)

    @classmethod
    def full(cls) -> Settings:
        """The exercise's settings."""
        return cls()


def _train(
    ctx: RecipeContext, cell: str, ids: list[int], vocab: Vocabulary, settings: Settings
) -> dict[str, Any]:
    torch.manual_seed(ctx.seed)
    model = LanguageModel(
        len(vocab), embedding_dim=settings.embedding_dim, hidden_size=settings.hidden_size,
        num_layers=settings.num_layers, cell=cell, nonlinearity="relu",
    )
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    batches = StreamBatches(ids, batch_size=settings.batch_size, bptt=settings.bptt,
                            seed=ctx.seed, random_offset=True)
    prime = [vocab.stoi["\n"]] if "\n" in vocab.stoi else [ids[0]]
    losses: list[float] = []
    samples = []
    start = time.perf_counter()
    for epoch in range(settings.epochs):
        model.train()
        batches.set_epoch(epoch)
        state = None
        for batch in batches:
            # The state carries memory across chunks; detaching it stops backpropagation at
            # the chunk boundary (otherwise it would run back to the start of the text).
            state = repackage_hidden(state)
            _, loss, state = model.forward_stream(batch.inputs, state, batch.targets)
            opt.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            opt.step()
            losses.append(loss.item())  # type: ignore[union-attr]
        model.eval()
        out = generate(model.step, prime, settings.sample_chars, temperature=1.0,
                       seed=ctx.seed + epoch)
        text = vocab.decode(out[0].tolist())
        samples.append(text)
        mean = sum(losses[-len(batches):]) / len(batches)
        ctx.say(f"  epoch {epoch + 1}: mean loss {fmt(mean, 3)}; sample: {text[:80]!r}"
                + ("..." if len(text) > 80 else ""))
    seconds = time.perf_counter() - start
    n_params = sum(p.numel() for p in model.parameters())
    per_epoch = len(batches)
    epoch_losses = [sum(losses[i : i + per_epoch]) / len(losses[i : i + per_epoch])
                    for i in range(0, len(losses), per_epoch)]
    return {"losses": losses, "samples": samples, "seconds": seconds, "parameters": n_params,
            "steps": len(losses), "epoch_losses": epoch_losses,
            "best_epoch_loss": min(epoch_losses),
            "best_epoch": epoch_losses.index(min(epoch_losses)) + 1,
            "final_rolling_loss": rolling_mean(losses, settings.window)[-1]}


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train the ReLU RNN, then the LSTM; print samples; plot the loss curves."""
    if settings.single_thread:
        with one_thread():
            return _run(ctx, settings)
    return _run(ctx, settings)


def _run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    path = resolve_data(ctx, "tiny-shakespeare", "tinyshakespeare.txt")
    text = read_text(path)[: settings.chars]
    if len(text) < 2 * settings.bptt * settings.batch_size:
        raise ValueError(
            f"Argument `--data` must hold at least {2 * settings.bptt * settings.batch_size} "
            f"characters for chunks of {settings.bptt}, got {len(text)}."
        )
    vocab = Vocabulary.build(text, level="char", specials=())
    ids = vocab.encode(text)
    ctx.say(f"{len(text)} characters, {len(vocab)} distinct; chunks of {settings.bptt} with the "
            f"state carried and detached, a random start offset per epoch; embedding "
            f"{settings.embedding_dim}, {settings.num_layers} layers of {settings.hidden_size} "
            f"units, Adam {settings.lr:g}, {settings.epochs} epochs.")
    runs = {}
    for key, cell, label in (("relu_rnn", "rnn", "ReLU RNN"), ("lstm", "lstm", "LSTM")):
        ctx.say("")
        ctx.say(f"{label}:")
        runs[key] = _train(ctx, cell, ids, vocab, settings)
        ctx.say(f"  last sample ({settings.sample_chars} characters):")
        for line in runs[key]["samples"][-1].splitlines() or [""]:
            ctx.say("    | " + line)
    rnn, lstm = runs["relu_rnn"], runs["lstm"]
    ctx.say("")
    rows = [[label, f"{r['parameters']:,}", fmt(r["epoch_losses"][-1], 3),
             f"{fmt(r['best_epoch_loss'], 3)} (epoch {r['best_epoch']})",
             fmt(r["final_rolling_loss"], 3), fmt(r["seconds"] / settings.epochs, 2)]
            for label, r in (("ReLU RNN", rnn), ("LSTM", lstm))]
    for line in table(["model", "parameters", "last epoch's loss", "lowest epoch loss",
                       f"last {settings.window} steps", "seconds per epoch"], rows):
        ctx.say("  " + line)
    lower = lstm["best_epoch_loss"] < rnn["best_epoch_loss"]
    spikes = [label for label, r in (("ReLU RNN", rnn), ("LSTM", lstm))
              if r["epoch_losses"][-1] > 2 * r["best_epoch_loss"]]
    message = (
        f"What changes with the LSTM: about {lstm['parameters'] / rnn['parameters']:.1f}× the "
        f"parameters (four gate blocks per layer instead of one) and "
        f"{lstm['seconds'] / max(rnn['seconds'], 1e-9):.1f}× the time per epoch; its lowest "
        f"epoch loss is {'lower' if lower else 'higher'} ({fmt(lstm['best_epoch_loss'], 3)} "
        f"against {fmt(rnn['best_epoch_loss'], 3)} nats per character). "
        + ("Its gates let memory and gradient last across each chunk, where the ReLU RNN's "
           "state is multiplied by the same matrix at every step; on "
           f"{len(text):,} characters a loss this low means the text is largely memorised. "
           if lower else
           "In a run this short the LSTM, with more parameters to fit and gates that start "
           "half closed, has not caught up; its gates, which let memory and gradient last "
           "across each chunk, pay off over longer training. ")
        + (f"The loss of the {' and the '.join(spikes)} jumped back up near the end (Adam "
           "without gradient clipping, as the exercise sets it): see the spikes in loss.png."
           if spikes else "")
    )
    ctx.say(message.rstrip())
    _plot(ctx, runs, settings.window, len(text))
    for r in runs.values():
        r.pop("losses")
    return {"chars": len(text), "vocab_size": len(vocab), **runs}


def _plot(ctx: RecipeContext, runs: dict[str, dict[str, Any]], window: int, chars: int) -> None:
    """Each model's loss per chunk (faint) under its rolling average; epochs along the top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    smooth = {}
    for (key, label), color in zip((("relu_rnn", "ReLU RNN"), ("lstm", "LSTM")),
                                   ("tab:blue", "tab:orange"), strict=True):
        r = runs[key]
        steps = range(1, len(r["losses"]) + 1)
        smooth[key] = rolling_mean(r["losses"], window)
        ax.plot(steps, r["losses"], color=color, alpha=0.18, linewidth=0.6)
        ax.plot(steps, smooth[key], color=color,
                label=f"{label}: lowest epoch loss {r['best_epoch_loss']:.3f} (epoch "
                      f"{r['best_epoch']}), last epoch {r['epoch_losses'][-1]:.3f}")
    low = min(min(v) for v in smooth.values())
    high = max(max(v) for v in smooth.values())
    if high > 20 * low:  # a memorised text: the last hundredths of a nat need a log axis
        ax.set_yscale("log")
        ax.set_ylim(0.5 * low, 1.5 * high)  # chunks far below the averages are cut off
    per_epoch = len(runs["lstm"]["losses"]) / len(runs["lstm"]["epoch_losses"])
    top = ax.secondary_xaxis("top", functions=(lambda s: s / per_epoch,
                                               lambda e: e * per_epoch))
    top.set_xlabel("epoch")
    ax.set_xlabel("training step (one chunk of characters)")
    ax.set_ylabel("cross-entropy (nats per character)")
    ax.set_title(f"Tiny Shakespeare, first {chars:,} characters: training loss\n(faint: each "
                 f"chunk; solid: {window}-step rolling average)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8.5, loc="lower left")
    fig.tight_layout()
    ctx.save_figure(fig, "loss.png")
