"""The recurrent cells in NumPy: each forward step beside its backward step.

Dimension letters used in every shape comment::

    B  batch size (rows of every array below)
    T  time steps (only where a whole sequence is projected at once)
    I  input features of x_t
    H  hidden units of h_t (and c_t)
    O  output units of a Jordan cell's y_t (its state)
    G  gate blocks stacked in weight_ih / weight_hh:
       1 (rnn, jordan), 4 (lstm: i f g o), 3 (gru: r z n)

Parameters are a dict of arrays with exactly the names and torch layouts of ``spec.py``
(``weight_ih [G*H, I]``, ``weight_hh [G*H, H]``, ...); ``W x`` below is ``x @ W.T`` on a
batch of rows. ``σ`` is the logistic sigmoid, ``⊙`` the elementwise product.

How a step is split. Every cell's pre-activation is a sum of an *input part* and a
*recurrent part*::

    u_t = W_ih x_t + b_ih          (LN_ih(W_ih x_t) + b_ih with layer_norm)
    v_t = W_hh h_{t-1} + b_hh      (LN_hh(W_hh h_{t-1}) + b_hh with layer_norm)

``u_t`` does not depend on the past, so a layer computes it for all ``T`` steps in one matrix
product (:meth:`Cell.project_input`) and only ``v_t`` inside the loop over time
(:meth:`Cell.step`). The backward pass mirrors this: :meth:`Cell.step_backward` returns
``dL/du_t`` and the layer sends the whole ``[T, B, G*H]`` of them through
:meth:`Cell.project_input_backward` in one product. :meth:`Cell.forward` and
:meth:`Cell.backward` do one whole step (both parts) for a single ``x_t``.

Backward conventions. ``step_backward(params, d_state, cache, grads)`` receives ``dL/d(new
state)`` -- everything that flows into the state the step produced, from the loss at this step
and from the next step -- adds this step's parameter gradients *into* ``grads`` (a dict of
arrays shaped like ``params``) and returns ``(dL/du_t, dL/d(previous state))``. The output
of every cell is the first state component (``h_t``, or ``y_t`` for Jordan), so the loss's
gradient for the output is simply added to ``d_state[0]``.

Examples:
    >>> import numpy as np
    >>> cell = make_cell("gru")
    >>> params = {k: np.full(s, 0.1) for k, s in cell.parameter_shapes(2, 3).items()}
    >>> state = cell.initial_state(1, 3)
    >>> y, state, cache = cell.forward(params, np.array([[1.0, -1.0]]), state)
    >>> np.round(y, 6).tolist()
    [[0.069215, 0.069215, 0.069215]]
    >>> grads = {k: np.zeros_like(v) for k, v in params.items()}
    >>> d_x, d_state = cell.backward(params, (np.ones((1, 3)),), cache, grads)
    >>> d_x.shape, d_state[0].shape
    ((1, 2), (1, 3))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import numpy as np

from rnnkit.reference.activations import activate, activate_backward, sigmoid
from rnnkit.reference.layer_norm import layer_norm, layer_norm_backward
from rnnkit.spec import (
    CELL_NAMES,
    CellSpec,
    check_nonlinearity,
    check_output_activation,
    get_spec,
)
from rnnkit.spec_variants import LSTM_VARIANTS, MUT_KINDS, VariantSpec, lstm_variant_spec, mut_spec

__all__ = [
    "GRU",
    "LSTM",
    "REFERENCE_CELL_NAMES",
    "RNN",
    "Cell",
    "InputCache",
    "Jordan",
    "PeepholeLSTM",
    "add_deferred",
    "cell_spec",
    "make_cell",
]

Params = dict[str, np.ndarray]
State = tuple[np.ndarray, ...]
StepCache = dict[str, Any]
#: Factors of weight gradients left for one product over all steps: (name, dL/dm_t, input_t).
Deferred = list[tuple[str, np.ndarray, np.ndarray]]


def add_deferred(deferred: Deferred, grads: Params) -> None:
    """Add ``Σ_t dL/dm_tᵀ input_t`` to ``grads[name]`` for every deferred name, one product each.

    >>> grads = {"weight_hh": np.zeros((2, 1))}
    >>> add_deferred([("weight_hh", np.ones((1, 2)), np.full((1, 1), 3.0))] * 2, grads)
    >>> grads["weight_hh"].tolist()
    [[6.0], [6.0]]
    """
    for name in dict.fromkeys(n for n, _, _ in deferred):
        d_m = np.concatenate([d for n, d, _ in deferred if n == name])          # [T*B, G*H]
        inputs = np.concatenate([x for n, _, x in deferred if n == name])      # [T*B, H]
        grads[name] += d_m.T @ inputs
    deferred.clear()


class InputCache(NamedTuple):
    """What :meth:`Cell.project_input` keeps: the inputs and the layer-norm cache (or None)."""

    x: np.ndarray
    ln: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None

    def time_slice(self, lo: int, hi: int) -> InputCache:
        """The cache of steps ``lo .. hi-1`` of a sequence projected as ``[T, B, I]``."""
        if self.ln is None:
            return InputCache(self.x[lo:hi], None)
        a_hat, inv_std, gamma, blocks = self.ln
        return InputCache(self.x[lo:hi], (a_hat[lo:hi], inv_std[lo:hi], gamma, blocks))


class Cell(ABC):
    """What every reference cell shares: the input projection and the whole-step helpers.

    Subclasses implement :meth:`step` and :meth:`step_backward` (the recurrence). No method
    here checks its arguments: :class:`rnnkit.reference.network.Network` and the public
    entry points do that once, before the loops.

    Attributes:
        spec: the cell's :class:`rnnkit.spec.CellSpec`.
        layer_norm: normalise the input and recurrent projections (and the LSTM cell state).
    """

    spec: CellSpec

    def __init__(self, *, layer_norm: bool = False) -> None:
        if layer_norm and not self.spec.layer_norm_allowed:
            raise ValueError(
                f"Argument `layer_norm=True` is defined for cells 'lstm', 'peephole_lstm' and "
                f"'gru', not for '{self.spec.name}'."
            )
        self.layer_norm = bool(layer_norm)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(layer_norm={self.layer_norm})"

    # -- sizes ------------------------------------------------------------------------------

    def parameter_shapes(
        self, input_size: int, hidden_size: int, *, output_size: int | None = None,
        bias: bool = True,
    ) -> dict[str, tuple[int, ...]]:
        """The parameter names and shapes of this cell (``spec.parameter_shapes``)."""
        return self.spec.parameter_shapes(
            input_size, hidden_size, output_size=output_size, bias=bias,
            layer_norm=self.layer_norm,
        )

    def state_sizes(self, hidden_size: int, output_size: int | None = None) -> tuple[int, ...]:
        """Width of each state component: ``(H,)``, ``(H, H)`` or Jordan's ``(O,)``."""
        shapes = self.spec.state_shapes(1, hidden_size, output_size=output_size)
        return tuple(s[1] for s in shapes)

    def initial_state(
        self, batch_size: int, hidden_size: int, *, output_size: int | None = None,
        dtype: np.dtype | type = np.float64,
    ) -> State:
        """The all-zero state ``(h_0,)``, ``(h_0, c_0)`` or ``(y_0,)``, each ``[B, ·]``."""
        return tuple(
            np.zeros((batch_size, n), dtype=dtype)
            for n in self.state_sizes(hidden_size, output_size)
        )

    # -- the input part: u_t = W_ih x_t + b_ih, for every t at once ---------------------------

    def project_input(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, InputCache]:
        """``u = W_ih x + b_ih`` (``LN_ih(W_ih x) + b_ih`` with layer_norm) for any leading axes.

        Shape:
            x ``[..., I]`` (``[B, I]`` for one step, ``[T, B, I]`` for a sequence) →
            u ``[..., G*H]``.
        """
        G = self.spec.num_gates
        # m = W_ih x
        m = x @ params["weight_ih"].T                                          # [..., G*H]
        ln = None
        if self.layer_norm:
            # m ← LN_ih(m; γ_ih, β_ih), each gate block on its own statistics
            m, ln = layer_norm(m, params["ln_ih_weight"], params["ln_ih_bias"], G)
        # u = m + b_ih   (in place: m is a fresh array)
        if "bias_ih" in params:
            m += params["bias_ih"]
        return m, InputCache(x, ln)                                            # [..., G*H]

    def project_input_backward(
        self, params: Params, d_u: np.ndarray, cache: InputCache, grads: Params
    ) -> np.ndarray:
        """Backward of :meth:`project_input`: add ``dW_ih``, ``db_ih`` (, ``dγ_ih``, ``dβ_ih``)
        to ``grads``; return ``dL/dx``.

        Shape:
            d_u ``[..., G*H]`` → dL/dx ``[..., I]``.
        """
        x = cache.x
        width = d_u.shape[-1]
        if "bias_ih" in params:
            # dL/db_ih = Σ dL/du   (over batch and time)
            grads["bias_ih"] += d_u.reshape(-1, width).sum(axis=0)            # [G*H]
        d_m = d_u
        if cache.ln is not None:
            d_m = layer_norm_backward(d_u, cache.ln, grads["ln_ih_weight"], grads["ln_ih_bias"])
        # dL/dW_ih = Σ_t dL/dm_tᵀ x_t   (one product over all B*T rows)
        grads["weight_ih"] += d_m.reshape(-1, width).T @ x.reshape(-1, x.shape[-1])  # [G*H, I]
        # dL/dx = W_ihᵀ dL/dm
        return d_m @ params["weight_ih"]                                       # [..., I]

    # -- the recurrent part, shared by rnn, lstm and gru ---------------------------------------

    def _recurrent(self, params: Params, h_prev: np.ndarray) -> tuple[np.ndarray, Any]:
        # v_t = W_hh h_{t-1} + b_hh   (LN_hh(W_hh h_{t-1}) + b_hh with layer_norm)
        m = h_prev @ params["weight_hh"].T                                     # [B, G*H]
        ln = None
        if self.layer_norm:
            m, ln = layer_norm(m, params["ln_hh_weight"], params["ln_hh_bias"], self.spec.num_gates)
        if "bias_hh" in params:
            m += params["bias_hh"]                                             # [B, G*H]
        return m, ln

    def _recurrent_backward(
        self, params: Params, d_v: np.ndarray, h_prev: np.ndarray, ln: Any, grads: Params,
        deferred: Deferred | None,
    ) -> np.ndarray:
        if "bias_hh" in params:
            # dL/db_hh += Σ_b dL/dv_t
            grads["bias_hh"] += d_v.sum(axis=0)                                # [G*H]
        d_m = d_v
        if ln is not None:
            d_m = layer_norm_backward(d_v, ln, grads["ln_hh_weight"], grads["ln_hh_bias"])
        # dL/dW_hh += dL/dm_tᵀ h_{t-1}
        if deferred is None:
            grads["weight_hh"] += d_m.T @ h_prev                               # [G*H, H]
        else:
            deferred.append(("weight_hh", d_m, h_prev))
        # dL/dh_{t-1} = W_hhᵀ dL/dm_t
        return d_m @ params["weight_hh"]                                       # [B, H]

    # -- the recurrence ----------------------------------------------------------------------

    @abstractmethod
    def step(self, params: Params, u_t: np.ndarray, state: State) -> tuple[State, StepCache]:
        """One step of the recurrence from the projected input ``u_t [B, G*H]``.

        Returns:
            ``(new_state, cache)``; ``new_state[0]`` is the step's output.
        """

    @abstractmethod
    def step_backward(
        self, params: Params, d_state: State, cache: StepCache, grads: Params,
        notes: dict[str, np.ndarray] | None = None,
        deferred: Deferred | None = None,
    ) -> tuple[np.ndarray, State]:
        """Backward of :meth:`step`: add parameter gradients into ``grads``.

        Args:
            d_state: ``dL/d(new state)``, each ``[B, ·]``.
            cache: the cache :meth:`step` returned.
            grads: accumulators shaped like ``params``.
            notes: when a dict, receives the step's intermediate gradients by name
                (``d_h``, ``d_a``, ``d_i`` ...), for worked solutions.
            deferred: when a list, the recurrent weight's gradient ``dL/dm_tᵀ h_{t-1}`` is not
                added to ``grads`` but its factors ``(name, dL/dm_t, h_{t-1})`` are appended;
                :func:`add_deferred` then adds ``Σ_t dL/dm_tᵀ h_{t-1}`` in one matrix product
                over all steps (a layer's backward pass does this: one large product is
                several times faster than T small ones).

        Returns:
            ``(dL/du_t [B, G*H], dL/d(previous state))``.
        """

    # -- one whole step ----------------------------------------------------------------------

    def forward(
        self, params: Params, x_t: np.ndarray, state: State
    ) -> tuple[np.ndarray, State, tuple[InputCache, StepCache]]:
        """One whole step from ``x_t [B, I]``: return ``(y_t, new_state, cache)``."""
        u_t, in_cache = self.project_input(params, x_t)
        new_state, cache = self.step(params, u_t, state)
        return new_state[0], new_state, (in_cache, cache)

    def backward(
        self, params: Params, d_state: State, cache: tuple[InputCache, StepCache],
        grads: Params,
    ) -> tuple[np.ndarray, State]:
        """Backward of :meth:`forward`: return ``(dL/dx_t [B, I], dL/d(previous state))``."""
        in_cache, step_cache = cache
        d_u, d_prev = self.step_backward(params, d_state, step_cache, grads)
        return self.project_input_backward(params, d_u, in_cache, grads), d_prev


