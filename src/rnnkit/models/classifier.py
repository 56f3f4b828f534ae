"""Many-to-one classification: a whole sequence in, one label out.

Tokens (characters or words) go through an embedding, numeric features ``[B, T, I]`` go in as
they are; a recurrent layer reads the sequence and a pooling step turns its outputs into one
vector per sequence, which a linear layer maps to class scores::

    e_t    = E[x_t]   (token input)   or   x_t   (feature input)      [B, T, D] / [B, T, I]
    o_t    = RNN(e_t, h_{t-1})                                         [B, T, D_dir*H]
    z      = pool(o_1..o_n)       n = the sequence's true length       [B, D_dir*H]
    logits = W z + b                                                   [B, C]   ([B] if binary)

Pooling: ``last`` is the final state at each sequence's true end (with ``bidirectional`` the
last layer's forward state at the end and backward state at the start, concatenated);
``mean`` and ``max`` reduce the top layer's outputs over the valid steps only.

Two ways to score two classes: ``binary=False`` (default) gives ``C`` logits and a softmax
cross-entropy; ``binary=True`` (needs ``num_classes=2``) gives one logit per sequence, the
score of class 1, and a sigmoid binary cross-entropy -- Keras' ``Dense(1, "sigmoid")``. Class
ids keep their meaning either way, so labels, metrics and predictions do not change.

The helpers :func:`recurrent_layer`, :func:`pool_outputs` and :func:`check_lengths` are shared
with :mod:`rnnkit.models.tagger` and :mod:`rnnkit.models.regressor`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from rnnkit.nn import GRU, LSTM, RNN, RecurrentLayer

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

#: Cells a task head can be built on, and the layer class each uses.
CELLS: dict[str, type[RecurrentLayer]] = {
    "rnn": RNN,
    "lstm": LSTM,
    "peephole_lstm": LSTM,
    "gru": GRU,
}
#: How a many-to-one head turns the outputs of every step into one vector.
POOLINGS = ("last", "mean", "max")
# Layer arguments a head sets itself; `options` may not override them.
_RESERVED_OPTIONS = frozenset(
    {"input_size", "hidden_size", "num_layers", "batch_first", "dropout", "bidirectional"}
)


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")
    return value


def _check_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(
            f"Argument `options` must be a dict of layer options, got {type(options).__name__}."
        )
    reserved = sorted(set(options) & _RESERVED_OPTIONS)
    if reserved:
        raise ValueError(
            f"Argument `options` must not set {reserved}: they are the head's own arguments."
        )
    try:
        json.dumps(dict(options))
    except TypeError:
        raise ValueError(
            f"Argument `options` must hold JSON values (saved in checkpoints), got {options!r}."
        ) from None
    return dict(options)


def recurrent_layer(
    cell: str,
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    options: Mapping[str, Any] | None = None,
) -> RecurrentLayer:
    """The batch-first recurrent layer of a task head.

    Args:
        cell: ``rnn``, ``lstm``, ``peephole_lstm`` or ``gru``.
        input_size: ``I`` (or the embedding size ``D``).
        hidden_size: ``H`` per direction.
        num_layers: stacked layers.
        bidirectional: add a backward direction.
        dropout: between stacked layers (ignored, without a warning, for one layer).
        options: any further layer option, e.g. ``{"forget_bias": 1.0}``,
            ``{"nonlinearity": "relu"}``, ``{"learn_initial_state": True}``.

    Returns:
        An :class:`rnnkit.nn.RNN`, :class:`~rnnkit.nn.LSTM` or :class:`~rnnkit.nn.GRU`.

    Raises:
        ValueError: an unknown cell, a reserved or invalid option.

    Example:
        >>> recurrent_layer("peephole_lstm", 3, 4, options={"forget_bias": 1.0})
        LSTM(3, 4, batch_first=True, peephole=True, forget_bias=1.0, path=loop)
    """
    if cell not in CELLS:
        raise ValueError(f"Argument `cell` must be one of {list(CELLS)}, got {cell!r}.")
    extra = _check_options(options)
    if cell == "peephole_lstm":
        extra["peephole"] = True
    return CELLS[cell](
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
        **extra,
    )


def check_lengths(lengths: torch.Tensor | Sequence[int] | None, B: int, T: int) -> torch.Tensor:
    """``lengths`` as a ``[B]`` int64 CPU tensor (``[T] * B`` when ``None``).

    Raises:
        ValueError: not one length in ``[1, T]`` per sequence.
    """
    if lengths is None:
        return torch.full((B,), T, dtype=torch.int64)
    if isinstance(lengths, torch.Tensor):
        if lengths.dim() != 1 or lengths.is_floating_point() or lengths.dtype == torch.bool:
            raise ValueError(
                "Argument `lengths` must be a 1-D integer tensor, got shape "
                f"{tuple(lengths.shape)} and dtype {lengths.dtype}."
            )
        out = lengths.detach().to("cpu", torch.int64)
    else:
        out = torch.as_tensor(list(lengths), dtype=torch.int64)
    if out.numel() != B:
        raise ValueError(
            f"Argument `lengths` must have one entry per sequence ({B}), got {out.numel()}."
        )
    if B and (int(out.min()) < 1 or int(out.max()) > T):
        raise ValueError(
            f"Argument `lengths` must be in [1, {T}] (the padded length), got {out.tolist()}."
        )
    return out


def step_mask(lengths: torch.Tensor, T: int, device: torch.device) -> torch.Tensor:
    """``[B, T]`` bool, true at the valid steps ``t < lengths[b]``."""
    return torch.arange(T, device=device)[None, :] < lengths.to(device)[:, None]


def pool_outputs(
    outputs: torch.Tensor,
    h_n: torch.Tensor,
    lengths: torch.Tensor,
    pooling: str,
    num_directions: int,
) -> torch.Tensor:
    """One vector per sequence from a batch-first layer's outputs and final hidden state.

    Args:
        outputs: ``[B, T, D*H]`` top-layer outputs (zero past each sequence's end).
        h_n: ``[L*D, B, H]`` final hidden states, layer-major (the last ``D`` rows are the
            top layer's directions, taken at each sequence's true end).
        lengths: ``[B]`` true lengths.
        pooling: ``last``, ``mean`` or ``max``.
        num_directions: ``D``.

    Shape:
        Returns ``[B, D*H]``.

    Example:
        >>> out = torch.tensor([[[1.0], [3.0], [0.0]]])
        >>> h_n = torch.tensor([[[3.0]]])
        >>> [pool_outputs(out, h_n, torch.tensor([2]), p, 1).item() for p in POOLINGS]
        [3.0, 2.0, 3.0]
    """
    if pooling == "last":
        return torch.cat(list(h_n[-num_directions:]), dim=-1)
    mask = step_mask(lengths, outputs.shape[1], outputs.device).unsqueeze(-1)
    if pooling == "mean":
        total = outputs.masked_fill(~mask, 0.0).sum(1)
        return total / lengths.to(outputs.device, outputs.dtype)[:, None]
    if pooling == "max":
        return outputs.masked_fill(~mask, -math.inf).amax(1)
    raise ValueError(f"Argument `pooling` must be one of {list(POOLINGS)}, got {pooling!r}.")


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
    dropout: float = 0.0  # on embeddings, between layers and before the output layer
    pooling: str = "last"  # last | mean | max
    binary: bool = False  # one sigmoid output for two classes instead of a 2-way softmax
    pad_id: int = 0  # the padding token id (its embedding stays zero)
    freeze_embedding: bool = False  # keep the embedding fixed (e.g. pre-trained vectors)
    labels: list[str] | None = None  # class names, in class-id order
    options: dict[str, Any] = field(default_factory=dict)  # further layer options


class SequenceClassifier(nn.Module):
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
        dropout: on embeddings, between layers and on the pooled vector.
        pooling: ``last``, ``mean`` or ``max`` (over valid steps only).
        binary: one logit per sequence (the score of class 1) with a sigmoid; needs
            ``num_classes=2``.
        pad_id: padding token id (its embedding row is zero and gets no gradient).
        freeze_embedding: do not train the embedding.
        labels: optional class names (length ``C``), kept in the checkpoint and used to name
            the per-class F1 metrics.
        options: further layer options passed to the layer (``forget_bias``,
            ``learn_initial_state``, ``nonlinearity``...).

    Shape:
        inputs ``[B, T]`` int64 or ``[B, T, I]`` float, targets ``[B]`` class ids, lengths
        ``[B]`` → logits ``[B, C]`` (``[B]`` when binary), loss scalar or ``None``.

    Raises:
        ValueError: a bad size, an unknown cell or pooling, both or neither of
            ``vocab_size``/``input_size``, ``binary`` with ``num_classes != 2``, or ``labels``
            of the wrong length.

    Example:
        >>> model = SequenceClassifier(3, vocab_size=10, embedding_dim=4, hidden_size=5)
        >>> logits, loss = model(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([0, 2]),
        ...                      lengths=torch.tensor([3, 2]))
        >>> tuple(logits.shape), loss.ndim, model.predict(logits).shape
        ((2, 3), 0, torch.Size([2]))
    """

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
        if pooling not in POOLINGS:
            raise ValueError(
                f"Argument `pooling` must be one of {list(POOLINGS)}, got {pooling!r}."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Argument `dropout` must be in [0, 1), got {dropout!r}.")
        if labels is not None:
            labels = [str(x) for x in labels]
            if len(labels) != num_classes or len(set(labels)) != num_classes:
                raise ValueError(
                    f"Argument `labels` must name the {num_classes} classes once each, got "
                    f"{labels}."
                )
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
        )
        self.rnn = recurrent_layer(
            cell,
            layer_input,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            options=options,
        )
        self.drop = nn.Dropout(dropout)
        features = hidden_size * (2 if bidirectional else 1)
        self.head = nn.Linear(features, 1 if binary else num_classes)

    # -- checkpoint registry protocol -------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        """JSON-safe constructor arguments, for checkpoints."""
        return asdict(self.config)

    @classmethod
    def from_config_dict(cls, config: Mapping[str, Any]) -> SequenceClassifier:
        """Build a model from :meth:`config_dict`'s output (unknown keys are refused)."""
        known = set(SequenceClassifierConfig.__dataclass_fields__)
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"SequenceClassifier config has unknown keys {unknown}; valid keys are "
                f"{sorted(known)}."
            )
        args = dict(config)
        return cls(args.pop("num_classes"), **args)

    # -- forward -----------------------------------------------------------------------------
    def encode(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled sequence vectors ``[B, D_dir*H]`` (before dropout and the output layer)."""
        x = _embed(self.embedding, inputs, self.config.input_size)
        B, T = inputs.shape[:2]
        lengths = check_lengths(lengths, B, T)
        full = bool((lengths == T).all())
        outputs, state = self.rnn(x, None, lengths=None if full else lengths)
        h_n = state[0] if isinstance(state, tuple) else state
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

    def class_names(self) -> list[str]:
        """The class names (``labels``), or the class ids as strings."""
        return self.config.labels or [str(c) for c in range(self.config.num_classes)]


def _make_input(
    vocab_size: int | None,
    input_size: int | None,
    embedding_dim: int,
    pad_id: int,
    freeze_embedding: bool,
) -> tuple[nn.Embedding | None, int]:
    """The embedding (token input) or nothing (feature input), and the layer's input size."""
    if (vocab_size is None) == (input_size is None):
        raise ValueError(
            "Give exactly one of `vocab_size` (token input) and `input_size` (feature input), "
            f"got vocab_size={vocab_size!r} and input_size={input_size!r}."
        )
    if input_size is not None:
        return None, _check_positive("input_size", input_size)
    _check_positive("vocab_size", vocab_size)
    _check_positive("embedding_dim", embedding_dim)
    if not 0 <= pad_id < int(vocab_size):  # type: ignore[arg-type]
        raise ValueError(f"Argument `pad_id` must be in [0, {vocab_size}), got {pad_id!r}.")
    embedding = nn.Embedding(int(vocab_size), embedding_dim, padding_idx=pad_id)  # type: ignore[arg-type]
    embedding.weight.requires_grad_(not freeze_embedding)
    return embedding, embedding_dim


def _embed(
    embedding: nn.Embedding | None, inputs: torch.Tensor, input_size: int | None
) -> torch.Tensor:
    """Check ``inputs`` against the head's input kind and return ``[B, T, ·]`` floats."""
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"Argument `inputs` must be a tensor, got {type(inputs).__name__}.")
    if embedding is not None:
        if inputs.dim() != 2 or inputs.is_floating_point() or inputs.dtype == torch.bool:
            raise ValueError(
                "Argument `inputs` must be a [B, T] tensor of integer token ids, got shape "
                f"{tuple(inputs.shape)} and dtype {inputs.dtype}."
            )
        if inputs.shape[0] == 0 or inputs.shape[1] == 0:
            raise ValueError(
                f"Argument `inputs` must hold at least one step, got shape {tuple(inputs.shape)}."
            )
        V = embedding.num_embeddings
        if inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= V):
            raise ValueError(
                f"Argument `inputs` must hold token ids in [0, {V}), got ids from "
                f"{int(inputs.min())} to {int(inputs.max())}."
            )
        return embedding(inputs)
    if inputs.dim() != 3 or not inputs.is_floating_point():
        raise ValueError(
            f"Argument `inputs` must be a [B, T, {input_size}] float tensor of features, got "
            f"shape {tuple(inputs.shape)} and dtype {inputs.dtype}."
        )
    if inputs.shape[-1] != input_size:
        raise ValueError(
            f"Argument `inputs` must have input_size={input_size} features per step, got "
            f"{inputs.shape[-1]} (shape {tuple(inputs.shape)})."
        )
    if inputs.shape[0] == 0 or inputs.shape[1] == 0:
        raise ValueError(
            f"Argument `inputs` must hold at least one step, got shape {tuple(inputs.shape)}."
        )
    return inputs


def _check_class_targets(
    targets: torch.Tensor,
    shape: tuple[int, ...],
    num_classes: int,
    ignore_index: int | None = None,
    what: str = "one class id per sequence",
) -> None:
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"Argument `targets` must be a tensor, got {type(targets).__name__}.")
    if tuple(targets.shape) != shape:
        raise ValueError(
            f"Argument `targets` must have shape {shape} ({what}), got {tuple(targets.shape)}."
        )
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise ValueError(f"Argument `targets` must hold integer class ids, got {targets.dtype}.")
    counted = targets if ignore_index is None else targets[targets != ignore_index]
    if counted.numel() and (int(counted.min()) < 0 or int(counted.max()) >= num_classes):
        bad = counted[(counted < 0) | (counted >= num_classes)][0]
        raise ValueError(
            f"Argument `targets` holds the class id {int(bad)}, outside [0, {num_classes}) "
            "(a label the model was not trained with)."
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
