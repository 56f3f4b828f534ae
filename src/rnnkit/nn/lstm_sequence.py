"""An LSTM direction over a whole sequence, backpropagated through time by hand.

The loop path (recurrent dropout, peepholes, ``force_loop``, variable lengths on the CPU)
steps :func:`rnnkit.nn.functional.lstm_step` under autograd: about ten small recorded kernels
a step, whose backward allocates a fresh tensor for every intermediate gradient and forms the
recurrent weight gradient one small product per step. :func:`lstm_sequence` computes the same
function of the same parameters with one ``torch.autograd.Function`` per direction, as
:mod:`rnnkit.nn.layer_norm_lstm` does for the layer-norm LSTM (whose product and derivative
kernels it uses). Only the input product ``W_ih x + b`` of all steps runs under autograd, as
one matrix product. The node's forward loop runs without autograd and keeps, per step, the
gate activations ``i, f, g, o``, ``c`` and ``tanh(c)`` in buffers allocated once; its backward
runs through time in reverse, written out by hand, writes ``dL/da_t`` straight into the input
product's gradient (``a_t = xw_t + W_hh h_{t-1}``: both products get the same gradient) and
forms the recurrent weight gradient one product per chunk of about a thousand rows
(steps × batch).

The equations, per step ``t`` (gate order i, f, g, o)::

    a_t = W_ih x_t + b_ih + b_hh + W_hh (r ⊙ h_{t-1})
    i, f, o = σ(a_i [+ w_ci ⊙ c_{t-1}]), σ(a_f [+ w_cf ⊙ c_{t-1}]), σ(a_o [+ w_co ⊙ c_t])
    c_t = f ⊙ c_{t-1} + i ⊙ tanh(a_g)
    h_t = o ⊙ tanh(c_t)

with ``r`` the recurrent-dropout mask (one per sequence) and the bracketed peephole terms for
``peephole_lstm``. Zoneout then mixes the new state with the previous one,
``h_t ← z^h_t ⊙ h_{t-1} + (1 - z^h_t) ⊙ h_t`` (and ``c_t`` with ``z^c_t``; the output gate's
peephole sees the cell before it), as :func:`rnnkit.nn.regularizers.zoneout` does; ``z`` is a
0/1 mask per step (training) or the probability (evaluation). Where a step mask (variable
lengths) is off, the sequence keeps its state: ``(h_t, c_t) = (h_{t-1}, c_{t-1})``.

Example:
    >>> import torch
    >>> from rnnkit.nn import LSTM
    >>> layer = LSTM(3, 4, force_loop=True)
    >>> x, h0, c0 = torch.randn(5, 2, 3), torch.zeros(2, 4), torch.zeros(2, 4)
    >>> out, (h_n, c_n) = lstm_sequence(x, (h0, c0), layer.direction_parameters(0))
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
    _product,
    _refuse_double_backward,
    _sigmoid_backward,
    _tanh_backward,
)

__all__ = ["lstm_sequence"]

Params = Mapping[str, Tensor]
Zoneout = float | Tensor | None  # zoneout of one state: none, the probability, masks [T, B, H]


def lstm_sequence(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    params: Params,
    *,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
    step_mask: Tensor | None = None,
    zoneout: tuple[Zoneout, Zoneout] | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run an LSTM (or peephole LSTM) over every step of one direction.

    Computes what ``project_input(cell, x, params)`` followed by
    :func:`rnnkit.nn.functional.lstm_step` (``peephole_lstm_step`` when ``params`` holds
    ``weight_ci``) at every step computes, gradients included, with one autograd node for the
    recurrence (module docstring). Without autograd it runs the same forward loop and keeps
    nothing for a backward. The node's backward is not itself differentiable: a backward with
    ``create_graph=True`` through it raises a RuntimeError.

    Args:
        x: inputs of every step, ``[T, B, I]``.
        state: ``(h_0, c_0)``, each ``[B, H]``.
        params: the cell's parameters: ``weight_ih``, ``weight_hh``; ``bias_ih``, ``bias_hh``
            optional; with ``weight_ci``, ``weight_cf`` and ``weight_co`` the cell has
            peepholes.
        reverse: run from the last step to the first (the backward direction).
        recurrent_mask: recurrent dropout, ``[B, H]``: the product sees ``h_{t-1} ⊙ mask``.
        step_mask: ``[T, B, 1]`` bools, false where a sequence has ended: there its state
            stays as it was.
        zoneout: ``(z_h, z_c)``, the zoneout of ``h`` and of ``c``, each ``None`` (none), a
            float (the probability: evaluation) or ``[T, B, H]`` 0/1 masks in time order
            (training): the state after step ``t`` is ``lerp(new, previous, z[t])``, before a
            step mask holds it.

    Shape:
        ``x [T, B, I]`` -> ``output [T, B, H]``; ``h_n``, ``c_n`` ``[B, H]``.

    Returns:
        ``(output, (h_n, c_n))``: ``h`` after each step in time order (with a step mask, the
        held state past a sequence's end) and the final state.

    Raises:
        ValueError: ``params`` holds ``weight_hr`` (a projection, which this function does
            not cover), or ``x`` and the state do not fit ``weight_ih``.
    """
    _check_arguments("lstm_sequence", x, state, params, 4)
    h0, c0 = state
    bias = params.get("bias_ih")
    if "bias_hh" in params:
        bias = params["bias_hh"] if bias is None else bias + params["bias_hh"]
    # The input product of all steps at once, under autograd: its gradient is the node's
    # dL/da, so the gradients of W_ih, x and the biases are one product each.
    xw = F.linear(x, params["weight_ih"], bias)
    peepholes = (
        (params["weight_ci"], params["weight_cf"], params["weight_co"])
        if "weight_ci" in params
        else (None, None, None)
    )
    inputs = (xw, h0, c0, params["weight_hh"], *peepholes)
    zone_h, zone_c = (None, None) if zoneout is None else zoneout
    masks = (recurrent_mask, step_mask, zone_h, zone_c)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs):
        out, h_n, c_n = _LSTMSequence.apply(*inputs, *masks, reverse)
    else:
        out, h_n, c_n, _, _, _ = _forward(*inputs, *masks, reverse, keep=False)
    return out, (h_n, c_n)


