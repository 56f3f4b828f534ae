"""The language-model task: `rnnkit train lm`, and what `demo`, `sample`, `predict` and `eval`
do with a language-model run.

The corpus becomes one token stream; its last ``valid_fraction`` is held out. Training runs
truncated BPTT over contiguous rows (:class:`rnnkit.data.batching.StreamBatches`), the state
carried and detached between chunks by the trainer. Character level keeps every character
(no special tokens); word level splits on whitespace and ends every line with ``<eos>``, with
words below ``min_freq`` or beyond ``max_vocab`` mapped to ``<unk>``.

A corpus larger than memory is encoded once, ``rnnkit data prepare TEXT --out DIR``, and
trained with ``rnnkit train lm --tokens DIR``: the ids are memory-mapped
(:mod:`rnnkit.data.memmap`) and the vocabulary and level are the directory's. ``data
prepare`` builds its vocabulary with ``<pad> <unk> <sos> <eos>`` and at word level ends blank
lines with ``<eos>`` too; prepared with the vocabulary a text run built (``--vocab``), a
directory trains exactly as that text does (at word level, a text without blank lines).

Conditional runs (``--data.conditional true``, the one-to-many shape): the text is a set of
sequences with a category each -- ``category<TAB>text`` lines, or a directory of
``CATEGORY.txt`` files with one sequence per line (``shared/data/names/``: surnames by
language). The category sets the model's initial state; every sequence is learned from
``<sos>`` to ``<eos>`` in padded batches (the category rides in column 0 of the inputs, see
:meth:`rnnkit.models.LanguageModel.forward`), and a shuffled ``valid_fraction`` of the
sequences is held out. Sampling asks for a category and stops at ``<eos>``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import Batch, PaddedBatches, StreamBatches
from rnnkit.data.memmap import open_token_file
from rnnkit.data.tables import iter_lines
from rnnkit.data.text import read_text
from rnnkit.data.vocab import Vocabulary
from rnnkit.models import LanguageModel
from rnnkit.models.language_model import check_adaptive_cutoffs
from rnnkit.tasks.common import (
    add_run_arguments,
    as_options,
    check_open_valid_fraction,
    check_resumed_vocab,
    check_task,
    default_train_config,
    evaluate_batches,
    fit_model,
    train_report,
    train_task,
)
from rnnkit.tasks.common import (
    default_run_dir as default_run_dir,  # re-exported: rnnkit.cli.demo imports it from here
)
from rnnkit.train import TrainSummary, seed_everything

__all__ = [
    "HELP",
    "CategoryBatches",
    "LMData",
    "LMModel",
    "RunConfig",
    "TextStream",
    "encode_corpus",
    "fit_conditional_language_model",
    "fit_language_model",
    "fit_run",
    "fit_token_stream",
    "join_continuation",
    "open_tokens",
    "read_categorised",
    "render_tokens",
    "sample_ids",
    "sample_text",
]

HELP = "language model (char or word level) over a corpus, or conditioned on a category"


@dataclass
class LMData:
    """Where the corpus comes from and how it is cut into batches.

    The corpus is either a text file (``text``), read into memory and encoded, or a directory
    written once by ``rnnkit data prepare TEXT --out DIR`` (``tokens``), memory-mapped: each
    batch reads only its own chunks, so a corpus larger than memory trains in bounded RAM.
    A token directory brings its vocabulary and level (``level`` is set from it; the
    vocabulary options belong to ``rnnkit data prepare``); the last ``valid_fraction`` of its
    tokens is held out, as of a text's.

    Raises:
        ValueError: ``text`` and ``tokens`` both given, or ``tokens`` with ``conditional``,
            ``max_vocab`` or ``min_freq``.
    """

    text: str = ""  # UTF-8 corpus file to train on
    tokens: str = ""  # or a directory from `rnnkit data prepare`, memory-mapped (not with text)
    level: Literal["char", "word"] = "char"  # char: every character a token; word: whitespace
    valid_fraction: float = 0.05  # the last part of the corpus, held out for validation
    batch_size: int = 32  # B: parallel rows of the token stream
    bptt: int = 100  # T: steps per chunk (truncation length of backpropagation through time)
    max_vocab: int = 0  # word level: keep the most frequent words only (0 = keep all)
    min_freq: int = 1  # word level: rarer words become <unk>
    conditional: bool = False  # text = category<TAB>text lines or a dir of CATEGORY.txt files

    def __post_init__(self) -> None:
        if not self.tokens:
            return
        if self.text:
            raise ValueError(
                "Settings `data.text` and `data.tokens` do not combine: train on a text file "
                "or on a prepared token directory, not both."
            )
        if self.conditional:
            raise ValueError(
                "Setting `data.tokens` does not combine with `data.conditional`: a conditional "
                "run reads category<TAB>text sequences from `data.text`."
            )
        if self.max_vocab or self.min_freq != 1:
            raise ValueError(
                "Settings `data.max_vocab` and `data.min_freq` do not apply to `data.tokens`: "
                "the directory's vocabulary was fixed when it was prepared (`rnnkit data "
                "prepare --max-size N --min-freq N`)."
            )


@dataclass
class LMModel:
    """The network: embedding → stacked recurrent layers → linear decoder (or adaptive softmax)."""

    embedding_dim: int = 64  # D: size of each token's embedding
    hidden_size: int = 256  # H: units per recurrent layer
    num_layers: int = 2  # stacked recurrent layers
    cell: Literal["rnn", "lstm", "peephole_lstm", "gru"] = "lstm"  # recurrent cell
    nonlinearity: Literal["tanh", "relu"] = "tanh"  # for cell = rnn
    dropout: float = 0.1  # on embeddings, between layers and before the decoder
    tie_weights: bool = False  # share embedding and decoder weights (embedding_dim == hidden_size)
    adaptive_cutoffs: list[int] = field(default_factory=list)  # adaptive softmax cuts (empty: off)
    adaptive_div_value: float = 4.0  # adaptive softmax: tail cluster k projects to H / div^k

    def __post_init__(self) -> None:
        self.adaptive_cutoffs = check_adaptive_cutoffs(self.adaptive_cutoffs)
        if self.adaptive_cutoffs and self.tie_weights:
            raise ValueError(
                "Settings `model.tie_weights` and `model.adaptive_cutoffs` do not combine: the "
                "adaptive softmax has no matrix shaped like the embedding to share."
            )


def _default_train() -> TrainConfig:
    return default_train_config()


@dataclass
class RunConfig:
    """A language-model run: data, model and training sections."""

    task: str = "lm"  # the task this configuration is for (always lm here)
    out: str = ""  # run directory (default: runs/lm-YYYYmmdd-HHMMSS)
    data: LMData = field(default_factory=LMData)
    model: LMModel = field(default_factory=LMModel)
    train: TrainConfig = field(default_factory=_default_train)

    def __post_init__(self) -> None:
        check_task(self.task, "lm", "a language-model run")
        check_open_valid_fraction(self.data.valid_fraction)


def encode_corpus(text: str, data: LMData) -> tuple[Vocabulary, np.ndarray]:
    """Build the vocabulary of ``text`` and return it with the token stream.

    Raises:
        ValueError: the text is empty, or has fewer than two tokens.
    """
    if not text:
        raise ValueError("The corpus is empty: a language model needs text to learn from.")
    if data.level == "char":
        vocab = Vocabulary.build([text], level="char", specials=())
        tokens: list[str] | str = text
    else:
        lines = [[*line.split(), "<eos>"] for line in text.splitlines() if line.strip()]
        vocab = Vocabulary.build(
            lines,
            level="word",
            specials=("<unk>", "<eos>"),
            max_size=data.max_vocab or None,
            min_freq=data.min_freq,
        )
        tokens = [tok for line in lines for tok in line]
    ids = np.asarray(vocab.encode(tokens), dtype=np.int64)
    if ids.size < 2:
        raise ValueError(f"The corpus has {ids.size} token(s); a language model needs at least 2.")
    return vocab, ids


def _split(ids: np.ndarray, data: LMData) -> tuple[StreamBatches, StreamBatches]:
    n_valid = max(2, int(len(ids) * data.valid_fraction))
    train_ids, valid_ids = ids[:-n_valid], ids[-n_valid:]
    # Each epoch starts at a random offset below bptt, so a row must hold bptt + 1 tokens
    # after the largest offset for one full chunk (StreamBatches(random_offset=True)).
    row = max(0, len(train_ids) - (data.bptt - 1)) // data.batch_size
    if row <= data.bptt:
        raise ValueError(
            f"The corpus is too short for batch_size={data.batch_size} and bptt={data.bptt}: "
            f"{len(train_ids)} training tokens make rows of {row} tokens after the random "
            "start offset, fewer than bptt + 1; use a smaller --data.batch_size or "
            "--data.bptt, or a longer text."
        )
    valid_batch = max(1, min(data.batch_size, len(valid_ids) // 2))
    with as_options("data", data):
        train = StreamBatches(
            train_ids, data.batch_size, data.bptt, seed=0, random_offset=True, drop_last=True
        )
        valid = StreamBatches(valid_ids, valid_batch, data.bptt)
    return train, valid


def read_categorised(path: str | Path) -> list[tuple[str, str]]:
    """``(category, text)`` sequences from a directory of ``CATEGORY.txt`` files (one text per
    non-blank line) or from a file of ``category<TAB>text`` lines.

    Raises:
        FileNotFoundError: no such file or directory.
        ValueError: a directory without ``.txt`` files, a line without a TAB or with an
            empty side (naming the file and line), or no sequence at all.
    """
    root = Path(path)
    records: list[tuple[str, str]] = []
    if root.is_dir():
        files = sorted(root.glob("*.txt"))
        if not files:
            raise ValueError(
                f"Directory {str(root)!r} holds no .txt files; expected one CATEGORY.txt file "
                "per category, one sequence per line."
            )
        for file in files:
            lines = (line.strip() for _, line in iter_lines(file))
            records.extend((file.stem, line) for line in lines if line)
    else:
        for number, line in iter_lines(root):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            category, tab, text = line.partition("\t")
            if not tab or not category.strip() or not text.strip():
                raise ValueError(
                    f"File {str(root)!r} line {number} is not 'category<TAB>text', as a "
                    "conditional language model needs."
                )
            records.append((category.strip(), text.strip()))
    if not records:
        raise ValueError(f"{str(root)!r} holds no sequences to learn from.")
    return records


class CategoryBatches:
    """Padded batches of sequences, each with the category that sets its initial state.

    ``Batch.inputs`` ``[B, 1 + T]`` holds the category ids in column 0 and the padded inputs
    (``<sos> x_1 ... x_n``) after them; ``Batch.targets`` ``[B, T]`` the next tokens
    (``x_1 ... x_n <eos>``, padded with -100); ``Batch.lengths`` the ``T`` of each row. The
    order depends only on ``seed`` and the epoch (the batch-source protocol of
    :mod:`rnnkit.data.batching`).

    Example:
        >>> batches = CategoryBatches([1, 0], [[2, 5, 6], [2, 7]], [[5, 6, 3], [7, 3]],
        ...                           batch_size=2)
        >>> batch = next(iter(batches))
        >>> batch.inputs.tolist(), batch.targets.tolist(), batch.lengths.tolist()
        ([[1, 2, 5, 6], [0, 2, 7, 0]], [[5, 6, 3], [7, 3, -100]], [3, 2])
    """

    def __init__(
        self,
        categories: list[int],
        inputs: list[list[int]],
        targets: list[list[int]],
        *,
        batch_size: int,
        pad_id: int = 0,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        if len(categories) != len(inputs):
            raise ValueError(
                f"Argument `categories` must have one entry per sequence ({len(inputs)}), got "
                f"{len(categories)}."
            )
        self._categories = torch.tensor(categories, dtype=torch.long)
        self._batches = PaddedBatches(
            inputs,
            step_targets=targets,
            batch_size=batch_size,
            pad_id=pad_id,
            shuffle=shuffle,
            seed=seed,
        )

    def __len__(self) -> int:
        return len(self._batches)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration yields."""
        self._batches.set_epoch(epoch)

    def __iter__(self) -> Any:
        return self.iter_from(0)

    def iter_from(self, start: int) -> Any:
        """Yield the current epoch's batches from batch number ``start`` on."""
        for index in self._batches.batch_indices()[start:]:
            batch = self._batches.make_batch(index)
            categories = self._categories[torch.as_tensor(index)][:, None]
            yield Batch(
                inputs=torch.cat([categories, batch.inputs], dim=1),
                targets=batch.targets,
                lengths=batch.lengths,
                row_tokens=batch.row_tokens,
            )


