"""Loss functions on a network's outputs, forward and backward.

A loss is a sum of *terms*, one per sequence ``b`` and step ``t`` that has a target (one per
sequence for a many-to-one network). Each term compares the output ``y`` (after the output
activation) with its target ``t``::

    mse  squared error         L_bt = ½ Σ_k (y_k - t_k)²            dL_bt/dy = y - t
    bce  binary cross-entropy  L_bt = -Σ_k t_k log y_k + (1 - t_k) log(1 - y_k)
                                                                   dL_bt/dy = (y - t) / (y (1 - y))
    ce   cross-entropy         L_bt = -Σ_k t_k log y_k  (t one-hot)  dL_bt/dy = -t / y

With the canonical output activations -- identity for mse, sigmoid for bce, softmax for ce --
the gradient at the pre-activation ``z`` is the same simple ``dL_bt/dz = y - t`` for all three
(the ½ of the squared error is there for this).

Which outputs each loss is defined on (:data:`LOSS_ACTIVATIONS`, :func:`check_loss_activation`):
the squared error takes any output; binary cross-entropy takes ``log y`` and ``log(1 - y)``,
so every output must lie in ``(0, 1)``: sigmoid, or softmax (whose outputs lie there too);
cross-entropy takes ``log y`` of a probability distribution over the classes, so the outputs
must be positive and sum to 1: softmax only (after a sigmoid, ``-Σ_k t_k log y_k`` is least
when every ``y_k = 1``, whatever the target). Identity and tanh outputs, and a network's hidden
states, can be 0 or negative, and these losses are not defined there.

``reduction="sum"`` gives ``L = Σ_b Σ_t L_bt`` (the worked-solution convention: the losses
of all steps added); ``reduction="mean"`` divides that by the number of terms.

Examples:
    >>> import numpy as np
    >>> y = np.array([[0.7, 0.2, 0.1]])
    >>> value, d_y = loss("ce", y, np.array([0]))
    >>> round(value, 6), np.round(d_y, 4).tolist()
    (0.356675, [[-1.4286, -0.0, -0.0]])
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LOSSES",
    "LOSS_ACTIVATIONS",
    "REDUCTIONS",
    "check_loss",
    "check_loss_activation",
    "check_targets",
    "loss",
    "loss_terms",
    "saturated",
]

#: The loss names.
LOSSES = ("mse", "bce", "ce")
#: The output activations each loss is defined on (the module docstring says why).
LOSS_ACTIVATIONS: dict[str, tuple[str, ...]] = {
    "mse": ("identity", "sigmoid", "tanh", "softmax"),
    "bce": ("sigmoid", "softmax"),
    "ce": ("softmax",),
}
# what each loss needs of the outputs, for the message of check_loss_activation
_NEEDS = {
    "bce": "binary cross-entropy takes log y and log(1 - y), which needs every output in (0, 1)",
    "ce": "cross-entropy takes log y of a probability distribution over the classes, which "
          "needs outputs that are positive and sum to 1",
}
#: How the terms are combined.
REDUCTIONS = ("sum", "mean")


def check_loss(name: object) -> str:
    """Return ``name`` if it is a known loss, else raise ``ValueError``.

    >>> check_loss("bce")
    'bce'
    """
    if name not in LOSSES:
        raise ValueError(f"Argument `loss` must be one of {list(LOSSES)}, got {name!r}.")
    return str(name)


def check_loss_activation(
    name: str, output_activation: str | None, *, output_layer: str = "`output_size`"
) -> str:
    """Return ``name`` if the loss is defined on outputs of ``output_activation``, else refuse.

    Args:
        name: the loss.
        output_activation: the activation that makes the outputs the loss reads, or ``None``
            when they are a network's hidden states (no output layer).
        output_layer: how to add an output layer, for the message (``None`` only).

    Returns:
        ``name``.

    Raises:
        ValueError: an unknown loss, or one that :data:`LOSS_ACTIVATIONS` does not define on
            these outputs (the message names both options and the activations that fit).

    >>> check_loss_activation("bce", "softmax")
    'bce'
    >>> check_loss_activation("ce", "sigmoid")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Argument `loss='ce'` does not combine with `output_activation='sigmoid'`: ...
    """
    check_loss(name)
    fits = LOSS_ACTIVATIONS[name]
    if name == "mse" or output_activation in fits:  # the squared error takes any output
        return name
    options = " or ".join(repr(a) for a in fits)
    if output_activation is None:
        raise ValueError(
            f"Argument `loss={name!r}` does not combine with a network without an output layer, "
            f"whose outputs are its hidden states: {_NEEDS[name]}, so it needs an output layer "
            f"({output_layer}) with output_activation {options}."
        )
    raise ValueError(
        f"Argument `loss={name!r}` does not combine with "
        f"`output_activation={output_activation!r}`: {_NEEDS[name]}, so it needs "
        f"output_activation {options}."
    )


def check_targets(name: str, y: np.ndarray, targets: object) -> np.ndarray:
    """Return ``targets`` as an array shaped like ``y`` (class indices become one-hot rows).

    Args:
        name: the loss.
        y: the outputs ``[..., K]``.
        targets: for ``ce``, class indices ``[...]`` or one-hot rows ``[..., K]``; for ``mse``
            and ``bce``, values ``[..., K]`` (``bce``: in ``[0, 1]``).

    Returns:
        float targets ``[..., K]``.

    Raises:
        ValueError: shape does not fit ``y``, a class index out of range, a bce target outside
            ``[0, 1]``, or a non-finite target.
        TypeError: targets are not numbers.
    """
    check_loss(name)
    t = np.asarray(targets)
    if t.dtype.kind not in "iufb":
        raise TypeError(
            f"Argument `targets` must hold numbers, got an array of dtype {t.dtype}."
        )
    K = y.shape[-1]
    if name == "ce" and t.dtype.kind in "iu" and t.shape == y.shape[:-1]:
        if t.size and (t.min() < 0 or t.max() >= K):
            raise ValueError(
                f"Argument `targets` must hold class indices in [0, {K - 1}] for {K} outputs, "
                f"got values from {t.min()} to {t.max()}."
            )
        return np.eye(K, dtype=y.dtype)[t]
    if t.shape != y.shape:
        expected = (
            f"{tuple(y.shape[:-1])} (class indices) or {tuple(y.shape)}"
            if name == "ce" else f"{tuple(y.shape)}"
        )
        raise ValueError(
            f"Argument `targets` must have shape {expected} to match the outputs, "
            f"got {tuple(t.shape)}."
        )
    t = t.astype(y.dtype)
    if not np.all(np.isfinite(t)):
        raise ValueError("Argument `targets` must be finite numbers, got NaN or infinity.")
    if name == "bce" and t.size and (t.min() < 0 or t.max() > 1):
        raise ValueError(
            f"Argument `targets` must lie in [0, 1] for the 'bce' loss, got values from "
            f"{t.min()} to {t.max()}."
        )
    return t


def loss_terms(name: str, y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each term's loss ``L_bt`` and its gradient ``dL_bt/dy``.

    Args:
        name: ``mse``, ``bce`` or ``ce``.
        y: outputs ``[..., K]``.
        t: targets ``[..., K]`` as :func:`check_targets` returns them.

    Returns:
        ``(L [...], dL/dy [..., K])``.
    """
    tiny = np.finfo(y.dtype).tiny  # keeps log and division finite where y is exactly 0 or 1
    if name == "mse":
        # L = ½ Σ_k (y_k - t_k)²,  dL/dy = y - t
        diff = y - t
        return 0.5 * (diff * diff).sum(axis=-1), diff
    if name == "bce":
        # L = -Σ_k t_k log y_k + (1 - t_k) log(1 - y_k),  dL/dy = (y - t) / (y (1 - y))
        p, q = np.maximum(y, tiny), np.maximum(1.0 - y, tiny)
        terms = -(t * np.log(p) + (1.0 - t) * np.log(q)).sum(axis=-1)
        return terms, (y - t) / (p * q)
    check_loss(name)
    # ce: L = -Σ_k t_k log y_k,  dL/dy = -t / y
    p = np.maximum(y, tiny)
    return -(t * np.log(p)).sum(axis=-1), -t / p


