"""One parameter specification per recurrent cell, shared by every engine.

Both engines -- ``rnnkit.nn`` (PyTorch) and ``rnnkit.reference`` (NumPy) -- build their
parameters from these specs, so a dict of arrays moves between them without conversion and a
``state_dict`` of a plain ``rnnkit.nn.LSTM`` loads into ``torch.nn.LSTM``.

Shape letters: ``I`` input size, ``H`` hidden size, ``O`` output size (Jordan cell only),
``G`` number of gate blocks stacked in one matrix. Stacked matrices use torch's layout
``weight_ih [G*H, I]`` with the gate blocks in the order given by ``CellSpec.gates``.

The cells, with ``σ`` the logistic sigmoid and ``⊙`` the elementwise product:

Elman (``rnn``; ``f`` = tanh or relu)::

    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

Jordan (``jordan``; the previous *output* is fed back; ``f`` = tanh or relu, ``g`` the output
activation: identity, sigmoid, tanh or softmax)::

    h_t = f(W_ih x_t + b_ih + W_yh y_{t-1} + b_yh)
    y_t = g(W_hy h_t + b_y)

LSTM (``lstm``; gate order i, f, g, o)::

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

Peephole LSTM (``peephole_lstm``; Gers & Schmidhuber 2000; diagonal peepholes)::

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi + w_ci ⊙ c_{t-1})
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf + w_cf ⊙ c_{t-1})
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho + w_co ⊙ c_t)
    h_t = o_t ⊙ tanh(c_t)

GRU (``gru``; gate order r, z, n, as in torch)::

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Layer normalisation (``layer_norm=True``, LSTM, peephole LSTM and GRU; Ba et al. 2016). The
input and recurrent projections are normalised separately, each gate block of ``H`` rows on
its own statistics, with gains and biases over the stacked ``G*H`` rows; the LSTM also
normalises the cell state before its output squashing::

    LN(a; γ, β) = γ ⊙ (a - mean(a)) / sqrt(var(a) + eps) + β      (per gate block)
    pre_t = LN(W_ih x_t; γ_ih, β_ih) + b_ih + LN(W_hh h_{t-1}; γ_hh, β_hh) + b_hh
    h_t   = o_t ⊙ tanh(LN(c_t; γ_c, β_c))                            (LSTM)

For the GRU the recurrent part of the candidate is ``r_t ⊙ (LN_hh(W_hn h_{t-1}) + b_hn)``.

Projection (``proj_size=P``, LSTM only, as in torch.nn.LSTM): ``h_t = W_hr (o_t ⊙ tanh(c_t))``
with ``weight_hr [P, H]``; the recurrent matrix is then ``weight_hh [4H, P]``.

Examples:
    >>> spec = get_spec("lstm")
    >>> spec.gates, spec.state_names
    (('i', 'f', 'g', 'o'), ('h', 'c'))
    >>> spec.parameter_shapes(input_size=3, hidden_size=2)["weight_ih"]
    (8, 3)
    >>> sorted(get_spec("jordan").parameter_shapes(3, 2, output_size=1))
    ['bias_ih', 'bias_y', 'bias_yh', 'weight_hy', 'weight_ih', 'weight_yh']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CELL_NAMES",
    "LAYER_NORM_EPS",
    "NONLINEARITIES",
    "OUTPUT_ACTIVATIONS",
    "CellSpec",
    "get_spec",
]

#: Hidden nonlinearities accepted by the Elman and Jordan cells.
NONLINEARITIES = ("tanh", "relu")
#: Output activations accepted by the Jordan cell (part of the cell, since y_t is its state).
OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "tanh", "softmax")
#: Epsilon inside the layer-norm square root, the same in both engines.
LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class CellSpec:
    """What a recurrent cell is: its state, its gate blocks and its parameters.

    Attributes:
        name: the cell's name (``rnn``, ``jordan``, ``lstm``, ``peephole_lstm``, ``gru``).
        state_names: names of the state tensors, in the order a state tuple holds them.
        gates: names of the gate blocks stacked in ``weight_ih``/``weight_hh``, in order.
        layer_norm_allowed: whether ``layer_norm=True`` is defined for this cell.
        has_cell_state: whether the state carries a memory cell ``c``.
        description: one line for listings.
    """

    name: str
    state_names: tuple[str, ...]
    gates: tuple[str, ...]
    layer_norm_allowed: bool
    has_cell_state: bool
    description: str

    @property
    def num_gates(self) -> int:
        """Number of gate blocks ``G`` stacked in the input and recurrent matrices."""
        return len(self.gates)

    def parameter_shapes(
        self,
        input_size: int,
        hidden_size: int,
        *,
        output_size: int | None = None,
        bias: bool = True,
        layer_norm: bool = False,
        proj_size: int = 0,
    ) -> dict[str, tuple[int, ...]]:
        """Return the cell's parameter names and shapes, in a fixed order.

        Args:
            input_size: ``I``, features of ``x_t``.
            hidden_size: ``H``, units of the hidden layer.
            output_size: ``O``, only for the Jordan cell (size of ``y_t``, its state).
            bias: include bias vectors.
            layer_norm: include the layer-norm gains and biases (``ln_*``).
            proj_size: ``P`` > 0 adds ``weight_hr [P, H]`` (LSTM only).

        Returns:
            An ordered dict ``name -> shape``.

        Raises:
            ValueError: a size is not a positive integer, or an option does not apply to
                this cell.
        """
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        if proj_size and self.name != "lstm":
            raise ValueError(
                f"Argument `proj_size` applies only to the 'lstm' cell, got proj_size={proj_size} "
                f"for cell '{self.name}'."
            )
        if proj_size:
            _check_size("proj_size", proj_size)
            if proj_size >= hidden_size:
                raise ValueError(
                    f"Argument `proj_size` must be smaller than hidden_size={hidden_size}, "
                    f"got {proj_size}."
                )
        if layer_norm and not self.layer_norm_allowed:
            raise ValueError(
                f"Argument `layer_norm=True` is defined for cells 'lstm', 'peephole_lstm' and "
                f"'gru', not for '{self.name}'."
            )
        I, H = input_size, hidden_size
        shapes: dict[str, tuple[int, ...]] = {}
        if self.name == "jordan":
            if output_size is None:
                raise ValueError("Argument `output_size` is required for the 'jordan' cell.")
            _check_size("output_size", output_size)
            O = output_size
            shapes["weight_ih"] = (H, I)
            shapes["weight_yh"] = (H, O)
            if bias:
                shapes["bias_ih"] = (H,)
                shapes["bias_yh"] = (H,)
            shapes["weight_hy"] = (O, H)
            if bias:
                shapes["bias_y"] = (O,)
            return shapes
        if output_size is not None:
            raise ValueError(
                f"Argument `output_size` applies only to the 'jordan' cell, got {output_size} "
                f"for cell '{self.name}'."
            )
        G = self.num_gates
        R = proj_size or H  # size of the recurrent input h_{t-1}
        shapes["weight_ih"] = (G * H, I)
        shapes["weight_hh"] = (G * H, R)
        if bias:
            shapes["bias_ih"] = (G * H,)
            shapes["bias_hh"] = (G * H,)
        if self.name == "peephole_lstm":
            shapes["weight_ci"] = (H,)
            shapes["weight_cf"] = (H,)
            shapes["weight_co"] = (H,)
        if proj_size:
            shapes["weight_hr"] = (proj_size, H)
        if layer_norm:
            shapes["ln_ih_weight"] = (G * H,)
            shapes["ln_ih_bias"] = (G * H,)
            shapes["ln_hh_weight"] = (G * H,)
            shapes["ln_hh_bias"] = (G * H,)
            if self.has_cell_state:
                shapes["ln_c_weight"] = (H,)
                shapes["ln_c_bias"] = (H,)
        return shapes

    def state_shapes(
        self,
        batch_size: int,
        hidden_size: int,
        *,
        output_size: int | None = None,
        proj_size: int = 0,
    ) -> tuple[tuple[int, int], ...]:
        """Return the shape of each state tensor for one layer and direction, ``[B, ·]``.

        The Jordan cell's state is its previous output ``y_{t-1}`` of size ``O``; with
        ``proj_size`` the LSTM's ``h`` has size ``P`` and ``c`` keeps size ``H``.
        """
        if self.name == "jordan":
            if output_size is None:
                raise ValueError("Argument `output_size` is required for the 'jordan' cell.")
            return ((batch_size, output_size),)
        if self.has_cell_state:
            return ((batch_size, proj_size or hidden_size), (batch_size, hidden_size))
        return ((batch_size, hidden_size),)

    def gate_slice(self, gate: str, hidden_size: int) -> slice:
        """Rows of the stacked matrices that belong to ``gate``.

        >>> get_spec("gru").gate_slice("z", 4)
        slice(4, 8, None)
        """
        if gate not in self.gates:
            raise ValueError(
                f"Argument `gate` must be one of {list(self.gates)} for cell '{self.name}', "
                f"got {gate!r}."
            )
        k = self.gates.index(gate)
        return slice(k * hidden_size, (k + 1) * hidden_size)


_SPECS: dict[str, CellSpec] = {
    "rnn": CellSpec(
        name="rnn",
        state_names=("h",),
        gates=("h",),
        layer_norm_allowed=False,
        has_cell_state=False,
        description="Elman network: h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh|relu",
    ),
    "jordan": CellSpec(
        name="jordan",
        state_names=("y",),
        gates=("h",),
        layer_norm_allowed=False,
        has_cell_state=False,
        description="Jordan network: the previous output y_{t-1} is fed back to the hidden layer",
    ),
    "lstm": CellSpec(
        name="lstm",
        state_names=("h", "c"),
        gates=("i", "f", "g", "o"),
        layer_norm_allowed=True,
        has_cell_state=True,
        description="LSTM (Hochreiter & Schmidhuber 1997, forget gate of Gers et al. 2000)",
    ),
    "peephole_lstm": CellSpec(
        name="peephole_lstm",
        state_names=("h", "c"),
        gates=("i", "f", "g", "o"),
        layer_norm_allowed=True,
        has_cell_state=True,
        description="LSTM with diagonal peephole connections from the cell to its gates",
    ),
    "gru": CellSpec(
        name="gru",
        state_names=("h",),
        gates=("r", "z", "n"),
        layer_norm_allowed=True,
        has_cell_state=False,
        description="Gated recurrent unit (Cho et al. 2014), torch's r, z, n formulation",
    ),
}

#: Every cell name, in the order listings show them.
CELL_NAMES: tuple[str, ...] = tuple(_SPECS)


def get_spec(name: str) -> CellSpec:
    """Return the spec of the cell called ``name``.

    Raises:
        ValueError: ``name`` is not a known cell.

    >>> get_spec("gru").num_gates
    3
    """
    try:
        return _SPECS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Argument `cell` must be one of {list(CELL_NAMES)}, got {name!r}."
        ) from None


def check_nonlinearity(nonlinearity: str) -> str:
    """Validate a hidden nonlinearity name and return it."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(
            f"Argument `nonlinearity` must be one of {list(NONLINEARITIES)}, got {nonlinearity!r}."
        )
    return nonlinearity


def check_output_activation(activation: str) -> str:
    """Validate a Jordan output activation name and return it."""
    if activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(
            f"Argument `output_activation` must be one of {list(OUTPUT_ACTIVATIONS)}, "
            f"got {activation!r}."
        )
    return activation


def _check_size(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")