def _note(notes: dict[str, np.ndarray] | None, **values: np.ndarray) -> None:
    if notes is not None:
        notes.update(values)


class RNN(Cell):
    """Elman cell ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` with ``f`` = tanh or relu.

    Args:
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Raises:
        ValueError: unknown nonlinearity.
    """

    spec = get_spec("rnn")

    def __init__(self, nonlinearity: str = "tanh") -> None:
        super().__init__()
        self.nonlinearity = check_nonlinearity(nonlinearity)

    def __repr__(self) -> str:
        return f"RNN(nonlinearity={self.nonlinearity!r})"

    def step(self, params: Params, u_t: np.ndarray, state: State) -> tuple[State, StepCache]:
        """See :meth:`Cell.step`; the state is ``(h,)``."""
        (h_prev,) = state                                                      # [B, H]
        # v_t = W_hh h_{t-1} + b_hh
        v, ln = self._recurrent(params, h_prev)                                # [B, H]
        # a_t = u_t + v_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
        a = u_t + v                                                            # [B, H]
        # h_t = f(a_t)
        h = activate(self.nonlinearity, a)                                     # [B, H]
        return (h,), {"h_prev": h_prev, "u": u_t, "v": v, "a": a, "h": h, "ln_hh": ln}

    def step_backward(
        self, params: Params, d_state: State, cache: StepCache, grads: Params,
        notes: dict[str, np.ndarray] | None = None,
        deferred: Deferred | None = None,
    ) -> tuple[np.ndarray, State]:
        """See :meth:`Cell.step_backward`."""
        (d_h,) = d_state                                                       # [B, H]
        # dL/da_t = dL/dh_t ⊙ f'(a_t)       (f' from h_t: 1 - h_t² or [h_t > 0])
        d_a = activate_backward(self.nonlinearity, d_h, cache["h"])            # [B, H]
        # a_t = u_t + v_t: both parts receive dL/da_t; v_t passes it on to W_hh, b_hh, h_{t-1}
        d_h_prev = self._recurrent_backward(
            params, d_a, cache["h_prev"], cache["ln_hh"], grads, deferred
        )
        _note(notes, d_h=d_h, d_a=d_a, d_h_prev=d_h_prev)
        return d_a, (d_h_prev,)


