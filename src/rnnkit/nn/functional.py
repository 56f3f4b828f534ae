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

Every step function has the signature ``step(xw_t, state, params, **config) -> (y_t,
new_state)`` with ``xw_t`` the projected input of one step ``[B, G*H]``, ``state`` a tuple of
``[B, ·]`` tensors and ``params`` a mapping from the spec's parameter names (``weight_hh``,
``bias_hh``, ``weight_ci``, ...) to tensors. The equations are in ``rnnkit.spec``.

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

__all__ = [
    "FOLDED_BIAS",
    "STEP_FUNCTIONS",
    "gru_step",
    "jordan_step",
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


def project_input(cell: str, x: Tensor, params: Params) -> Tensor:
    """Project inputs of any number of steps at once: ``W_ih x + b_ih`` (+ a folded bias).

    Args:
        cell: the cell's spec name (a key of :data:`FOLDED_BIAS`).
        x: inputs, any leading shape.
        params: the cell's parameters; ``bias_ih`` and the folded bias are optional.

    Shape:
        ``x``: ``[..., I]`` -> ``[..., G*H]``.

    Returns:
        The projected inputs, with ``b_ih`` and, for the cells listed in
        :data:`FOLDED_BIAS`, the recurrent bias added.

    Raises:
        ValueError: ``cell`` is not a known cell.
    """
    if cell not in FOLDED_BIAS:
        raise ValueError(f"Argument `cell` must be one of {list(FOLDED_BIAS)}, got {cell!r}.")
    bias = params.get("bias_ih")
    folded = FOLDED_BIAS[cell]
    if folded is not None and folded in params:
        bias = params[folded] if bias is None else bias + params[folded]
    return F.linear(x, params["weight_ih"], bias)


def _recurrent(xw_t: Tensor, h_prev: Tensor, weight: Tensor) -> Tensor:
    # One fused call: xw_t + h_prev @ weight^T.
    return torch.addmm(xw_t, h_prev, weight.t())


def rnn_step(
    xw_t: Tensor, state: State, params: Params, nonlinearity: str = "tanh"
) -> tuple[Tensor, State]:
    """One Elman step: ``h_t = f(xw_t + W_hh h_{t-1})`` (``b_hh`` folded into ``xw_t``).

    Args:
        xw_t: projected input of this step, ``[B, H]``.
        state: ``(h_{t-1},)``.
        params: needs ``weight_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Returns:
        ``(h_t, (h_t,))``.
    """
    (h_prev,) = state
    pre = _recurrent(xw_t, h_prev, params["weight_hh"])
    h = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
    return h, (h,)


def lstm_step(xw_t: Tensor, state: State, params: Params) -> tuple[Tensor, State]:
    """One LSTM step (gate order i, f, g, o; ``b_hh`` folded into ``xw_t``).

    ``gates = xw_t + W_hh h_{t-1}``; ``c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)``;
    ``h_t = σ(o) ⊙ tanh(c_t)``, then ``h_t = W_hr h_t`` when ``weight_hr`` is present.

    Args:
        xw_t: projected input of this step, ``[B, 4H]``.
        state: ``(h_{t-1}, c_{t-1})``.
        params: needs ``weight_hh``; ``weight_hr`` optional (projection).

    Returns:
        ``(h_t, (h_t, c_t))``.
    """
    h_prev, c_prev = state
    gates = _recurrent(xw_t, h_prev, params["weight_hh"])
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    weight_hr = params.get("weight_hr")
    if weight_hr is not None:
        h = F.linear(h, weight_hr)
    return h, (h, c)


def peephole_lstm_step(xw_t: Tensor, state: State, params: Params) -> tuple[Tensor, State]:
    """One peephole-LSTM step: the gates also see the cell (``w_ci, w_cf`` c_{t-1}, ``w_co`` c_t).

    Args:
        xw_t: projected input of this step, ``[B, 4H]``.
        state: ``(h_{t-1}, c_{t-1})``.
        params: needs ``weight_hh``, ``weight_ci``, ``weight_cf``, ``weight_co``;
            ``weight_hr`` optional (projection).

    Returns:
        ``(h_t, (h_t, c_t))``.
    """
    h_prev, c_prev = state
    gates = _recurrent(xw_t, h_prev, params["weight_hh"])
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


def gru_step(xw_t: Tensor, state: State, params: Params) -> tuple[Tensor, State]:
    """One GRU step (gate order r, z, n, as in torch).

    ``hw = W_hh h_{t-1} + b_hh``; ``r, z = σ(xw_rz + hw_rz)``; ``n = tanh(xw_n + r ⊙ hw_n)``;
    ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}``.

    Args:
        xw_t: projected input of this step (with ``b_ih``), ``[B, 3H]``.
        state: ``(h_{t-1},)``.
        params: needs ``weight_hh``; ``bias_hh`` optional.

    Returns:
        ``(h_t, (h_t,))``.
    """
    (h_prev,) = state
    bias_hh = params.get("bias_hh")
    if bias_hh is None:
        hw = torch.mm(h_prev, params["weight_hh"].t())
    else:
        hw = torch.addmm(bias_hh, h_prev, params["weight_hh"].t())
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
) -> tuple[Tensor, State]:
    """One Jordan step: the previous output is fed back (``b_yh`` folded into ``xw_t``).

    ``h_t = f(xw_t + W_yh y_{t-1})``; ``y_t = g(W_hy h_t + b_y)``.

    Args:
        xw_t: projected input of this step, ``[B, H]``.
        state: ``(y_{t-1},)``, ``[B, O]``.
        params: needs ``weight_yh``, ``weight_hy``; ``bias_y`` optional.
        nonlinearity: ``f``, ``"tanh"`` or ``"relu"``.
        output_activation: ``g``, one of identity, sigmoid, tanh, softmax.

    Returns:
        ``(y_t, (y_t,))``.
    """
    (y_prev,) = state
    pre = _recurrent(xw_t, y_prev, params["weight_yh"])
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