def _forward(
    xw: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    weight_ci: Tensor | None,
    weight_cf: Tensor | None,
    weight_co: Tensor | None,
    recurrent_mask: Tensor | None,
    step_mask: Tensor | None,
    zone_h: Zoneout,
    zone_c: Zoneout,
    reverse: bool,
    keep: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The forward loop: ``(out, h_n, c_n, cs, gates, tanh_cs)``; the last three are for the
    backward.

    ``gates [T, B, 4H]`` holds ``σ(a_i), σ(a_f), tanh(a_g), σ(a_o)`` (peepholes included) and
    ``tanh_cs [T, B, H]`` ``tanh(c_t)`` of the step's new cell, before zoneout and a step mask;
    without ``keep`` both are one step's buffer, overwritten every step.
    """
    T, B, G = xw.shape
    H = G // 4
    new = xw.new_empty
    out = new(T, B, H)  # h after each step, in time order
    # c after step t sits at cs[t + 1] (forward) or cs[t] (reverse), with c_0 at the other
    # end, so the cells entering and leaving every step are two slices of one buffer.
    cs = new(T + 1, B, H)
    cs[T if reverse else 0] = c0
    gates, tanh_cs = (new(T, B, G), new(T, B, H)) if keep else (new(1, B, G), new(1, B, H))
    peephole_if = None if weight_ci is None else torch.stack((weight_ci, weight_cf)).unsqueeze(0)
    h_in = None if recurrent_mask is None else new(B, H)
    h_new, c_new = (None, None) if step_mask is None else (new(B, H), new(B, H))
    h_prev = h0
    for k in range(T):
        t = T - 1 - k if reverse else k
        c_prev, c_next = (cs[t + 1], cs[t]) if reverse else (cs[t], cs[t + 1])
        if h_in is not None:
            torch.mul(h_prev, recurrent_mask, out=h_in)
        slot = t if keep else 0
        hw_t = _product(h_prev if h_in is None else h_in, weight_hh)
        a = torch.add(xw[t], hw_t, out=gates[slot])
        i, f, g, o = a.chunk(4, 1)
        tanh_c = tanh_cs[slot]
        if peephole_if is not None:
            a.view(B, 4, H)[:, :2].addcmul_(peephole_if, c_prev.unsqueeze(1))
        a[:, : 2 * H].sigmoid_()
        g.tanh_()
        c_t = c_next if step_mask is None else c_new
        torch.mul(f, c_prev, out=c_t).addcmul_(i, g)
        if weight_co is not None:
            # The output gate's peephole sees the new cell (before zoneout).
            o.addcmul_(weight_co, c_t)
        o.sigmoid_()
        torch.tanh(c_t, out=tanh_c)
        h_t = out[t] if step_mask is None else h_new
        torch.mul(o, tanh_c, out=h_t)
        # Zoneout before the step mask, as the layer's step loop does.
        if zone_h is not None:
            h_t.lerp_(h_prev, zone_h if isinstance(zone_h, float) else zone_h[t])
        if zone_c is not None:
            c_t.lerp_(c_prev, zone_c if isinstance(zone_c, float) else zone_c[t])
        if step_mask is not None:
            torch.where(step_mask[t], h_new, h_prev, out=out[t])
            torch.where(step_mask[t], c_new, c_prev, out=c_next)
        h_prev = out[t]
    return out, h_prev.clone(), cs[0 if reverse else T].clone(), cs, gates, tanh_cs


_SAVED = (
    "out", "cs", "gates", "tanh_cs", "h0", "weight_hh", "weight_ci", "weight_cf", "weight_co",
    "recurrent_mask", "step_mask", "zone_h", "zone_c",
)  # fmt: skip


class _LSTMSequence(torch.autograd.Function):
    """Autograd node of :func:`lstm_sequence`: one for all steps of a direction."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        xw: Tensor,
        h0: Tensor,
        c0: Tensor,
        weight_hh: Tensor,
        weight_ci: Tensor | None,
        weight_cf: Tensor | None,
        weight_co: Tensor | None,
        recurrent_mask: Tensor | None,
        step_mask: Tensor | None,
        zone_h: Zoneout,
        zone_c: Zoneout,
        reverse: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        out, h_n, c_n, cs, gates, tanh_cs = _forward(
            xw, h0, c0, weight_hh, weight_ci, weight_cf, weight_co, recurrent_mask, step_mask,
            zone_h, zone_c, reverse, keep=True,
        )  # fmt: skip
        # The output is saved as it is returned: as with torch.nn.LSTM, changing it in place
        # before the backward is an error, not a wrong gradient.
        ctx.save_for_backward(
            out, cs, gates, tanh_cs, h0, weight_hh, weight_ci, weight_cf, weight_co,
            recurrent_mask, step_mask,
            *(z if isinstance(z, Tensor) else None for z in (zone_h, zone_c)),
        )  # fmt: skip
        # A float zoneout (the probability) is kept as it is: save_for_backward takes tensors.
        zones = (zone_h, zone_c)
        ctx.zone_probabilities = tuple(z if isinstance(z, float) else None for z in zones)
        ctx.reverse = reverse
        # An output nothing used gets None, not a zero tensor the size of the output.
        ctx.set_materialize_grads(False)
        return out, h_n, c_n

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, d_out: Tensor | None, d_h_n: Tensor | None, d_c_n: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        _refuse_double_backward("LSTM's sequence function")
        saved: dict[str, Tensor | float | None] = dict(
            zip(_SAVED, ctx.saved_tensors, strict=True)
        )
        for name, p in zip(("zone_h", "zone_c"), ctx.zone_probabilities, strict=True):
            if p is not None:
                saved[name] = p
        return _backward(saved, ctx.reverse, d_out, d_h_n, d_c_n)


def _split(step_on: Tensor | None, zone: Zoneout) -> tuple[Tensor | float, Tensor | float] | None:
    """How the gradient of a state leaving a step divides: ``(to the step's new value, to the
    previous state)``, per step where a tensor; None where it all goes to the new value."""
    if zone is None:
        return None if step_on is None else (step_on, 1 - step_on)
    if step_on is None:
        return 1 - zone, zone
    new_part = step_on * (1 - zone)
    return new_part, 1 - new_part


def _backward(
    saved: dict[str, Tensor | float | None],
    reverse: bool,
    d_out: Tensor | None,
    d_h_n: Tensor | None,
    d_c_n: Tensor | None,
) -> tuple[Tensor | None, ...]:
    """Backpropagation through time, last step first; gradients of every input of the node."""
    out, cs, gates, tanh_cs, h0 = (
        saved["out"], saved["cs"], saved["gates"], saved["tanh_cs"], saved["h0"],
    )  # fmt: skip
    weight_hh, weight_ci, weight_cf, weight_co = (
        saved["weight_hh"], saved["weight_ci"], saved["weight_cf"], saved["weight_co"],
    )  # fmt: skip
    recurrent_mask, step_mask = saved["recurrent_mask"], saved["step_mask"]
    zone_h, zone_c = saved["zone_h"], saved["zone_c"]
    T, B, G = gates.shape
    H = G // 4
    new, zeros = out.new_empty, out.new_zeros
    # dL/dh, dL/dc of the state leaving the step at hand, from everything after it.
    d_h = zeros(B, H) if d_h_n is None else d_h_n.clone()
    d_c = zeros(B, H) if d_c_n is None else d_c_n.clone()
    # dL/da_t of every step: the gradient of both xw_t and the recurrent product.
    d_a = new(T, B, G)
    # The weight gradient Σ_t dL/da_t^T (r ⊙ h_{t-1}) as one product per chunk of steps (as
    # in layer_norm_lstm): the chunk's d_a rows are a slice of d_a in time order, and the
    # inputs of its steps go into one [chunk, B, H] buffer, slot by slot in the same order.
    chunk = max(1, min(T, _CHUNK_ROWS // B))
    h_in = new(chunk, B, H)
    d_weight_hh = zeros(G, H)
    weight_hh_t = weight_hh.t().contiguous()  # dL/dh_{t-1} = dL/da_t W_hh = a @ (W_hh^T)^T
    d_peephole = None if weight_ci is None else zeros(3, B, H)
    d_c_t, d_product = new(B, H), new(B, H)
    # Zoneout and a step mask pass part of a state's gradient (all of it, where held) straight
    # to the state before the step: d_h_held, d_c_held.
    step_on = None if step_mask is None else step_mask.to(out.dtype)
    splits = (_split(step_on, zone_h), _split(step_on, zone_c))
    d_h_held, d_c_held = new(B, H), new(B, H)
    # The step's new cell (before zoneout), for the output gate's peephole.
    c_new = new(B, H) if zone_c is not None and weight_co is not None else None
    for k in range(T):
        t = k if reverse else T - 1 - k
        # The steps of this chunk (by k) and the earliest of them in time, t_lo.
        k_first = k - k % chunk
        k_last = min(k_first + chunk, T) - 1
        t_lo = k_first if reverse else T - 1 - k_last
        c_prev, c_t = (cs[t + 1], cs[t]) if reverse else (cs[t], cs[t + 1])
        i, f, g, o = gates[t].chunk(4, 1)
        tanh_c = tanh_cs[t]
        da_i, da_f, da_g, da_o = d_a[t].chunk(4, 1)
        if d_out is not None:
            d_h.add_(d_out[t])
        for d, d_held, split in ((d_h, d_h_held, splits[0]), (d_c, d_c_held, splits[1])):
            if split is not None:
                to_new, to_held = (w[t] if isinstance(w, Tensor) else w for w in split)
                torch.mul(d, to_held, out=d_held)
                d.mul_(to_new)
        # h_t = o ⊙ tanh(c_t)
        _sigmoid_backward(torch.mul(d_h, tanh_c, out=d_product), o, grad_input=da_o)
        _tanh_backward(torch.mul(d_h, o, out=d_product), tanh_c, grad_input=d_c_t)
        d_c_t.add_(d_c)
        if weight_co is not None:
            d_c_t.addcmul_(da_o, weight_co)
        # c_t = f ⊙ c_{t-1} + i ⊙ g
        _sigmoid_backward(torch.mul(d_c_t, g, out=d_product), i, grad_input=da_i)
        _sigmoid_backward(torch.mul(d_c_t, c_prev, out=d_product), f, grad_input=da_f)
        _tanh_backward(torch.mul(d_c_t, i, out=d_product), g, grad_input=da_g)
        torch.mul(d_c_t, f, out=d_c)
        if d_peephole is not None:
            # Where a step mask is off, c_t here is the held cell, not the step's: its da_o
            # is zero there, so the product is the same. Under zoneout of c, the step's cell.
            d_c.addcmul_(da_i, weight_ci).addcmul_(da_f, weight_cf)
            d_peephole[0].addcmul_(da_i, c_prev)
            d_peephole[1].addcmul_(da_f, c_prev)
            if c_new is not None:
                c_t = torch.mul(f, c_prev, out=c_new).addcmul_(i, g)
            d_peephole[2].addcmul_(da_o, c_t)
        # a_t = xw_t + W_hh (r ⊙ h_{t-1}), with h_{t-1} = out[t -/+ 1] or h_0 at the start.
        d_h = _product(d_a[t], weight_hh_t)
        start = k == T - 1
        h_prev = h0 if start else out[t + 1] if reverse else out[t - 1]
        if recurrent_mask is None:
            h_in[t - t_lo] = h_prev
        else:
            torch.mul(h_prev, recurrent_mask, out=h_in[t - t_lo])
            d_h.mul_(recurrent_mask)
        if k == k_last:
            n = k_last - k_first + 1
            d_weight_hh.addmm_(d_a[t_lo : t_lo + n].view(-1, G).t(), h_in[:n].view(-1, H))
        if splits[0] is not None:
            d_h.add_(d_h_held)
        if splits[1] is not None:
            d_c.add_(d_c_held)

    peephole_grads = (None, None, None) if d_peephole is None else tuple(d_peephole.sum(1))
    return (d_a, d_h, d_c, d_weight_hh, *peephole_grads, None, None, None, None, None)
