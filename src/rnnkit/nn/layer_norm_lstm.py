"""A layer-normalised LSTM direction over a whole sequence, backpropagated through time by hand.

The loop path steps :func:`rnnkit.nn.functional.layer_norm_lstm_step` under autograd: about
fifteen small recorded kernels a step, whose backward reads back many saved ``[B, 4H]``
intermediates and forms the recurrent weight gradient one small product per step.
:func:`layer_norm_lstm_sequence` computes the same function of the same parameters with one
``torch.autograd.Function`` per direction. Only the input product ``W_ih x`` of all steps
runs under autograd, as one matrix product. The node's forward loop runs without autograd and
keeps ``h``, ``c`` and the recurrent product ``W_hh h`` of each step; its backward runs
through time in reverse, written out by hand: it recomputes each step's layer norms and gates
from those, sums the gain and bias gradients step by step while the step's tensors are in
cache, and forms the recurrent weight gradient one product per chunk of about a thousand
rows (steps × batch). Per-step results go into tensors allocated once per call, except the
products, which oneDNN returns fresh.

The equations, per step ``t`` (gate order i, f, g, o; each of the 4 gate blocks normalised
on its own statistics, ``norm(a) = (a - mean(a)) / sqrt(var(a) + eps)``)::

    a_t = γ_ih ⊙ norm(W_ih x_t) + γ_hh ⊙ norm(W_hh (r ⊙ h_{t-1})) + β_ih + b_ih + β_hh + b_hh
    i, f, o = σ(a_i [+ w_ci ⊙ c_{t-1}]), σ(a_f [+ w_cf ⊙ c_{t-1}]), σ(a_o [+ w_co ⊙ c_t])
    c_t = f ⊙ c_{t-1} + i ⊙ tanh(a_g)
    h_t = o ⊙ tanh(γ_c ⊙ norm(c_t) + β_c)

with ``r`` the recurrent-dropout mask (one per sequence) and the bracketed peephole terms for
``peephole_lstm``. Where a step mask (variable lengths) is off, the sequence keeps its state:
``(h_t, c_t) = (h_{t-1}, c_{t-1})``.

Example:
    >>> import torch
    >>> from rnnkit.nn import LSTM
    >>> layer = LSTM(3, 4, layer_norm=True, force_loop=True)
    >>> x, h0, c0 = torch.randn(5, 2, 3), torch.zeros(2, 4), torch.zeros(2, 4)
    >>> out, (h_n, c_n) = layer_norm_lstm_sequence(x, (h0, c0), layer.direction_parameters(0))
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

from rnnkit.spec import LAYER_NORM_EPS

__all__ = ["layer_norm_lstm_sequence"]

Params = Mapping[str, Tensor]

# The aten kernels autograd itself runs for these derivatives, writing into a given tensor.
_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input
_tanh_backward = torch.ops.aten.tanh_backward.grad_input
# oneDNN's matrix product, which torch's own fused LSTM runs on the CPU (torch.mm runs MKL's:
# per step, [64, 512] by [512, 2048], 0.82 ms against 1.13 ms on the 2-core AMD machine).
_ONEDNN_LINEAR = (
    getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if torch.backends.mkldnn.is_available()
    else None
)


def layer_norm_lstm_sequence(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    params: Params,
    *,
    reverse: bool = False,
    recurrent_mask: Tensor | None = None,
    step_mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run a layer-normalised (peephole) LSTM over every step of one direction.

    Computes what ``project_input(cell, x, params, layer_norm=True)`` followed by
    :func:`rnnkit.nn.functional.layer_norm_lstm_step` (``layer_norm_peephole_lstm_step`` when
    ``params`` holds ``weight_ci``) at every step computes, gradients included, with one
    autograd node for the recurrence (module docstring). Without autograd it runs the same
    forward loop and keeps nothing. The node's backward is not itself differentiable: a
    backward with ``create_graph=True`` through it raises a RuntimeError.

    Args:
        x: inputs of every step, ``[T, B, I]``.
        state: ``(h_0, c_0)``, each ``[B, H]``.
        params: the layer-norm cell's parameters: ``weight_ih``, ``weight_hh``, the ``ln_ih_*``,
            ``ln_hh_*`` and ``ln_c_*`` gains and biases; ``bias_ih``, ``bias_hh`` optional;
            with ``weight_ci``, ``weight_cf`` and ``weight_co`` the cell has peepholes.
        reverse: run from the last step to the first (the backward direction).
        recurrent_mask: recurrent dropout, ``[B, H]``: the product sees ``h_{t-1} ⊙ mask``.
        step_mask: ``[T, B, 1]`` bools, false where a sequence has ended: there its state
            stays as it was.

    Shape:
        ``x [T, B, I]`` -> ``output [T, B, H]``; ``h_n``, ``c_n`` ``[B, H]``.

    Returns:
        ``(output, (h_n, c_n))``: ``h`` after each step in time order (with a step mask, the
        held state past a sequence's end) and the final state.

    Raises:
        ValueError: ``params`` holds ``weight_hr`` (a projection, which this function does
            not cover), or ``x`` and the state do not fit ``weight_ih``.
    """
    _check_arguments("layer_norm_lstm_sequence", x, state, params, 4)
    h0, c0 = state
    # The input product of all steps at once, under autograd; its layer norm, gain and the
    # constant terms are applied inside the step, where their gradients are formed while the
    # step's tensors are in cache.
    xw = F.linear(x, params["weight_ih"])
    shift = params["ln_ih_bias"] + params["ln_hh_bias"]
    for name in ("bias_ih", "bias_hh"):
        if name in params:
            shift = shift + params[name]
    peepholes = (
        (params["weight_ci"], params["weight_cf"], params["weight_co"])
        if "weight_ci" in params
        else (None, None, None)
    )
    inputs = (
        xw,
        params["ln_ih_weight"],
        shift,
        h0,
        c0,
        params["weight_hh"],
        params["ln_hh_weight"],
        params["ln_c_weight"],
        params["ln_c_bias"],
        *peepholes,
    )
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs):
        out, h_n, c_n = _LayerNormLSTMSequence.apply(*inputs, recurrent_mask, step_mask, reverse)
    else:
        out, h_n, c_n, _, _ = _forward(*inputs, recurrent_mask, step_mask, reverse, keep=False)
    return out, (h_n, c_n)


