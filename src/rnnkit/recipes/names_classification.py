"""Exercise: which language does a surname come from? (18 languages, the ``names`` folder)

Each file ``LANGUAGE.txt`` of the folder holds one surname per line; the language is the
class. The names become character ids (accented letters included), a held-out part of each
language is kept for testing, and an LSTM reads each name -- through an embedding, which is
the one-hot letter times a matrix -- its final state going to a linear layer over the
languages, trained with cross-entropy.

The exercise also asks to show that feeding the whole sequence at once and feeding it one
step at a time give the same outputs, with batches of names of different lengths packed. The
recipe runs the trained LSTM three ways on held-out names -- a padded batch with
``lengths=`` (packed inside the layer), an explicit ``PackedSequence``, and one character at
a time with the state carried by hand -- and prints the largest difference between them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.data.batching import PaddedBatches
from rnnkit.data.vocab import Vocabulary
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.recipes.common import (
    RecipeContext,
    fmt,
    one_thread,
    read_lines,
    resolve_data,
    table,
)

__all__ = ["Settings", "read_names", "run"]


@dataclass
class Settings:
    """Settings of the names-classification recipe."""

    embedding_dim: int = 32  # size of each character's embedding
    hidden_size: int = 128  # LSTM units
    lr: float = 0.003  # Adam learning rate
    epochs: int = 15  # passes over the training names
    batch_size: int = 64  # names per batch
    test_fraction: float = 0.1  # held-out share of each language
    max_per_class: int = 0  # use at most this many names per language (0: all)

    @classmethod
    def reduced(cls) -> Settings:
        """A run of some seconds: 300 names per language, 4 epochs."""
        return cls(epochs=4, max_per_class=300)

    @classmethod
    def full(cls) -> Settings:
        """Every name, 15 epochs."""
        return cls()


def read_names(folder: Path) -> dict[str, list[str]]:
    """``language -> names`` from a folder of ``LANGUAGE.txt`` files (sorted by language).

    Raises:
        ValueError: the folder holds fewer than two ``.txt`` files.
    """
    files = sorted(p for p in Path(folder).glob("*.txt") if p.is_file())
    if len(files) < 2:
        raise ValueError(
            f"Argument `--data` must be a folder with one LANGUAGE.txt file per class (at least "
            f"two), got {len(files)} .txt file(s) in {str(folder)!r}."
        )
    return {p.stem: read_lines(p) for p in files}


def _split(
    names: dict[str, list[str]], settings: Settings, seed: int
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Per language: shuffle, cap, keep ``test_fraction`` (at least one) for testing."""
    rng = random.Random(seed)
    train, test = [], []
    for label, (_, items) in enumerate(sorted(names.items())):
        items = sorted(set(items))
        rng.shuffle(items)
        if settings.max_per_class:
            items = items[: settings.max_per_class]
        n_test = max(1, round(len(items) * settings.test_fraction)) if len(items) > 1 else 0
        test += [(name, label) for name in items[:n_test]]
        train += [(name, label) for name in items[n_test:]]
    return train, test


def _predict(model: SequenceClassifier, batches: PaddedBatches) -> tuple[np.ndarray, np.ndarray]:
    preds, targets = [], []
    model.eval()
    with torch.no_grad():
        for batch in batches:
            logits, _ = model(batch.inputs, None, batch.lengths)
            preds.append(model.predict(logits))
            targets.append(batch.targets)
    return torch.cat(preds).numpy(), torch.cat(targets).numpy()


