"""Benchmark: English -> French with an attentional encoder-decoder, sacreBLEU greedy and beam 5.

The PyTorch seq2seq tutorial's setting on Tatoeba's English-French pairs (manythings.org,
``eng-fra.txt``): sentences of at most 10 words on both sides, a bidirectional GRU encoder, a
GRU decoder with Luong attention, trained with teacher forcing. The tutorial reports no BLEU;
this recipe scores a fixed held-out 5% with sacreBLEU, decoding greedily and with a
length-normalised beam search, and prints some translations.

Normalisation (:func:`normalize`), the same on both sides unless said otherwise:

* Unicode NFKC, so the narrow and plain no-break spaces French puts before ``! ? : ;`` (and
  the thin space) become plain spaces; curly quotes and apostrophes, guillemets and dashes
  become their ASCII forms; zero-width spaces and soft hyphens are dropped;
* lower-case (the data capitalises sentence starts; the tutorial lower-cases too);
* punctuation ``. , ! ? ; : " ( ) $ % € + / & * ~ ‽`` becomes tokens of its own, except a
  period or comma between digits (``3.5``, ``1,000``), as sacreBLEU's 13a tokeniser does;
* French elided clitics are split from their word (``l'homme`` -> ``l' homme``, ``qu'il`` ->
  ``qu' il``) so ``homme`` has one entry in the vocabulary, not one per article; English
  contractions (``don't``, ``i'm``) stay whole. Hyphens stay inside words (``peut-être``).

A sentence's *words* are its tokens that hold a letter or digit (punctuation is not a word);
a pair is kept when both sides have at most ``max_words`` words.

The split is fixed: a pair goes to test (5%), validation (5%) or training (90%) by a stable
hash (BLAKE2b) of its English side's words (:func:`split_of`), so it depends neither on the
seed nor on any setting, and every translation of one English sentence -- and the same
sentence with other punctuation (``run !`` / ``run .``) -- lands on the same side. The
vocabularies are built from the training pairs only (test words never enter them).

BLEU: ``sacrebleu.corpus_bleu`` with its defaults (13a tokenisation, exp smoothing) over the
normalised text as stored (tokens joined by single spaces): the headline gives each test
pair its own reference (a source with three French translations is scored three times), and
a multi-reference BLEU (each distinct source once, all its French translations as references)
is reported beside it. rnnkit's own :func:`rnnkit.tasks.seq2seq.corpus_bleu` is printed too.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from rnnkit.config import TrainConfig
from rnnkit.data.vocab import Vocabulary
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.recipes.common import RecipeContext, fmt, line_plot, resolve_data, table, torch_threads
from rnnkit.tasks.seq2seq import PairBatches, corpus_bleu, read_pairs, translate_lines
from rnnkit.train import Trainer
from rnnkit.train.checkpoint import load_model_state, read_checkpoint
from rnnkit.train.metrics import read_metrics

__all__ = [
    "TEST_FRACTION",
    "VALID_FRACTION",
    "Settings",
    "load_splits",
    "normalize",
    "run",
    "sacre_bleu",
    "split_of",
    "word_count",
]

DATASET = "eng-fra"
FILENAME = "eng-fra.txt"
#: Share of the pairs held out for testing, and for validation (fixed: see :func:`split_of`).
TEST_FRACTION = 0.05
VALID_FRACTION = 0.05
_BUCKETS = 10_000

_CHARACTERS = str.maketrans({
    "\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'",
    "\u00ab": '"', "\u00bb": '"', "\u201c": '"', "\u201d": '"',
    "\u2010": "-", "\u2013": "-", "\u2014": "-",
    "\u200b": None, "\u00ad": None,
})
# a period or comma not between digits, or any other punctuation mark
_PUNCTUATION = re.compile(r"(?<!\d)[.,]|[.,](?!\d)|[!?;:\"()$%€+/&*~‽]")
_ELISION = re.compile(r"\b(c|d|j|l|m|n|s|t|qu|jusqu|lorsqu|puisqu|quoiqu)'(?=\w)")


def normalize(text: str, language: Literal["en", "fr"]) -> str:
    """``text`` lower-cased, with punctuation split off, as the recipe stores it.

    See the module docstring for every rule.

    Args:
        text: one sentence.
        language: ``"en"`` or ``"fr"`` (French also splits elided clitics).

    Returns:
        The tokens joined by single spaces.

    Raises:
        ValueError: an unknown language.

    Example:
        >>> normalize("Qu'est-ce que c'est\\u202f?", "fr")
        "qu' est-ce que c' est ?"
        >>> normalize("I don't know, it costs $3.50.", "en")
        "i don't know , it costs $ 3.50 ."
    """
    if language not in ("en", "fr"):
        raise ValueError(f"Argument `language` must be 'en' or 'fr', got {language!r}.")
    text = unicodedata.normalize("NFKC", text).translate(_CHARACTERS).lower()
    text = _PUNCTUATION.sub(lambda m: f" {m.group(0)} ", text)
    if language == "fr":
        text = _ELISION.sub(r"\1' ", text)
    return " ".join(text.split())


def _words(text: str) -> list[str]:
    return [w for w in text.split() if any(c.isalnum() for c in w)]


def word_count(text: str) -> int:
    """The words of a normalised sentence: its tokens holding a letter or a digit.

    >>> word_count("qu' est-ce que c' est ?")
    5
    """
    return len(_words(text))


def split_of(english: str) -> Literal["train", "valid", "test"]:
    """Where a pair goes, from a stable hash of its (normalised) English side's words.

    The hash is BLAKE2b of the words joined by spaces (punctuation left out), so the same
    English sentence always lands in the same split whatever its punctuation, whatever the
    seed and settings, on every machine: ``TEST_FRACTION`` of the sentences go to test,
    ``VALID_FRACTION`` to validation, the rest to training.

    >>> split_of("run !") == split_of("run .")
    True
    >>> sorted({split_of(f"sentence {i}") for i in range(200)})
    ['test', 'train', 'valid']
    """
    key = " ".join(_words(english)).encode("utf-8")
    bucket = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % _BUCKETS
    if bucket < TEST_FRACTION * _BUCKETS:
        return "test"
    if bucket < (TEST_FRACTION + VALID_FRACTION) * _BUCKETS:
        return "valid"
    return "train"


def load_splits(
    path: str | Path, max_words: int = 10
) -> tuple[dict[str, list[tuple[str, str]]], int]:
    """Read, normalise, filter and split the pairs of an ``English<TAB>French`` file.

    Args:
        path: the pairs file (``.gz`` read directly).
        max_words: keep pairs whose two sides both have at most this many words.

    Returns:
        ``({"train": pairs, "valid": pairs, "test": pairs}, pairs read)``, each pair
        ``(english, french)`` normalised, in file order.

    Raises:
        ValueError: ``max_words`` not a positive integer, or no pair left to train on.
    """
    if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1:
        raise ValueError(f"Argument `max_words` must be a positive integer, got {max_words!r}.")
    raw = read_pairs(path)
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "valid": [], "test": []}
    for english, french in raw:
        en, fr = normalize(english, "en"), normalize(french, "fr")
        if not en or not fr or word_count(en) > max_words or word_count(fr) > max_words:
            continue
        splits[split_of(en)].append((en, fr))
    if not splits["train"] or not splits["test"]:
        raise ValueError(
            f"Pairs file {str(path)!r} leaves {len(splits['train'])} training and "
            f"{len(splits['test'])} test pair(s) of at most {max_words} words; expected some "
            "of each."
        )
    return splits, len(raw)


def sacre_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """sacreBLEU's corpus BLEU (0-100, defaults: 13a tokenisation, exp smoothing).

    The text is the normalised text as the recipe stores it (already tokenised, which 13a
    leaves as it is); sacreBLEU's warning about tokenised input is silenced.

    Args:
        hypotheses: one translation per sentence.
        references: for each sentence, one or more reference translations.

    Raises:
        ValueError: counts that differ, or a sentence without a reference.

    >>> sacre_bleu(["le chat dort ."], [["le chat dort .", "un chat dort ."]])
    100.00000000000004
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"Argument `references` must have one entry per hypothesis ({len(hypotheses)}), "
            f"got {len(references)}."
        )
    if any(not refs for refs in references):
        raise ValueError("Argument `references` must give every sentence a reference, got none.")
    import sacrebleu

    width = max(len(refs) for refs in references)
    # sacreBLEU takes reference *streams*; None pads sentences with fewer references
    streams = [[refs[k] if k < len(refs) else None for refs in references]
               for k in range(width)]
    # force: the text is tokenised on purpose (scored as stored), so sacreBLEU's warning
    # about a "tokenized period" does not apply
    return float(sacrebleu.corpus_bleu(list(hypotheses), streams, force=True).score)


