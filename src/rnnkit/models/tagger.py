"""Many-to-many aligned tagging: one label per input step (part-of-speech tags, per-position
labels).

Each step's output of a (by default bidirectional) recurrent layer is mapped to tag scores::

    e_t      = E[x_t]   (token input)   or   x_t   (feature input)
    o_t      = [→h_t ; ←h_t] = BiRNN(dropout(e))_t                      [B, T, 2H]
    logits_t = W dropout(o_t) + b                                       [B, T, C]
    loss     = mean over counted steps of  -log softmax(logits_t)[y_t]

Character features (``char_features="lstm"`` or ``"cnn"``) give every word a second vector
computed from its characters ``c_1 .. c_n``, so that a word never seen in training (``<unk>``)
is still told apart by its shape, prefix and suffix ("-ly", "-ing", a capital, digits)::

    lstm:  q_w = [→g_n ; ←g_1],   g = BiLSTM(C[c_1] .. C[c_n])                 [2 H_c]
    cnn:   q_w = max_j relu(K * [C[c_{j-1}]; C[c_j]; C[c_{j+1}]] + k)           [H_c]
    e_t    = [E[w_t] ; q_{w_t}]

The input of such a tagger is then ``[B, T, 1 + W]`` integers: ``inputs[..., 0]`` the word ids,
``inputs[..., 1:]`` the character ids of each word (0 = ``<pad>`` after its last character;
:meth:`SequenceTagger.encode_words` builds these rows). The character vocabulary is part of
the model's configuration, so a checkpoint encodes new words exactly as in training.

A step counts when it lies inside its sequence (``t < lengths[b]``) and its target is not
``ignore_index`` (-100, the padding :class:`rnnkit.data.batching.PaddedBatches` uses), so
padding changes neither the loss nor the accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.models.heads import (
    RecurrentHead,
    _check_class_targets,
    _check_dropout,
    _check_labels,
    _check_options,
    _check_positive,
    _embed,
    _make_input,
    check_lengths,
    recurrent_layer,
    run_layer,
    step_mask,
)

__all__ = ["CHAR_FEATURES", "CHAR_SPECIALS", "SequenceTagger", "SequenceTaggerConfig",
           "word_char_ids"]

#: The kinds of character-level word features a tagger can add to its word embeddings.
CHAR_FEATURES = ("none", "lstm", "cnn")
#: The first entries of every character vocabulary: padding (id 0) and unknown (id 1).
CHAR_SPECIALS = ("<pad>", "<unk>")


def word_char_ids(word: str, char_ids: Mapping[str, int], max_word_length: int) -> list[int]:
    """The character ids of ``word``, padded with 0 to ``max_word_length``.

    A longer word keeps its first ``ceil(m / 2)`` and last ``floor(m / 2)`` characters
    (``m = max_word_length``): prefixes and suffixes are what tells a tag. Characters missing
    from ``char_ids`` become 1 (``<unk>``).

    Args:
        word: the word form.
        char_ids: character -> id (ids 0 and 1 are ``<pad>`` and ``<unk>``).
        max_word_length: ``W``, the length of the returned list.

    Returns:
        ``W`` ints.

    Raises:
        ValueError: an empty ``word`` or a ``max_word_length`` below 2.

    Example:
        >>> ids = {c: i + 2 for i, c in enumerate("abcdef")}
        >>> word_char_ids("cab", ids, 5), word_char_ids("abcdefx", ids, 4)
        ([4, 2, 3, 0, 0], [2, 3, 7, 1])
    """
    if not isinstance(word, str) or not word:
        raise ValueError(f"Argument `word` must be a non-empty string, got {word!r}.")
    if isinstance(max_word_length, bool) or not isinstance(max_word_length, int) or (
        max_word_length < 2
    ):
        raise ValueError(
            f"Argument `max_word_length` must be an integer >= 2, got {max_word_length!r}."
        )
    if len(word) > max_word_length:
        head = (max_word_length + 1) // 2
        word = word[:head] + word[len(word) - (max_word_length - head):]
    ids = [char_ids.get(c, 1) for c in word]
    return ids + [0] * (max_word_length - len(ids))


@dataclass
class SequenceTaggerConfig:
    """Constructor arguments of :class:`SequenceTagger` (saved in ``config.json``)."""

    num_tags: int  # C, number of tags
    vocab_size: int | None = None  # V for token input (exactly one of vocab_size, input_size)
    input_size: int | None = None  # I for numeric feature input [B, T, I]
    embedding_dim: int = 64  # D, size of each token's embedding (token input only)
    hidden_size: int = 128  # H, units per layer and direction
    num_layers: int = 1  # stacked recurrent layers
    cell: str = "lstm"  # rnn | lstm | peephole_lstm | gru
    bidirectional: bool = True  # read the sequence in both directions
    dropout: float = 0.0  # on embeddings, between layers and before the output layer
    pad_id: int = 0  # the padding token id (its embedding stays zero)
    ignore_index: int = -100  # target id that never counts (padding)
    freeze_embedding: bool = False  # keep the embedding fixed (e.g. pre-trained vectors)
    labels: list[str] | None = None  # tag names, in tag-id order
    options: dict[str, Any] = field(default_factory=dict)  # further layer options
    char_features: str = "none"  # none | lstm | cnn: a vector per word from its characters
    char_vocab: list[str] | None = None  # characters in id order, from <pad> <unk> (char input)
    char_embedding_dim: int = 32  # size of each character's embedding
    char_hidden_size: int = 64  # character BiLSTM units per direction, or CNN filters
    max_word_length: int = 20  # W: characters kept per word by encode_words (prefix + suffix)


class SequenceTagger(RecurrentHead, nn.Module):
    """Tag every step of a sequence: ``[B, T]`` tokens (or ``[B, T, I]`` features) → ``[B, T]``
    tags.

    Args:
        num_tags: ``C``.
        vocab_size: ``V``: token-id input. ``input_size``: ``I``: feature input. Exactly one.
        embedding_dim: ``D``.
        hidden_size: ``H`` per direction.
        num_layers: stacked recurrent layers.
        cell: ``rnn``, ``lstm``, ``peephole_lstm`` or ``gru``.
        bidirectional: both directions (default ``True``: a tag depends on both sides).
        dropout: on embeddings, between layers and before the output layer.
        pad_id: padding token id.
        ignore_index: target id the loss and accuracy skip.
        freeze_embedding: do not train the embedding.
        labels: optional tag names (length ``C``), kept in the checkpoint.
        options: further layer options (``forget_bias``, ``learn_initial_state``...).
        char_features: ``"none"`` (default), ``"lstm"`` (a character BiLSTM, its two final
            states) or ``"cnn"`` (a character convolution of width 3, max-pooled); token input
            only. The word's vector is concatenated with its embedding.
        char_vocab: the characters in id order, starting with ``<pad>`` and ``<unk>``
            (required with ``char_features``).
        char_embedding_dim: size of each character's embedding.
        char_hidden_size: ``H_c``: BiLSTM units per direction (a ``2 H_c`` word vector) or
            CNN filters (an ``H_c`` word vector).
        max_word_length: ``W``, characters per word that :meth:`encode_words` keeps.

    Shape:
        inputs ``[B, T]`` (``[B, T, 1 + W]`` with ``char_features``) or ``[B, T, I]``,
        targets ``[B, T]``, lengths ``[B]`` → logits ``[B, T, C]``, loss scalar or ``None``.

    Raises:
        ValueError: a bad size or cell, both or neither of ``vocab_size``/``input_size``,
            ``labels`` of the wrong length, an unknown ``char_features`` or one without token
            input or without a ``char_vocab``; in :meth:`forward`, targets that are not one
            tag per input step.

    Examples:
        >>> tagger = SequenceTagger(4, vocab_size=10, embedding_dim=4, hidden_size=5)
        >>> logits, loss = tagger(torch.tensor([[1, 2, 3]]), torch.tensor([[0, 3, 1]]))
        >>> tuple(logits.shape), tagger.predict(logits).shape
        ((1, 3, 4), torch.Size([1, 3]))
        >>> chars = SequenceTagger(4, vocab_size=10, embedding_dim=4, hidden_size=5,
        ...                        char_features="lstm", char_vocab=["<pad>", "<unk>", *"abc"],
        ...                        char_embedding_dim=3, char_hidden_size=2, max_word_length=4)
        >>> rows = chars.encode_words([1, 7], ["ab", "cab"])
        >>> rows.tolist()
        [[1, 2, 3, 0, 0], [7, 4, 2, 3, 0]]
        >>> tuple(chars(torch.as_tensor(rows)[None])[0].shape)
        (1, 2, 4)
    """

    # checkpoint registry protocol (RecurrentHead): config_dict() / from_config_dict(d)
    config_class = SequenceTaggerConfig
    first_argument = "num_tags"

    def __init__(
        self,
        num_tags: int,
        *,
        vocab_size: int | None = None,
        input_size: int | None = None,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = True,
        dropout: float = 0.0,
        pad_id: int = 0,
        ignore_index: int = -100,
        freeze_embedding: bool = False,
        labels: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
        char_features: str = "none",
        char_vocab: Sequence[str] | None = None,
        char_embedding_dim: int = 32,
        char_hidden_size: int = 64,
        max_word_length: int = 20,
    ) -> None:
        super().__init__()
        _check_positive("num_tags", num_tags)
        _check_dropout(dropout)
        if 0 <= ignore_index < num_tags:
            raise ValueError(
                f"Argument `ignore_index` must not be a tag id in [0, {num_tags}), got "
                f"{ignore_index}."
            )
        labels = _check_labels(labels, num_tags, "tags")
        self.embedding, layer_input = _make_input(
            vocab_size, input_size, embedding_dim, pad_id, freeze_embedding
        )
        for name, value in (("hidden_size", hidden_size), ("num_layers", num_layers)):
            _check_positive(name, value)
        char_vocab = self._build_char_features(
            char_features, char_vocab, char_embedding_dim, char_hidden_size, max_word_length,
            token_input=vocab_size is not None,
        )
        layer_input += self.char_size
        self.config = SequenceTaggerConfig(
            num_tags=num_tags,
            vocab_size=vocab_size,
            input_size=input_size,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            cell=cell,
            bidirectional=bidirectional,
            dropout=dropout,
            pad_id=pad_id,
            ignore_index=ignore_index,
            freeze_embedding=freeze_embedding,
            labels=labels,
            options=_check_options(options),
            char_features=char_features,
            char_vocab=char_vocab,
            char_embedding_dim=char_embedding_dim,
            char_hidden_size=char_hidden_size,
            max_word_length=max_word_length,
        )
        self._build_layers(layer_input, num_tags)

    # -- character features ------------------------------------------------------------------
    def _build_char_features(
        self,
        kind: str,
        char_vocab: Sequence[str] | None,
        embedding_dim: int,
        hidden_size: int,
        max_word_length: int,
        *,
        token_input: bool,
    ) -> list[str] | None:
        """Add the character embedding and encoder ``kind`` asks for; set ``char_size``
        (the word vector's size, 0 without character features). Returns the checked
        vocabulary."""
        if kind not in CHAR_FEATURES:
            raise ValueError(
                f"Argument `char_features` must be one of {list(CHAR_FEATURES)}, got {kind!r}."
            )
        for name, value in (("char_embedding_dim", embedding_dim),
                            ("char_hidden_size", hidden_size)):
            _check_positive(name, value)
        if isinstance(max_word_length, bool) or not isinstance(max_word_length, int) or (
            max_word_length < 2
        ):
            raise ValueError(
                f"Argument `max_word_length` must be an integer >= 2, got {max_word_length!r}."
            )
        self.char_size = 0
        self._char_ids: dict[str, int] = {}
        if kind == "none":
            return None if char_vocab is None else [str(c) for c in char_vocab]
        if not token_input:
            raise ValueError(
                f"Argument `char_features` = {kind!r} needs token input (`vocab_size`): "
                "feature input has no words to spell."
            )
        if isinstance(char_vocab, str) or not isinstance(char_vocab, Sequence):
            raise ValueError(
                f"Argument `char_vocab` must list the characters (from {list(CHAR_SPECIALS)}) "
                f"when char_features = {kind!r}, got {char_vocab!r}."
            )
        chars = [str(c) for c in char_vocab]
        if tuple(chars[:2]) != CHAR_SPECIALS or len(set(chars)) != len(chars) or len(chars) < 3:
            raise ValueError(
                f"Argument `char_vocab` must start with {list(CHAR_SPECIALS)}, then name at "
                f"least one character, each once; got {chars[:8]}{'...' if len(chars) > 8 else ''}."
            )
        self._char_ids = {c: i for i, c in enumerate(chars)}
        self.char_embedding = nn.Embedding(len(chars), embedding_dim, padding_idx=0)
        if kind == "lstm":
            self.char_rnn = recurrent_layer("lstm", embedding_dim, hidden_size,
                                            bidirectional=True)
            self.char_size = 2 * hidden_size
        else:
            self.char_conv = nn.Conv1d(embedding_dim, hidden_size, kernel_size=3, padding=1)
            self.char_size = hidden_size
        return chars

    def encode_words(self, word_ids: Sequence[int], words: Sequence[str]) -> np.ndarray:
        """One sentence's input rows: the word ids, with each word's character ids beside
        them when the tagger has character features (see :func:`word_char_ids`).

        Args:
            word_ids: the words' ids in the word vocabulary (``<unk>`` for unseen words).
            words: the word forms, as long as ``word_ids`` (their characters are read, so
                pass them in their original case).

        Returns:
            ``[T]`` int64 without character features, else ``[T, 1 + W]`` int64.

        Raises:
            ValueError: ``word_ids`` and ``words`` of different lengths, or an empty word.
        """
        if len(word_ids) != len(words):
            raise ValueError(
                f"Arguments `word_ids` and `words` must have the same length, got "
                f"{len(word_ids)} and {len(words)}."
            )
        ids = np.asarray(word_ids, dtype=np.int64)
        if not self.char_size:
            return ids
        W = self.config.max_word_length
        rows = np.zeros((len(ids), 1 + W), dtype=np.int64)
        rows[:, 0] = ids
        for t, word in enumerate(words):
            rows[t, 1:] = word_char_ids(word, self._char_ids, W)
        return rows

    def word_features(self, chars: torch.Tensor) -> torch.Tensor:
        """The character-level vector of every word of a batch, ``0`` at padded steps.

        Each distinct spelling of the batch is encoded once (a batch repeats "the" and ","
        many times).

        Shape:
            chars ``[B, T, W]`` character ids (0 after a word's end; a step whose first id is
            0 is padding) → ``[B, T, F]``, ``F = 2 H_c`` (lstm) or ``H_c`` (cnn).
        """
        present = chars[..., 0] != 0
        weight = self.char_embedding.weight
        out = weight.new_zeros((*chars.shape[:2], self.char_size))
        if not bool(present.any()):
            return out
        spellings, where = torch.unique(chars[present], dim=0, return_inverse=True)
        n_chars = (spellings != 0).sum(1)
        spellings = spellings[:, : int(n_chars.max())]  # no step is all padding
        c = self.char_embedding(spellings)  # [U, W', E_c]
        if hasattr(self, "char_rnn"):
            _, h_n = run_layer(self.char_rnn, c, n_chars.cpu())
            vectors = torch.cat([h_n[0], h_n[1]], dim=-1)  # forward end, backward start
        else:
            conv = torch.relu(self.char_conv(c.transpose(1, 2)))  # [U, H_c, W']
            inside = (spellings != 0)[:, None, :]
            vectors = conv.masked_fill(~inside, 0.0).amax(-1)  # relu >= 0: padding never wins
        out[present] = vectors[where]
        return out

    def _embed_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, T, D (+ F)]``: the embeddings (and character features) of ``inputs``."""
        if not self.char_size:
            return _embed(self.embedding, inputs, self.config.input_size)
        if (
            not isinstance(inputs, torch.Tensor)
            or inputs.dim() != 3
            or inputs.shape[-1] < 2
            or inputs.is_floating_point()
            or inputs.dtype == torch.bool
        ):
            shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs)
            raise ValueError(
                "Argument `inputs` must be a [B, T, 1 + W] integer tensor (word id, then the "
                f"word's character ids) for a tagger with char_features, got {shape}."
            )
        chars = inputs[..., 1:]
        V_c = self.char_embedding.num_embeddings
        if int(chars.min()) < 0 or int(chars.max()) >= V_c:
            raise ValueError(
                f"Argument `inputs` must hold character ids in [0, {V_c}) after the word id, "
                f"got ids from {int(chars.min())} to {int(chars.max())}."
            )
        words = _embed(self.embedding, inputs[..., 0], None)
        return torch.cat([words, self.word_features(chars)], dim=-1)

    # -- forward -----------------------------------------------------------------------------
    def forward(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Tag logits for every step, and the mean loss over counted steps.

        Shape:
            inputs ``[B, T]`` (``[B, T, 1 + W]`` with ``char_features``) or ``[B, T, I]``,
            targets ``[B, T]``, lengths ``[B]`` → logits ``[B, T, C]``, loss scalar or
            ``None``.

        Raises:
            ValueError: inputs of the wrong kind (or character ids out of range), bad
                lengths, or targets whose shape is not
                the inputs' ``[B, T]`` (one tag per input step) or that hold an unknown tag id.
        """
        x = self._embed_inputs(inputs)
        if self.embedding is not None:
            x = self.drop(x)
        B, T = inputs.shape[:2]
        if targets is not None:
            _check_class_targets(
                targets,
                (B, T),
                self.config.num_tags,
                ignore_index=self.config.ignore_index,
                what="one tag per input step, as the inputs",
            )
        lengths = check_lengths(lengths, B, T)
        outputs, _ = run_layer(self.rnn, x, lengths)
        logits = self.head(self.drop(outputs))
        loss = None if targets is None else self.loss(logits, targets, lengths)
        return logits, loss

    def counted(self, targets: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``[B, T]`` bool: the steps that count (inside the sequence, target not ignored)."""
        mask = targets != self.config.ignore_index
        if lengths is not None:
            lengths = check_lengths(lengths, *targets.shape)
            mask &= step_mask(lengths, targets.shape[1], targets.device)
        return mask

    def loss(
        self, logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean cross-entropy over the counted steps (0 when none counts)."""
        targets = targets.to(logits.device)
        counted = self.counted(targets, lengths)
        targets = targets.masked_fill(~counted, self.config.ignore_index)
        if not bool(counted.any()):
            return logits.sum() * 0.0
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=self.config.ignore_index,
        )

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Tag ids ``[B, T]`` from :meth:`forward`'s logits."""
        return logits.argmax(-1)

    def metrics(self, outputs: torch.Tensor, batch: Any) -> dict[str, tuple[float, float]]:
        """Tag accuracy over the counted steps, as ``{"accuracy": (correct, counted)}``."""
        targets = batch.targets.to(outputs.device)
        counted = self.counted(targets, batch.lengths)
        correct = (self.predict(outputs) == targets) & counted
        return {"accuracy": (float(correct.sum()), float(counted.sum()))}

    def class_names(self) -> list[str]:
        """The tag names (``labels``), or the tag ids as strings."""
        return self.config.labels or [str(c) for c in range(self.config.num_tags)]
