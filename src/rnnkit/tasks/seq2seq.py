"""The sequence-to-sequence task: `rnnkit train seq2seq`, and what `predict`, `eval` and
`sample` do with a seq2seq run (translate).

Data: a pairs file, one ``source<TAB>target`` per line (``/work/shared/data/eng-fra.txt.gz``
is one; ``.gz`` is read directly, fields after the second are ignored, blank lines skipped).
Sentences are split into characters or whitespace-separated words (``--data.level``); the
source and the target each get a vocabulary with ``<pad> <unk> <sos> <eos>`` built from the
training pairs. Targets end with ``<eos>``; the decoder starts from ``<sos>`` (see
:mod:`rnnkit.models.seq2seq` for the layout). Pairs with a side longer than
``--data.max_length`` tokens are left out. Without ``--valid`` a shuffled
``valid_fraction`` of the pairs is held out.

Metrics: teacher-forced loss and token accuracy during training; ``rnnkit eval`` adds the
corpus BLEU of the translations (:func:`corpus_bleu`, over whitespace-separated words of the
decoded text, 0-100, no smoothing) and the share of exact translations.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import Batch, PaddedBatches
from rnnkit.data.tables import iter_lines
from rnnkit.data.vocab import Vocabulary
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.tasks.common import (
    EVAL_FILE,
    TRAIN_FILE,
    VALID_FILE,
    add_common_train_arguments,
    as_options,
    check_open_valid_fraction,
    check_task,
    default_train_config,
    evaluate_batches,
    fit_model,
    train_task,
)
from rnnkit.train import TrainSummary, seed_everything

__all__ = [
    "HELP",
    "VOCABS_FORMAT",
    "PairBatches",
    "RunConfig",
    "Seq2SeqData",
    "Seq2SeqModelConfig",
    "corpus_bleu",
    "fit_seq2seq",
    "read_pairs",
    "translate_lines",
]

HELP = "sequence-to-sequence (translation) from source<TAB>target pairs, with attention"

#: ``format`` of the vocabulary entry a seq2seq checkpoint stores (source and target).
VOCABS_FORMAT = "rnnkit.seq2seq-vocabularies"


@dataclass
class Seq2SeqData:
    """Where the pairs come from and how they are tokenised and batched."""

    train: str = ""  # pairs file to train on: source<TAB>target per line (.gz allowed)
    valid: str = ""  # pairs file to validate on (empty: hold out valid_fraction of train)
    valid_fraction: float = 0.05  # without `valid`: the share of (shuffled) pairs held out
    level: Literal["char", "word"] = "char"  # char: every character a token; word: whitespace
    lowercase: bool = False  # lower-case both sides before tokenising
    max_length: int = 0  # leave out pairs with a side longer than this many tokens (0 = keep)
    max_pairs: int = 0  # use at most this many (randomly chosen) training pairs (0 = all)
    min_freq: int = 1  # rarer tokens become <unk>
    max_vocab: int = 0  # keep the most frequent tokens only, specials included (0 = all)
    batch_size: int = 32  # B: pairs per batch
    bucket_size: int = 0  # sort by source length within buckets of this many pairs (0 = off)
    seed: int = 0  # seeds the split, the sampling of max_pairs and the batch order


@dataclass
class Seq2SeqModelConfig:
    """The network: embeddings → encoder → decoder with attention → output layer."""

    embedding_dim: int = 64  # D: size of the source and target embeddings
    hidden_size: int = 128  # H: decoder units (and memory size; H/2 per encoder direction)
    num_layers: int = 1  # stacked layers in the encoder and in the decoder
    cell: Literal["rnn", "lstm", "peephole_lstm", "gru"] = "lstm"  # recurrent cell
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # for cell = rnn
    bidirectional: bool = True  # bidirectional encoder (hidden_size must be even)
    attention: Literal["none", "dot", "general", "additive"] = "general"  # Luong/Bahdanau
    dropout: float = 0.1  # on embeddings, between layers and before the output layer
    teacher_forcing: float = 1.0  # probability of feeding the true previous token
    teacher_forcing_final: float = 1.0  # probability reached after teacher_forcing_decay steps
    teacher_forcing_decay: int = 0  # steps of the linear decay (0 = constant teacher_forcing)


def _default_train() -> TrainConfig:
    return default_train_config()


@dataclass
class RunConfig:
    """A seq2seq run: data, model and training sections."""

    task: str = "seq2seq"  # the task this configuration is for (always seq2seq here)
    out: str = ""  # run directory (default: runs/seq2seq-YYYYmmdd-HHMMSS)
    data: Seq2SeqData = field(default_factory=Seq2SeqData)
    model: Seq2SeqModelConfig = field(default_factory=Seq2SeqModelConfig)
    train: TrainConfig = field(default_factory=_default_train)

    def __post_init__(self) -> None:
        check_task(self.task, "seq2seq", "a seq2seq run")
        check_open_valid_fraction(self.data.valid_fraction)
        for name in ("max_length", "max_pairs", "max_vocab", "bucket_size"):
            value = getattr(self.data, name)
            if value < 0:
                raise ValueError(f"Option `data.{name}` expects an integer >= 0, got {value!r}.")
        for name in ("batch_size", "min_freq"):
            value = getattr(self.data, name)
            if value < 1:
                raise ValueError(f"Option `data.{name}` expects a positive integer, got {value!r}.")


# -- data ------------------------------------------------------------------------------------


def read_pairs(
    path: str | Path, *, lowercase: bool = False, name: str = "Pairs file"
) -> list[tuple[str, str]]:
    """Read ``source<TAB>target`` lines (blank lines skipped, extra fields ignored).

    ``name`` is how messages name the file before its path (e.g. :data:`TRAIN_FILE`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty or binary file, a line without a TAB, or an empty side (the
            message names the file and the line).
    """
    pairs: list[tuple[str, str]] = []
    where = f"{name} {str(path)!r}"
    for number, line in iter_lines(path, name=name):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(
                f"{where} line {number} has no TAB; expected "
                "'source<TAB>target'."
            )
        source, target = fields[0].strip(), fields[1].strip()
        if not source or not target:
            side = "source" if not source else "target"
            raise ValueError(f"{where} line {number} has an empty {side}.")
        if lowercase:
            source, target = source.lower(), target.lower()
        pairs.append((source, target))
    if not pairs:
        raise ValueError(f"{where} holds only blank lines; expected pairs.")
    return pairs


def _tokens(text: str, level: str) -> list[str]:
    return list(text) if level == "char" else text.split()


class PairBatches:
    """Batches of (source, target) id sequences of different lengths, both padded.

    Follows the batch-source protocol of :mod:`rnnkit.data.batching`: the order depends only
    on ``seed`` and the epoch. ``Batch.inputs`` ``[B, S]`` are the sources, ``Batch.lengths``
    their lengths, ``Batch.targets`` ``[B, T]`` the targets padded with ``pad_id``, and
    ``Batch.num_tokens`` counts target tokens (what the loss averages over; ``row_tokens``
    holds each row's target length).

    Args:
        sources, targets: one id sequence per pair (targets end with ``<eos>``).
        batch_size: ``B``.
        pad_id: padding of both sides.
        shuffle: shuffle the pairs every epoch.
        bucket_size: sort by source length within buckets of this many pairs.
        seed: seeds the shuffles.

    Raises:
        ValueError: no pairs, an empty sequence, or counts that differ.

    Example:
        >>> batches = PairBatches([[5, 6, 7], [8]], [[9, 3], [10, 11, 3]], batch_size=2)
        >>> batch = next(iter(batches))
        >>> batch.inputs.tolist(), batch.lengths.tolist(), batch.targets.tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1], [[9, 3, 0], [10, 11, 3]])
        >>> batch.num_tokens
        5
    """

    def __init__(
        self,
        sources: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        *,
        batch_size: int,
        pad_id: int = 0,
        shuffle: bool = False,
        bucket_size: int | None = None,
        seed: int = 0,
    ) -> None:
        if len(sources) != len(targets):
            raise ValueError(
                f"Argument `targets` must have one entry per source ({len(sources)}), got "
                f"{len(targets)}."
            )
        self._sources = PaddedBatches(
            sources,
            batch_size=batch_size,
            pad_id=pad_id,
            shuffle=shuffle,
            bucket_size=bucket_size,
            seed=seed,
        )
        self._targets = PaddedBatches(targets, batch_size=batch_size, pad_id=pad_id)

    def __len__(self) -> int:
        return len(self._sources)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration yields."""
        self._sources.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Iterator[Batch]:
        """Yield the current epoch's batches from batch number ``start`` on."""
        for index in self._sources.batch_indices()[start:]:
            source = self._sources.make_batch(index)
            target = self._targets.make_batch(index)
            yield Batch(
                inputs=source.inputs,
                targets=target.inputs,
                lengths=source.lengths,
                row_tokens=target.row_tokens,  # the loss counts target tokens, not sources
            )