class Jordan(Cell):
    """Jordan cell: the previous *output* is fed back to the hidden layer.

    Equations (``f`` = tanh or relu, ``g`` the output activation)::

        a_t = W_ih x_t + b_ih + W_yh y_{t-1} + b_yh
        h_t = f(a_t)
        z_t = W_hy h_t + b_y
        y_t = g(z_t)

    The state is ``(y,)``; the hidden ``h_t`` lives only inside the step (in its cache).

    Args:
        nonlinearity: hidden ``f``, ``"tanh"`` or ``"relu"``.
        output_activation: ``g``: identity, sigmoid, tanh or softmax.

    Raises:
        ValueError: unknown nonlinearity or output activation.
    """

    spec = get_spec("jordan")

    def __init__(self, nonlinearity: str = "tanh", output_activation: str = "identity") -> None:
        super().__init__()
        self.nonlinearity = check_nonlinearity(nonlinearity)
        self.output_activation = check_output_activation(output_activation)

    def __repr__(self) -> str:
        return (
            f"Jordan(nonlinearity={self.nonlinearity!r}, "
            f"output_activation={self.output_activation!r})"
        )

    def step(self, params: Params, u_t: np.ndarray, state: State) -> tuple[State, StepCache]:
        """See :meth:`Cell.step`; the state is ``(y,)``."""
        (y_prev,) = state                                                      # [B, O]
        # v_t = W_yh y_{t-1} + b_yh
        v = y_prev @ params["weight_yh"].T                                     # [B, H]
        if "bias_yh" in params:
            v = v + params["bias_yh"]
        # a_t = u_t + v_t
        a = u_t + v                                                            # [B, H]
        # h_t = f(a_t)
        h = activate(self.nonlinearity, a)                                     # [B, H]
        # z_t = W_hy h_t + b_y
        z = h @ params["weight_hy"].T                                          # [B, O]
        if "bias_y" in params:
            z = z + params["bias_y"]
        # y_t = g(z_t)
        y = activate(self.output_activation, z)                                # [B, O]
        return (y,), {"y_prev": y_prev, "u": u_t, "v": v, "a": a, "h": h, "z": z, "y": y}

    def step_backward(
        self, params: Params, d_state: State, cache: StepCache, grads: Params,
        notes: dict[str, np.ndarray] | None = None,
        deferred: Deferred | None = None,
    ) -> tuple[np.ndarray, State]:
        """See :meth:`Cell.step_backward`."""
        (d_y,) = d_state                                                       # [B, O]
        h = cache["h"]
        # dL/dz_t = g'(z_t)ᵀ dL/dy_t
        d_z = activate_backward(self.output_activation, d_y, cache["y"])       # [B, O]
        # z_t = W_hy h_t + b_y:  dW_hy += dL/dz_tᵀ h_t,  db_y += Σ_b dL/dz_t
        grads["weight_hy"] += d_z.T @ h                                        # [O, H]
        if "bias_y" in params:
            grads["bias_y"] += d_z.sum(axis=0)                                 # [O]
        # dL/dh_t = W_hyᵀ dL/dz_t
        d_h = d_z @ params["weight_hy"]                                        # [B, H]
        # dL/da_t = dL/dh_t ⊙ f'(a_t)
        d_a = activate_backward(self.nonlinearity, d_h, h)                     # [B, H]
        # v_t = W_yh y_{t-1} + b_yh:  dW_yh += dL/da_tᵀ y_{t-1}
        if deferred is None:
            grads["weight_yh"] += d_a.T @ cache["y_prev"]                      # [H, O]
        else:
            deferred.append(("weight_yh", d_a, cache["y_prev"]))
        if "bias_yh" in params:
            grads["bias_yh"] += d_a.sum(axis=0)                                # [H]
        # dL/dy_{t-1} = W_yhᵀ dL/da_t
        d_y_prev = d_a @ params["weight_yh"]                                   # [B, O]
        _note(notes, d_y=d_y, d_z=d_z, d_h=d_h, d_a=d_a, d_y_prev=d_y_prev)
        return d_a, (d_y_prev,)


