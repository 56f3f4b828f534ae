"""Sequence regression: a numeric series in, one value (vector) or one per step out.

Forecasting (the next ``horizon`` values from a window of the past) is the many-to-one case;
sequence-to-sequence regression (a value for every step) the many-to-many case::

    x̃_t = (x_t - μ_x) / σ_x                      (standardize_inputs; else x̃ = x)
    o_t = RNN(x̃)_t                                                     [B, T, D_dir*H]
    z   = pool(o) (many_to_one)   or   z_t = o_t (one per step)
    ŷ̃  = W z + b                  ŷ = ŷ̃ σ_y + μ_y   (standardize_targets; else ŷ = ŷ̃)
    loss = mean (ŷ̃ - ỹ)²  (mse)   or   mean |ŷ̃ - ỹ|  (mae),   ỹ = (y - μ_y) / σ_y

The loss is taken on the standardized scale (so it does not depend on the units of the
targets), while the outputs and the ``mse`` / ``mae`` metrics are in the targets' own units.
``μ`` and ``σ`` are buffers -- saved in the checkpoint with the weights -- that the *task*
fits from the training data with :meth:`SequenceRegressor.fit_standardization`; ``forward``
never changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from rnnkit.models.heads import (
    RecurrentHead,
    _check_dropout,
    _check_options,
    _check_pooling,
    _check_positive,
    _embed,
    check_lengths,
    pool_outputs,
    run_layer,
    step_mask,
)

__all__ = ["LOSSES", "SequenceRegressor", "SequenceRegressorConfig"]

#: Regression losses.
LOSSES = ("mse", "mae")
# A feature whose standard deviation is below this is treated as constant (σ = 1).
_MIN_STD = 1e-8


@dataclass
class SequenceRegressorConfig:
    """Constructor arguments of :class:`SequenceRegressor` (saved in ``config.json``)."""

    input_size: int  # I, features per step
    output_size: int = 1  # O, values predicted per sequence (many_to_one) or per step
    hidden_size: int = 64  # H, units per layer and direction
    num_layers: int = 1  # stacked recurrent layers
    cell: str = "lstm"  # rnn | lstm | peephole_lstm | gru
    bidirectional: bool = False  # read the sequence in both directions
    dropout: float = 0.0  # between layers and before the output layer
    many_to_one: bool = True  # one output per sequence (else one per step)
    pooling: str = "last"  # many_to_one: last | mean | max
    loss: str = "mse"  # mse | mae
    standardize_inputs: bool = False  # (x - mean) / std with buffers fitted by the task
    standardize_targets: bool = False  # train on (y - mean) / std, output in y's units
    options: dict[str, Any] = field(default_factory=dict)  # further layer options


class SequenceRegressor(RecurrentHead, nn.Module):
    """Regress one vector per sequence (``many_to_one``) or one per step from ``[B, T, I]``.

    Args:
        input_size: ``I``.
        output_size: ``O``.
        hidden_size: ``H`` per direction.
        num_layers: stacked recurrent layers.
        cell: ``rnn``, ``lstm``, ``peephole_lstm`` or ``gru``.
        bidirectional: both directions.
        dropout: between layers and before the output layer.
        many_to_one: ``True``: ``[B, O]`` out; ``False``: ``[B, T, O]`` out.
        pooling: for ``many_to_one``: ``last``, ``mean`` or ``max`` over valid steps.
        loss: ``mse`` or ``mae``.
        standardize_inputs: standardize inputs with the ``input_mean`` / ``input_std``
            buffers.
        standardize_targets: learn standardized targets (``target_mean`` / ``target_std``)
            and return outputs in the original units.
        options: further layer options (``forget_bias``, ``nonlinearity``...).

    Shape:
        inputs ``[B, T, I]``, targets ``[B, O]`` (``[B]`` when ``O = 1``) or ``[B, T, O]``
        (``[B, T]``), lengths ``[B]`` → outputs ``[B, O]`` or ``[B, T, O]``, loss scalar or
        ``None``.

    Raises:
        ValueError: a bad size, cell, pooling or loss; in :meth:`forward`, inputs without
            ``I`` features per step or targets of the wrong shape.

    Example:
        >>> model = SequenceRegressor(2, 1, hidden_size=4)
        >>> out, loss = model(torch.randn(3, 5, 2), torch.randn(3))
        >>> tuple(out.shape), loss.ndim
        ((3, 1), 0)
    """

    # checkpoint registry protocol (RecurrentHead): config_dict() / from_config_dict(d)
    config_class = SequenceRegressorConfig
    first_argument = "input_size"

    input_mean: torch.Tensor
    input_std: torch.Tensor
    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(
        self,
        input_size: int,
        output_size: int = 1,
        *,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
        many_to_one: bool = True,
        pooling: str = "last",
        loss: str = "mse",
        standardize_inputs: bool = False,
        standardize_targets: bool = False,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("input_size", input_size),
            ("output_size", output_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            _check_positive(name, value)
        if loss not in LOSSES:
            raise ValueError(f"Argument `loss` must be one of {list(LOSSES)}, got {loss!r}.")
        _check_pooling(pooling)
        _check_dropout(dropout)
        self.config = SequenceRegressorConfig(
            input_size=input_size,
            output_size=output_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            cell=cell,
            bidirectional=bidirectional,
            dropout=dropout,
            many_to_one=many_to_one,
            pooling=pooling,
            loss=loss,
            standardize_inputs=standardize_inputs,
            standardize_targets=standardize_targets,
            options=_check_options(options),
        )
        self._build_layers(input_size, output_size)
        self.register_buffer("input_mean", torch.zeros(input_size))
        self.register_buffer("input_std", torch.ones(input_size))
        self.register_buffer("target_mean", torch.zeros(output_size))
        self.register_buffer("target_std", torch.ones(output_size))

    # -- standardization ---------------------------------------------------------------------
    @torch.no_grad()
    def fit_standardization(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
    ) -> None:
        """Set the standardization buffers from training data (the switched-on ones only).

        Means and standard deviations are per feature over every valid step of every
        sequence (a constant feature gets σ = 1).

        Args:
            inputs: ``[N, T, I]`` training inputs.
            targets: training targets, shaped as for :meth:`forward` (needed when
                ``standardize_targets``).
            lengths: ``[N]`` true lengths (default: all ``T``).

        Raises:
            ValueError: shapes that do not fit the model, or no targets when
                ``standardize_targets``.

        Example:
            >>> model = SequenceRegressor(1, standardize_inputs=True)
            >>> model.fit_standardization(torch.tensor([[[1.0], [3.0]]]))
            >>> model.input_mean.tolist(), model.input_std.tolist()
            ([2.0], [1.0])
        """
        cfg = self.config
        _embed(None, inputs, cfg.input_size)
        N, T = inputs.shape[:2]
        lengths = check_lengths(lengths, N, T)
        valid = step_mask(lengths, T, inputs.device)
        if cfg.standardize_inputs:
            mean, std = _mean_std(inputs[valid])
            self.input_mean.copy_(mean)
            self.input_std.copy_(std)
        if cfg.standardize_targets:
            if targets is None:
                raise ValueError(
                    "Argument `targets` is needed to fit the target standardization "
                    "(standardize_targets=True), got None."
                )
            y = self._shape_targets(targets, N, T)
            mean, std = _mean_std(y if cfg.many_to_one else y[valid])
            self.target_mean.copy_(mean)
            self.target_std.copy_(std)

    # -- forward -----------------------------------------------------------------------------
    def _shape_targets(self, targets: torch.Tensor, B: int, T: int) -> torch.Tensor:
        O = self.config.output_size
        full = (B, O) if self.config.many_to_one else (B, T, O)
        if not isinstance(targets, torch.Tensor):
            raise TypeError(f"Argument `targets` must be a tensor, got {type(targets).__name__}.")
        if O == 1 and tuple(targets.shape) == full[:-1]:
            targets = targets.unsqueeze(-1)
        if tuple(targets.shape) != full:
            what = "sequence" if self.config.many_to_one else "step"
            raise ValueError(
                f"Argument `targets` must have shape {full} ({O} value(s) per {what}), got "
                f"{tuple(targets.shape)}."
            )
        if not targets.is_floating_point():
            raise ValueError(f"Argument `targets` must hold floats, got dtype {targets.dtype}.")
        return targets

    def forward(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Predictions in the targets' units, and the loss on the standardized scale.

        Shape:
            inputs ``[B, T, I]``, targets ``[B, O]`` or ``[B, T, O]`` (the last dimension
            may be left out when ``O = 1``), lengths ``[B]`` → outputs ``[B, O]`` or
            ``[B, T, O]``, loss scalar or ``None``.

        Raises:
            ValueError: inputs that are not ``[B, T, I]`` floats with ``I = input_size``,
                targets of the wrong shape, or bad lengths.
        """
        cfg = self.config
        x = _embed(None, inputs, cfg.input_size)
        B, T = inputs.shape[:2]
        if targets is not None:
            targets = self._shape_targets(targets, B, T)
        lengths = check_lengths(lengths, B, T)
        if cfg.standardize_inputs:
            x = (x - self.input_mean) / self.input_std
        outputs, h_n = run_layer(self.rnn, x, lengths)
        if cfg.many_to_one:
            outputs = pool_outputs(outputs, h_n, lengths, cfg.pooling, self.rnn.num_directions)
        scaled = self.head(self.drop(outputs))
        prediction = self._unscale(scaled)
        if targets is None:
            return prediction, None
        targets = targets.to(scaled.device, scaled.dtype)
        if cfg.standardize_targets:
            targets = (targets - self.target_mean) / self.target_std
        error = scaled - targets
        error = error.square() if cfg.loss == "mse" else error.abs()
        if cfg.many_to_one:
            return prediction, error.mean()
        valid = step_mask(lengths, T, error.device).unsqueeze(-1).expand_as(error)
        return prediction, error[valid].mean()

    def _unscale(self, scaled: torch.Tensor) -> torch.Tensor:
        if self.config.standardize_targets:
            return scaled * self.target_std + self.target_mean
        return scaled

    def metrics(self, outputs: torch.Tensor, batch: Any) -> dict[str, tuple[float, float]]:
        """Squared and absolute errors in the targets' units, over valid values.

        Returns:
            ``{"mse": (sum of squared errors, n), "mae": (sum of absolute errors, n)}``.
        """
        B, T = batch.inputs.shape[:2]
        targets = self._shape_targets(batch.targets, B, T).to(outputs.device, outputs.dtype)
        error = outputs - targets
        if not self.config.many_to_one:
            lengths = check_lengths(batch.lengths, B, T)
            valid = step_mask(lengths, T, error.device).unsqueeze(-1).expand_as(error)
            error = error[valid]
        n = float(error.numel())
        return {
            "mse": (float(error.square().sum()), n),
            "mae": (float(error.abs().sum()), n),
        }


def _mean_std(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and population std of ``[N, C]`` values (σ = 1 where constant)."""
    if values.shape[0] == 0:
        raise ValueError("Cannot fit a standardization to zero values.")
    v = values.double()
    mean = v.mean(0)
    std = v.std(0, unbiased=False)
    std = torch.where(std < _MIN_STD, torch.ones_like(std), std)
    return mean.float(), std.float()
