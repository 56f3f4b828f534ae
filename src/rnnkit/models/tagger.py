"""Many-to-many aligned tagging: one label per input step (part-of-speech tags, per-position
labels).

Each step's output of a (by default bidirectional) recurrent layer is mapped to tag scores::

    e_t      = E[x_t]   (token input)   or   x_t   (feature input)
    o_t      = [→h_t ; ←h_t] = BiRNN(e)_t                               [B, T, 2H]
    logits_t = W dropout(o_t) + b                                       [B, T, C]
    loss     = mean over counted steps of  -log softmax(logits_t)[y_t]

A step counts when it lies inside its sequence (``t < lengths[b]``) and its target is not
``ignore_index`` (-100, the padding :class:`rnnkit.data.batching.PaddedBatches` uses), so
padding changes neither the loss nor the accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    run_layer,
    step_mask,
)

__all__ = ["SequenceTagger", "SequenceTaggerConfig"]


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

    Shape:
        inputs ``[B, T]`` or ``[B, T, I]``, targets ``[B, T]``, lengths ``[B]`` → logits
        ``[B, T, C]``, loss scalar or ``None``.

    Raises:
        ValueError: a bad size or cell, both or neither of ``vocab_size``/``input_size``,
            ``labels`` of the wrong length; in :meth:`forward`, targets that are not one tag
            per input step.

    Example:
        >>> tagger = SequenceTagger(4, vocab_size=10, embedding_dim=4, hidden_size=5)
        >>> logits, loss = tagger(torch.tensor([[1, 2, 3]]), torch.tensor([[0, 3, 1]]))
        >>> tuple(logits.shape), tagger.predict(logits).shape
        ((1, 3, 4), torch.Size([1, 3]))
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
        )
        self._build_layers(layer_input, num_tags)

    # -- forward -----------------------------------------------------------------------------
    def forward(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Tag logits for every step, and the mean loss over counted steps.

        Shape:
            inputs ``[B, T]`` or ``[B, T, I]``, targets ``[B, T]``, lengths ``[B]`` → logits
            ``[B, T, C]``, loss scalar or ``None``.

        Raises:
            ValueError: inputs of the wrong kind, bad lengths, or targets whose shape is not
                the inputs' ``[B, T]`` (one tag per input step) or that hold an unknown tag id.
        """
        x = _embed(self.embedding, inputs, self.config.input_size)
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
