"""Benchmark: UPOS tagging of UD English EWT with a BiLSTM over word and character features.

The data are the treebank's own splits (UD v2.16: 12,544 training, 2,001 dev and 2,077 test
sentences). The tagger is :class:`rnnkit.models.SequenceTagger` trained by
:func:`rnnkit.tasks.tag.fit_tagger` -- the ``rnnkit train tag`` task -- with its options for
this benchmark:

* each word is its embedding (of the lower-cased form: "The" and "the" share one, which cuts
  the dev words never seen in training from 8.3% to 6.8%) concatenated with the two final
  states of a character BiLSTM over the word as written (the capital of a proper noun, the
  "-ly" of an adverb, the digits of a number: what tells the tag of a word never seen),
  read by two stacked BiLSTM layers of 128 units per direction;
* word dropout: a training word seen ``n`` times becomes ``<unk>`` with probability
  ``alpha / (alpha + n)`` (alpha 0.25, as in Plank et al.'s bilty), so the ``<unk>``
  embedding is trained and the model learns to rely on the characters for rare words;
* dropout on the input, between layers and before the output layer; Adam; the epoch with the
  best dev accuracy is kept and training stops early when dev accuracy stops improving, or at
  the time budget.

The test set is tagged once, at the end, by the best dev checkpoint. Accuracy is reported
overall, on words unseen in training (out of vocabulary: their lower-cased form never occurs
in the training file) and on seen words, with the most confused tag pairs, the dev accuracy
over training (``dev_accuracy.png``) and a confusion heat map (``confusion.png``).

Anchor: Plank, Søgaard and Goldberg (2016), a BiLSTM tagger without pretrained vectors, 94.6%
on UD English; target 95.0%.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rnnkit.config import TrainConfig
from rnnkit.data.conllu import Sentence, iter_conllu, read_conllu
from rnnkit.data.synthetic import write_conllu
from rnnkit.recipes.common import RecipeContext, resolve_data, table, torch_threads
from rnnkit.tasks import load_run
from rnnkit.tasks.tag import RunConfig, TagData, TagModel, fit_tagger, tag_sentences
from rnnkit.train.metrics import read_metrics

__all__ = ["Settings", "confused_pairs", "confusion_matrix", "run", "tagging_scores"]

DATASET = "ud-english-ewt"
FILES = {
    "train": "en_ewt-ud-train.conllu",
    "dev": "en_ewt-ud-dev.conllu",
    "test": "en_ewt-ud-test.conllu",
}
TARGET = 0.95
PUBLISHED = "BiLSTM tagger without pretrained vectors (Plank et al. 2016): 94.6%"


@dataclass
class Settings:
    """Settings of the pos-ewt benchmark."""

    limit: int = 0  # training sentences used, from the start (0 = all); dev and test get limit/4
    lowercase: bool = True  # look words up lower-cased (the characters keep their case)
    min_freq: int = 1  # rarer training words are <unk> from the start
    word_dropout: float = 0.25  # alpha: a word seen n times is <unk> w.p. alpha / (alpha + n)
    embedding_dim: int = 100  # D: word embedding size
    char_features: Literal["none", "lstm", "cnn"] = "lstm"  # word vectors from characters
    char_embedding_dim: int = 32  # size of each character's embedding
    char_hidden_size: int = 64  # character BiLSTM units per direction (or CNN filters)
    max_word_length: int = 20  # characters kept per word (first and last ones)
    hidden_size: int = 128  # H: word BiLSTM units per direction
    num_layers: int = 2  # stacked word BiLSTM layers
    dropout: float = 0.33  # on the word + character input, between layers, before the output
    batch_size: int = 32  # B: sentences per batch
    lr: float = 2e-3  # Adam learning rate
    clip_norm: float = 5.0  # gradient clipping by global norm
    max_epochs: int = 30  # passes over the training sentences at most
    max_time: float = 1080.0  # seconds of training at most (the budget, evaluation excluded)
    patience: int = 4  # epochs without a better dev accuracy before stopping (0 = off)
    plateau_factor: float = 0.5  # lr factor when dev accuracy has not improved for 2 epochs
    threads: int = 0  # torch CPU threads (0 = torch's default: one per core)
    progress: bool = True  # show the trainer's progress bar

    @classmethod
    def reduced(cls) -> Settings:
        """A run of some seconds: 300 training sentences, tiny sizes, 3 epochs."""
        return cls(limit=300, embedding_dim=16, char_embedding_dim=8, char_hidden_size=8,
                   hidden_size=16, num_layers=1, batch_size=16, lr=1e-2, max_epochs=3,
                   max_time=60.0, patience=0, threads=1, progress=False)

    @classmethod
    def full(cls) -> Settings:
        """The benchmark: all of EWT, 2×128 BiLSTM, 30 epochs or 18 minutes of training at
        most (a 1×128 tagger reached 93.3% dev / 93.7% test after 3.3 epochs, 5 minutes on one
        busy core)."""
        return cls()


def tagging_scores(
    gold: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[str]],
    words: Sequence[Sequence[str]],
    seen: set[str],
) -> dict[str, Any]:
    """Accuracy overall, on words whose form is in ``seen`` and on the others (OOV).

    Args:
        gold: the true tags, one list per sentence.
        predicted: the predicted tags, as ``gold``.
        words: the word forms as the model's vocabulary sees them (lower-cased or not).
        seen: the forms of the training words.

    Returns:
        ``{"accuracy", "oov_accuracy", "seen_accuracy", "words", "oov_words"}`` (an accuracy
        is ``None`` when it has no word).

    Raises:
        ValueError: sentences or tags that do not line up.

    Example:
        >>> scores = tagging_scores([["D", "N"], ["V"]], [["D", "V"], ["V"]],
        ...                         [["the", "cat"], ["ran"]], {"the", "ran"})
        >>> round(scores["accuracy"], 4), scores["oov_accuracy"], scores["seen_accuracy"]
        (0.6667, 0.0, 1.0)
        >>> scores["words"], scores["oov_words"]
        (3, 1)
    """
    if not len(gold) == len(predicted) == len(words):
        raise ValueError(
            "Arguments `gold`, `predicted` and `words` must hold the same sentences, got "
            f"{len(gold)}, {len(predicted)} and {len(words)}."
        )
    right = {True: 0, False: 0}
    count = {True: 0, False: 0}
    for n, (g, p, w) in enumerate(zip(gold, predicted, words, strict=True)):
        if not len(g) == len(p) == len(w):
            raise ValueError(
                f"Sentence {n} has {len(g)} gold tags, {len(p)} predicted tags and {len(w)} "
                "words; expected one tag of each per word."
            )
        for gt, pt, word in zip(g, p, w, strict=True):
            known = word in seen
            count[known] += 1
            right[known] += gt == pt

    def ratio(r: int, c: int) -> float | None:
        return r / c if c else None

    total = count[True] + count[False]
    return {
        "accuracy": ratio(right[True] + right[False], total),
        "oov_accuracy": ratio(right[False], count[False]),
        "seen_accuracy": ratio(right[True], count[True]),
        "words": total,
        "oov_words": count[False],
    }


def confusion_matrix(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], tags: Sequence[str]
) -> np.ndarray:
    """``[C, C]`` counts: row = true tag, column = predicted tag (in ``tags`` order)."""
    index = {t: i for i, t in enumerate(tags)}
    out = np.zeros((len(tags), len(tags)), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        for gt, pt in zip(g, p, strict=True):
            out[index[gt], index[pt]] += 1
    return out


def confused_pairs(
    confusion: np.ndarray, tags: Sequence[str], top: int = 10
) -> list[dict[str, Any]]:
    """The ``top`` most frequent errors ``true -> predicted``, largest first.

    Returns:
        ``[{"true", "predicted", "count", "share_of_errors"}, ...]``.

    Example:
        >>> [(p["true"], p["predicted"], p["count"], p["share_of_errors"])
        ...  for p in confused_pairs(np.array([[5, 3, 0], [1, 4, 0], [0, 0, 2]]),
        ...                          ["ADJ", "NOUN", "X"])]
        [('ADJ', 'NOUN', 3, 0.75), ('NOUN', 'ADJ', 1, 0.25)]
    """
    errors = confusion.copy()
    np.fill_diagonal(errors, 0)
    total = int(errors.sum())
    pairs = [(int(errors[i, j]), i, j) for i in range(len(tags)) for j in range(len(tags))
             if errors[i, j] > 0]
    pairs.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [{"true": tags[i], "predicted": tags[j], "count": c, "share_of_errors": c / total}
            for c, i, j in pairs[:top]]


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train on train, pick the epoch on dev, tag test once; report and plot."""
    with torch_threads(settings.threads):
        return _run(ctx, settings)