class LSTM(Cell):
    """LSTM cell, gate order i, f, g, o (torch's)::

        a_t = u_t + v_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh        the 4 blocks a_i a_f a_g a_o
        i_t = σ(a_i)    f_t = σ(a_f)    g_t = tanh(a_g)    o_t = σ(a_o)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)                       (tanh(LN(c_t; γ_c, β_c)) with layer_norm)

    The state is ``(h, c)``. With ``layer_norm`` the input and recurrent projections are
    normalised per gate block before their biases are added (``spec.py``).

    Args:
        layer_norm: use layer normalisation.
    """

    spec = get_spec("lstm")
    peephole = False

    def step(self, params: Params, u_t: np.ndarray, state: State) -> tuple[State, StepCache]:
        """See :meth:`Cell.step`; the state is ``(h, c)``."""
        h_prev, c_prev = state                                                 # [B, H], [B, H]
        H = c_prev.shape[1]
        s_i, s_f, s_g, s_o = (slice(k * H, (k + 1) * H) for k in range(4))
        # v_t = W_hh h_{t-1} + b_hh
        v, ln_hh = self._recurrent(params, h_prev)                             # [B, 4H]
        # a_t = u_t + v_t, the four gate pre-activations side by side
        a = u_t + v                                                            # [B, 4H]
        if self.peephole:
            # peepholes: the input and forget gates also look at c_{t-1}
            a[:, s_i] += params["weight_ci"] * c_prev                          # [B, H]
            a[:, s_f] += params["weight_cf"] * c_prev                          # [B, H]
        # i_t = σ(a_i),  f_t = σ(a_f),  g_t = tanh(a_g)
        i = sigmoid(a[:, s_i])                                                 # [B, H]
        f = sigmoid(a[:, s_f])                                                 # [B, H]
        g = np.tanh(a[:, s_g])                                                 # [B, H]
        # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        c = f * c_prev + i * g                                                 # [B, H]
        if self.peephole:
            # the output gate looks at the new cell: a_o += w_co ⊙ c_t
            a[:, s_o] += params["weight_co"] * c                               # [B, H]
        # o_t = σ(a_o)
        o = sigmoid(a[:, s_o])                                                 # [B, H]
        ln_c = None
        c_hat = c
        if self.layer_norm:
            # ĉ_t = LN(c_t; γ_c, β_c)   (one block of H units)
            c_hat, ln_c = layer_norm(c, params["ln_c_weight"], params["ln_c_bias"], 1)
        # h_t = o_t ⊙ tanh(ĉ_t)
        tanh_c = np.tanh(c_hat)                                                # [B, H]
        h = o * tanh_c                                                         # [B, H]
        cache = {
            "h_prev": h_prev, "c_prev": c_prev, "u": u_t, "v": v, "a": a,
            "i": i, "f": f, "g": g, "o": o, "c": c, "tanh_c": tanh_c, "h": h,
            "ln_hh": ln_hh, "ln_c": ln_c,
        }
        return (h, c), cache

    def step_backward(
        self, params: Params, d_state: State, cache: StepCache, grads: Params,
        notes: dict[str, np.ndarray] | None = None,
        deferred: Deferred | None = None,
    ) -> tuple[np.ndarray, State]:
        """See :meth:`Cell.step_backward`."""
        d_h, d_c_next = d_state                                                # [B, H], [B, H]
        i, f, g, o = cache["i"], cache["f"], cache["g"], cache["o"]
        c_prev, c, tanh_c = cache["c_prev"], cache["c"], cache["tanh_c"]
        H = c.shape[1]
        s_i, s_f, s_g, s_o = (slice(k * H, (k + 1) * H) for k in range(4))
        d_a = np.empty_like(cache["a"])                                        # [B, 4H]
        # h_t = o_t ⊙ tanh(ĉ_t):  dL/do_t = dL/dh_t ⊙ tanh(ĉ_t)
        d_o = d_h * tanh_c                                                     # [B, H]
        # dL/da_o = dL/do_t ⊙ o_t (1 - o_t)
        d_a[:, s_o] = d_o * o * (1.0 - o)                                      # [B, H]
        # dL/dĉ_t = dL/dh_t ⊙ o_t ⊙ (1 - tanh²(ĉ_t))
        d_c_hat = d_h * o * (1.0 - tanh_c * tanh_c)                            # [B, H]
        if cache["ln_c"] is not None:
            d_c_hat = layer_norm_backward(
                d_c_hat, cache["ln_c"], grads["ln_c_weight"], grads["ln_c_bias"]
            )
        # dL/dc_t = (from the next step) + (through h_t)
        d_c = d_c_next + d_c_hat                                               # [B, H]
        if self.peephole:
            # a_o = ... + w_co ⊙ c_t
            d_c = d_c + d_a[:, s_o] * params["weight_co"]
            grads["weight_co"] += (d_a[:, s_o] * c).sum(axis=0)                # [H]
        # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        d_i = d_c * g                                                          # [B, H]
        d_f = d_c * c_prev                                                     # [B, H]
        d_g = d_c * i                                                          # [B, H]
        d_c_prev = d_c * f                                                     # [B, H]
        # through the squashings: σ' = σ(1 - σ), tanh' = 1 - tanh²
        d_a[:, s_i] = d_i * i * (1.0 - i)                                      # [B, H]
        d_a[:, s_f] = d_f * f * (1.0 - f)                                      # [B, H]
        d_a[:, s_g] = d_g * (1.0 - g * g)                                      # [B, H]
        if self.peephole:
            # a_i = ... + w_ci ⊙ c_{t-1},  a_f = ... + w_cf ⊙ c_{t-1}
            d_c_prev = (
                d_c_prev + d_a[:, s_i] * params["weight_ci"] + d_a[:, s_f] * params["weight_cf"]
            )
            grads["weight_ci"] += (d_a[:, s_i] * c_prev).sum(axis=0)           # [H]
            grads["weight_cf"] += (d_a[:, s_f] * c_prev).sum(axis=0)           # [H]
        # a_t = u_t + v_t: dL/du_t = dL/dv_t = dL/da_t
        d_h_prev = self._recurrent_backward(
            params, d_a, cache["h_prev"], cache["ln_hh"], grads, deferred
        )
        _note(
            notes, d_h=d_h, d_c=d_c, d_o=d_o, d_i=d_i, d_f=d_f, d_g=d_g, d_a=d_a,
            d_h_prev=d_h_prev, d_c_prev=d_c_prev,
        )
        return d_a, (d_h_prev, d_c_prev)


