"""Character and word vocabularies: tokens to ids and back, with special tokens.

Ids are stable: the special tokens come first in the order given, then the tokens by
descending frequency, ties broken by first appearance. Building twice from the same texts
gives the same ids, and a vocabulary saved to JSON loads back identical.

Examples:
    >>> vocab = Vocabulary.build(["hello"], level="char")
    >>> vocab.itos
    ['<pad>', '<unk>', '<sos>', '<eos>', 'l', 'h', 'e', 'o']
    >>> vocab.encode("hole")
    [5, 7, 4, 6]
    >>> vocab.decode([5, 6, 4, 4, 7])
    'hello'
    >>> vocab.encode("hex")  # 'x' was never seen: it becomes <unk>
    [5, 6, 1]
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_SPECIALS", "LEVELS", "VOCAB_FORMAT", "VOCAB_FORMAT_VERSION", "Vocabulary"]

#: The special tokens every rnnkit vocabulary has unless told otherwise, in id order.
DEFAULT_SPECIALS = ("<pad>", "<unk>", "<sos>", "<eos>")
#: Tokenisation levels: ``char`` (every character is a token) and ``word`` (whitespace split).
LEVELS = ("char", "word")
#: The ``format`` field of a saved vocabulary.
VOCAB_FORMAT = "rnnkit.vocabulary"
#: The ``version`` field of a saved vocabulary; loading another version is refused.
VOCAB_FORMAT_VERSION = 1


def _check_level(level: object) -> str:
    if level not in LEVELS:
        raise ValueError(f"Argument `level` must be one of {', '.join(LEVELS)}; got {level!r}.")
    return str(level)


def _check_build_options(
    specials: Sequence[str], max_size: int | None, min_freq: int
) -> tuple[str, ...]:
    specials = tuple(specials)
    if max_size is not None and (
        isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < len(specials)
    ):
        raise ValueError(
            "Argument `max_size` must be None or an integer of at least the number of "
            f"specials ({len(specials)}); got {max_size!r}."
        )
    if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
        raise ValueError(f"Argument `min_freq` must be an integer >= 1; got {min_freq!r}.")
    return specials


class Vocabulary:
    """A bijection between tokens (characters or words) and integer ids.

    Build one with :meth:`Vocabulary.build`; construct directly from a list of tokens (the
    ``itos`` table) when the ids are already fixed.

    Args:
        itos: the tokens in id order; the specials must be its first entries.
        level: ``"char"`` or ``"word"``: how :meth:`encode` splits a string and how
            :meth:`decode` joins tokens.
        specials: the special tokens, which must equal ``itos[:len(specials)]``.

    Raises:
        ValueError: ``level`` unknown, a token repeated or not a non-empty string, or
            ``itos`` not starting with ``specials``.
        TypeError: ``itos`` or ``specials`` not sequences of strings.

    Examples:
        >>> vocab = Vocabulary(["<pad>", "<unk>", "the", "cat"], level="word",
        ...                    specials=("<pad>", "<unk>"))
        >>> vocab.encode("the cat sat")
        [2, 3, 1]
        >>> vocab.decode([2, 3]), len(vocab), "cat" in vocab, vocab.eos_id is None
        ('the cat', 4, True, True)
    """

    def __init__(
        self,
        itos: Sequence[str],
        level: str = "char",
        specials: Sequence[str] = DEFAULT_SPECIALS,
    ) -> None:
        self._level = _check_level(level)
        if isinstance(itos, str) or not isinstance(itos, Sequence):
            raise TypeError(
                f"Argument `itos` must be a list of token strings; got {type(itos).__name__}."
            )
        if isinstance(specials, str) or not isinstance(specials, Sequence):
            raise TypeError(
                "Argument `specials` must be a sequence of token strings; "
                f"got {type(specials).__name__}."
            )
        for name, seq in (("itos", itos), ("specials", specials)):
            for position, token in enumerate(seq):
                if not isinstance(token, str) or not token:
                    raise ValueError(
                        f"Argument `{name}` must hold non-empty strings; got {token!r} at "
                        f"position {position}."
                    )
        if list(itos[: len(specials)]) != list(specials):
            raise ValueError(
                f"Argument `itos` must start with the specials {list(specials)}; got "
                f"{list(itos[: len(specials)])}."
            )
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {}
        for index, token in enumerate(self.itos):
            if token in self.stoi:
                raise ValueError(
                    f"Argument `itos` must not repeat a token; {token!r} is at positions "
                    f"{self.stoi[token]} and {index}."
                )
            self.stoi[token] = index
        self.specials: tuple[str, ...] = tuple(specials)

    # ----------------------------------------------------------------------------- building
    @classmethod
    def build(
        cls,
        texts: Iterable[str] | Iterable[list[str]],
        level: str = "char",
        specials: Sequence[str] = DEFAULT_SPECIALS,
        max_size: int | None = None,
        min_freq: int = 1,
    ) -> Vocabulary:
        """Count the tokens of ``texts`` and build a vocabulary with stable ids.

        Args:
            texts: strings, or lists of tokens already split. A single string counts as one
                text. At ``char`` level a string yields its characters (newlines included);
                at ``word`` level it is split on whitespace. A list of tokens is taken as is.
            level: ``"char"`` or ``"word"``.
            specials: special tokens placed first, in this order (pass ``()`` for none).
            max_size: the largest vocabulary size, specials included; the rarest tokens are
                dropped (``None``: keep all).
            min_freq: tokens seen fewer times are dropped.

        Returns:
            The vocabulary: specials, then tokens by descending count, ties by first
            appearance.

        Raises:
            ValueError: ``level`` unknown, ``max_size`` smaller than the number of specials,
                ``min_freq`` below 1, or a token that is not a non-empty string.
            TypeError: ``texts`` holds something other than strings or lists of strings.

        Examples:
            >>> v = Vocabulary.build(["a b b", ["c", "b", "a"]], level="word", specials=["<unk>"])
            >>> v.itos
            ['<unk>', 'b', 'a', 'c']
            >>> Vocabulary.build(["aabbbc"], specials=(), max_size=2).itos
            ['b', 'a']
        """
        level = _check_level(level)
        _check_build_options(specials, max_size, min_freq)
        if isinstance(texts, str):
            texts = [texts]
        counts: Counter[str] = Counter()
        for index, text in enumerate(texts):
            if isinstance(text, str):
                counts.update(text if level == "char" else text.split())
            elif isinstance(text, (list, tuple)):
                for token in text:
                    if not isinstance(token, str) or not token:
                        raise TypeError(
                            "Argument `texts` must hold strings or lists of non-empty strings; "
                            f"text {index} holds {token!r}."
                        )
                counts.update(text)
            else:
                raise TypeError(
                    "Argument `texts` must hold strings or lists of strings; "
                    f"text {index} is a {type(text).__name__}."
                )
        return cls.from_counts(
            counts, level=level, specials=specials, max_size=max_size, min_freq=min_freq
        )

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        level: str = "char",
        specials: Sequence[str] = DEFAULT_SPECIALS,
        max_size: int | None = None,
        min_freq: int = 1,
    ) -> Vocabulary:
        """Build a vocabulary from token counts (what :meth:`build` does after counting).

        Args:
            counts: token -> count, iterated in first-appearance order (a ``Counter`` filled
                as the text is read); ties in count keep this order.
            level, specials, max_size, min_freq: as in :meth:`build`.

        Returns:
            The vocabulary.

        Raises:
            ValueError: as :meth:`build`.

        Examples:
            >>> Vocabulary.from_counts({"x": 1, "y": 3, "z": 1}, specials=("<unk>",)).itos
            ['<unk>', 'y', 'x', 'z']
        """
        level = _check_level(level)
        specials = _check_build_options(specials, max_size, min_freq)
        # Counter keeps first-appearance order and sorted() is stable: ties stay in that order.
        ranked = sorted(
            (item for item in counts.items() if item[1] >= min_freq and item[0] not in specials),
            key=lambda item: -item[1],
        )
        tokens = [token for token, _ in ranked]
        if max_size is not None:
            tokens = tokens[: max_size - len(specials)]
        return cls([*specials, *tokens], level=level, specials=specials)

    # ------------------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return (self.itos, self.level, self.specials) == (other.itos, other.level, other.specials)

    def __hash__(self) -> int:
        return hash((tuple(self.itos), self.level, self.specials))

    def __repr__(self) -> str:
        return f"Vocabulary(level={self.level!r}, size={len(self)}, specials={list(self.specials)})"

    @property
    def level(self) -> str:
        """``"char"`` or ``"word"``."""
        return self._level

    def _special_id(self, token: str) -> int | None:
        return self.stoi[token] if token in self.specials else None

    @property
    def pad_id(self) -> int | None:
        """Id of ``<pad>``, or ``None`` when the vocabulary has no such special."""
        return self._special_id("<pad>")

    @property
    def unk_id(self) -> int | None:
        """Id of ``<unk>``, or ``None`` when the vocabulary has no such special."""
        return self._special_id("<unk>")

    @property
    def sos_id(self) -> int | None:
        """Id of ``<sos>``, or ``None`` when the vocabulary has no such special."""
        return self._special_id("<sos>")

    @property
    def eos_id(self) -> int | None:
        """Id of ``<eos>``, or ``None`` when the vocabulary has no such special."""
        return self._special_id("<eos>")

    def tokenize(self, text: str | Sequence[str]) -> list[str]:
        """Split ``text`` the way :meth:`encode` does: characters or whitespace-split words.

        A list of tokens is returned unchanged (as a list).
        """
        if isinstance(text, str):
            return list(text) if self.level == "char" else text.split()
        if isinstance(text, Sequence):
            return list(text)
        raise TypeError(
            f"Argument `text` must be a string or a list of tokens; got {type(text).__name__}."
        )

    def encode(
        self, text: str | Sequence[str], *, add_sos: bool = False, add_eos: bool = False
    ) -> list[int]:
        """Map a string (or a list of tokens) to ids.

        Args:
            text: a string, split by :meth:`tokenize`, or a list of tokens.
            add_sos: prepend the ``<sos>`` id.
            add_eos: append the ``<eos>`` id.

        Returns:
            The ids; unknown tokens become the ``<unk>`` id.

        Raises:
            ValueError: a token is unknown and the vocabulary has no ``<unk>`` (the message
                names the token and its position), or ``add_sos``/``add_eos`` is asked of a
                vocabulary without that special.

        Examples:
            >>> v = Vocabulary.build("abc", specials=("<sos>", "<eos>"))
            >>> v.encode("cab", add_sos=True, add_eos=True)
            [0, 4, 2, 3, 1]
            >>> v.encode("abz")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            ValueError: Argument `text` holds the token 'z' at position 2, which is not in ...
        """
        stoi = self.stoi
        tokens = self.tokenize(text)
        unk = self.unk_id
        if unk is not None:
            ids = [stoi.get(token, unk) for token in tokens]
        else:
            try:
                ids = [stoi[token] for token in tokens]
            except KeyError:
                position = next(i for i, token in enumerate(tokens) if token not in stoi)
                raise ValueError(
                    f"Argument `text` holds the token {tokens[position]!r} at position "
                    f"{position}, which is not in the vocabulary and the vocabulary has no "
                    "<unk> token."
                ) from None
        for flag, name, token_id in (
            (add_sos, "add_sos", self.sos_id),
            (add_eos, "add_eos", self.eos_id),
        ):
            if flag and token_id is None:
                raise ValueError(
                    f"Argument `{name}` needs a vocabulary with a "
                    f"{'<sos>' if name == 'add_sos' else '<eos>'} token; this one has the "
                    f"specials {list(self.specials)}."
                )
        if add_sos:
            ids.insert(0, int(self.sos_id))  # type: ignore[arg-type]
        if add_eos:
            ids.append(int(self.eos_id))  # type: ignore[arg-type]
        return ids

    def decode(self, ids: Iterable[int], *, skip_specials: bool = False) -> str:
        """Map ids back to a string: characters joined directly, words joined with spaces.

        Args:
            ids: token ids (ints, or a 1-D tensor or array of integers).
            skip_specials: leave out the special tokens (padding, ``<sos>``, ...).

        Returns:
            The text.

        Raises:
            ValueError: an id outside ``[0, len(vocab))``.

        Examples:
            >>> v = Vocabulary.build(["the cat"], level="word")
            >>> v.decode([2, 4, 5, 3])
            '<sos> the cat <eos>'
            >>> v.decode([2, 4, 5, 3, 0, 0], skip_specials=True)
            'the cat'
        """
        if hasattr(ids, "tolist"):
            ids = ids.tolist()  # a tensor or an array
        size = len(self.itos)
        tokens = []
        for position, token_id in enumerate(ids):
            if isinstance(token_id, bool) or not isinstance(token_id, int):
                raise ValueError(
                    f"Argument `ids` must hold integers; got {token_id!r} at position {position}."
                )
            if not 0 <= token_id < size:
                raise ValueError(
                    f"Argument `ids` holds {token_id} at position {position}, outside the "
                    f"vocabulary's range [0, {size})."
                )
            if skip_specials and token_id < len(self.specials):
                continue
            tokens.append(self.itos[token_id])
        return ("" if self.level == "char" else " ").join(tokens)

    # ----------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description (format, version, level, specials, tokens)."""
        return {
            "format": VOCAB_FORMAT,
            "version": VOCAB_FORMAT_VERSION,
            "level": self.level,
            "specials": list(self.specials),
            "itos": list(self.itos),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Vocabulary:
        """Rebuild a vocabulary from :meth:`to_dict`'s output, checking every field.

        Raises:
            ValueError: not an rnnkit vocabulary, another format version, or a bad field.
            TypeError: ``data`` is not a dict.

        Examples:
            >>> v = Vocabulary.build(["abc"])
            >>> Vocabulary.from_dict(v.to_dict()) == v
            True
        """
        if not isinstance(data, dict):
            raise TypeError(
                "Argument `data` must be a dict from Vocabulary.to_dict; got "
                f"{type(data).__name__}."
            )
        if data.get("format") != VOCAB_FORMAT:
            raise ValueError(
                f"Argument `data` must have format {VOCAB_FORMAT!r}; got {data.get('format')!r}."
            )
        if data.get("version") != VOCAB_FORMAT_VERSION:
            raise ValueError(
                f"Argument `data` must have version {VOCAB_FORMAT_VERSION} (this rnnkit reads "
                f"only that); got {data.get('version')!r}."
            )
        unknown = sorted(set(data) - {"format", "version", "level", "specials", "itos"})
        if unknown:
            raise ValueError(f"Argument `data` has unknown keys {unknown}.")
        for key in ("itos", "specials"):
            if not isinstance(data.get(key), list):
                raise ValueError(
                    f"Argument `data` must have a list under {key!r}; got "
                    f"{type(data.get(key)).__name__}."
                )
        return cls(data["itos"], level=data.get("level"), specials=data["specials"])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary as JSON (UTF-8) to ``path``, through a temporary file."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), "utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`, validating it.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is not valid JSON or not an rnnkit vocabulary (the message
                names the file).
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(
                f"Vocabulary file {str(path)!r} is not valid UTF-8 JSON: {err}."
            ) from None
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"Vocabulary file {str(path)!r} is not a valid vocabulary: {err}"
            ) from None
