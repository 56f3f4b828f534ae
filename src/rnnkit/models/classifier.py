"""Many-to-one classification: a whole sequence in, one label out.

Tokens (characters or words) go through an embedding, numeric features ``[B, T, I]`` go in as
they are; a recurrent layer reads the sequence and a pooling step turns its outputs into one
vector per sequence, which a linear layer maps to class scores::

    e_t    = E[x_t]   (token input)   or   x_t   (feature input)      [B, T, D] / [B, T, I]
    e_t    = E[x_t] m[x_t] / (1 - p_emb)   whole words dropped (training only)
    o_t    = RNN(e_t, h_{t-1})                                         [B, T, D_dir*H]
    z      = pool(o_1..o_n)       n = the sequence's true length       [B, D_dir*H]
    logits = W z + b                                                   [B, C]   ([B] if binary)

Pooling: ``last`` is the final state at each sequence's true end (with ``bidirectional`` the
last layer's forward state at the end and backward state at the start, concatenated);
``mean`` and ``max`` reduce the top layer's outputs over the valid steps only.

Two dropouts: ``embedding_dropout`` drops whole words -- every occurrence of a word in the
batch, one draw per vocabulary row, as the language model's
(:func:`rnnkit.nn.regularizers.embedding_dropout`) -- and ``dropout`` acts between stacked
layers and on the pooled vector (before the output layer).

Two ways to score two classes: ``binary=False`` (default) gives ``C`` logits and a softmax
cross-entropy; ``binary=True`` (needs ``num_classes=2``) gives one logit per sequence, the
score of class 1, and a sigmoid binary cross-entropy -- Keras' ``Dense(1, "sigmoid")``. Class
ids keep their meaning either way, so labels, metrics and predictions do not change.

The helpers :func:`recurrent_layer`, :func:`pool_outputs`, :func:`check_lengths` and
:func:`step_mask` live in :mod:`rnnkit.models.heads` (shared with :mod:`rnnkit.models.tagger`
and :mod:`rnnkit.models.regressor`) and are importable from here as well.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from rnnkit.models.heads import (
    CELLS,
    POOLINGS,
    RecurrentHead,
    _check_class_targets,
    _check_dropout,
    _check_labels,
    _check_options,
    _check_pooling,
    _check_positive,
    _embed,
    _make_input,
    check_lengths,
    pool_outputs,
    recurrent_layer,
    run_layer,
    step_mask,
)
from rnnkit.nn.regularizers import check_probability, embedding_dropout

__all__ = [
    "CELLS",
    "POOLINGS",
    "SequenceClassifier",
    "SequenceClassifierConfig",
    "check_lengths",
    "class_metrics",
    "classification_scores",
    "pool_outputs",
    "recurrent_layer",
    "step_mask",
]

def classification_scores(sums: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """Aggregate ``metrics()`` sums of a classifier or tagger into scores, macro F1 included.

    Per-class F1 arrives as ``f1_<class>: (2 tp, 2 tp + fp + fn)``, which adds up exactly over
    batches; macro F1 is the mean of the per-class F1 over the classes that occur in the
    targets or the predictions (scikit-learn's ``f1_score(average="macro")``).

    Args:
        sums: ``{name: (sum, count)}`` added up over batches.

    Returns:
        ``{name: sum / count}`` (``nan`` for a zero count), plus ``macro_f1`` when there are
        per-class F1 entries.

    Example:
        >>> classification_scores({"accuracy": (3.0, 4.0), "f1_a": (2.0, 3.0), "f1_b": (0.0, 0.0)})
        {'accuracy': 0.75, 'f1_a': 0.6666666666666666, 'f1_b': nan, 'macro_f1': 0.6666666666666666}
    """
    scores = {name: (s / c if c else math.nan) for name, (s, c) in sums.items()}
    per_class = [s / c for name, (s, c) in sums.items() if name.startswith("f1_") and c]
    if any(name.startswith("f1_") for name in sums):
        scores["macro_f1"] = sum(per_class) / len(per_class) if per_class else math.nan
    return scores


@dataclass
class SequenceClassifierConfig:
    """Constructor arguments of :class:`SequenceClassifier` (saved in ``config.json``)."""

    num_classes: int  # C, number of classes
    vocab_size: int | None = None  # V for token input (exactly one of vocab_size, input_size)
    input_size: int | None = None  # I for numeric feature input [B, T, I]
    embedding_dim: int = 64  # D, size of each token's embedding (token input only)
    hidden_size: int = 128  # H, units per layer and direction
    num_layers: int = 1  # stacked recurrent layers
    cell: str = "lstm"  # rnn | lstm | peephole_lstm | gru
    bidirectional: bool = False  # read the sequence in both directions
    dropout: float = 0.0  # between stacked layers and before the output layer
    pooling: str = "last"  # last | mean | max
    binary: bool = False  # one sigmoid output for two classes instead of a 2-way softmax
    pad_id: int = 0  # the padding token id (its embedding stays zero)
    freeze_embedding: bool = False  # keep the embedding fixed (e.g. pre-trained vectors)
    labels: list[str] | None = None  # class names, in class-id order
    options: dict[str, Any] = field(default_factory=dict)  # further layer options
    embedding_dropout: float = 0.0  # drop whole words from the embedding in training


class SequenceClassifier(RecurrentHead, nn.Module):
    """Many-to-one classifier: a sequence of tokens or feature vectors → one class.

    Equations (see the module docstring)::

        o = RNN(embed(x)),  z = pool(o, lengths),  logits = W dropout(z) + b
        loss = cross_entropy(logits, y)         or  BCE(sigmoid(logit), y)  when binary

    Args:
        num_classes: ``C`` (at least 2).
        vocab_size: ``V``: the input is ``[B, T]`` token ids.
        input_size: ``I``: the input is ``[B, T, I]`` floats. Give exactly one of the two.
        embedding_dim: ``D``.
        hidden_size: ``H``.
        num_layers: stacked recurrent layers.
        cell: ``rnn``, ``lstm``, ``peephole_lstm`` or ``gru``.
        bidirectional: both directions; ``last`` pooling concatenates the top layer's two
            final states.
        dropout: between stacked layers and on the pooled vector.
        pooling: ``last``, ``mean`` or ``max`` (over valid steps only).
        binary: one logit per sequence (the score of class 1) with a sigmoid; needs
            ``num_classes=2``.
        pad_id: padding token id (its embedding row is zero and gets no gradient).
        freeze_embedding: do not train the embedding.
        labels: optional class names (length ``C``), kept in the checkpoint and used to name
            the per-class F1 metrics.
        options: further layer options passed to the layer (``forget_bias``,
            ``learn_initial_state``, ``nonlinearity``, ``force_loop``...).
        embedding_dropout: in training, the probability of dropping a whole word (its
            embedding zero wherever it occurs in the batch, the kept ones scaled by
            ``1 / (1 - p)``); token input only.

    Shape:
        inputs ``[B, T]`` int64 or ``[B, T, I]`` float, targets ``[B]`` class ids, lengths
        ``[B]`` → logits ``[B, C]`` (``[B]`` when binary), loss scalar or ``None``.

    Raises:
        ValueError: a bad size, an unknown cell or pooling, both or neither of
            ``vocab_size``/``input_size``, ``binary`` with ``num_classes != 2``, ``labels``
            of the wrong length, a dropout outside ``[0, 1)``, or ``embedding_dropout`` with
            feature input.

    Example:
        >>> model = SequenceClassifier(3, vocab_size=10, embedding_dim=4, hidden_size=5)
        >>> logits, loss = model(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([0, 2]),
        ...                      lengths=torch.tensor([3, 2]))
        >>> tuple(logits.shape), loss.ndim, model.predict(logits).shape
        ((2, 3), 0, torch.Size([2]))
    """

    # checkpoint registry protocol (RecurrentHead): config_dict() / from_config_dict(d)
    config_class = SequenceClassifierConfig
    first_argument = "num_classes"

    def __init__(
        self,
        num_classes: int,
        *,
        vocab_size: int | None = None,
        input_size: int | None = None,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
        pooling: str = "last",
        binary: bool = False,
        pad_id: int = 0,
        freeze_embedding: bool = False,
        labels: Sequence[str] | None = None,
        options: Mapping[str, Any] | None = None,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_positive("num_classes", num_classes)
        if num_classes < 2:
            raise ValueError(
                f"Argument `num_classes` must be at least 2 (use binary=True for one sigmoid "
                f"output over two classes), got {num_classes}."
            )
        if binary and num_classes != 2:
            raise ValueError(
                f"Argument `binary=True` needs num_classes=2, got num_classes={num_classes}."
            )
        _check_pooling(pooling)
        _check_dropout(dropout)
        _check_embedding_dropout(embedding_dropout, input_size)
        labels = _check_labels(labels, num_classes, "classes")
        self.embedding, layer_input = _make_input(
            vocab_size, input_size, embedding_dim, pad_id, freeze_embedding
        )
        for name, value in (("hidden_size", hidden_size), ("num_layers", num_layers)):
            _check_positive(name, value)
        self.config = SequenceClassifierConfig(
            num_classes=num_classes,
            vocab_size=vocab_size,
            input_size=input_size,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            cell=cell,
            bidirectional=bidirectional,
            dropout=dropout,
            pooling=pooling,
            binary=binary,
            pad_id=pad_id,
            freeze_embedding=freeze_embedding,
            labels=labels,
            options=_check_options(options),
            embedding_dropout=embedding_dropout,
        )
        self._build_layers(layer_input, 1 if binary else num_classes)

    # -- forward -----------------------------------------------------------------------------
    def encode(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled sequence vectors ``[B, D_dir*H]`` (before dropout and the output layer)."""
        x = _embed(self.embedding, inputs, self.config.input_size)
        if self.config.embedding_dropout and self.training and self.embedding is not None:
            # the checks are done: drop words by looking the ids up again with a row mask
            x = embedding_dropout(inputs, self.embedding.weight, self.config.embedding_dropout,
                                  padding_idx=self.embedding.padding_idx)
        lengths = check_lengths(lengths, *inputs.shape[:2])
        outputs, h_n = run_layer(self.rnn, x, lengths)
        return pool_outputs(outputs, h_n, lengths, self.config.pooling, self.rnn.num_directions)

    def forward(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Class logits for every sequence, and the mean loss when ``targets`` are given.

        Shape:
            inputs ``[B, T]`` or ``[B, T, I]``, targets ``[B]``, lengths ``[B]`` → logits
            ``[B, C]`` (``[B]`` when binary), loss scalar or ``None``.

        Raises:
            ValueError: inputs of the wrong shape or kind, targets that are not one class id
                in ``[0, C)`` per sequence, or bad lengths.
        """
        logits = self.head(self.drop(self.encode(inputs, lengths)))
        if self.config.binary:
            logits = logits.squeeze(-1)
        loss = None if targets is None else self.loss(logits, targets)
        return logits, loss

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (softmax, or sigmoid when binary) over the batch."""
        _check_class_targets(targets, (logits.shape[0],), self.config.num_classes)
        targets = targets.to(logits.device)
        if self.config.binary:
            return nn.functional.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
        return nn.functional.cross_entropy(logits, targets)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        """Class ids ``[B]`` from :meth:`forward`'s logits."""
        if self.config.binary:
            return (logits > 0).long()
        return logits.argmax(-1)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``[B, C]`` from :meth:`forward`'s logits (binary too)."""
        if self.config.binary:
            p = torch.sigmoid(logits)
            return torch.stack([1.0 - p, p], dim=-1)
        return torch.softmax(logits, dim=-1)

    def metrics(self, outputs: torch.Tensor, batch: Any) -> dict[str, tuple[float, float]]:
        """Accuracy and per-class F1 as sums that add up exactly over batches.

        Returns:
            ``{"accuracy": (correct, B), "f1_<class>": (2 tp, 2 tp + fp + fn), ...}``; see
            :func:`classification_scores` for the macro F1.
        """
        return class_metrics(self.predict(outputs), batch.targets, self.class_names())

    def finalize_metrics(self, totals: dict[str, tuple[float, float]]) -> dict[str, float]:
        """The macro F1 from the summed per-class counts (the trainer's validation hook)."""
        return {"macro_f1": classification_scores(totals).get("macro_f1", math.nan)}

    def class_names(self) -> list[str]:
        """The class names (``labels``), or the class ids as strings."""
        return self.config.labels or [str(c) for c in range(self.config.num_classes)]


def _check_embedding_dropout(p: float, input_size: int | None) -> None:
    """Refuse an ``embedding_dropout`` outside [0, 1), or one asked of feature input."""
    check_probability("embedding_dropout", p)
    if p and input_size is not None:
        raise ValueError(
            "Argument `embedding_dropout` needs token input (vocab_size); the model reads "
            f"features (input_size={input_size}), got embedding_dropout={p!r}."
        )


def class_metrics(
    predicted: torch.Tensor,
    targets: torch.Tensor,
    names: Sequence[str],
    counted: torch.Tensor | None = None,
) -> dict[str, tuple[float, float]]:
    """Accuracy and per-class F1 sums for predicted vs. true class ids.

    Args:
        predicted: class ids, any shape.
        targets: true class ids, same shape.
        names: the class names (``C`` of them).
        counted: bool mask of the positions that count (default: all).

    Returns:
        ``{"accuracy": (correct, n), "f1_<name>": (2 tp, 2 tp + fp + fn), ...}``.

    Example:
        >>> class_metrics(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), ["a", "b"])
        {'accuracy': (2.0, 3.0), 'f1_a': (2.0, 3.0), 'f1_b': (2.0, 3.0)}
    """
    targets = targets.to(predicted.device)
    if counted is None:
        counted = torch.ones_like(targets, dtype=torch.bool)
    p, t = predicted[counted], targets[counted]
    C = len(names)
    tp = torch.bincount(t[p == t], minlength=C)[:C].double()
    true_count = torch.bincount(t.clamp(0, C - 1), minlength=C)[:C].double()
    pred_count = torch.bincount(p.clamp(0, C - 1), minlength=C)[:C].double()
    out = {"accuracy": (float((p == t).sum()), float(t.numel()))}
    # 2 tp + fp + fn = (tp + fp) + (tp + fn): predicted plus true counts of the class.
    for c, name in enumerate(names):
        out[f"f1_{name}"] = (float(2 * tp[c]), float(pred_count[c] + true_count[c]))
    return out
