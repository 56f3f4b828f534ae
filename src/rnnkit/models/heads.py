"""What the task heads (:mod:`rnnkit.models.classifier`, :mod:`~rnnkit.models.tagger`,
:mod:`~rnnkit.models.regressor`) share: the recurrent layer they build, argument checks, the
token or feature input, lengths and masks, pooling, and the checkpoint protocol.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from rnnkit.nn import GRU, LSTM, RNN, RecurrentLayer

__all__ = [
    "CELLS",
    "POOLINGS",
    "RecurrentHead",
    "check_lengths",
    "layer_for",
    "pool_outputs",
    "recurrent_layer",
    "run_layer",
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


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Argument `dropout` must be in [0, 1), got {dropout!r}.")


def _check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"Argument `pooling` must be one of {list(POOLINGS)}, got {pooling!r}.")


def _check_labels(labels: Sequence[str] | None, count: int, what: str) -> list[str] | None:
    """``labels`` as strings, refused unless they name the ``count`` ``what`` once each."""
    if labels is None:
        return None
    names = [str(x) for x in labels]
    if len(names) != count or len(set(names)) != count:
        raise ValueError(f"Argument `labels` must name the {count} {what} once each, got {names}.")
    return names


def layer_for(config: Any, input_size: int) -> RecurrentLayer:
    """The recurrent layer a head's ``config`` describes (``cell``, ``hidden_size``,
    ``num_layers``, ``bidirectional``, ``dropout``, ``options``), reading ``input_size``.

    Example:
        >>> from types import SimpleNamespace
        >>> layer = layer_for(SimpleNamespace(cell="gru", hidden_size=4, num_layers=2,
        ...                                   bidirectional=True, dropout=0.0, options={}), 3)
        >>> type(layer).__name__, layer.num_directions
        ('GRU', 2)
    """
    return recurrent_layer(
        config.cell,
        input_size,
        config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        dropout=config.dropout,
        options=config.options,
    )


def run_layer(
    layer: RecurrentLayer, x: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a batch-first ``layer`` over ``x [B, T, ·]`` with checked ``lengths``.

    The lengths are passed on only when some sequence is shorter than ``T`` (the layer's
    packed path is not needed otherwise).

    Returns:
        The top layer's outputs ``[B, T, D*H]`` and the final hidden state ``h_n [L*D, B, H]``
        (an LSTM's cell state left out).
    """
    full = bool((lengths == x.shape[1]).all())
    outputs, state = layer(x, None, lengths=None if full else lengths)
    h_n = state[0] if isinstance(state, tuple) else state
    return outputs, h_n


class RecurrentHead:
    """Base of the task heads (mixed in before :class:`torch.nn.Module`): the recurrent layer,
    dropout and output layer built from ``config``, and the checkpoint protocol
    ``config_dict()`` / ``from_config_dict(d)`` of a head whose ``config`` is a dataclass of
    its constructor arguments.

    A head sets ``config_class`` (the dataclass) and ``first_argument`` (the name of its one
    positional argument).
    """

    config: Any
    config_class: type
    first_argument: str

    def _build_layers(self, input_size: int, output_size: int) -> None:
        """Add ``rnn`` (reading ``input_size``), ``drop`` and the linear ``head`` that maps the
        top layer's ``D*H`` features to ``output_size`` values, as ``config`` says."""
        cfg = self.config
        self.rnn = layer_for(cfg, input_size)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size * (2 if cfg.bidirectional else 1), output_size)

    def config_dict(self) -> dict[str, Any]:
        """JSON-safe constructor arguments, for checkpoints."""
        return asdict(self.config)

    @classmethod
    def from_config_dict(cls, config: Mapping[str, Any]) -> Any:
        """Build a model from :meth:`config_dict`'s output (unknown keys are refused)."""
        known = set(cls.config_class.__dataclass_fields__)  # type: ignore[attr-defined]
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"{cls.__name__} config has unknown keys {unknown}; valid keys are "
                f"{sorted(known)}."
            )
        args = dict(config)
        return cls(args.pop(cls.first_argument), **args)  # type: ignore[call-arg]