class PeepholeLSTM(LSTM):
    """LSTM with diagonal peepholes (Gers & Schmidhuber 2000)::

        i_t = σ(a_i + w_ci ⊙ c_{t-1})     f_t = σ(a_f + w_cf ⊙ c_{t-1})     g_t = tanh(a_g)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        o_t = σ(a_o + w_co ⊙ c_t)
        h_t = o_t ⊙ tanh(c_t)

    with ``a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`` as in :class:`LSTM` and the
    peephole weights ``weight_ci``, ``weight_cf``, ``weight_co`` of shape ``[H]``.
    """

    spec = get_spec("peephole_lstm")
    peephole = True


class GRU(Cell):
    """Gated recurrent unit, torch's formulation, gate order r, z, n::

        u_t = W_ih x_t + b_ih,   v_t = W_hh h_{t-1} + b_hh                   (3 blocks each)
        r_t = σ(u_r + v_r)
        z_t = σ(u_z + v_z)
        n_t = tanh(u_n + r_t ⊙ v_n)
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    With ``layer_norm``, ``v_n = LN_hh(W_hn h_{t-1}) + b_hn`` is the normalised block.

    Args:
        layer_norm: use layer normalisation.
    """

    spec = get_spec("gru")

    def step(self, params: Params, u_t: np.ndarray, state: State) -> tuple[State, StepCache]:
        """See :meth:`Cell.step`; the state is ``(h,)``."""
        (h_prev,) = state                                                      # [B, H]
        H = h_prev.shape[1]
        s_r, s_z, s_n = (slice(k * H, (k + 1) * H) for k in range(3))
        # v_t = W_hh h_{t-1} + b_hh
        v, ln_hh = self._recurrent(params, h_prev)                             # [B, 3H]
        # r_t = σ(u_r + v_r),  z_t = σ(u_z + v_z)
        r = sigmoid(u_t[:, s_r] + v[:, s_r])                                   # [B, H]
        z = sigmoid(u_t[:, s_z] + v[:, s_z])                                   # [B, H]
        # n_t = tanh(u_n + r_t ⊙ v_n)
        n = np.tanh(u_t[:, s_n] + r * v[:, s_n])                               # [B, H]
        # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
        h = (1.0 - z) * n + z * h_prev                                         # [B, H]
        cache = {
            "h_prev": h_prev, "u": u_t, "v": v, "r": r, "z": z, "n": n, "h": h, "ln_hh": ln_hh,
        }
        return (h,), cache

    def step_backward(
        self, params: Params, d_state: State, cache: StepCache, grads: Params,
        notes: dict[str, np.ndarray] | None = None,
        deferred: Deferred | None = None,
    ) -> tuple[np.ndarray, State]:
        """See :meth:`Cell.step_backward`."""
        (d_h,) = d_state                                                       # [B, H]
        r, z, n, h_prev, v = cache["r"], cache["z"], cache["n"], cache["h_prev"], cache["v"]
        H = h_prev.shape[1]
        s_r, s_z, s_n = (slice(k * H, (k + 1) * H) for k in range(3))
        # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
        d_n = d_h * (1.0 - z)                                                  # [B, H]
        d_z = d_h * (h_prev - n)                                               # [B, H]
        d_h_prev = d_h * z                                                     # [B, H]
        # n_t = tanh(a_n) with a_n = u_n + r_t ⊙ v_n
        d_an = d_n * (1.0 - n * n)                                             # [B, H]
        # dL/dr_t = dL/da_n ⊙ v_n
        d_r = d_an * v[:, s_n]                                                 # [B, H]
        d_u = np.empty_like(cache["u"])                                        # [B, 3H]
        # r_t = σ(u_r + v_r),  z_t = σ(u_z + v_z)
        d_u[:, s_r] = d_r * r * (1.0 - r)                                      # [B, H]
        d_u[:, s_z] = d_z * z * (1.0 - z)                                      # [B, H]
        d_u[:, s_n] = d_an                                                     # [B, H]
        # the recurrent part gets the same except its n block, which is scaled by r_t
        d_v = d_u.copy()                                                       # [B, 3H]
        d_v[:, s_n] = d_an * r                                                 # [B, H]
        d_h_prev = d_h_prev + self._recurrent_backward(
            params, d_v, h_prev, cache["ln_hh"], grads, deferred
        )
        _note(notes, d_h=d_h, d_n=d_n, d_z=d_z, d_r=d_r, d_a=d_u, d_h_prev=d_h_prev)
        return d_u, (d_h_prev,)


