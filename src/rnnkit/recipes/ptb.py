"""Reading the Penn Treebank language-modelling files (Mikolov's preprocessing).

``ptb.{train,valid,test}.txt`` hold one sentence per line, words separated by spaces, rare
words already replaced by ``<unk>`` and numbers by ``N`` (10,000 word types).
``ptb.char.{train,valid,test}.txt`` are the same sentences as characters, each followed by a
space, with ``_`` between words (49 symbols). Both are read the way the published models read
them (Zaremba et al. 2014; AWD-LSTM's ``data.py``): the tokens of each line, then ``<eos>``,
one stream per split, the vocabulary from the training split.

Example:
    >>> vocab, splits = read_ptb({"train": "a b\\nb", "valid": "b a", "test": "a"})
    >>> vocab.itos, splits["train"].tolist(), splits["valid"].tolist()
    (['<unk>', '<eos>', 'b', 'a'], [3, 2, 1, 2, 1], [2, 3, 1])
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rnnkit.data.text import read_text
from rnnkit.data.vocab import Vocabulary
from rnnkit.recipes.common import RecipeContext, resolve_data

__all__ = ["SPLITS", "load_ptb", "read_ptb"]

SPLITS = ("train", "valid", "test")


def _lines(text: str) -> list[list[str]]:
    return [[*line.split(), "<eos>"] for line in text.splitlines() if line.strip()]


def read_ptb(texts: Mapping[str, str]) -> tuple[Vocabulary, dict[str, np.ndarray]]:
    """The vocabulary of ``texts["train"]`` and every split as a stream of ids.

    Raises:
        ValueError: a split without text, or a token of valid/test absent from train (the
            files of one preprocessing share one vocabulary; a mismatch means mixed files).
    """
    lines = {}
    for split in SPLITS:
        lines[split] = _lines(texts.get(split, ""))
        if not lines[split]:
            raise ValueError(f"The PTB {split} split holds no text.")
    vocab = Vocabulary.build(lines["train"], level="word", specials=("<unk>", "<eos>"))
    known = set(vocab.itos)
    splits = {}
    for split in SPLITS:
        tokens = [t for line in lines[split] for t in line]
        unknown = sorted({t for t in tokens if t not in known})
        if unknown:
            raise ValueError(
                f"The PTB {split} split has {len(unknown)} token(s) the training split lacks "
                f"(first: {unknown[:3]}); are the files from one preprocessing?"
            )
        splits[split] = np.asarray(vocab.encode(tokens), dtype=np.int64)
    return vocab, splits


def load_ptb(ctx: RecipeContext, char: bool) -> tuple[Vocabulary, dict[str, np.ndarray]]:
    """Read the three files of word-level (``char=False``) or character-level PTB from
    ``--data`` (the folder holding them) or the named dataset."""
    dataset, stem = ("ptb-char", "ptb.char") if char else ("ptb", "ptb")
    texts = {split: read_text(resolve_data(ctx, dataset, f"{stem}.{split}.txt"))
             for split in SPLITS}
    return read_ptb(texts)
