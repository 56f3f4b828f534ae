"""Gradient clipping and the two optimisers of the course, SGD and Adam, on dicts of arrays.

Clipping, with ``g`` all gradients together::

    by norm:   ‖g‖ = sqrt(Σ_θ Σ_i g_θi²);   if ‖g‖ > max_norm:  g ← g · max_norm / ‖g‖
    by value:  g_θi ← min(max(g_θi, -clip_value), clip_value)

SGD with momentum ``μ`` (torch's form; ``μ = 0`` is plain ``θ ← θ - η g``)::

    v ← μ v + g          θ ← θ - η v

Adam (Kingma & Ba 2015), step ``s = 1, 2, ...``::

    m ← β1 m + (1 - β1) g          v ← β2 v + (1 - β2) g²
    m̂ = m / (1 - β1^s)            v̂ = v / (1 - β2^s)
    θ ← θ - η m̂ / (sqrt(v̂) + ε)

Examples:
    >>> import numpy as np
    >>> params, grads = {"w": np.array([1.0, 1.0])}, {"w": np.array([3.0, 4.0])}
    >>> clip_grad_norm(grads, 1.0)
    5.0
    >>> grads["w"].tolist()
    [0.6000000000000001, 0.8]
    >>> SGD(lr=0.5).step(params, grads)
    >>> params["w"].tolist()
    [0.7, 0.6]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, MutableMapping

import numpy as np

__all__ = ["SGD", "Adam", "Optimizer", "clip_grad_norm", "clip_grad_value"]


def _check_positive(name: str, value: object, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"Argument `{name}` must be a finite number {bound}, got {value!r}.")
    return float(value)


def clip_grad_norm(grads: MutableMapping[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients together, in place, so that their joint norm is at most ``max_norm``.

    Returns:
        The joint norm before clipping.

    Raises:
        ValueError: ``max_norm`` is not a positive number.
    """
    max_norm = _check_positive("max_norm", max_norm)
    total = float(np.sqrt(sum(float((g * g).sum()) for g in grads.values())))
    if total > max_norm:
        for g in grads.values():
            g *= max_norm / total
    return total


def clip_grad_value(grads: MutableMapping[str, np.ndarray], clip_value: float) -> None:
    """Clip every gradient entry, in place, into ``[-clip_value, clip_value]``.

    Raises:
        ValueError: ``clip_value`` is not a positive number.
    """
    clip_value = _check_positive("clip_value", clip_value)
    for g in grads.values():
        np.clip(g, -clip_value, clip_value, out=g)


class Optimizer(ABC):
    """Base class: an optimiser updates a dict of parameters in place from a dict of gradients.

    Args:
        lr: the learning rate ``η``.
    """

    def __init__(self, lr: float) -> None:
        self.lr = _check_positive("lr", lr)

    def _check(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        for name in params:
            if name not in grads:
                raise ValueError(f"Argument `grads` has no gradient for parameter `{name}`.")
            if grads[name].shape != params[name].shape:
                raise ValueError(
                    f"Gradient `{name}` has shape {grads[name].shape}, expected "
                    f"{params[name].shape} like its parameter."
                )

    @abstractmethod
    def step(
        self, params: MutableMapping[str, np.ndarray], grads: Mapping[str, np.ndarray]
    ) -> None:
        """Update ``params`` in place from ``grads`` (the same names and shapes)."""


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (torch's form).

    Args:
        lr: ``η``.
        momentum: ``μ`` in ``[0, 1)``.

    Raises:
        ValueError: ``lr`` not positive, ``momentum`` outside ``[0, 1)``.
    """

    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        super().__init__(lr)
        momentum = _check_positive("momentum", momentum, allow_zero=True)
        if momentum >= 1.0:
            raise ValueError(f"Argument `momentum` must be in [0, 1), got {momentum!r}.")
        self.momentum = momentum
        self._velocity: dict[str, np.ndarray] = {}

    def step(
        self, params: MutableMapping[str, np.ndarray], grads: Mapping[str, np.ndarray]
    ) -> None:
        """``v ← μ v + g``, ``θ ← θ - η v`` for every parameter."""
        self._check(params, grads)
        for name, p in params.items():
            g = grads[name]
            if self.momentum:
                v = self._velocity.get(name)
                v = g.copy() if v is None else self.momentum * v + g
                self._velocity[name] = v
                g = v
            p -= self.lr * g


class Adam(Optimizer):
    """Adam with bias correction.

    Args:
        lr: ``η``.
        betas: ``(β1, β2)``, each in ``[0, 1)``.
        eps: ``ε`` added to ``sqrt(v̂)``.

    Raises:
        ValueError: a hyper-parameter out of range.
    """

    def __init__(
        self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        for beta in betas:
            if not 0.0 <= beta < 1.0:
                raise ValueError(
                    f"Argument `betas` must hold two numbers in [0, 1), got {betas!r}."
                )
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = _check_positive("eps", eps)
        self.steps = 0
        self._m: dict[str, np.ndarray] = {}
        self._v: dict[str, np.ndarray] = {}

    def step(
        self, params: MutableMapping[str, np.ndarray], grads: Mapping[str, np.ndarray]
    ) -> None:
        """One Adam update of every parameter."""
        self._check(params, grads)
        self.steps += 1
        b1, b2 = self.betas
        for name, p in params.items():
            g = grads[name]
            m = self._m.get(name, np.zeros_like(p))
            v = self._v.get(name, np.zeros_like(p))
            # m ← β1 m + (1 - β1) g,  v ← β2 v + (1 - β2) g²
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * g * g
            self._m[name], self._v[name] = m, v
            # m̂ = m / (1 - β1^s),  v̂ = v / (1 - β2^s)
            m_hat = m / (1.0 - b1**self.steps)
            v_hat = v / (1.0 - b2**self.steps)
            # θ ← θ - η m̂ / (sqrt(v̂) + ε)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