#: Every cell name :func:`make_cell` and ``Network`` accept: ``spec.CELL_NAMES`` and MUT1-3
#: (:mod:`rnnkit.reference.variants`; the LSTM ablations are ``"lstm"`` with ``variant=``).
REFERENCE_CELL_NAMES: tuple[str, ...] = (*CELL_NAMES, *(f"mut{k}" for k in MUT_KINDS))
# The spec names of the LSTM ablations ("lstm_cifg" ...), as rnnkit.nn layers report them.
_ABLATION_NAMES = {f"lstm_{v}": v for v in LSTM_VARIANTS[1:]}


def cell_spec(cell: str, variant: str = "vanilla") -> CellSpec:
    """The spec of the reference cell ``cell`` (with ``variant`` for ``"lstm"``).

    Args:
        cell: a name of :data:`REFERENCE_CELL_NAMES`, or the spec name of an LSTM ablation
            (``"lstm_cifg"``, the ``spec.name`` of ``rnnkit.nn.LSTM(..., variant="cifg")``).
        variant: an LSTM ablation of :data:`rnnkit.spec_variants.LSTM_VARIANTS` (``"lstm"``
            only).

    Raises:
        ValueError: an unknown cell or variant, or a variant for a cell that has none.

    >>> cell_spec("lstm", "nog").gates, cell_spec("mut3").name, cell_spec("lstm_nig").gates
    (('i', 'f', 'g'), 'mut3', ('f', 'g', 'o'))
    """
    if isinstance(cell, str) and cell in _ABLATION_NAMES:
        spec: CellSpec = lstm_variant_spec(_ABLATION_NAMES[cell]) or get_spec("lstm")
    elif cell in REFERENCE_CELL_NAMES[len(CELL_NAMES):]:
        spec = mut_spec(int(cell[-1]))
    elif cell in CELL_NAMES:
        spec = get_spec(cell)
    else:
        raise ValueError(
            f"Argument `cell` must be one of {list(REFERENCE_CELL_NAMES)}, got {cell!r}."
        )
    if isinstance(variant, str) and variant == "vanilla":
        return spec
    if cell != "lstm":
        raise ValueError(
            f"Argument `variant` applies only to the 'lstm' cell, got variant={variant!r} for "
            f"cell '{cell}'."
        )
    return lstm_variant_spec(variant) or spec


