"""The LSTM ablations and MUT1-3 in NumPy: each forward step beside its backward step.

The cells of :mod:`rnnkit.spec_variants` (the full table of equations and parameter layouts
is there, and in :mod:`rnnkit.nn.variants` for the torch engine): the gate ablations of an
LSTM by Greff et al. 2017 and the three architectures MUT1, MUT2, MUT3 found by Jozefowicz et
al. 2015. The conventions are those of :mod:`rnnkit.reference.cells` (``u_t`` the input part
of a step, computed for all steps at once; ``step_backward`` receives ``dL/d(new state)``,
adds into ``grads`` and returns ``(dL/du_t, dL/d(previous state))``). Parameters have the
names and torch layouts of the torch engine (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``, and ``weight_ah`` for the full gate recurrence), so a ``state_dict`` of
``rnnkit.nn.LSTM(..., variant=...)`` or ``rnnkit.nn.MUT`` moves here as NumPy arrays.

Dimension letters::

    B  batch size       I  input features of x_t       H  hidden units of h_t (and c_t)
    G  gate blocks of the variant stacked in weight_ih / weight_hh (3 or 4; MUT: see below)

Build them through :func:`rnnkit.reference.cells.make_cell` (``make_cell("lstm",
variant="cifg")``, ``make_cell("mut2")``) or :class:`rnnkit.reference.network.Network`.

Examples:
    >>> import numpy as np
    >>> cell = LSTMVariant("cifg")
    >>> params = {k: np.full(s, 0.1) for k, s in cell.parameter_shapes(2, 3).items()}
    >>> y, state, cache = cell.forward(params, np.array([[1.0, -1.0]]), cell.initial_state(1, 3))
    >>> np.round(y, 6).tolist()
    [[0.059437, 0.059437, 0.059437]]
    >>> mut = MUT(3)
    >>> sorted(mut.parameter_shapes(2, 3).items())[2:]
    [('weight_hh', (9, 3)), ('weight_ih', (9, 2))]
"""

from __future__ import annotations

import numpy as np

from rnnkit.reference.activations import sigmoid
from rnnkit.reference.cells import Cell, Deferred, InputCache, Params, State, StepCache
from rnnkit.spec_variants import LSTM_VARIANTS, VariantSpec, lstm_variant_spec, mut_spec

__all__ = ["MUT", "LSTMVariant"]


def _blocks(array: np.ndarray, names: tuple[str, ...], H: int) -> dict[str, np.ndarray]:
    """The gate blocks of the last axis of ``array`` by name (views, ``[..., H]`` each)."""
    return {name: array[..., k * H:(k + 1) * H] for k, name in enumerate(names)}


def _rows(array: np.ndarray, names: tuple[str, ...], H: int) -> dict[str, np.ndarray]:
    """The gate blocks of the first axis (rows of a stacked matrix or bias), views."""
    return {name: array[k * H:(k + 1) * H] for k, name in enumerate(names)}


