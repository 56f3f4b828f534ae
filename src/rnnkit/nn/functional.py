"""One recurrent step of every cell, as plain functions of tensors.

The cells in ``rnnkit.nn.cells`` and the loop path of the layers in ``rnnkit.nn.layers`` both
call these functions, so a layer computes exactly what its cell computes, one step at a time.
A step is split in two, so that a layer can hoist the first part out of its time loop:

* :func:`project_input` -- the input projection ``W_ih x + b_ih`` for any number of steps at
  once (one matrix product over ``[T*B, I]``). The recurrent bias is folded in here for the
  cells where it adds to the same pre-activation (``rnn``, ``lstm``, ``peephole_lstm``:
  ``b_hh``; ``jordan``: ``b_yh``), which saves one addition per step. The GRU keeps ``b_hh``
  in the step, because ``b_hn`` sits inside ``r ⊙ (·)``.
* a step function from :data:`STEP_FUNCTIONS` -- everything that depends on the previous
  state: the recurrent product and the gate arithmetic.

Layer normalisation (``layer_norm=True``, Ba et al. 2016) has its own projection
(``project_input(..., layer_norm=True)``: ``LN(W_ih x)`` normalised for all steps at once) and
its own step functions (:data:`LAYER_NORM_STEP_FUNCTIONS`). Every step function also takes
``recurrent_mask=``, a recurrent-dropout mask applied to ``h_{t-1}`` where it enters the
recurrent product.

Every step function has the signature ``step(xw_t, state, params, **config,
recurrent_mask=None) -> (y_t, new_state)`` with ``xw_t`` the projected input of one step
``[B, G*H]``, ``state`` a tuple of ``[B, ·]`` tensors and ``params`` a mapping from the
spec's parameter names (``weight_hh``, ``bias_hh``, ``weight_ci``, ...) to tensors. The
equations are in ``rnnkit.spec``.

Example:
    >>> import torch
    >>> params = {"weight_ih": torch.eye(4, 2), "weight_hh": torch.zeros(4, 4)}
    >>> xw = project_input("rnn", torch.ones(3, 1, 2), params)  # [T, B, H]
    >>> y, (h,) = rnn_step(xw[0], (torch.zeros(1, 4),), params)
    >>> [round(v, 4) for v in h[0].tolist()]
    [0.7616, 0.7616, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.spec import LAYER_NORM_EPS

__all__ = [
    "FOLDED_BIAS",
    "LAYER_NORM_STEP_FUNCTIONS",
    "STEP_FUNCTIONS",
    "block_layer_norm",
    "gru_step",
    "jordan_step",
    "layer_norm_gru_step",
    "layer_norm_lstm_step",
    "layer_norm_peephole_lstm_step",
    "lstm_step",
    "peephole_lstm_step",
    "project_input",
    "rnn_step",
]

State = tuple[Tensor, ...]
Params = Mapping[str, Tensor]
StepFunction = Callable[..., tuple[Tensor, State]]

#: For each cell, the recurrent bias that :func:`project_input` folds into the input
#: projection (``None``: the step adds its own recurrent bias).
FOLDED_BIAS: dict[str, str | None] = {
    "rnn": "bias_hh",
    "jordan": "bias_yh",
    "lstm": "bias_hh",
    "peephole_lstm": "bias_hh",
    "gru": None,
}


def project_input(cell: str, x: Tensor, params: Params, layer_norm: bool = False) -> Tensor:
    """Project inputs of any number of steps at once: ``W_ih x + b_ih`` (+ folded biases).

    With ``layer_norm`` the product is normalised per gate block first,
    ``LN(W_ih x; γ_ih, β_ih) + b_ih``, and for the LSTMs the recurrent part's constant terms
    ``b_hh + β_hh`` are folded in too, so their step adds only ``γ_hh ⊙ norm(W_hh h_{t-1})``.

    Args:
        cell: the cell's spec name (a key of :data:`FOLDED_BIAS`).
        x: inputs, any leading shape.
        params: the cell's parameters; biases are optional, the ``ln_*`` gains and biases are
            needed with ``layer_norm``.
        layer_norm: normalise the projection (``lstm``, ``peephole_lstm``, ``gru``).

    Shape:
        ``x``: ``[..., I]`` -> ``[..., G*H]``.

    Returns:
        The projected inputs, with ``b_ih`` and, for the cells listed in
        :data:`FOLDED_BIAS`, the recurrent bias added.

    Raises:
        ValueError: ``cell`` is not a known cell, or ``layer_norm`` for a cell without it.
    """
    if cell not in FOLDED_BIAS:
        raise ValueError(f"Argument `cell` must be one of {list(FOLDED_BIAS)}, got {cell!r}.")
    bias = params.get("bias_ih")
    folded = FOLDED_BIAS[cell]
    if folded is not None and folded in params:
        bias = params[folded] if bias is None else bias + params[folded]
    if not layer_norm:
        return F.linear(x, params["weight_ih"], bias)
    if cell not in LAYER_NORM_STEP_FUNCTIONS:
        raise ValueError(
            f"Argument `layer_norm=True` is defined for cells {list(LAYER_NORM_STEP_FUNCTIONS)}, "
            f"not for {cell!r}."
        )
    shift = params["ln_ih_bias"]
    if bias is not None:
        shift = shift + bias
    if cell != "gru":
        shift = shift + params["ln_hh_bias"]
    normed = _block_norm(F.linear(x, params["weight_ih"]), _LAYER_NORM_GATES[cell])
    return torch.addcmul(shift, normed, params["ln_ih_weight"])


def block_layer_norm(a: Tensor, weight: Tensor, bias: Tensor, blocks: int) -> Tensor:
    """Layer normalisation of each of ``blocks`` gate blocks on its own statistics.

    ``LN(a) = γ ⊙ (a_k - mean(a_k)) / sqrt(var(a_k) + eps) + β`` per block ``a_k`` of ``H``
    units (biased variance, ``eps = spec.LAYER_NORM_EPS``), with gains and biases over all
    ``G*H`` units, as ``rnnkit.spec`` defines it.

    Args:
        a: ``[..., G*H]``.
        weight: ``γ``, ``[G*H]``.
        bias: ``β``, ``[G*H]``.
        blocks: ``G``.

    Returns:
        ``LN(a)``, the shape of ``a``.

    >>> a = torch.tensor([[1.0, 3.0, 0.0, 4.0]])
    >>> block_layer_norm(a, torch.ones(4), torch.zeros(4), 2).round(decimals=4)
    tensor([[-1.,  1., -1.,  1.]])
    """
    return torch.addcmul(bias, _block_norm(a, blocks), weight)


def _block_norm(a: Tensor, blocks: int) -> Tensor:
    # Per-block normalisation without gains (F.layer_norm's gains would be per H, not per G*H).
    if blocks == 1:
        return F.layer_norm(a, a.shape[-1:], eps=LAYER_NORM_EPS)
    shaped = a.unflatten(-1, (blocks, a.shape[-1] // blocks))
    return F.layer_norm(shaped, shaped.shape[-1:], eps=LAYER_NORM_EPS).flatten(-2)


def _recurrent(xw_t: Tensor, h_prev: Tensor, weight: Tensor) -> Tensor:
    # One fused call: xw_t + h_prev @ weight^T.
    return torch.addmm(xw_t, h_prev, weight.t())


def _masked(h_prev: Tensor, mask: Tensor | None) -> Tensor:
    # Recurrent dropout acts on h_{t-1} where it enters the recurrent product only: the state
    # carried on (the GRU's z ⊙ h_{t-1}, the LSTM's c) is never dropped.
    return h_prev if mask is None else h_prev * mask


def rnn_step(
    xw_t: Tensor,
    state: State,
    params: Params,
    nonlinearity: str = "tanh",
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, State]:
    """One Elman step: ``h_t = f(xw_t + W_hh h_{t-1})`` (``b_hh`` folded into ``xw_t``).

    Args:
        xw_t: projected input of this step, ``[B, H]``.
        state: ``(h_{t-1},)``.
        params: needs ``weight_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        recurrent_mask: recurrent dropout, ``[B, H]``: the product sees ``h_{t-1} ⊙ mask``.

    Returns:
        ``(h_t, (h_t,))``.
    """
    (h_prev,) = state
    pre = _recurrent(xw_t, _masked(h_prev, recurrent_mask), params["weight_hh"])
    h = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
    return h, (h,)


def lstm_step(
    xw_t: Tensor, state: State, params: Params, recurrent_mask: Tensor | None = None
) -> tuple[Tensor, State]:
    """One LSTM step (gate order i, f, g, o; ``b_hh`` folded into ``xw_t``).

    ``gates = xw_t + W_hh h_{t-1}``; ``c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)``;
    ``h_t = σ(o) ⊙ tanh(c_t)``, then ``h_t = W_hr h_t`` when ``weight_hr`` is present.

    Args:
        xw_t: projected input of this step, ``[B, 4H]``.
        state: ``(h_{t-1}, c_{t-1})``.
        params: needs ``weight_hh``; ``weight_hr`` optional (projection).
        recurrent_mask: recurrent dropout on ``h_{t-1}`` in the product, ``[B, H]`` (``[B, P]``).

    Returns:
        ``(h_t, (h_t, c_t))``.
    """
    h_prev, c_prev = state
    gates = _recurrent(xw_t, _masked(h_prev, recurrent_mask), params["weight_hh"])
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    weight_hr = params.get("weight_hr")
    if weight_hr is not None:
        h = F.linear(h, weight_hr)
    return h, (h, c)


def peephole_lstm_step(
    xw_t: Tensor, state: State, params: Params, recurrent_mask: Tensor | None = None
) -> tuple[Tensor, State]:
    """One peephole-LSTM step: the gates also see the cell (``w_ci, w_cf`` c_{t-1}, ``w_co`` c_t).

    Args:
        xw_t: projected input of this step, ``[B, 4H]``.
        state: ``(h_{t-1}, c_{t-1})``.
        params: needs ``weight_hh``, ``weight_ci``, ``weight_cf``, ``weight_co``;
            ``weight_hr`` optional (projection).
        recurrent_mask: recurrent dropout on ``h_{t-1}`` in the product, ``[B, H]`` (``[B, P]``).

    Returns:
        ``(h_t, (h_t, c_t))``.
    """
    h_prev, c_prev = state
    gates = _recurrent(xw_t, _masked(h_prev, recurrent_mask), params["weight_hh"])
    i, f, g, o = gates.chunk(4, 1)
    i = torch.sigmoid(torch.addcmul(i, params["weight_ci"], c_prev))
    f = torch.sigmoid(torch.addcmul(f, params["weight_cf"], c_prev))
    c = f * c_prev + i * torch.tanh(g)
    o = torch.sigmoid(torch.addcmul(o, params["weight_co"], c))
    h = o * torch.tanh(c)
    weight_hr = params.get("weight_hr")
    if weight_hr is not None:
        h = F.linear(h, weight_hr)
    return h, (h, c)


def gru_step(
    xw_t: Tensor, state: State, params: Params, recurrent_mask: Tensor | None = None
) -> tuple[Tensor, State]:
    """One GRU step (gate order r, z, n, as in torch).

    ``hw = W_hh h_{t-1} + b_hh``; ``r, z = σ(xw_rz + hw_rz)``; ``n = tanh(xw_n + r ⊙ hw_n)``;
    ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}``.

    Args:
        xw_t: projected input of this step (with ``b_ih``), ``[B, 3H]``.
        state: ``(h_{t-1},)``.
        params: needs ``weight_hh``; ``bias_hh`` optional.
        recurrent_mask: recurrent dropout on ``h_{t-1}`` in the product (not in
            ``z ⊙ h_{t-1}``), ``[B, H]``.

    Returns:
        ``(h_t, (h_t,))``.
    """
    (h_prev,) = state
    bias_hh = params.get("bias_hh")
    h_in = _masked(h_prev, recurrent_mask)
    if bias_hh is None:
        hw = torch.mm(h_in, params["weight_hh"].t())
    else:
        hw = torch.addmm(bias_hh, h_in, params["weight_hh"].t())
    return _gru_gates(xw_t, h_prev, hw)


def _gru_gates(xw_t: Tensor, h_prev: Tensor, hw: Tensor) -> tuple[Tensor, State]:
    # Everything after the recurrent part hw = (LN_hh)(W_hh h_{t-1}) + b_hh.
    H = h_prev.shape[-1]
    rz = torch.sigmoid(xw_t[:, : 2 * H] + hw[:, : 2 * H])
    r, z = rz.chunk(2, 1)
    n = torch.tanh(torch.addcmul(xw_t[:, 2 * H :], r, hw[:, 2 * H :]))
    # (1 - z) * n + z * h_prev, with one product fewer.
    h = torch.addcmul(n, z, h_prev - n)
    return h, (h,)


def _output_activation(a: Tensor, name: str) -> Tensor:
    if name == "identity":
        return a
    if name == "sigmoid":
        return torch.sigmoid(a)
    if name == "tanh":
        return torch.tanh(a)
    if name == "softmax":
        return torch.softmax(a, dim=-1)
    raise ValueError(
        "Argument `output_activation` must be one of ['identity', 'sigmoid', 'tanh', "
        f"'softmax'], got {name!r}."
    )


def jordan_step(
    xw_t: Tensor,
    state: State,
    params: Params,
    nonlinearity: str = "tanh",
    output_activation: str = "identity",
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, State]:
    """One Jordan step: the previous output is fed back (``b_yh`` folded into ``xw_t``).

    ``h_t = f(xw_t + W_yh y_{t-1})``; ``y_t = g(W_hy h_t + b_y)``.

    Args:
        xw_t: projected input of this step, ``[B, H]``.
        state: ``(y_{t-1},)``, ``[B, O]``.
        params: needs ``weight_yh``, ``weight_hy``; ``bias_y`` optional.
        nonlinearity: ``f``, ``"tanh"`` or ``"relu"``.
        output_activation: ``g``, one of identity, sigmoid, tanh, softmax.
        recurrent_mask: recurrent dropout on ``y_{t-1}`` in the product, ``[B, O]``.

    Returns:
        ``(y_t, (y_t,))``.
    """
    (y_prev,) = state
    pre = _recurrent(xw_t, _masked(y_prev, recurrent_mask), params["weight_yh"])
    h = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
    a = F.linear(h, params["weight_hy"], params.get("bias_y"))
    y = _output_activation(a, output_activation)
    return y, (y,)


#: The step function of each cell, by spec name.
STEP_FUNCTIONS: dict[str, StepFunction] = {
    "rnn": rnn_step,
    "jordan": jordan_step,
    "lstm": lstm_step,
    "peephole_lstm": peephole_lstm_step,
    "gru": gru_step,
}


def _layer_norm_lstm(
    xw_t: Tensor, state: State, params: Params, peephole: bool, recurrent_mask: Tensor | None
) -> tuple[Tensor, State]:
    h_prev, c_prev = state
    hw = torch.mm(_masked(h_prev, recurrent_mask), params["weight_hh"].t())
    # xw_t already holds LN_ih(W_ih x_t) + b_ih + b_hh + β_hh (project_input).
    gates = torch.addcmul(xw_t, _block_norm(hw, 4), params["ln_hh_weight"])
    i, f, g, o = gates.chunk(4, 1)
    if peephole:
        i = torch.addcmul(i, params["weight_ci"], c_prev)
        f = torch.addcmul(f, params["weight_cf"], c_prev)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    if peephole:
        o = torch.addcmul(o, params["weight_co"], c)
    c_hat = F.layer_norm(
        c, c.shape[-1:], params["ln_c_weight"], params["ln_c_bias"], eps=LAYER_NORM_EPS
    )
    h = torch.sigmoid(o) * torch.tanh(c_hat)
    weight_hr = params.get("weight_hr")
    if weight_hr is not None:
        h = F.linear(h, weight_hr)
    return h, (h, c)


def layer_norm_lstm_step(
    xw_t: Tensor, state: State, params: Params, recurrent_mask: Tensor | None = None
) -> tuple[Tensor, State]:
    """One layer-normalised LSTM step (Ba et al. 2016), after ``project_input(layer_norm=True)``.

    ``gates = LN(W_ih x_t; γ_ih, β_ih) + b_ih + LN(W_hh h_{t-1}; γ_hh, β_hh) + b_hh`` (each of
    the 4 gate blocks normalised on its own); ``c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)``;
    ``h_t = σ(o) ⊙ tanh(LN(c_t; γ_c, β_c))``, then ``W_hr h_t`` with a projection.

    Args:
        xw_t: ``LN(W_ih x_t) + b_ih + b_hh + β_hh``, ``[B, 4H]``.
        state: ``(h_{t-1}, c_{t-1})``.
        params: needs ``weight_hh``, ``ln_hh_weight``, ``ln_c_weight``, ``ln_c_bias``;
            ``weight_hr`` optional.
        recurrent_mask: recurrent dropout on ``h_{t-1}`` in the product.

    Returns:
        ``(h_t, (h_t, c_t))``.
    """
    return _layer_norm_lstm(xw_t, state, params, False, recurrent_mask)


def layer_norm_peephole_lstm_step(
    xw_t: Tensor, state: State, params: Params, recurrent_mask: Tensor | None = None
) -> tuple[Tensor, State]:
    """One layer-normalised peephole-LSTM step: :func:`layer_norm_lstm_step` plus peepholes.

    The peepholes see the cell before its normalisation: ``i, f`` add ``w_ci ⊙ c_{t-1}``,
    ``w_cf ⊙ c_{t-1}``; ``o`` adds ``w_co ⊙ c_t``; ``h_t = σ(o) ⊙ tanh(LN(c_t))``.

    Returns:
        ``(h_t, (h_t, c_t))``.
    """
    return _layer_norm_lstm(xw_t, state, params, True, recurrent_mask)


def layer_norm_gru_step(
    xw_t: Tensor, state: State, params: Params, recurrent_mask: Tensor | None = None
) -> tuple[Tensor, State]:
    """One layer-normalised GRU step, after ``project_input("gru", ..., layer_norm=True)``.

    ``hw = LN(W_hh h_{t-1}; γ_hh, β_hh) + b_hh`` (3 blocks on their own statistics);
    ``r, z = σ(xw_rz + hw_rz)``; ``n = tanh(xw_n + r ⊙ hw_n)``;
    ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}``.

    Args:
        xw_t: ``LN(W_ih x_t) + b_ih``, ``[B, 3H]``.
        state: ``(h_{t-1},)``.
        params: needs ``weight_hh``, ``ln_hh_weight``, ``ln_hh_bias``; ``bias_hh`` optional.
        recurrent_mask: recurrent dropout on ``h_{t-1}`` in the product.

    Returns:
        ``(h_t, (h_t,))``.
    """
    (h_prev,) = state
    hw = _block_norm(torch.mm(_masked(h_prev, recurrent_mask), params["weight_hh"].t()), 3)
    shift = params["ln_hh_bias"]
    bias_hh = params.get("bias_hh")
    if bias_hh is not None:
        shift = shift + bias_hh
    return _gru_gates(xw_t, h_prev, torch.addcmul(shift, hw, params["ln_hh_weight"]))


#: The layer-normalised step function of each cell that has one, by spec name.
LAYER_NORM_STEP_FUNCTIONS: dict[str, StepFunction] = {
    "lstm": layer_norm_lstm_step,
    "peephole_lstm": layer_norm_peephole_lstm_step,
    "gru": layer_norm_gru_step,
}
_LAYER_NORM_GATES = {"lstm": 4, "peephole_lstm": 4, "gru": 3}