def _category_batches(
    records: list[tuple[str, str]],
    vocab: Vocabulary,
    categories: list[str],
    batch_size: int,
    *,
    shuffle: bool,
    source: str = "",
) -> CategoryBatches:
    index = {name: i for i, name in enumerate(categories)}
    cats, inputs, targets = [], [], []
    for category, text in records:
        if category not in index:
            raise ValueError(
                f"{source or 'The data'} has the category {category!r}, which the model does "
                f"not know; its categories are {categories}."
            )
        ids = vocab.encode(vocab.tokenize(text))
        cats.append(index[category])
        inputs.append([int(vocab.sos_id), *ids])  # type: ignore[arg-type]
        targets.append([*ids, int(vocab.eos_id)])  # type: ignore[arg-type]
    return CategoryBatches(
        cats, inputs, targets, batch_size=batch_size, pad_id=int(vocab.pad_id or 0),
        shuffle=shuffle,
    )


def _language_model(
    m: LMModel, vocab: Vocabulary, categories: Sequence[str] = ()
) -> LanguageModel:
    with as_options("model", m):
        return LanguageModel(
            vocab_size=len(vocab),
            embedding_dim=m.embedding_dim,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            cell=m.cell,
            nonlinearity=m.nonlinearity,
            dropout=m.dropout,
            tie_weights=m.tie_weights,
            categories=categories,
            adaptive_cutoffs=m.adaptive_cutoffs,
            adaptive_div_value=m.adaptive_div_value,
        )