def make_cell(
    cell: str,
    *,
    nonlinearity: str = "tanh",
    output_activation: str = "identity",
    layer_norm: bool = False,
    variant: str = "vanilla",
) -> Cell:
    """Build the reference cell called ``cell`` (a name of :data:`REFERENCE_CELL_NAMES`).

    Args:
        cell: ``rnn``, ``jordan``, ``lstm``, ``peephole_lstm``, ``gru``, or ``mut1``,
            ``mut2``, ``mut3`` (:class:`rnnkit.reference.variants.MUT`); also the spec name of
            an LSTM ablation, ``lstm_cifg`` ... (as :func:`cell_spec`).
        nonlinearity: hidden nonlinearity of ``rnn`` and ``jordan`` (tanh or relu).
        output_activation: output activation of ``jordan``.
        layer_norm: layer normalisation (``lstm``, ``peephole_lstm``, ``gru``; not with a
            variant).
        variant: an LSTM gate ablation for ``lstm``: ``nig``, ``nfg``, ``nog``, ``niaf``,
            ``noaf``, ``cifg``, ``fgr`` (:class:`rnnkit.reference.variants.LSTMVariant`), or
            ``vanilla``.

    Raises:
        ValueError: unknown cell, variant, nonlinearity or activation, an option the cell does
            not have.

    >>> make_cell("peephole_lstm", layer_norm=True)
    PeepholeLSTM(layer_norm=True)
    >>> make_cell("lstm", variant="cifg"), make_cell("mut2")
    (LSTMVariant('cifg'), MUT(2))
    """
    spec = cell_spec(cell, variant)
    if spec.name not in ("rnn", "jordan") and nonlinearity != "tanh":
        raise ValueError(
            f"Argument `nonlinearity` applies only to cells 'rnn' and 'jordan', got "
            f"{nonlinearity!r} for cell '{spec.name}'."
        )
    if spec.name != "jordan" and output_activation != "identity":
        raise ValueError(
            f"Argument `output_activation` applies only to the 'jordan' cell, got "
            f"{output_activation!r} for cell '{spec.name}'."
        )
    if isinstance(spec, VariantSpec):
        # the variants live in their own module, which builds on this one
        from rnnkit.reference import variants

        if layer_norm and spec.has_cell_state:  # the torch engine's refusal, word for word
            raise ValueError(
                f"Argument `layer_norm` is defined for variant='vanilla' only, got "
                f"layer_norm={layer_norm!r} with variant={spec.variant!r}."
            )
        if layer_norm:
            raise ValueError(
                f"Argument `layer_norm=True` is defined for cells 'lstm', 'peephole_lstm' and "
                f"'gru', not for '{spec.name}'."
            )
        if spec.has_cell_state:
            return variants.LSTMVariant(spec.variant)
        return variants.MUT(int(spec.variant[-1]))
    if layer_norm and not spec.layer_norm_allowed:
        raise ValueError(
            f"Argument `layer_norm=True` is defined for cells 'lstm', 'peephole_lstm' and "
            f"'gru', not for '{spec.name}'."
        )
    if spec.name == "rnn":
        return RNN(nonlinearity)
    if spec.name == "jordan":
        return Jordan(nonlinearity, output_activation)
    if spec.name == "lstm":
        return LSTM(layer_norm=layer_norm)
    if spec.name == "peephole_lstm":
        return PeepholeLSTM(layer_norm=layer_norm)
    return GRU(layer_norm=layer_norm)
