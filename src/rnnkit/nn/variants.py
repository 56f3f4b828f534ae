"""Cell variants of two architecture searches: the LSTM ablations and MUT1-3.

The specs and the step maths of the variants; :class:`rnnkit.nn.LSTMCell` and
:class:`rnnkit.nn.LSTM` run the LSTM ablations with ``variant=...``, :class:`rnnkit.nn.MUTCell`
and :class:`rnnkit.nn.MUT` the MUT cells. (The cell and layer classes live beside the others in
``cells.py`` and ``layers.py``, which import this module; it imports neither.) The specs are
defined in the torch-free :mod:`rnnkit.spec_variants` and re-exported here; the NumPy reference
engine implements the same cells in :mod:`rnnkit.reference.variants`.

The equations and parameter layouts of every variant -- the LSTM gate ablations of Greff et
al. 2017 (nig, nfg, nog, niaf, noaf, cifg, fgr) and MUT1-3 of Jozefowicz et al. 2015 -- are
written once, in :mod:`rnnkit.spec_variants`. A removed gate has no weights; the full gate
recurrence adds ``weight_ah [3H, 3H]`` and carries ``a_t = [i_t; f_t; o_t]`` in its state
``(h, c, a)``; MUT1 and MUT2 add ``x_t`` itself, so they need ``I == H``. The projected
input of a MUT step (:func:`project_input`) is always ``[B, 3H]`` in the order (z, r, h):
everything that does not depend on ``h_{t-1}``, biases included.

Example:
    >>> spec = lstm_variant_spec("cifg")
    >>> spec.gates, spec.parameter_shapes(3, 2)["weight_ih"]
    (('i', 'g', 'o'), (6, 3))
    >>> sorted(mut_spec(1).parameter_shapes(4, 4).items())
    [('bias_hh', (8,)), ('bias_ih', (8,)), ('weight_hh', (8, 4)), ('weight_ih', (8, 4))]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.functional import _masked  # recurrent dropout, as the plain cells apply it

# The specs are pure Python and live in rnnkit.spec_variants (the NumPy reference engine
# builds from them too); re-exported here under their old names.
from rnnkit.spec_variants import LSTM_VARIANTS, MUT_KINDS, VariantSpec, lstm_variant_spec, mut_spec

__all__ = [
    "LSTM_VARIANTS",
    "MUT_KINDS",
    "VariantSpec",
    "lstm_variant_spec",
    "lstm_variant_step",
    "mut_spec",
    "mut_step",
    "project_input",
    "step_function",
]

State = tuple[Tensor, ...]
Params = Mapping[str, Tensor]
StepFunction = Callable[..., tuple[Tensor, State]]


def _blocks(t: Tensor | None, names: tuple[str, ...]) -> dict[str, Tensor]:
    if t is None:
        return {}
    return dict(zip(names, t.chunk(len(names), -1), strict=True))


def project_input(spec: VariantSpec, x: Tensor, params: Params) -> Tensor:
    """Everything of a variant's steps that does not depend on the state, for all steps at once.

    LSTM ablations: ``W_ih x + b_ih + b_hh`` (the recurrent bias adds to the same
    pre-activations). MUT: the blocks (z, r, h) of ``W_ih x`` completed with the terms in
    ``x`` itself (MUT1: ``tanh(x)`` for h; MUT2: ``x`` for r), plus every bias of each gate.

    Args:
        spec: the variant's spec.
        x: inputs, any leading shape.
        params: the cell's parameters (biases optional).

    Shape:
        ``x``: ``[..., I]`` -> ``[..., G*H]`` (``G = len(spec.gates)``).

    Returns:
        The projected inputs.
    """
    bias_ih, bias_hh = params.get("bias_ih"), params.get("bias_hh")
    if spec.name.startswith("lstm_"):
        bias = bias_ih if bias_hh is None else bias_ih + bias_hh
        return F.linear(x, params["weight_ih"], bias)
    projected = _blocks(F.linear(x, params["weight_ih"]), spec.input_gates)
    if spec.variant == "mut1":
        projected["h"] = torch.tanh(x)
    elif spec.variant == "mut2":
        projected["r"] = x
    biases = [_blocks(bias_ih, spec.input_gates), _blocks(bias_hh, spec.recurrent_gates)]
    out = []
    for gate in spec.gates:
        block = projected[gate]
        for b in biases:
            if gate in b:
                block = block + b[gate]
        out.append(block)
    return torch.cat(out, dim=-1)


def lstm_variant_step(
    xw_t: Tensor,
    state: State,
    params: Params,
    variant: str,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, State]:
    """One step of an LSTM ablation (equations in the module docstring).

    Args:
        xw_t: projected input of this step, ``W_ih x_t + b_ih + b_hh``, ``[B, G*H]``.
        state: ``(h_{t-1}, c_{t-1})``; ``(h_{t-1}, c_{t-1}, a_{t-1})`` for ``"fgr"``.
        params: needs ``weight_hh`` (and ``weight_ah`` for ``"fgr"``).
        variant: one of :data:`LSTM_VARIANTS` but ``"vanilla"``.
        recurrent_mask: recurrent dropout on ``h_{t-1}`` in the product, ``[B, H]``.

    Returns:
        ``(h_t, (h_t, c_t))``, or ``(h_t, (h_t, c_t, a_t))`` for ``"fgr"``.

    Raises:
        ValueError: an unknown ``variant``.
    """
    h_prev, c_prev = state[0], state[1]
    pre = torch.addmm(xw_t, _masked(h_prev, recurrent_mask), params["weight_hh"].t())
    if variant == "fgr":
        i, f, g, o = pre.chunk(4, 1)
        # [a_i; a_f; a_o] += W_ah [i_{t-1}; f_{t-1}; o_{t-1}]
        ri, rf, ro = F.linear(state[2], params["weight_ah"]).chunk(3, 1)
        i, f, o = torch.sigmoid(i + ri), torch.sigmoid(f + rf), torch.sigmoid(o + ro)
        c = f * c_prev + i * torch.tanh(g)
        h = o * torch.tanh(c)
        return h, (h, c, torch.cat([i, f, o], dim=1))
    if variant == "nig":
        f, g, o = pre.chunk(3, 1)
        c = torch.sigmoid(f) * c_prev + torch.tanh(g)
    elif variant == "nfg":
        i, g, o = pre.chunk(3, 1)
        c = torch.addcmul(c_prev, torch.sigmoid(i), torch.tanh(g))
    elif variant == "cifg":
        i, g, o = pre.chunk(3, 1)
        i = torch.sigmoid(i)
        c = (1 - i) * c_prev + i * torch.tanh(g)
    elif variant == "nog":
        i, f, g = pre.chunk(3, 1)
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        h = torch.tanh(c)
        return h, (h, c)
    elif variant in ("niaf", "noaf"):
        i, f, g, o = pre.chunk(4, 1)
        g = g if variant == "niaf" else torch.tanh(g)
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * g
        if variant == "noaf":
            h = torch.sigmoid(o) * c
            return h, (h, c)
    else:
        raise ValueError(
            f"Argument `variant` must be one of {list(LSTM_VARIANTS[1:])}, got {variant!r}."
        )
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, (h, c)


def mut_step(
    xw_t: Tensor,
    state: State,
    params: Params,
    kind: int,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, State]:
    """One step of MUT1, MUT2 or MUT3 (equations in the module docstring).

    Args:
        xw_t: projected input of this step (:func:`project_input`), ``[B, 3H]``, blocks
            (z, r, h), biases included.
        state: ``(h_{t-1},)``.
        params: needs ``weight_hh``.
        kind: 1, 2 or 3.
        recurrent_mask: recurrent dropout on ``h_{t-1}`` in the recurrent products (not in
            ``h_{t-1} ⊙ (1 - z)``), ``[B, H]``.

    Returns:
        ``(h_t, (h_t,))``.

    Raises:
        ValueError: ``kind`` is not 1, 2 or 3.
    """
    (h_prev,) = state
    h_in = _masked(h_prev, recurrent_mask)
    H = h_prev.shape[-1]
    xz, xr, xh = xw_t.split(H, dim=1)
    W = params["weight_hh"]
    if kind == 1:  # weight_hh blocks (r, h); z reads x_t only
        z = torch.sigmoid(xz)
        r = torch.sigmoid(torch.addmm(xr, h_in, W[:H].t()))
    elif kind == 2:  # blocks (z, r, h): z and r read h_{t-1} in one product
        z, r = torch.sigmoid(torch.addmm(xw_t[:, : 2 * H], h_in, W[: 2 * H].t())).chunk(2, 1)
    elif kind == 3:  # blocks (z, r, h); z reads tanh(h_{t-1})
        z = torch.sigmoid(torch.addmm(xz, torch.tanh(h_in), W[:H].t()))
        r = torch.sigmoid(torch.addmm(xr, h_in, W[H : 2 * H].t()))
    else:
        raise ValueError(f"Argument `kind` must be one of {list(MUT_KINDS)}, got {kind!r}.")
    n = torch.tanh(torch.addmm(xh, r * h_in, W[-H:].t()))
    # n ⊙ z + h_{t-1} ⊙ (1 - z), with one product fewer.
    h = torch.addcmul(h_prev, z, n - h_prev)
    return h, (h,)


def step_function(spec: VariantSpec) -> StepFunction:
    """The step function of a variant, its configuration bound.

    >>> step_function(mut_spec(3)).keywords
    {'kind': 3}
    """
    if spec.name.startswith("mut"):
        return functools.partial(mut_step, kind=int(spec.variant[-1]))
    return functools.partial(lstm_variant_step, variant=spec.variant)
