"""A layer-normalised GRU direction over a whole sequence, backpropagated through time by hand.

The loop path steps :func:`rnnkit.nn.functional.layer_norm_gru_step` under autograd: about a
dozen small recorded kernels a step, whose backward reads back many saved ``[B, 3H]``
intermediates and forms the recurrent weight gradient one small product per step.
:func:`layer_norm_gru_sequence` computes the same function of the same parameters with one
``torch.autograd.Function`` per direction, built as
:mod:`rnnkit.nn.layer_norm_lstm` builds the LSTM's. Only the input product ``W_ih x`` of all
steps runs under autograd, as one matrix product. The node's forward loop runs without
autograd and keeps ``h`` and the recurrent product ``W_hh h`` of each step; its backward runs
through time in reverse, written out by hand: it recomputes each step's layer norms and gates
from those, sums the gain and bias gradients step by step while the step's tensors are in
cache, and forms the recurrent weight gradient one product per chunk of about a thousand
rows (steps × batch). Per-step results go into tensors allocated once per call, except the
products, which oneDNN returns fresh.

The equations, per step ``t`` (gate order r, z, n, as in torch; each of the 3 gate blocks
normalised on its own statistics, ``norm(a) = (a - mean(a)) / sqrt(var(a) + eps)``)::

    u_t = γ_ih ⊙ norm(W_ih x_t) + β_ih + b_ih               (project_input's part)
    v_t = γ_hh ⊙ norm(W_hh (m ⊙ h_{t-1})) + β_hh + b_hh
    r, z = σ(u_r + v_r), σ(u_z + v_z)
    n = tanh(u_n + r ⊙ v_n)
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

with ``m`` the recurrent-dropout mask (one per sequence), which the carried ``z ⊙ h_{t-1}``
does not see. ``b_hh`` and ``β_hh`` sit inside ``r ⊙ v_n``, so unlike the LSTM's they do not
fold into one constant with the input side's. Where a step mask (variable lengths) is off,
the sequence keeps its state: ``h_t = h_{t-1}``.

Example:
    >>> import torch
    >>> from rnnkit.nn import GRU
    >>> layer = GRU(3, 4, layer_norm=True, force_loop=True)
    >>> x, h0 = torch.randn(5, 2, 3), torch.zeros(2, 4)
    >>> out, (h_n,) = layer_norm_gru_sequence(x, (h0,), layer.direction_parameters(0))
    >>> out.shape, h_n.shape
    (torch.Size([5, 2, 4]), torch.Size([2, 4]))
    >>> bool(torch.allclose(out, layer(x)[0], atol=1e-6))
    True
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx

from rnnkit.nn.layer_norm_lstm import (
    _CHUNK_ROWS,
    _check_arguments,
    _normalize,
    _normalize_backward,
    _product,
    _refuse_double_backward,
    _sigmoid_backward,
    _tanh_backward,
)

__all__ = ["layer_norm_gru_sequence"]

Params = Mapping[str, Tensor]


def layer_norm_gru_sequence(
    x: Tensor,
    state: tuple[Tensor],
    params: Params,
    *,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
    step_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor]]:
    """Run a layer-normalised GRU over every step of one direction.

    Computes what ``project_input("gru", x, params, layer_norm=True)`` followed by
    :func:`rnnkit.nn.functional.layer_norm_gru_step` at every step computes, gradients
    included, with one autograd node for the recurrence (module docstring). Without autograd
    it runs the same forward loop and keeps nothing. The node's backward is not itself
    differentiable: a backward with ``create_graph=True`` through it raises a RuntimeError.

    Args:
        x: inputs of every step, ``[T, B, I]``.
        state: ``(h_0,)``, ``[B, H]``.
        params: the layer-norm GRU cell's parameters: ``weight_ih``, ``weight_hh`` and the
            ``ln_ih_*``, ``ln_hh_*`` gains and biases; ``bias_ih``, ``bias_hh`` optional.
        reverse: run from the last step to the first (the backward direction).
        recurrent_mask: recurrent dropout, ``[B, H]``: the product sees ``h_{t-1} ⊙ mask``.
        step_mask: ``[T, B, 1]`` bools, false where a sequence has ended: there its state
            stays as it was.

    Shape:
        ``x [T, B, I]`` -> ``output [T, B, H]``; ``h_n`` ``[B, H]``.

    Returns:
        ``(output, (h_n,))``: ``h`` after each step in time order (with a step mask, the held
        state past a sequence's end) and the final state.

    Raises:
        ValueError: ``x`` and the state do not fit ``weight_ih``.
    """
    _check_arguments("layer_norm_gru_sequence", x, state, params, 3)
    (h0,) = state
    # The input product of all steps at once, under autograd; its layer norm, gain and the
    # constant terms are applied inside the step, where their gradients are formed while the
    # step's tensors are in cache.
    xw = F.linear(x, params["weight_ih"])
    shift_ih, shift_hh = params["ln_ih_bias"], params["ln_hh_bias"]
    if "bias_ih" in params:
        shift_ih = shift_ih + params["bias_ih"]
    if "bias_hh" in params:
        shift_hh = shift_hh + params["bias_hh"]
    inputs = (
        xw,
        params["ln_ih_weight"],
        shift_ih,
        h0,
        params["weight_hh"],
        params["ln_hh_weight"],
        shift_hh,
    )
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        out, h_n = _LayerNormGRUSequence.apply(*inputs, recurrent_mask, step_mask, reverse)
    else:
        out, h_n, _ = _forward(*inputs, recurrent_mask, step_mask, reverse, keep=False)
    return out, (h_n,)


class _Cell:
    """One step after the recurrent product, shared by the forward loop and the backward.

    As in the LSTM's, the backward recomputes each step's layer norms and gates from the saved
    products instead of keeping them. Results land in tensors allocated once, overwritten
    every step:

    * ``xw_norm``, ``hw_norm`` ``[B, 3, H]``: ``norm(xw_t)``, ``norm(hw_t)`` per gate block,
      with ``xw_rstd``, ``hw_rstd`` ``[B, 3, 1]``;
    * ``v`` ``[B, 3H]``: ``γ_hh ⊙ norm(hw_t) + shift_hh``;
    * ``gates`` ``[B, 3H]``: ``r, z, n``;
    * ``h_minus_n`` ``[B, H]``: ``h_{t-1} - n``.
    """

    def __init__(
        self,
        B: int,
        H: int,
        ln_ih_weight: Tensor,
        shift_ih: Tensor,
        ln_hh_weight: Tensor,
        shift_hh: Tensor,
    ) -> None:
        self.B, self.H = B, H
        self.ln_ih_weight, self.shift_ih = ln_ih_weight, shift_ih
        self.ln_hh_weight, self.shift_hh = ln_hh_weight, shift_hh
        new = shift_ih.new_empty
        self.xw_norm, self.hw_norm, self.scratch = new(B, 3, H), new(B, 3, H), new(B, 3, H)
        self.xw_rstd, self.hw_rstd = new(B, 3, 1), new(B, 3, 1)
        self.a, self.v, self.gates = new(B, 3 * H), new(B, 3 * H), new(B, 3 * H)
        self.h_minus_n = new(B, H)

    def __call__(self, xw_t: Tensor, hw_t: Tensor, h_prev: Tensor, h_new: Tensor) -> None:
        """One step from ``xw_t``, ``hw_t`` ``[B, 3H]`` and ``h_{t-1}``; ``h_t`` into ``h_new``."""
        B, H = self.B, self.H
        a, v = self.a, self.v
        _normalize(xw_t.view(B, 3, H), self.xw_norm, self.xw_rstd, self.scratch)
        _normalize(hw_t.view(B, 3, H), self.hw_norm, self.hw_rstd, self.scratch)
        torch.addcmul(self.shift_ih, self.xw_norm.view(B, 3 * H), self.ln_ih_weight, out=a)
        torch.addcmul(self.shift_hh, self.hw_norm.view(B, 3 * H), self.ln_hh_weight, out=v)
        a[:, : 2 * H].add_(v[:, : 2 * H])
        r, z, n = self.gates.chunk(3, 1)
        torch.sigmoid(a[:, : 2 * H], out=self.gates[:, : 2 * H])
        torch.tanh(a[:, 2 * H :].addcmul_(r, v[:, 2 * H :]), out=n)
        # (1 - z) ⊙ n + z ⊙ h_{t-1}, with one product fewer.
        torch.addcmul(n, z, torch.sub(h_prev, n, out=self.h_minus_n), out=h_new)


def _forward(
    xw: Tensor,
    ln_ih_weight: Tensor,
    shift_ih: Tensor,
    h0: Tensor,
    weight_hh: Tensor,
    ln_hh_weight: Tensor,
    shift_hh: Tensor,
    recurrent_mask: Tensor | None,
    step_mask: Tensor | None,
    reverse: bool,
    keep: bool,
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """The forward loop: ``(out, h_n, hw)``; ``hw`` is for the backward.

    ``hw`` lists ``W_hh (m ⊙ h_{t-1})`` of every step in time order (with ``keep``; else it
    is empty): with ``h``, all the backward keeps.
    """
    T, B, G = xw.shape
    H = G // 3
    cell = _Cell(B, H, ln_ih_weight, shift_ih, ln_hh_weight, shift_hh)
    out = xw.new_empty(T, B, H)  # h after each step, in time order
    # Each step's product is a fresh tensor, kept as it is (a slice of one [T, B, 3H] buffer
    # would cost a copy).
    hw: list[Tensor] = []
    h_in = None if recurrent_mask is None else xw.new_empty(B, H)
    h_new = None if step_mask is None else xw.new_empty(B, H)
    h_prev = h0
    for k in range(T):
        t = T - 1 - k if reverse else k
        if h_in is not None:
            torch.mul(h_prev, recurrent_mask, out=h_in)
        hw_t = _product(h_prev if h_in is None else h_in, weight_hh)
        if keep:
            hw.append(hw_t)
        if step_mask is None:
            cell(xw[t], hw_t, h_prev, out[t])
        else:
            cell(xw[t], hw_t, h_prev, h_new)
            torch.where(step_mask[t], h_new, h_prev, out=out[t])
        h_prev = out[t]
    if reverse:
        hw.reverse()
    return out, h_prev.clone(), hw


_SAVED = (
    "out", "xw", "ln_ih_weight", "shift_ih", "h0", "weight_hh", "ln_hh_weight", "shift_hh",
    "recurrent_mask", "step_mask",
)  # fmt: skip


class _LayerNormGRUSequence(torch.autograd.Function):
    """Autograd node of :func:`layer_norm_gru_sequence`: one for all steps of a direction."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        xw: Tensor,
        ln_ih_weight: Tensor,
        shift_ih: Tensor,
        h0: Tensor,
        weight_hh: Tensor,
        ln_hh_weight: Tensor,
        shift_hh: Tensor,
        recurrent_mask: Tensor | None,
        step_mask: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, Tensor]:
        out, h_n, hw = _forward(
            xw, ln_ih_weight, shift_ih, h0, weight_hh, ln_hh_weight, shift_hh, recurrent_mask,
            step_mask, reverse, keep=True,
        )  # fmt: skip
        # The output is saved as it is returned: as with torch.nn.GRU, changing it in place
        # before the backward is an error, not a wrong gradient.
        ctx.save_for_backward(
            out, xw, ln_ih_weight, shift_ih, h0, weight_hh, ln_hh_weight, shift_hh,
            recurrent_mask, step_mask, *hw,
        )  # fmt: skip
        ctx.reverse = reverse
        # An output nothing used gets None, not a zero tensor the size of the output.
        ctx.set_materialize_grads(False)
        return out, h_n

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, d_out: Tensor | None, d_h_n: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        _refuse_double_backward("GRU(layer_norm=True)")
        tensors = ctx.saved_tensors
        saved = dict(zip(_SAVED, tensors[: len(_SAVED)], strict=True))
        return _backward(saved, tensors[len(_SAVED) :], ctx.reverse, d_out, d_h_n)


