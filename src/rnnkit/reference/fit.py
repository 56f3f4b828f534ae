"""A training loop for small problems on the reference engine.

One epoch shuffles the sequences, cuts them into mini-batches and, for each, runs::

    forward → loss → backward (full or truncated BPTT) → clip → optimiser step

It is the loop of the lecture, not of production: everything lives in memory, and a NaN or
infinite loss stops it with the epoch and batch where it happened.

Examples:
    >>> import numpy as np
    >>> from rnnkit.reference.network import Network
    >>> from rnnkit.reference.optim import Adam
    >>> rng = np.random.default_rng(0)
    >>> x = rng.choice([-1.0, 1.0], size=(32, 4, 1))
    >>> y = (x.sum(axis=(1, 2)) > 0).astype(int)          # is the sum of the signs positive?
    >>> net = Network("gru", 1, 8, output_size=2, output_activation="softmax", many_to_one=True)
    >>> params = net.init_params(seed=0)
    >>> history = fit(net, params, x, y, optimizer=Adam(0.05), epochs=60)
    >>> history.losses[-1] < 0.5 * history.losses[0]
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rnnkit.reference.network import Network
from rnnkit.reference.optim import SGD, Optimizer, clip_grad_norm, clip_grad_value

__all__ = ["FitHistory", "fit"]


@dataclass
class FitHistory:
    """What :func:`fit` recorded.

    Attributes:
        losses: the mean training loss of each epoch (mean over its batches).
        grad_norms: the gradient norm of every batch, before clipping.
    """

    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)


def fit(
    network: Network,
    params: dict[str, np.ndarray],
    x: np.ndarray,
    targets: np.ndarray,
    *,
    loss: str | None = None,
    optimizer: Optimizer | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    truncate: int | None = None,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    mask: np.ndarray | None = None,
    reduction: str = "mean",
    seed: int = 0,
    callback: Callable[[int, float], None] | None = None,
) -> FitHistory:
    """Train ``params`` in place on ``(x, targets)``.

    Args:
        network: the network.
        params: its parameters, updated in place.
        x: inputs ``[N, T, I]``.
        targets: ``[N, T]`` / ``[N, T, O]`` (``[N]`` / ``[N, O]`` for many-to-one).
        loss: ``mse``, ``bce`` or ``ce`` (default from the output activation).
        optimizer: default ``SGD(lr=0.1)``.
        epochs: passes over the data.
        batch_size: sequences per update (default: all of them).
        truncate: truncated BPTT window (see :mod:`rnnkit.reference.network`).
        clip_norm: clip the joint gradient norm to this.
        clip_value: clip every gradient entry to ``±clip_value``.
        mask: ``[N, T]`` booleans, where targets count.
        reduction: ``mean`` (default) or ``sum`` over the terms of a batch.
        seed: seeds the shuffling.
        callback: called as ``callback(epoch, epoch_loss)`` after every epoch.

    Returns:
        :class:`FitHistory`.

    Raises:
        ValueError: bad sizes, a loss not defined on the network's outputs
            (:meth:`Network.check_loss`), or a loss that becomes NaN or infinite (the message
            names the epoch and batch).
    """
    loss = network.check_loss(loss)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"Argument `epochs` must be a positive integer, got {epochs!r}.")
    x = np.asarray(x)
    targets = np.asarray(targets)
    N = x.shape[0] if x.ndim == 3 else 0
    if N == 0 or targets.shape[0] != N:
        raise ValueError(
            f"Arguments `x` [N, T, I] and `targets` must hold the same number N >= 1 of "
            f"sequences, got x {tuple(x.shape)} and targets {tuple(targets.shape)}."
        )
    if batch_size is None:
        batch_size = N
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Argument `batch_size` must be a positive integer, got {batch_size!r}.")
    optimizer = SGD(lr=0.1) if optimizer is None else optimizer
    rng = np.random.default_rng(seed)
    history = FitHistory()
    for epoch in range(epochs):
        order = rng.permutation(N)
        batch_losses = []
        for b, start in enumerate(range(0, N, batch_size)):
            idx = order[start:start + batch_size]
            # overflow is not warned about here but caught just below, with its epoch and batch
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                value, grads, _ = network.loss_and_grads(
                    params, x[idx], targets[idx], loss=loss,
                    mask=None if mask is None else np.asarray(mask)[idx],
                    reduction=reduction, truncate=truncate,
                )
            if not np.isfinite(value):
                raise ValueError(
                    f"Training diverged at epoch {epoch}, batch {b}: the loss is {value}. "
                    f"Lower the learning rate or clip the gradients."
                )
            g = grads.params
            norm = float(np.sqrt(sum(float((a * a).sum()) for a in g.values())))
            if clip_norm is not None:
                clip_grad_norm(g, clip_norm)
            if clip_value is not None:
                clip_grad_value(g, clip_value)
            optimizer.step(params, g)
            batch_losses.append(value)
            history.grad_norms.append(norm)
        history.losses.append(float(np.mean(batch_losses)))
        if callback is not None:
            callback(epoch, history.losses[-1])
    return history