@dataclass
class Settings:
    """Settings of the translate-en-fr benchmark."""

    max_words: int = 10  # keep pairs whose two sides both have at most this many words
    max_train_pairs: int = 0  # train on at most this many (seeded sample) pairs (0 = all)
    max_valid_pairs: int = 0  # validate on at most this many pairs (0 = all)
    max_test_sources: int = 0  # score at most this many distinct test sources (0 = all)
    min_freq: int = 3  # rarer training words become <unk> (each side its own vocabulary)
    cell: Literal["gru", "lstm"] = "gru"  # encoder and decoder cell
    attention: Literal["dot", "general", "additive"] = "general"  # Luong dot/general, Bahdanau
    embedding_dim: int = 256  # D: source and target embeddings
    hidden_size: int = 256  # H: decoder units (the bidirectional encoder: H/2 per direction)
    num_layers: int = 1  # stacked layers in the encoder and in the decoder
    dropout: float = 0.2  # on embeddings, between layers and before the output layer
    teacher_forcing: float = 1.0  # probability of feeding the true previous target token
    batch_size: int = 64  # pairs per training batch
    lr: float = 2e-3  # Adam's peak learning rate
    warmup_steps: int = 200  # linear warm-up, then cosine decay to min_lr at max_steps
    min_lr: float = 1e-4  # the learning rate at max_steps
    clip_norm: float = 1.0  # gradient norm clipping
    max_steps: int = 6000  # optimizer steps
    max_time: float = 780.0  # hard limit on training, seconds
    eval_every: int = 1000  # validate (and checkpoint) every N steps; the best one is kept
    beam_widths: list[int] = field(default_factory=lambda: [1, 2, 5, 10])  # must hold 1 and 5
    alpha: float = 0.6  # beam search length normalisation, lp(n) = ((5 + n) / 6) ** alpha
    decode_batch: int = 128  # source sentences translated together
    examples: int = 8  # test translations printed
    threads: int = 0  # torch CPU threads (0 = torch's default)

    @classmethod
    def reduced(cls) -> Settings:
        """A smoke run of some seconds: 1,500 pairs, a tiny GRU, 40 steps, beams 1, 2 and 5."""
        return cls(max_train_pairs=1500, max_valid_pairs=200, max_test_sources=60,
                   min_freq=1, embedding_dim=32, hidden_size=64, dropout=0.0,
                   batch_size=32, lr=5e-3, warmup_steps=5, min_lr=5e-4, max_steps=40,
                   max_time=120.0, eval_every=20, beam_widths=[1, 2, 5], examples=3,
                   threads=1)

    @classmethod
    def full(cls) -> Settings:
        """The benchmark: bi-GRU 2×128 -> GRU 256, Luong attention, 6,000 steps or 13 min."""
        return cls()


