"""Recurrent networks over time in NumPy: stacked and bidirectional layers, an output layer,
full and truncated backpropagation through time.

Dimension letters::

    B  batch size          T  time steps          I  input features
    H  hidden units        W  width of a layer's output per direction (H; O for Jordan)
    D  directions (1, or 2 when bidirectional)    L  layers
    O  outputs of the output layer (or of the Jordan cell)

The network, with ``h^k_t`` the output of layer ``k`` at step ``t`` (both directions side by
side when bidirectional)::

    h^0_t = x_t
    h^k_t = [cell^k(h^{k-1}_t, state^k_{t-1}) ; reverse cell^k(h^{k-1}_t, state^k_{t+1})]
    z_t   = W_hy h^L_t + b_y,    y_t = g(z_t)          (output layer, when output_size is given)

Parameters are named like torch's: ``weight_ih_l{k}``, ``weight_hh_l{k}`` ... with
``_reverse`` for the backward direction, the spec's extra names with the same suffixes
(``weight_ci_l0``, ``ln_ih_weight_l1_reverse``, Jordan's ``weight_hy_l0``), and the output
layer's ``weight_hy [O, D*H]`` and ``bias_y [O]``. A Jordan network has no separate output
layer: its cell already ends in ``y_t = g(W_hy h_t + b_y)``; stacked Jordan layers feed each
layer's ``y`` to the next.

A many-to-many network has an output per step, ``[B, T, O]``; a many-to-one network applies
the output layer to the last step of the top layer's output sequence only, ``[B, O]`` (for a
bidirectional network that is the forward state after ``x_{T-1}`` beside the backward state
after ``x_{T-1}`` alone, as ``output[:, -1]`` of torch.nn.LSTM).

Projection (``proj_size=P``, the ``lstm`` cell only, as torch.nn.LSTM): each layer's output
is projected to ``P`` units, ``m_t = o_t ⊙ tanh(c_t)``, ``h_t = W_hr m_t`` with
``weight_hr_l{k} [P, H]``; ``h`` (size ``P``) is what the layer outputs, what the next step
feeds back (``weight_hh [4H, P]``) and the next layer reads (``D*P`` features); ``c`` keeps
``H`` units.

Variable lengths (``lengths=``, one true length ``n_b`` per sequence of a padded batch), the
semantics of the torch engine's ``lengths=``. With the mask ``m_t = [t < n_b]`` per
sequence, every layer and direction runs::

    s_t = m_t ⊙ cell(x_t, s_{t-1}) + (1 - m_t) ⊙ s_{t-1}      (every state component)
    y_t = m_t ⊙ h_t

so past its end a sequence's state is frozen and its outputs are zero (the output layer's
too: ``y_t = m_t ⊙ g(z_t)``). A forward direction's final state is each sequence's state
after its last valid step ``n_b - 1``; a backward direction reads ``x_{n_b-1}, ..., x_0``
starting from the initial state (the padded steps it meets first are frozen) and ends after
``x_0``; a many-to-one network reads the top layer's output at step ``n_b - 1``. The
backward pass follows the same masks::

    dL/d(new state)_t = m_t ⊙ dL/ds_t,    dL/ds_{t-1} = (from the cell) + (1 - m_t) ⊙ dL/ds_t

so no gradient flows from (or into) a padded step. A padded batch gives, row by row, exactly
what each sequence cut to its own length gives alone.

::

    lengths = [5, 2, 4], T = 5       forward direction    backward direction (reads right to left)
      t:  0 1 2 3 4                  x x x x x             x x x x x     starts at t = 4
          x x . . .                  x x = = =  frozen     x x = = =     starts at t = 1
          x x x x .                  x x x x =             x x x x =     starts at t = 3

Backpropagation through time. :meth:`Network.backward` runs the steps in reverse order and
carries ``dL/d(state)`` from step ``t`` to step ``t - 1``::

    dL/dh_t = (from the loss at t, through the output layer) + (from step t + 1)

Truncated BPTT with ``truncate=k`` (Williams & Peng's BPTT(k), one window per loss term): the
loss is a sum of terms ``L = Σ_t L_t``, ``L_t`` depending on the outputs at step ``t``.
Each term is differentiated *within the window of steps* ``t-k+1 .. t+k-1`` (clipped to
``0 .. T-1``): every state that enters the window from outside it -- the forward direction's
``state_{t-k}``, the backward direction's ``state_{t+k}`` -- is treated as a constant, and the
inputs outside the window receive nothing from ``L_t``. So gradients flow back at most ``k``
steps (through at most ``k`` applications of the cell) from each loss term; ``truncate=1``
keeps only the step's own dependence on the parameters, with ``h_{t-1}`` constant. A state at
a sequence boundary is not "outside": the initial state receives gradient from every term
whose window starts at step 0 (ends at step ``T-1`` for the backward direction), and the
final-state gradient ``d_final_state`` counts as a term at step ``T-1`` (forward directions)
and at step ``0`` (backward directions). With ``truncate >= T`` every window is the whole
sequence and the result equals full BPTT (exactly, up to rounding). Truncation is in time
only: within a window the gradient flows through every layer and direction. With
``lengths``, every sequence is truncated in its own time: its boundary is its last valid step
``n_b - 1`` (where its final-state term sits for the forward directions, and where the
backward directions meet its initial state), and frozen padded steps are not steps (they
pass gradients on unchanged).

::

    truncate = 3, T = 8, the term at t = 5 (forward direction):

      step   0   1   2   3   4   5   6   7
                 ·   ·   [3   4   5]                 the window t-k+1 .. t
      state_2 is a constant; x_3, x_4, x_5 and the parameters get dL_5/d·

Examples:
    >>> import numpy as np
    >>> net = Network("lstm", input_size=3, hidden_size=4, output_size=2,
    ...               output_activation="softmax")
    >>> params = net.init_params(seed=0)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3))
    >>> value, grads, fwd = net.loss_and_grads(params, x, np.array([[0, 1, 1, 0, 1]] * 2),
    ...                                        loss="ce")
    >>> fwd.outputs.shape, grads.params["weight_hh_l0"].shape, grads.inputs.shape
    ((2, 5, 2), (16, 4), (2, 5, 3))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnkit.reference import losses
from rnnkit.reference.activations import activate, activate_backward, check_activation
from rnnkit.reference.cells import (
    Cell,
    Deferred,
    InputCache,
    add_deferred,
    cell_spec,
    make_cell,
)
from rnnkit.reference.params import check_params, zeros_like

__all__ = ["Forward", "Gradients", "Network", "check_lengths", "default_loss", "lengths_mask"]

Params = dict[str, np.ndarray]
State = tuple[np.ndarray, ...]

#: Recurrent-weight initialisations :meth:`Network.init_params` knows.
RECURRENT_INITS = ("uniform", "identity", "orthogonal")


def default_loss(output_activation: str) -> str:
    """The loss that goes with an output activation: ce for softmax, bce for sigmoid, else mse.

    >>> default_loss("softmax"), default_loss("sigmoid"), default_loss("tanh")
    ('ce', 'bce', 'mse')
    """
    return {"softmax": "ce", "sigmoid": "bce"}.get(output_activation, "mse")


@dataclass
class _Run:
    """One layer in one direction over the whole sequence, in processing order."""

    in_cache: InputCache
    caches: list[dict[str, Any]]
    initial: State
    states: list[State]  # the state after each processing step
    masks: np.ndarray | None = None  # with lengths: [T, B, 1] m_t in processing order


@dataclass
class Forward:
    """What :meth:`Network.forward` computed, and the caches its backward pass needs.

    Attributes:
        outputs: ``[B, T, O]`` (many-to-many) or ``[B, O]`` (many-to-one); without an output
            layer, the top layer's outputs ``[B, T, D*W]`` / ``[B, D*W]``.
        layer_outputs: every layer's output sequence ``[B, T, D*W]``, bottom to top.
        final_state: one array per state component, ``[L*D, B, ·]`` layer-major as in torch.
        pre_activations: the output layer's ``z`` (the shape of ``outputs``), or ``None``
            (with ``lengths``, ``z_t = b_y`` at padded steps, where ``h_t = 0``).
        lengths: the true length of each sequence ``[B]`` (ints), or ``None``: all ``T``.
    """

    outputs: np.ndarray
    layer_outputs: list[np.ndarray]
    final_state: State
    pre_activations: np.ndarray | None
    runs: list[list[_Run]] = field(repr=False)
    x: np.ndarray = field(repr=False)  # [T, B, I] time-major
    lengths: np.ndarray | None = None

    @property
    def hidden(self) -> np.ndarray:
        """The top layer's output sequence ``[B, T, D*W]`` (before any output layer)."""
        return self.layer_outputs[-1]

    @property
    def mask(self) -> np.ndarray | None:
        """``[B, T]`` booleans, ``True`` at the valid steps ``t < n_b``; ``None`` if no lengths."""
        if self.lengths is None:
            return None
        return lengths_mask(self.lengths, self.x.shape[0])

    def loss_mask(self, mask: np.ndarray | None = None) -> np.ndarray | None:
        """The terms a loss counts: ``mask`` (if given) and, with lengths, the valid steps only.

        Many-to-one outputs (``[B, O]``) have one valid term per sequence: ``mask`` is
        returned unchanged. Many-to-many: ``mask & self.mask``, or whichever is not ``None``.

        Raises:
            ValueError: ``mask`` is not ``[B, T]`` for many-to-many outputs.
        """
        valid = self.mask
        if valid is None or self.outputs.ndim == 2:
            return mask
        if mask is None:
            return valid
        m = np.asarray(mask)
        if m.shape != valid.shape:
            raise ValueError(
                f"Argument `mask` must have shape {tuple(valid.shape)}, got {tuple(m.shape)}."
            )
        return m.astype(bool) & valid


