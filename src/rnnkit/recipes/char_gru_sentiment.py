"""Exercise: sentiment of short movie sentences from their characters, with a GRU.

Characters become ids; each text is padded with spaces, or cut, to 40 characters. The
course's model is a GRU of 10 units reading the 40 characters (each id one-hot), dropout 0.7
on its hidden state, a linear layer over the two classes, cross-entropy and Adam at a
learning rate of 0.001, trained on eleven labelled sentences (0 negative, 1 positive). It is
then asked about "The movie was not interesting to me" (negative) and "I liked the movie
with great interest" (positive); the course's model got the second one wrong.

Eleven sentences are very little, and the course's model reads the padding: its verdict is
the state after up to 30 trailing spaces, which wash out what came before. The better
configuration changes four things:

1. **Lengths**: the GRU stops at each text's last character (``lengths=``; packed), so no
   padding enters the state.
2. **Max pooling over time**: the class is read from the maximum of each unit over all
   steps, so a cue like " not " counts wherever it appears, not only near the end.
3. **Word dropout**: every epoch each word of a training sentence is left out with
   probability 0.15, so the model cannot memorise whole sentences and has to rely on the
   words that carry the label ("not", "liked", "good"...).
4. 16 units, dropout 0.3 on the pooled vector, Adam at 0.01.

The recipe trains both on several seeds and reports how often each gets both test sentences
right.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rnnkit.data.vocab import Vocabulary
from rnnkit.models.classifier import pool_outputs
from rnnkit.nn import GRU
from rnnkit.recipes.common import RecipeContext, fmt, line_plot, one_thread, table

__all__ = ["MAX_CHARS", "TEST_SENTENCES", "TRAIN_SENTENCES", "Settings", "run"]

#: (text, label): 0 negative, 1 positive
TRAIN_SENTENCES = [
    ("I did not like the movie", 0),
    ("The movie was not good", 0),
    ("I watched the movie with great interest", 1),
    ("I have seen better movies", 0),
    ("Good to see that movie", 1),
    ("I am not a fan of movies", 0),
    ("I liked the movie great", 1),
    ("The movie was of interest to me", 1),
    ("I thought they could show interesting scenes", 0),
    ("The movie did not have good scenes", 0),
    ("Family did not like the movie at all", 0),
]
#: (text, the right label)
TEST_SENTENCES = [
    ("The movie was not interesting to me", 0),
    ("I liked the movie with great interest", 1),
]
MAX_CHARS = 40
CLASSES = ("negative", "positive")


@dataclass
class Settings:
    """Settings of the character-GRU sentiment recipe."""

    course_hidden: int = 10  # GRU units of the course's model
    course_dropout: float = 0.7  # dropout on the course model's hidden state
    course_lr: float = 0.001  # Adam learning rate of the course's model
    course_epochs: int = 1000  # epochs (full batch) of the course's model
    better_hidden: int = 16  # GRU units of the better model
    better_dropout: float = 0.3  # dropout on the better model's pooled vector
    better_lr: float = 0.01  # Adam learning rate of the better model
    better_epochs: int = 300  # epochs (full batch) of the better model
    word_dropout: float = 0.15  # probability of leaving out each training word, per epoch
    seeds: int = 5  # seeds each configuration is trained on

    @classmethod
    def reduced(cls) -> Settings:
        """A run of a few seconds: the course's model shorter, three seeds."""
        return cls(course_epochs=300, better_epochs=200, seeds=3)

    @classmethod
    def full(cls) -> Settings:
        """The exercise's model as given (the course names no epoch count: 1000) and five
        seeds of each configuration."""
        return cls()


class _CharGRU(nn.Module):
    """One-hot characters → GRU → pooled state → dropout → two class scores."""

    def __init__(self, vocab_size: int, hidden_size: int, dropout: float, pooling: str) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.pooling = pooling
        self.rnn = GRU(vocab_size, hidden_size, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(CLASSES))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        x = nn.functional.one_hot(ids, self.vocab_size).float()
        out, h_n = self.rnn(x, lengths=lengths)
        full = torch.full((ids.shape[0],), ids.shape[1], dtype=torch.int64)
        z = pool_outputs(out, h_n, full if lengths is None else lengths, self.pooling, 1)
        return self.head(self.drop(z))


