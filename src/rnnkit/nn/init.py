"""Initialisation schemes for recurrent layers, applied per gate block.

A stacked matrix such as an LSTM's ``weight_hh [4H, H]`` holds four gate blocks of ``H`` rows
(``spec.py``). Each scheme treats every block as the matrix it is -- ``[H, H]`` -- so an
orthogonal ``weight_hh`` has four orthogonal blocks (not one orthogonal ``[4H, H]`` slab, whose
blocks are not orthogonal), and Xavier's bound uses a block's fan-out ``H``, not ``4H``:

==============  =========================================  ===================================
scheme          ``weight_hh`` (each ``[H, R]`` block)      ``weight_ih`` (each ``[H, I]`` block)
==============  =========================================  ===================================
``uniform``     ``U(-1/sqrt(H), 1/sqrt(H))`` (torch's)     the same; biases too
``xavier``      ``U(±gain·sqrt(6 / (R + H)))``             ``U(±gain·sqrt(6 / (I + H)))``
``kaiming``     ``U(±gain·k·sqrt(3 / R))``                 ``U(±gain·k·sqrt(3 / I))``
``orthogonal``  ``gain · Q``, ``Q`` random orthogonal      Xavier
``identity``    ``gain · I_H`` (IRNN, Le et al. 2015)      Xavier
==============  =========================================  ===================================

``k`` is ``torch.nn.init.calculate_gain(nonlinearity)`` (``sqrt(2)`` for relu, He et al. 2015).
Except for ``uniform``, biases start at zero and output matrices (an LSTM projection's
``weight_hr``, a Jordan cell's ``weight_hy``) get Xavier (Kaiming under ``kaiming``). The
Jordan cell's recurrent matrix is ``weight_yh [H, O]``. ``forget_bias=b`` then sets the forget
block of the total bias, ``bias_ih[f] = b`` and ``bias_hh[f] = 0`` (Gers et al. 2000;
Jozefowicz et al. 2015). Parameters no scheme is about -- peepholes, layer-norm gains and
biases, learned initial states -- are left as they are.

Example:
    >>> import torch
    >>> lstm = torch.nn.LSTM(3, 4)
    >>> _ = init_recurrent(lstm, "orthogonal", forget_bias=1.0)
    >>> block = lstm.weight_hh_l0[4:8]  # the forget gate's block
    >>> torch.allclose(block @ block.T, torch.eye(4), atol=1e-5)
    True
    >>> lstm.bias_ih_l0[4:8].tolist(), lstm.bias_hh_l0.abs().sum().item()
    ([1.0, 1.0, 1.0, 1.0], 0.0)
"""

from __future__ import annotations

import math
import numbers
import re

import torch
from torch import Tensor, nn

__all__ = ["INIT_SCHEMES", "check_scheme", "init_recurrent"]

#: Every scheme :func:`init_recurrent` knows.
INIT_SCHEMES = ("uniform", "xavier", "orthogonal", "kaiming", "identity")

_NAME = re.compile(
    r"(weight_ih|weight_hh|weight_yh|weight_hr|weight_hy|bias_ih|bias_hh|bias_yh|bias_y)"
    r"(_l\d+(?:_reverse)?)?"
)
_INPUT, _RECURRENT, _OUTPUT = "weight_ih", ("weight_hh", "weight_yh"), ("weight_hr", "weight_hy")


