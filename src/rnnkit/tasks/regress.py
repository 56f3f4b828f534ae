"""The series-regression task: `rnnkit train regress` on a numeric CSV, and what `predict` and
`eval` do with a regressor run.

Data: a CSV (or TSV) series, one row per time step (``rnnkit.data.series.read_series``:
missing or non-finite values are errors, never filled). ``--data.input_columns`` feed the
model (default: every column), ``--data.target_columns`` are forecast (default: the input
columns). The series is cut into sliding windows of ``window`` steps::

    series  x0 x1 x2 x3 x4 x5 x6 x7 ...        window = 3, horizon = 2, stride = 1
    pair 0  [x0 x1 x2] -> y3 y4                 (many_to_one: the next `horizon` steps)
    pair 1  [x1 x2 x3] -> y4 y5
    per-step (many_to_one = false): [x0 x1 x2] -> [y2 y3 y4]  (each step: `horizon` ahead)

Without ``--valid`` the last ``valid_fraction`` of the series is held out (in time order, so
validation is always the future of training). With ``standardize`` (default) the inputs and
targets are standardized with means and standard deviations of the training windows; they
are stored in the checkpoint as buffers of the model, which returns forecasts in the series'
own units. The best checkpoint is picked by validation loss.

``rnnkit predict`` reads one window per line: numbers separated by commas or spaces for one
input column, steps separated by ``;`` (values within a step by commas or spaces) for
several.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.batching import PaddedBatches
from rnnkit.data.series import Series, read_series
from rnnkit.models.regressor import SequenceRegressor
from rnnkit.tasks.common import (
    EVAL_FILE,
    TRAIN_FILE,
    VALID_FILE,
    ExampleBatches,
    add_common_train_arguments,
    as_options,
    check_data_section,
    check_task,
    default_train_config,
    evaluate_batches,
    fit_model,
    run_config_of,
    train_task,
)
from rnnkit.train import TrainSummary, seed_everything

__all__ = [
    "HELP",
    "RegressData",
    "RegressModel",
    "RunConfig",
    "fit_regressor",
    "forecast_windows",
    "make_examples",
    "parse_window",
]

HELP = "sequence regressor / forecaster from a numeric series CSV (sliding windows)"


@dataclass
class RegressData:
    """Which series and columns, and how they are cut into windows."""

    train: str = ""  # series CSV/TSV to train on, one row per time step (.gz allowed)
    valid: str = ""  # series to validate on (empty: the last valid_fraction of train)
    valid_fraction: float = 0.2  # without `valid`: the share of steps at the end held out
    input_columns: list[str] = field(default_factory=list)  # model inputs (empty: all columns)
    target_columns: list[str] = field(default_factory=list)  # forecast (empty: input_columns)
    header: bool = True  # the first line names the columns (else columns are 0-based indices)
    window: int = 24  # T: past steps per example
    horizon: int = 1  # steps ahead: many_to_one forecasts steps 1..horizon, else step horizon
    stride: int = 1  # steps between the starts of consecutive windows
    many_to_one: bool = True  # one forecast per window; false: one output per step
    standardize: bool = True  # standardize inputs and targets with training means and stds
    batch_size: int = 32  # B: windows per batch
    seed: int = 0  # seeds the batch order


@dataclass
class RegressModel:
    """The network: recurrent layers → (pooling) → linear output."""

    cell: Literal["rnn", "lstm", "peephole_lstm", "gru"] = "lstm"  # recurrent cell
    hidden_size: int = 64  # H: units per layer and direction
    num_layers: int = 1  # stacked recurrent layers
    bidirectional: bool = False  # read windows in both directions
    dropout: float = 0.0  # between layers and before the output layer
    pooling: Literal["last", "mean", "max"] = "last"  # many_to_one: how steps become one vector
    loss: Literal["mse", "mae"] = "mse"  # squared or absolute error
    options: dict[str, Any] = field(default_factory=dict)  # further layer options (JSON)


def _default_train() -> TrainConfig:
    return default_train_config(max_epochs=20)


@dataclass
class RunConfig:
    """A regression run: data, model and training sections."""

    task: str = "regress"  # the task this configuration is for (always regress here)
    out: str = ""  # run directory (default: runs/regress-YYYYmmdd-HHMMSS)
    data: RegressData = field(default_factory=RegressData)
    model: RegressModel = field(default_factory=RegressModel)
    train: TrainConfig = field(default_factory=_default_train)

    def __post_init__(self) -> None:
        check_task(self.task, "regress", "a regression run")
        check_data_section(self.data)
        for name in ("window", "horizon", "stride"):
            value = getattr(self.data, name)
            if value < 1:
                raise ValueError(f"Option `data.{name}` expects a positive integer, got {value}.")


# -- data ------------------------------------------------------------------------------------


def _column_keys(names: Sequence[str], header: bool) -> list[str | int]:
    if header:
        return list(names)
    try:
        return [int(n) for n in names]
    except ValueError:
        raise ValueError(
            f"Options `data.input_columns` and `data.target_columns` must be 0-based indices "
            f"when header = false, got {list(names)}."
        ) from None


def read_columns(
    path: str, data: RegressData, name: str = "Series file"
) -> tuple[Series, list[int], list[int], list[str]]:
    """Read the series and find the input and target columns in it; ``name`` is how
    messages name the file before its path (e.g. :data:`~rnnkit.tasks.common.TRAIN_FILE`).

    Returns:
        ``(series, input_positions, target_positions, keys)``: positions into
        ``series.values`` and the column keys as strings (names, or indices without a header).

    Raises:
        ValueError: as :func:`rnnkit.data.series.read_series`, or a target column the file
            lacks.
    """
    header = data.header
    inputs = _column_keys(data.input_columns, header)
    targets = _column_keys(data.target_columns, header)
    if not inputs:
        series = read_series(path, header=header, name=name)
        keys = list(series.columns) if header else list(range(series.values.shape[1]))
        inputs = list(keys)
    else:
        keys = inputs + [t for t in targets if t not in inputs]
        series = read_series(path, keys, header=header, name=name)
    targets = targets or inputs
    position = {key: i for i, key in enumerate(keys)}
    missing = [t for t in targets if t not in position]
    if missing:
        raise ValueError(
            f"{name} {path!r} has no column {missing[0]!r} (data.target_columns); its "
            f"columns are {keys}."
        )
    return (
        series,
        [position[k] for k in inputs],
        [position[k] for k in targets],
        [str(k) for k in keys],
    )


def make_examples(
    values: np.ndarray,
    input_pos: Sequence[int],
    target_pos: Sequence[int],
    data: RegressData,
    what: str = "The series",
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a ``[N, C]`` series into input windows and their targets (see the module).

    Returns:
        ``inputs [M, T, I]`` and targets ``[M, horizon * O]`` (many_to_one, horizon-major) or
        ``[M, T, O]``, float32.

    Raises:
        ValueError: the series is shorter than ``window + horizon`` steps.

    Example:
        >>> series = np.arange(6.0)[:, None]
        >>> x, y = make_examples(series, [0], [0], RegressData(window=3, horizon=2))
        >>> x[:, :, 0].tolist(), y.tolist()
        ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    N = values.shape[0]
    T, H = data.window, data.horizon
    if N < T + H:
        raise ValueError(
            f"{what} has {N} steps; window = {T} and horizon = {H} need at least {T + H}."
        )
    starts = np.arange(0, N - T - H + 1, data.stride)
    inputs = values[starts[:, None] + np.arange(T)[None, :]][:, :, list(input_pos)]
    if data.many_to_one:
        future = values[starts[:, None] + T + np.arange(H)[None, :]][:, :, list(target_pos)]
        targets = future.reshape(len(starts), -1)
    else:
        targets = values[starts[:, None] + H + np.arange(T)[None, :]][:, :, list(target_pos)]
    return inputs.astype(np.float32), targets.astype(np.float32)


def _batches(inputs: np.ndarray, targets: np.ndarray, data: RegressData, train: bool) -> Any:
    if data.many_to_one:
        return ExampleBatches(
            list(inputs), labels=targets, batch_size=data.batch_size, shuffle=train,
            seed=data.seed,
        )
    return PaddedBatches(
        list(inputs), step_targets=list(targets), batch_size=data.batch_size, shuffle=train,
        seed=data.seed,
    )


def _regressor(
    input_names: Sequence[str], train_y: np.ndarray, data: RegressData, m: RegressModel
) -> SequenceRegressor:
    """A fresh regressor for ``input_names`` and targets shaped like ``train_y``."""
    return SequenceRegressor(
        len(input_names),
        train_y.shape[-1],
        hidden_size=m.hidden_size,
        num_layers=m.num_layers,
        cell=m.cell,
        bidirectional=m.bidirectional,
        dropout=m.dropout,
        many_to_one=data.many_to_one,
        pooling=m.pooling,
        loss=m.loss,
        standardize_inputs=data.standardize,
        standardize_targets=data.standardize,
        options=m.options,
    )


def prepare_data(
    config: RunConfig,
) -> tuple[np.ndarray, np.ndarray, Any, Any, list[str], list[str]]:
    """Read and window the training and validation series.

    Returns:
        ``(train_inputs, train_targets, train_batches, valid_batches, input_names,
        target_names)``.
    """
    data = config.data
    series, input_pos, target_pos, keys = read_columns(data.train, data, TRAIN_FILE)
    values = series.values
    if data.valid:
        valid_series, _, _, _ = read_columns(data.valid, data, VALID_FILE)
        if valid_series.columns != series.columns:
            raise ValueError(
                f"{VALID_FILE} {data.valid!r} has the columns {valid_series.columns}; the "
                f"training series has {series.columns}."
            )
        valid_values, valid_what = valid_series.values, f"{VALID_FILE} {data.valid!r}"
    else:
        n_valid = max(1, round(len(values) * data.valid_fraction))
        valid_values, values = values[-n_valid:], values[:-n_valid]
        valid_what = (
            f"The held-out end of {TRAIN_FILE} {data.train!r} ({n_valid} steps, valid_fraction)"
        )
    train_inputs, train_targets = make_examples(
        values, input_pos, target_pos, data, f"The training part of {TRAIN_FILE} {data.train!r}"
    )
    valid_inputs, valid_targets = make_examples(
        valid_values, input_pos, target_pos, data, valid_what
    )
    return (
        train_inputs,
        train_targets,
        _batches(train_inputs, train_targets, data, True),
        _batches(valid_inputs, valid_targets, data, False),
        [keys[i] for i in input_pos],
        [keys[i] for i in target_pos],
    )


# -- training --------------------------------------------------------------------------------


def fit_regressor(
    config: RunConfig, *, run_dir: Path, resume: bool = False, overwrite: bool = False
) -> tuple[TrainSummary, SequenceRegressor]:
    """Train a regressor as ``config`` says; checkpoints go to ``run_dir``.

    The standardization (if on) is fitted here, on the training windows, before training.

    Returns:
        The training summary and the trained model (last state, eval mode).
    """
    train_x, train_y, train_data, valid_data, input_names, target_names = prepare_data(config)
    config.data.input_columns = input_names
    config.data.target_columns = target_names
    data, m = config.data, config.model
    seed_everything(config.train.seed)  # the initial weights follow train.seed
    with as_options("model", m):
        model = _regressor(input_names, train_y, data, m)
    if data.standardize:
        model.fit_standardization(torch.from_numpy(train_x), torch.from_numpy(train_y))
    summary = fit_model(
        model, train_data, valid_data, config, run_dir, "sequence_regressor",
        resume=resume, overwrite=overwrite,
    )
    return summary, model


# -- using a trained run ---------------------------------------------------------------------

_SEPARATORS = re.compile(r"[,\s]+")


def parse_window(line: str, input_columns: Sequence[str]) -> np.ndarray:
    """Parse one input window: ``"1, 2, 3"`` (one column) or ``"1 10; 2 20"`` (steps by ``;``).

    Returns:
        ``[T, I]`` float32.

    Raises:
        ValueError: a step with another number of values than input columns, a value that
            is not a finite number, or no values.

    Example:
        >>> parse_window("1 10; 2 20", ["a", "b"]).tolist()
        [[1.0, 10.0], [2.0, 20.0]]
    """
    C = len(input_columns)
    text = line.strip()
    if ";" in text:
        steps = [s.strip() for s in text.split(";") if s.strip()]
        rows = [_SEPARATORS.split(s) for s in steps]
    elif C == 1:
        rows = [[v] for v in _SEPARATORS.split(text) if v]
    else:
        rows = [_SEPARATORS.split(text)] if text else []
    if not rows or not rows[0] or rows[0] == [""]:
        raise ValueError(f"Input {line!r} holds no values; expected a window of numbers.")
    for n, row in enumerate(rows):
        if len(row) != C:
            raise ValueError(
                f"Input {line!r} step {n + 1} has {len(row)} value(s), expected {C} (one per input "
                f"column: {', '.join(input_columns)}; separate steps with ';')."
            )
    try:
        window = np.asarray(rows, dtype=np.float64)
    except ValueError:
        raise ValueError(f"Input {line!r} holds a value that is not a number.") from None
    if not np.isfinite(window).all():
        raise ValueError(f"Input {line!r} holds NaN or inf; expected finite numbers.")
    return window.astype(np.float32)


def forecast_windows(
    model: SequenceRegressor, windows: Sequence[np.ndarray], data: RegressData
) -> list[dict[str, list[float]]]:
    """Run the regressor on windows ``[T, I]``; one ``{target column: values}`` per window.

    A many-to-one model gives, per target column, the forecasts of steps ``1..horizon``; a
    per-step model gives one value per input step.

    Raises:
        ValueError: no windows, or a window with the wrong number of features.
    """
    if not windows:
        raise ValueError("Argument `windows` is empty: give at least one window to forecast.")
    names = list(data.target_columns)
    batches = PaddedBatches(list(windows), batch_size=64)
    out: list[dict[str, list[float]]] = []
    model.eval()
    with torch.inference_mode():
        for batch in batches:
            predicted, _ = model(batch.inputs, lengths=batch.lengths)
            for row, length in zip(predicted.tolist(), batch.lengths.tolist(), strict=True):
                if data.many_to_one:
                    steps = np.asarray(row).reshape(data.horizon, len(names))
                else:
                    steps = np.asarray(row[:length])
                out.append({name: steps[:, i].tolist() for i, name in enumerate(names)})
    return out


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit train regress`` options: the run configuration plus --train, --valid, ..."""
    add_common_train_arguments(parser, RunConfig, "series CSV")