class LSTMVariant(Cell):
    """An LSTM gate ablation of Greff et al. 2017: ``nig``, ``nfg``, ``nog``, ``niaf``,
    ``noaf``, ``cifg`` or ``fgr``.

    With ``a_t = u_t + v_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`` holding the pre-activation
    blocks of the gates the variant has (``spec.gates``, in the order i, f, g, o)::

        i_t = σ(a_i)              nig: i_t = 1
        f_t = σ(a_f)              nfg: f_t = 1        cifg: f_t = 1 - i_t
        g_t = tanh(a_g)           niaf: g_t = a_g
        o_t = σ(a_o)              nog: o_t = 1
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        s_t = tanh(c_t)           noaf: s_t = c_t
        h_t = o_t ⊙ s_t

    ``fgr`` (full gate recurrence) adds ``W_ah a_{t-1}`` to the blocks ``a_i, a_f, a_o``, with
    ``a_{t-1} = [i_{t-1}; f_{t-1}; o_{t-1}]`` carried in the state ``(h, c, a)`` (zero at the
    start) and ``weight_ah [3H, 3H]``. The state of the other variants is ``(h, c)``. A gate
    that is removed is the constant 1 and has no weights. Full table: :mod:`rnnkit.spec_variants`.

    Args:
        variant: one of :data:`rnnkit.spec_variants.LSTM_VARIANTS` but ``"vanilla"`` (the plain
            LSTM is :class:`rnnkit.reference.cells.LSTM`).

    Raises:
        ValueError: an unknown variant, or ``"vanilla"``.

    Example:
        >>> cell = LSTMVariant("fgr")
        >>> cell.spec.state_names, cell.state_sizes(4), cell.parameter_shapes(3, 4)["weight_ah"]
        (('h', 'c', 'a'), (4, 4, 12), (12, 12))
    """

    spec: VariantSpec

    def __init__(self, variant: str) -> None:
        spec = lstm_variant_spec(variant)
        if spec is None:
            raise ValueError(
                f"Argument `variant` must be one of {list(LSTM_VARIANTS[1:])} for LSTMVariant, "
                f"got 'vanilla' (the plain LSTM is rnnkit.reference.cells.LSTM)."
            )
        self.spec = spec
        self.variant = variant
        super().__init__()

    def __repr__(self) -> str:
        return f"LSTMVariant({self.variant!r})"

    def step(self, params: Params, u_t: np.ndarray, state: State) -> tuple[State, StepCache]:
        """See :meth:`Cell.step`; the state is ``(h, c)``, ``(h, c, a)`` for ``fgr``."""
        h_prev, c_prev = state[0], state[1]                                    # [B, H], [B, H]
        H = c_prev.shape[1]
        variant = self.variant
        # v_t = W_hh h_{t-1} + b_hh
        v, _ = self._recurrent(params, h_prev)                                 # [B, G*H]
        # a_t = u_t + v_t, the variant's gate blocks side by side
        a = u_t + v                                                            # [B, G*H]
        pre = _blocks(a, self.spec.gates, H)                                   # [B, H] each
        a_prev = rec = None
        if variant == "fgr":
            a_prev = state[2]                                                  # [B, 3H]
            # r_t = W_ah [i_{t-1}; f_{t-1}; o_{t-1}]
            rec = a_prev @ params["weight_ah"].T                               # [B, 3H]
            # [a_i; a_f; a_o] += r_t   (in place: views of a)
            for gate, r in _blocks(rec, ("i", "f", "o"), H).items():          # [B, H] each
                pre[gate] += r
        one = np.ones_like(c_prev)                                             # [B, H]
        # i_t = σ(a_i)                                  (nig: i_t = 1)
        i = sigmoid(pre["i"]) if "i" in pre else one                           # [B, H]
        # f_t = σ(a_f)                                  (nfg: f_t = 1)
        f = sigmoid(pre["f"]) if "f" in pre else one                           # [B, H]
        if variant == "cifg":
            # cifg: f_t = 1 - i_t
            f = 1.0 - i                                                        # [B, H]
        # g_t = tanh(a_g)                               (niaf: g_t = a_g)
        g = pre["g"].copy() if variant == "niaf" else np.tanh(pre["g"])       # [B, H]
        # o_t = σ(a_o)                                  (nog: o_t = 1)
        o = sigmoid(pre["o"]) if "o" in pre else one                           # [B, H]
        # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        c = f * c_prev + i * g                                                 # [B, H]
        # s_t = tanh(c_t)                               (noaf: s_t = c_t)
        s = c if variant == "noaf" else np.tanh(c)                             # [B, H]
        # h_t = o_t ⊙ s_t
        h = o * s                                                              # [B, H]
        new_state: State = (h, c)
        if variant == "fgr":
            # a_t = [i_t; f_t; o_t], what the next step's gates read
            new_state = (h, c, np.concatenate([i, f, o], axis=1))              # + [B, 3H]
        # a: the pre-activations (with the recurrence for fgr); rec: r_t (fgr) or None
        cache = {
            "h_prev": h_prev, "c_prev": c_prev, "a_prev": a_prev, "u": u_t, "a": a, "rec": rec,
            "i": i, "f": f, "g": g, "o": o, "c": c, "s": s, "h": h,
        }
        return new_state, cache

    def step_backward(
        self, params: Params, d_state: State, cache: StepCache, grads: Params,
        notes: dict[str, np.ndarray] | None = None,
        deferred: Deferred | None = None,
    ) -> tuple[np.ndarray, State]:
        """See :meth:`Cell.step_backward`."""
        d_h, d_c_next = d_state[0], d_state[1]                                 # [B, H], [B, H]
        i, f, g, o, s = cache["i"], cache["f"], cache["g"], cache["o"], cache["s"]
        c_prev = cache["c_prev"]
        H = c_prev.shape[1]
        variant = self.variant
        # h_t = o_t ⊙ s_t
        d_o = d_h * s                                                          # [B, H]
        d_s = d_h * o                                                          # [B, H]
        # s_t = tanh(c_t): ds/dc = 1 - s²     (noaf: s_t = c_t, ds/dc = 1)
        # dL/dc_t = (from the next step) + (through h_t)
        d_c = d_c_next + (d_s if variant == "noaf" else d_s * (1.0 - s * s))   # [B, H]
        # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        d_i = d_c * g                                                          # [B, H]
        d_f = d_c * c_prev                                                     # [B, H]
        d_g = d_c * i                                                          # [B, H]
        d_c_prev = d_c * f                                                     # [B, H]
        if variant == "cifg":
            # f_t = 1 - i_t: the forget gate's gradient reaches the input gate, negated
            d_i = d_i - d_f                                                    # [B, H]
        if variant == "fgr":
            # a_t = [i_t; f_t; o_t] is part of the state: add what the next step sent back
            d_next = _blocks(d_state[2], ("i", "f", "o"), H)                   # [B, H] each
            d_i, d_f, d_o = d_i + d_next["i"], d_f + d_next["f"], d_o + d_next["o"]
        d_pre = {}
        # dL/da_k = dL/dk_t ⊙ k_t (1 - k_t) for the sigmoid gates k = i, f, o the variant has
        for gate, d_k, k in (("i", d_i, i), ("f", d_f, f), ("o", d_o, o)):
            if gate in self.spec.gates:
                d_pre[gate] = d_k * k * (1.0 - k)                              # [B, H]
        # dL/da_g = dL/dg_t ⊙ (1 - g_t²)               (niaf: g_t = a_g, dL/da_g = dL/dg_t)
        d_pre["g"] = d_g if variant == "niaf" else d_g * (1.0 - g * g)         # [B, H]
        d_a = np.concatenate([d_pre[gate] for gate in self.spec.gates], axis=1)  # [B, G*H]
        d_prev: State = (d_c_prev,)
        if variant == "fgr":
            blocks = _blocks(d_a, self.spec.gates, H)
            # the recurrence r_t = W_ah a_{t-1} fed a_i, a_f, a_o
            d_r = np.concatenate([blocks["i"], blocks["f"], blocks["o"]], axis=1)  # [B, 3H]
            # dW_ah += dL/dr_tᵀ a_{t-1}
            if deferred is None:
                grads["weight_ah"] += d_r.T @ cache["a_prev"]                  # [3H, 3H]
            else:
                deferred.append(("weight_ah", d_r, cache["a_prev"]))
            # dL/da_{t-1} = W_ahᵀ dL/dr_t
            d_prev = (d_c_prev, d_r @ params["weight_ah"])                     # + [B, 3H]
        # a_t = u_t + v_t: dL/du_t = dL/dv_t = dL/da_t; v_t passes it to W_hh, b_hh, h_{t-1}
        d_h_prev = self._recurrent_backward(
            params, d_a, cache["h_prev"], None, grads, deferred
        )                                                                      # [B, H]
        if notes is not None:
            notes.update(d_h=d_h, d_c=d_c, d_i=d_i, d_f=d_f, d_g=d_g, d_o=d_o, d_a=d_a,
                         d_h_prev=d_h_prev, d_c_prev=d_c_prev)
            if variant == "fgr":
                # dL/da_t from the next step's gates, and dL/da_{t-1} sent back
                notes.update(d_a_state=d_state[2], d_a_prev=d_prev[1])
        return d_a, (d_h_prev, *d_prev)


