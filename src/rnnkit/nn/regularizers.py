"""Regularisers for recurrent networks: dropout that respects time, DropConnect and zoneout.

Each is a function of tensors; the layers of :mod:`rnnkit.nn.layers` call them through their
options (``locked_dropout=``, ``recurrent_dropout=``, ``weight_drop=``, ``zoneout=``), and a
model may call them directly (the language model's ``embedding_dropout``).

All the dropout variants are *inverted*: a kept value is scaled by ``1 / (1 - p)`` in
training, so evaluation is the identity and needs no rescaling. With ``m`` a mask of
independent ``Bernoulli(1 - p)`` draws and ``⊙`` the elementwise product:

* locked (variational) dropout, Gal & Ghahramani 2016 -- one mask per *sequence*, the same at
  every step: ``x'_t = x_t ⊙ m / (1 - p)`` with ``m [B, F]`` (:func:`locked_dropout`);
* recurrent dropout, Gal & Ghahramani 2016 -- the same, on ``h_{t-1}`` where it enters the
  recurrent product: ``W_hh (h_{t-1} ⊙ m / (1 - p))``, one mask per sequence;
* weight drop (DropConnect on the recurrent matrix), Wan et al. 2013 as used by Merity et al.
  2017 -- one mask over the *weights*, drawn once per forward pass and shared by every
  sequence and step: ``W'_hh = W_hh ⊙ M / (1 - p)`` (:func:`dropconnect`);
* embedding dropout, Gal & Ghahramani 2016 / Merity et al. 2017 -- whole words: one draw per
  row of the embedding matrix, so every occurrence of a dropped word in the batch is zero
  (:func:`embedding_dropout`).

Zoneout (Krueger et al. 2016) is not a dropout: each unit keeps its previous value with
probability ``p``, with a fresh mask ``z_t`` of ``Bernoulli(p)`` draws at every step, and
evaluation uses the expectation (:func:`zoneout`)::

    training:   h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t
    evaluation: h_t = p h_{t-1} + (1 - p) h̃_t

with ``h̃_t`` what the cell computed. For an LSTM the same applies to ``c`` with its own
probability.

Example:
    >>> import torch
    >>> x = torch.ones(4, 2, 3)  # [T, B, F]
    >>> y = locked_dropout(x, 0.5)
    >>> bool((y == y[0]).all())  # one mask per sequence, reused at every step
    True
    >>> sorted(set(y.flatten().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LockedDropout",
    "check_probability",
    "dropconnect",
    "dropout_mask",
    "embedding_dropout",
    "locked_dropout",
    "zoneout",
    "zoneout_mask",
]


def check_probability(name: str, p: object) -> float:
    """Validate a drop probability: a real number in ``[0, 1)``; return it as a float.

    Raises:
        ValueError: ``p`` is not a number in ``[0, 1)``.

    >>> check_probability("zoneout", 0.25)
    0.25
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"Argument `{name}` must be a number in [0, 1), got {p!r}.")
    return float(p)


def dropout_mask(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """An inverted-dropout mask: ``Bernoulli(1 - p)`` draws scaled by ``1 / (1 - p)``.

    Args:
        shape: the mask's shape.
        p: drop probability in ``[0, 1)``.
        like: the mask takes this tensor's dtype and device.

    Returns:
        A tensor of ``shape`` holding ``0`` and ``1 / (1 - p)``.

    >>> m = dropout_mask((1000,), 0.25, torch.empty(0))
    >>> sorted(set(m.tolist()))
    [0.0, 1.3333333730697632]
    """
    p = check_probability("p", p)
    mask = torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1.0 - p)
    return mask.div_(1.0 - p)


def locked_dropout(
    x: Tensor, p: float, training: bool = True, *, batch_first: bool = False
) -> Tensor:
    """Locked (variational) dropout: one mask per sequence and feature, reused at every step.

    Args:
        x: a sequence batch, ``[T, B, F]`` (``[B, T, F]`` with ``batch_first``).
        p: drop probability in ``[0, 1)``.
        training: drop only when true; otherwise return ``x`` unchanged.
        batch_first: layout of ``x``.

    Returns:
        ``x ⊙ m / (1 - p)`` with ``m [B, F]`` broadcast over time.

    Raises:
        ValueError: ``p`` is not in ``[0, 1)`` or ``x`` is not 3-D.
    """
    p = check_probability("p", p)
    if x.dim() != 3:
        raise ValueError(
            f"Argument `x` must be a 3-D sequence batch [T, B, F] or [B, T, F], got shape "
            f"{list(x.shape)}."
        )
    if not training or p == 0:
        return x
    B, Fe = (x.shape[0], x.shape[2]) if batch_first else (x.shape[1], x.shape[2])
    mask = dropout_mask((B, Fe), p, x)
    return x * (mask.unsqueeze(1) if batch_first else mask.unsqueeze(0))