def fit_conditional_language_model(
    config: RunConfig,
    records: list[tuple[str, str]],
    *,
    run_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
) -> tuple[TrainSummary, LanguageModel, Vocabulary]:
    """Train a category-conditioned language model on ``(category, text)`` sequences.

    Returns:
        The training summary, the trained model (eval mode) and the vocabulary.

    Raises:
        ValueError: too few sequences to hold out a validation set, or (resuming) another
            vocabulary than the run's.
    """
    data = config.data
    vocab = Vocabulary.build(
        [text for _, text in records],
        level=data.level,
        max_size=data.max_vocab or None,
        min_freq=data.min_freq,
    )
    check_resumed_vocab(
        run_dir, vocab, resume, given="The sequences given", verb="have", hint="--data.text"
    )
    categories = sorted({category for category, _ in records})
    order = np.random.default_rng(0).permutation(len(records))
    n_valid = max(1, int(len(records) * data.valid_fraction))
    if len(records) - n_valid < 1:
        raise ValueError(
            f"{data.text!r} has {len(records)} sequence(s): too few to hold out a validation set."
        )
    valid = [records[i] for i in order[:n_valid]]
    train = [records[i] for i in order[n_valid:]]
    train_data = _category_batches(train, vocab, categories, data.batch_size, shuffle=True)
    valid_data = _category_batches(valid, vocab, categories, data.batch_size, shuffle=False)
    seed_everything(config.train.seed)  # the initial weights follow train.seed
    model = _language_model(config.model, vocab, categories)
    summary = fit_model(
        model, train_data, valid_data, config, run_dir, "language_model",
        vocab=vocab, resume=resume, overwrite=overwrite,
    )
    return summary, model, vocab