def _three_ways(model: SequenceClassifier, ids: list[list[int]]) -> dict[str, float]:
    """Logits of the same names: padded + lengths, a PackedSequence, one step at a time."""
    lengths = torch.tensor([len(s) for s in ids])
    padded = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
    for b, seq in enumerate(ids):
        padded[b, : len(seq)] = torch.tensor(seq)
    model.eval()
    with torch.no_grad():
        x = model.embedding(padded)  # type: ignore[misc]
        whole = model(padded, None, lengths)[0]
        _, (h_packed, _) = model.rnn(
            pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        )
        packed = model.head(h_packed[-1])
        stepped = []
        for b, seq in enumerate(ids):
            state = None
            for t in range(len(seq)):
                _, state = model.rnn(x[b : b + 1, t : t + 1], state)
            stepped.append(model.head(state[0][-1]))  # type: ignore[index]
        step = torch.cat(stepped)
    return {
        "whole_vs_step": float((whole - step).abs().max()),
        "packed_vs_step": float((packed - step).abs().max()),
        "whole_vs_packed": float((whole - packed).abs().max()),
    }


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train the LSTM classifier; check the three ways agree; accuracy and confusion matrix."""
    with one_thread():
        return _run(ctx, settings)


def _run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    torch.manual_seed(ctx.seed)
    folder = resolve_data(ctx, "names")
    names = read_names(folder)
    languages = sorted(names)
    train, test = _split(names, settings, ctx.seed)
    vocab = Vocabulary.build([n for n, _ in train], level="char", specials=("<pad>", "<unk>"))
    ctx.say(f"{len(languages)} languages, {len(train)} training and {len(test)} held-out names, "
            f"{len(vocab) - 2} distinct characters (accents included).")

    def batches(pairs: list[tuple[str, int]], shuffle: bool) -> PaddedBatches:
        return PaddedBatches([vocab.encode(n) for n, _ in pairs], labels=[y for _, y in pairs],
                             batch_size=settings.batch_size, pad_id=vocab.stoi["<pad>"],
                             shuffle=shuffle, bucket_size=settings.batch_size * 8 if shuffle
                             else None, seed=ctx.seed)

    train_batches, test_batches = batches(train, True), batches(test, False)
    model = SequenceClassifier(
        len(languages), vocab_size=len(vocab), embedding_dim=settings.embedding_dim,
        hidden_size=settings.hidden_size, cell="lstm", labels=languages,
        pad_id=vocab.stoi["<pad>"],
    )
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    ctx.say(f"LSTM {settings.hidden_size} units over {settings.embedding_dim}-dimensional "
            f"character embeddings, Adam {settings.lr:g}, batches of {settings.batch_size} "
            f"names bucketed by length (padded, lengths given: packed), {settings.epochs} "
            "epochs.")
    epoch_losses, epoch_acc = [], []
    for epoch in range(settings.epochs):
        model.train()
        train_batches.set_epoch(epoch)
        total, count = 0.0, 0
        for batch in train_batches:
            _, loss = model(batch.inputs, batch.targets, batch.lengths)
            opt.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            opt.step()
            total += loss.item() * batch.batch_size  # type: ignore[union-attr]
            count += batch.batch_size
        pred, true = _predict(model, test_batches)
        epoch_losses.append(total / count)
        epoch_acc.append(float((pred == true).mean()))
        ctx.say(f"  epoch {epoch + 1}: training loss {fmt(epoch_losses[-1], 4)}, held-out "
                f"accuracy {fmt(epoch_acc[-1], 3)}")

    pred, true = _predict(model, test_batches)
    C = len(languages)
    confusion = np.zeros((C, C), dtype=np.int64)
    for t, p in zip(true, pred, strict=True):
        confusion[t, p] += 1
    accuracy = float((pred == true).mean())
    majority = float(np.bincount(true, minlength=C).max() / len(true))
    per_class = {lang: float(confusion[c, c] / confusion[c].sum()) if confusion[c].sum() else None
                 for c, lang in enumerate(languages)}
    ctx.say("")
    ctx.say(f"Held-out accuracy {fmt(accuracy, 3)} (always answering the most common language: "
            f"{fmt(majority, 3)}; uniform guessing: {fmt(1 / C, 3)}).")
    rows = [[lang, int(confusion[c].sum()), "-" if per_class[lang] is None
             else fmt(per_class[lang], 2)] for c, lang in enumerate(languages)]
    for line in table(["language", "held-out names", "recall"], rows):
        ctx.say("  " + line)

    sample = [vocab.encode(n) for n, _ in test[:: max(1, len(test) // 8)][:8]]
    diffs = _three_ways(model, sample)
    ctx.say("")
    ctx.say(f"The same {len(sample)} held-out names (lengths {[len(s) for s in sample]}) three "
            "ways -- padded batch with lengths=, explicit PackedSequence, one character at a "
            "time with the state carried by hand -- give the same logits: largest difference "
            f"{max(diffs.values()):.2e}.")
    _plot_confusion(ctx, confusion, languages, accuracy)
    _plot_training(ctx, epoch_losses, epoch_acc, majority, C)
    return {
        "languages": languages,
        "train_size": len(train),
        "test_size": len(test),
        "accuracy": accuracy,
        "majority_baseline": majority,
        "per_class_recall": per_class,
        "confusion": confusion,
        "epoch_losses": epoch_losses,
        "epoch_accuracy": epoch_acc,
        "equivalence_max_abs_diff": diffs,
    }


def _plot_training(
    ctx: RecipeContext, losses: list[float], accuracy: list[float], majority: float,
    classes: int,
) -> None:
    """Training loss (left) and held-out accuracy against the majority baseline (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(9, 3.6))
    FigureCanvasAgg(fig)
    epochs = list(range(1, len(losses) + 1))
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    left.plot(epochs, losses, "o-", color="tab:blue")
    left.set_ylabel("cross-entropy (nats per name)")
    left.set_title("training loss", fontsize=10)
    right.plot(epochs, accuracy, "s-", color="tab:orange", label="LSTM")
    right.axhline(majority, color="grey", linestyle="--",
                  label=f"always the most common language ({majority:.3f})")
    right.set_ylim(0.0, 1.0)
    right.set_ylabel("accuracy on the held-out names")
    right.set_title(f"held-out accuracy (last epoch {accuracy[-1]:.3f})", fontsize=10)
    right.legend(fontsize=8, loc="lower right")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(f"Names classification: LSTM over characters, {classes} languages",
                 fontsize=11)
    fig.tight_layout()
    ctx.save_figure(fig, "training.png")


def _plot_confusion(
    ctx: RecipeContext, confusion: np.ndarray, languages: list[str], accuracy: float
) -> None:
    """Rows: the true language (its held-out count in the label), each row as shares; cells of
    5% or more carry their percentage."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    C = len(languages)
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    size = 2.0 + 0.36 * C
    fig = Figure(figsize=(size + 1.6, size + 0.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true language's names", shrink=0.8)
    for i in range(C):
        for j in range(C):
            if share[i, j] >= 0.05:
                ax.text(j, i, f"{100 * share[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.55 else "black")
    ax.set_xticks(range(C))
    ax.set_xticklabels(languages, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(C))
    ax.set_yticklabels([f"{lang} ({int(n)})" for lang, n in zip(languages, rows[:, 0],
                                                                  strict=True)], fontsize=8)
    ax.set_xlabel("predicted language")
    ax.set_ylabel("true language (held-out names)")
    ax.set_title(f"Names classification: confusion matrix, % of each row\n"
                 f"(held-out accuracy {accuracy:.3f})", fontsize=10)
    fig.tight_layout()
    ctx.save_figure(fig, "confusion.png")