def _backward(
    saved: dict[str, Tensor | None],
    hw: tuple[Tensor, ...],
    reverse: bool,
    d_out: Tensor | None,
    d_h_n: Tensor | None,
) -> tuple[Tensor | None, ...]:
    """Backpropagation through time, last step first; gradients of every input of the node."""
    out, xw, h0, weight_hh = saved["out"], saved["xw"], saved["h0"], saved["weight_hh"]
    ln_ih_weight, ln_hh_weight = saved["ln_ih_weight"], saved["ln_hh_weight"]
    recurrent_mask, step_mask = saved["recurrent_mask"], saved["step_mask"]
    T, B, G = xw.shape
    H = G // 3
    cell = _Cell(B, H, ln_ih_weight, saved["shift_ih"], ln_hh_weight, saved["shift_hh"])
    new, zeros = out.new_empty, out.new_zeros
    # dL/dh of the state leaving the step at hand, from everything after it.
    d_h = zeros(B, H) if d_h_n is None else d_h_n.clone()
    d_xw = new(T, B, G)
    # The weight gradient Σ_t dL/dhw_t^T (m ⊙ h_{t-1}) as one product per chunk of steps,
    # as in the LSTM's backward.
    chunk = max(1, min(T, _CHUNK_ROWS // B))
    d_hw, h_in = new(chunk, B, G), new(chunk, B, H)
    d_weight_hh, filled = zeros(G, H), 0
    weight_hh_t = weight_hh.t().contiguous()  # dL/d(m ⊙ h_{t-1}) = dL/dhw_t W_hh
    # Gains and biases: summed into [B, 3H] accumulators step by step, while each step's
    # tensors are in cache.
    d_ih_gain, d_hh_gain, d_shift_ih, d_shift_hh = (zeros(B, G) for _ in range(4))
    # Per-step scratch, allocated once. d_u, d_v: dL/du_t, dL/dv_t, equal in the r, z blocks.
    d_u, d_v, d_n, sums = new(B, G), new(B, G), new(B, 3, H), new(2, B, 3, 1)
    h_new, d_carry, d_product = new(B, H), new(B, H), new(B, H)
    du_rz, du_n = d_u[:, : 2 * H], d_u[:, 2 * H :]
    r, z, n = cell.gates.chunk(3, 1)
    v_n = cell.v[:, 2 * H :]
    if step_mask is not None:
        step_on = step_mask.to(out.dtype)
        step_off = 1 - step_on
        d_h_held = new(B, H)
    for k in range(T):
        t = k if reverse else T - 1 - k
        start = k == T - 1
        h_prev = h0 if start else out[t + 1] if reverse else out[t - 1]
        if d_out is not None:
            d_h.add_(d_out[t])
        if step_mask is not None:
            # A held state passes its gradient straight to the state before it.
            torch.mul(d_h, step_off[t], out=d_h_held)
            d_h.mul_(step_on[t])
        cell(xw[t], hw[t], h_prev, h_new)
        # h_t = n + z ⊙ (h_{t-1} - n)
        _sigmoid_backward(torch.mul(d_h, cell.h_minus_n, out=d_product), z, grad_input=du_rz[:, H:])
        # n = tanh(u_n + r ⊙ v_n); the carried z ⊙ h_{t-1} passes z ⊙ dL/dh_t on.
        torch.mul(d_h, z, out=d_carry)
        _tanh_backward(torch.sub(d_h, d_carry, out=d_product), n, grad_input=du_n)
        torch.mul(du_n, r, out=d_v[:, 2 * H :])
        # r, z = σ(u_rz + v_rz)
        _sigmoid_backward(torch.mul(du_n, v_n, out=d_product), r, grad_input=du_rz[:, :H])
        d_v[:, : 2 * H] = du_rz
        # u_t = γ_ih ⊙ norm(xw_t) + shift_ih,  v_t = γ_hh ⊙ norm(hw_t) + shift_hh
        d_ih_gain.addcmul_(d_u, cell.xw_norm.view(B, G))
        d_hh_gain.addcmul_(d_v, cell.hw_norm.view(B, G))
        d_shift_ih.add_(d_u)
        d_shift_hh.add_(d_v)
        _normalize_backward(
            torch.mul(d_u, ln_ih_weight, out=d_n.view(B, G)).view(B, 3, H), cell.xw_norm,
            cell.xw_rstd, d_xw[t].view(B, 3, H), cell.scratch, sums,
        )  # fmt: skip
        _normalize_backward(
            torch.mul(d_v, ln_hh_weight, out=d_n.view(B, G)).view(B, 3, H), cell.hw_norm,
            cell.hw_rstd, d_hw[filled].view(B, 3, H), cell.scratch, sums,
        )  # fmt: skip
        d_h = _product(d_hw[filled], weight_hh_t)
        # hw_t = W_hh (m ⊙ h_{t-1}), with h_{t-1} = out[t -/+ 1] or h_0 at the start.
        if recurrent_mask is None:
            h_in[filled] = h_prev
        else:
            torch.mul(h_prev, recurrent_mask, out=h_in[filled])
            d_h.mul_(recurrent_mask)
        d_h.add_(d_carry)
        filled += 1
        if filled == chunk or start:
            d_weight_hh.addmm_(d_hw[:filled].view(-1, G).t(), h_in[:filled].view(-1, H))
            filled = 0
        if step_mask is not None:
            d_h.add_(d_h_held)

    return (
        d_xw, d_ih_gain.sum(0), d_shift_ih.sum(0), d_h, d_weight_hh, d_hh_gain.sum(0),
        d_shift_hh.sum(0), None, None, None,
    )  # fmt: skip