def fit_language_model(
    config: RunConfig,
    text: str,
    *,
    run_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
) -> tuple[TrainSummary, LanguageModel, Vocabulary]:
    """Train a language model on ``text`` as ``config`` says; checkpoints go to ``run_dir``.

    Returns:
        The training summary, the trained model (last state, eval mode) and the vocabulary.
    """
    vocab, ids = encode_corpus(text, config.data)
    return fit_token_stream(
        config, vocab, ids, run_dir=run_dir, resume=resume, overwrite=overwrite
    )


def open_tokens(data: LMData) -> tuple[Vocabulary, np.memmap]:
    """Open the token directory ``data.tokens`` (memory-mapped) and take its level.

    Returns:
        The directory's vocabulary and its token ids, a read-only ``np.memmap``.

    Raises:
        FileNotFoundError, ValueError: no such directory, or not one that ``rnnkit data
            prepare`` wrote (the message names the setting and the directory).
    """
    ids, vocab = open_token_file(data.tokens, name="Setting `data.tokens` (--tokens) directory")
    data.level = vocab.level  # type: ignore[assignment]
    return vocab, ids


def fit_token_stream(
    config: RunConfig,
    vocab: Vocabulary,
    ids: np.ndarray,
    *,
    run_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
) -> tuple[TrainSummary, LanguageModel, Vocabulary]:
    """Train a language model on the token stream ``ids`` of ``vocab`` (an array or the
    ``np.memmap`` of :func:`open_tokens`, which is never read whole); its last
    ``valid_fraction`` is held out.

    Returns:
        As :func:`fit_language_model`.

    Raises:
        ValueError: a stream too short for the batch shape, or (resuming) another vocabulary
            than the run's.
    """
    given, hint = (("The token directory given", "--data.tokens") if config.data.tokens
                   else ("The corpus given", "--data.text"))
    check_resumed_vocab(run_dir, vocab, resume, given=given, hint=hint)
    train_data, valid_data = _split(ids, config.data)
    seed_everything(config.train.seed)  # the initial weights follow train.seed
    model = _language_model(config.model, vocab)
    summary = fit_model(
        model, train_data, valid_data, config, run_dir, "language_model",
        vocab=vocab, resume=resume, overwrite=overwrite,
    )
    return summary, model, vocab


