"""What a parameter dict says about its network: the cell, the sizes, the layers, the directions.

Parameter names follow torch's (DESIGN.md, Contracts): a layer's carry the suffix ``_l{k}`` of
their layer ``k`` and ``_reverse`` in the backward direction (``weight_hh_l1_reverse``), a
cell's have none, and a network's output layer is ``weight_hy [O, D*H]``, ``bias_y [O]``
without a suffix. The names and shapes of layer 0 fix most of the network::

    name present                        cell              sizes
    weight_yh  [H, O]                   jordan            I, H from weight_ih [H, I]
    weight_ci, weight_cf, weight_co     peephole_lstm     H from weight_hh [4H, H]
    weight_ah  [3H, 3H]                 lstm, variant fgr
    weight_hr  [P, H]                   lstm, proj_size P H from weight_hr, weight_hh [4H, P]
    otherwise the blocks G_i, G_h of weight_ih [G_i*H, I] and weight_hh [G_h*H, H]:
        G_i, G_h = 1, 1  rnn     4, 4  lstm     3, 3  gru     2, 2  mut1     2, 3  mut2

``bias_ih`` present means biases; any ``ln_*`` means layer normalisation; the layers are
``1 +`` the largest ``k``; two directions when any name ends in ``_reverse``; an output layer
when ``weight_hy`` has no suffix (a Jordan network's ``weight_hy_l{k}`` are its cells' own).

What names and shapes cannot tell takes its default, and must be given where it differs:

* the nonlinearity of ``rnn`` and ``jordan`` (``tanh``; ``relu`` looks the same);
* the output activation of a Jordan network or an output layer (``identity``);
* LSTM gate ablations whose blocks look like another cell's: three blocks in both matrices
  read as a GRU (``nig``, ``nfg``, ``nog``, ``cifg`` and ``mut3`` look the same), four as the
  plain LSTM (``niaf``, ``noaf``);
* whether the network is many-to-one.

Example:
    >>> import numpy as np
    >>> shapes = {"weight_ih_l0": (12, 2), "weight_hh_l0": (12, 4), "weight_ih_l0_reverse": (12, 2),
    ...           "weight_hh_l0_reverse": (12, 4)}
    >>> net = infer_network({k: np.zeros(s) for k, s in shapes.items()})
    >>> net.spec.name, net.input_size, net.hidden_size, net.bidirectional, net.bias
    ('gru', 2, 4, True, False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from rnnkit.reference.network import Network
from rnnkit.reference.params import check_params

__all__ = ["infer_cell", "infer_network", "split_name"]

_SUFFIX = re.compile(r"^(?P<base>.+)_l(?P<layer>\d+)(?P<reverse>_reverse)?$")
# (blocks of weight_ih, blocks of weight_hh) -> cell, for the cells no name singles out
_BLOCKS = {(1, 1): "rnn", (4, 4): "lstm", (3, 3): "gru", (2, 2): "mut1", (2, 3): "mut2"}


def split_name(name: str) -> tuple[str, int | None, bool]:
    """``(spec name, layer or None, reverse)`` of a parameter name.

    >>> split_name("weight_hh_l1_reverse"), split_name("ln_c_bias_l0"), split_name("bias_y")
    (('weight_hh', 1, True), ('ln_c_bias', 0, False), ('bias_y', None, False))
    """
    match = _SUFFIX.match(name)
    if match is None:
        return name, None, False
    return match["base"], int(match["layer"]), match["reverse"] is not None


def infer_cell(shapes: Mapping[str, tuple[int, ...]]) -> tuple[str, str]:
    """``(cell, variant)`` of one layer's (or one cell's) parameters under the spec's names.

    Args:
        shapes: spec name (``weight_ih``, ``weight_hh``, ...) -> shape.

    Returns:
        A cell name for :class:`rnnkit.reference.network.Network` and an LSTM variant
        (``"vanilla"`` but for ``("lstm", "fgr")``); the table of the module docstring.

    Raises:
        ValueError: ``weight_ih``, ``weight_hh`` (or Jordan's ``weight_yh``, the projection's
            ``weight_hr``) is missing or not a matrix, or the blocks fit no cell (the message
            gives both shapes).

    >>> infer_cell({"weight_ih": (8, 3), "weight_hh": (12, 4)})
    ('mut2', 'vanilla')
    """
    _matrix(shapes, "weight_ih", "(G*H, I)")
    if "weight_yh" in shapes:
        _matrix(shapes, "weight_yh", "(H, O)")
        return "jordan", "vanilla"
    _matrix(shapes, "weight_hh", "(G*H, H)")  # every other cell has one
    if "weight_ci" in shapes:
        return "peephole_lstm", "vanilla"
    if "weight_ah" in shapes:
        return "lstm", "fgr"
    if "weight_hr" in shapes:
        _matrix(shapes, "weight_hr", "(P, H)")
        return "lstm", "vanilla"
    ih, hh = tuple(shapes["weight_ih"]), tuple(shapes["weight_hh"])
    H = hh[1]
    cell = None
    if ih[0] % H == 0 and hh[0] % H == 0:
        cell = _BLOCKS.get((ih[0] // H, hh[0] // H))
    if cell is None:
        raise ValueError(
            f"Parameters `weight_ih` {ih} and `weight_hh` {hh} fit no cell: expected "
            f"weight_ih (G_i*H, I) and weight_hh (G_h*H, H) with H = {H} and G_i, G_h = 1, 1 "
            f"(rnn), 3, 3 (gru), 4, 4 (lstm), 2, 2 (mut1) or 2, 3 (mut2)."
        )
    return cell, "vanilla"


def _matrix(shapes: Mapping[str, tuple[int, ...]], name: str, expected: str) -> None:
    """Refuse a missing or empty ``shapes[name]`` or one that is not a matrix."""
    if name not in shapes:
        raise ValueError(
            f"Parameter `{name}` is missing: the cell and its sizes are read from it, got only "
            f"{', '.join(shapes) or 'no parameters'}."
        )
    if len(shapes[name]) != 2 or 0 in shapes[name]:
        raise ValueError(
            f"Parameter `{name}` has shape {tuple(shapes[name])}, expected a matrix {expected}."
        )


def infer_network(
    params: Mapping[str, np.ndarray],
    *,
    nonlinearity: str = "tanh",
    output_activation: str | None = None,
    many_to_one: bool = False,
) -> Network:
    """The :class:`Network` whose parameters ``params`` are, read from their names and shapes.

    Args:
        params: a network's parameters (``weight_ih_l0`` ..., see the module docstring), NumPy
            float arrays.
        nonlinearity, output_activation, many_to_one: what the names cannot tell
            (:class:`Network`).

    Returns:
        The network; ``params`` hold exactly its parameters, each with its shape.

    Raises:
        ValueError: no layer-0 parameters, a cell the shapes do not single out, or a
            parameter missing, unknown or misshapen for the network the others describe.
        TypeError: a value that is not a float32/float64 NumPy array.
    """
    if not isinstance(params, Mapping):
        raise TypeError(
            f"Argument `params` must be a dict of NumPy arrays, got {type(params).__name__}."
        )
    first: dict[str, tuple[int, ...]] = {}
    layers, reverse = 0, False
    for name, value in params.items():
        base, layer, rev = split_name(str(name))
        if layer is None:
            continue
        layers, reverse = max(layers, layer + 1), reverse or rev
        if layer == 0 and not rev:
            first[base] = tuple(np.shape(value))
    if not first:
        raise ValueError(
            f"Argument `params` holds no parameter of the first layer (names ending in `_l0`), "
            f"got {', '.join(map(str, params)) or 'none'}."
        )
    cell, variant = infer_cell(first)
    I = first["weight_ih"][1]
    O: int | None = None
    proj_size = 0
    if cell == "jordan":
        H, O = first["weight_ih"][0], first["weight_yh"][1]
    elif "weight_hr" in first:
        proj_size, H = first["weight_hr"]
    else:
        H = first["weight_hh"][1]
    if cell != "jordan" and "weight_hy" in params:
        O = int(np.shape(params["weight_hy"])[0])
    network = Network(
        cell, I, H, layers,
        bidirectional=reverse, nonlinearity=nonlinearity,
        layer_norm=any(name.startswith("ln_") for name in first), bias="bias_ih" in first,
        output_size=O, output_activation=output_activation, many_to_one=many_to_one,
        variant=variant, proj_size=proj_size,
    )
    check_params(params, network.parameter_shapes())
    return network