def _encode(vocab: Vocabulary, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids ``[B, 40]`` (padded with spaces, or cut) and the true lengths ``[B]``."""
    space = vocab.stoi[" "]
    rows, lengths = [], []
    for text in texts:
        ids = vocab.encode(text)[:MAX_CHARS]
        lengths.append(len(ids))
        rows.append(ids + [space] * (MAX_CHARS - len(ids)))
    return torch.tensor(rows), torch.tensor(lengths)


def _drop_words(texts: list[str], p: float, rng: random.Random) -> list[str]:
    out = []
    for text in texts:
        words = text.split()
        kept = [w for w in words if rng.random() >= p]
        out.append(" ".join(kept or words))
    return out


def _train(
    vocab: Vocabulary, better: bool, settings: Settings, seed: int
) -> tuple[_CharGRU, list[float], list[float]]:
    """Train one model; the training cost and accuracy of every epoch."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    if better:
        model = _CharGRU(len(vocab), settings.better_hidden, settings.better_dropout, "max")
        lr, epochs = settings.better_lr, settings.better_epochs
    else:
        model = _CharGRU(len(vocab), settings.course_hidden, settings.course_dropout, "last")
        lr, epochs = settings.course_lr, settings.course_epochs
    texts = [t for t, _ in TRAIN_SENTENCES]
    labels = torch.tensor([label for _, label in TRAIN_SENTENCES])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    costs, accuracies = [], []
    model.train()
    for _ in range(epochs):
        if better:
            ids, lengths = _encode(vocab, _drop_words(texts, settings.word_dropout, rng))
        else:
            ids, lengths = _encode(vocab, texts)
        logits = model(ids, lengths if better else None)
        loss = nn.functional.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        costs.append(loss.item())
        accuracies.append(float((logits.argmax(-1) == labels).float().mean()))
    model.eval()
    return model, costs, accuracies


def _probabilities(
    model: _CharGRU, vocab: Vocabulary, better: bool
) -> dict[str, dict[str, float]]:
    ids, lengths = _encode(vocab, [t for t, _ in TEST_SENTENCES])
    with torch.no_grad():
        p = torch.softmax(model(ids, lengths if better else None), dim=-1)
    return {
        text: {CLASSES[c]: float(p[i, c]) for c in range(len(CLASSES))}
        for i, (text, _) in enumerate(TEST_SENTENCES)
    }


def _both_right(probabilities: dict[str, dict[str, float]]) -> bool:
    return all(
        probabilities[text][CLASSES[label]] > 0.5 for text, label in TEST_SENTENCES
    )


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train the course's model and the better one on several seeds; print the probabilities."""
    with one_thread():
        return _run(ctx, settings)


def _run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    texts = [t for t, _ in TRAIN_SENTENCES]
    # <unk> for characters the training texts do not have; the space pads.
    vocab = Vocabulary.build([" ", *texts], level="char", specials=("<unk>",))
    ctx.say(f"{len(TRAIN_SENTENCES)} training sentences, {len(vocab)} character ids, texts "
            f"padded with spaces or cut to {MAX_CHARS} characters.")
    results: dict[str, Any] = {}
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for key, better, description in (
        ("course", False,
         f"Course model: GRU {settings.course_hidden} units over all {MAX_CHARS} characters, "
         f"last state, dropout {settings.course_dropout:g}, Adam {settings.course_lr:g}, "
         f"{settings.course_epochs} epochs"),
        ("better", True,
         f"Better model: GRU {settings.better_hidden} units up to each text's end, max over "
         f"time, dropout {settings.better_dropout:g}, word dropout {settings.word_dropout:g}, "
         f"Adam {settings.better_lr:g}, {settings.better_epochs} epochs"),
    ):
        ctx.say("")
        ctx.say(description)
        per_seed = []
        for k in range(settings.seeds):
            seed = ctx.seed + k
            model, costs, accuracies = _train(vocab, better, settings, seed)
            probs = _probabilities(model, vocab, better)
            per_seed.append({"seed": seed, "probabilities": probs, "both_right": _both_right(probs),
                             "final_cost": costs[-1], "final_accuracy": accuracies[-1]})
            if k == 0:
                curves[key] = (costs, accuracies)
        rows = []
        for entry in per_seed:
            probs = entry["probabilities"]
            rows.append([entry["seed"], fmt(entry["final_accuracy"], 2)]
                        + [fmt(probs[t][CLASSES[label]], 3) for t, label in TEST_SENTENCES]
                        + ["yes" if entry["both_right"] else "no"])
        headers = ["seed", "train acc"] + [f"P({CLASSES[label]} | '{t}')"
                                          for t, label in TEST_SENTENCES] + ["both right"]
        for line in table(headers, rows):
            ctx.say("  " + line)
        count = sum(e["both_right"] for e in per_seed)
        ctx.say(f"  both test sentences right on {count} of {settings.seeds} seeds")
        results[key] = {"both_right": count, "seeds": settings.seeds, "per_seed": per_seed}

    main = results["better"]["per_seed"][0]["probabilities"]
    ctx.say("")
    ctx.say(f"Probabilities of the better model (seed {ctx.seed}):")
    for text, label in TEST_SENTENCES:
        p = main[text]
        verdict = "right" if p[CLASSES[label]] > 0.5 else "wrong"
        ctx.say(f"  '{text}': negative {fmt(p['negative'], 3)}, positive "
                f"{fmt(p['positive'], 3)} ({verdict}; the answer is {CLASSES[label]})")
    ctx.say(
        "What changed: the course's GRU reads up to 30 trailing pad spaces, and its verdict is "
        "the state after them; stopping at each text's end, taking the maximum of each unit "
        "over time (a cue counts wherever it appears) and leaving words out at random while "
        "training (no whole sentence can be memorised) make the model rely on words like "
        "'not' and 'liked'."
    )
    names = {"course": f"course: GRU {settings.course_hidden}, last of {MAX_CHARS} padded "
                       f"characters, lr {settings.course_lr:g}",
             "better": f"better: GRU {settings.better_hidden}, max over time, word dropout, "
                       f"lr {settings.better_lr:g}"}
    note = ("Full batch of the 11 training sentences, measured in training mode (dropout on, "
            "and word dropout for the better model): hence the spikes. Faint: every epoch; "
            "solid: the mean of the last 20 epochs.")
    for index, (name, label) in enumerate((("cost.png", "cost (cross-entropy)"),
                                           ("accuracy.png", "training accuracy"))):
        line_plot(
            ctx, name,
            {names[key]: (list(range(1, len(curves[key][index]) + 1)), curves[key][index])
             for key in ("course", "better")},
            title=f"Character GRU sentiment: {label} per epoch (seed {ctx.seed})",
            xlabel="epoch", ylabel=label, smooth=20, note=note,
        )
    results["probabilities"] = main
    results["course_probabilities"] = results["course"]["per_seed"][0]["probabilities"]
    results["both_right"] = bool(results["better"]["per_seed"][0]["both_right"])
    return results