def saturated(name: str, y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The terms whose loss needs ``log 0``: where :func:`loss_terms` can only clamp.

    A ``bce`` or ``ce`` term takes ``log y_k`` where ``t_k > 0`` and (``bce``) ``log(1 - y_k)``
    where ``t_k < 1``. An output that is exactly 0 or 1 in ``y``'s dtype -- a saturated
    sigmoid (``|z| > 37`` in float64), a softmax far from the target, or the one output of a
    one-output softmax, always 1 -- makes that ``-∞``; :func:`loss_terms` clamps it to
    ``-log(tiny)`` (about 708 in float64) with a gradient that is no longer ``dL/dy``.

    Args:
        name: the loss.
        y: outputs ``[..., K]``.
        t: targets ``[..., K]`` as :func:`check_targets` returns them.

    Returns:
        ``[...]`` booleans, ``True`` at the saturated terms (never for ``mse``).

    >>> saturated("bce", np.array([[1.0], [0.5]]), np.array([[0.0], [0.0]])).tolist()
    [True, False]
    """
    tiny = np.finfo(y.dtype).tiny
    if name == "mse":
        return np.zeros(y.shape[:-1], dtype=bool)
    needs_log = (y < tiny) & (t > 0)                                        # log y_k
    if name == "bce":
        needs_log |= (1.0 - y < tiny) & (t < 1)                             # log(1 - y_k)
    return needs_log.any(axis=-1)


def loss(
    name: str,
    y: np.ndarray,
    targets: object,
    *,
    mask: np.ndarray | None = None,
    reduction: str = "sum",
) -> tuple[float, np.ndarray]:
    """The loss of outputs ``y`` against ``targets`` and its gradient ``dL/dy``.

    Args:
        name: ``mse``, ``bce`` or ``ce``.
        y: outputs after the output activation, ``[B, T, K]`` or ``[B, K]``.
        targets: see :func:`check_targets`.
        mask: optional ``[B, T]`` (or ``[B]``) booleans, ``True`` where a term counts.
        reduction: ``"sum"`` (``Σ_b Σ_t L_bt``) or ``"mean"`` (divided by the number of terms).

    Returns:
        ``(L, dL/dy)``, the gradient shaped like ``y`` (zero where masked out).

    Raises:
        ValueError: bad loss, reduction, targets or mask.
    """
    check_loss(name)
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Argument `reduction` must be one of {list(REDUCTIONS)}, got {reduction!r}."
        )
    t = check_targets(name, y, targets)
    terms, d_y = loss_terms(name, y, t)
    if mask is None:
        weights = np.ones(terms.shape, dtype=y.dtype)
    else:
        m = np.asarray(mask)
        if m.shape != terms.shape:
            raise ValueError(
                f"Argument `mask` must have shape {tuple(terms.shape)}, got {tuple(m.shape)}."
            )
        weights = m.astype(y.dtype)
    count = float(weights.sum())
    scale = 1.0 / count if reduction == "mean" and count > 0 else 1.0
    value = float((terms * weights).sum() * scale)
    return value, d_y * (weights * scale)[..., None]
