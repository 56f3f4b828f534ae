"""Recurrent layers: any cell over a sequence, drop-in for ``torch.nn.RNN/LSTM/GRU``.

The layer owns time -- stacking, directions, lengths, final-state selection, dropout between
layers -- and runs one of two paths (``layer.path``, shown in ``repr``):

* ``"fused"``: plain Elman, LSTM and GRU layers call the same fused kernel that
  ``torch.nn.LSTM`` calls (``torch._VF.lstm/gru/rnn_tanh/rnn_relu``: oneDNN on CPU, cuDNN on
  GPU) with the layer's own parameters passed as the flat weight list. The list comes from
  :meth:`RecurrentLayer._forward_parameters`, so an option that transforms weights (weight
  drop) overrides that one method and keeps the fused path.
* ``"loop"``: every other cell (peephole LSTM, Jordan) and any layer with ``force_loop=True``.
  The input projection of all steps is one matrix product (``x @ W_ih^T + b`` over
  ``[T*B, I]``, :func:`rnnkit.nn.functional.project_input`); each step then runs only the
  recurrent product and the gate arithmetic (:data:`rnnkit.nn.functional.STEP_FUNCTIONS`),
  exactly what the cell's ``step`` runs. Per-step options slot in at
  :meth:`RecurrentLayer._run_direction` (masks, zoneout) or the step function (layer norm).
  The LSTM and peephole LSTM, with or without layer norm, and the layer-norm GRU (without
  a projection, outside autocast; with layer norm, without zoneout) run their loop as one
  autograd node per direction instead, with the backward through time written out by hand:
  :func:`rnnkit.nn.lstm_sequence.lstm_sequence`,
  :func:`rnnkit.nn.layer_norm_lstm.layer_norm_lstm_sequence` and
  :func:`rnnkit.nn.layer_norm_gru.layer_norm_gru_sequence`, equal in outputs and gradients to
  stepping the step function.

Regularisation, normalisation and initialisation options (equations in
:mod:`rnnkit.nn.regularizers`, :mod:`rnnkit.nn.functional` and :mod:`rnnkit.nn.init`), and
the path each leaves a layer on:

=========================  ===============================================  ===============
option                     what                                             path
=========================  ===============================================  ===============
``weight_drop=p``          DropConnect on ``weight_hh``, once per forward   unchanged
``locked_dropout=p``       one mask per sequence on each layer's input      unchanged
                           and on the last layer's output
``recurrent_dropout=p``    one mask per sequence on ``h_{t-1}`` where it    loop (training)
                           enters ``W_hh h_{t-1}``
``zoneout=p``              units keep their previous value w.p. ``p``       loop
``zoneout_c=p``            the LSTM cell's own zoneout (default ``p``)      loop
``layer_norm=True``        layer norm per gate block and of ``c``           loop
``init=scheme``            per-gate-block initialisation                    unchanged
=========================  ===============================================  ===============

The dropout-type options act in training only (``recurrent_dropout`` in evaluation is the
identity, so an evaluating layer goes back to the fused path); zoneout evaluates to its
expectation. The masks drawn by the last training forward are kept in ``layer.last_masks``
for inspection, keyed ``"weight_drop_l0"`` (``[G*H, H]``), ``"locked_l0"`` (input of layer
0, ``[B, I]``) ... ``"locked_output"`` (``[B, D*H]``), ``"recurrent_l0"`` (``[B, H]``) and
``"zoneout_h_l0"``, ``"zoneout_c_l0"`` (``[T, B, H]``, one mask per step in time order), each
with ``_reverse`` for the backward direction.

Variable lengths, either way::

    padded batch, lengths = [3, 1, 2]       packed (sorted by length, time-major)
        t=0  t=1  t=2                           data = a0 c0 b0 | a1 c1 | a2
    a:  a0   a1   a2                            batch_sizes = [3, 2, 1]
    b:  b0   .    .
    c:  c0   c1   .

The fused path packs a padded batch given with ``lengths=``; the loop path unpacks a packed
batch and masks the state: past a sequence's end its state stays frozen (so ``h_n`` is the
state at its true end, and the reverse direction starts from ``h_0`` at its true end) and its
outputs are zero.

Parameter names follow torch -- ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}`` (``_reverse`` for the backward direction) -- so a ``state_dict`` of a layer
without options loads into ``torch.nn.LSTM`` and back. Extra parameters carry the spec's name
with the same suffix: ``weight_ci_l0`` (peepholes), ``weight_yh_l0``, ``weight_hy_l0``,
``bias_yh_l0``, ``bias_y_l0`` (Jordan), ``h0_l0``, ``c0_l0``, ``y0_l0`` (learned initial states).
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.nn import functional as RF
from rnnkit.nn import regularizers as R
from rnnkit.nn import variants as V
from rnnkit.nn.init import check_scheme, init_recurrent
from rnnkit.nn.layer_norm_gru import layer_norm_gru_sequence
from rnnkit.nn.layer_norm_lstm import layer_norm_lstm_sequence
from rnnkit.nn.lstm_sequence import lstm_sequence
from rnnkit.spec import CellSpec, check_nonlinearity, check_output_activation, get_spec

__all__ = ["GRU", "LSTM", "MUT", "RNN", "JordanRNN", "RecurrentLayer"]

State = tuple[Tensor, ...]
Hidden = Tensor | tuple[Tensor, Tensor]

#: Options some layers have, and the layers that have them. Giving one of these, switched on,
#: to a layer without it is a ValueError that names it (``GRU(..., peephole=True)``).
OPTION_OWNERS: dict[str, tuple[str, ...]] = {
    "peephole": ("LSTM",),
    "proj_size": ("LSTM",),
    "forget_bias": ("LSTM",),
    "zoneout_c": ("LSTM",),
    "layer_norm": ("LSTM", "GRU"),
    "variant": ("LSTM",),
    "nonlinearity": ("RNN", "JordanRNN"),
    "output_size": ("JordanRNN",),
    "output_activation": ("JordanRNN",),
}

# The kernel names of torch._VF for the cells that have a fused kernel.
_FUSED_KERNELS = {
    "LSTM": _VF.lstm,
    "GRU": _VF.gru,
    "RNN_TANH": _VF.rnn_tanh,
    "RNN_RELU": _VF.rnn_relu,
}
# Parameters the fused kernels take, in their order within one layer and direction.
_FUSED_PARAM_ORDER = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")
    return int(value)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"Argument `{name}` must be a bool, got {value!r}.")
    return value


def _reject_options(layer: str, options: dict[str, object]) -> None:
    for name, value in options.items():
        if name not in OPTION_OWNERS:
            raise TypeError(f"{layer}() got an unexpected keyword argument {name!r}.")
        if value is not None and value is not False and value != 0:
            owners = " and ".join(OPTION_OWNERS[name])
            raise ValueError(
                f"Argument `{name}` applies to {owners} only, got {name}={value!r} for {layer}."
            )


def _permute(state: State, permutation: Tensor | None) -> State:
    if permutation is None:
        return state
    return tuple(s.index_select(1, permutation) for s in state)


def _packed_rows(
    batch_sizes: Tensor, sorted_indices: Tensor | None, device: torch.device
) -> Tensor:
    """The sequence (in the caller's batch order) each row of a packed batch belongs to."""
    # Packed rows are step-major: step t holds sorted sequences 0 .. batch_sizes[t] - 1.
    sizes = batch_sizes.to("cpu")
    columns = torch.arange(int(sizes[0]))
    rows = columns.expand(len(sizes), -1)[columns.unsqueeze(0) < sizes.unsqueeze(1)]
    if sorted_indices is not None:
        rows = sorted_indices.to("cpu")[rows]
    return rows.to(device)


class RecurrentLayer(nn.Module):
    """Base of :class:`RNN`, :class:`LSTM`, :class:`GRU` and :class:`JordanRNN`.

    Builds ``num_layers * num_directions`` sets of cell parameters from the spec, and runs
    them over a sequence on the fused or the loop path. Subclasses only choose the cell and
    their options; use them, not this class.

    Args:
        cell: spec name of the cell (``rnn``, ``lstm``, ``peephole_lstm``, ``gru``, ``jordan``),
            or the spec itself (the variants of :mod:`rnnkit.nn.variants`).
        input_size: ``I``, features of the input.
        hidden_size: ``H``, hidden units per layer and direction.
        num_layers: stacked layers; layer ``k > 0`` reads the outputs of layer ``k - 1``.
        bias: include the bias vectors.
        batch_first: input and output are ``[B, T, ·]`` instead of ``[T, B, ·]``.
        dropout: dropout probability on the outputs of every layer but the last (training).
        bidirectional: add a backward direction; outputs of both are concatenated.
        output_size: ``O`` (Jordan only).
        proj_size: ``P`` > 0 projects ``h`` to ``P`` units (LSTM only, as in torch).
        nonlinearity: ``tanh`` or ``relu`` (Elman and Jordan).
        output_activation: Jordan output activation.
        learn_initial_state: learn ``h_0`` (and ``c_0``; ``y_0`` for Jordan) per layer and
            direction, broadcast over the batch when ``hx`` is not given. Starts at zero.
        forget_bias: if given, the forget block of ``bias_ih`` is set to it and that of
            ``bias_hh`` to zero at initialisation, so their sum is ``forget_bias``.
        layer_norm: layer normalisation per gate block (``lstm``, ``peephole_lstm``, ``gru``).
        locked_dropout: variational dropout on each layer's input and the last layer's output.
        recurrent_dropout: variational dropout on ``h_{t-1}`` in the recurrent product.
        weight_drop: DropConnect on ``weight_hh`` (Jordan: ``weight_yh``), once per forward.
        zoneout: zoneout probability of ``h`` (``y`` for Jordan), and of ``c`` by default.
        zoneout_c: zoneout probability of the LSTM cell ``c``; ``None`` takes ``zoneout``.
        init: per-gate-block initialisation scheme (:data:`rnnkit.nn.init.INIT_SCHEMES`);
            ``None`` keeps torch's uniform draw.
        force_loop: run the loop path even where the fused kernel applies (an attribute too,
            so tests and benchmarks can switch it on an existing layer).
        device, dtype: where and how to create the parameters.

    Attributes:
        last_masks: the masks the last training forward drew, by name (module docstring).
    """

    def __init__(
        self,
        cell: str | CellSpec,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        output_size: int | None = None,
        proj_size: int = 0,
        nonlinearity: str = "tanh",
        output_activation: str = "identity",
        learn_initial_state: bool = False,
        forget_bias: float | None = None,
        layer_norm: bool = False,
        locked_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        zoneout_c: float | None = None,
        init: str | None = None,
        force_loop: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        spec = cell if isinstance(cell, CellSpec) else get_spec(cell)
        _check_positive_int("input_size", input_size)
        _check_positive_int("hidden_size", hidden_size)
        _check_positive_int("num_layers", num_layers)
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, numbers.Real)
            or not 0 <= dropout < 1
        ):
            raise ValueError(f"Argument `dropout` must be a number in [0, 1), got {dropout!r}.")
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(
                f"Argument `proj_size` must be a non-negative integer, got {proj_size!r}."
            )
        if forget_bias is not None:
            if isinstance(forget_bias, bool) or not isinstance(forget_bias, numbers.Real):
                raise ValueError(
                    f"Argument `forget_bias` must be a number or None, got {forget_bias!r}."
                )
            if "f" not in spec.gates:
                raise ValueError(
                    f"Argument `forget_bias` needs a cell with a forget gate, got cell "
                    f"'{spec.name}'."
                )
            if not bias:
                raise ValueError("Argument `forget_bias` needs bias=True, got bias=False.")
        check_nonlinearity(nonlinearity)
        check_output_activation(output_activation)
        for name, value in (
            ("bias", bias),
            ("batch_first", batch_first),
            ("bidirectional", bidirectional),
            ("learn_initial_state", learn_initial_state),
            ("layer_norm", layer_norm),
            ("force_loop", force_loop),
        ):
            _check_bool(name, value)
        if layer_norm and not spec.layer_norm_allowed:
            raise ValueError(
                f"Argument `layer_norm=True` is defined for cells 'lstm', 'peephole_lstm' and "
                f"'gru', not for '{spec.name}'."
            )
        probabilities = {
            name: R.check_probability(name, value)
            for name, value in (
                ("locked_dropout", locked_dropout),
                ("recurrent_dropout", recurrent_dropout),
                ("weight_drop", weight_drop),
                ("zoneout", zoneout),
            )
        }
        if zoneout_c is not None:
            R.check_probability("zoneout_c", zoneout_c)
            if not spec.has_cell_state:
                raise ValueError(
                    f"Argument `zoneout_c` needs a cell with a cell state (an LSTM), got cell "
                    f"'{spec.name}'."
                )
        if init is not None:
            check_scheme(init)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"Argument `dropout` acts between stacked layers, so dropout={dropout} has no "
                "effect with num_layers=1.",
                stacklevel=3,
            )

        self.spec: CellSpec = spec
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.output_size = output_size
        self.proj_size = proj_size
        self.nonlinearity = nonlinearity
        self.output_activation = output_activation
        self.learn_initial_state = learn_initial_state
        self.forget_bias = None if forget_bias is None else float(forget_bias)
        self.layer_norm = layer_norm
        self.locked_dropout = probabilities["locked_dropout"]
        self.recurrent_dropout = probabilities["recurrent_dropout"]
        self.weight_drop = probabilities["weight_drop"]
        self.zoneout = probabilities["zoneout"]
        if not spec.has_cell_state:
            self.zoneout_c = 0.0
        else:
            self.zoneout_c = self.zoneout if zoneout_c is None else float(zoneout_c)
        self.init = init
        self.force_loop = force_loop
        self.last_masks: dict[str, Tensor] = {}

        D = self.num_directions
        out_size = self.direction_output_size
        # _names[layer * D + direction]: spec name -> attribute name, e.g. weight_ih -> weight_ih_l1
        self._names: list[dict[str, str]] = []
        self._state_param_names: list[tuple[str, ...]] = []
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else out_size * D
            shapes = spec.parameter_shapes(
                layer_input,
                hidden_size,
                output_size=output_size,
                bias=bias,
                layer_norm=layer_norm,
                proj_size=proj_size,
            )
            for direction in range(D):
                suffix = self._suffix(layer, direction)
                names = {}
                for name, shape in shapes.items():
                    full = name + suffix
                    self.register_parameter(
                        full, nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
                    )
                    names[name] = full
                self._names.append(names)
                state_names = tuple(f"{s}0{suffix}" for s in spec.state_names)
                if learn_initial_state:
                    for name, size in zip(state_names, self.state_sizes, strict=True):
                        self.register_parameter(
                            name, nn.Parameter(torch.zeros(size, device=device, dtype=dtype))
                        )
                self._state_param_names.append(state_names)
        self.reset_parameters()
        self.flatten_parameters()

    # ----------------------------------------------------------------------------------------
    # Structure

    @property
    def num_directions(self) -> int:
        """2 if bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def direction_output_size(self) -> int:
        """Features one direction outputs per step: ``O`` (Jordan), ``P`` (projection) or ``H``."""
        if self.output_size is not None:
            return self.output_size
        return self.proj_size or self.hidden_size

    @property
    def state_sizes(self) -> tuple[int, ...]:
        """Last dimension of each state tensor, in the order of ``spec.state_names``."""
        return tuple(
            s[1]
            for s in self.spec.state_shapes(
                1, self.hidden_size, output_size=self.output_size, proj_size=self.proj_size
            )
        )

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction == 1 else "")

    def direction_parameters(self, layer: int, direction: int = 0) -> dict[str, nn.Parameter]:
        """The cell parameters of one layer and direction, keyed by their spec names.

        ``layer.direction_parameters(1, 1)["weight_ih"] is layer.weight_ih_l1_reverse``; a
        cell of the same kind loads this dict as its ``state_dict``.

        Raises:
            ValueError: ``layer`` or ``direction`` is out of range.
        """
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"Argument `layer` must be in [0, {self.num_layers}), got {layer!r}.")
        if not 0 <= direction < self.num_directions:
            raise ValueError(
                f"Argument `direction` must be in [0, {self.num_directions}), got {direction!r}."
            )
        names = self._names[layer * self.num_directions + direction]
        return {name: getattr(self, full) for name, full in names.items()}

    @property
    def _recurrent_weight(self) -> str:
        # The matrix that multiplies the fed-back state: what weight drop acts on.
        return "weight_yh" if self.spec.name == "jordan" else "weight_hh"

    def _forward_parameters(self, layer: int, direction: int) -> dict[str, Tensor]:
        # The tensors one forward pass uses. Both paths read weights only through here (once
        # per forward, layer and direction), so weight drop lives here alone and the fused
        # kernel receives the dropped matrix as one of its flat weights.
        params: dict[str, Tensor] = dict(self.direction_parameters(layer, direction))
        if self.weight_drop and self.training:
            name = self._recurrent_weight
            params[name], mask = R.dropconnect(params[name], self.weight_drop)
            if mask is not None:
                self.last_masks["weight_drop" + self._suffix(layer, direction)] = mask
        return params

    def _all_forward_parameters(self) -> list[dict[str, Tensor]]:
        # One forward's parameters, [layer * D + direction]; draws this forward's masks anew.
        self.last_masks = {}
        return [
            self._forward_parameters(layer, direction)
            for layer in range(self.num_layers)
            for direction in range(self.num_directions)
        ]

    @property
    def _fused_mode(self) -> str | None:
        if self.spec.name == "lstm":
            return "LSTM"
        if self.spec.name == "gru":
            return "GRU"
        if self.spec.name == "rnn":
            return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        return None

    def _fused_supported(self) -> bool:
        """Whether the options allow the fused kernel (options that change the step do not).

        Weight drop (the dropped matrix is passed to the kernel), locked dropout (between
        per-layer kernel calls) and ``init`` keep it; layer norm and zoneout need the loop;
        recurrent dropout needs it in training only (in evaluation it is the identity).
        """
        if self._fused_mode is None or self.layer_norm or self.zoneout or self.zoneout_c:
            return False
        return not (self.recurrent_dropout and self.training)

    @property
    def path(self) -> str:
        """``"fused"`` (torch's kernel) or ``"loop"`` (a Python loop over the cell's step).

        It can change with ``train()``/``eval()``: see :meth:`_fused_supported`. Variable
        lengths (``lengths=`` or a ``PackedSequence``) on the CPU with autograd recording run
        the loop even on a fused layer: see :meth:`_packed_is_slow`.
        """
        return "fused" if self._fused_supported() and not self.force_loop else "loop"

    def _packed_is_slow(self, x: Tensor) -> bool:
        """Whether variable-length input should leave the fused kernel for the loop.

        torch's packed-sequence kernel on the CPU has a backward pass whose cost grows with
        the square of the length (each step's gradient is accumulated into a zero tensor the
        size of the whole input): measured at B=32, H=128, T=200, one thread, a BiLSTM's
        forward + backward takes 1.23 s fused and 0.23 s on the loop, the same numbers out.
        Without autograd (evaluation, generation) the fused kernel stays faster.
        """
        return x.device.type == "cpu" and torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in self.parameters())
        )

    def reset_parameters(self) -> None:
        """Draw cell parameters from ``U(-1/sqrt(H), 1/sqrt(H))`` (torch's default).

        Layer-norm gains start at one and their biases at zero, learned initial states at
        zero; then the ``init`` scheme, if set, re-initialises the weights and biases per gate
        block (:func:`rnnkit.nn.init.init_recurrent`), and ``forget_bias``, if set, comes last.
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for names in self._names:
                for name, full in names.items():
                    if name.startswith("ln_"):
                        getattr(self, full).fill_(1.0 if name.endswith("_weight") else 0.0)
                    else:
                        getattr(self, full).uniform_(-bound, bound)
            for names in self._state_param_names:
                for name in names:
                    if hasattr(self, name):
                        getattr(self, name).zero_()
            if self.init is not None:
                init_recurrent(self, self.init)
            if self.forget_bias is not None:
                f = self.spec.gate_slice("f", self.hidden_size)
                for names in self._names:
                    getattr(self, names["bias_ih"])[f] = self.forget_bias
                    getattr(self, names["bias_hh"])[f] = 0.0

    def flatten_parameters(self) -> None:
        """Put the fused kernel's weights into one cuDNN buffer, as ``torch.nn.LSTM`` does.

        Only on CUDA with cuDNN; elsewhere (CPU) it does nothing. Called on construction and
        after ``.to()``/``.cuda()``.
        """
        mode = self._fused_mode
        if mode is None or self.layer_norm:
            return
        weights = [
            getattr(self, names[n])
            for names in self._names
            for n in _FUSED_PARAM_ORDER
            if n in names
        ]
        first = weights[0]
        for w in weights:
            if w.dtype != first.dtype or not w.is_cuda or not torch.backends.cudnn.is_acceptable(w):
                return
        if len({w.data_ptr() for w in weights}) != len(weights):
            return
        import torch.backends.cudnn.rnn as cudnn_rnn

        # no_grad: the flattening rewrites the parameters' storage in place.
        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    (4 if self.bias else 2) + (1 if self.proj_size else 0),
                    self.input_size,
                    cudnn_rnn.get_cudnn_mode(mode),
                    self.hidden_size,
                    self.proj_size,
                    self.num_layers,
                    self.batch_first,
                    self.bidirectional,
                )

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        result = super()._apply(fn, recurse)
        self.flatten_parameters()
        return result

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.output_size is not None:
            s += f", output_size={self.output_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.spec.name in ("rnn", "jordan") and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if self.spec.name == "jordan" and self.output_activation != "identity":
            s += f", output_activation={self.output_activation!r}"
        if self.spec.name == "peephole_lstm":
            s += ", peephole=True"
        if isinstance(self.spec, V.VariantSpec) and self.spec.has_cell_state:
            s += f", variant={self.spec.variant!r}"
        elif isinstance(self.spec, V.VariantSpec):
            s += f", kind={self.spec.variant[-1]}"  # MUT1-3
        if self.learn_initial_state:
            s += ", learn_initial_state=True"
        if self.forget_bias is not None:
            s += f", forget_bias={self.forget_bias}"
        if self.layer_norm:
            s += ", layer_norm=True"
        for name in ("locked_dropout", "recurrent_dropout", "weight_drop", "zoneout"):
            if getattr(self, name):
                s += f", {name}={getattr(self, name)}"
        if self.spec.has_cell_state and self.zoneout_c != self.zoneout:
            s += f", zoneout_c={self.zoneout_c}"
        if self.init is not None:
            s += f", init={self.init!r}"
        if self.force_loop:
            s += ", force_loop=True"
        return s + f", path={self.path}"

    # ----------------------------------------------------------------------------------------
    # Input checks

    def _check_input(self, input: Tensor, dims: tuple[int, ...]) -> None:
        if not isinstance(input, Tensor):
            raise TypeError(
                f"Argument `input` must be a tensor or a PackedSequence, got "
                f"{type(input).__name__}."
            )
        if input.dim() not in dims:
            raise ValueError(
                f"Argument `input` must be {' or '.join(f'{d}-D' for d in dims)}, got "
                f"shape {list(input.shape)}."
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"Argument `input` must have input_size={self.input_size} features in its last "
                f"dimension, got shape {list(input.shape)}."
            )
        if not input.is_floating_point():
            raise TypeError(
                f"Argument `input` must be a floating-point tensor, got dtype {input.dtype}."
            )

    @staticmethod
    def _check_lengths(lengths: object, batch_size: int, seq_len: int) -> Tensor:
        if isinstance(lengths, Tensor):
            if (
                lengths.dim() != 1
                or lengths.is_floating_point()
                or lengths.is_complex()
                or (lengths.dtype == torch.bool)
            ):
                raise ValueError(
                    f"Argument `lengths` must be a 1-D integer tensor or a list of ints, got a "
                    f"{lengths.dim()}-D tensor of dtype {lengths.dtype}."
                )
            lengths = lengths.detach().to(device="cpu", dtype=torch.int64)
        elif isinstance(lengths, (list, tuple)) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in lengths
        ):
            lengths = torch.tensor([int(v) for v in lengths], dtype=torch.int64)
        else:
            raise ValueError(
                f"Argument `lengths` must be a 1-D integer tensor or a list of ints, got "
                f"{lengths!r}."
            )
        if lengths.numel() != batch_size:
            raise ValueError(
                f"Argument `lengths` must have one entry per sequence (batch size "
                f"{batch_size}), got {lengths.numel()}."
            )
        if int(lengths.min()) <= 0:
            raise ValueError(f"Argument `lengths` must be positive, got {lengths.tolist()}.")
        if int(lengths.max()) > seq_len:
            raise ValueError(
                f"Argument `lengths` must not exceed the sequence length {seq_len}, got "
                f"{lengths.tolist()}."
            )
        return lengths

    def _check_hx(self, hx: object, batch_size: int, batched: bool, ref: Tensor) -> State:
        """Validate ``hx`` and return it as a tuple of ``[L*D, B, ·]`` tensors."""
        names = self.spec.state_names
        LD = self.num_layers * self.num_directions
        if hx is None:
            return self._default_state(batch_size, ref)
        if len(names) > 1:
            if not isinstance(hx, (tuple, list)) or len(hx) != len(names):
                got = f"{len(hx)} item(s)" if isinstance(hx, (tuple, list)) else type(hx).__name__
                raise ValueError(
                    f"Argument `hx` must be a tuple ({', '.join(n + '_0' for n in names)}), got "
                    f"{got}."
                )
            tensors = tuple(hx)
        else:
            tensors = (hx,)
        for name, t, size in zip(names, tensors, self.state_sizes, strict=True):
            expected = (LD, batch_size, size) if batched else (LD, size)
            if not isinstance(t, Tensor):
                raise ValueError(
                    f"Argument `hx` must hold a tensor {name}_0 of shape {list(expected)}, got "
                    f"{type(t).__name__}."
                )
            if tuple(t.shape) != expected:
                raise ValueError(
                    f"Argument `hx` must have {name}_0 of shape {list(expected)} "
                    f"(num_layers * num_directions, {'batch, ' if batched else ''}{size}), got "
                    f"{list(t.shape)}."
                )
        if not batched:
            tensors = tuple(t.unsqueeze(1) for t in tensors)
        return tensors

    def _default_state(self, batch_size: int, ref: Tensor) -> State:
        LD = self.num_layers * self.num_directions
        if not self.learn_initial_state:
            return tuple(
                torch.zeros(LD, batch_size, size, dtype=ref.dtype, device=ref.device)
                for size in self.state_sizes
            )
        state = []
        for k, size in enumerate(self.state_sizes):
            learned = torch.stack([getattr(self, names[k]) for names in self._state_param_names])
            # contiguous: the fused kernels expect a dense state tensor.
            state.append(learned.unsqueeze(1).expand(LD, batch_size, size).contiguous())
        return tuple(state)

    def _pack_state(self, state: State) -> Hidden:
        return state if len(state) > 1 else state[0]

    # ----------------------------------------------------------------------------------------
    # Forward

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Hidden | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Hidden]:
        """Run the layer over a sequence, like ``torch.nn.LSTM.forward``, plus ``lengths``.

        Args:
            input: ``[T, B, I]`` (``[B, T, I]`` with ``batch_first``), unbatched ``[T, I]``, or
                a ``PackedSequence``.
            hx: initial state, ``h_0`` or ``(h_0, c_0)`` for LSTMs (``y_0`` for Jordan), each
                ``[num_layers * num_directions, B, ·]``; ``None`` for zeros (or the learned
                initial state).
            lengths: true length of each sequence of a padded batch, ``[B]`` ints.

        Shape:
            ``output``: ``[T, B, D*H]`` (``D*P`` with projection, ``D*O`` for Jordan);
            states ``[L*D, B, ·]``, layer-major (layer ``k``, direction ``d`` at ``k*D + d``).

        Returns:
            ``(output, h_n)`` or ``(output, (h_n, c_n))``. A packed input gives a packed
            output. With ``lengths``, outputs past each sequence's end are zero and ``h_n`` is
            the state at its end.

        Raises:
            TypeError: ``input`` is not a floating tensor or a PackedSequence.
            ValueError: a shape does not match the layer, or ``lengths`` is not one positive
                length per sequence, at most ``T``.
        """
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(
                    "Argument `lengths` must be None for a PackedSequence input, which carries "
                    "its own lengths."
                )
            return self._forward_packed(input, hx)
        self._check_input(input, (2, 3))
        batched = input.dim() == 3
        if not batched:
            if lengths is not None:
                raise ValueError(
                    "Argument `lengths` needs a batched 3-D input, got an unbatched input of "
                    f"shape {list(input.shape)}."
                )
            input = input.unsqueeze(0 if self.batch_first else 1)
        B, T = (input.shape[0], input.shape[1]) if self.batch_first else input.shape[1::-1]
        if T == 0 or B == 0:
            raise ValueError(
                f"Argument `input` must have at least one step and one sequence, got shape "
                f"{list(input.shape)}."
            )
        if lengths is not None:
            lengths = self._check_lengths(lengths, B, T)
            if int(lengths.min()) == T:
                lengths = None  # every sequence is full: nothing to mask
        state = self._check_hx(hx, B, batched, input)

        params = self._all_forward_parameters()
        if self.path == "fused" and not (lengths is not None and self._packed_is_slow(input)):
            output, state_n = self._fused_padded(input, state, lengths, params)
        else:
            x = input.transpose(0, 1).contiguous() if self.batch_first else input
            output, state_n = self._loop(x, state, lengths, params)
            if self.batch_first:
                output = output.transpose(0, 1).contiguous()
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)
            state_n = tuple(s.squeeze(1) for s in state_n)
        return output, self._pack_state(state_n)

    def _forward_packed(
        self, packed: PackedSequence, hx: Hidden | None
    ) -> tuple[PackedSequence, Hidden]:
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        self._check_input(data, (2,))
        state = self._check_hx(hx, int(batch_sizes[0]), True, data)
        params = self._all_forward_parameters()
        if self.path == "fused" and not self._packed_is_slow(data):
            out, state_n = self._call_fused(
                data, _permute(state, sorted_indices), params, batch_sizes, sorted_indices
            )
            state_n = _permute(state_n, unsorted_indices)
        else:
            x, lengths = pad_packed_sequence(packed)  # [T, B, I], original batch order
            T = x.shape[0]
            padded, state_n = self._loop(
                x, state, None if int(lengths.min()) == T else lengths, params
            )
            if sorted_indices is not None:
                padded = padded.index_select(1, sorted_indices)
                lengths = lengths.index_select(0, sorted_indices.cpu())
            # Repacking the sorted batch gives back exactly the input's batch_sizes.
            out = pack_padded_sequence(padded, lengths, enforce_sorted=True).data
        return PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices), self._pack_state(
            state_n
        )

    # ----------------------------------------------------------------------------------------
    # Fused path

    def _call_fused(
        self,
        x: Tensor,
        state: State,
        params: list[dict[str, Tensor]],
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        """Run the fused kernel; ``sorted_indices``: batch order of a packed ``x``'s state."""
        mode = self._fused_mode
        if mode is None:
            raise ValueError(f"Cell '{self.spec.name}' has no fused kernel; use the loop path.")
        kernel = _FUSED_KERNELS[mode]
        with warnings.catch_warnings():
            if x.is_cuda:
                # cuDNN copies weights that are not in the module's flat buffer (weights made
                # afresh each call, as weight drop does) and says so on every call.
                warnings.filterwarnings(
                    "ignore", message="RNN module weights are not part of single contiguous"
                )
            # On CPU, float32 LSTMs with a projection fall back from oneDNN to torch's own
            # kernel (the same results) and torch says so; the user can do nothing about it.
            warnings.filterwarnings(
                "ignore", message="LSTM with projections is not supported with oneDNN"
            )
            if self.locked_dropout and self.training:
                return self._fused_by_layer(kernel, x, state, params, batch_sizes, sorted_indices)
            weights = [p[n] for p in params for n in _FUSED_PARAM_ORDER if n in p]
            hx = state if mode == "LSTM" else state[0]
            common = (self.bias, self.num_layers, self.dropout, self.training, self.bidirectional)
            if batch_sizes is None:
                result = kernel(x, hx, weights, *common, self.batch_first)
            else:
                result = kernel(x, batch_sizes, hx, weights, *common)
        return result[0], tuple(result[1:])

    def _fused_by_layer(
        self,
        kernel: Callable[..., tuple[Tensor, ...]],
        x: Tensor,
        state: State,
        params: list[dict[str, Tensor]],
        batch_sizes: Tensor | None,
        sorted_indices: Tensor | None,
    ) -> tuple[Tensor, State]:
        # Locked dropout acts between layers, so each layer is its own kernel call, with the
        # per-sequence mask broadcast over time (padded) or gathered per row (packed).
        D = self.num_directions
        B = state[0].shape[1]
        if batch_sizes is not None:
            rows = _packed_rows(batch_sizes, sorted_indices, x.device)
        time_axis = 1 if self.batch_first else 0

        def locked(key: str, value: Tensor) -> Tensor:
            mask = R.dropout_mask((B, value.shape[-1]), self.locked_dropout, value)
            self.last_masks[key] = mask
            if batch_sizes is not None:
                return value * mask.index_select(0, rows)
            return value * mask.unsqueeze(time_axis)

        finals = []
        for layer in range(self.num_layers):
            x = locked(f"locked_l{layer}", x)
            weights = [
                p[n]
                for p in params[layer * D : (layer + 1) * D]
                for n in _FUSED_PARAM_ORDER
                if n in p
            ]
            hx = tuple(s[layer * D : (layer + 1) * D] for s in state)
            hx_arg = hx if len(hx) > 1 else hx[0]
            common = (self.bias, 1, 0.0, self.training, self.bidirectional)
            if batch_sizes is None:
                result = kernel(x, hx_arg, weights, *common, self.batch_first)
            else:
                result = kernel(x, batch_sizes, hx_arg, weights, *common)
            x = result[0]
            finals.append(result[1:])
            if self.dropout and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        x = locked("locked_output", x)
        return x, tuple(torch.cat([f[k] for f in finals]) for k in range(len(finals[0])))

    def _fused_padded(
        self,
        input: Tensor,
        state: State,
        lengths: Tensor | None,
        params: list[dict[str, Tensor]],
    ) -> tuple[Tensor, State]:
        if lengths is None:
            return self._call_fused(input, state, params)
        T = input.shape[1 if self.batch_first else 0]
        packed = pack_padded_sequence(
            input, lengths, batch_first=self.batch_first, enforce_sorted=False
        )
        data, state_n = self._call_fused(
            packed.data,
            _permute(state, packed.sorted_indices),
            params,
            packed.batch_sizes,
            packed.sorted_indices,
        )
        packed_output = PackedSequence(
            data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        )
        output, _ = pad_packed_sequence(
            packed_output,
            batch_first=self.batch_first,
            total_length=T,
        )
        return output, _permute(state_n, packed.unsorted_indices)

    # ----------------------------------------------------------------------------------------
    # Loop path

    def _step_function(self) -> RF.StepFunction:
        if isinstance(self.spec, V.VariantSpec):
            return V.step_function(self.spec)
        if self.layer_norm:
            return RF.LAYER_NORM_STEP_FUNCTIONS[self.spec.name]
        step = RF.STEP_FUNCTIONS[self.spec.name]
        if self.spec.name == "rnn":
            return functools.partial(step, nonlinearity=self.nonlinearity)
        if self.spec.name == "jordan":
            return functools.partial(
                step, nonlinearity=self.nonlinearity, output_activation=self.output_activation
            )
        return step

    def _loop(
        self,
        x: Tensor,
        state: State,
        lengths: Tensor | None,
        params: list[dict[str, Tensor]],
    ) -> tuple[Tensor, State]:
        """Time-major loop over layers and directions: ``x [T, B, I]``, state ``[L*D, B, ·]``."""
        T = x.shape[0]
        mask = None
        if lengths is not None:
            # Steps past the longest sequence would all be masked: do not run them.
            T_run = int(lengths.max())
            x = x[:T_run]
            steps = torch.arange(T_run).unsqueeze(1)
            mask = (steps < lengths.unsqueeze(0)).unsqueeze(-1).to(x.device)  # [T_run, B, 1]
        step = self._step_function()
        locked = self.locked_dropout > 0 and self.training
        D = self.num_directions
        finals: list[State] = []
        layer_input = x
        for layer in range(self.num_layers):
            if locked:
                layer_input = self._locked(f"locked_l{layer}", layer_input)
            outputs = []
            for direction in range(D):
                index = layer * D + direction
                initial = tuple(s[index] for s in state)
                out, final = self._run_direction(
                    layer_input,
                    initial,
                    params[index],
                    step,
                    mask,
                    reverse=direction == 1,
                    suffix=self._suffix(layer, direction),
                )
                outputs.append(out)
                finals.append(final)
            layer_input = outputs[0] if D == 1 else torch.cat(outputs, dim=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        output = self._locked("locked_output", layer_input) if locked else layer_input
        if output.shape[0] < T:
            output = F.pad(output, (0, 0, 0, 0, 0, T - output.shape[0]))
        state_n = tuple(torch.stack([f[k] for f in finals]) for k in range(len(state)))
        return output, state_n

    def _locked(self, key: str, x: Tensor) -> Tensor:
        # One mask per sequence [B, F], the same at every step of the time-major x [T, B, F].
        mask = R.dropout_mask((x.shape[1], x.shape[2]), self.locked_dropout, x)
        self.last_masks[key] = mask
        return x * mask.unsqueeze(0)

    def _zoneout_weights(
        self, T: int, state: State, like: Tensor, suffix: str
    ) -> tuple[float | Tensor | None, ...] | None:
        # Per state component: None (no zoneout), the probability (evaluation: the
        # expectation), or one 0/1 mask per step, [T, B, S] (training).
        probabilities = (self.zoneout, self.zoneout_c)[: len(state)]
        if not any(probabilities):
            return None
        weights: list[float | Tensor | None] = []
        for name, s, p in zip(self.spec.state_names, state, probabilities, strict=True):
            if not p:
                weights.append(None)
            elif not self.training:
                weights.append(p)
            else:
                masks = R.zoneout_mask((T, *s.shape), p, like)
                self.last_masks[f"zoneout_{name}{suffix}"] = masks
                weights.append(masks)
        return tuple(weights)

    def _runs_sequence_function(self, x: Tensor, state: State, params: dict[str, Tensor]) -> bool:
        """Whether a direction runs a sequence function (a hand-written backward through time).

        :func:`~rnnkit.nn.layer_norm_lstm.layer_norm_lstm_sequence` covers the layer-norm LSTM
        and peephole LSTM, :func:`~rnnkit.nn.layer_norm_gru.layer_norm_gru_sequence` the
        layer-norm GRU, :func:`~rnnkit.nn.lstm_sequence.lstm_sequence` the plain LSTM and
        peephole LSTM on the loop path, all with recurrent dropout, variable lengths and
        either direction, the plain ones zoneout too (the caller checks zoneout). A projection
        changes the step; under autocast the step's operations would each pick their own
        precision, which the sequence function's buffers of one dtype do not follow; so those
        run the step loop, as do mixed dtypes (an ``hx`` of another dtype than the weights).
        """
        if self.proj_size or isinstance(self.spec, V.VariantSpec):
            return False
        cells = ("lstm", "peephole_lstm", "gru") if self.layer_norm else ("lstm", "peephole_lstm")
        if self.spec.name not in cells:
            return False
        if torch.is_autocast_enabled(x.device.type):
            return False
        return all(t.dtype == x.dtype for t in (*state, *params.values()))

    def _run_direction(
        self,
        x: Tensor,
        state: State,
        params: dict[str, Tensor],
        step: RF.StepFunction,
        mask: Tensor | None,
        reverse: bool,
        suffix: str = "",
    ) -> tuple[Tensor, State]:
        """One layer, one direction: ``x [T, B, I]`` -> outputs ``[T, B, ·]``, final state."""
        T = x.shape[0]
        recurrent_mask = None
        if self.recurrent_dropout and self.training:
            recurrent_mask = R.dropout_mask(tuple(state[0].shape), self.recurrent_dropout, x)
            self.last_masks["recurrent" + suffix] = recurrent_mask
            step = functools.partial(step, recurrent_mask=recurrent_mask)
        zone = self._zoneout_weights(T, state, x, suffix)
        # Zoneout: lstm_sequence covers it, the layer-norm functions do not.
        if (zone is None or not self.layer_norm) and self._runs_sequence_function(
            x, state, params
        ):
            if not self.layer_norm:
                sequence = lstm_sequence
            elif self.spec.name == "gru":
                sequence = layer_norm_gru_sequence
            else:
                sequence = layer_norm_lstm_sequence
            out, final = sequence(
                x,
                state,  # type: ignore[arg-type]
                params,
                reverse=reverse,
                recurrent_mask=recurrent_mask,
                step_mask=mask,
                **({} if zone is None else {"zoneout": zone}),
            )
            if mask is not None:
                out = out.masked_fill(~mask, 0.0)
            return out, final
        # unbind, not xw[t]: the backward of T index ops would each allocate a [T, B, G*H]
        # gradient (quadratic in T); unbind's backward stacks once.
        if isinstance(self.spec, V.VariantSpec):
            xw = V.project_input(self.spec, x, params).unbind(0)
        else:
            xw = RF.project_input(self.spec.name, x, params, layer_norm=self.layer_norm).unbind(0)
        masks = mask.unbind(0) if mask is not None else None
        ys: list[Tensor] = []
        for t in range(T - 1, -1, -1) if reverse else range(T):
            y, new_state = step(xw[t], state, params)
            if zone is not None:
                new_state = tuple(
                    new if z is None else R.zoneout(new, old, z if isinstance(z, float) else z[t])
                    for new, old, z in zip(new_state, state, zone, strict=True)
                )
                y = new_state[0]  # every cell's output is its first state component
            if masks is not None:
                # Past its end a sequence keeps its state: the final state is the one at its
                # end, and the reverse direction starts there from the initial state.
                new_state = tuple(
                    torch.where(masks[t], new, old)
                    for new, old in zip(new_state, state, strict=True)
                )
            state = new_state
            ys.append(y)
        if reverse:
            ys.reverse()
        out = torch.stack(ys)
        if mask is not None:
            out = out.masked_fill(~mask, 0.0)
        return out, state


class RNN(RecurrentLayer):
    """Elman layer, a drop-in for ``torch.nn.RNN`` (same arguments, names and results).

    ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` per layer and direction, ``f`` = tanh or
    relu. Runs torch's fused kernel unless ``force_loop``.

    Args:
        input_size, hidden_size, num_layers, nonlinearity, bias, batch_first, dropout,
            bidirectional: as ``torch.nn.RNN`` (``nonlinearity`` is the fourth positional).
        learn_initial_state: learn ``h_0`` per layer and direction (``h0_l{k}``).
        locked_dropout, recurrent_dropout, weight_drop, zoneout: drop and zoneout
            probabilities in [0, 1) (see :class:`RecurrentLayer`; 0 switches each off).
        init: per-gate-block initialisation scheme (:mod:`rnnkit.nn.init`).
        force_loop: run the Python loop path instead of the fused kernel.
        device, dtype: where and how to create the parameters.

    Shape and returns: see :meth:`RecurrentLayer.forward`; ``(output, h_n)``.

    Raises:
        ValueError: a size is not a positive integer, ``dropout`` is not in [0, 1),
            ``nonlinearity`` is unknown, or an option of another layer is switched on.

    Example:
        >>> rnn = RNN(3, 4, num_layers=2, nonlinearity="relu")
        >>> output, h_n = rnn(torch.randn(5, 2, 3))
        >>> output.shape, h_n.shape, rnn.path
        (torch.Size([5, 2, 4]), torch.Size([2, 2, 4]), 'fused')
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        learn_initial_state: bool = False,
        locked_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        init: str | None = None,
        force_loop: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: object,
    ) -> None:
        _reject_options("RNN", options)
        super().__init__(
            "rnn",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            nonlinearity=nonlinearity,
            learn_initial_state=learn_initial_state,
            locked_dropout=locked_dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
            init=init,
            force_loop=force_loop,
            device=device,
            dtype=dtype,
        )


class LSTM(RecurrentLayer):
    """LSTM layer, a drop-in for ``torch.nn.LSTM``, with peepholes and initial-state options.

    Per layer and direction, gate order i, f, g, o::

        c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g),   h_t = σ(o) ⊙ tanh(c_t)

    with the gates ``W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`` (plus ``w_c* ⊙ c`` peepholes, see
    :class:`rnnkit.nn.PeepholeLSTMCell`). Plain LSTMs run torch's fused kernel, weight drop
    and locked dropout included; peephole, layer-norm and zoneout LSTMs (and ``force_loop``)
    run the loop path, as does recurrent dropout in training.

    ``variant=`` switches on a gate ablation of Greff et al. 2017 (equations and parameter
    layouts in :mod:`rnnkit.nn.variants`; the cell is :class:`rnnkit.nn.LSTMCell` with the same
    ``variant``), always on the loop path: ``"nig"`` (no input gate, i = 1), ``"nfg"`` (no
    forget gate, f = 1), ``"nog"`` (no output gate, o = 1), ``"niaf"`` (no input activation,
    g = a_g), ``"noaf"`` (no output activation, h = o ⊙ c), ``"cifg"`` (coupled input and
    forget gate, f = 1 - i), ``"fgr"`` (full gate recurrence: i, f, o also see the previous
    step's ``[i; f; o]`` through ``weight_ah_l{k} [3H, 3H]``; the state, ``hx`` and the
    returned state are then ``(h, c, a)`` with ``a [L*D, B, 3H]``, zeros by default). A removed
    gate has no weights, so ``weight_ih_l{k}`` is ``[3H, I]`` for nig, nfg, nog and cifg.
    ``variant="vanilla"`` is the plain LSTM above, fused path included.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            proj_size: as ``torch.nn.LSTM``.
        variant: ``"vanilla"`` or one of ``"nig"``, ``"nfg"``, ``"nog"``, ``"niaf"``,
            ``"noaf"``, ``"cifg"``, ``"fgr"``; the ablations do not combine with ``peephole``,
            ``proj_size``, ``layer_norm`` or (``"fgr"``) ``zoneout``.
        peephole: add diagonal peepholes ``weight_ci/cf/co_l{k}``.
        learn_initial_state: learn ``h_0`` and ``c_0`` (``h0_l{k}``, ``c0_l{k}``).
        forget_bias: initial total forget-gate bias (``bias_ih[f] = forget_bias``,
            ``bias_hh[f] = 0``); ``None`` keeps torch's initialisation.
        layer_norm: layer normalisation of the input and recurrent products per gate block
            and of the cell state (:class:`rnnkit.nn.LSTMCell`).
        locked_dropout, recurrent_dropout, weight_drop, zoneout: drop and zoneout
            probabilities in [0, 1) (see :class:`RecurrentLayer`; 0 switches each off).
        zoneout_c: zoneout probability of ``c``; ``None`` takes ``zoneout``.
        init: per-gate-block initialisation scheme (:mod:`rnnkit.nn.init`).
        force_loop: run the Python loop path instead of the fused kernel.
        device, dtype: where and how to create the parameters.

    Shape and returns: see :meth:`RecurrentLayer.forward`; ``(output, (h_n, c_n))``.

    Raises:
        ValueError: a size is not a positive integer, ``dropout`` or a drop probability is not
            in [0, 1), ``forget_bias`` without bias (or without a forget gate: nfg, cifg), an
            unknown ``init`` or ``variant``, a variant with an option it does not combine
            with, or an option of another layer is switched on.

    Example:
        >>> lstm = LSTM(3, 4, batch_first=True, peephole=True)
        >>> lstm
        LSTM(3, 4, batch_first=True, peephole=True, path=loop)
        >>> output, (h_n, c_n) = lstm(torch.randn(2, 5, 3), lengths=[5, 2])
        >>> output.shape, h_n.shape, bool((output[1, 2:] == 0).all())
        (torch.Size([2, 5, 4]), torch.Size([1, 2, 4]), True)
        >>> awd = LSTM(3, 4, 2, weight_drop=0.5, locked_dropout=0.4, init="orthogonal")
        >>> awd.path, LSTM(3, 4, layer_norm=True, zoneout=0.1).path
        ('fused', 'loop')
        >>> _ = awd(torch.randn(5, 2, 3))
        >>> sorted(awd.last_masks)
        ['locked_l0', 'locked_l1', 'locked_output', 'weight_drop_l0', 'weight_drop_l1']
        >>> cifg = LSTM(3, 4, variant="cifg")
        >>> cifg, cifg.weight_ih_l0.shape
        (LSTM(3, 4, variant='cifg', path=loop), torch.Size([12, 3]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        variant: str = "vanilla",
        peephole: bool = False,
        learn_initial_state: bool = False,
        forget_bias: float | None = None,
        layer_norm: bool = False,
        locked_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        zoneout_c: float | None = None,
        init: str | None = None,
        force_loop: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: object,
    ) -> None:
        _reject_options("LSTM", options)
        _check_bool("peephole", peephole)
        spec = V.lstm_variant_spec(variant)
        if spec is not None:
            for name, value, default in (
                ("peephole", peephole, False),
                ("proj_size", proj_size, 0),
                ("layer_norm", layer_norm, False),
                ("zoneout", zoneout if variant == "fgr" else 0.0, 0.0),
                ("zoneout_c", zoneout_c if variant == "fgr" else None, None),
            ):
                if value != default:
                    raise ValueError(
                        f"Argument `{name}` does not combine with variant={variant!r}, got "
                        f"{name}={value!r}; the ablations change the plain LSTM only."
                    )
        self.variant = variant
        super().__init__(
            spec if spec is not None else "peephole_lstm" if peephole else "lstm",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size=proj_size,
            learn_initial_state=learn_initial_state,
            forget_bias=forget_bias,
            layer_norm=layer_norm,
            locked_dropout=locked_dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
            zoneout_c=zoneout_c,
            init=init,
            force_loop=force_loop,
            device=device,
            dtype=dtype,
        )

    @property
    def peephole(self) -> bool:
        """Whether the cell has peephole connections."""
        return self.spec.name == "peephole_lstm"


class GRU(RecurrentLayer):
    """GRU layer, a drop-in for ``torch.nn.GRU`` (gate order r, z, n, as in torch).

    ``n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))``,
    ``h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}``, per layer and direction.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as
            ``torch.nn.GRU``.
        learn_initial_state: learn ``h_0`` per layer and direction (``h0_l{k}``).
        layer_norm: layer normalisation of the input and recurrent products per gate block
            (:class:`rnnkit.nn.GRUCell`).
        locked_dropout, recurrent_dropout, weight_drop, zoneout: drop and zoneout
            probabilities in [0, 1) (see :class:`RecurrentLayer`; 0 switches each off).
        init: per-gate-block initialisation scheme (:mod:`rnnkit.nn.init`).
        force_loop: run the Python loop path instead of the fused kernel.
        device, dtype: where and how to create the parameters.

    Shape and returns: see :meth:`RecurrentLayer.forward`; ``(output, h_n)``.

    Raises:
        ValueError: a size is not a positive integer, ``dropout`` is not in [0, 1), or an
            option of another layer (``peephole``, ``forget_bias``...) is switched on.

    Example:
        >>> gru = GRU(3, 4, bidirectional=True)
        >>> output, h_n = gru(torch.randn(5, 2, 3))
        >>> output.shape, h_n.shape
        (torch.Size([5, 2, 8]), torch.Size([2, 2, 4]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        learn_initial_state: bool = False,
        layer_norm: bool = False,
        locked_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        init: str | None = None,
        force_loop: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: object,
    ) -> None:
        _reject_options("GRU", options)
        super().__init__(
            "gru",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            learn_initial_state=learn_initial_state,
            locked_dropout=locked_dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
            init=init,
            force_loop=force_loop,
            layer_norm=layer_norm,
            device=device,
            dtype=dtype,
        )


class MUT(RecurrentLayer):
    """MUT1, MUT2 or MUT3 layer (Jozefowicz et al. 2015), always on the loop path.

    Per layer and direction (equations of :class:`rnnkit.nn.MUTCell` and
    :mod:`rnnkit.nn.variants`)::

        MUT1  z = σ(W_xz x_t + b_z),  r = σ(W_xr x_t + W_hr h_{t-1} + b_r)
              h_t = tanh(W_hh (r ⊙ h_{t-1}) + tanh(x_t) + b_h) ⊙ z + h_{t-1} ⊙ (1 - z)
        MUT2  z = σ(W_xz x_t + W_hz h_{t-1} + b_z),  r = σ(x_t + W_hr h_{t-1} + b_r)
              h_t = tanh(W_hh (r ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z + h_{t-1} ⊙ (1 - z)
        MUT3  z = σ(W_xz x_t + W_hz tanh(h_{t-1}) + b_z),  r = σ(W_xr x_t + W_hr h_{t-1} + b_r)
              h_t = tanh(W_hh (r ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z + h_{t-1} ⊙ (1 - z)

    MUT1 and MUT2 add ``x_t`` to a gate, so every layer's input must have ``H`` features:
    ``input_size == hidden_size``, and no bidirectional stack (whose upper layers read ``2H``).

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as
            ``torch.nn.GRU``.
        kind: 1, 2 or 3 (keyword).
        learn_initial_state: learn ``h_0`` per layer and direction (``h0_l{k}``).
        locked_dropout, recurrent_dropout, weight_drop, zoneout: drop and zoneout
            probabilities in [0, 1) (see :class:`RecurrentLayer`; 0 switches each off).
        init: per-gate-block initialisation scheme (:mod:`rnnkit.nn.init`).
        force_loop: accepted for symmetry; MUT layers have only the loop path.
        device, dtype: where and how to create the parameters.

    Shape and returns: see :meth:`RecurrentLayer.forward`; ``(output, h_n)``.

    Raises:
        ValueError: a size is not a positive integer, ``kind`` is not 1, 2 or 3,
            ``input_size != hidden_size`` or a bidirectional stack for MUT1 and MUT2, or an
            option of another layer is switched on.

    Example:
        >>> mut = MUT(4, 4, kind=2, batch_first=True)
        >>> mut
        MUT(4, 4, batch_first=True, kind=2, path=loop)
        >>> output, h_n = mut(torch.randn(2, 5, 4), lengths=[5, 3])
        >>> output.shape, h_n.shape, bool((output[1, 3:] == 0).all())
        (torch.Size([2, 5, 4]), torch.Size([1, 2, 4]), True)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        kind: int = 1,
        learn_initial_state: bool = False,
        locked_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        init: str | None = None,
        force_loop: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: object,
    ) -> None:
        _reject_options("MUT", options)
        spec = V.mut_spec(kind)
        if spec.input_is_hidden and bidirectional is True and num_layers != 1:
            raise ValueError(
                f"Argument `bidirectional=True` with num_layers={num_layers} does not combine "
                f"with kind={kind}: MUT{kind} needs every layer's input to have hidden_size "
                f"features, and a bidirectional layer outputs 2 * hidden_size."
            )
        self.kind = kind
        super().__init__(
            spec,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            learn_initial_state=learn_initial_state,
            locked_dropout=locked_dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
            init=init,
            force_loop=force_loop,
            device=device,
            dtype=dtype,
        )


class JordanRNN(RecurrentLayer):
    """Jordan layer: each step feeds its previous output ``y_{t-1}`` back (always the loop path).

    ``h_t = f(W_ih x_t + b_ih + W_yh y_{t-1} + b_yh)``, ``y_t = g(W_hy h_t + b_y)``. The output
    sequence is ``y``; stacked layers feed the ``y`` of one layer (both directions
    concatenated) to the next, and ``h_n`` holds the last ``y`` of each layer and direction.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as
            ``torch.nn.RNN``.
        output_size: ``O``, size of ``y`` (required, keyword only).
        nonlinearity: ``f``, ``"tanh"`` or ``"relu"``.
        output_activation: ``g``: ``"identity"``, ``"sigmoid"``, ``"tanh"`` or ``"softmax"``.
        learn_initial_state: learn ``y_0`` per layer and direction (``y0_l{k}``).
        locked_dropout, recurrent_dropout, weight_drop, zoneout: drop and zoneout
            probabilities in [0, 1) (``weight_drop`` acts on ``weight_yh``, zoneout on ``y``).
        init: per-gate-block initialisation scheme (:mod:`rnnkit.nn.init`).
        force_loop: accepted for symmetry; the Jordan layer has only the loop path.
        device, dtype: where and how to create the parameters.

    Shape:
        ``input [T, B, I]`` -> ``output [T, B, D*O]``, ``y_n [L*D, B, O]``.

    Returns:
        ``(output, y_n)``.

    Raises:
        ValueError: a size is not a positive integer, an activation name is unknown, or an
            option of another layer is switched on.

    Example:
        >>> jordan = JordanRNN(3, 8, output_size=2, output_activation="softmax")
        >>> output, y_n = jordan(torch.randn(5, 1, 3))
        >>> output.shape, torch.allclose(output.sum(-1), torch.ones(5, 1))
        (torch.Size([5, 1, 2]), True)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        output_size: int,
        nonlinearity: str = "tanh",
        output_activation: str = "identity",
        learn_initial_state: bool = False,
        locked_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        init: str | None = None,
        force_loop: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: object,
    ) -> None:
        _reject_options("JordanRNN", options)
        _check_positive_int("output_size", output_size)
        super().__init__(
            "jordan",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            output_size=output_size,
            nonlinearity=nonlinearity,
            output_activation=output_activation,
            learn_initial_state=learn_initial_state,
            locked_dropout=locked_dropout,
            recurrent_dropout=recurrent_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
            init=init,
            force_loop=force_loop,
            device=device,
            dtype=dtype,
        )