def check_scheme(scheme: object) -> str:
    """Validate a scheme name and return it.

    Raises:
        ValueError: ``scheme`` is not one of :data:`INIT_SCHEMES`.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"Argument `init` must be one of {list(INIT_SCHEMES)}, got {scheme!r}.")
    return str(scheme)


def _has_forget_gate(module: nn.Module) -> bool:
    spec = getattr(module, "spec", None)
    if spec is not None:
        return "f" in spec.gates
    return getattr(module, "mode", None) == "LSTM" or isinstance(module, nn.LSTMCell)


def _blocks(tensor: Tensor, rows: int) -> list[Tensor]:
    # Row blocks are contiguous views: an in-place init of a block writes into the parameter.
    return [tensor[k : k + rows] for k in range(0, tensor.shape[0], rows)]


def _xavier(block: Tensor, gain: float) -> None:
    nn.init.xavier_uniform_(block, gain=gain)


def _kaiming(block: Tensor, gain: float, nonlinearity: str) -> None:
    bound = gain * nn.init.calculate_gain(nonlinearity) * math.sqrt(3.0 / block.shape[1])
    nn.init.uniform_(block, -bound, bound)


def _identity(block: Tensor, gain: float) -> None:
    block.copy_(gain * torch.eye(block.shape[0], dtype=block.dtype, device=block.device))


def init_recurrent(
    module: nn.Module,
    scheme: str,
    *,
    forget_bias: float | None = None,
    gain: float = 1.0,
    nonlinearity: str = "relu",
) -> nn.Module:
    """Initialise a recurrent layer or cell in place, each gate block on its own.

    Works on ``rnnkit.nn`` layers and cells and on ``torch.nn.RNN``, ``LSTM``, ``GRU`` and
    their cells: any module with ``hidden_size`` and torch-named parameters ``weight_ih*``,
    ``weight_hh*`` (the scheme table is in the module docstring).

    Args:
        module: the layer or cell.
        scheme: ``uniform``, ``xavier``, ``orthogonal``, ``kaiming`` or ``identity``.
        forget_bias: if given, the forget block of ``bias_ih`` is set to it and that of
            ``bias_hh`` to zero (LSTMs only).
        gain: scale of the Xavier bound, the Kaiming bound, the orthogonal matrix and the
            identity (ignored by ``uniform``).
        nonlinearity: the Kaiming gain's nonlinearity (``relu``, ``tanh``, ``linear``...).

    Returns:
        ``module``, initialised.

    Raises:
        TypeError: ``module`` is not a recurrent layer or cell.
        ValueError: an unknown scheme, a non-positive ``gain``, ``identity`` with non-square
            recurrent blocks (projection, Jordan with ``O != H``), or ``forget_bias`` for a
            module without a forget gate or without biases.

    Example:
        >>> from rnnkit.nn import RNN
        >>> irnn = init_recurrent(RNN(2, 3, nonlinearity="relu"), "identity")
        >>> irnn.weight_hh_l0.tolist(), irnn.bias_hh_l0.tolist()
        ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [0.0, 0.0, 0.0])
    """
    scheme = check_scheme(scheme)
    hidden_size = getattr(module, "hidden_size", None)
    params = dict(module.named_parameters(recurse=False)) if isinstance(module, nn.Module) else {}
    if not isinstance(hidden_size, int) or not any(n.startswith("weight_ih") for n in params):
        raise TypeError(
            "Argument `module` must be a recurrent layer or cell of rnnkit.nn or torch.nn "
            f"(with hidden_size and weight_ih / weight_hh parameters), got "
            f"{type(module).__name__}."
        )
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real) or gain <= 0:
        raise ValueError(f"Argument `gain` must be a positive number, got {gain!r}.")
    nn.init.calculate_gain(nonlinearity)  # raises ValueError for an unknown name
    if forget_bias is not None:
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real):
            raise ValueError(
                f"Argument `forget_bias` must be a number or None, got {forget_bias!r}."
            )
        if not _has_forget_gate(module):
            raise ValueError(
                f"Argument `forget_bias` needs a module with a forget gate (an LSTM), got "
                f"{type(module).__name__}."
            )
        if not any(n.startswith("bias_ih") for n in params):
            raise ValueError("Argument `forget_bias` needs biases, got a module with bias=False.")
    H = hidden_size
    gain = float(gain)
    roles = {}
    for name in params:
        match = _NAME.fullmatch(name)
        if match is not None:
            roles[name] = match.group(1)
    if scheme == "identity":
        for name, role in roles.items():
            if role in _RECURRENT and params[name].shape[1] != H:
                raise ValueError(
                    f"Argument `init='identity'` needs square recurrent blocks, got {name} "
                    f"with blocks of shape {[H, params[name].shape[1]]}."
                )
    with torch.no_grad():
        for name, role in roles.items():
            p = params[name]
            if scheme == "uniform":
                bound = 1.0 / math.sqrt(H)
                p.uniform_(-bound, bound)
            elif role.startswith("bias"):
                p.zero_()
            elif role in _OUTPUT and scheme == "kaiming":
                _kaiming(p, gain, nonlinearity)
            elif role in _OUTPUT:
                _xavier(p, gain)
            else:
                for block in _blocks(p, H):
                    if scheme == "kaiming":
                        _kaiming(block, gain, nonlinearity)
                    elif scheme == "xavier" or role == _INPUT:
                        _xavier(block, gain)
                    elif scheme == "orthogonal":
                        nn.init.orthogonal_(block, gain=gain)
                    else:
                        _identity(block, gain)
        if forget_bias is not None:
            spec = getattr(module, "spec", None)
            # the spec knows where the forget block sits (i, f, g, o; an ablation without an
            # input gate starts with f); torch.nn modules use i, f, g, o
            f = spec.gate_slice("f", H) if spec is not None else slice(H, 2 * H)
            for name, p in params.items():
                if name.startswith("bias_ih"):
                    p[f] = float(forget_bias)
                elif name.startswith("bias_hh"):
                    p[f] = 0.0
    return module