def _check(settings: Settings) -> None:
    widths = settings.beam_widths
    if not widths or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in widths):
        raise ValueError(
            f"Setting `beam_widths` must list positive integers, got {widths!r}."
        )
    if 1 not in widths or 5 not in widths:
        raise ValueError(
            f"Setting `beam_widths` must hold 1 (greedy) and 5 (the headline), got {widths!r}."
        )
    if settings.eval_every < 1 or settings.max_steps < 1:
        raise ValueError(
            "Settings `eval_every` and `max_steps` must be positive integers, got "
            f"{settings.eval_every!r} and {settings.max_steps!r}."
        )


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train the attentional encoder-decoder, score greedy and beam decoding with sacreBLEU."""
    _check(settings)
    with torch_threads(settings.threads):
        return _run(ctx, settings)


def _references(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Distinct English sources, in first-seen order, with all their French translations."""
    refs: dict[str, list[str]] = {}
    for en, fr in pairs:
        refs.setdefault(en, []).append(fr)
    return refs


def _translate(
    model: Seq2Seq, source: Vocabulary, target: Vocabulary, lines: list[str], beam: int,
    settings: Settings,
) -> tuple[list[str], float]:
    """Translations of ``lines`` (batched by length, returned in order) and the seconds taken."""
    order = sorted(range(len(lines)), key=lambda i: len(lines[i].split()))
    start = time.perf_counter()
    out = translate_lines(model, source, target, [lines[i] for i in order], beam_size=beam,
                          alpha=settings.alpha if beam > 1 else 0.0,
                          batch_size=settings.decode_batch)
    seconds = time.perf_counter() - start
    translations = [""] * len(lines)
    for i, text in zip(order, out, strict=True):
        translations[i] = text
    return translations, seconds