@dataclass
class Gradients:
    """What :meth:`Network.backward` returns.

    Attributes:
        params: ``dL/dθ`` for every parameter, the same names and shapes as ``params``.
        inputs: ``dL/dx``, ``[B, T, I]``.
        initial_state: ``dL/d(initial state)``, one ``[L*D, B, ·]`` array per component.
        state_grads: with ``state_grads=True``, ``[layer][direction]`` arrays ``[B, T, W]``:
            the total gradient reaching each step's output state (``dL/dh_t``; Jordan:
            ``dL/dy_t``) from the loss and from the neighbouring step; else ``None``.
    """

    params: Params
    inputs: np.ndarray
    initial_state: State
    state_grads: list[list[np.ndarray]] | None = None


def lengths_mask(lengths: np.ndarray, steps: int) -> np.ndarray:
    """``[B, T]`` booleans ``m[b, t] = t < lengths[b]``: the valid steps of a padded batch.

    >>> lengths_mask(np.array([3, 1]), 4).astype(int).tolist()
    [[1, 1, 1, 0], [1, 0, 0, 0]]
    """
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


def check_lengths(lengths: object, batch_size: int, steps: int) -> np.ndarray | None:
    """Return ``lengths`` as an int array ``[B]`` with values in ``[1, T]`` (``None`` passes).

    Raises:
        ValueError: not ``B`` integers (a list, tuple or 1-D integer array), or one outside
            ``[1, T]``.

    >>> check_lengths([2, 1], batch_size=2, steps=3).tolist()
    [2, 1]
    >>> check_lengths([2, 4], batch_size=2, steps=3)
    Traceback (most recent call last):
    ...
    ValueError: Argument `lengths` must be 2 integers in [1, 3], one per sequence, got [2, 4].
    """
    if lengths is None:
        return None
    expected = f"Argument `lengths` must be {batch_size} integers in [1, {steps}], one per sequence"
    if isinstance(lengths, np.ndarray):
        values = lengths.tolist() if lengths.ndim == 1 else None
        ok = lengths.ndim == 1 and lengths.dtype.kind in "iu"
    elif isinstance(lengths, (list, tuple)):
        values = list(lengths)
        ok = all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
            for v in lengths
        )
    else:
        raise ValueError(f"{expected}, got {type(lengths).__name__} {lengths!r}.")
    if not ok or values is None or len(values) != batch_size:
        shown = values if values is not None else f"an array of shape {lengths.shape}"
        raise ValueError(f"{expected}, got {shown!r}.")
    out = np.array([int(v) for v in values], dtype=np.int64)
    if out.min() < 1 or out.max() > steps:
        raise ValueError(f"{expected}, got {out.tolist()}.")
    return out