def prime_ids(vocab: Vocabulary, prime: str) -> list[int]:
    """Encode a prompt, refusing characters the vocabulary cannot map.

    Raises:
        ValueError: an empty prompt, or a token outside a vocabulary without ``<unk>`` (the
            message names the token and its position).
    """
    if not prime:
        raise ValueError("Argument `prime` is empty: give at least one character or word.")
    tokens: str | list[str] = prime if vocab.level == "char" else prime.split()
    return vocab.encode(tokens)


def render_tokens(vocab: Vocabulary, ids: list[int]) -> str:
    r"""Text of generated ids: characters joined, or words joined with spaces and each
    ``<eos>`` (the end of a line in a word-level corpus) shown as a line break.

    >>> v = Vocabulary(["<unk>", "<eos>", "a", "b"], level="word", specials=("<unk>", "<eos>"))
    >>> render_tokens(v, [2, 3, 1, 3, 2])
    'a b\nb a'
    """
    if vocab.level == "char":
        return vocab.decode(ids)
    eos = vocab.eos_id
    lines, words = [], []
    for i in ids:
        if i == eos:
            lines.append(" ".join(words))
            words = []
        else:
            words.append(vocab.itos[i])
    return "\n".join([*lines, " ".join(words)])


def sample_ids(
    model: LanguageModel,
    ids: list[int],
    length: int,
    *,
    state: Any = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    beam_size: int = 1,
    alpha: float = 0.0,
    eos_id: int | None = None,
    on_token: Callable[[int], None] | None = None,
) -> list[int]:
    """Continue the prompt ``ids`` from ``state`` by at most ``length`` tokens.

    The prompt runs through the layer in one call; then each token costs one step of
    :meth:`LanguageModel.generation_step` (batch 1, or the ``beam_size`` beams). With
    ``eos_id`` generation stops at that token, which is left out of the result.
    ``on_token`` (sampling only: a beam's tokens are known at its end) gets each token's id
    as it is drawn, ``eos_id`` included.
    """
    from rnnkit.decoding import beam_search, generate

    model.eval()

    def prime_fn(tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        logits, new_state = model.run(tokens, state)
        return logits[:, -1], new_state

    with torch.inference_mode():
        if beam_size > 1:
            out = beam_search(
                model.generation_step(beam_size),
                ids,
                length,
                beam_size=beam_size,
                state=state,
                eos_id=eos_id,
                alpha=alpha,
                prime_fn=prime_fn,
            )
        else:
            out = generate(
                model.generation_step(1),
                ids,
                length,
                state=state,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                seed=seed,
                eos_id=eos_id,
                prime_fn=prime_fn,
                on_token=None if on_token is None else lambda token: on_token(int(token[0])),
            )
    row = out[0].tolist()
    if eos_id is not None and eos_id in row:
        row = row[: row.index(eos_id)]
    return row


def sample_text(
    model: LanguageModel,
    vocab: Vocabulary,
    prime: str,
    length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    beam_size: int = 1,
    alpha: float = 0.0,
    category: str | None = None,
) -> str:
    """Continue ``prime`` by ``length`` tokens and return the generated text (prime excluded).

    A conditional model (trained with categories) needs ``category``: it sets the initial
    state, the prompt may be empty (generation starts at ``<sos>``) and stops at ``<eos>``.

    Raises:
        ValueError: an empty prompt for an unconditional model, a prompt token outside a
            vocabulary without ``<unk>``, or a missing or unknown category.
    """
    state, eos_id = None, None
    if model.config.categories:
        if category is None:
            raise ValueError(
                "Argument `category` is required: this language model was trained with the "
                f"categories {model.config.categories}."
            )
        state = model.initial_state(model.category_ids([category]))
        ids = [int(vocab.sos_id)]  # type: ignore[arg-type]
        if prime:
            ids += prime_ids(vocab, prime)
        eos_id = vocab.eos_id
    else:
        if category is not None:
            raise ValueError(
                f"Argument `category` ({category!r}) needs a language model trained with "
                "categories; this one has none."
            )
        ids = prime_ids(vocab, prime)
    out = sample_ids(
        model,
        ids,
        length,
        state=state,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        beam_size=beam_size,
        alpha=alpha,
        eos_id=eos_id,
    )
    return render_tokens(vocab, out)


# -- command line ---------------------------------------------------------------------------


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit train lm`` options: the run configuration plus --text or --tokens, --resume,
    --overwrite."""
    parser.add_argument("--text", metavar="FILE", help="corpus to train on (= --data.text)")
    parser.add_argument(
        "--tokens", metavar="DIR",
        help="or a token directory from `rnnkit data prepare`, memory-mapped (= --data.tokens)",
    )
    add_run_arguments(parser, RunConfig)


def fit_run(
    config: RunConfig, *, run_dir: Path, resume: bool = False, overwrite: bool = False
) -> tuple[TrainSummary, LanguageModel, Vocabulary]:
    """Train on the data ``config.data`` names: ``category<TAB>text`` sequences when
    ``conditional``, else the token directory ``tokens`` or the corpus file ``text``.

    Returns:
        As :func:`fit_language_model`.

    Raises:
        FileNotFoundError, ValueError: the data cannot be read (the message names the
            setting), before anything is written.
    """
    data = config.data
    common: dict[str, Any] = {"run_dir": run_dir, "resume": resume, "overwrite": overwrite}
    if data.conditional:
        return fit_conditional_language_model(config, read_categorised(data.text), **common)
    if data.tokens:
        vocab, ids = open_tokens(data)
        return fit_token_stream(config, vocab, ids, **common)
    if Path(data.text).is_dir():
        prepared = (Path(data.text) / "meta.json").is_file()
        raise ValueError(
            f"Setting `data.text` (--text) expects a text file, got the directory "
            f"{data.text!r}" + ("; to train on its prepared tokens give it as --tokens DIR."
                                if prepared else ".")
        )
    text = read_text(data.text, name="Setting `data.text` (--text) file")
    return fit_language_model(config, text, **common)


def train(args: argparse.Namespace) -> int:
    """Run ``rnnkit train lm``."""
    return train_task(
        args, RunConfig, "lm", fit_run, report=_summary_line, kind="language-model",
        files={"text": "text", "tokens": "tokens"}, required={"text": "FILE", "tokens": "DIR"},
        what="the corpus to train on",
    )


def _summary_line(summary: TrainSummary, run_dir: Path) -> str:
    val = summary.best_metric
    val_text = (
        ""
        if val is None
        else f", best validation loss {val:.4f} ({val / math.log(2):.3f} bits/token)"
    )
    return train_report(summary, run_dir, val_text)


def _evaluate_conditional(run: Any, path: str) -> tuple[float, float]:
    model, vocab = run.model, run.vocab
    records = read_categorised(path)
    batches = _category_batches(
        records, vocab, list(model.config.categories), 64, shuffle=False, source=repr(path)
    )
    return evaluate_batches(model, batches, metrics=False)["loss"]


def _scores(total: float, count: float) -> dict[str, float]:
    mean = total / count
    return {
        "loss": mean,
        "perplexity": math.exp(mean),
        "bits_per_token": mean / math.log(2),
        "tokens": float(count),
    }


def evaluate_file(run: Any, path: str, args: argparse.Namespace) -> dict[str, float]:
    """Loss, perplexity and bits per token of the run's model on a text file (for a
    conditional run: on ``category<TAB>text`` lines or a directory of ``CATEGORY.txt``)."""
    if run.model.config.categories:
        return _scores(*_evaluate_conditional(run, path))
    text = read_text(path, name="Argument `DATA` file")
    vocab = run.vocab
    tokens: str | list[str] = text
    if vocab.level == "word":
        tokens = [
            tok for line in text.splitlines() if line.strip() for tok in [*line.split(), "<eos>"]
        ]
    ids = np.asarray(vocab.encode(tokens), dtype=np.int64)
    if ids.size < 2:
        raise ValueError(f"File {path!r} has fewer than 2 tokens to evaluate.")
    bptt = int(run.config.get("run", {}).get("data", {}).get("bptt", 100))
    batches = StreamBatches(ids, 1, bptt)
    total, count, state = 0.0, 0, None
    with torch.inference_mode():
        for batch in batches:
            _, loss, state = run.model.forward_stream(batch.inputs, state, batch.targets)
            total += float(loss) * batch.num_tokens
            count += batch.num_tokens
    return _scores(total, count)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit eval`` needs nothing more for a language model."""


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit predict`` options for a language model: how long a continuation to write."""
    parser.add_argument("--length", type=int, default=100, help="tokens to generate per input")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--seed", type=int, default=0)


def predict_lines(run: Any, lines: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Continue each input line (greedy unless --temperature is given).

    For a conditional run each line is ``CATEGORY`` or ``CATEGORY<TAB>PRIME``: a sequence of
    that category is generated (after the prime), up to ``<eos>``.
    """
    length = getattr(args, "length", 100)
    temperature = getattr(args, "temperature", 0.0)
    seed = getattr(args, "seed", 0)
    level = run.vocab.level
    if run.model.config.categories:
        out = []
        for line in lines:
            category, _, prime = line.partition("\t")
            text = sample_text(
                run.model, run.vocab, prime, length, temperature=temperature, seed=seed,
                category=category.strip(),
            )
            out.append(
                {"input": line, "category": category.strip(), "prime": prime,
                 "continuation": text, "text": join_continuation(level, prime, text)}
            )
        return out
    out = []
    for line in lines:
        text = sample_text(run.model, run.vocab, line, length, temperature=temperature, seed=seed)
        out.append({"input": line, "continuation": text,
                    "text": join_continuation(level, line, text)})
    return out


