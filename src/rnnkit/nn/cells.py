"""Recurrent cells: one module per cell of ``rnnkit.spec``, each knowing one step.

A cell owns its parameters (names and shapes from ``get_spec(name).parameter_shapes``, so
``torch.nn.LSTMCell``'s ``state_dict`` loads into :class:`LSTMCell`) and computes one step
with the functions of ``rnnkit.nn.functional``, the same ones the layers' loop path runs.

Contract: ``step(x_t, state) -> (y_t, new_state)`` with ``state`` a tuple -- ``(h,)`` for
Elman and GRU, ``(h, c)`` for the LSTMs, ``(y,)`` for Jordan (its previous output) -- and
``initial_state(batch_size)`` giving zeros. ``forward`` is ``step``; ``state=None`` starts
from zeros. An unbatched input ``[I]`` with an unbatched state ``[·]`` is accepted as in torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.nn import functional as RF
from rnnkit.nn import variants as V
from rnnkit.spec import CellSpec, check_nonlinearity, check_output_activation, get_spec

__all__ = ["GRUCell", "JordanCell", "LSTMCell", "MUTCell", "PeepholeLSTMCell", "RNNCell"]

State = tuple[Tensor, ...]


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"Argument `{name}` must be a bool, got {value!r}.")
    return value


class _CellBase(nn.Module):
    """Shared machinery: parameters from the spec, input and state checks, the step call."""

    spec: CellSpec

    def __init__(
        self,
        cell: str | CellSpec,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        output_size: int | None = None,
        layer_norm: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.spec = cell if isinstance(cell, CellSpec) else get_spec(cell)
        self.bias = _check_bool("bias", bias)
        self.layer_norm = _check_bool("layer_norm", layer_norm)
        shapes = self.spec.parameter_shapes(
            input_size, hidden_size, output_size=output_size, bias=bias, layer_norm=layer_norm
        )
        self.input_size = input_size
        self.hidden_size = hidden_size
        for name, shape in shapes.items():
            self.register_parameter(
                name, nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
            )
        self.reset_parameters()

    @property
    def state_sizes(self) -> tuple[int, ...]:
        """Size of each state tensor's last dimension, in the order of ``spec.state_names``."""
        return tuple(s[1] for s in self._state_shapes(1))

    def _state_shapes(self, batch_size: int) -> tuple[tuple[int, int], ...]:
        return self.spec.state_shapes(batch_size, self.hidden_size)

    def _step_config(self) -> dict[str, str]:
        return {}

    def reset_parameters(self) -> None:
        """Draw every parameter from ``U(-1/sqrt(H), 1/sqrt(H))``, torch's default.

        Layer-norm gains (``ln_*_weight``) start at one and their biases at zero.
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.startswith("ln_"):
                    p.fill_(1.0 if name.endswith("_weight") else 0.0)
                else:
                    p.uniform_(-bound, bound)

    def initial_state(
        self,
        batch_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """Return the zero state for ``batch_size`` sequences.

        Args:
            batch_size: ``B``.
            device: defaults to the parameters' device.
            dtype: defaults to the parameters' dtype.

        Returns:
            A tuple of ``[B, ·]`` zero tensors, one per ``spec.state_names``.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"Argument `batch_size` must be a positive integer, got {batch_size!r}."
            )
        ref = self.weight_ih
        return tuple(
            torch.zeros(shape, device=device or ref.device, dtype=dtype or ref.dtype)
            for shape in self._state_shapes(batch_size)
        )

    def _check_state(self, state: Sequence[Tensor], batch_shape: tuple[int, ...]) -> State:
        names = self.spec.state_names
        if isinstance(state, Tensor) or not isinstance(state, (tuple, list)):
            raise TypeError(
                f"Argument `state` must be a tuple of {len(names)} tensor(s) {names}, "
                f"got {type(state).__name__}."
            )
        if len(state) != len(names):
            raise ValueError(
                f"Argument `state` must hold {len(names)} tensor(s) {names}, got {len(state)}."
            )
        for name, s, size in zip(names, state, self.state_sizes, strict=True):
            expected = (*batch_shape, size)
            if not isinstance(s, Tensor) or tuple(s.shape) != expected:
                got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                raise ValueError(
                    f"Argument `state` must have {name} of shape {list(expected)}, got "
                    f"{list(got) if isinstance(got, tuple) else got}."
                )
        return tuple(state)

    def step(self, x_t: Tensor, state: Sequence[Tensor] | None = None) -> tuple[Tensor, State]:
        """Advance one time step.

        Args:
            x_t: the input of this step.
            state: the previous state tuple, or ``None`` for zeros.

        Shape:
            ``x_t``: ``[B, I]`` or unbatched ``[I]``; each state tensor ``[B, ·]`` (``[·]``).

        Returns:
            ``(y_t, new_state)``: the step's output (``h_t``; ``y_t`` for Jordan) and the new
            state tuple.

        Raises:
            TypeError: ``x_t`` is not a tensor or ``state`` not a tuple.
            ValueError: a shape does not match the cell.
        """
        if not isinstance(x_t, Tensor):
            raise TypeError(f"Argument `x_t` must be a tensor, got {type(x_t).__name__}.")
        if x_t.dim() not in (1, 2) or x_t.shape[-1] != self.input_size:
            raise ValueError(
                f"Argument `x_t` must have shape [B, {self.input_size}] or "
                f"[{self.input_size}], got {list(x_t.shape)}."
            )
        unbatched = x_t.dim() == 1
        if unbatched:
            x_t = x_t.unsqueeze(0)
        batch_shape = () if unbatched else (x_t.shape[0],)
        if state is None:
            state = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        else:
            state = self._check_state(state, batch_shape)
            if unbatched:
                state = tuple(s.unsqueeze(0) for s in state)
        params = dict(self.named_parameters())
        name = self.spec.name
        if isinstance(self.spec, V.VariantSpec):
            xw_t = V.project_input(self.spec, x_t, params)
            step = V.step_function(self.spec)
        else:
            xw_t = RF.project_input(name, x_t, params, layer_norm=self.layer_norm)
            steps = RF.LAYER_NORM_STEP_FUNCTIONS if self.layer_norm else RF.STEP_FUNCTIONS
            step = steps[name]
        y, new_state = step(xw_t, state, params, **self._step_config())
        if unbatched:
            return y.squeeze(0), tuple(s.squeeze(0) for s in new_state)
        return y, new_state

    def forward(self, x_t: Tensor, state: Sequence[Tensor] | None = None) -> tuple[Tensor, State]:
        """Same as :meth:`step`."""
        return self.step(x_t, state)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.layer_norm:
            s += ", layer_norm=True"
        return s