def _build_vocab(texts: list[list[str]], data: Seq2SeqData) -> Vocabulary:
    return Vocabulary.build(
        texts, level=data.level, max_size=data.max_vocab or None, min_freq=data.min_freq
    )


def _encode_pairs(
    pairs: list[tuple[str, str]], source: Vocabulary, target: Vocabulary
) -> tuple[list[list[int]], list[list[int]]]:
    src = [source.encode(source.tokenize(s)) for s, _ in pairs]
    tgt = [target.encode(target.tokenize(t), add_eos=True) for _, t in pairs]
    return src, tgt


def _prepare_pairs(
    pairs: list[tuple[str, str]], data: Seq2SeqData, what: str
) -> list[tuple[str, str]]:
    if data.max_length:
        kept = [
            p
            for p in pairs
            if len(_tokens(p[0], data.level)) <= data.max_length
            and len(_tokens(p[1], data.level)) <= data.max_length
        ]
        if not kept:
            raise ValueError(
                f"No {what} pair has both sides within --data.max_length={data.max_length} "
                f"tokens ({len(pairs)} pairs read); raise the limit."
            )
        pairs = kept
    return pairs


def split_pairs(
    data: Seq2SeqData,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The training and validation pairs ``data`` describes (filtered, sampled, split).

    Raises:
        ValueError: a file problem, or too few pairs to hold out a validation set.
    """
    if not data.train:
        raise ValueError("Option `--train FILE` is required: the pairs to train on.")
    pairs = _prepare_pairs(
        read_pairs(data.train, lowercase=data.lowercase, name=TRAIN_FILE), data, "training"
    )
    rng = np.random.default_rng(data.seed)
    order = rng.permutation(len(pairs))
    if data.valid:
        valid = _prepare_pairs(
            read_pairs(data.valid, lowercase=data.lowercase, name=VALID_FILE), data, "validation"
        )
        train = [pairs[i] for i in order]
    else:
        n_valid = max(1, int(len(pairs) * data.valid_fraction))
        if len(pairs) - n_valid < 1:
            raise ValueError(
                f"{TRAIN_FILE} {data.train!r} has {len(pairs)} usable pair(s): too few to "
                "hold out a validation set; give --valid FILE."
            )
        valid = [pairs[i] for i in order[:n_valid]]
        train = [pairs[i] for i in order[n_valid:]]
    if data.max_pairs:
        train = train[: data.max_pairs]
    return train, valid


def vocabs_to_dict(source: Vocabulary, target: Vocabulary) -> dict[str, Any]:
    """The JSON entry a checkpoint stores for the two vocabularies."""
    return {"format": VOCABS_FORMAT, "source": source.to_dict(), "target": target.to_dict()}


def vocabs_from_run(run: Any) -> tuple[Vocabulary, Vocabulary]:
    """The source and target vocabularies of a loaded seq2seq run.

    Raises:
        ValueError: the run's config.json holds no seq2seq vocabularies.
    """
    entry = run.vocab
    if not isinstance(entry, dict) or entry.get("format") != VOCABS_FORMAT:
        raise ValueError(
            f"Run {str(run.directory)!r} does not hold seq2seq vocabularies (config.json vocab "
            f"format {entry.get('format') if isinstance(entry, dict) else None!r})."
        )
    return Vocabulary.from_dict(entry["source"]), Vocabulary.from_dict(entry["target"])


def prepare_source(run: Any, text: str) -> str:
    """``text`` as the run's training saw its sources (lower-cased if it was trained so)."""
    data = (run.config.get("run") or {}).get("data") or {}
    return text.lower() if data.get("lowercase") else text


def fit_seq2seq(
    config: RunConfig,
    *,
    run_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
) -> tuple[TrainSummary, Seq2Seq, Vocabulary, Vocabulary]:
    """Train a seq2seq model as ``config`` says; checkpoints go to ``run_dir``.

    Returns:
        The training summary, the trained model (last state, eval mode) and the source and
        target vocabularies.
    """
    data = config.data
    train_pairs, valid_pairs = split_pairs(data)
    source = _build_vocab([_tokens(s, data.level) for s, _ in train_pairs], data)
    target = _build_vocab([_tokens(t, data.level) for _, t in train_pairs], data)
    if resume:
        from rnnkit.train.checkpoint import read_checkpoint

        saved = read_checkpoint(run_dir).config.get("vocab")
        if saved != vocabs_to_dict(source, target):
            raise ValueError(
                f"The pairs given to resume {str(run_dir)!r} give other vocabularies than the "
                "run was trained with; resume with the same --train and --data options."
            )
    with as_options("data", data):
        train_data = PairBatches(
            *_encode_pairs(train_pairs, source, target),
            batch_size=data.batch_size,
            pad_id=int(target.pad_id),  # type: ignore[arg-type]
            shuffle=True,
            bucket_size=data.bucket_size or None,
            seed=data.seed,
        )
        valid_data = PairBatches(
            *_encode_pairs(valid_pairs, source, target),
            batch_size=data.batch_size,
            pad_id=int(target.pad_id),  # type: ignore[arg-type]
        )
    m = config.model
    seed_everything(config.train.seed)  # the initial weights follow train.seed
    with as_options("model", m):
        model = Seq2Seq(
            src_vocab_size=len(source),
            tgt_vocab_size=len(target),
            embedding_dim=m.embedding_dim,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            cell=m.cell,
            nonlinearity=m.nonlinearity,
            bidirectional=m.bidirectional,
            attention=m.attention,
            dropout=m.dropout,
            teacher_forcing=m.teacher_forcing,
            teacher_forcing_final=m.teacher_forcing_final,
            teacher_forcing_decay=m.teacher_forcing_decay,
            pad_id=int(target.pad_id),  # type: ignore[arg-type]
            sos_id=int(target.sos_id),  # type: ignore[arg-type]
            eos_id=int(target.eos_id),  # type: ignore[arg-type]
        )
    summary = fit_model(
        model, train_data, valid_data, config, run_dir, "seq2seq",
        vocab=vocabs_to_dict(source, target), resume=resume, overwrite=overwrite,
    )
    return summary, model, source, target


# -- using a trained model -------------------------------------------------------------------


def unknown_tokens(vocab: Vocabulary, text: str) -> list[tuple[int, str]]:
    """``(position, token)`` of every token of ``text`` that ``vocab`` does not hold."""
    return [(i, tok) for i, tok in enumerate(vocab.tokenize(text)) if tok not in vocab]


def translate_lines(
    model: Seq2Seq,
    source: Vocabulary,
    target: Vocabulary,
    lines: Sequence[str],
    *,
    beam_size: int = 1,
    alpha: float = 0.0,
    max_length: int = 0,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    batch_size: int = 64,
) -> list[str]:
    """Translate each line (greedy unless ``beam_size > 1`` or ``temperature > 0``).

    Args:
        model, source, target: a trained model and its vocabularies.
        lines: source sentences; unknown tokens become ``<unk>``.
        beam_size, alpha: beam search (see :func:`rnnkit.decoding.beam_search`).
        max_length: most target tokens per line (0: twice the longest source line + 10).
        temperature, top_k, top_p, seed: sampling instead of greedy decoding (beam 1).
        batch_size: lines translated together.

    Returns:
        One translation per line (tokens joined as the target vocabulary joins them).

    Raises:
        ValueError: an empty line.
    """
    encoded = []
    for number, line in enumerate(lines):
        ids = source.encode(source.tokenize(line))
        if not ids:
            raise ValueError(
                f"Argument `lines` holds an empty sentence at position {number}; expected text "
                "to translate."
            )
        encoded.append(ids)
    out: list[str] = []
    pad = source.pad_id or 0
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        width = max(len(ids) for ids in chunk)
        inputs = torch.full((len(chunk), width), pad, dtype=torch.long)
        for row, ids in enumerate(chunk):
            inputs[row, : len(ids)] = torch.tensor(ids)
        lengths = torch.tensor([len(ids) for ids in chunk])
        rows = model.translate(
            inputs,
            lengths,
            max_length=max_length or 2 * width + 10,
            beam_size=beam_size,
            alpha=alpha,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
        )
        out.extend(target.decode(row, skip_specials=True) for row in rows)
    return out


def corpus_bleu(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]], max_n: int = 4
) -> float:
    """Corpus BLEU (Papineni et al. 2002) with one reference per sentence, 0-100.

    ``BLEU = BP · exp(mean_n log p_n)`` with ``p_n`` the clipped n-gram precision summed over
    the corpus (n = 1..max_n) and ``BP = min(1, exp(1 - r / c))`` (``r``, ``c``: reference
    and hypothesis lengths). No smoothing: a corpus without a matching ``max_n``-gram scores 0.

    Raises:
        ValueError: different numbers of hypotheses and references, or ``max_n < 1``.

    >>> ref = "the cat sat on the mat".split()
    >>> corpus_bleu([ref], [ref])
    100.0
    >>> round(corpus_bleu(["the cat sat on a mat".split()], [ref], max_n=2), 2)  # √(5/6 · 3/5)
    70.71
    >>> corpus_bleu([["mat"]], [ref], max_n=1) < 10  # brevity penalty
    True
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"Argument `references` must have one entry per hypothesis ({len(hypotheses)}), got "
            f"{len(references)}."
        )
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"Argument `max_n` must be a positive integer, got {max_n!r}.")
    matches = [0] * max_n
    totals = [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        hyp_len += len(hyp)
        ref_len += len(ref)
        for n in range(1, max_n + 1):
            h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
            r = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(count, r[gram]) for gram, count in h.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / max_n
    brevity = min(0.0, 1.0 - ref_len / hyp_len)
    return 100.0 * math.exp(log_precision + brevity)


# -- command line ----------------------------------------------------------------------------


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit train seq2seq`` options: the run configuration plus --train, --valid, ..."""
    add_common_train_arguments(parser, RunConfig, "pairs")