def _read(
    ctx: RecipeContext, settings: Settings
) -> tuple[dict[str, list[Sentence]], dict[str, str]]:
    """The sentences of each split, and the files the tagger task reads: the originals, or
    with ``limit`` the slices, written into the run directory."""
    paths = {name: str(resolve_data(ctx, DATASET, filename)) for name, filename in FILES.items()}
    if not settings.limit:
        return {name: read_conllu(path) for name, path in paths.items()}, paths
    keep = {"train": settings.limit, "dev": max(1, settings.limit // 4),
            "test": max(1, settings.limit // 4)}
    splits = {name: list(islice(iter_conllu(path), keep[name])) for name, path in paths.items()}
    (ctx.run_dir / "data").mkdir(parents=True, exist_ok=True)
    paths = {name: str(write_conllu(ctx.run_dir / "data" / f"{name}.conllu",
                                    [x.words for x in sentences], [x.upos for x in sentences],
                                    [x.xpos for x in sentences]))
             for name, sentences in splits.items()}
    return splits, paths


def _run_config(ctx: RecipeContext, settings: Settings, train: str, dev: str) -> RunConfig:
    s = settings
    return RunConfig(
        out=str(ctx.run_dir / "tagger"),
        data=TagData(train=train, valid=dev, lowercase=s.lowercase, min_freq=s.min_freq,
                     batch_size=s.batch_size, bucket_size=s.batch_size * 20,
                     word_dropout=s.word_dropout, seed=ctx.seed),
        model=TagModel(cell="lstm", embedding_dim=s.embedding_dim, hidden_size=s.hidden_size,
                       num_layers=s.num_layers, bidirectional=True, dropout=s.dropout,
                       char_features=s.char_features, char_embedding_dim=s.char_embedding_dim,
                       char_hidden_size=s.char_hidden_size, max_word_length=s.max_word_length),
        train=TrainConfig(optimizer="adam", lr=s.lr, clip_norm=s.clip_norm,
                          schedule="plateau", plateau_factor=s.plateau_factor,
                          plateau_patience=1, max_epochs=s.max_epochs, max_time=s.max_time,
                          metric="accuracy", mode="max", patience=s.patience, seed=ctx.seed,
                          log_every=50, device="cpu", progress=s.progress),
    )


def _run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    start = time.perf_counter()
    splits, paths = _read(ctx, settings)
    for name, sentences in splits.items():
        ctx.say(f"{name}: {len(sentences):,} sentences, "
                f"{sum(len(x) for x in sentences):,} words")

    def form(word: str) -> str:
        return word.lower() if settings.lowercase else word

    train_counts = Counter(form(w) for s in splits["train"] for w in s.words)
    config = _run_config(ctx, settings, paths["train"], paths["dev"])
    s = settings
    case = "lower-cased" if s.lowercase else "as written"
    ctx.say(f"model: word embedding {s.embedding_dim} ({case}, {len(train_counts):,} training "
            f"forms) + character {s.char_features} "
            f"({s.char_embedding_dim}-d characters, {s.char_hidden_size} units) -> "
            f"{s.num_layers}×{s.hidden_size} BiLSTM per direction; dropout {s.dropout:g}, word "
            f"dropout alpha {s.word_dropout:g}; Adam {s.lr:g}, batches of {s.batch_size}; at "
            f"most {s.max_epochs} epochs or {s.max_time / 60:g} min, early stop after "
            f"{s.patience} epochs without a better dev accuracy.")
    run_dir = ctx.run_dir / "tagger"
    summary, _, _ = fit_tagger(config, run_dir=run_dir, overwrite=True)
    best = load_run(run_dir)  # the best dev checkpoint (RUN/best)
    model, vocab = best.model, best.vocab
    parameters = sum(p.numel() for p in model.parameters())
    ctx.say(f"trained {summary.steps} steps, {summary.epochs} epochs in "
            f"{summary.wall_time / 60:.1f} min (stopped by {summary.stopped_by}); best dev "
            f"accuracy at step {summary.best_step}; {parameters:,} parameters.")

    tags = model.class_names()
    seen = set(train_counts)
    scores: dict[str, dict[str, Any]] = {}
    confusion = np.zeros((len(tags), len(tags)), dtype=np.int64)
    for name in ("dev", "test"):
        sentences = splits[name]
        predicted = tag_sentences(model, vocab, [x.words for x in sentences], config.data)
        gold = [x.upos for x in sentences]
        scores[name] = tagging_scores(gold, predicted,
                                      [[form(w) for w in x.words] for x in sentences], seen)
        if name == "test":
            confusion = confusion_matrix(gold, predicted, tags)
    rows = [[name, f"{v['words']:,}", _pct(v["accuracy"]), f"{v['oov_words']:,}",
             _pct(v["oov_accuracy"]), _pct(v["seen_accuracy"])] for name, v in scores.items()]
    ctx.say("UPOS accuracy (OOV: lower-cased form never seen in training):")
    for line in table(["split", "words", "all", "OOV words", "OOV", "seen"], rows):
        ctx.say("  " + line)

    pairs = confused_pairs(confusion, tags)
    ctx.say("most confused tag pairs on test (true -> predicted):")
    for line in table(["true", "predicted", "count", "share of errors"],
                      [[p["true"], p["predicted"], p["count"], _pct(p["share_of_errors"])]
                       for p in pairs]):
        ctx.say("  " + line)

    accuracy = float(scores["test"]["accuracy"])
    met = accuracy >= TARGET
    ctx.say(f"test UPOS accuracy {_pct(accuracy)}: {'meets' if met else 'misses'} the target "
            f"≥ {TARGET:.1%}; {PUBLISHED}.")
    curve = _dev_curve(run_dir)
    _plot_curve(ctx, curve)
    _plot_confusion(ctx, confusion, tags, accuracy)
    wall = time.perf_counter() - start
    return {
        "sizes": {name: {"sentences": len(x), "words": sum(len(t) for t in x)}
                  for name, x in splits.items()},
        "scores": scores,
        "tags": tags,
        "confusion": confusion,
        "confused_pairs": pairs,
        "dev_curve": curve,
        "steps": summary.steps,
        "epochs": summary.epochs,
        "best_step": summary.best_step,
        "stopped_by": summary.stopped_by,
        "train_seconds": summary.wall_time,
        "parameters": parameters,
        "benchmark": {
            "metric": "test UPOS accuracy",
            "value": accuracy,
            "higher_is_better": True,
            "target": TARGET,
            "target_text": f"≥ {TARGET:.1%}",
            "met": bool(met),
            "published": PUBLISHED,
            "setting": (f"BiLSTM {s.num_layers}×{s.hidden_size}, word embedding "
                        f"{s.embedding_dim} (lower-cased: {s.lowercase}) + char "
                        f"{s.char_features} {s.char_hidden_size}, dropout {s.dropout:g}, word "
                        f"dropout {s.word_dropout:g}, Adam {s.lr:g}; {summary.epochs} epochs in "
                        f"{summary.wall_time / 60:.1f} min, best dev epoch; UD EWT v2.16 "
                        "train/dev/test"),
            "wall_seconds": wall,
            "table": [{"split": name, **v} for name, v in scores.items()],
        },
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _dev_curve(run_dir: Path) -> list[dict[str, float]]:
    """``[{"step", "epoch", "minutes", "accuracy"}, ...]`` of the dev evaluations."""
    return [{"step": float(r["step"]), "epoch": float(r["epoch"]),
             "minutes": float(r["elapsed"]) / 60.0, "accuracy": float(r["accuracy"])}
            for r in read_metrics(run_dir / "metrics.csv")
            if r["split"] == "val" and r.get("accuracy") not in (None, "")]


def _plot_curve(ctx: RecipeContext, curve: list[dict[str, float]]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([c["epoch"] for c in curve], [100 * c["accuracy"] for c in curve], "o-",
            label="dev UPOS accuracy")
    ax.axhline(100 * TARGET, color="tab:red", linestyle="--", label="target (test) 95.0%")
    ax.axhline(94.6, color="gray", linestyle=":", label="Plank et al. 2016 (test) 94.6%")
    if curve:
        best = max(curve, key=lambda c: c["accuracy"])
        ax.annotate(f"best {100 * best['accuracy']:.2f}% ({best['minutes']:.1f} min)",
                    (best["epoch"], 100 * best["accuracy"]), textcoords="offset points",
                    xytext=(-40, -25), fontsize=8)
        ax.set_ylim(min(94.0, *(100 * c["accuracy"] for c in curve)) - 1.0, 100.0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("UD English EWT: dev UPOS accuracy over training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    ctx.save_figure(fig, "dev_accuracy.png")


def _plot_confusion(
    ctx: RecipeContext, confusion: np.ndarray, tags: list[str], accuracy: float
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    C = len(tags)
    fig = Figure(figsize=(9, 8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    # counts on a log scale: the errors (tens) stay visible beside the diagonal (thousands)
    shown = np.ma.masked_equal(confusion, 0)
    image = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(2, confusion.max())))
    fig.colorbar(image, ax=ax, label="words (log scale)")
    for i in range(C):
        for j in range(C):
            if confusion[i, j] and i != j:
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=6,
                        color="white")
    ax.set_xticks(range(C))
    ax.set_xticklabels(tags, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(C))
    ax.set_yticklabels(tags, fontsize=8)
    ax.set_xlabel("predicted UPOS")
    ax.set_ylabel("true UPOS")
    ax.set_title(f"UD English EWT test: confusion of UPOS tags (accuracy {100 * accuracy:.2f}%)")
    fig.tight_layout()
    ctx.save_figure(fig, "confusion.png")