def predict_tokens(run: Any, lines: list[str]) -> tuple[Vocabulary, list[list[str]]]:
    """The vocabulary :func:`predict_lines` encodes prompts with, and each line's prompt
    tokens (after the TAB of a conditional run's line): ``rnnkit predict`` names those that
    become ``<unk>``."""
    if run.model.config.categories:
        lines = [line.partition("\t")[2] for line in lines]
    return run.vocab, [run.vocab.tokenize(line) for line in lines]


class TextStream:
    r"""Writes a prompt and then its continuation token by token, exactly as
    ``join_continuation(level, prime, render_tokens(vocab, ids))`` shows them all at once:
    ``rnnkit sample`` prints text while it is generated instead of after the last token.

    Example:
        >>> v = Vocabulary(["<unk>", "<eos>", "a", "b"], level="word",
        ...                specials=("<unk>", "<eos>"))
        >>> pieces = []
        >>> stream = TextStream(v, "b", pieces.append)
        >>> for i in [2, 3, 1, 3]:
        ...     stream(i)
        >>> "".join(pieces) == join_continuation("word", "b", render_tokens(v, [2, 3, 1, 3]))
        True
        >>> pieces
        ['b', ' a', ' b', '\n', 'b']
    """

    def __init__(self, vocab: Vocabulary, prime: str, write: Callable[[str], object]) -> None:
        self.vocab, self.prime, self.write = vocab, prime, write
        self.first = True  # no token written yet
        self.line_started = False  # a word has been written on the current line
        if prime:
            write(prime)

    def __call__(self, token: int) -> None:
        """Write the text of one more generated token."""
        vocab = self.vocab
        if vocab.level == "char":
            self.write(vocab.decode([token]))
            return
        if token == vocab.eos_id:
            self.write("\n")
            self.line_started, self.first = False, False
            return
        # join_continuation's space between a word prompt and a word continuation
        joined = self.first and bool(self.prime) and not self.prime[-1].isspace()
        space = " " if self.line_started or joined else ""
        self.write(space + vocab.itos[token])
        self.line_started, self.first = True, False