def _check_arguments(
    name: str, x: Tensor, state: tuple[Tensor, ...], params: Params, gates: int
) -> int:
    """``H`` of a sequence function's ``params`` (``gates`` blocks in ``weight_ih``), after
    refusing a projection and an ``x`` or state that does not fit; shared by
    :func:`layer_norm_lstm_sequence`, :func:`rnnkit.nn.layer_norm_gru.layer_norm_gru_sequence`
    and :func:`rnnkit.nn.lstm_sequence.lstm_sequence` (``name`` names it in the message)."""
    if "weight_hr" in params:
        raise ValueError(
            f"Argument `params` must not hold `weight_hr`: {name} covers LSTMs without a "
            "projection (proj_size=0) only."
        )
    G, I = params["weight_ih"].shape
    H = G // gates
    if x.dim() != 3 or x.shape[2] != I or any(s.shape != (x.shape[1], H) for s in state):
        tensors = f"one [B, {H}] tensor" if len(state) == 1 else f"two [B, {H}] tensors"
        raise ValueError(
            f"Arguments `x` and `state` must be [T, B, {I}] and {tensors} for these "
            f"parameters, got {list(x.shape)} and "
            f"{', '.join(str(list(s.shape)) for s in state)}."
        )
    return H


def _refuse_double_backward(what: str) -> None:
    """Raise under ``create_graph=True``, where a hand-written backward runs with grad mode
    on: its gradients are not recorded, and ``once_differentiable`` would let them through as
    constants whenever the incoming gradients are constants (an objective's sum), giving a
    wrong second-order gradient."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            f"{what} has a hand-written backward that is not differentiable: a second-order "
            "gradient (create_graph=True) through it is not supported."
        )


def _product(a: Tensor, weight: Tensor) -> Tensor:
    """``a @ weight^T`` as a fresh tensor, through oneDNN on the CPU in float32."""
    if _ONEDNN_LINEAR is not None and a.device.type == "cpu" and a.dtype == torch.float32:
        return _ONEDNN_LINEAR(a, weight, None, "none", [], "")
    return torch.mm(a, weight.t())


def _normalize(a: Tensor, norm: Tensor, rstd: Tensor, scratch: Tensor) -> None:
    """``norm = (a - mean(a)) · rstd``, ``rstd = 1 / sqrt(var(a) + eps)`` over the last axis.

    Written into given tensors: torch's layer norm returns fresh ones, and on the CPU a fresh
    [B, 4H] (or [B, H]) result every step costs page faults (the allocator hands such blocks
    back to the system and maps them anew): at B=64, H=512 its layer norm measured 0.25 ms a
    step in the loop, these passes under 0.1 ms. Sums, not means: ``torch.mean(out=)`` adds
    a division and a copy, so the ``1/H`` rides on the next operation instead.
    """
    scale = 1.0 / a.shape[-1]
    total = torch.sum(a, -1, keepdim=True, out=rstd)  # rstd's storage, until it is rstd
    torch.sub(a, total, alpha=scale, out=norm)
    torch.sum(torch.mul(norm, norm, out=scratch), -1, keepdim=True, out=rstd)
    rstd.mul_(scale).add_(LAYER_NORM_EPS).rsqrt_()
    norm.mul_(rstd)


def _normalize_backward(
    d_norm: Tensor, norm: Tensor, rstd: Tensor, d_a: Tensor, scratch: Tensor, sums: Tensor
) -> None:
    """``d_a = rstd · (d_norm - mean(d_norm) - norm · mean(d_norm ⊙ norm))`` (into ``d_a``).

    ``sums`` is ``[2, ..., 1]`` scratch for the two sums behind the means.
    """
    scale = 1.0 / d_norm.shape[-1]
    torch.sum(d_norm, -1, keepdim=True, out=sums[0])
    torch.sum(torch.mul(d_norm, norm, out=scratch), -1, keepdim=True, out=sums[1])
    d_a = torch.sub(d_norm, sums[0], alpha=scale, out=d_a)
    d_a.addcmul_(norm, sums[1], value=-scale).mul_(rstd)


class _Cell:
    """One step after the recurrent product, shared by the forward loop and the backward.

    The backward recomputes each step's layer norms and gates from the saved products instead
    of keeping them: on the CPU, writing fresh [T, B, 4H] buffers for them measured slower
    (page faults on new memory) than the few passes over one step's cached tensors that
    recomputing takes. Results land in tensors allocated once, overwritten every step:

    * ``xw_norm``, ``hw_norm`` ``[B, 4, H]``: ``norm(xw_t)``, ``norm(hw_t)`` per gate block,
      with ``xw_rstd``, ``hw_rstd`` ``[B, 4, 1]``;
    * ``gates`` ``[B, 4H]``: ``σ(a_i), σ(a_f), tanh(a_g), σ(a_o)``;
    * ``c_norm`` ``[B, H]``: ``norm(c_t)`` with ``c_rstd`` ``[B, 1]``; ``tanh_c``:
      ``tanh(γ_c ⊙ norm(c_t) + β_c)``.
    """

    def __init__(
        self,
        B: int,
        H: int,
        shift: Tensor,
        ln_ih_weight: Tensor,
        ln_hh_weight: Tensor,
        ln_c_weight: Tensor,
        ln_c_bias: Tensor,
        weight_ci: Tensor | None,
        weight_cf: Tensor | None,
        weight_co: Tensor | None,
    ) -> None:
        self.B, self.H = B, H
        self.shift, self.ln_ih_weight, self.ln_hh_weight = shift, ln_ih_weight, ln_hh_weight
        self.ln_c_weight, self.ln_c_bias, self.weight_co = ln_c_weight, ln_c_bias, weight_co
        self.peephole_if = (
            None if weight_ci is None else torch.stack((weight_ci, weight_cf)).unsqueeze(0)
        )
        new = shift.new_empty
        self.xw_norm, self.hw_norm, self.scratch = new(B, 4, H), new(B, 4, H), new(B, 4, H)
        self.xw_rstd, self.hw_rstd = new(B, 4, 1), new(B, 4, 1)
        self.a, self.gates = new(B, 4 * H), new(B, 4 * H)
        self.c_norm, self.c_rstd, self.tanh_c = new(B, H), new(B, 1), new(B, H)

    def __call__(self, xw_t: Tensor, hw_t: Tensor, c_prev: Tensor, c_new: Tensor) -> None:
        """One step from ``xw_t``, ``hw_t`` ``[B, 4H]`` and ``c_{t-1}``; ``c_t`` into ``c_new``."""
        B, H = self.B, self.H
        a = self.a
        _normalize(xw_t.view(B, 4, H), self.xw_norm, self.xw_rstd, self.scratch)
        _normalize(hw_t.view(B, 4, H), self.hw_norm, self.hw_rstd, self.scratch)
        torch.addcmul(self.shift, self.xw_norm.view(B, 4 * H), self.ln_ih_weight, out=a)
        a.addcmul_(self.hw_norm.view(B, 4 * H), self.ln_hh_weight)
        if self.peephole_if is not None:
            a.view(B, 4, H)[:, :2].addcmul_(self.peephole_if, c_prev.unsqueeze(1))
        i, f, g, o = self.gates.chunk(4, 1)
        torch.sigmoid(a, out=self.gates)
        torch.tanh(a[:, 2 * H : 3 * H], out=g)
        torch.mul(f, c_prev, out=c_new).addcmul_(i, g)
        if self.weight_co is not None:
            # The output gate's peephole sees the new cell, so o is only known now.
            torch.sigmoid(a[:, 3 * H :].addcmul_(self.weight_co, c_new), out=o)
        _normalize(c_new, self.c_norm, self.c_rstd, self.scratch[:, 0])
        c_hat = torch.addcmul(self.ln_c_bias, self.c_norm, self.ln_c_weight, out=self.tanh_c)
        c_hat.tanh_()


def _forward(
    xw: Tensor,
    ln_ih_weight: Tensor,
    shift: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    ln_hh_weight: Tensor,
    ln_c_weight: Tensor,
    ln_c_bias: Tensor,
    weight_ci: Tensor | None,
    weight_cf: Tensor | None,
    weight_co: Tensor | None,
    recurrent_mask: Tensor | None,
    step_mask: Tensor | None,
    reverse: bool,
    keep: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, list[Tensor]]:
    """The forward loop: ``(out, h_n, c_n, cs, hw)``; ``cs``, ``hw`` are for the backward.

    ``hw`` lists ``W_hh (r ⊙ h_{t-1})`` of every step in time order (with ``keep``; else it
    is empty): with ``h`` and ``c``, all the backward keeps.
    """
    T, B, G = xw.shape
    H = G // 4
    cell = _Cell(
        B, H, shift, ln_ih_weight, ln_hh_weight, ln_c_weight, ln_c_bias, weight_ci, weight_cf,
        weight_co,
    )  # fmt: skip
    out = xw.new_empty(T, B, H)  # h after each step, in time order
    # c after step t sits at cs[t + 1] (forward) or cs[t] (reverse), with c_0 at the other
    # end, so the cells entering and leaving every step are two slices of one buffer.
    cs = xw.new_empty(T + 1, B, H)
    cs[T if reverse else 0] = c0
    # Each step's product is a fresh tensor, kept as it is (a slice of one [T, B, 4H] buffer
    # would cost a copy).
    hw: list[Tensor] = []
    h_in = None if recurrent_mask is None else xw.new_empty(B, H)
    h_new, c_new = (None, None) if step_mask is None else (xw.new_empty(B, H), xw.new_empty(B, H))
    o = cell.gates[:, 3 * H :]
    h_prev = h0
    for k in range(T):
        t = T - 1 - k if reverse else k
        c_prev, c_next = (cs[t + 1], cs[t]) if reverse else (cs[t], cs[t + 1])
        if h_in is not None:
            torch.mul(h_prev, recurrent_mask, out=h_in)
        hw_t = _product(h_prev if h_in is None else h_in, weight_hh)
        if keep:
            hw.append(hw_t)
        if step_mask is None:
            cell(xw[t], hw_t, c_prev, c_next)
            torch.mul(o, cell.tanh_c, out=out[t])
        else:
            cell(xw[t], hw_t, c_prev, c_new)
            torch.mul(o, cell.tanh_c, out=h_new)
            torch.where(step_mask[t], h_new, h_prev, out=out[t])
            torch.where(step_mask[t], c_new, c_prev, out=c_next)
        h_prev = out[t]
    if reverse:
        hw.reverse()
    return out, h_prev.clone(), cs[0 if reverse else T].clone(), cs, hw


_SAVED = (
    "out", "cs", "xw", "ln_ih_weight", "shift", "h0", "weight_hh", "ln_hh_weight",
    "ln_c_weight", "ln_c_bias", "weight_ci", "weight_cf", "weight_co", "recurrent_mask",
    "step_mask",
)  # fmt: skip


_CHUNK_ROWS = 1024  # rows (steps × batch) per product of the recurrent weight's gradient


class _LayerNormLSTMSequence(torch.autograd.Function):
    """Autograd node of :func:`layer_norm_lstm_sequence`: one for all steps of a direction."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx,
        xw: Tensor,
        ln_ih_weight: Tensor,
        shift: Tensor,
        h0: Tensor,
        c0: Tensor,
        weight_hh: Tensor,
        ln_hh_weight: Tensor,
        ln_c_weight: Tensor,
        ln_c_bias: Tensor,
        weight_ci: Tensor | None,
        weight_cf: Tensor | None,
        weight_co: Tensor | None,
        recurrent_mask: Tensor | None,
        step_mask: Tensor | None,
        reverse: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        out, h_n, c_n, cs, hw = _forward(
            xw, ln_ih_weight, shift, h0, c0, weight_hh, ln_hh_weight, ln_c_weight, ln_c_bias,
            weight_ci, weight_cf, weight_co, recurrent_mask, step_mask, reverse, keep=True,
        )  # fmt: skip
        # The output is saved as it is returned: as with torch.nn.LSTM, changing it in place
        # before the backward is an error, not a wrong gradient.
        ctx.save_for_backward(
            out, cs, xw, ln_ih_weight, shift, h0, weight_hh, ln_hh_weight, ln_c_weight,
            ln_c_bias, weight_ci, weight_cf, weight_co, recurrent_mask, step_mask, *hw,
        )  # fmt: skip
        ctx.reverse = reverse
        # An output nothing used gets None, not a zero tensor the size of the output.
        ctx.set_materialize_grads(False)
        return out, h_n, c_n

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, d_out: Tensor | None, d_h_n: Tensor | None, d_c_n: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        _refuse_double_backward("LSTM(layer_norm=True)")
        tensors = ctx.saved_tensors
        saved = dict(zip(_SAVED, tensors[: len(_SAVED)], strict=True))
        return _backward(saved, tensors[len(_SAVED) :], ctx.reverse, d_out, d_h_n, d_c_n)