def train(args: argparse.Namespace) -> int:
    """Run ``rnnkit train seq2seq``."""
    return train_task(
        args, RunConfig, "seq2seq", fit_seq2seq, sort_metrics=True, what="the pairs to train on"
    )


def _add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--beam", type=int, default=1, help="beam size (1 = greedy)")
    parser.add_argument(
        "--alpha", type=float, default=0.0, help="beam search length normalisation (0 = none)"
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=0,
        help="most target tokens per translation (0 = twice the source length + 10)",
    )


def _check_decoding(args: argparse.Namespace) -> tuple[int, float, int]:
    beam = getattr(args, "beam", 1)
    alpha = getattr(args, "alpha", 0.0)
    max_length = getattr(args, "max_length", 0)
    if beam < 1:
        raise ValueError(f"Option `--beam` expects a positive integer, got {beam}.")
    if alpha < 0:
        raise ValueError(f"Option `--alpha` expects a number >= 0, got {alpha}.")
    if max_length < 0:
        raise ValueError(f"Option `--max-length` expects an integer >= 0, got {max_length}.")
    return beam, alpha, max_length


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit predict`` options for a seq2seq run: --beam, --alpha, --max-length."""
    _add_decoding_arguments(parser)


def predict_lines(run: Any, lines: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Translate each input line."""
    beam, alpha, max_length = _check_decoding(args)
    source, target = vocabs_from_run(run)
    translations = translate_lines(
        run.model,
        source,
        target,
        [prepare_source(run, line) for line in lines],
        beam_size=beam,
        alpha=alpha,
        max_length=max_length,
    )
    return [
        {"input": line, "translation": text}
        for line, text in zip(lines, translations, strict=True)
    ]