def join_continuation(level: str, prime: str, text: str) -> str:
    r"""The prompt followed by its continuation, joined as the vocabulary level joins tokens.

    Characters follow each other directly; words are separated by one space, except where
    the prompt already ends or the continuation already starts with whitespace (a line
    break, for instance).

    Args:
        level: the vocabulary's level, ``"char"`` or ``"word"``.
        prime: the prompt as given.
        text: the generated continuation.

    Example:
        >>> join_continuation("word", "the zebra", "sat down")
        'the zebra sat down'
        >>> join_continuation("char", "the zeb", "ra sat")
        'the zebra sat'
        >>> join_continuation("word", "the zebra", "\nit sat")
        'the zebra\nit sat'
    """
    if level == "char" or not prime or not text or prime[-1].isspace() or text[0].isspace():
        return prime + text
    return f"{prime} {text}"


def format_prediction(prediction: dict[str, Any]) -> str:
    """One line of ``rnnkit predict`` output for a language model: the prompt and its
    continuation (after the category, TAB-separated, for a conditional run)."""
    if "category" in prediction:
        return f"{prediction['category']}\t{prediction['text']}"
    return prediction["text"]


def summary_json(summary: TrainSummary) -> str:
    """The summary as one JSON line."""
    return json.dumps(summary.to_dict())


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="rnnkit train lm", description=HELP)
    add_train_arguments(parser)
    sys.exit(train(parser.parse_args()))
