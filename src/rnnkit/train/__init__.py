"""Fitting models: the trainer loop, checkpoints, metrics log, plots, schedules and DDP.

``Trainer(model, train_data, config, run_dir).fit()`` trains and returns a summary;
``load_model(RUN, build_model)`` rebuilds a trained model from its checkpoint.
"""

from rnnkit.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    has_checkpoint,
    load_model,
    read_checkpoint,
)
from rnnkit.train.plots import plot_metrics
from rnnkit.train.trainer import (
    DivergenceError,
    Trainer,
    TrainSummary,
    native_bf16,
    repackage_hidden,
    seed_everything,
)

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "DivergenceError",
    "TrainSummary",
    "Trainer",
    "has_checkpoint",
    "load_model",
    "native_bf16",
    "plot_metrics",
    "read_checkpoint",
    "repackage_hidden",
    "seed_everything",
]