class LockedDropout(nn.Module):
    """Module form of :func:`locked_dropout`; the last mask drawn is kept in ``last_mask``.

    Args:
        p: drop probability in ``[0, 1)``.
        batch_first: inputs are ``[B, T, F]`` instead of ``[T, B, F]``.

    Shape:
        ``[T, B, F]`` (or ``[B, T, F]``) -> the same.

    Raises:
        ValueError: ``p`` is not in ``[0, 1)``.

    Example:
        >>> drop = LockedDropout(0.5, batch_first=True)
        >>> y = drop(torch.ones(2, 7, 3))
        >>> drop.last_mask.shape, bool((y == drop.last_mask.unsqueeze(1)).all())
        (torch.Size([2, 3]), True)
        >>> bool((drop.eval()(torch.ones(2, 7, 3)) == 1).all())
        True
    """

    def __init__(self, p: float, batch_first: bool = False) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.batch_first = bool(batch_first)
        self.last_mask: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Drop features of whole sequences (training only)."""
        if x.dim() != 3:
            raise ValueError(
                f"Argument `x` must be a 3-D sequence batch [T, B, F] or [B, T, F], got shape "
                f"{list(x.shape)}."
            )
        if not self.training or self.p == 0:
            return x
        B = x.shape[0] if self.batch_first else x.shape[1]
        self.last_mask = dropout_mask((B, x.shape[2]), self.p, x)
        return x * self.last_mask.unsqueeze(1 if self.batch_first else 0)

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", batch_first=True" if self.batch_first else "")


def dropconnect(weight: Tensor, p: float, training: bool = True) -> tuple[Tensor, Tensor | None]:
    """DropConnect: drop individual weights, ``W' = W ⊙ M / (1 - p)``.

    The result is a new tensor (contiguous, so fused kernels take it as it is); ``weight``
    itself is unchanged and receives the gradient ``dL/dW = dL/dW' ⊙ M / (1 - p)``.

    Args:
        weight: the weight matrix, usually a layer's ``weight_hh``.
        p: drop probability in ``[0, 1)``.
        training: drop only when true.

    Returns:
        ``(dropped weight, mask)``; ``(weight, None)`` when not training or ``p == 0``.

    >>> w = torch.ones(2, 3, requires_grad=True)
    >>> dropped, mask = dropconnect(w, 0.5)
    >>> torch.equal(dropped, w * mask), bool((w == 1).all())
    (True, True)
    """
    p = check_probability("p", p)
    if not training or p == 0:
        return weight, None
    mask = dropout_mask(tuple(weight.shape), p, weight)
    return weight * mask, mask


def zoneout_mask(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """Zoneout masks: ``Bernoulli(p)`` draws, ``1`` where a unit keeps its previous value.

    Args:
        shape: usually ``[T, B, S]``, one mask per step.
        p: zoneout probability in ``[0, 1)``.
        like: the mask takes this tensor's dtype and device.
    """
    p = check_probability("p", p)
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(p)


def zoneout(new: Tensor, previous: Tensor, p: float | Tensor) -> Tensor:
    """Mix a unit's new and previous values: ``p ⊙ previous + (1 - p) ⊙ new``.

    In training ``p`` is a 0/1 mask from :func:`zoneout_mask` (each unit either keeps its
    previous value or takes the new one, exactly); in evaluation it is the probability itself,
    which gives the expectation of the training rule.

    Args:
        new: ``h̃_t``, what the cell computed.
        previous: ``h_{t-1}``.
        p: a mask shaped like ``new``, or a float.

    >>> zoneout(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0]))
    tensor([0., 1.])
    >>> zoneout(torch.tensor([1.0]), torch.tensor([0.0]), 0.25)
    tensor([0.7500])
    """
    # lerp(new, previous, w) = new + w (previous - new): exact at w = 0 and w = 1.
    return torch.lerp(new, previous, p)


def embedding_dropout(
    ids: Tensor,
    weight: Tensor,
    p: float,
    training: bool = True,
    padding_idx: int | None = None,
) -> Tensor:
    """Look up embeddings, dropping whole words: one draw per vocabulary row per call.

    ``e_t = E[x_t] ⊙ m[x_t] / (1 - p)`` with ``m [V]`` of ``Bernoulli(1 - p)`` draws, so
    every occurrence of a dropped word in the batch is zero. The same as dropping rows of
    ``E`` (Merity et al.'s ``embedded_dropout``) without building a masked copy of ``E``.

    Args:
        ids: token ids, any shape, integer.
        weight: the embedding matrix ``E [V, D]``.
        p: drop probability in ``[0, 1)``.
        training: drop only when true.
        padding_idx: as ``torch.nn.functional.embedding``.

    Returns:
        Embeddings ``[*ids.shape, D]``.

    >>> E = torch.ones(5, 2)
    >>> e = embedding_dropout(torch.tensor([[1, 1, 1, 1]]), E, 0.5)
    >>> bool((e == e[0, 0]).all())  # the same word is kept or dropped everywhere
    True
    """
    p = check_probability("p", p)
    emb = F.embedding(ids, weight, padding_idx)
    if not training or p == 0:
        return emb
    keep = dropout_mask((weight.shape[0],), p, weight)
    return emb * keep[ids].unsqueeze(-1)
