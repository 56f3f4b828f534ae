"""Layer normalisation per gate block, forward and backward (Ba et al. 2016).

A projection ``a`` of ``G*H`` rows (the ``G`` gate blocks of ``H`` units side by side, as in
``weight_ih``) is normalised block by block, each block on its own statistics, then scaled
and shifted by gains ``γ`` and biases ``β`` over all ``G*H`` rows (``spec.py``)::

    μ_k  = mean(a_k)                       over the H units of block k
    σ²_k = mean((a_k - μ_k)²)              (biased variance, as torch.nn.LayerNorm)
    â_k  = (a_k - μ_k) / sqrt(σ²_k + eps)  eps = spec.LAYER_NORM_EPS
    LN(a) = γ ⊙ â + β

Backward, with ``dâ = γ ⊙ dL/dLN`` and means over the ``H`` units of a block::

    dL/dγ = Σ dL/dLN ⊙ â        dL/dβ = Σ dL/dLN          (sums over batch and time)
    dL/da_k = (dâ_k - mean(dâ_k) - â_k mean(dâ_k ⊙ â_k)) / sqrt(σ²_k + eps)

Shape letters: ``B`` batch, ``T`` time, ``G`` gate blocks, ``H`` units per block.

Examples:
    >>> import numpy as np
    >>> out, cache = layer_norm(np.array([[1.0, 3.0, 0.0, 4.0]]), np.ones(4), np.zeros(4), 2)
    >>> np.round(out, 4).tolist()
    [[-1.0, 1.0, -1.0, 1.0]]
"""

from __future__ import annotations

import numpy as np

from rnnkit.spec import LAYER_NORM_EPS

__all__ = ["layer_norm", "layer_norm_backward"]

LayerNormCache = tuple[np.ndarray, np.ndarray, np.ndarray, int]


def layer_norm(
    a: np.ndarray, gamma: np.ndarray, beta: np.ndarray, blocks: int
) -> tuple[np.ndarray, LayerNormCache]:
    """Normalise each of the ``blocks`` gate blocks of ``a`` on its own, then scale and shift.

    Args:
        a: the projection, ``[..., G*H]`` (any leading axes: ``[B, ·]`` or ``[T, B, ·]``).
        gamma: gains ``γ``, ``[G*H]``.
        beta: biases ``β``, ``[G*H]``.
        blocks: ``G``, how many gate blocks the last axis holds.

    Returns:
        ``(LN(a), cache)``; the cache is what :func:`layer_norm_backward` needs.
    """
    lead, width = a.shape[:-1], a.shape[-1]
    H = width // blocks
    a_k = a.reshape(*lead, blocks, H)                                  # [..., G, H]
    # μ_k = mean(a_k),  σ²_k = mean((a_k - μ_k)²)
    mu = a_k.mean(axis=-1, keepdims=True)                              # [..., G, 1]
    centred = a_k - mu                                                 # [..., G, H]
    var = (centred * centred).mean(axis=-1, keepdims=True)             # [..., G, 1]
    # â_k = (a_k - μ_k) / sqrt(σ²_k + eps)
    inv_std = 1.0 / np.sqrt(var + LAYER_NORM_EPS)                      # [..., G, 1]
    a_hat = (centred * inv_std).reshape(a.shape)                       # [..., G*H]
    # LN(a) = γ ⊙ â + β
    out = gamma * a_hat + beta                                         # [..., G*H]
    return out, (a_hat, inv_std, gamma, blocks)


def layer_norm_backward(
    d_out: np.ndarray, cache: LayerNormCache, d_gamma: np.ndarray, d_beta: np.ndarray
) -> np.ndarray:
    """Backward of :func:`layer_norm`: return ``dL/da``; add ``dL/dγ``, ``dL/dβ`` in place.

    Args:
        d_out: ``dL/dLN(a)``, ``[..., G*H]``.
        cache: the second value :func:`layer_norm` returned.
        d_gamma: ``[G*H]`` accumulator for ``dL/dγ`` (summed over the leading axes).
        d_beta: ``[G*H]`` accumulator for ``dL/dβ``.

    Returns:
        ``dL/da``, ``[..., G*H]``.
    """
    a_hat, inv_std, gamma, blocks = cache
    lead, width = a_hat.shape[:-1], a_hat.shape[-1]
    H = width // blocks
    flat = d_out.reshape(-1, width)
    # dL/dγ = Σ dL/dLN ⊙ â,  dL/dβ = Σ dL/dLN
    d_gamma += (flat * a_hat.reshape(-1, width)).sum(axis=0)           # [G*H]
    d_beta += flat.sum(axis=0)                                         # [G*H]
    # dâ = γ ⊙ dL/dLN
    d_hat = (d_out * gamma).reshape(*lead, blocks, H)                  # [..., G, H]
    a_hat_k = a_hat.reshape(*lead, blocks, H)                          # [..., G, H]
    # dL/da_k = (dâ_k - mean(dâ_k) - â_k mean(dâ_k ⊙ â_k)) / sqrt(σ²_k + eps)
    d_a = inv_std * (
        d_hat
        - d_hat.mean(axis=-1, keepdims=True)
        - a_hat_k * (d_hat * a_hat_k).mean(axis=-1, keepdims=True)
    )                                                                  # [..., G, H]
    return d_a.reshape(a_hat.shape)
