"""Moving parameters between the engines: rnnkit.nn / torch.nn modules <-> reference dicts.

Both engines use the names and layouts of ``rnnkit.spec`` (torch's own for plain cells), so a
conversion is a copy between tensors and NumPy arrays plus the network's configuration:

* :func:`to_reference` -- a cell or layer of ``rnnkit.nn``, or a ``torch.nn`` ``RNN``,
  ``LSTM``, ``GRU``, ``RNNCell``, ``LSTMCell``, ``GRUCell`` -> a dict of float64 arrays under
  the same names (``weight_ih_l0`` ... for layers, ``weight_ih`` ... for cells);
* :func:`reference_network` -- the matching :class:`rnnkit.reference.Network` (layers) or
  reference cell (cells);
* :func:`from_reference` -- a reference dict -> an ``rnnkit.nn`` module, or a ``torch.nn`` one
  for the plain cells (``torch_module=True``). The names and shapes give the cell, the sizes,
  the layers and the directions (:mod:`rnnkit.reference.infer`); what they cannot tell (a
  ReLU nonlinearity, a Jordan output activation, an LSTM ablation) comes from the reference
  network or cell passed beside them.

An LSTM layer with ``proj_size=P`` converts both ways: its ``weight_hr_l{k} [P, H]`` is a
reference parameter like any other and the network is built with the same ``proj_size``.

So a model trained fast can be explained slowly::

    net, params = reference_network(layer), to_reference(layer)
    fwd = net.forward(params, x.numpy())

and a one-layer, one-direction layer's parameters go to ``rnnkit explain`` as they are (its
``weight_ih_l0`` ... read as ``weight_ih`` ...).

Examples:
    >>> import torch
    >>> lstm = torch.nn.LSTM(3, 4, num_layers=2)
    >>> params = to_reference(lstm)
    >>> params["weight_hh_l1"].shape, params["weight_hh_l1"].dtype
    ((16, 4), dtype('float64'))
    >>> back = from_reference(params, torch_module=True)
    >>> type(back), torch.equal(back.weight_hh_l1.float(), lstm.weight_hh_l1)
    (<class 'torch.nn.modules.rnn.LSTM'>, True)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from rnnkit import nn as rnn_nn
from rnnkit.reference.cells import Cell, make_cell
from rnnkit.reference.infer import infer_cell, infer_network, split_name
from rnnkit.reference.network import Network
from rnnkit.reference.params import check_params

__all__ = ["from_reference", "reference_network", "to_reference"]

_TORCH_LAYERS = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}
_TORCH_CELLS = {nn.RNNCell: "rnn", nn.LSTMCell: "lstm", nn.GRUCell: "gru"}
_TORCH_CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
_CELL_CLASSES = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
_MUT_KINDS = {"mut1": 1, "mut2": 2, "mut3": 3}


def _kind(module: object) -> tuple[str, str]:
    """``(cell name, "layer" | "cell")`` of a supported module, else TypeError."""
    if isinstance(module, rnn_nn.RecurrentLayer):
        return module.spec.name, "layer"
    if isinstance(module, (rnn_nn.RNNCell, rnn_nn.LSTMCell, rnn_nn.PeepholeLSTMCell,
                           rnn_nn.GRUCell, rnn_nn.JordanCell, rnn_nn.MUTCell)):
        return module.spec.name, "cell"
    for cls, name in _TORCH_LAYERS.items():
        if type(module) is cls:
            return name, "layer"
    for cls, name in _TORCH_CELLS.items():
        if type(module) is cls:
            return name, "cell"
    raise TypeError(
        "Argument `module` must be an rnnkit.nn cell or layer, or a torch.nn RNN, LSTM, GRU, "
        f"RNNCell, LSTMCell or GRUCell; got {type(module).__name__}."
    )


def _nonlinearity(module: nn.Module) -> str:
    value = getattr(module, "nonlinearity", "tanh")
    return str(value).lower() if value else "tanh"


def to_reference(module: nn.Module) -> dict[str, np.ndarray]:
    """The module's recurrent parameters as float64 NumPy arrays under their own names.

    Learned initial states (``h0_l0`` ...) are not recurrent parameters and are left out:
    pass them to :meth:`Network.forward` as ``initial_state``.

    Args:
        module: an ``rnnkit.nn`` cell or layer, or a ``torch.nn`` ``RNN``/``LSTM``/``GRU``
            (or their ``*Cell``).

    Returns:
        name -> array, in the module's parameter order.

    Raises:
        TypeError: an unsupported module.
    """
    _kind(module)
    skip = set()
    if isinstance(module, rnn_nn.RecurrentLayer):
        for names in module._state_param_names:
            skip.update(names)
    return {
        name: p.detach().to("cpu", torch.float64).numpy().copy()
        for name, p in module.named_parameters()
        if name not in skip
    }


def reference_network(module: nn.Module) -> Network | Cell:
    """The reference :class:`Network` (for a layer) or cell (for a cell) matching ``module``.

    An LSTM layer's ``proj_size`` is passed on (:class:`Network` ``proj_size``).

    Raises:
        TypeError: an unsupported module.

    >>> reference_network(torch.nn.LSTM(3, 4, proj_size=2)).parameter_shapes()["weight_hr_l0"]
    (2, 4)
    """
    name, kind = _kind(module)
    nonlinearity = _nonlinearity(module) if name in ("rnn", "jordan") else "tanh"
    activation = getattr(module, "output_activation", "identity") if name == "jordan" else None
    layer_norm = bool(getattr(module, "layer_norm", False))
    if kind == "cell":
        return make_cell(name, nonlinearity=nonlinearity,
                         output_activation=activation or "identity", layer_norm=layer_norm)
    return Network(
        name,
        module.input_size,
        module.hidden_size,
        module.num_layers,
        bidirectional=bool(module.bidirectional),
        nonlinearity=nonlinearity,
        layer_norm=layer_norm,
        bias=bool(module.bias),
        output_size=getattr(module, "output_size", None) if name == "jordan" else None,
        output_activation=activation,
        proj_size=int(getattr(module, "proj_size", 0) or 0),
    )


def _sizes_from_cell_params(
    cell: Cell, params: Mapping[str, np.ndarray]
) -> tuple[int, int, int | None]:
    if "weight_ih" not in params:
        raise ValueError("Parameter `weight_ih` is missing: it fixes the input and hidden sizes.")
    rows, I = np.shape(params["weight_ih"])
    # weight_hh is [G*H, H] for every cell that has one (MUT1's input blocks are 2, not 3)
    H = np.shape(params["weight_hh"])[1] if "weight_hh" in params else rows // cell.spec.num_gates
    O = None
    if cell.spec.name == "jordan" and "weight_hy" in params:
        O = int(np.shape(params["weight_hy"])[0])
    return I, H, O


def _infer(params: Mapping[str, np.ndarray]) -> Network | Cell:
    """The reference network (names with a layer suffix) or cell (plain spec names) that
    ``params`` describe."""
    if not isinstance(params, Mapping):
        raise TypeError(
            f"Argument `params` must be a dict of NumPy arrays, got {type(params).__name__}."
        )
    if any(split_name(str(name))[1] is not None for name in params):
        return infer_network(params)
    cell, variant = infer_cell({str(k): tuple(np.shape(v)) for k, v in params.items()})
    return make_cell(cell, variant=variant,
                     layer_norm=any(str(k).startswith("ln_") for k in params))


def from_reference(
    params: Mapping[str, np.ndarray],
    network: Network | Cell | str | None = None,
    *,
    torch_module: bool = False,
    batch_first: bool = False,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Build a module holding the reference parameters ``params``.

    From ``params`` alone: names with a layer suffix (``weight_ih_l0`` ...) give a layer, the
    spec's plain names (``weight_ih`` ...) a cell, and the names and shapes give the cell
    (``rnn``, ``jordan``, ``lstm``, ``peephole_lstm``, ``gru``, MUT1, MUT2, FGR), the sizes,
    biases, layer normalisation, ``proj_size``, the layers and the directions
    (:mod:`rnnkit.reference.infer`). What they cannot tell takes the module's default, so pass
    ``network`` when it differs: a ``relu`` nonlinearity (default ``tanh``), a Jordan output
    activation (default ``identity``), an LSTM ablation whose blocks look like another cell
    (``nig``, ``nfg``, ``nog``, ``cifg`` and MUT3 have a GRU's three blocks; ``niaf`` and
    ``noaf`` the LSTM's four).

    Args:
        params: reference arrays (the names of ``network.parameter_shapes()``, or a cell's
            spec names). The output layer's ``weight_hy``/``bias_y`` of a network, if present,
            are not part of a recurrent layer and are ignored.
        network: ``None`` to read the module from ``params``; the reference :class:`Network`
            (gives a layer), a reference cell or a cell name (gives a cell; sizes from
            ``weight_ih`` and Jordan's ``weight_hy``).
        torch_module: build ``torch.nn.RNN/LSTM/GRU`` (or ``*Cell``) instead of ``rnnkit.nn``;
            only for plain ``rnn``, ``lstm``, ``gru`` without layer norm. A network with
            ``proj_size`` gives ``rnnkit.nn.LSTM(proj_size=P)`` or ``torch.nn.LSTM(proj_size=P)``.
        batch_first: the layer's ``batch_first``.
        dtype: the parameters' dtype (default: float64 for float64 arrays, else float32).

    Returns:
        The module, its parameters copied from ``params``.

    Raises:
        ValueError: missing, unknown or misshapen parameters (named, with both shapes); names
            and shapes that fit no cell; a variant the target module does not have.

    Example:
        >>> from rnnkit.nn import GRU
        >>> gru = from_reference(to_reference(GRU(2, 3, num_layers=2, bidirectional=True)))
        >>> type(gru).__name__, gru.input_size, gru.hidden_size, gru.num_layers, gru.bidirectional
        ('GRU', 2, 3, 2, True)
    """
    if network is None:
        network = _infer(params)
    if isinstance(network, str):
        network = make_cell(network)
    if isinstance(network, Network):
        shapes = network.parameter_shapes()
        recurrent = {k: v for k, v in params.items()
                     if not (network.has_output_layer and k in ("weight_hy", "bias_y"))}
        if network.has_output_layer:
            shapes = {k: v for k, v in shapes.items() if k not in ("weight_hy", "bias_y")}
        array_dtype = check_params(recurrent, shapes)
        if network.layer_norm and torch_module:
            raise ValueError(
                "Argument `torch_module=True` cannot hold a layer_norm network: torch.nn "
                "layers have no layer normalisation; build an rnnkit.nn layer instead."
            )
        name = network.spec.name
        common = dict(
            num_layers=network.num_layers, bias=network.bias, batch_first=batch_first,
            bidirectional=network.bidirectional,
        )
        if network.layer_norm:
            common["layer_norm"] = True
        if network.proj_size:
            common["proj_size"] = network.proj_size
        if torch_module:
            if name not in _TORCH_CLASSES:
                raise ValueError(
                    f"Argument `torch_module=True` needs a plain 'rnn', 'lstm' or 'gru' network, "
                    f"got '{name}'."
                )
            extra = {"nonlinearity": network.nonlinearity} if name == "rnn" else {}
            module: nn.Module = _TORCH_CLASSES[name](
                network.input_size, network.hidden_size, **common, **extra
            )
        elif name == "rnn":
            module = rnn_nn.RNN(network.input_size, network.hidden_size,
                                nonlinearity=network.nonlinearity, **common)
        elif name in ("lstm", "peephole_lstm"):
            module = rnn_nn.LSTM(network.input_size, network.hidden_size,
                                 peephole=name == "peephole_lstm", **common)
        elif name == "gru":
            module = rnn_nn.GRU(network.input_size, network.hidden_size, **common)
        elif name.startswith("lstm_"):  # a gate ablation: lstm_cifg, ...
            module = rnn_nn.LSTM(network.input_size, network.hidden_size,
                                 variant=network.spec.variant, **common)
        elif name in _MUT_KINDS:
            module = rnn_nn.MUT(network.input_size, network.hidden_size,
                                kind=_MUT_KINDS[name], **common)
        else:
            module = rnn_nn.JordanRNN(
                network.input_size, network.hidden_size, output_size=network.width,
                nonlinearity=network.nonlinearity,
                output_activation=network.output_activation, **common,
            )
        values = recurrent
    else:
        cell = network
        I, H, O = _sizes_from_cell_params(cell, params)
        array_dtype = check_params(params, cell.parameter_shapes(
            I, H, output_size=O, bias="bias_ih" in params
        ))
        if cell.layer_norm and torch_module:
            raise ValueError(
                "Argument `torch_module=True` cannot hold a layer_norm cell: torch.nn cells "
                "have no layer normalisation; build an rnnkit.nn cell instead."
            )
        name = cell.spec.name
        ln = {"layer_norm": True} if cell.layer_norm else {}
        bias = "bias_ih" in params
        nonlinearity = getattr(cell, "nonlinearity", "tanh")
        if torch_module:
            if name not in _CELL_CLASSES:
                raise ValueError(
                    f"Argument `torch_module=True` needs a plain 'rnn', 'lstm' or 'gru' cell, "
                    f"got '{name}'."
                )
            extra = {"nonlinearity": nonlinearity} if name == "rnn" else {}
            module = _CELL_CLASSES[name](I, H, bias=bias, **extra)
        elif name == "rnn":
            module = rnn_nn.RNNCell(I, H, bias=bias, nonlinearity=nonlinearity)
        elif name == "lstm":
            module = rnn_nn.LSTMCell(I, H, bias=bias, **ln)
        elif name == "peephole_lstm":
            module = rnn_nn.PeepholeLSTMCell(I, H, bias=bias, **ln)
        elif name == "gru":
            module = rnn_nn.GRUCell(I, H, bias=bias, **ln)
        elif name.startswith("lstm_"):
            module = rnn_nn.LSTMCell(I, H, bias=bias, variant=cell.spec.variant)
        elif name in _MUT_KINDS:
            module = rnn_nn.MUTCell(I, H, kind=_MUT_KINDS[name], bias=bias)
        else:
            module = rnn_nn.JordanCell(
                I, H, int(O or 0), bias=bias, nonlinearity=nonlinearity,
                output_activation=getattr(cell, "output_activation", "identity"),
            )
        values = dict(params)
    if dtype is None:
        dtype = torch.float64 if array_dtype == np.float64 else torch.float32
    module = module.to(dtype)
    with torch.no_grad():
        for pname, p in module.named_parameters():
            if pname in values:
                p.copy_(torch.from_numpy(np.ascontiguousarray(values[pname])).to(dtype))
    return module