def train(args: argparse.Namespace) -> int:
    """Run ``rnnkit train regress``."""
    return train_task(args, RunConfig, "regress", fit_regressor)


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit predict`` needs nothing more for a regressor."""


def predict_lines(run: Any, lines: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Forecast from each input line (one window per line, see :func:`parse_window`)."""
    data = run_config_of(run, RunConfig).data
    windows = [parse_window(line, data.input_columns) for line in lines]
    forecasts = forecast_windows(run.model, windows, data)
    return [
        {"input": line, "forecast": forecast}
        for line, forecast in zip(lines, forecasts, strict=True)
    ]


def format_prediction(prediction: dict[str, Any]) -> str:
    """One line of ``rnnkit predict`` output: ``column: v1 v2 ...`` per target column."""
    return "; ".join(
        f"{name}: " + " ".join(f"{v:.6g}" for v in values)
        for name, values in prediction["forecast"].items()
    )


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit eval`` needs nothing more for a regressor."""


def evaluate_file(run: Any, path: str, args: argparse.Namespace) -> dict[str, float]:
    """Loss (standardized scale), MSE, RMSE and MAE (series units) on a series file.

    Raises:
        ValueError: the file lacks a column the run uses, or is shorter than one window.
    """
    data = run_config_of(run, RunConfig).data
    series, input_pos, target_pos, _ = read_columns(path, data, EVAL_FILE)
    inputs, targets = make_examples(series.values, input_pos, target_pos, data,
                                    f"{EVAL_FILE} {path!r}")
    sums = evaluate_batches(run.model, _batches(inputs, targets, data, False))
    mse = sums["mse"][0] / sums["mse"][1]
    return {
        "loss": sums["loss"][0] / sums["loss"][1],
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": sums["mae"][0] / sums["mae"][1],
        "windows": float(len(inputs)),
    }


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="rnnkit train regress", description=HELP)
    add_train_arguments(parser)
    sys.exit(train(parser.parse_args()))