def predict_tokens(run: Any, lines: list[str]) -> tuple[Vocabulary, list[list[str]]]:
    """The source vocabulary :func:`predict_lines` encodes with, and each line's tokens as it
    sees them (lower-cased if the run was trained so): ``rnnkit predict`` names those that
    become ``<unk>``."""
    source, _ = vocabs_from_run(run)
    return source, [source.tokenize(prepare_source(run, line)) for line in lines]


def format_prediction(prediction: dict[str, Any]) -> str:
    """One line of ``rnnkit predict`` output for a seq2seq run: the translation."""
    return str(prediction["translation"])


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit eval`` options for a seq2seq run: how to decode for BLEU."""
    _add_decoding_arguments(parser)


def evaluate_file(run: Any, path: str, args: argparse.Namespace) -> dict[str, float]:
    """Loss, perplexity, token accuracy (teacher-forced), BLEU and exact-match share."""
    beam, alpha, max_length = _check_decoding(args)
    source, target = vocabs_from_run(run)
    data = run.config.get("run", {}).get("data", {})
    pairs = read_pairs(path, lowercase=bool(data.get("lowercase", False)), name=EVAL_FILE)
    model: Seq2Seq = run.model
    model.eval()
    batches = PairBatches(
        *_encode_pairs(pairs, source, target),
        batch_size=64,
        pad_id=int(target.pad_id),  # type: ignore[arg-type]
    )
    sums = evaluate_batches(model, batches)
    loss_sum = sums["loss"][0]
    correct, tokens = sums["accuracy"]
    translations = translate_lines(
        model,
        source,
        target,
        [s for s, _ in pairs],
        beam_size=beam,
        alpha=alpha,
        max_length=max_length,
    )
    # compared as whitespace-separated words, so spacing differences do not count
    translations = [" ".join(t.split()) for t in translations]
    references = [" ".join(t.split()) for _, t in pairs]
    mean = loss_sum / tokens
    return {
        "loss": mean,
        "perplexity": math.exp(min(mean, 700.0)),
        "accuracy": correct / tokens,
        "bleu": corpus_bleu([h.split() for h in translations], [r.split() for r in references]),
        "exact_match": sum(h == r for h, r in zip(translations, references, strict=True))
        / len(pairs),
        "pairs": float(len(pairs)),
    }


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="rnnkit train seq2seq", description=HELP)
    add_train_arguments(parser)
    sys.exit(train(parser.parse_args()))