def _backward(
    saved: dict[str, Tensor | None],
    hw: tuple[Tensor, ...],
    reverse: bool,
    d_out: Tensor | None,
    d_h_n: Tensor | None,
    d_c_n: Tensor | None,
) -> tuple[Tensor | None, ...]:
    """Backpropagation through time, last step first; gradients of every input of the node."""
    out, cs, xw, h0 = saved["out"], saved["cs"], saved["xw"], saved["h0"]
    weight_hh, ln_ih_weight, ln_hh_weight = (
        saved["weight_hh"], saved["ln_ih_weight"], saved["ln_hh_weight"],
    )  # fmt: skip
    ln_c_weight, ln_c_bias = saved["ln_c_weight"], saved["ln_c_bias"]
    weight_ci, weight_cf, weight_co = saved["weight_ci"], saved["weight_cf"], saved["weight_co"]
    recurrent_mask, step_mask = saved["recurrent_mask"], saved["step_mask"]
    T, B, G = xw.shape
    H = G // 4
    cell = _Cell(
        B, H, saved["shift"], ln_ih_weight, ln_hh_weight, ln_c_weight, ln_c_bias, weight_ci,
        weight_cf, weight_co,
    )  # fmt: skip
    new, zeros = out.new_empty, out.new_zeros
    # dL/dh, dL/dc of the state leaving the step at hand, from everything after it.
    d_h = zeros(B, H) if d_h_n is None else d_h_n.clone()
    d_c = zeros(B, H) if d_c_n is None else d_c_n.clone()
    d_xw = new(T, B, G)
    # The weight gradient Σ_t dL/dhw_t^T (r ⊙ h_{t-1}) as one product per chunk of steps:
    # at 1024 rows a chunk no slower than one product over all T*B rows (85 ms against
    # 121 ms for T=100, B=64, H=512), and the chunk's buffers serve again instead of a fresh
    # [T, B, 4H] one.
    chunk = max(1, min(T, _CHUNK_ROWS // B))
    d_hw, h_in = new(chunk, B, G), new(chunk, B, H)
    d_weight_hh, filled = zeros(G, H), 0
    weight_hh_t = weight_hh.t().contiguous()  # dL/dh_{t-1} = dL/dhw_t W_hh = a @ (W_hh^T)^T
    # Gains, biases and peepholes: summed into [B, ·] accumulators step by step, while each
    # step's tensors are in cache.
    d_ih_gain, d_hh_gain, d_shift = zeros(B, G), zeros(B, G), zeros(B, G)
    d_c_gain, d_c_shift = zeros(B, H), zeros(B, H)
    d_peephole = None if weight_ci is None else zeros(3, B, H)
    # Per-step scratch, allocated once.
    d_a, d_n, sums = new(B, G), new(B, 4, H), new(2, B, 4, 1)
    c_new, d_c_hat, d_c_norm, d_c_t, d_product = (new(B, H) for _ in range(5))
    da_i, da_f, da_g, da_o = d_a.chunk(4, 1)
    i, f, g, o = cell.gates.chunk(4, 1)
    tanh_c, scratch = cell.tanh_c, cell.scratch
    if step_mask is not None:
        step_on = step_mask.to(out.dtype)
        step_off = 1 - step_on
        d_h_held, d_c_held = new(B, H), new(B, H)
    for k in range(T):
        t = k if reverse else T - 1 - k
        c_prev = cs[t + 1] if reverse else cs[t]
        if d_out is not None:
            d_h.add_(d_out[t])
        if step_mask is not None:
            # A held state passes its gradient straight to the state before it.
            torch.mul(d_h, step_off[t], out=d_h_held)
            torch.mul(d_c, step_off[t], out=d_c_held)
            d_h.mul_(step_on[t])
            d_c.mul_(step_on[t])
        cell(xw[t], hw[t], c_prev, c_new)
        # h_t = o ⊙ tanh(ĉ_t),  ĉ_t = γ_c ⊙ norm(c_t) + β_c
        _sigmoid_backward(torch.mul(d_h, tanh_c, out=d_product), o, grad_input=da_o)
        _tanh_backward(torch.mul(d_h, o, out=d_product), tanh_c, grad_input=d_c_hat)
        d_c_gain.addcmul_(d_c_hat, cell.c_norm)
        d_c_shift.add_(d_c_hat)
        _normalize_backward(
            torch.mul(d_c_hat, ln_c_weight, out=d_c_norm), cell.c_norm, cell.c_rstd, d_c_t,
            scratch[:, 0], sums[:, :, 0],
        )  # fmt: skip
        d_c_t.add_(d_c)
        if weight_co is not None:
            d_c_t.addcmul_(da_o, weight_co)
        # c_t = f ⊙ c_{t-1} + i ⊙ g
        _sigmoid_backward(torch.mul(d_c_t, g, out=d_product), i, grad_input=da_i)
        _sigmoid_backward(torch.mul(d_c_t, c_prev, out=d_product), f, grad_input=da_f)
        _tanh_backward(torch.mul(d_c_t, i, out=d_product), g, grad_input=da_g)
        torch.mul(d_c_t, f, out=d_c)
        if d_peephole is not None:
            d_c.addcmul_(da_i, weight_ci).addcmul_(da_f, weight_cf)
            d_peephole[0].addcmul_(da_i, c_prev)
            d_peephole[1].addcmul_(da_f, c_prev)
            d_peephole[2].addcmul_(da_o, c_new)
        # a_t = γ_ih ⊙ norm(xw_t) + γ_hh ⊙ norm(hw_t) + shift
        d_ih_gain.addcmul_(d_a, cell.xw_norm.view(B, G))
        d_hh_gain.addcmul_(d_a, cell.hw_norm.view(B, G))
        d_shift.add_(d_a)
        _normalize_backward(
            torch.mul(d_a, ln_ih_weight, out=d_n.view(B, G)).view(B, 4, H), cell.xw_norm,
            cell.xw_rstd, d_xw[t].view(B, 4, H), scratch, sums,
        )  # fmt: skip
        _normalize_backward(
            torch.mul(d_a, ln_hh_weight, out=d_n.view(B, G)).view(B, 4, H), cell.hw_norm,
            cell.hw_rstd, d_hw[filled].view(B, 4, H), scratch, sums,
        )  # fmt: skip
        d_h = _product(d_hw[filled], weight_hh_t)
        # hw_t = W_hh (r ⊙ h_{t-1}), with h_{t-1} = out[t -/+ 1] or h_0 at the start.
        start = k == T - 1
        h_prev = h0 if start else out[t + 1] if reverse else out[t - 1]
        if recurrent_mask is None:
            h_in[filled] = h_prev
        else:
            torch.mul(h_prev, recurrent_mask, out=h_in[filled])
            d_h.mul_(recurrent_mask)
        filled += 1
        if filled == chunk or start:
            d_weight_hh.addmm_(d_hw[:filled].view(-1, G).t(), h_in[:filled].view(-1, H))
            filled = 0
        if step_mask is not None:
            d_h.add_(d_h_held)
            d_c.add_(d_c_held)

    peephole_grads = (None, None, None) if d_peephole is None else tuple(d_peephole.sum(1))
    return (
        d_xw, d_ih_gain.sum(0), d_shift.sum(0), d_h, d_c, d_weight_hh, d_hh_gain.sum(0),
        d_c_gain.sum(0), d_c_shift.sum(0), *peephole_grads, None, None, None,
    )  # fmt: skip