def _check_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"Argument `{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


class Network:
    """A stacked, optionally bidirectional recurrent network with an optional output layer.

    Args:
        cell: ``rnn``, ``jordan``, ``lstm``, ``peephole_lstm``, ``gru``, or ``mut1``, ``mut2``,
            ``mut3`` (:func:`rnnkit.reference.cells.make_cell`).
        input_size: ``I``.
        hidden_size: ``H``.
        num_layers: ``L``, layers stacked on each other.
        bidirectional: add a second direction per layer that reads the sequence backwards.
        nonlinearity: ``tanh`` or ``relu`` (``rnn`` and ``jordan``).
        layer_norm: layer normalisation (``lstm``, ``peephole_lstm``, ``gru``).
        bias: include the bias vectors.
        output_size: ``O``. For ``jordan`` the cell's output size (required). For the other
            cells it adds an output layer ``y_t = g(W_hy h_t + b_y)``; ``None`` means the
            outputs are the top layer's hidden states.
        output_activation: ``g``: identity, sigmoid, tanh or softmax (default identity).
        many_to_one: apply the output layer to the last step only.
        variant: an LSTM gate ablation for ``lstm`` (``nig`` ... ``fgr``, see
            :mod:`rnnkit.spec_variants`), or ``vanilla``.
        proj_size: ``P``, ``0 < P < H``: project each LSTM layer's output to ``P`` units,
            ``h_t = W_hr (o_t ⊙ tanh(c_t))`` (``lstm`` only, as torch.nn.LSTM); 0 for none.

    Raises:
        ValueError: an unknown cell or option, sizes that are not positive integers, options
            that do not combine (``output_activation`` without an output layer, ``jordan``
            without ``output_size``, a variant with layer_norm, MUT1/MUT2 with
            ``input_size != hidden_size`` or a bidirectional stack, ``proj_size`` with a cell
            other than the plain ``lstm`` or not below ``hidden_size``).

    Example:
        >>> net = Network("lstm", 3, 4, bidirectional=True, proj_size=2)
        >>> net.parameter_shapes()["weight_hr_l0_reverse"], net.parameter_shapes()["weight_hh_l0"]
        ((2, 4), (16, 2))
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bidirectional: bool = False,
        nonlinearity: str = "tanh",
        layer_norm: bool = False,
        bias: bool = True,
        output_size: int | None = None,
        output_activation: str | None = None,
        many_to_one: bool = False,
        variant: str = "vanilla",
        proj_size: int = 0,
    ) -> None:
        spec = cell_spec(cell, variant)
        if isinstance(proj_size, bool) or not isinstance(proj_size, (int, np.integer)) or (
            proj_size < 0
        ):
            raise ValueError(
                f"Argument `proj_size` must be a non-negative integer, got {proj_size!r}."
            )
        if proj_size and spec.name != "lstm":  # the torch engine's rule: LSTM, no variant
            raise ValueError(
                f"Argument `proj_size` applies only to the plain 'lstm' cell, got "
                f"proj_size={proj_size} for cell '{spec.name}'."
            )
        self.input_size = _check_int("input_size", input_size)
        self.hidden_size = _check_int("hidden_size", hidden_size)
        self.num_layers = _check_int("num_layers", num_layers)
        self.bidirectional = bool(bidirectional)
        self.bias = bool(bias)
        self.many_to_one = bool(many_to_one)
        self.num_directions = 2 if self.bidirectional else 1
        activation = "identity" if output_activation is None else output_activation
        if spec.name == "jordan":
            if output_size is None:
                raise ValueError("Argument `output_size` is required for the 'jordan' cell.")
            self.cell: Cell = make_cell(
                "jordan", nonlinearity=nonlinearity, output_activation=activation
            )
            self.has_output_layer = False
            self.width = _check_int("output_size", output_size)
        else:
            self.cell = make_cell(
                cell, nonlinearity=nonlinearity, layer_norm=layer_norm, variant=variant
            )
            self.has_output_layer = output_size is not None
            self.width = self.hidden_size
            if output_size is not None:
                _check_int("output_size", output_size)
            elif activation != "identity":
                raise ValueError(
                    f"Argument `output_activation` needs an output layer (`output_size`); got "
                    f"{activation!r} without one."
                )
            check_activation(activation, "output_activation")
            if activation == "relu":
                raise ValueError(
                    "Argument `output_activation` must be one of ['identity', 'sigmoid', "
                    "'tanh', 'softmax'], got 'relu'."
                )
        self.proj_size = int(proj_size)
        if self.proj_size:
            if self.proj_size >= self.hidden_size:  # torch.nn.LSTM's own rule
                raise ValueError(
                    f"Argument `proj_size` must be smaller than hidden_size={self.hidden_size}, "
                    f"got {self.proj_size}."
                )
            self.width = self.proj_size
        self.spec = self.cell.spec
        self.output_size = output_size
        self.output_activation = activation
        self.nonlinearity = nonlinearity
        self.layer_norm = bool(layer_norm)
        if getattr(spec, "input_is_hidden", False):  # MUT1, MUT2 add x_t to a gate
            if self.bidirectional and self.num_layers > 1:  # the torch engine's refusal
                raise ValueError(
                    f"Argument `bidirectional=True` with num_layers={self.num_layers} does not "
                    f"combine with kind={spec.name[-1]}: MUT{spec.name[-1]} needs every layer's "
                    f"input to have hidden_size features, and a bidirectional layer outputs "
                    f"2 * hidden_size."
                )
            self.parameter_shapes()  # refuses input_size != hidden_size

    def __repr__(self) -> str:
        return (
            f"Network({self.spec.name!r}, input_size={self.input_size}, "
            f"hidden_size={self.hidden_size}, num_layers={self.num_layers}, "
            f"bidirectional={self.bidirectional}, cell={self.cell!r}, "
            + (f"proj_size={self.proj_size}, " if self.proj_size else "")
            + f"output_size={self.output_size}, output_activation={self.output_activation!r}, "
            f"many_to_one={self.many_to_one})"
        )

    # -- parameters --------------------------------------------------------------------------

    def _suffix(self, layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.num_directions * self.width

    def _cell_shapes(self, layer: int) -> dict[str, tuple[int, ...]]:
        if self.proj_size:  # the cell's shapes with weight_hh [4H, P] and weight_hr [P, H]
            return self.spec.parameter_shapes(
                self._layer_input_size(layer), self.hidden_size, bias=self.bias,
                layer_norm=self.layer_norm, proj_size=self.proj_size,
            )
        jordan_o = self.width if self.spec.name == "jordan" else None
        return self.cell.parameter_shapes(
            self._layer_input_size(layer), self.hidden_size, output_size=jordan_o,
            bias=self.bias,
        )

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape, in torch's order (layer by layer, then the head)."""
        shapes: dict[str, tuple[int, ...]] = {}
        for k in range(self.num_layers):
            for d in range(self.num_directions):
                for name, shape in self._cell_shapes(k).items():
                    shapes[name + self._suffix(k, d)] = shape
        if self.has_output_layer:
            O = int(self.output_size or 0)
            shapes["weight_hy"] = (O, self.num_directions * self.width)
            if self.bias:
                shapes["bias_y"] = (O,)
        return shapes

    def layer_params(self, params: Mapping[str, np.ndarray], layer: int, direction: int) -> Params:
        """The cell's own names -> arrays for one layer and direction (views, not copies)."""
        suffix = self._suffix(layer, direction)
        return {name: params[name + suffix] for name in self._cell_shapes(layer)}

    def init_params(
        self,
        seed: int | np.random.Generator = 0,
        *,
        dtype: np.dtype | type = np.float64,
        scale: float | None = None,
        recurrent_init: str = "uniform",
        forget_bias: float | None = None,
    ) -> Params:
        """Fresh parameters: uniform in ``±scale`` (default ``1/sqrt(H)``, torch's rule).

        Layer-norm gains start at 1 and their biases at 0. The output layer uses
        ``±1/sqrt(D*W)`` unless ``scale`` is given.

        Args:
            seed: an int seed or a ``numpy.random.Generator``.
            dtype: ``float64`` (default) or ``float32``.
            scale: half-width of the uniform range for every weight and bias.
            recurrent_init: ``uniform``; ``identity`` (each gate block of ``weight_hh`` is
                ``I_H``, the IRNN of Le et al. 2015); ``orthogonal`` (each block a random
                orthogonal matrix).

        Raises:
            ValueError: unknown ``recurrent_init`` or dtype; ``identity``/``orthogonal`` for a
                Jordan network or with ``proj_size`` (the recurrent matrix is not square).
        """
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"Argument `dtype` must be float32 or float64, got {dtype!r}.")
        if recurrent_init not in RECURRENT_INITS:
            raise ValueError(
                f"Argument `recurrent_init` must be one of {list(RECURRENT_INITS)}, got "
                f"{recurrent_init!r}."
            )
        if recurrent_init != "uniform" and self.spec.name == "jordan":
            raise ValueError(
                f"Argument `recurrent_init={recurrent_init!r}` needs a square recurrent matrix; "
                f"the 'jordan' cell feeds back its output through weight_yh [H, O]."
            )
        if recurrent_init != "uniform" and self.proj_size:
            raise ValueError(
                f"Argument `recurrent_init={recurrent_init!r}` needs a square recurrent matrix; "
                f"with proj_size={self.proj_size} the LSTM feeds back h through weight_hh "
                f"[4H, P]."
            )
        H = self.hidden_size
        params: Params = {}
        for name, shape in self.parameter_shapes().items():
            if name.startswith("ln_") and "_weight" in name:
                value = np.ones(shape)
            elif name.startswith("ln_"):
                value = np.zeros(shape)
            else:
                fan = shape[1] if name == "weight_hy" else H
                k = scale if scale is not None else 1.0 / np.sqrt(fan)
                value = rng.uniform(-k, k, size=shape)
                if name.startswith("weight_hh") and recurrent_init != "uniform":
                    blocks = []
                    for _ in range(shape[0] // H):  # the gate blocks of weight_hh
                        if recurrent_init == "identity":
                            blocks.append(np.eye(H))
                        else:
                            q, r = np.linalg.qr(rng.normal(size=(H, H)))
                            blocks.append(q * np.sign(np.diag(r)))
                    value = np.concatenate(blocks, axis=0)
            if forget_bias is not None and name.startswith(("bias_ih", "bias_hh")):
                if "f" not in self.spec.gates:
                    raise ValueError(
                        f"Argument `forget_bias` needs a cell with a forget gate, got cell "
                        f"'{self.spec.name}'."
                    )
                value[self.spec.gate_slice("f", H)] = (
                    forget_bias if name.startswith("bias_ih") else 0.0
                )
            params[name] = value.astype(dtype)
        return params

    def initial_state(self, batch_size: int, dtype: np.dtype | type = np.float64) -> State:
        """The all-zero initial state: one ``[L*D, B, ·]`` array per state component.

        With ``proj_size`` the LSTM's ``h`` has ``P`` units and ``c`` keeps ``H``.
        """
        if self.proj_size:
            sizes: tuple[int, ...] = (self.proj_size, self.hidden_size)
        else:
            sizes = self.cell.state_sizes(self.hidden_size, self.width)
        LD = self.num_layers * self.num_directions
        return tuple(np.zeros((LD, batch_size, n), dtype=dtype) for n in sizes)

    # -- checks ------------------------------------------------------------------------------

    def _check_inputs(self, x: object, dtype: np.dtype) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(
                f"Argument `x` must be a NumPy array [B, T, I], got {type(x).__name__}."
            )
        if x.ndim != 3 or x.shape[2] != self.input_size or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(
                f"Argument `x` must have shape [B, T, {self.input_size}] with B, T >= 1, got "
                f"{tuple(x.shape)}."
            )
        if x.dtype.kind not in "iuf" or not np.all(np.isfinite(x)):
            raise ValueError("Argument `x` must hold finite numbers.")
        return x.astype(dtype, copy=False)

    def _check_state(self, state: object, batch_size: int, dtype: np.dtype) -> State:
        expected = self.initial_state(batch_size, dtype)
        if state is None:
            return expected
        if isinstance(state, np.ndarray):
            state = (state,)
        if not isinstance(state, (tuple, list)) or len(state) != len(expected):
            raise ValueError(
                f"Argument `initial_state` must be a tuple of {len(expected)} arrays "
                f"{[tuple(e.shape) for e in expected]}, got {type(state).__name__}"
                + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else "")
                + "."
            )
        out = []
        for name, s, e in zip(self.spec.state_names, state, expected, strict=True):
            if not isinstance(s, np.ndarray) or s.shape != e.shape:
                got = tuple(s.shape) if isinstance(s, np.ndarray) else type(s).__name__
                raise ValueError(
                    f"Argument `initial_state` ({name}) must have shape {tuple(e.shape)}, "
                    f"got {got}."
                )
            out.append(s.astype(dtype, copy=False))
        return tuple(out)

    # -- forward -----------------------------------------------------------------------------

    def forward(
        self, params: Mapping[str, np.ndarray], x: np.ndarray,
        initial_state: State | np.ndarray | None = None,
        lengths: Sequence[int] | np.ndarray | None = None,
    ) -> Forward:
        """Run the network over ``x`` and keep what the backward pass needs.

        With ``lengths``, per sequence ``b`` and step ``t``, ``m_t = [t < n_b]`` and (module
        docstring)::

            s_t = m_t ⊙ cell(x_t, s_{t-1}) + (1 - m_t) ⊙ s_{t-1},    y_t = m_t ⊙ h_t

        Args:
            params: the parameters (names and shapes of :meth:`parameter_shapes`).
            x: inputs ``[B, T, I]``, cast to the parameters' dtype (padded past each
                sequence's end when ``lengths`` is given; the padding is never read).
            initial_state: one ``[L*D, B, ·]`` array per state component, or ``None`` for
                zeros.
            lengths: ``B`` ints in ``[1, T]``, each sequence's true length (a list, tuple or
                1-D integer array), or ``None``: every sequence has ``T`` steps.

        Returns:
            A :class:`Forward`.

        Raises:
            ValueError: a parameter is missing, unknown or the wrong shape; ``x`` or
                ``initial_state`` has the wrong shape; ``lengths`` is not ``B`` integers in
                ``[1, T]``.

        Example:
            >>> net = Network("gru", 2, 3, bidirectional=True)
            >>> x = np.random.default_rng(0).normal(size=(2, 4, 2))
            >>> fwd = net.forward(net.init_params(seed=0), x, lengths=[4, 2])
            >>> bool(fwd.outputs[1, 2:].any()), fwd.outputs.shape, fwd.final_state[0].shape
            (False, (2, 4, 6), (2, 2, 3))
        """
        dtype = check_params(params, self.parameter_shapes())
        x = self._check_inputs(x, dtype)
        B, T, _ = x.shape
        init = self._check_state(initial_state, B, dtype)
        n = check_lengths(lengths, B, T)
        valid = None if n is None else lengths_mask(n, T).T[..., None]         # [T, B, 1]
        D = self.num_directions
        seq = x.transpose(1, 0, 2)                                             # [T, B, I]
        x_tm = seq
        runs: list[list[_Run]] = []
        layer_outputs = []
        finals: list[State] = []
        for k in range(self.num_layers):
            outs = []
            layer_runs = []
            for d in range(D):
                p = self.layer_params(params, k, d)
                inp = seq if d == 0 else seq[::-1]                             # processing order
                # u_t = W_ih x_t + b_ih for every t at once
                u_all, in_cache = self.cell.project_input(p, inp)              # [T, B, G*H]
                state = tuple(s[k * D + d] for s in init)
                masks = None if valid is None else (valid if d == 0 else valid[::-1])
                run = _Run(in_cache, [], state, [], masks)
                for t in range(T):
                    new, cache = self.cell.step(p, u_all[t], state)
                    if self.proj_size:
                        # m_t = o_t ⊙ tanh(c_t) (the cell's h), h_t = W_hr m_t
                        cache["m"] = new[0]                                    # [B, H]
                        new = (new[0] @ p["weight_hr"].T, new[1])              # [B, P], [B, H]
                    if masks is not None:
                        # s_t = m_t ⊙ new + (1 - m_t) ⊙ s_{t-1}: frozen past the end
                        new = tuple(
                            np.where(masks[t], a, b) for a, b in zip(new, state, strict=True)
                        )
                    state = new
                    run.caches.append(cache)
                    run.states.append(state)
                ys = np.stack([s[0] for s in run.states])                      # [T, B, W]
                if masks is not None:
                    # y_t = m_t ⊙ h_t
                    ys = np.where(masks, ys, 0.0)                              # [T, B, W]
                outs.append(ys if d == 0 else ys[::-1])
                layer_runs.append(run)
                finals.append(state)
            runs.append(layer_runs)
            seq = np.concatenate(outs, axis=-1) if D > 1 else outs[0]         # [T, B, D*W]
            layer_outputs.append(seq.transpose(1, 0, 2))
        if not self.many_to_one:
            top = seq                                                          # [T, B, D*W]
        elif n is None:
            top = seq[-1]                                                      # [B, D*W]
        else:  # each sequence's last valid step
            top = seq[n - 1, np.arange(B)]                                     # [B, D*W]
        z = None
        if self.has_output_layer:
            # z_t = W_hy h_t + b_y,  y_t = g(z_t)
            z = top @ params["weight_hy"].T                                    # [(T,) B, O]
            if self.bias:
                z = z + params["bias_y"]
            y = activate(self.output_activation, z)
            if valid is not None and not self.many_to_one:
                # y_t = m_t ⊙ g(z_t)
                y = np.where(valid, y, 0.0)
        else:
            y = top
        final_state = tuple(
            np.stack([f[j] for f in finals]) for j in range(len(self.spec.state_names))
        )
        to_batch_first = (lambda a: a) if self.many_to_one else (lambda a: a.transpose(1, 0, 2))
        return Forward(
            outputs=to_batch_first(y),
            layer_outputs=layer_outputs,
            final_state=final_state,
            pre_activations=None if z is None else to_batch_first(z),
            runs=runs,
            x=x_tm,
            lengths=n,
        )

    # -- backward ----------------------------------------------------------------------------

    def backward(
        self,
        params: Mapping[str, np.ndarray],
        fwd: Forward,
        d_outputs: np.ndarray,
        d_final_state: State | np.ndarray | None = None,
        *,
        truncate: int | None = None,
        state_grads: bool = False,
    ) -> Gradients:
        """Backpropagation through time: the gradients of a loss given ``dL/d(outputs)``.

        It follows the lengths ``fwd`` was computed with: the outputs past a sequence's end are
        the constant 0, so their entries of ``d_outputs`` are ignored, and at a padded step
        the state's gradient passes to the previous step unchanged::

            dL/d(new state)_t = m_t ⊙ dL/ds_t
            dL/ds_{t-1}       = (from the cell) + (1 - m_t) ⊙ dL/ds_t

        With ``proj_size``, ``h_t = W_hr m_t`` adds ``dL/dW_hr = Σ_t dL/dh_tᵀ m_t`` and hands
        the cell ``dL/dm_t = W_hrᵀ dL/dh_t``.

        Args:
            params: the parameters :meth:`forward` used.
            fwd: what :meth:`forward` returned.
            d_outputs: ``dL/dy``, the shape of ``fwd.outputs``.
            d_final_state: ``dL/d(final state)``, shaped like ``fwd.final_state``, or ``None``.
            truncate: ``None`` for full BPTT, or ``k >= 1`` for truncated BPTT (module
                docstring: each loss term backpropagates through at most ``k`` steps).
            state_grads: also return ``dL/dh_t`` for every layer, direction and step.

        Returns:
            :class:`Gradients`.

        Raises:
            ValueError: gradients of the wrong shape, a bad ``truncate``.
        """
        if truncate is not None:
            truncate = _check_int("truncate", truncate)
        d_outputs = np.asarray(d_outputs)
        if d_outputs.shape != fwd.outputs.shape:
            raise ValueError(
                f"Argument `d_outputs` must have the shape of the outputs "
                f"{tuple(fwd.outputs.shape)}, got {tuple(d_outputs.shape)}."
            )
        T, B, _ = fwd.x.shape
        dtype = fwd.outputs.dtype
        D, W, L = self.num_directions, self.width, self.num_layers
        d_final = (
            None if d_final_state is None
            else self._check_state(d_final_state, B, dtype)
        )
        n = fwd.lengths
        valid = None if n is None else lengths_mask(n, T).T[..., None]         # [T, B, 1]
        grads = zeros_like(dict(params))
        # the output layer: not recurrent, so every step's part is computed at once
        d_y = d_outputs if self.many_to_one else d_outputs.transpose(1, 0, 2)  # [(T,) B, O]
        if valid is not None and not self.many_to_one:
            # y_t = m_t ⊙ g(z_t): a padded step's output is a constant
            d_y = np.where(valid, d_y, 0.0)
        if self.has_output_layer:
            top = fwd.layer_outputs[-1].transpose(1, 0, 2)                     # [T, B, D*W]
            if self.many_to_one:
                top = top[-1] if n is None else top[n - 1, np.arange(B)]       # [B, D*W]
            y = fwd.outputs if self.many_to_one else fwd.outputs.transpose(1, 0, 2)
            # dL/dz_t = g'(z_t)ᵀ dL/dy_t
            d_z = activate_backward(self.output_activation, d_y, y)            # [(T,) B, O]
            # dW_hy = Σ_t dL/dz_tᵀ h_t,  db_y = Σ_t dL/dz_t,  dL/dh_t = W_hyᵀ dL/dz_t
            grads["weight_hy"] += d_z.reshape(-1, d_z.shape[-1]).T @ top.reshape(-1, top.shape[-1])
            if self.bias:
                grads["bias_y"] += d_z.reshape(-1, d_z.shape[-1]).sum(axis=0)
            d_h = d_z @ params["weight_hy"]                                    # [(T,) B, D*W]
        else:
            d_h = d_y
        if self.many_to_one:
            d_top = np.zeros((T, B, D * W), dtype=dtype)
            if n is None:
                d_top[-1] = d_h
            else:
                d_top[n - 1, np.arange(B)] = d_h
        else:
            d_top = np.ascontiguousarray(d_h, dtype=dtype)                     # [T, B, D*W]

        # each sequence's last valid step in time: where the forward final-state term sits
        last = np.full(B, T - 1) if n is None else n - 1                       # [B]
        everyone = np.ones(B, dtype=bool)
        d_x = np.zeros_like(fwd.x)                                             # [T, B, I]
        d_init = [[None] * D for _ in range(L)]
        record = (
            [[np.zeros((T, B, W), dtype=dtype) for _ in range(D)] for _ in range(L)]
            if state_grads else None
        )
        if truncate is None:
            self._backward_window(
                params, fwd, d_top, 0, T - 1, d_final, (everyone, everyone), grads, d_x, d_init,
                record,
            )
        else:
            for t in range(T):
                # the final-state term of a sequence counts at its last valid step (forward
                # directions) and at step 0 (backward directions)
                final_rows = (last == t, everyone if t == 0 else ~everyone)
                has_final = d_final is not None and (
                    final_rows[0].any() or (D == 2 and final_rows[1].any())
                )
                if not d_top[t].any() and not has_final:
                    continue  # a term that contributes nothing
                window = np.zeros_like(d_top)
                window[t] = d_top[t]
                lo, hi = max(0, t - truncate + 1), min(T - 1, t + truncate - 1)
                self._backward_window(
                    params, fwd, window, lo, hi, d_final, final_rows, grads, d_x, d_init, record
                )
        d_init_state = tuple(
            np.stack([
                d_init[k][d][j] if d_init[k][d] is not None
                else np.zeros_like(fwd.runs[k][d].initial[j])
                for k in range(L) for d in range(D)
            ])
            for j in range(len(self.spec.state_names))
        )
        return Gradients(
            params=grads,
            inputs=d_x.transpose(1, 0, 2),
            initial_state=d_init_state,
            state_grads=None if record is None else [
                [r.transpose(1, 0, 2) for r in layer] for layer in record
            ],
        )

    def _backward_window(
        self,
        params: Mapping[str, np.ndarray],
        fwd: Forward,
        d_top: np.ndarray,
        lo: int,
        hi: int,
        d_final: State | None,
        final_rows: tuple[np.ndarray, np.ndarray],
        grads: Params,
        d_x: np.ndarray,
        d_init: list[list[Any]],
        record: list[list[np.ndarray]] | None,
    ) -> None:
        """Backpropagate ``d_top`` (``[T, B, D*W]``, the top layer's output gradient) through
        steps ``lo .. hi`` only, every layer and direction; states entering the window from
        outside are constants. ``d_final`` enters, for the rows ``final_rows[d]`` (``[B]``
        booleans per direction), after each sequence's last valid processing step. Adds into
        ``grads``, ``d_x``, ``d_init`` and ``record``."""
        T, B = fwd.x.shape[:2]
        D, W = self.num_directions, self.width
        n = np.full(B, T) if fwd.lengths is None else fwd.lengths             # [B]
        d_out = d_top[lo:hi + 1]                                               # [n, B, D*W]
        for k in reversed(range(self.num_layers)):
            d_in = None
            for d in range(D):
                p = self.layer_params(params, k, d)
                g = self.layer_params(grads, k, d)
                run = fwd.runs[k][d]
                masks = run.masks                                              # [T, B, 1] | None
                d_o = d_out[..., d * W:(d + 1) * W]                            # [n, B, W]
                if d == 0:
                    plo, phi = lo, hi
                    # valid processing steps of sequence b: 0 .. n_b - 1
                    first, last = np.zeros(B, dtype=int), n - 1
                else:  # the backward direction processes time reversed
                    plo, phi, d_o = T - 1 - hi, T - 1 - lo, d_o[::-1]
                    # valid processing steps of sequence b: T - n_b .. T - 1
                    first, last = T - n, np.full(B, T - 1)
                if masks is not None:
                    # y_t = m_t ⊙ h_t: a padded step's output is a constant
                    d_o = np.where(masks[plo:phi + 1], d_o, 0.0)
                d_fin = None if d_final is None else tuple(s[k * D + d] for s in d_final)
                # dL/d(state) entering the last processed step from beyond it
                d_state = tuple(np.zeros_like(s) for s in run.initial)
                d_u = np.empty((*d_o.shape[:2], run.caches[0]["u"].shape[-1]), d_o.dtype)
                deferred: Deferred = []  # dW_hh (, dW_hr): one product over the window
                for s in range(phi, plo - 1, -1):                             # reverse time
                    j = s - plo
                    cache = run.caches[s]
                    # dL/dh_s = (from the output at s) + (from step s + 1)
                    d_state = (d_state[0] + d_o[j], *d_state[1:])
                    if d_fin is not None:
                        # the final state is the state after each sequence's last valid step
                        rows = (final_rows[d] & (last == s))[:, None]          # [B, 1]
                        if rows.any():
                            d_state = tuple(
                                a + np.where(rows, f, 0.0)
                                for a, f in zip(d_state, d_fin, strict=True)
                            )
                    if record is not None:
                        t_index = s if d == 0 else T - 1 - s
                        record[k][d][t_index] += d_state[0]
                    d_new, d_kept = d_state, None
                    if masks is not None:
                        # s_s = m_s ⊙ new + (1 - m_s) ⊙ s_{s-1}
                        d_new = tuple(np.where(masks[s], a, 0.0) for a in d_state)
                        d_kept = tuple(np.where(masks[s], 0.0, a) for a in d_state)
                    if self.proj_size:
                        # h_s = W_hr m_s:  dL/dW_hr += dL/dh_sᵀ m_s,  dL/dm_s = W_hrᵀ dL/dh_s
                        deferred.append(("weight_hr", d_new[0], cache["m"]))
                        d_new = (d_new[0] @ p["weight_hr"], *d_new[1:])       # [B, H]
                    d_u[j], d_state = self.cell.step_backward(
                        p, d_new, cache, g, deferred=deferred
                    )
                    if d_kept is not None:
                        d_state = tuple(a + b for a, b in zip(d_state, d_kept, strict=True))
                add_deferred(deferred, g)
                # a sequence whose first valid step lies in the window reaches its initial
                # state (the padded steps before it, backward direction, are frozen)
                reach = (first >= plo)[:, None]                                # [B, 1]
                if reach.any():
                    d_reach = tuple(np.where(reach, a, 0.0) for a in d_state)
                    prev = d_init[k][d]
                    d_init[k][d] = d_reach if prev is None else tuple(
                        a + b for a, b in zip(prev, d_reach, strict=True)
                    )
                # the input part, for all steps of the window in one product
                d_inp = self.cell.project_input_backward(
                    p, d_u, run.in_cache.time_slice(plo, phi + 1), g
                )                                                              # [n, B, I_k]
                if d == 1:
                    d_inp = d_inp[::-1]
                d_in = d_inp if d_in is None else d_in + d_inp
            if k == 0:
                d_x[lo:hi + 1] += d_in
            else:
                d_out = d_in

    # -- loss --------------------------------------------------------------------------------

    def check_loss(self, loss: str | None = None) -> str:
        """The loss to use on this network's outputs: ``loss``, or the default for the output
        activation (:func:`default_loss`), refused where it is not defined on those outputs.

        The outputs a loss reads are ``g(z_t)`` of the output layer, or of the Jordan cell;
        without an output layer they are the hidden states, which only ``mse`` takes
        (:data:`rnnkit.reference.losses.LOSS_ACTIVATIONS`).

        Raises:
            ValueError: an unknown loss, or ``bce`` without sigmoid or softmax outputs, or
                ``ce`` without softmax outputs (the message names both options).

        >>> Network("rnn", 2, 3, output_size=2, output_activation="sigmoid").check_loss()
        'bce'
        >>> Network("rnn", 2, 3).check_loss("ce")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Argument `loss='ce'` does not combine with a network without an output ...
        """
        if loss is None:
            return default_loss(self.output_activation)
        has_outputs = self.has_output_layer or self.spec.name == "jordan"
        return losses.check_loss_activation(
            loss, self.output_activation if has_outputs else None
        )

    def loss(
        self,
        fwd: Forward,
        targets: object,
        *,
        loss: str | None = None,
        mask: np.ndarray | None = None,
        reduction: str = "sum",
    ) -> tuple[float, np.ndarray]:
        """The loss of ``fwd.outputs`` against ``targets``, and ``dL/d(outputs)``.

        Args:
            fwd: what :meth:`forward` returned.
            targets: ``[B, T]`` class indices or ``[B, T, O]`` values (``[B]`` / ``[B, O]``
                for many-to-one); see :func:`rnnkit.reference.losses.check_targets`.
            loss: ``mse``, ``bce`` or ``ce``; default from the output activation
                (:func:`default_loss`).
            mask: optional ``[B, T]`` booleans, ``True`` where a term counts. When ``fwd``
                was computed with ``lengths``, the padded steps never count: the mask used is
                ``mask & (t < n_b)``, or ``t < n_b`` alone when ``mask`` is ``None``
                (:meth:`Forward.loss_mask`); ``mean`` divides by the valid terms only.
            reduction: ``sum`` or ``mean``.

        Returns:
            ``(L, dL/d(outputs))``.

        Raises:
            ValueError: bad targets or mask, or a loss not defined on the outputs
                (:meth:`check_loss`).
        """
        return losses.loss(
            self.check_loss(loss), fwd.outputs, targets, mask=fwd.loss_mask(mask),
            reduction=reduction,
        )

    def loss_and_grads(
        self,
        params: Mapping[str, np.ndarray],
        x: np.ndarray,
        targets: object,
        *,
        loss: str | None = None,
        initial_state: State | np.ndarray | None = None,
        mask: np.ndarray | None = None,
        reduction: str = "sum",
        truncate: int | None = None,
        lengths: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[float, Gradients, Forward]:
        """Forward, loss and backward in one call: ``(L, gradients, forward result)``.

        Arguments as :meth:`forward`, :meth:`loss` and :meth:`backward`. With ``lengths``,
        the loss counts only the valid steps (the ``mask`` derived from ``lengths``, combined
        with ``mask`` when one is given) and no gradient flows from padded steps. A loss that
        is not defined on the outputs is refused before the forward pass (:meth:`check_loss`).

        Example:
            >>> net = Network("rnn", 2, 3, output_size=1)
            >>> x, y = np.ones((2, 3, 2)), np.zeros((2, 3, 1))
            >>> value, grads, fwd = net.loss_and_grads(net.init_params(seed=0), x, y,
            ...                                        lengths=[3, 1])
            >>> full, _, _ = net.loss_and_grads(net.init_params(seed=0), x[:1], y[:1])
            >>> short, _, _ = net.loss_and_grads(net.init_params(seed=0), x[1:, :1], y[1:, :1])
            >>> bool(np.isclose(value, full + short)), fwd.mask.astype(int).tolist()
            (True, [[1, 1, 1], [1, 0, 0]])
        """
        loss = self.check_loss(loss)
        fwd = self.forward(params, x, initial_state, lengths)
        value, d_out = self.loss(fwd, targets, loss=loss, mask=mask, reduction=reduction)
        return value, self.backward(params, fwd, d_out, truncate=truncate), fwd