class MUT(Cell):
    """MUT1, MUT2 or MUT3 of Jozefowicz et al. 2015 (section 3.3); the state is ``(h,)``::

        MUT1  z_t = σ(W_xz x_t + b_z)
              r_t = σ(W_xr x_t + W_hr h_{t-1} + b_r)
              h_t = tanh(W_hh (r_t ⊙ h_{t-1}) + tanh(x_t) + b_h) ⊙ z_t + h_{t-1} ⊙ (1 - z_t)
        MUT2  z_t = σ(W_xz x_t + W_hz h_{t-1} + b_z)
              r_t = σ(x_t + W_hr h_{t-1} + b_r)
              h_t = tanh(W_hh (r_t ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z_t + h_{t-1} ⊙ (1 - z_t)
        MUT3  z_t = σ(W_xz x_t + W_hz tanh(h_{t-1}) + b_z)
              r_t = σ(W_xr x_t + W_hr h_{t-1} + b_r)
              h_t = tanh(W_hh (r_t ⊙ h_{t-1}) + W_xh x_t + b_h) ⊙ z_t + h_{t-1} ⊙ (1 - z_t)

    Parameters as the torch engine lays them out (:mod:`rnnkit.spec_variants`):
    ``weight_ih``/``bias_ih`` hold the blocks ``spec.input_gates`` (MUT1: z, r; MUT2: z, h;
    MUT3: z, r, h), ``weight_hh``/``bias_hh`` the blocks ``spec.recurrent_gates`` (MUT1: r, h;
    MUT2, MUT3: z, r, h); ``b_z, b_r, b_h`` above are the sums of the biases present.

    The input part ``u_t [B, 3H]`` has the blocks (z, r, h) whatever the kind: the input
    matrix's blocks plus ``bias_ih``, and ``x_t`` itself where the kind adds it (MUT1:
    ``u_h = tanh(x_t)``; MUT2: ``u_r = x_t``), so MUT1 and MUT2 need ``I == H``.

    Args:
        kind: 1, 2 or 3.

    Raises:
        ValueError: ``kind`` is not 1, 2 or 3.

    Example:
        >>> MUT(1).parameter_shapes(3, 4)
        Traceback (most recent call last):
        ...
        ValueError: Argument `input_size` must equal hidden_size=4 for cell 'mut1', which adds x_t to a gate, got 3.
    """  # noqa: E501

    spec: VariantSpec

    def __init__(self, kind: int) -> None:
        self.spec = mut_spec(kind)
        self.kind = int(kind)
        super().__init__()

    def __repr__(self) -> str:
        return f"MUT({self.kind})"

    # -- the input part: u_t = [u_z; u_r; u_h], for every t at once ----------------------------

    def project_input(self, params: Params, x: np.ndarray) -> tuple[np.ndarray, InputCache]:
        """``u = [u_z; u_r; u_h]`` for any leading axes (see the class docstring).

        Shape:
            x ``[..., I]`` → u ``[..., 3H]``.
        """
        H = params["weight_ih"].shape[0] // len(self.spec.input_gates)
        # m = W_ih x + b_ih, the blocks spec.input_gates
        m = x @ params["weight_ih"].T                                          # [..., G*H]
        if "bias_ih" in params:
            m += params["bias_ih"]
        u = _blocks(m, self.spec.input_gates, H)                               # [..., H] each
        if self.kind == 1:
            # MUT1: u_h = tanh(x_t)
            u["h"] = np.tanh(x)                                                # [..., H]
        elif self.kind == 2:
            # MUT2: u_r = x_t
            u["r"] = x                                                         # [..., H]
        return np.concatenate([u["z"], u["r"], u["h"]], axis=-1), InputCache(x, None)

    def project_input_backward(
        self, params: Params, d_u: np.ndarray, cache: InputCache, grads: Params
    ) -> np.ndarray:
        """Backward of :meth:`project_input`: add ``dW_ih``, ``db_ih`` to ``grads``; return
        ``dL/dx``.

        Shape:
            d_u ``[..., 3H]`` → dL/dx ``[..., I]``.
        """
        x = cache.x
        H = d_u.shape[-1] // 3
        d_blocks = _blocks(d_u, ("z", "r", "h"), H)                            # [..., H] each
        # the blocks of m = W_ih x + b_ih
        d_m = np.concatenate([d_blocks[gate] for gate in self.spec.input_gates], axis=-1)
        width = d_m.shape[-1]
        if "bias_ih" in params:
            # dL/db_ih = Σ dL/dm   (over batch and time)
            grads["bias_ih"] += d_m.reshape(-1, width).sum(axis=0)            # [G*H]
        # dL/dW_ih = Σ_t dL/dm_tᵀ x_t   (one product over all B*T rows)
        grads["weight_ih"] += d_m.reshape(-1, width).T @ x.reshape(-1, x.shape[-1])  # [G*H, I]
        # dL/dx = W_ihᵀ dL/dm
        d_x = d_m @ params["weight_ih"]                                        # [..., I]
        if self.kind == 1:
            # u_h = tanh(x_t): tanh' = 1 - tanh²
            t = np.tanh(x)
            d_x += d_blocks["h"] * (1.0 - t * t)                               # [..., I]
        elif self.kind == 2:
            # u_r = x_t
            d_x += d_blocks["r"]                                               # [..., I]
        return d_x

    # -- the recurrence ----------------------------------------------------------------------

    def step(self, params: Params, u_t: np.ndarray, state: State) -> tuple[State, StepCache]:
        """See :meth:`Cell.step`; the state is ``(h,)``."""
        (h_prev,) = state                                                      # [B, H]
        H = h_prev.shape[1]
        gates = self.spec.recurrent_gates
        W = _rows(params["weight_hh"], gates, H)                               # [H, H] each
        b = _rows(params["bias_hh"], gates, H) if "bias_hh" in params else {}  # [H] each
        u = _blocks(u_t, ("z", "r", "h"), H)                                   # [B, H] each
        # r_t = σ(a_r),  a_r = u_r + W_hr h_{t-1} + b_hr
        a_r = u["r"] + h_prev @ W["r"].T + b.get("r", 0.0)                     # [B, H]
        r = sigmoid(a_r)                                                       # [B, H]
        z_in = None
        if self.kind == 1:
            # MUT1: z_t = σ(a_z),  a_z = u_z   (x_t only)
            a_z = u["z"]                                                       # [B, H]
        else:
            # MUT2: a_z = u_z + W_hz h_{t-1} + b_hz;  MUT3: W_hz tanh(h_{t-1})
            z_in = h_prev if self.kind == 2 else np.tanh(h_prev)               # [B, H]
            a_z = u["z"] + z_in @ W["z"].T + b.get("z", 0.0)                   # [B, H]
        # z_t = σ(a_z)
        z = sigmoid(a_z)                                                       # [B, H]
        # q_t = r_t ⊙ h_{t-1}
        q = r * h_prev                                                         # [B, H]
        # n_t = tanh(a_n),  a_n = u_h + W_hh q_t + b_hh   (the candidate)
        a_n = u["h"] + q @ W["h"].T + b.get("h", 0.0)                          # [B, H]
        n = np.tanh(a_n)                                                       # [B, H]
        # h_t = n_t ⊙ z_t + h_{t-1} ⊙ (1 - z_t)
        h = n * z + h_prev * (1.0 - z)                                         # [B, H]
        cache = {"h_prev": h_prev, "u": u_t, "a_r": a_r, "r": r, "a_z": a_z, "z": z,
                 "z_in": z_in, "q": q, "a_n": a_n, "n": n, "h": h}
        return (h,), cache

    def step_backward(
        self, params: Params, d_state: State, cache: StepCache, grads: Params,
        notes: dict[str, np.ndarray] | None = None,
        deferred: Deferred | None = None,
    ) -> tuple[np.ndarray, State]:
        """See :meth:`Cell.step_backward`.

        The blocks of ``weight_hh`` read different inputs (``h_{t-1}``, ``tanh(h_{t-1})``,
        ``r_t ⊙ h_{t-1}``), so their gradients are added here and ``deferred`` is not used.
        """
        (d_h,) = d_state                                                       # [B, H]
        h_prev, r, z, n, q = cache["h_prev"], cache["r"], cache["z"], cache["n"], cache["q"]
        H = h_prev.shape[1]
        gates = self.spec.recurrent_gates
        W = _rows(params["weight_hh"], gates, H)                               # [H, H] each
        dW = _rows(grads["weight_hh"], gates, H)                               # views
        db = _rows(grads["bias_hh"], gates, H) if "bias_hh" in params else {}
        # h_t = n_t ⊙ z_t + h_{t-1} ⊙ (1 - z_t)
        d_n = d_h * z                                                          # [B, H]
        d_z = d_h * (n - h_prev)                                               # [B, H]
        d_h_prev = d_h * (1.0 - z)                                             # [B, H]
        # n_t = tanh(a_n),  a_n = u_h + W_hh q_t + b_hh
        d_an = d_n * (1.0 - n * n)                                             # [B, H]
        # dW_hh += dL/da_nᵀ q_t,  db_hh += Σ_b dL/da_n,  dL/dq_t = W_hhᵀ dL/da_n
        dW["h"] += d_an.T @ q                                                  # [H, H]
        if db:
            db["h"] += d_an.sum(axis=0)                                        # [H]
        d_q = d_an @ W["h"]                                                    # [B, H]
        # q_t = r_t ⊙ h_{t-1}
        d_r = d_q * h_prev                                                     # [B, H]
        d_h_prev += d_q * r                                                    # [B, H]
        # r_t = σ(a_r),  a_r = u_r + W_hr h_{t-1} + b_hr
        d_ar = d_r * r * (1.0 - r)                                             # [B, H]
        dW["r"] += d_ar.T @ h_prev                                             # [H, H]
        if db:
            db["r"] += d_ar.sum(axis=0)                                        # [H]
        d_h_prev += d_ar @ W["r"]                                              # [B, H]
        # z_t = σ(a_z)
        d_az = d_z * z * (1.0 - z)                                             # [B, H]
        if self.kind != 1:
            # a_z = u_z + W_hz z_in + b_hz,  z_in = h_{t-1} (MUT2) or tanh(h_{t-1}) (MUT3)
            z_in = cache["z_in"]
            dW["z"] += d_az.T @ z_in                                           # [H, H]
            if db:
                db["z"] += d_az.sum(axis=0)                                    # [H]
            d_z_in = d_az @ W["z"]                                             # [B, H]
            # MUT3: tanh' = 1 - tanh²
            d_h_prev += d_z_in if self.kind == 2 else d_z_in * (1.0 - z_in * z_in)
        # dL/du_t: u enters a_z, a_r, a_n with weight 1
        d_u = np.concatenate([d_az, d_ar, d_an], axis=1)                       # [B, 3H]
        if notes is not None:
            notes.update(d_h=d_h, d_n=d_n, d_z=d_z, d_q=d_q, d_r=d_r, d_a=d_u,
                         d_h_prev=d_h_prev)
        return d_u, (d_h_prev,)