def _run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    start = time.perf_counter()
    torch.manual_seed(ctx.seed)
    path = resolve_data(ctx, DATASET, FILENAME)
    splits, read = load_splits(path, settings.max_words)
    kept = sum(len(p) for p in splits.values())
    ctx.say(f"{read:,} pairs read; {kept:,} have at most {settings.max_words} words on both "
            f"sides: {len(splits['train']):,} train, {len(splits['valid']):,} validation, "
            f"{len(splits['test']):,} test (fixed hash split of the English side).")
    rng = random.Random(ctx.seed)
    train = splits["train"]
    if settings.max_train_pairs and len(train) > settings.max_train_pairs:
        train = rng.sample(train, settings.max_train_pairs)
    valid = splits["valid"]
    if settings.max_valid_pairs:
        valid = valid[: settings.max_valid_pairs]
    test_refs = _references(splits["test"])
    if settings.max_test_sources:
        test_refs = dict(list(test_refs.items())[: settings.max_test_sources])
    test_pairs = [(en, fr) for en, frs in test_refs.items() for fr in frs]

    source = Vocabulary.build([en.split() for en, _ in train], level="word",
                              min_freq=settings.min_freq)
    target = Vocabulary.build([fr.split() for _, fr in train], level="word",
                              min_freq=settings.min_freq)
    unknown = sum(w not in target for _, fr in test_pairs for w in fr.split())
    total = sum(len(fr.split()) for _, fr in test_pairs)
    ctx.say(f"vocabularies from the {len(train):,} training pairs (words seen at least "
            f"{settings.min_freq}×): English {len(source):,}, French {len(target):,} entries "
            f"(4 specials each); {unknown / max(total, 1):.1%} of the test references' French "
            "tokens are outside the vocabulary.")

    def encode(pairs: list[tuple[str, str]]) -> tuple[list[list[int]], list[list[int]]]:
        return ([source.encode(en.split()) for en, _ in pairs],
                [target.encode(fr.split(), add_eos=True) for _, fr in pairs])

    pad = int(target.pad_id)  # type: ignore[arg-type]
    train_batches = PairBatches(*encode(train), batch_size=settings.batch_size, pad_id=pad,
                                shuffle=True, bucket_size=settings.batch_size * 16,
                                seed=ctx.seed)
    valid_batches = PairBatches(*encode(valid), batch_size=256, pad_id=pad)
    model = Seq2Seq(
        src_vocab_size=len(source), tgt_vocab_size=len(target),
        embedding_dim=settings.embedding_dim, hidden_size=settings.hidden_size,
        num_layers=settings.num_layers, cell=settings.cell, bidirectional=True,
        attention=settings.attention, dropout=settings.dropout,
        teacher_forcing=settings.teacher_forcing, pad_id=pad,
        sos_id=int(target.sos_id),  # type: ignore[arg-type]
        eos_id=int(target.eos_id),  # type: ignore[arg-type]
    )
    parameters = sum(p.numel() for p in model.parameters())
    kind = {"dot": "Luong dot", "general": "Luong general", "additive": "Bahdanau"}
    model_text = (f"bi-{settings.cell.upper()} encoder {settings.num_layers}×2×"
                  f"{settings.hidden_size // 2} -> {settings.cell.upper()} "
                  f"{settings.hidden_size} decoder, {kind[settings.attention]} attention, "
                  f"embedding {settings.embedding_dim}, dropout {settings.dropout:g}")
    ctx.say(f"model: {model_text}; {parameters:,} parameters; teacher forcing "
            f"{settings.teacher_forcing:g}; batches of {settings.batch_size} pairs, Adam "
            f"{settings.lr:g} with warm-up {settings.warmup_steps} and cosine to "
            f"{settings.min_lr:g} over {settings.max_steps} steps, clip {settings.clip_norm:g}, "
            f"at most {settings.max_time / 60:g} min.")
    config = TrainConfig(
        optimizer="adam", lr=settings.lr, schedule="cosine", warmup_steps=settings.warmup_steps,
        min_lr=settings.min_lr, clip_norm=settings.clip_norm, max_steps=settings.max_steps,
        max_time=settings.max_time, eval_every=settings.eval_every,
        checkpoint_every=settings.eval_every, seed=ctx.seed, log_every=10, device="cpu",
        progress=True,
    )
    run_dir = ctx.run_dir / "seq2seq"
    trainer = Trainer(model, train_batches, config, run_dir, val_data=valid_batches,
                      model_name="seq2seq")
    summary = trainer.fit()
    best = run_dir / "best"
    if (best / "model.safetensors").is_file():
        # the checkpoint of best validation loss is the model scored, as in early stopping
        load_model_state(model, read_checkpoint(best).model_state)
    model.eval()
    valid_loss = trainer.evaluate(valid_batches)["loss"]
    epochs = summary.steps * settings.batch_size / len(train)
    ctx.say(f"trained {summary.steps} steps ({epochs:.1f} epochs) in "
            f"{summary.wall_time:.0f} s, stopped by {summary.stopped_by}; best "
            f"validation loss {fmt(valid_loss, 3)} at step {summary.best_step}.")
    rows = read_metrics(run_dir / "metrics.csv")
    curves = {
        split: ([int(r["step"]) for r in rows if r["split"] == key],
                [float(r["loss"]) for r in rows if r["split"] == key])
        for split, key in (("training loss", "train"), ("validation loss", "val"))
    }

    lines = list(test_refs)
    references = [test_refs[en] for en in lines]
    single_refs = [fr for en, fr in test_pairs]
    results_by_beam: dict[int, dict[str, Any]] = {}
    outputs: dict[int, list[str]] = {}
    for beam in sorted(set(settings.beam_widths)):
        hyps, seconds = _translate(model, source, target, lines, beam, settings)
        by_source = dict(zip(lines, hyps, strict=True))
        per_pair = [by_source[en] for en, _ in test_pairs]
        outputs[beam] = hyps
        results_by_beam[beam] = {
            "bleu": sacre_bleu(per_pair, [[r] for r in single_refs]),
            "bleu_multi_ref": sacre_bleu(hyps, references),
            "rnnkit_bleu": corpus_bleu([h.split() for h in per_pair],
                                       [r.split() for r in single_refs]),
            "decode_seconds": seconds,
        }
    greedy, beam5 = results_by_beam[1]["bleu"], results_by_beam[5]["bleu"]
    ctx.say("")
    ctx.say(f"Test set: {len(test_pairs):,} pairs, {len(lines):,} distinct English sources "
            f"(decoded once each); sacreBLEU 13a on the normalised text, beam search "
            f"length-normalised with alpha {settings.alpha:g}.")
    table_rows = [[("greedy" if k == 1 else f"beam {k}"), fmt(r["bleu"], 2),
                   fmt(r["bleu_multi_ref"], 2), fmt(r["rnnkit_bleu"], 2),
                   fmt(r["decode_seconds"], 1)] for k, r in results_by_beam.items()]
    for line in table(["decoding", "BLEU (1 ref/pair)", "BLEU (all refs)", "rnnkit BLEU",
                       "decode s"], table_rows):
        ctx.say("  " + line)
    met = beam5 >= greedy
    ctx.say(f"beam 5 {fmt(beam5, 2)} vs greedy {fmt(greedy, 2)}: "
            f"{'meets' if met else 'misses'} the target beam 5 ≥ greedy.")

    examples = []
    step = max(1, len(lines) // max(settings.examples, 1))
    ctx.say("")
    ctx.say("Some test translations:")
    for i in range(0, len(lines), step)[: settings.examples]:
        example = {"source": lines[i], "references": test_refs[lines[i]],
                   "greedy": outputs[1][i], "beam5": outputs[5][i]}
        examples.append(example)
        ctx.say(f"  source    {example['source']}")
        ctx.say(f"  reference {' | '.join(example['references'])}")
        ctx.say(f"  greedy    {example['greedy']}")
        ctx.say(f"  beam 5    {example['beam5']}")
        ctx.say("")

    line_plot(ctx, "loss.png", curves, title="translate-en-fr: training and validation loss",
              xlabel="optimizer step", ylabel="cross-entropy (nats/token)",
              styles={"training loss": "-", "validation loss": "o-"},
              note="Teacher-forced cross-entropy per target token; the validation set is the "
                   "fixed hash-split 5% (the best checkpoint is scored).")
    widths = sorted(results_by_beam)
    line_plot(ctx, "bleu_vs_beam.png",
              {"1 reference per pair": (widths, [results_by_beam[k]["bleu"] for k in widths]),
               "all references": (widths,
                                  [results_by_beam[k]["bleu_multi_ref"] for k in widths])},
              title="translate-en-fr: test BLEU against beam width",
              xlabel="beam width (1 = greedy)", ylabel="sacreBLEU",
              styles={"1 reference per pair": "o-", "all references": "s--"})
    wall = time.perf_counter() - start
    return {
        "pairs_read": read,
        "pairs_kept": kept,
        "train_pairs": len(train),
        "valid_pairs": len(valid),
        "test_pairs": len(test_pairs),
        "test_sources": len(lines),
        "vocab_sizes": {"en": len(source), "fr": len(target)},
        "parameters": parameters,
        "steps": summary.steps,
        "epochs": epochs,
        "train_seconds": summary.wall_time,
        "stopped_by": summary.stopped_by,
        "best_step": summary.best_step,
        "valid_loss": valid_loss,
        "loss_curves": {k: {"steps": s, "loss": v} for k, (s, v) in curves.items()},
        "beams": {str(k): v for k, v in results_by_beam.items()},
        "examples": examples,
        "benchmark": {
            "metric": ("test BLEU (sacreBLEU 13a on lower-cased text, punctuation split off), "
                       "beam 5"),
            "value": beam5,
            "higher_is_better": True,
            "target": greedy,
            "target_text": "beam 5 ≥ greedy",
            "met": bool(met),
            "published": "PyTorch seq2seq tutorial setting (reports no BLEU)",
            "setting": (f"{model_text}; {summary.steps} steps ({epochs:.1f} epochs) in "
                        f"{summary.wall_time / 60:.1f} min; pairs ≤ {settings.max_words} "
                        f"words, fixed hash split {len(train):,} train / {len(test_pairs):,} "
                        "test pairs (5%), 1 reference per pair"),
            "wall_seconds": wall,
            "table": [
                {"decoding": "greedy" if k == 1 else f"beam {k}", "beam": k,
                 "bleu": results_by_beam[k]["bleu"],
                 "bleu_multi_ref": results_by_beam[k]["bleu_multi_ref"],
                 "decode_seconds": results_by_beam[k]["decode_seconds"]}
                for k in (1, 5)
            ],
        },
    }