class RNNCell(_CellBase):
    """Elman cell.

    ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, ``f`` = tanh or relu.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: include ``bias_ih`` and ``bias_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        device, dtype: where and how to create the parameters.

    Shape:
        ``x_t [B, I]``, state ``(h [B, H],)`` -> ``y_t = h_t [B, H]``.

    Raises:
        ValueError: a size is not a positive integer, or ``nonlinearity`` is unknown.

    Example:
        >>> cell = RNNCell(3, 4, nonlinearity="relu")
        >>> y, (h,) = cell.step(torch.ones(2, 3), cell.initial_state(2))
        >>> y.shape, bool((h >= 0).all())
        (torch.Size([2, 4]), True)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_nonlinearity(nonlinearity)
        super().__init__("rnn", input_size, hidden_size, bias=bias, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _step_config(self) -> dict[str, str]:
        return {"nonlinearity": self.nonlinearity}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(_CellBase):
    """Long short-term memory cell (gate order i, f, g, o, as in torch).

    ::

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)

    With ``layer_norm=True`` (Ba et al. 2016) the input and recurrent products are
    normalised per gate block and the cell state before its squashing (``rnnkit.spec``)::

        a_t = LN(W_ih x_t; γ_ih, β_ih) + b_ih + LN(W_hh h_{t-1}; γ_hh, β_hh) + b_hh
        h_t = o_t ⊙ tanh(LN(c_t; γ_c, β_c))

    ``variant=`` switches on one of the gate ablations of Greff et al. 2017 (equations and
    parameter layouts in :mod:`rnnkit.nn.variants`): ``"nig"`` (i = 1), ``"nfg"`` (f = 1),
    ``"nog"`` (o = 1), ``"niaf"`` (g = a_g, no tanh), ``"noaf"`` (h = o ⊙ c), ``"cifg"``
    (f = 1 - i), ``"fgr"`` (the gates i, f, o also see ``[i; f; o]_{t-1}`` through
    ``weight_ah [3H, 3H]``; the state is then ``(h, c, a)`` with ``a [B, 3H]``). A removed
    gate has no weights: ``weight_ih`` holds only the blocks the variant uses.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: include ``bias_ih`` and ``bias_hh``.
        layer_norm: add layer normalisation (parameters ``ln_ih_weight``, ``ln_ih_bias``,
            ``ln_hh_weight``, ``ln_hh_bias``, ``ln_c_weight``, ``ln_c_bias``).
        variant: ``"vanilla"`` (the cell above) or an ablation of
            :data:`rnnkit.nn.variants.LSTM_VARIANTS`.
        device, dtype: where and how to create the parameters.

    Shape:
        ``x_t [B, I]``, state ``(h [B, H], c [B, H])`` -> ``y_t = h_t [B, H]``.

    Raises:
        ValueError: a size is not a positive integer, an unknown ``variant``, or a variant
            with ``layer_norm``.

    Example:
        >>> cell = LSTMCell(3, 4)
        >>> y, (h, c) = cell(torch.ones(2, 3))
        >>> y.shape, c.shape, sorted(n for n, _ in cell.named_parameters())
        (torch.Size([2, 4]), torch.Size([2, 4]), ['bias_hh', 'bias_ih', 'weight_hh', 'weight_ih'])
        >>> LSTMCell(3, 4, layer_norm=True).ln_c_weight.tolist()
        [1.0, 1.0, 1.0, 1.0]
        >>> LSTMCell(3, 4, variant="cifg").weight_ih.shape  # blocks i, g, o
        torch.Size([12, 3])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        variant: str = "vanilla",
    ) -> None:
        spec = V.lstm_variant_spec(variant)
        if spec is not None and layer_norm is not False:
            raise ValueError(
                f"Argument `layer_norm` is defined for variant='vanilla' only, got "
                f"layer_norm={layer_norm!r} with variant={variant!r}."
            )
        super().__init__(
            "lstm" if spec is None else spec,
            input_size,
            hidden_size,
            bias=bias,
            layer_norm=layer_norm,
            device=device,
            dtype=dtype,
        )
        self.variant = variant

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.variant == "vanilla" else s + f", variant={self.variant!r}"


