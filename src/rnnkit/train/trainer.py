"""The training loop: one plain loop with named pieces, no globals.

``Trainer.fit`` repeats: pick the learning rate (:meth:`Trainer.get_lr`), forward (carrying
the detached state of a truncated-BPTT stream), backward, check that the loss and gradient
are finite (:meth:`Trainer.check_finite`), clip (:meth:`Trainer.clip`), step; every
``log_every`` steps a training row goes to ``metrics.csv``; every ``eval_every`` steps (or
epoch) :meth:`Trainer.evaluate` runs on the validation data and a better ``metric`` saves
``RUN/best/``; every ``checkpoint_every`` steps (or epoch) the whole state is checkpointed.
It stops at ``max_steps``, ``max_epochs``, ``max_time`` or when early stopping's patience
runs out, and returns a :class:`TrainSummary` (also written to ``RUN/summary.json``).

Exact resume: everything the future of a run depends on is in the checkpoint -- weights,
optimizer moments, step, epoch and position in the epoch, the RNG states of python, numpy and
torch, the carried recurrent state, the schedule, best-metric and early-stopping counters --
so ``Trainer(..., resume_from=RUN).fit()`` ends bit-identical to the uninterrupted run (same
seed and device; on the CPU with a fixed number of threads). Evaluation runs under a forked
RNG, so how often a run evaluates does not change its training.

Divergence: a step whose loss or gradient norm is nan or inf is not applied. The trainer
restores the last good state -- kept in memory at every checkpoint and at the start -- and
then, with ``divergence="lower_lr"``, multiplies the learning rate by ``divergence_factor``
and replays from there (at most ``divergence_retries`` times); with ``divergence="stop"`` (or
once the retries are spent) it raises :class:`DivergenceError` naming the step. Either way a
``diverged`` row goes to ``metrics.csv`` and a line to stderr: never silent.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import random
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.config import TrainConfig, config_to_dict, save_config
from rnnkit.data.batching import Batch
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.distributed import (
    DistributedContext,
    all_reduce_sum,
    barrier,
    broadcast_parameters,
    gather_tensor,
    init_distributed,
    reduce_gradients,
    shard_batch,
)
from rnnkit.train.metrics import MetricsLog
from rnnkit.train.plots import plot_metrics
from rnnkit.train.progress import Progress
from rnnkit.train.schedules import Plateau, get_lr, is_better

__all__ = [
    "DivergenceError",
    "TrainSummary",
    "Trainer",
    "build_optimizer",
    "check_precision",
    "flushing_denormals",
    "native_bf16",
    "repackage_hidden",
    "resolve_device",
    "seed_everything",
    "training_precision",
]

#: seconds between plot refreshes at checkpoints (plots are always drawn at the end)
PLOT_INTERVAL = 30.0


class DivergenceError(RuntimeError):
    """Training produced a nan or inf loss or gradient and the divergence policy says stop."""


def flushing_denormals() -> bool:
    """Whether this thread's CPU now treats subnormal floats as zero (``torch.set_flush_denormal``
    keeps no readable flag, so this asks the arithmetic)."""
    return bool((torch.tensor([1e-39]) * 2.0).item() == 0.0)


@dataclass
class TrainSummary:
    """What :meth:`Trainer.fit` returns (and writes to ``RUN/summary.json``).

    Attributes:
        steps: optimizer steps made in all (resumed runs included).
        epochs: completed passes over the training data.
        stopped_by: ``max_steps``, ``max_epochs``, ``max_time`` or ``early_stopping``.
        metric: the monitored validation metric.
        best_metric: its best value, or ``None`` without validation data.
        best_step: the step of ``best_metric``.
        train_loss: mean training loss over the last logged interval.
        val_loss: validation loss at the last evaluation.
        val_metrics: every validation metric at the last evaluation.
        wall_time: seconds this invocation of ``fit`` took.
        tokens_per_s: training tokens per second in this invocation (all ranks).
        divergences: steps rejected for a non-finite loss or gradient.
        run_dir: the run directory.
    """

    steps: int
    epochs: int
    stopped_by: str
    metric: str
    best_metric: float | None
    best_step: int | None
    train_loss: float | None
    val_loss: float | None
    val_metrics: dict[str, float]
    wall_time: float
    tokens_per_s: float
    divergences: int
    run_dir: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators (CUDA included).

    Example:
        >>> seed_everything(3); a = torch.rand(1)
        >>> seed_everything(3); bool(torch.equal(a, torch.rand(1)))
        True
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else the CPU; ``"cuda"`` must be available.

    Raises:
        ValueError: an unknown name, or ``"cuda"`` without CUDA.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("Option `device` is 'cuda' but torch finds no CUDA device.")
        return torch.device("cuda")
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"Option `device` expects one of auto, cpu, cuda, got {device!r}.")


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` names, over every trainable parameter.

    Example:
        >>> opt = build_optimizer(nn.Linear(2, 2), TrainConfig(optimizer="sgd", lr=0.1))
        >>> type(opt).__name__, opt.param_groups[0]["momentum"]
        ('SGD', 0.9)
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("Argument `model` expects trainable parameters, got none.")
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


# Truncated backpropagation through time over a stream cut into chunks (see
# rnnkit.data.batching.StreamBatches for how rows are laid out):
#
#        chunk k-1               chunk k                chunk k+1
#     x x x x x x  --h, c-->  x x x x x x  --h, c-->  x x x x x x
#     <-- grad --|            <-- grad --|            <-- grad --|
#                ^ detach                ^ detach
#
# The state that ends chunk k is the right state to start chunk k+1 (row b continues row b),
# so it is carried forward -- but as a value, cut from the graph that produced it.
def repackage_hidden(state: Any) -> Any:
    """Detach a recurrent state (tensors in nested tuples or lists) from its history.

    Example:
        >>> h = torch.ones(1, requires_grad=True) * 2
        >>> out = repackage_hidden((h, [h]))
        >>> out[0].requires_grad, type(out[1]).__name__
        (False, 'list')
    """
    # If we didn't, the model would try backpropagating all the way to the start of the
    # dataset: every chunk's graph would stay alive and the next backward would run into
    # graphs already freed.
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(repackage_hidden(s) for s in state)
    raise TypeError(
        "Expected the recurrent state to be tensors in nested tuples or lists, got "
        f"{type(state).__name__}."
    )


def training_precision(precision: str, device_type: str) -> contextlib.AbstractContextManager[Any]:
    """The context the Trainer runs each training forward pass (model and loss) in.

    ``"bf16"``: bfloat16 autocast on ``device_type`` -- matrix products in bfloat16 (on CPUs
    with AMX or AVX512-BF16, and on GPUs, at several times the float32 speed), softmax, losses
    and reductions in float32; parameters, gradients and optimizer state stay float32 because
    autocast casts copies. On a CPU without those units (:func:`native_bf16` is false) it
    still trains, with oneDNN switched off, but emulated and many times slower than float32.
    ``"fp32"``: nothing. Evaluation never uses it, so reported losses do not depend on the
    training precision.

    Raises:
        ValueError: ``precision`` is neither ``"fp32"`` nor ``"bf16"``.

    Example:
        >>> with training_precision("bf16", "cpu"):
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
        torch.bfloat16
    """
    check_precision(precision, "Argument")
    if precision != "bf16":
        return contextlib.nullcontext()
    if device_type == "cpu" and not native_bf16("cpu"):
        return _emulated_bf16()
    return torch.autocast(device_type, dtype=torch.bfloat16)


@contextlib.contextmanager
def _emulated_bf16() -> Iterator[None]:
    """bfloat16 autocast on a CPU without bfloat16 units, with oneDNN off inside.

    oneDNN's LSTM and GRU primitives refuse bfloat16 there ("could not create a primitive
    descriptor", from torch.nn.LSTM too); with oneDNN off, torch's own kernels run the same
    computation in bfloat16. Only the on/off switch is touched (``mkldnn.flags`` would also
    reset the user's determinism and TF32 settings), and it is restored on the way out.
    """
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    finally:
        torch.backends.mkldnn.enabled = before


def native_bf16(device_type: str = "cpu") -> bool:
    """Whether ``device_type`` computes bfloat16 matrix products in hardware.

    On a CPU that takes AVX512-BF16 or AMX (oneDNN's own check), where ``precision="bf16"``
    trains faster than float32; without them bfloat16 is emulated, the oneDNN recurrent
    kernels refuse it, and :func:`training_precision` runs it on torch's own kernels, far
    slower (a 2×256 LSTM's forward and backward at batch 32, T=50: 28 times the float32
    time on an AVX2 CPU). On a GPU, what ``torch.cuda.is_bf16_supported`` says.

    Raises:
        ValueError: ``device_type`` is neither ``"cpu"`` nor ``"cuda"`` (the devices the
            trainer runs on).

    Example:
        >>> native_bf16("tpu")
        Traceback (most recent call last):
        ...
        ValueError: Argument `device_type` must be 'cpu' or 'cuda', got 'tpu'.
    """
    if device_type == "cpu":
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    raise ValueError(f"Argument `device_type` must be 'cpu' or 'cuda', got {device_type!r}.")


#: The training precisions :func:`training_precision` knows.
PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str, kind: str = "Setting") -> None:
    """Refuse a training precision other than ``"fp32"`` and ``"bf16"``, in one sentence
    naming it (settings call it before any work); ``kind`` names what it is in the message.

    Example:
        >>> check_precision("fp16")
        Traceback (most recent call last):
        ...
        ValueError: Setting `precision` must be 'fp32' or 'bf16', got 'fp16'.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"{kind} `precision` must be 'fp32' or 'bf16', got {precision!r}.")


def _float32_state(state: Any) -> Any:
    """A carried state with its bfloat16 tensors (from autocast) made float32 again, so the
    state kept between chunks and saved in checkpoints does not depend on the precision."""
    if isinstance(state, torch.Tensor):
        return state.float() if state.dtype == torch.bfloat16 else state
    if isinstance(state, (tuple, list)):
        return type(state)(_float32_state(s) for s in state)
    return state


def _clone_tree(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    return type(state)(_clone_tree(s) for s in state)


def _check_source(data: Any, name: str) -> None:
    if not (hasattr(data, "__iter__") and hasattr(data, "__len__")):
        raise TypeError(
            f"Argument `{name}` expects a batch source with __iter__ and __len__ (and "
            f"set_epoch), got {type(data).__name__}."
        )
    if len(data) == 0:
        raise ValueError(f"Argument `{name}` expects at least one batch per epoch, got 0.")


@dataclass
class _Interval:
    """Sums over the steps since the last training row of metrics.csv."""

    loss_sum: float = 0.0
    tokens: int = 0
    steps: int = 0
    metrics: dict[str, list[float]] = field(default_factory=dict)


class Trainer:
    """Fit a model on a batch source: schedule, clipping, evaluation, checkpoints, resume.

    The model has ``forward(inputs, targets=None, lengths=None) -> (outputs, loss)`` with
    ``loss`` the mean over counted target positions; for stream batches (``Batch.stream``)
    also ``forward_stream(inputs, state, targets=None) -> (outputs, loss, new_state)``; and,
    optionally, ``metrics(outputs, batch) -> {name: (sum, count)}``,
    ``finalize_metrics({name: (sum, count)}) -> {name: score}`` for scores that are not a
    ratio of sums (macro F1), and ``config_dict()``.

    Args:
        model: the model (moved to the configured device).
        train_data: batch source with ``__iter__``, ``__len__`` and ``set_epoch(epoch)``
            whose order depends only on its seed and the epoch (``iter_from(k)`` is used when
            present to start mid-epoch).
        config: the training configuration.
        run_dir: where checkpoints, ``metrics.csv``, plots and ``summary.json`` go.
        val_data: batch source for evaluation (needed for best checkpoints, ``patience`` and
            the plateau schedule).
        model_name: the registry name stored in ``config.json`` (default: the class name).
        vocab: the vocabulary, stored in ``config.json`` (``to_dict()`` or a JSON dict).
        run_config: the whole resolved run configuration (dataclass or dict), saved to
            ``RUN/run_config.json`` and in ``config.json``.
        resume_from: a run directory whose last checkpoint to continue from.
        overwrite: start afresh in a ``run_dir`` that already holds a checkpoint.

    Raises:
        TypeError: a model or batch source without the methods above.
        ValueError: options that do not combine (early stopping or plateau without
            validation data, cosine without a known length, ...), or a checkpoint that does
            not fit.
        FileExistsError: ``run_dir`` holds a checkpoint and neither ``resume_from`` nor
            ``overwrite`` is given.

    Example:
        >>> import tempfile
        >>> class Mean(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.w = nn.Parameter(torch.zeros(1))
        ...     def forward(self, inputs, targets=None, lengths=None):
        ...         return self.w.expand_as(inputs), ((self.w - inputs) ** 2).mean()
        >>> data = [Batch(inputs=torch.full((2, 3), 4.0), targets=torch.zeros(2, 3))]
        >>> cfg = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0, max_epochs=30,
        ...                   progress=False)
        >>> with tempfile.TemporaryDirectory() as run_dir:
        ...     summary = Trainer(Mean(), data, cfg, run_dir).fit()
        >>> summary.steps, summary.stopped_by, summary.train_loss < 0.01
        (30, 'max_epochs', True)
    """

    def __init__(
        self,
        model: nn.Module,
        train_data: Any,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        val_data: Any = None,
        model_name: str | None = None,
        vocab: Any = None,
        run_config: Any = None,
        resume_from: str | Path | None = None,
        overwrite: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"Argument `model` expects a torch.nn.Module, got {type(model).__name__}."
            )
        if not isinstance(config, TrainConfig):
            raise TypeError(
                f"Argument `config` expects a TrainConfig, got {type(config).__name__}."
            )
        _check_source(train_data, "train_data")
        if val_data is not None:
            _check_source(val_data, "val_data")
        if val_data is None and config.patience > 0:
            raise ValueError("Option `patience` (early stopping) needs `val_data`, got None.")
        if val_data is None and config.schedule == "plateau":
            raise ValueError("Option `schedule` = 'plateau' needs `val_data`, got None.")
        if val_data is None and config.metric != "loss":
            raise ValueError(
                f"Option `metric` = {config.metric!r} is a validation metric and needs "
                "`val_data`, got None."
            )
        if config.metric != "loss" and not hasattr(model, "metrics"):
            raise ValueError(
                f"Option `metric` = {config.metric!r} needs a model with a metrics() method; "
                f"{type(model).__name__} has none, so the only metric is 'loss'."
            )
        self.config = config
        self.train_data = train_data
        self.val_data = val_data
        self.run_dir = Path(run_dir)
        self.model_name = model_name or type(model).__name__
        self.vocab = vocab.to_dict() if hasattr(vocab, "to_dict") else vocab
        if run_config is None or isinstance(run_config, Mapping):
            self.run_config = None if run_config is None else dict(run_config)
        else:
            self.run_config = config_to_dict(run_config)
        self.model_config = model.config_dict() if hasattr(model, "config_dict") else None

        self.ctx = init_distributed(config.device) if config.distributed else DistributedContext()
        self.device = (
            torch.device(self.ctx.device) if config.distributed else resolve_device(config.device)
        )
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, config)
        self.params = [p for p in self.model.parameters() if p.requires_grad]

        # max_steps, when set, overrides max_epochs.
        epochs_total = config.max_epochs * len(train_data) if config.max_epochs else None
        self.total_steps = config.max_steps or epochs_total
        if config.schedule == "cosine" and self.total_steps is None:
            raise ValueError(
                "Option `schedule` = 'cosine' needs max_steps or max_epochs to know where the "
                "decay ends, got neither."
            )

        # -- the loop state: everything saved in trainer_state.json ------------------------
        self.step = 0  # optimizer updates made
        self.epoch = 0  # current pass over train_data (0-based)
        self.batch_in_epoch = 0  # batches of this epoch already consumed
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0  # evaluations since the best one (early stopping)
        self.plateau = Plateau(config.plateau_factor, config.plateau_patience, config.mode)
        self.lr_scale = 1.0  # lowered by each divergence under divergence = lower_lr
        self.divergences = 0
        self.elapsed_before = 0.0  # seconds of earlier invocations (resumed runs)
        self.tokens_seen = 0
        self.metrics_rows = 0
        self.last_eval_step = -1
        self.last_checkpoint_step = -1
        self.last_val: dict[str, float] = {}
        self.last_train_loss: float | None = None
        self.last_grad_norm: float | None = None
        self.interval = _Interval()
        self.stream_state: Any = None  # carried between chunks of a stream, detached

        self._fit_start = time.monotonic()
        self._tokens_at_start = 0
        self._lr = config.lr  # the rate of the last update (for metrics.csv)
        self._bad_values: tuple[float, float] = (math.nan, math.nan)
        self._pending_rng: dict[str, Any] | None = None
        self._started = False
        self._snapshot: dict[str, Any] | None = None
        self._log: MetricsLog | None = None
        self._progress: Progress | None = None
        self._resumed = resume_from is not None
        if resume_from is not None:
            self._resume(Path(resume_from))
        elif ckpt.has_checkpoint(self.run_dir) and not overwrite:
            raise FileExistsError(
                f"Run directory {str(self.run_dir)!r} already holds a checkpoint; pass "
                f"resume_from={str(self.run_dir)!r} to continue it, overwrite=True to start "
                "over, or choose another directory."
            )
        self._overwrite = overwrite and resume_from is None

    # -- named pieces ----------------------------------------------------------------------

    def get_lr(self, step: int) -> float:
        """The learning rate for the update after ``step`` updates: schedule x plateau x
        divergence factors."""
        return get_lr(step, self.config, self.total_steps) * self.plateau.scale * self.lr_scale

    def clip(self) -> float:
        """Clip the gradients (by value, then by global norm); return their norm before.

        Returns:
            The global L2 norm of the gradients as they came out of the backward pass.
        """
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return 0.0
        norm = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g.detach(), 2.0) for g in grads]), 2.0
        )
        raw = float(norm)
        if self.config.clip_value > 0:
            for g in grads:
                g.clamp_(-self.config.clip_value, self.config.clip_value)
            norm = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(g.detach(), 2.0) for g in grads]), 2.0
            )
        if self.config.clip_norm > 0 and math.isfinite(raw):
            coef = self.config.clip_norm / (float(norm) + 1e-6)
            if coef < 1.0:
                for g in grads:
                    g.mul_(coef)
        return raw

    def check_finite(self, loss: float, grad_norm: float) -> str | None:
        """``None`` when the step may be applied, else what went wrong (agreed by all ranks)."""
        problem = 0.0
        if not math.isfinite(loss):
            problem = 1.0
        elif not math.isfinite(grad_norm):
            problem = 2.0
        (worst,) = all_reduce_sum([problem], self.ctx) if self.ctx.enabled else (problem,)
        if worst == 0:
            return None
        if problem == 1.0:
            return f"the loss is {loss}"
        if problem == 2.0:
            return f"the gradient norm is {grad_norm} (loss {loss:.4g})"
        return "another process saw a non-finite loss or gradient"

    def evaluate(self, data: Any = None) -> dict[str, float]:
        """Mean loss and model metrics over ``data`` (default: the validation data).

        Stream batches carry the state from chunk to chunk, as in training. The RNG is
        forked, so evaluating does not change the training that follows.

        Returns:
            ``{"loss": ..., metric: ...}``, token-weighted over all batches (and ranks).
        """
        data = self.val_data if data is None else data
        if data is None:
            raise ValueError("Argument `data` expects a batch source, got None (no val_data).")
        was_training = self.model.training
        self.model.eval()
        loss_sum, tokens = 0.0, 0
        sums: dict[str, list[float]] = {}
        devices = []
        if self.device.type == "cuda":
            index = self.device.index
            devices = [torch.cuda.current_device() if index is None else index]
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            if hasattr(data, "set_epoch"):
                data.set_epoch(0)
            state = None
            for raw in data:
                batch = self._prepare(raw)
                run = self._stand_in(raw) if batch.batch_size == 0 else batch
                state = state if batch.stream else None
                outputs, loss, state = self._forward(run, state)
                loss_sum += float(loss) * batch.num_tokens
                tokens += batch.num_tokens
                for name, (s, c) in self._batch_metrics(outputs, run, batch).items():
                    acc = sums.setdefault(name, [0.0, 0.0])
                    acc[0] += s
                    acc[1] += c
        names = sorted(sums)
        values = [loss_sum, float(tokens)] + [v for n in names for v in sums[n]]
        values = all_reduce_sum(values, self.ctx)
        result = {"loss": values[0] / max(values[1], 1.0)}
        totals = {name: (values[2 + 2 * i], values[3 + 2 * i]) for i, name in enumerate(names)}
        for name, (s, c) in totals.items():
            result[name] = s / c if c else float("nan")
        finalize = getattr(self.model, "finalize_metrics", None)
        if callable(finalize) and totals:
            # scores that are no ratio of sums (macro F1: a mean of per-class ratios) are made
            # by the model from the exact totals, after every batch and rank is counted
            result.update(finalize(totals))
        self.model.train(was_training)
        return result

    def save_checkpoint(self, directory: str | Path | None = None) -> None:
        """Checkpoint the whole state into ``directory`` (default: the run directory).

        Every rank must call it (the carried state and RNG of all ranks are gathered);
        only rank 0 writes.
        """
        directory = self.run_dir if directory is None else Path(directory)
        state = self._loop_state()
        rngs = gather_tensor(torch.get_rng_state(), self.ctx)
        state["rng"] = {
            "python": ckpt.python_rng_state(),
            "numpy": ckpt.numpy_rng_state(),
            "torch": [ckpt.encode_rng_bytes(r) for r in rngs],
            "cuda": (
                [
                    ckpt.encode_rng_bytes(r)
                    for r in gather_tensor(torch.cuda.get_rng_state(), self.ctx)
                ]
                if self.device.type == "cuda"
                else None
            ),
        }
        spec, local = ckpt.tree_to_tensors(self.stream_state)
        stream: dict[str, torch.Tensor] = {}
        for key in sorted(local):
            for rank, tensor in enumerate(gather_tensor(local[key], self.ctx)):
                stream[f"r{rank}/{key}"] = tensor
        state["stream_state"] = spec
        state["world_size"] = self.ctx.world_size
        if self.ctx.is_main:
            ckpt.save_checkpoint(
                directory,
                config=ckpt.checkpoint_config(
                    model_name=self.model_name,
                    model_config=self.model_config,
                    train_config=config_to_dict(self.config),
                    vocab=self.vocab,
                    run=self.run_config,
                ),
                trainer_state=state,
                model_state=self.model.state_dict(),
                optimizer_state=self.optimizer.state_dict(),
                optimizer_kind=type(self.optimizer).__name__,
                stream_tensors=stream,
            )

    # -- the loop --------------------------------------------------------------------------

    def fit(self) -> TrainSummary:
        """Train until a limit or early stopping; return the summary.

        With ``flush_denormal`` (the default) on a CPU, subnormal floats (below 1.2e-38 in
        float32) count as zero while training: the gradient that reaches the early steps of
        a long sequence through a final state shrinks into that range, where the CPU's
        matrix products run an order of magnitude slower, for a contribution below float32's
        resolution of any weight. The setting before ``fit`` is restored after it.

        Raises:
            DivergenceError: a nan/inf loss or gradient under ``divergence="stop"``, or more
                divergences than ``divergence_retries``.
        """
        flush = (self.config.flush_denormal and self.device.type == "cpu"
                 and not flushing_denormals())
        if flush and torch.set_flush_denormal(True):
            try:
                return self._fit()
            finally:
                torch.set_flush_denormal(False)
        return self._fit()

    def _fit(self) -> TrainSummary:
        cfg = self.config
        start = time.monotonic()
        self._fit_start = start
        if not self._started:
            self._prepare_run_dir()
            if self._pending_rng is not None:
                self._set_rng(self._pending_rng)
            else:
                broadcast_parameters(self.model, self.ctx)
                seed_everything(cfg.seed + self.ctx.rank)
        if self.ctx.is_main:
            keep = self.metrics_rows if (self._resumed or self._started) else None
            self._log = MetricsLog(self.run_dir / "metrics.csv", keep_rows=keep)
        self._started = True
        self._snapshot = self._capture()
        if (cfg.precision == "bf16" and self.device.type == "cpu" and self.ctx.is_main
                and not native_bf16("cpu")):
            print("Note: this CPU has no bfloat16 units (AVX512-BF16 or AMX), so precision "
                  "bf16 trains emulated, many times slower than fp32; fp32 is the faster "
                  "choice here.", file=sys.stderr, flush=True)
        self._progress = Progress(
            self.total_steps, self.step, cfg.progress and self.ctx.is_main, cfg.max_time
        )
        self._interval_start = start
        self._last_plot = start
        self._tokens_at_start = tokens_at_start = self.tokens_seen
        self.model.train()
        stopped_by = ""
        batches: Iterator[Batch] | None = None
        try:
            while not stopped_by:
                stopped_by = self._limit_reached(start)
                if stopped_by:
                    break
                if batches is None:
                    batches = self._epoch_batches(self.epoch, self.batch_in_epoch)
                raw = next(batches, None)
                if raw is None:  # end of the epoch
                    batches = None
                    stopped_by = self._end_of_epoch()
                    continue
                problem = self._train_step(raw)
                if problem is not None:
                    self._diverged(problem)
                    batches = None
                    continue
                stopped_by = self._after_step()
            if self.val_data is not None and self.last_eval_step != self.step:
                self._evaluate_and_track(final=True)
            if self.last_checkpoint_step != self.step:
                self._checkpoint()
        finally:
            self._progress.close()
            if self._log is not None:
                self._log.close()
                self._log = None
        wall = time.monotonic() - start
        self.elapsed_before += wall
        self._fit_start = time.monotonic()
        summary = TrainSummary(
            steps=self.step,
            # a run stopped on the last batch of an epoch has completed that pass too
            epochs=self.epoch + int(self.batch_in_epoch == len(self.train_data)),
            stopped_by=stopped_by,
            metric=cfg.metric,
            best_metric=self.best_metric,
            best_step=self.best_step,
            train_loss=self.last_train_loss,
            val_loss=self.last_val.get("loss"),
            val_metrics=dict(self.last_val),
            wall_time=wall,
            tokens_per_s=(self.tokens_seen - tokens_at_start) / max(wall, 1e-9),
            divergences=self.divergences,
            run_dir=str(self.run_dir),
        )
        if self.ctx.is_main:
            self._plot()
            text = json.dumps(summary.to_dict(), indent=2) + "\n"
            (self.run_dir / "summary.json").write_text(text, encoding="utf-8")
        # No rank leaves before rank 0 has written: a caller reading the run directory
        # (or a process group shutting down) then sees a finished run on every rank.
        barrier(self.ctx)
        return summary

    def _limit_reached(self, start: float) -> str:
        cfg = self.config
        if cfg.max_steps:
            if self.step >= cfg.max_steps:
                return "max_steps"
        elif cfg.max_epochs and self.epoch >= cfg.max_epochs:
            return "max_epochs"
        if cfg.max_time:
            over = float(time.monotonic() - start >= cfg.max_time)
            # Ranks must agree, or one would wait forever for the others' gradients.
            (over,) = all_reduce_sum([over], self.ctx)
            if over:
                return "max_time"
        return ""

    def _train_step(self, raw: Batch) -> str | None:
        cfg = self.config
        lr = self.get_lr(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = self._prepare(raw)
        run = self._stand_in(raw) if batch.batch_size == 0 else batch
        state = self.stream_state if batch.stream else None
        with training_precision(self.config.precision, self.device.type):
            outputs, loss, new_state = self._forward(run, state)
        loss.backward()
        reduce_gradients(self.params, batch.num_tokens, self.ctx)
        loss_value = float(loss.detach())
        grad_norm = self.clip()
        problem = self.check_finite(loss_value, grad_norm)
        if problem is not None:
            self.optimizer.zero_grad(set_to_none=True)
            self._bad_values = (loss_value, grad_norm)
            return problem
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.stream_state = (repackage_hidden(_float32_state(new_state)) if batch.stream
                             else None)
        self.step += 1
        self.batch_in_epoch += 1
        self.tokens_seen += batch.num_tokens * self.ctx.world_size
        self.last_grad_norm = grad_norm
        self._lr = lr
        acc = self.interval
        acc.loss_sum += loss_value * batch.num_tokens
        acc.tokens += batch.num_tokens
        acc.steps += 1
        for name, (s, c) in self._batch_metrics(outputs, run, batch).items():
            pair = acc.metrics.setdefault(name, [0.0, 0.0])
            pair[0] += s
            pair[1] += c
        if self._progress is not None:
            fields: dict[str, float | str] = {"loss": loss_value}
            if cfg.metric in self.last_val:
                fields[f"val_{cfg.metric}"] = self.last_val[cfg.metric]
            elapsed = time.monotonic() - self._fit_start
            tokens = self.tokens_seen - self._tokens_at_start
            fields["tok/s"] = f"{tokens / max(elapsed, 1e-9):.0f}"
            self._progress.update(self.step, fields)
        return None

    def _after_step(self) -> str:
        cfg = self.config
        if self.step % cfg.log_every == 0:
            self._log_train()
        stopped_by = ""
        if cfg.eval_every and self.step % cfg.eval_every == 0 and self.val_data is not None:
            stopped_by = self._evaluate_and_track()
        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
            self._checkpoint()
        return stopped_by

    def _end_of_epoch(self) -> str:
        self.epoch += 1
        self.batch_in_epoch = 0
        self.stream_state = None  # a new epoch starts new streams
        stopped_by = ""
        if self.config.eval_every == 0 and self.val_data is not None:
            stopped_by = self._evaluate_and_track()
        if self.config.checkpoint_every == 0:
            self._checkpoint()
        return stopped_by

    def _evaluate_and_track(self, final: bool = False) -> str:
        """Evaluate, log, save the best checkpoint, count patience; return a stop reason.

        The ``final`` evaluation (a run's end) may save the best checkpoint but leaves the
        plateau and patience counters alone, so extending a finished run with a larger
        ``max_steps`` trains as if it had not stopped."""
        cfg = self.config
        result = self.evaluate()
        self.last_eval_step = self.step
        self.last_val = result
        self._write_row({"split": "val", **result, "lr": self.get_lr(self.step)})
        if cfg.metric not in result:
            raise ValueError(
                f"Option `metric` = {cfg.metric!r} is not among the validation metrics "
                f"({', '.join(result)})."
            )
        value = result[cfg.metric]
        plateau = cfg.schedule == "plateau" and not final
        if plateau and self.plateau.update(value) and self._progress is not None:
            self._progress.write(
                f"step {self.step}: {cfg.metric} has not improved for "
                f"{cfg.plateau_patience + 1} evaluations; lr x {cfg.plateau_factor}."
            )
        if is_better(value, self.best_metric, cfg.mode):
            self.best_metric = value
            self.best_step = self.step
            self.bad_evals = 0
            self.save_checkpoint(self.run_dir / "best")
        elif not final:
            self.bad_evals += 1
            if cfg.patience and self.bad_evals >= cfg.patience:
                return "early_stopping"
        return ""

    def _checkpoint(self) -> None:
        self.last_checkpoint_step = self.step
        self.save_checkpoint()
        self._snapshot = self._capture()
        if self.ctx.is_main and time.monotonic() - self._last_plot >= PLOT_INTERVAL:
            self._plot()

    def _diverged(self, problem: str) -> None:
        """Restore the last good state; lower the rate or raise, as the policy says."""
        cfg = self.config
        failed_step = self.step + 1
        self.divergences += 1
        snapshot = self._snapshot
        if snapshot is None:
            raise RuntimeError("Trainer._diverged was called before fit() took a snapshot.")
        self._restore(snapshot)
        loss_value, grad_norm = self._bad_values
        self._write_row(
            {"step": failed_step, "split": "diverged", "loss": loss_value, "grad_norm": grad_norm}
        )
        restored = f"the weights were restored to step {self.step}"
        if cfg.divergence == "stop" or self.divergences > cfg.divergence_retries:
            reason = (
                "policy `stop`"
                if cfg.divergence == "stop"
                else f"{cfg.divergence_retries} retries with a lower lr already spent"
            )
            if self.ctx.is_main:
                self._plot()
            raise DivergenceError(
                f"Training diverged at step {failed_step}: {problem}; {restored} ({reason}). "
                "Lower `lr`, set `clip_norm`, or use divergence = 'lower_lr'."
            )
        self.lr_scale *= cfg.divergence_factor
        if self._progress is not None:
            self._progress.write(
                f"step {failed_step}: {problem}; {restored} and the learning rate lowered to "
                f"{self.get_lr(self.step):.3g} (divergence {self.divergences} of at most "
                f"{cfg.divergence_retries})."
            )

    # -- helpers ---------------------------------------------------------------------------

    def _epoch_batches(self, epoch: int, start: int) -> Iterator[Batch]:
        source = self.train_data
        if hasattr(source, "set_epoch"):
            source.set_epoch(epoch)
        if start and hasattr(source, "iter_from"):
            return iter(source.iter_from(start))
        return itertools.islice(iter(source), start, None)

    def _prepare(self, raw: Batch) -> Batch:
        if not isinstance(raw, Batch):
            raise TypeError(
                f"Expected the batch source to yield Batch objects, got {type(raw).__name__}."
            )
        return shard_batch(raw, self.ctx).to(self.device)

    def _stand_in(self, raw: Batch) -> Batch:
        """The first row of ``raw``, run by a rank whose part of it is empty (fewer rows than
        ranks): its loss and metrics weigh 0 and its gradient enters the average with weight
        0, but every rank makes the same collective calls with the same metric names."""
        def first(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t[:1]

        return Batch(inputs=raw.inputs[:1], targets=first(raw.targets),
                     lengths=first(raw.lengths), stream=raw.stream).to(self.device)

    def _forward(self, batch: Batch, state: Any) -> tuple[Any, torch.Tensor, Any]:
        if batch.stream:
            forward_stream = getattr(self.model, "forward_stream", None)
            if forward_stream is None:
                raise TypeError(
                    f"A batch has stream=True but {type(self.model).__name__} has no "
                    "forward_stream(inputs, state, targets=None) to carry the state."
                )
            outputs, loss, new_state = forward_stream(batch.inputs, state, targets=batch.targets)
        else:
            outputs, loss = self.model(batch.inputs, targets=batch.targets, lengths=batch.lengths)
            new_state = None
        if not isinstance(loss, torch.Tensor):
            raise ValueError(
                f"{type(self.model).__name__} returned no loss tensor (got {type(loss).__name__}); "
                "does every batch have targets?"
            )
        return outputs, loss, new_state

    def _batch_metrics(
        self, outputs: Any, batch: Batch, counted: Batch | None = None
    ) -> dict[str, tuple[float, float]]:
        """The model's metric sums and counts on ``batch``; all zero when the batch counted
        (``counted``, default ``batch``) is an empty part run on a stand-in."""
        metrics = getattr(self.model, "metrics", None)
        if metrics is None:
            return {}
        with torch.no_grad():
            result = metrics(
                outputs.detach() if isinstance(outputs, torch.Tensor) else outputs, batch
            )
        if not isinstance(result, Mapping):
            raise TypeError(
                "Expected model.metrics() to return {name: (sum, count)}, got "
                f"{type(result).__name__}."
            )
        scale = 0.0 if counted is not None and counted.batch_size == 0 else 1.0
        return {str(k): (scale * float(v[0]), scale * float(v[1])) for k, v in result.items()}

    def _log_train(self) -> None:
        acc = self.interval
        names = sorted(acc.metrics)
        values = [acc.loss_sum, float(acc.tokens)] + [v for n in names for v in acc.metrics[n]]
        values = all_reduce_sum(values, self.ctx)
        now = time.monotonic()
        row: dict[str, Any] = {"split": "train", "loss": values[0] / max(values[1], 1.0)}
        for i, name in enumerate(names):
            s, c = values[2 + 2 * i], values[3 + 2 * i]
            row[name] = s / c if c else float("nan")
        row["lr"] = self._lr
        row["tokens_per_s"] = values[1] / max(now - self._interval_start, 1e-9)
        row["grad_norm"] = self.last_grad_norm
        self.last_train_loss = row["loss"]
        self._write_row(row)
        self.interval = _Interval()
        self._interval_start = now

    def _write_row(self, row: dict[str, Any]) -> None:
        done = self.epoch + self.batch_in_epoch / len(self.train_data)
        full = {"step": self.step, "epoch": round(done, 4), **row}
        full["elapsed"] = self.elapsed_before + time.monotonic() - self._fit_start
        self.metrics_rows += 1
        if self._log is not None:
            self._log.write(full)

    def _plot(self) -> None:
        self._last_plot = time.monotonic()
        path = self.run_dir / "metrics.csv"
        if path.is_file():
            plot_metrics(path, self.run_dir)

    def _prepare_run_dir(self) -> None:
        if not self.ctx.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self._overwrite:
            for name in ckpt.FILES:
                (self.run_dir / name).unlink(missing_ok=True)
            shutil.rmtree(self.run_dir / "best", ignore_errors=True)
        save_config(self.config, self.run_dir, name="train_config")
        if self.run_config is not None:
            save_config(self.run_config, self.run_dir, name="run_config")

    # -- state: capture, restore, resume ---------------------------------------------------

    def _loop_state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "plateau": self.plateau.state_dict(),
            "lr_scale": self.lr_scale,
            "divergences": self.divergences,
            "elapsed": self.elapsed_before + time.monotonic() - self._fit_start,
            "tokens_seen": self.tokens_seen,
            "metrics_rows": self.metrics_rows,
            "last_eval_step": self.last_eval_step,
            "last_checkpoint_step": self.last_checkpoint_step,
            "last_val": self.last_val,
            "last_train_loss": self.last_train_loss,
            "last_grad_norm": self.last_grad_norm,
            "interval": asdict(self.interval),
        }

    def _load_loop_state(self, state: Mapping[str, Any], *, in_process: bool) -> None:
        """Set the loop state; ``in_process`` (a divergence restore) keeps what really
        happened since: the divergence count, the lowered rate, the time and tokens spent."""
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.best_metric = state["best_metric"]
        self.best_step = state["best_step"]
        self.bad_evals = int(state["bad_evals"])
        self.plateau.load_state_dict(state["plateau"])
        if not in_process:
            self.lr_scale = float(state["lr_scale"])
            self.divergences = int(state["divergences"])
            self.elapsed_before = float(state["elapsed"])
            self.tokens_seen = int(state["tokens_seen"])
        self.metrics_rows = int(state["metrics_rows"])
        self.last_eval_step = int(state["last_eval_step"])
        self.last_checkpoint_step = int(state["last_checkpoint_step"])
        self.last_val = dict(state["last_val"])
        self.last_train_loss = state["last_train_loss"]
        self.last_grad_norm = state["last_grad_norm"]
        self.interval = _Interval(**state["interval"])

    def _local_rng(self) -> dict[str, Any]:
        return {
            "python": ckpt.python_rng_state(),
            "numpy": ckpt.numpy_rng_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
        }

    def _set_rng(self, rng: Mapping[str, Any]) -> None:
        ckpt.set_python_rng_state(rng["python"])
        ckpt.set_numpy_rng_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"])

    def _capture(self) -> dict[str, Any]:
        """The last good state, in memory (what a divergence restores)."""
        return {
            "loop": copy.deepcopy(self._loop_state()),
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "stream": _clone_tree(self.stream_state),
            "rng": self._local_rng(),
        }

    def _restore(self, snapshot: Mapping[str, Any]) -> None:
        self.model.load_state_dict(snapshot["model"])
        self.optimizer.load_state_dict(copy.deepcopy(snapshot["optimizer"]))
        self._load_loop_state(snapshot["loop"], in_process=True)
        self.stream_state = _clone_tree(snapshot["stream"])
        self._set_rng(snapshot["rng"])
        if self._log is not None:
            self._log.truncate(self.metrics_rows)

    def _resume(self, source: Path) -> None:
        if not ckpt.has_checkpoint(source):
            raise FileNotFoundError(
                f"Argument `resume_from` = {str(source)!r} holds no checkpoint "
                f"({ckpt.STATE_FILE} is missing); start a new run there instead."
            )
        checkpoint = ckpt.read_checkpoint(source)
        model_entry = checkpoint.config.get("model") or {}
        if model_entry.get("name") != self.model_name:
            raise ValueError(
                f"Argument `resume_from` holds a {model_entry.get('name')!r} model; this run "
                f"trains {self.model_name!r}."
            )
        if self.model_config is not None and model_entry.get("config") != json.loads(
            json.dumps(self.model_config)
        ):
            raise ValueError(
                f"Argument `resume_from` holds a model built with {model_entry.get('config')}; "
                f"this run's model has {self.model_config}."
            )
        ckpt.load_model_state(self.model, checkpoint.model_state, str(source / ckpt.MODEL_FILE))
        if checkpoint.optimizer_state is None:
            raise ckpt.CheckpointError(f"Checkpoint {source} has no optimizer state to resume.")
        ckpt.load_optimizer_state(
            self.optimizer,
            checkpoint.optimizer_state,
            str(source / ckpt.OPTIMIZER_FILE),
            kind=checkpoint.trainer_state.get("optimizer_kind", ""),
        )
        state = checkpoint.trainer_state
        try:
            self._load_loop_state(state, in_process=False)
            world = int(state["world_size"])
            rng = state["rng"]
        except (KeyError, TypeError, ValueError) as err:
            raise ckpt.CheckpointError(
                f"{source / ckpt.STATE_FILE} lacks the loop state ({err!r})."
            ) from None
        if world != self.ctx.world_size:
            raise ValueError(
                f"Argument `resume_from` was written by {world} process(es); resume it with the "
                f"same number, got {self.ctx.world_size}."
            )
        rank = self.ctx.rank
        self._pending_rng = {
            "python": rng["python"],
            "numpy": rng["numpy"],
            "torch": ckpt.decode_rng_bytes(rng["torch"][rank]),
            "cuda": None if not rng.get("cuda") else ckpt.decode_rng_bytes(rng["cuda"][rank]),
        }
        prefix = f"r{rank}/"
        mine = {
            k[len(prefix) :]: v
            for k, v in checkpoint.stream_tensors.items()
            if k.startswith(prefix)
        }
        self.stream_state = ckpt.tensors_to_tree(state.get("stream_state"), mine, self.device)
        if self.ctx.is_main and source.resolve() != self.run_dir.resolve():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if (source / "metrics.csv").is_file():
                shutil.copyfile(source / "metrics.csv", self.run_dir / "metrics.csv")
            if (source / "best").is_dir():
                shutil.copytree(source / "best", self.run_dir / "best", dirs_exist_ok=True)
