"""Elementwise activations and their derivatives, each derivative written through the output.

Every derivative a recurrent network needs can be read off the activation's *output*, which
is what the forward pass keeps for the backward pass::

    identity  y = a                    dy/da = 1
    sigmoid   y = σ(a) = 1/(1+e^{-a})  dy/da = y (1 - y)
    tanh      y = tanh(a)              dy/da = 1 - y²
    relu      y = max(a, 0)            dy/da = [y > 0]
    softmax   y_k = e^{a_k} / Σ_j e^{a_j}
              dL/da = y ⊙ (dL/dy - Σ_k y_k dL/dy_k)          (the Jacobian-vector product)

Examples:
    >>> import numpy as np
    >>> y = activate("sigmoid", np.array([0.0, 2.0]))
    >>> np.round(y, 6).tolist()
    [0.5, 0.880797]
    >>> np.round(activate_backward("sigmoid", np.ones(2), y), 6).tolist()
    [0.25, 0.104994]
"""

from __future__ import annotations

import numpy as np

__all__ = ["ACTIVATIONS", "activate", "activate_backward", "check_activation", "sigmoid"]

#: Every activation name this module knows.
ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "softmax")


def check_activation(name: object, argument: str = "activation") -> str:
    """Return ``name`` if it is a known activation, else raise ``ValueError``.

    >>> check_activation("tanh")
    'tanh'
    """
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Argument `{argument}` must be one of {list(ACTIVATIONS)}, got {name!r}."
        )
    return str(name)


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic sigmoid ``σ(a) = 1 / (1 + e^{-a})``, computed as ``(1 + tanh(a/2)) / 2``.

    The tanh form is the same function and never overflows, whatever the sign of ``a``.

    >>> float(sigmoid(np.array(0.0)))
    0.5
    """
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def activate(name: str, a: np.ndarray) -> np.ndarray:
    """Apply the activation ``name`` to the pre-activation ``a`` (softmax over the last axis).

    Args:
        name: one of :data:`ACTIVATIONS`.
        a: pre-activation, any shape ``[..., K]``.

    Returns:
        ``y`` with the shape of ``a``.

    Raises:
        ValueError: unknown ``name``.
    """
    check_activation(name)
    if name == "identity":
        return a.copy()
    if name == "sigmoid":
        return sigmoid(a)
    if name == "tanh":
        return np.tanh(a)
    if name == "relu":
        return np.maximum(a, 0.0)
    # softmax: subtracting the row maximum changes nothing and keeps exp finite
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def activate_backward(name: str, dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return ``dL/da`` from ``dL/dy`` and the output ``y = activation(a)``.

    Args:
        name: one of :data:`ACTIVATIONS`.
        dy: ``dL/dy``, the shape of ``y``.
        y: the activation's output from the forward pass.

    Returns:
        ``dL/da``, the shape of ``y``.

    Raises:
        ValueError: unknown ``name``.
    """
    check_activation(name)
    if name == "identity":
        return dy
    if name == "sigmoid":
        return dy * y * (1.0 - y)
    if name == "tanh":
        return dy * (1.0 - y * y)
    if name == "relu":
        return dy * (y > 0.0)
    # softmax: the Jacobian-vector product, never the K x K Jacobian itself
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