class PeepholeLSTMCell(_CellBase):
    """LSTM cell with diagonal peephole connections (Gers & Schmidhuber 2000).

    ::

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi + w_ci ⊙ c_{t-1})
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf + w_cf ⊙ c_{t-1})
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho + w_co ⊙ c_t)
        h_t = o_t ⊙ tanh(c_t)

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: include ``bias_ih`` and ``bias_hh`` (the peepholes ``weight_c*`` are always there).
        layer_norm: add layer normalisation as in :class:`LSTMCell`; the peepholes see the
            cell before its normalisation.
        device, dtype: where and how to create the parameters.

    Shape:
        ``x_t [B, I]``, state ``(h [B, H], c [B, H])`` -> ``y_t = h_t [B, H]``.

    Raises:
        ValueError: a size is not a positive integer.

    Example:
        >>> cell = PeepholeLSTMCell(3, 4)
        >>> cell.weight_ci.shape
        torch.Size([4])
        >>> y, (h, c) = cell(torch.ones(2, 3))
        >>> y.shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
    ) -> None:
        super().__init__(
            "peephole_lstm",
            input_size,
            hidden_size,
            bias=bias,
            layer_norm=layer_norm,
            device=device,
            dtype=dtype,
        )


class GRUCell(_CellBase):
    """Gated recurrent unit cell (Cho et al. 2014; gate order r, z, n, as in torch).

    ::

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    With ``layer_norm=True`` the input and recurrent products are normalised per gate block:
    ``LN(W_ih x_t; γ_ih, β_ih) + b_ih`` and ``LN(W_hh h_{t-1}; γ_hh, β_hh) + b_hh`` take the
    places of ``W_ih x_t + b_ih`` and ``W_hh h_{t-1} + b_hh`` (so ``n_t`` sees
    ``r_t ⊙ (LN_hh(·)_n + b_hn)``).

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: include ``bias_ih`` and ``bias_hh``.
        layer_norm: add layer normalisation (``ln_ih_*``, ``ln_hh_*``).
        device, dtype: where and how to create the parameters.

    Shape:
        ``x_t [B, I]``, state ``(h [B, H],)`` -> ``y_t = h_t [B, H]``.

    Raises:
        ValueError: a size is not a positive integer.

    Example:
        >>> cell = GRUCell(3, 4)
        >>> y, (h,) = cell(torch.ones(2, 3))
        >>> cell.weight_hh.shape, y.shape
        (torch.Size([12, 4]), torch.Size([2, 4]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
    ) -> None:
        super().__init__(
            "gru",
            input_size,
            hidden_size,
            bias=bias,
            layer_norm=layer_norm,
            device=device,
            dtype=dtype,
        )


class JordanCell(_CellBase):
    """Jordan cell: the previous *output* ``y_{t-1}`` is fed back to the hidden layer.

    ::

        h_t = f(W_ih x_t + b_ih + W_yh y_{t-1} + b_yh)
        y_t = g(W_hy h_t + b_y)

    ``f`` is tanh or relu, ``g`` the output activation (identity, sigmoid, tanh or softmax).
    The state is ``(y,)``, the step's output is ``y_t``.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        output_size: ``O``, the size of ``y_t``.
        bias: include ``bias_ih``, ``bias_yh`` and ``bias_y``.
        nonlinearity: ``f``.
        output_activation: ``g``.
        device, dtype: where and how to create the parameters.

    Shape:
        ``x_t [B, I]``, state ``(y [B, O],)`` -> ``y_t [B, O]``.

    Raises:
        ValueError: a size is not a positive integer, or an activation name is unknown.

    Example:
        >>> cell = JordanCell(3, 4, 2, output_activation="softmax")
        >>> y, (y_state,) = cell(torch.ones(5, 3))
        >>> y.shape, torch.allclose(y.sum(-1), torch.ones(5))
        (torch.Size([5, 2]), True)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        output_activation: str = "identity",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_nonlinearity(nonlinearity)
        check_output_activation(output_activation)
        self.output_size = output_size  # read by _state_shapes
        super().__init__(
            "jordan",
            input_size,
            hidden_size,
            bias=bias,
            output_size=output_size,
            device=device,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity
        self.output_activation = output_activation

    def _state_shapes(self, batch_size: int) -> tuple[tuple[int, int], ...]:
        return self.spec.state_shapes(batch_size, self.hidden_size, output_size=self.output_size)

    def _step_config(self) -> dict[str, str]:
        return {"nonlinearity": self.nonlinearity, "output_activation": self.output_activation}

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, output_size={self.output_size}"
            + ("" if self.bias else ", bias=False")
            + f", nonlinearity={self.nonlinearity!r}, output_activation={self.output_activation!r}"
        )


class MUTCell(_CellBase):
    """MUT1, MUT2 or MUT3, the three architectures found by Jozefowicz et al. 2015 (sec. 3.3).

    ::

        MUT1  z = σ(W_xz x_t + b_z)
              r = σ(W_xr x_t + W_hr h_{t-1} + b_r)
              h_t = tanh(W_hh (r ⊙ h_{t-1}) + tanh(x_t) + b_h) ⊙ z + h_{t-1} ⊙ (1 - z)
        MUT2  z = σ(W_xz x_t + W_hz h_{t-1} + b_z)
              r = σ(x_t + W_hr h_{t-1} + b_r)
              h_t = tanh(W_hh (r ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z + h_{t-1} ⊙ (1 - z)
        MUT3  z = σ(W_xz x_t + W_hz tanh(h_{t-1}) + b_z)
              r = σ(W_xr x_t + W_hr h_{t-1} + b_r)
              h_t = tanh(W_hh (r ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z + h_{t-1} ⊙ (1 - z)

    Parameters in torch's layout (:mod:`rnnkit.nn.variants`): ``weight_ih`` holds the input
    blocks (MUT1: z, r; MUT2: z, h; MUT3: z, r, h), ``weight_hh`` the recurrent ones (MUT1: r,
    h; MUT2 and MUT3: z, r, h), each with its bias ``bias_ih`` / ``bias_hh``.

    Args:
        input_size: ``I`` (must equal ``H`` for MUT1 and MUT2, which add ``x_t`` to a gate).
        hidden_size: ``H``.
        kind: 1, 2 or 3.
        bias: include ``bias_ih`` and ``bias_hh``.
        device, dtype: where and how to create the parameters.

    Shape:
        ``x_t [B, I]``, state ``(h [B, H],)`` -> ``y_t = h_t [B, H]``.

    Raises:
        ValueError: a size is not a positive integer, ``kind`` is not 1, 2 or 3, or
            ``I != H`` for MUT1 and MUT2.

    Example:
        >>> cell = MUTCell(4, 4, kind=1)
        >>> cell.weight_ih.shape, cell.weight_hh.shape
        (torch.Size([8, 4]), torch.Size([8, 4]))
        >>> y, (h,) = cell(torch.ones(2, 4))
        >>> y.shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        kind: int = 1,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            V.mut_spec(kind), input_size, hidden_size, bias=bias, device=device, dtype=dtype
        )
        self.kind = kind

    def extra_repr(self) -> str:
        return super().extra_repr() + f", kind={self.kind}"
