"""CoNLL-U treebanks (Universal Dependencies): words and their part-of-speech tags.

A CoNLL-U file holds sentences separated by blank lines. Each word line has ten TAB-separated
fields ``ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC``; comment lines start with ``#``
(``# sent_id = ...`` and ``# text = ...`` are kept). Multiword-token lines (ID ``1-2``, the
surface form of ``don't``) and empty nodes (ID ``1.1``, enhanced graphs) are skipped, so a
sentence is its syntactic words, the units the tags belong to. A malformed line is reported
with the file and its line number.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rnnkit.data.tables import iter_lines

__all__ = ["TAG_COLUMNS", "Sentence", "iter_conllu", "read_conllu", "tagged"]

#: The tag columns a tagger can learn.
TAG_COLUMNS = ("upos", "xpos")
_WORD_ID = re.compile(r"[1-9][0-9]*")
_RANGE_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*")
_EMPTY_ID = re.compile(r"[0-9]+\.[1-9][0-9]*")


@dataclass
class Sentence:
    """One sentence of a CoNLL-U file.

    Attributes:
        words: the word forms (FORM column), multiword tokens and empty nodes left out.
        upos: universal part-of-speech tags, one per word.
        xpos: language-specific tags, one per word (``_`` where the treebank has none).
        sent_id: the ``# sent_id`` comment, if any.
        text: the ``# text`` comment, if any.
        line: the file line of the sentence's first word.
    """

    words: list[str]
    upos: list[str]
    xpos: list[str]
    sent_id: str | None = None
    text: str | None = None
    line: int = field(default=0, compare=False)

    def __len__(self) -> int:
        return len(self.words)


def iter_conllu(
    path: str | os.PathLike[str], *, name: str = "CoNLL-U file"
) -> Iterator[Sentence]:
    """Yield the sentences of a CoNLL-U file one at a time (bounded memory).

    ``name`` is how messages name the file before its path, e.g.
    ``"Setting `data.train` (--train) file"`` so that a command's error names its option.

    Raises:
        FileNotFoundError: no such file.
        ValueError: empty or binary file, or a bad line: not ten fields, a bad or
            out-of-order ID, an empty FORM or UPOS (the message names file and line).
    """
    path = Path(path)
    where = f"{name} {str(path)!r}"
    words: list[str] = []
    upos: list[str] = []
    xpos: list[str] = []
    meta: dict[str, str] = {}
    first_line = 0
    seen_any = False

    def flush() -> Sentence:
        return Sentence(list(words), list(upos), list(xpos), meta.get("sent_id"),
                        meta.get("text"), first_line)

    for number, raw in iter_lines(path, name=name):
        line = raw.rstrip("\r\n")
        if not line.strip():
            if words:
                yield flush()
            elif meta:
                raise ValueError(
                    f"{where} line {number}: a sentence ends with no word lines "
                    "after its comments."
                )
            words, upos, xpos, meta = [], [], [], {}
            continue
        if line.startswith("#"):
            if words:
                raise ValueError(
                    f"{where} line {number}: a comment inside a sentence; "
                    "expected a blank line between sentences."
                )
            key, sep, value = line[1:].partition("=")
            if sep and key.strip() in ("sent_id", "text"):
                meta[key.strip()] = value.strip()
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise ValueError(
                f"{where} line {number} has {len(fields)} TAB-separated fields; "
                "expected 10 (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC)."
            )
        word_id = fields[0]
        if _RANGE_ID.fullmatch(word_id) or _EMPTY_ID.fullmatch(word_id):
            continue
        if not _WORD_ID.fullmatch(word_id):
            raise ValueError(
                f"{where} line {number} has the ID {word_id!r}; expected an "
                "integer, a range like 1-2 or a decimal like 1.1."
            )
        if int(word_id) != len(words) + 1:
            raise ValueError(
                f"{where} line {number} has the ID {word_id}; expected "
                f"{len(words) + 1} (IDs count up from 1 within a sentence)."
            )
        if not fields[1] or not fields[3]:
            raise ValueError(
                f"{where} line {number} has an empty "
                f"{'FORM' if not fields[1] else 'UPOS'} field."
            )
        if not words:
            first_line = number
        words.append(fields[1])
        upos.append(fields[3])
        xpos.append(fields[4])
        seen_any = True
    if words:
        yield flush()
    if not seen_any:
        raise ValueError(f"{where} holds no word lines; expected sentences.")


def read_conllu(
    path: str | os.PathLike[str], *, name: str = "CoNLL-U file"
) -> list[Sentence]:
    """Read every sentence of a CoNLL-U file.

    Args:
        path: the file (``.gz`` is decompressed).
        name: how messages name the file before its path (see :func:`iter_conllu`).

    Returns:
        The sentences in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: as :func:`iter_conllu`.

    Examples:
        >>> import pathlib, tempfile
        >>> rows = ["# text = Don't go", "1-2\\tDon't\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\t_",
        ...         "1\\tDo\\tdo\\tAUX\\tVBP\\t_\\t3\\taux\\t_\\t_",
        ...         "2\\tn't\\tnot\\tPART\\tRB\\t_\\t3\\tadvmod\\t_\\t_",
        ...         "3\\tgo\\tgo\\tVERB\\tVB\\t_\\t0\\troot\\t_\\t_", ""]
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp) / "tiny.conllu"
        ...     _ = path.write_text("\\n".join(rows))
        ...     [sentence] = read_conllu(path)
        >>> sentence.words, sentence.upos, sentence.text
        (['Do', "n't", 'go'], ['AUX', 'PART', 'VERB'], "Don't go")
    """
    return list(iter_conllu(path, name=name))


def tagged(
    sentences: list[Sentence], tags: str = "upos"
) -> tuple[list[list[str]], list[list[str]]]:
    """Split sentences into word lists and tag lists, for a tagger.

    Args:
        sentences: from :func:`read_conllu`.
        tags: ``"upos"`` or ``"xpos"``.

    Returns:
        ``(words, tags)``: two lists with one list of strings per sentence.

    Raises:
        ValueError: ``tags`` is not a tag column.
    """
    if tags not in TAG_COLUMNS:
        raise ValueError(f"Argument `tags` must be one of {', '.join(TAG_COLUMNS)}; got {tags!r}.")
    return [s.words for s in sentences], [getattr(s, tags) for s in sentences]
