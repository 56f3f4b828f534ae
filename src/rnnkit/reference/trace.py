"""Worked solutions: one recurrent network run on given numbers, printed step by step.

:func:`explain` runs a one-layer network -- a cell and, optionally, an output layer -- over a
short sequence and records what a worked solution shows: for each step the pre-activation,
the gates, the state and the output; with targets the loss of every step; the backward pass
through time step by step (every intermediate gradient and each step's share of every
parameter gradient), the gradients summed over time, and the parameters after one SGD step
``θ ← θ - η dL/dθ``. :meth:`Trace.format` prints it; :meth:`Trace.to_json` gives the numbers.

The cells are those of :mod:`rnnkit.spec` and the variants of :mod:`rnnkit.spec_variants`: an
LSTM gate ablation (``explain("lstm", ..., variant="cifg")``; a removed gate has no row, CIFG
shows ``f_t = 1 - i_t``, FGR the recurrence ``r_t = W_ah a_{t-1}``, its pre-activations
``z_t`` and its state ``a_t = [i_t | f_t | o_t]``) or MUT1-3 (``explain("mut2", ...)``:
``u_t``, the pre-activations ``a^z, a^r, a^n``, the gates ``z, r``, ``q_t = r_t ⊙ h_{t-1}``
and the candidate ``n_t``). Every number comes from the engine's own forward caches and
backward notes (:mod:`rnnkit.reference.cells`, :mod:`rnnkit.reference.variants`).

Parameters use the spec's names without layer suffixes (``weight_ih``, ``weight_hh``,
``bias_ih``, ``bias_hh``, ...), plus the output layer's ``weight_hy [O, H]`` and
``bias_y [O]``; a Jordan cell's own ``weight_hy``/``bias_y`` are its output weights. A
one-layer, one-direction layer's own names (``weight_ih_l0`` ..., its ``state_dict`` or
:func:`rnnkit.nn.to_reference`) are read as these, so a layer trained fast is explained as it
is; another layer's (``_l1``) or direction's (``_reverse``) are refused by name. Without
``weight_hy`` (and not Jordan) there is no output layer and the output ``y_t`` is the hidden
state ``h_t``. Optional initial states: ``h0`` (and ``c0``; ``a0`` of size ``3H`` for FGR), or
``y0`` for Jordan; zeros otherwise. The loss is the sum over steps (and sequences)
``L = Σ_t L_t``; see :mod:`rnnkit.reference.losses`.

A padded batch of sequences of different lengths takes ``lengths`` (one true length ``n_b``
per sequence), with the engine's semantics (:mod:`rnnkit.reference.network`): past its end a
sequence's state is frozen, ``s_t = s_{t-1}``, its output is 0 and it has no loss term, so
no gradient arises there in the backward pass either. The worked solution marks such steps
"past its end"; the JSON has ``null`` for their values (``hidden`` and ``outputs`` keep the
network's 0).

Examples:
    >>> params = {"weight_ih": [[0.5]], "weight_hh": [[-1.0]], "bias_ih": [0.0], "bias_hh": [0.0]}
    >>> trace = explain("rnn", params, [[1.0], [1.0]], targets=[0.5, 0.0], lr=0.1)
    >>> [round(float(v), 6) for v in trace.hidden[0, :, 0]]
    [0.462117, 0.037865]
    >>> round(trace.loss, 6)
    0.001434
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.reference import losses
from rnnkit.reference.activations import activate_backward
from rnnkit.reference.cells import cell_spec
from rnnkit.reference.infer import split_name
from rnnkit.reference.network import (
    Forward,
    Network,
    check_lengths,
    default_loss,
    lengths_mask,
)
from rnnkit.reference.params import check_params, zeros_like
from rnnkit.spec import CellSpec
from rnnkit.spec_variants import VariantSpec

__all__ = ["CELL_ALIASES", "Trace", "build_network", "explain", "parse_inputs", "parse_targets"]

#: Other names ``explain`` accepts for a cell.
CELL_ALIASES = {"elman": "rnn", "peephole": "peephole_lstm"}

_SIGMA = {"sigmoid": "σ", "identity": "", "tanh": "tanh", "relu": "relu", "softmax": "softmax"}


def _resolve_cell(cell: str, variant: str) -> tuple[str, CellSpec]:
    """``(name for Network, spec)``; refuses an unknown cell or variant, or a variant on a cell
    that has none."""
    name = CELL_ALIASES.get(cell, cell) if isinstance(cell, str) else cell
    return name, cell_spec(name, variant)


def _variant(spec: CellSpec) -> str:
    """The LSTM ablation (``"cifg"`` ...), ``"mut"`` for MUT1-3, ``""`` for a spec cell."""
    if not isinstance(spec, VariantSpec):
        return ""
    return spec.variant if spec.has_cell_state else "mut"


def _as_array(name: str, value: object, expected: tuple[int, ...] | None) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"Parameter `{name}` must be a number or a nested list of numbers of equal lengths"
            + (f" with shape {expected}" if expected else "")
            + "."
        ) from None
    if expected == (1,) and array.shape == ():
        array = array.reshape(1)  # a scalar is accepted where one number is expected
    if not np.all(np.isfinite(array)):
        raise ValueError(f"Parameter `{name}` must hold finite numbers.")
    return array


def build_network(
    cell: str,
    params: Mapping[str, object],
    *,
    nonlinearity: str = "tanh",
    output_activation: str | None = None,
    variant: str = "vanilla",
) -> tuple[Network, dict[str, np.ndarray], tuple[np.ndarray, ...] | None]:
    """Build the one-layer network that ``params`` describe and check every parameter.

    The sizes come from ``weight_ih [G*H, I]`` (``G`` the blocks of ``weight_ih``: 3 for CIFG,
    NIG, NFG, NOG; 2 for MUT1 and MUT2) and, for Jordan or an output layer, from
    ``weight_hy [O, H]``; biases are expected when any bias is given, layer-norm gains when
    any ``ln_*`` is given. The names of a one-layer, one-direction network's own parameters
    (``weight_ih_l0`` ..., a layer's ``state_dict`` or :func:`rnnkit.nn.to_reference`) are
    read as the spec's (``weight_ih`` ...).

    Args:
        cell: ``rnn`` (or ``elman``), ``jordan``, ``lstm``, ``peephole_lstm`` (or
            ``peephole``), ``gru``, ``mut1``, ``mut2``, ``mut3``.
        params: spec name (or the same with ``_l0``) -> nested lists (or arrays), plus
            optional ``h0``/``c0``/``y0`` (``a0`` for FGR).
        nonlinearity: ``tanh`` or ``relu`` for ``rnn`` and ``jordan``.
        output_activation: of the output layer (or of the Jordan cell); default identity.
        variant: an LSTM gate ablation (``nig``, ``nfg``, ``nog``, ``niaf``, ``noaf``,
            ``cifg``, ``fgr``; ``lstm`` only) or ``vanilla``.

    Returns:
        ``(network, parameters under the network's names, initial state or None)``.

    Raises:
        ValueError: a parameter is missing or unknown (named, with the parameters
            expected or given), a shape does not fit (named, with both shapes; MUT1 and MUT2
            need ``I = H``), parameters of another layer or direction (``_l1``, ``_reverse``:
            named), an unknown cell or variant, a variant for a cell other than ``lstm``,
            or options that do not combine.
    """
    cell_name, spec = _resolve_cell(cell, variant)
    name = spec.name
    if not isinstance(params, Mapping):
        raise TypeError(
            f"Argument `params` must map parameter names to nested lists, got "
            f"{type(params).__name__}."
        )
    params = _one_layer(params)
    G = len(spec.input_gates) if isinstance(spec, VariantSpec) else spec.num_gates
    if "weight_ih" not in params:
        raise ValueError(
            f"Parameter `weight_ih` is missing: expected an array of shape "
            f"({G}*H, I) for a '{name}' cell (it fixes I and H), got only "
            f"{', '.join(f'`{k}`' for k in params) or 'no parameters'}."
        )
    w_ih = _as_array("weight_ih", params["weight_ih"], None)
    if w_ih.ndim != 2 or w_ih.shape[0] % G or min(w_ih.shape) == 0:
        raise ValueError(
            f"Parameter `weight_ih` has shape {tuple(w_ih.shape)}, expected "
            f"{_expected_weight_ih(params, spec, G, w_ih)} for a '{name}' cell."
        )
    H, I = w_ih.shape[0] // G, w_ih.shape[1]
    if getattr(spec, "input_is_hidden", False) and I != H:
        raise ValueError(
            f"Parameter `weight_ih` has shape {tuple(w_ih.shape)}, but a '{name}' cell adds x_t "
            f"itself to a gate, so its input size must equal its hidden size H={H}: expected "
            f"({G * H}, {H})."
        )
    state_keys = {f"{s}0" for s in spec.state_names}
    bias_names = {"bias_ih", "bias_hh", "bias_yh", "bias_y"}
    bias = any(k in params for k in bias_names)
    layer_norm = any(str(k).startswith("ln_") for k in params)
    has_head = name != "jordan" and "weight_hy" in params
    O = None
    if name == "jordan" or has_head:
        if "weight_hy" not in params:
            raise ValueError(
                "Parameter `weight_hy` is missing: expected an array of shape (O, "
                f"{H}) for the Jordan cell's output."
            )
        w_hy = _as_array("weight_hy", params["weight_hy"], None)
        if w_hy.ndim != 2 or w_hy.shape[1] != H or w_hy.shape[0] == 0:
            raise ValueError(
                f"Parameter `weight_hy` has shape {tuple(w_hy.shape)}, expected (O, {H})."
            )
        O = w_hy.shape[0]
    if layer_norm and not spec.layer_norm_allowed:
        bad = next(str(k) for k in params if str(k).startswith("ln_"))
        raise ValueError(
            f"Parameter `{bad}` is not a parameter of a '{name}' cell: layer normalisation is "
            f"defined for 'lstm', 'peephole_lstm' and 'gru'."
        )
    network = Network(
        cell_name, I, H,
        nonlinearity=nonlinearity, layer_norm=layer_norm, bias=bias,
        output_size=O, output_activation=output_activation, variant=variant,
    )
    external = {_external(k): v for k, v in network.parameter_shapes().items()}
    given = {k: v for k, v in params.items() if k not in state_keys}
    arrays = {k: _as_array(str(k), v, external.get(str(k))) for k, v in given.items()}
    check_params(arrays, external, argument="params")
    internal = {_internal(k, network): v for k, v in arrays.items()}
    initial = None
    if state_keys & set(params):
        sizes = network.cell.state_sizes(H, O)
        initial_list = []
        for s, n in zip(spec.state_names, sizes, strict=True):
            key = f"{s}0"
            value = _as_array(key, params.get(key, np.zeros(n)), (n,))
            if value.ndim == 1:
                value = value[None, :]
            if value.shape[-1] != n:
                raise ValueError(
                    f"Parameter `{key}` has shape {tuple(value.shape)}, expected ({n},) or "
                    f"(B, {n})."
                )
            initial_list.append(value[None])                                  # [1, B|1, n]
        initial = tuple(initial_list)
    return network, internal, initial


def _one_layer(params: Mapping[str, object]) -> dict[str, object]:
    """``params`` under the spec's names: the ``_l0`` of a one-layer, one-direction network's
    own names dropped; any other layer or direction refused, its parameters named."""
    out: dict[str, object] = {}
    others = []
    for key, value in params.items():
        base, layer, reverse = split_name(str(key))
        if layer is not None and (layer != 0 or reverse):
            others.append(f"`{key}`")
            continue
        if base in out:
            raise ValueError(
                f"Parameter `{base}` is given twice, as `{base}` and `{base}_l0`; give it once."
            )
        out[base] = value
    if others:
        raise ValueError(
            f"Parameters {', '.join(others)} belong to another layer or to the reverse "
            f"direction, but explain works one layer in one direction: give only the names "
            f"without a suffix (weight_ih ...) or with `_l0` (weight_ih_l0 ...)."
        )
    return out


def _expected_weight_ih(
    params: Mapping[str, object], spec: CellSpec, G: int, w_ih: np.ndarray
) -> str:
    """The shape ``weight_ih`` should have: concrete where the recurrent weight fixes ``H``
    (``weight_hh [G*H, H]``, Jordan's ``weight_yh [H, O]``) and its own columns fix ``I``."""
    I = str(w_ih.shape[1]) if w_ih.ndim == 2 and w_ih.shape[1] > 0 else "I"
    source, axis = ("weight_yh", 0) if spec.name == "jordan" else ("weight_hh", 1)
    try:
        recurrent = np.shape(params[source]) if source in params else ()
    except ValueError:  # a ragged nested list: it will be refused with its own name
        recurrent = ()
    if len(recurrent) == 2 and recurrent[axis] > 0:
        H = recurrent[axis]
        return f"({G * H}, {I}) = ({G}*H, I) with H = {H} from {source} {tuple(recurrent)}"
    return f"({G}*H, {I}), a number of rows divisible by {G}"


def _external(name: str) -> str:
    return name[:-3] if name.endswith("_l0") else name


def _internal(name: str, network: Network) -> str:
    if network.has_output_layer and name in ("weight_hy", "bias_y"):
        return name
    return name + "_l0"


def _depth(value: object) -> int:
    depth = 0
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
        depth += 1
    return depth


def parse_inputs(inputs: object) -> tuple[np.ndarray, bool]:
    """Turn JSON inputs into ``[B, T, I]``: a list of steps (one sequence) or of sequences.

    A step is a list of numbers (or one number when ``I = 1``); a list of lists of steps is a
    batch of sequences.

    Returns:
        ``(x [B, T, I], batched)``.

    Raises:
        ValueError: empty, ragged or non-numeric inputs.

    >>> x, batched = parse_inputs([[1, 2, -1], [-1, 1, -2]])
    >>> x.shape, batched
    ((1, 2, 3), False)
    """
    depth = _depth(inputs)
    try:
        x = np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            "Argument `inputs` must be a list of time steps, each a list of numbers (or a list "
            "of such sequences for a batch), all of equal length; got a ragged or non-numeric "
            "list."
        ) from None
    if x.size == 0 or depth not in (1, 2, 3) or x.ndim != depth:
        raise ValueError(
            "Argument `inputs` must be a non-empty list of time steps (numbers or lists of "
            f"numbers) or a list of such sequences; got nesting depth {depth}."
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("Argument `inputs` must hold finite numbers.")
    if depth == 1:
        return x[None, :, None], False
    if depth == 2:
        return x[None], False
    return x, True


def parse_targets(
    targets: object, loss: str, batch_size: int, steps: int, outputs: int, batched: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Turn JSON targets (one per step, ``null`` for none) into ``(targets, mask)``.

    For ``ce`` a target is a class index or a one-hot list; for ``mse``/``bce`` a number (one
    output) or a list of ``O`` numbers. A batch gives one such list per sequence.

    Returns:
        ``(targets [B, T, O] float, mask [B, T] bool)``.

    Raises:
        ValueError: the wrong number of steps or sequences, or a target that does not fit.

    >>> t, mask = parse_targets([1, None], "ce", 1, 2, 2, False)
    >>> t.tolist(), mask.tolist()
    ([[[0.0, 1.0], [0.0, 0.0]]], [[True, False]])
    """
    rows = targets if batched else [targets]
    if not isinstance(rows, list) or len(rows) != batch_size:
        raise ValueError(
            f"Argument `targets` must hold {batch_size} sequence(s) of targets like the inputs, "
            f"got {len(rows) if isinstance(rows, list) else type(rows).__name__}."
        )
    out = np.zeros((batch_size, steps, outputs))
    mask = np.zeros((batch_size, steps), dtype=bool)
    for b, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != steps:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise ValueError(
                f"Argument `targets` must hold one target per time step ({steps}), got {got}."
            )
        for t, value in enumerate(row):
            if value is None:
                continue
            mask[b, t] = True
            if loss == "ce" and isinstance(value, int) and not isinstance(value, bool):
                if not 0 <= value < outputs:
                    raise ValueError(
                        f"Argument `targets` at step {t + 1} must be a class index in "
                        f"[0, {outputs - 1}], got {value}."
                    )
                out[b, t, value] = 1.0
                continue
            vector = np.asarray(value if isinstance(value, list) else [value], dtype=np.float64)
            if vector.shape != (outputs,):
                raise ValueError(
                    f"Argument `targets` at step {t + 1} must have shape ({outputs},) like the "
                    f"output, got {tuple(vector.shape)}."
                )
            out[b, t] = vector
    return out, mask


def _nested(a: np.ndarray, decimals: int) -> str:
    """``[[1.000000, -0.500000], ...]``: every number with ``decimals`` places, on one line."""
    if a.ndim == 0:
        return f"{float(a):.{decimals}f}"
    return "[" + ", ".join(_nested(row, decimals) for row in a) + "]"


# what each cell's step shows, in order: (key, symbol, equation); the key names the value in
# the JSON and, but for the renames of _renames, in the cell's forward cache (backward notes)
def _forward_rows(network: Network) -> list[tuple[str, str, str]]:
    cell = network.spec.name
    kind = _variant(network.spec)
    if kind == "mut":
        return _mut_forward_rows(int(cell[-1]))
    if kind:
        return _lstm_variant_forward_rows(kind, network.spec.gates)
    f = getattr(network.cell, "nonlinearity", "tanh")
    ln = network.layer_norm
    W_ih = "LN(W_ih x_t)" if ln else "W_ih x_t"
    if cell == "rnn":
        return [("a", "a", "W_ih x_t + b_ih + W_hh h_{t-1} + b_hh"), ("h", "h", f"{f}(a_t)")]
    if cell == "jordan":
        g = network.output_activation
        return [
            ("a", "a", "W_ih x_t + b_ih + W_yh y_{t-1} + b_yh"),
            ("h", "h", f"{f}(a_t)"),
            ("z", "z", "W_hy h_t + b_y"),
            ("y", "y", f"{g}(z_t)" if g != "identity" else "z_t"),
        ]
    if cell in ("lstm", "peephole_lstm"):
        W_hh = "LN(W_hh h_{t-1})" if ln else "W_hh h_{t-1}"
        peep = cell == "peephole_lstm"
        c_out = "LN(c_t)" if ln else "c_t"
        return [
            ("a", "a", f"{W_ih} + b_ih + {W_hh} + b_hh" + ("  (+ peepholes)" if peep else "")
             + "   = [a_i | a_f | a_g | a_o]"),
            ("i", "i", "σ(a_i)" + ("   with a_i += w_ci ⊙ c_{t-1}" if peep else "")),
            ("f", "f", "σ(a_f)" + ("   with a_f += w_cf ⊙ c_{t-1}" if peep else "")),
            ("g", "g", "tanh(a_g)"),
            ("c", "c", "f_t ⊙ c_{t-1} + i_t ⊙ g_t"),
            ("o", "o", "σ(a_o)" + ("   with a_o += w_co ⊙ c_t" if peep else "")),
            ("h", "h", f"o_t ⊙ tanh({c_out})"),
        ]
    W_hh = "LN(W_hh h_{t-1})" if ln else "W_hh h_{t-1}"
    return [
        ("u", "u", f"{W_ih} + b_ih   = [u_r | u_z | u_n]"),
        ("v", "v", f"{W_hh} + b_hh   = [v_r | v_z | v_n]"),
        ("r", "r", "σ(u_r + v_r)"),
        ("z", "z", "σ(u_z + v_z)"),
        ("n", "n", "tanh(u_n + r_t ⊙ v_n)"),
        ("h", "h", "(1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}"),
    ]


def _lstm_variant_forward_rows(variant: str, gates: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """The rows of an LSTM ablation: only the gates it has (CIFG: ``f_t = 1 - i_t``)."""
    fgr = variant == "fgr"
    a = "z" if fgr else "a"  # FGR's state is a_t, so its pre-activations are z_t
    rows = []
    if fgr:
        rows.append(("r", "r", "W_ah a_{t-1}   = [r_i | r_f | r_o]"))
    blocks = " | ".join(f"{a}_{gate}" for gate in gates)
    rows.append((a, a, "W_ih x_t + b_ih + W_hh h_{t-1} + b_hh"
                 + (" + [r_i | r_f | 0 | r_o]" if fgr else "") + f"   = [{blocks}]"))
    if "i" in gates:
        rows.append(("i", "i", f"σ({a}_i)"))
    if "f" in gates:
        rows.append(("f", "f", f"σ({a}_f)"))
    elif variant == "cifg":
        rows.append(("f", "f", "1 - i_t   (coupled input and forget gate)"))
    rows.append(("g", "g", f"{a}_g" if variant == "niaf" else f"tanh({a}_g)"))
    forget = "f_t ⊙ c_{t-1}" if variant != "nfg" else "c_{t-1}"
    write = "i_t ⊙ g_t" if variant != "nig" else "g_t"
    rows.append(("c", "c", f"{forget} + {write}"))
    if "o" in gates:
        rows.append(("o", "o", f"σ({a}_o)"))
    squash = "c_t" if variant == "noaf" else "tanh(c_t)"
    rows.append(("h", "h", f"o_t ⊙ {squash}" if variant != "nog" else squash))
    if fgr:
        rows.append(("a", "a", "[i_t | f_t | o_t]   (what the gates of step t+1 read)"))
    return rows


def _mut_forward_rows(kind: int) -> list[tuple[str, str, str]]:
    """The rows of MUT1-3: the input part, the gates r and z, and the candidate n."""
    u = {
        1: "[W_xz x_t + b_xz | W_xr x_t + b_xr | tanh(x_t)]   (weight_ih = [W_xz; W_xr])",
        2: "[W_xz x_t + b_xz | x_t | W_xh x_t + b_xh]   (weight_ih = [W_xz; W_xh])",
        3: "W_ih x_t + b_ih   (weight_ih = [W_xz; W_xr; W_xh])",
    }[kind]
    a_z = {1: "u_z", 2: "u_z + W_hz h_{t-1} + b_hz", 3: "u_z + W_hz tanh(h_{t-1}) + b_hz"}[kind]
    return [
        ("u", "u", f"[u_z | u_r | u_h] = {u}"),
        ("a_r", "a^r", "u_r + W_hr h_{t-1} + b_hr"),
        ("r", "r", "σ(a^r_t)"),
        ("a_z", "a^z", a_z),
        ("z", "z", "σ(a^z_t)"),
        ("s", "s", "r_t ⊙ h_{t-1}"),
        ("a_n", "a^n", "u_h + W_hh s_t + b_hh"),
        ("n", "n", "tanh(a^n_t)   (the candidate)"),
        ("h", "h", "n_t ⊙ z_t + h_{t-1} ⊙ (1 - z_t)"),
    ]


def _renames(spec: CellSpec) -> tuple[dict[str, str], dict[str, str]]:
    """Where the trace's symbol differs from the engine's name: ``(forward: trace key -> cache
    key, backward: note -> trace key)``.

    FGR's state is ``a_t``, so its pre-activations (the cache's ``a``) are ``z_t`` and its
    recurrence ``r_t``; MUT's ``r_t ⊙ h_{t-1}`` (the cache's ``q``) is ``s_t``, ``q_t`` being
    the output layer's pre-activation.
    """
    kind = _variant(spec)
    if kind == "fgr":
        return {"z": "a", "r": "rec"}, {"d_a": "d_z"}
    if kind == "mut":
        return {"s": "q"}, {"d_q": "d_s"}
    return {}, {}


def _step_values(
    rows: list[tuple[str, str, str]], cache: Mapping[str, Any], state: tuple[np.ndarray, ...],
    spec: CellSpec,
) -> dict[str, np.ndarray]:
    """The values of one step's rows, from the step's forward cache and new state."""
    forward, _ = _renames(spec)
    values = {}
    for key, _, _ in rows:
        if key == "a" and _variant(spec) == "fgr":
            values[key] = state[2]  # the state a_t = [i_t; f_t; o_t]
        else:
            values[key] = cache[forward.get(key, key)]
    return values


def _backward_rows(network: Network) -> list[tuple[str, str, str]]:
    cell = network.spec.name
    kind = _variant(network.spec)
    if kind == "mut":
        return _mut_backward_rows(int(cell[-1]))
    if kind:
        return _lstm_variant_backward_rows(kind, network.spec.gates)
    if cell == "rnn":
        return [
            ("d_h", "dL/dh_t", "(from the output at t) + (from step t+1)"),
            ("d_a", "dL/da_t", "dL/dh_t ⊙ f'(a_t)"),
            ("d_h_prev", "dL/dh_{t-1}", "W_hhᵀ dL/da_t   (sent to step t-1)"),
        ]
    if cell == "jordan":
        return [
            ("d_y", "dL/dy_t", "(from the loss at t) + (from step t+1)"),
            ("d_z", "dL/dz_t", "g'(z_t)ᵀ dL/dy_t"),
            ("d_h", "dL/dh_t", "W_hyᵀ dL/dz_t"),
            ("d_a", "dL/da_t", "dL/dh_t ⊙ f'(a_t)"),
            ("d_y_prev", "dL/dy_{t-1}", "W_yhᵀ dL/da_t   (sent to step t-1)"),
        ]
    if cell in ("lstm", "peephole_lstm"):
        return [
            ("d_h", "dL/dh_t", "(from the output at t) + (from step t+1)"),
            ("d_o", "dL/do_t", "dL/dh_t ⊙ tanh(c_t)"),
            ("d_c", "dL/dc_t", "dL/dh_t ⊙ o_t ⊙ (1 - tanh²(c_t)) + (from step t+1)"),
            ("d_i", "dL/di_t", "dL/dc_t ⊙ g_t"),
            ("d_f", "dL/df_t", "dL/dc_t ⊙ c_{t-1}"),
            ("d_g", "dL/dg_t", "dL/dc_t ⊙ i_t"),
            ("d_a", "dL/da_t",
             "[dL/di ⊙ i(1-i) | dL/df ⊙ f(1-f) | dL/dg ⊙ (1-g²) | dL/do ⊙ o(1-o)]"),
            ("d_h_prev", "dL/dh_{t-1}", "W_hhᵀ dL/da_t   (sent to step t-1)"),
            ("d_c_prev", "dL/dc_{t-1}", "dL/dc_t ⊙ f_t   (sent to step t-1)"),
        ]
    return [
        ("d_h", "dL/dh_t", "(from the output at t) + (from step t+1)"),
        ("d_n", "dL/dn_t", "dL/dh_t ⊙ (1 - z_t)"),
        ("d_z", "dL/dz_t", "dL/dh_t ⊙ (h_{t-1} - n_t)"),
        ("d_r", "dL/dr_t", "dL/dn_t ⊙ (1 - n_t²) ⊙ v_n"),
        ("d_a", "dL/du_t", "[dL/dr ⊙ r(1-r) | dL/dz ⊙ z(1-z) | dL/dn ⊙ (1-n²)]"),
        ("d_h_prev", "dL/dh_{t-1}", "dL/dh_t ⊙ z_t + W_hhᵀ dL/dv_t   (sent to step t-1)"),
    ]


def _lstm_variant_backward_rows(
    variant: str, gates: tuple[str, ...]
) -> list[tuple[str, str, str]]:
    """The backward rows of an LSTM ablation (the notes of ``LSTMVariant.step_backward``)."""
    fgr = variant == "fgr"
    a = "z" if fgr else "a"
    nxt = "   + dL/da_t[{}] (from step t+1)"
    squash = "c_t" if variant == "noaf" else "tanh(c_t)"
    dsquash = "" if variant == "noaf" else " ⊙ (1 - tanh²(c_t))"
    rows = [("d_h", "dL/dh_t", "(from the output at t) + (from step t+1)")]
    if fgr:
        rows.append(("d_a_state", "dL/da_t", "(from step t+1, whose gates read a_t)"))
    if "o" in gates:
        rows.append(("d_o", "dL/do_t", f"dL/dh_t ⊙ {squash}" + (nxt.format("o") if fgr else "")))
    o = " ⊙ o_t" if "o" in gates else ""
    rows.append(("d_c", "dL/dc_t", f"dL/dh_t{o}{dsquash} + (from step t+1)"))
    if "f" in gates or variant == "cifg":
        rows.append(("d_f", "dL/df_t", "dL/dc_t ⊙ c_{t-1}" + (nxt.format("f") if fgr else "")))
    if "i" in gates:
        rows.append(("d_i", "dL/di_t", "dL/dc_t ⊙ g_t"
                     + ("" if variant != "cifg" else " - dL/df_t   (f_t = 1 - i_t)")
                     + (nxt.format("i") if fgr else "")))
    rows.append(("d_g", "dL/dg_t", "dL/dc_t ⊙ i_t" if "i" in gates else "dL/dc_t   (i_t = 1)"))
    local = {"i": "dL/di ⊙ i(1-i)", "f": "dL/df ⊙ f(1-f)", "o": "dL/do ⊙ o(1-o)",
             "g": "dL/dg" if variant == "niaf" else "dL/dg ⊙ (1-g²)"}
    rows.append((f"d_{a}", f"dL/d{a}_t", "[" + " | ".join(local[gate] for gate in gates) + "]"))
    rows.append(("d_h_prev", "dL/dh_{t-1}", f"W_hhᵀ dL/d{a}_t   (sent to step t-1)"))
    rows.append(("d_c_prev", "dL/dc_{t-1}",
                 ("dL/dc_t ⊙ f_t" if variant != "nfg" else "dL/dc_t   (f_t = 1)")
                 + "   (sent to step t-1)"))
    if fgr:
        rows.append(("d_a_prev", "dL/da_{t-1}",
                     "W_ahᵀ [dL/dz_i | dL/dz_f | dL/dz_o]   (sent to step t-1)"))
    return rows


def _mut_backward_rows(kind: int) -> list[tuple[str, str, str]]:
    """The backward rows of MUT1-3 (the notes of ``MUT.step_backward``)."""
    through_z = {
        1: "",
        2: " + W_hzᵀ dL/da^z_t",
        3: " + (W_hzᵀ dL/da^z_t) ⊙ (1 - tanh²(h_{t-1}))",
    }[kind]
    return [
        ("d_h", "dL/dh_t", "(from the output at t) + (from step t+1)"),
        ("d_n", "dL/dn_t", "dL/dh_t ⊙ z_t"),
        ("d_z", "dL/dz_t", "dL/dh_t ⊙ (n_t - h_{t-1})"),
        ("d_s", "dL/ds_t", "W_hhᵀ (dL/dn_t ⊙ (1 - n_t²))"),
        ("d_r", "dL/dr_t", "dL/ds_t ⊙ h_{t-1}"),
        ("d_a", "dL/da_t",
         "[dL/dz ⊙ z(1-z) | dL/dr ⊙ r(1-r) | dL/dn ⊙ (1-n²)] = [dL/da^z | dL/da^r | dL/da^n]"
         "   (= dL/du_t)"),
        ("d_h_prev", "dL/dh_{t-1}",
         f"dL/dh_t ⊙ (1 - z_t) + dL/ds_t ⊙ r_t + W_hrᵀ dL/da^r_t{through_z}   "
         "(sent to step t-1)"),
    ]


@dataclass
class Trace:
    """A worked solution: every number of one forward (and backward) pass.

    Attributes:
        network: the one-layer network.
        params: the parameters under their spec names (as given, less any ``_l0``).
        x: inputs ``[B, T, I]``.
        batched: whether the inputs were a batch (JSON keeps the batch axis then).
        initial_state: the state before step 1, ``[B, ·]`` per component.
        steps: per step ``t`` (0-based), symbol -> value ``[B, ·]`` (pre-activations, gates,
            state, output).
        hidden: ``[B, T, H]`` the hidden state ``h_t``.
        outputs: ``[B, T, O]`` the outputs ``y_t``.
        loss_name, loss, loss_per_step, mask, targets: the loss (``None`` without targets);
            its terms ``[B, T]``; where targets were given; the targets ``[B, T, O]``.
        backward: per step, symbol -> intermediate gradient ``[B, ·]``.
        step_grads: per step, parameter name -> that step's share of ``dL/dθ``.
        grads: ``dL/dθ`` summed over the steps.
        lr, updated: the learning rate and ``θ - lr dL/dθ`` (``None`` without ``lr``).
        lengths: each sequence's true length ``[B]``, or ``None``: every sequence has ``T``
            steps.
    """

    network: Network
    params: dict[str, np.ndarray]
    x: np.ndarray
    batched: bool
    initial_state: tuple[np.ndarray, ...]
    steps: list[dict[str, np.ndarray]]
    hidden: np.ndarray
    outputs: np.ndarray
    loss_name: str | None = None
    loss: float | None = None
    loss_per_step: np.ndarray | None = None
    mask: np.ndarray | None = None
    targets: np.ndarray | None = None
    backward: list[dict[str, np.ndarray]] | None = None
    step_grads: list[dict[str, np.ndarray]] | None = None
    grads: dict[str, np.ndarray] | None = None
    lr: float | None = None
    updated: dict[str, np.ndarray] | None = None
    lengths: np.ndarray | None = None

    @property
    def valid(self) -> np.ndarray:
        """``[B, T]`` booleans: ``True`` at the steps within each sequence's length."""
        B, T = self.x.shape[:2]
        if self.lengths is None:
            return np.ones((B, T), dtype=bool)
        return lengths_mask(self.lengths, T)

    @property
    def network_params(self) -> dict[str, np.ndarray]:
        """The parameters under the network's names (``weight_ih_l0`` ...)."""
        return {_internal(k, self.network): v for k, v in self.params.items()}

    def gradient_flow(self) -> np.ndarray:
        """``‖dL/dh_t‖`` per step with the loss of the last step only (:mod:`.flow`).

        With a target at the last step, ``L`` is its loss; otherwise the sum of the last
        outputs.

        Raises:
            ValueError: the sequences are not all ``T`` steps long (``lengths``).
        """
        from rnnkit.reference.flow import gradient_flow

        if not self.valid.all():
            raise ValueError("The gradient flow is drawn for sequences of one length; "
                             f"`lengths` {self.lengths.tolist()} cut some short.")  # type: ignore[union-attr]

        init = tuple(s[None] for s in self.initial_state)
        last_has_target = self.mask is not None and bool(self.mask[:, -1].all())
        targets = self.targets if last_has_target else None
        return gradient_flow(
            self.network, self.network_params, self.x, targets=targets,
            loss=self.loss_name, initial_state=init,
        )

    # -- JSON --------------------------------------------------------------------------------

    def _value(self, a: np.ndarray, t: int | None = None) -> Any:
        """A ``[B, ·]`` value as a list, without the batch axis for a single sequence; with
        ``t``, ``None`` for each sequence past its end at step ``t``."""
        rows = [None if t is not None and not self.valid[b, t] else row.tolist()
                for b, row in enumerate(a)]
        return rows if self.batched else rows[0]

    def to_json(self) -> dict[str, Any]:
        """The numbers as one JSON-ready dict.

        Keys: ``hidden`` and ``outputs`` (lists over steps), ``steps`` (per step, symbol ->
        value), and with targets ``loss``, ``loss_per_step``, ``grads`` (spec name -> nested
        lists), ``backward``, ``step_grads``, and with a learning rate ``lr``, ``updated``;
        with ``lengths`` also ``lengths``. A sequence past its end has ``null`` in ``steps``
        and ``backward`` (and 0 in ``hidden``, ``outputs`` and ``loss_per_step``).
        """
        T = self.x.shape[1]
        out: dict[str, Any] = {
            "cell": self.network.spec.name,
            "hidden": [self._value(self.hidden[:, t]) for t in range(T)],
            "outputs": [self._value(self.outputs[:, t]) for t in range(T)],
            "steps": [{k: self._value(v, t) for k, v in s.items()}
                      for t, s in enumerate(self.steps)],
        }
        if self.loss is not None:
            terms = self.loss_per_step if self.loss_per_step is not None else np.zeros((1, T))
            out["loss"] = self.loss
            out["loss_per_step"] = [
                (terms[:, t].tolist() if self.batched else float(terms[0, t])) for t in range(T)
            ]
            out["grads"] = {k: v.tolist() for k, v in (self.grads or {}).items()}
            out["backward"] = [
                {k: self._value(v, t) for k, v in s.items()}
                for t, s in enumerate(self.backward or [])
            ]
            out["step_grads"] = [
                {k: v.tolist() for k, v in s.items()} for s in (self.step_grads or [])
            ]
        if self.updated is not None:
            out["lr"] = self.lr
            out["updated"] = {k: v.tolist() for k, v in self.updated.items()}
        if self.lengths is not None:
            out["lengths"] = self.lengths.tolist()
        return out

    # -- text --------------------------------------------------------------------------------

    def format(self, decimals: int = 6) -> str:
        """The worked solution as text, the way it is written by hand."""
        net = self.network
        spec = net.spec
        T = self.x.shape[1]
        B = self.x.shape[0]

        def fmt(a: np.ndarray, per_sequence: bool = True) -> str:
            """A value on one line; a ``[1, ·]`` per-sequence value without its batch axis."""
            a = np.asarray(a)
            if per_sequence and not self.batched and a.ndim >= 1 and a.shape[0] == 1:
                a = a[0]
            return _nested(np.round(a, decimals) + 0.0, decimals)  # + 0.0 turns -0.0 into 0.0

        valid = self.valid

        def fmt_at(a: np.ndarray, t: int) -> str:
            """A ``[B, ·]`` value of step ``t``: a sequence past its end has none."""
            if valid[:, t].all():
                return fmt(a)
            if not self.batched:
                return "(past its end)"
            return "[" + ", ".join(
                fmt(row, per_sequence=False) if valid[b, t] else "(past its end)"
                for b, row in enumerate(np.asarray(a))
            ) + "]"

        def at(text: str, t: int) -> str:
            """Write the generic step ``t`` of an equation as the step number ``t + 1``."""
            return text.replace("{t-1}", f"{t}").replace("_t", f"_{t + 1}")

        lines = []
        if isinstance(spec, VariantSpec):
            title = spec.description  # "LSTM with coupled input and forget gate (f = 1 - i)"
        else:
            title = {
                "rnn": f"Elman network ({net.nonlinearity} hidden units)",
                "jordan": f"Jordan network ({net.nonlinearity} hidden units, "
                          f"{net.output_activation} outputs fed back)",
                "lstm": "LSTM", "peephole_lstm": "LSTM with peepholes", "gru": "GRU",
            }[spec.name]
        if net.layer_norm:
            title += " with layer normalisation"
        sizes = f"I={net.input_size}, H={net.hidden_size}"
        if net.output_size is not None:
            sizes += f", O={net.output_size}"
        lines.append(f"{title}: {sizes}, T={T}" + (f", batch of {B}" if self.batched else ""))
        if spec.name != "jordan" and not net.has_output_layer:
            lines.append(
                "No output layer (no weight_hy given): the output y_t is the hidden state h_t."
            )
        elif net.has_output_layer:
            g = net.output_activation
            lines.append(
                "Output layer: q_t = W_hy h_t + b_y, y_t = "
                + (f"{g}(q_t)" if g != "identity" else "q_t")
            )
        lines.append("Parameters (torch layout: W x is the matrix product with x as a column):")
        for name, value in self.params.items():
            lines.append(f"  {name} = {fmt(value, per_sequence=False)}")
        for name, s in zip(spec.state_names, self.initial_state, strict=True):
            lines.append(f"  {name}_0 = {fmt(s)}")
        if self.lengths is not None:
            lines.append(
                "Lengths: " + ", ".join(f"sequence {b + 1} has {n}" for b, n in
                                        enumerate(self.lengths.tolist()))
                + " step(s); past its end a sequence's state is frozen (s_t = s_{t-1}), its "
                "output is 0 and it has no loss term."
            )
        lines.append("")
        lines.append("Forward pass")
        rows = _forward_rows(net)
        for t in range(T):
            lines.append(f"t = {t + 1}")
            lines.append(f"  x_{t + 1} = {fmt_at(self.x[:, t], t)}")
            if not valid[:, t].all():
                ended = [str(b + 1) for b in range(B) if not valid[b, t]]
                lines.append(f"  sequence {', '.join(ended)} past its end: state frozen, "
                             f"s_{t + 1} = s_{t}; output 0")
            for key, sym, eq in rows:
                lines.append(f"  {sym}_{t + 1} = {at(eq, t)}")
                lines.append(f"      = {fmt_at(self.steps[t][key], t)}")
            if net.has_output_layer:
                g = net.output_activation
                lines.append(f"  q_{t + 1} = W_hy h_{t + 1} + b_y = "
                             f"{fmt_at(self.steps[t]['q'], t)}")
                y_eq = f"{g}(q_{t + 1})" if g != "identity" else f"q_{t + 1}"
                lines.append(f"  y_{t + 1} = {y_eq} = {fmt_at(self.steps[t]['y'], t)}")
            elif spec.name != "jordan":
                lines.append(f"  y_{t + 1} = h_{t + 1}")
        if self.loss is None:
            return "\n".join(lines)
        lines.append("")
        lines.append(f"Loss ({self.loss_name}, summed over the steps): L = Σ_t L_t")
        terms = self.loss_per_step if self.loss_per_step is not None else np.zeros((B, T))
        for t in range(T):
            if self.mask is not None and not self.mask[:, t].any():
                lines.append(f"  L_{t + 1} = (no target)")
                continue
            lines.append(f"  L_{t + 1} = {fmt_at(terms[:, t][:, None], t)}")
        lines.append(f"  L = {self.loss:.{decimals}f}")
        lines.append("")
        lines.append("Backward pass through time (from t = T down to 1)")
        brow = _backward_rows(net)
        for t in reversed(range(T)):
            step = (self.backward or [])[t]
            lines.append(f"t = {t + 1}")
            if not valid[:, t].all():
                ended = [str(b + 1) for b in range(B) if not valid[b, t]]
                lines.append(f"  sequence {', '.join(ended)} past its end: no gradient (no loss "
                             "term, and its frozen state feeds only steps past the end)")
            if net.has_output_layer:
                lines.append(f"  dL/dy_{t + 1} = {fmt_at(step['d_y'], t)}")
                lines.append(f"  dL/dq_{t + 1} = g'(q_{t + 1})ᵀ dL/dy_{t + 1} = "
                             f"{fmt_at(step['d_q'], t)}")
            for key, sym, eq in brow:
                if key not in step:
                    continue
                lines.append(f"  {at(sym, t)} = {at(eq, t)}")
                lines.append(f"      = {fmt_at(step[key], t)}")
            lines.append("  this step's share of the parameter gradients:")
            for name, value in (self.step_grads or [])[t].items():
                lines.append(f"    dL/d{name} += {fmt(value, per_sequence=False)}")
        lines.append("")
        lines.append("Gradients (summed over t)")
        for name, value in (self.grads or {}).items():
            lines.append(f"  dL/d{name} = {fmt(value, per_sequence=False)}")
        if self.updated is not None:
            lines.append("")
            lines.append(f"After one SGD step, θ ← θ - η dL/dθ with η = {self.lr:g}")
            for name, value in self.updated.items():
                lines.append(f"  {name} = {fmt(value, per_sequence=False)}")
        return "\n".join(lines)


def explain(
    cell: str,
    params: Mapping[str, object],
    inputs: object,
    *,
    targets: object = None,
    nonlinearity: str = "tanh",
    output_activation: str | None = None,
    loss: str | None = None,
    lr: float | None = None,
    variant: str = "vanilla",
    lengths: object = None,
) -> Trace:
    """Run a one-layer network on ``inputs`` and record the worked solution.

    Args:
        cell: ``rnn``/``elman``, ``jordan``, ``lstm``, ``peephole_lstm``/``peephole``,
            ``gru``, ``mut1``, ``mut2``, ``mut3``.
        params: spec names -> nested lists or arrays (see the module docstring).
        inputs: a list of steps, or a list of sequences (:func:`parse_inputs`), or an array
            ``[B, T, I]``.
        targets: one target per step (``None`` for none; :func:`parse_targets`), or a
            ``[B, T, O]`` array; without targets only the forward pass is traced.
        nonlinearity: ``tanh`` or ``relu`` (``rnn``, ``jordan``).
        output_activation: identity, sigmoid, tanh or softmax.
        loss: ``mse``, ``bce`` or ``ce`` (default from the output activation).
        lr: the learning rate of the SGD step shown at the end (needs targets).
        variant: an LSTM gate ablation for ``lstm`` (``nig``, ``nfg``, ``nog``, ``niaf``,
            ``noaf``, ``cifg``, ``fgr``; :mod:`rnnkit.spec_variants`) or ``vanilla``.
        lengths: ``B`` ints in ``[1, T]``, each sequence's true length (the inputs padded
            past it), or ``None``: every sequence has ``T`` steps.

    Returns:
        A :class:`Trace`.

    Raises:
        ValueError: bad parameters (named, with both shapes), inputs, targets, lengths or
            options; an unknown variant or a variant for a cell other than ``lstm``; a loss
            not defined on the outputs (``bce`` needs sigmoid or softmax outputs, ``ce``
            softmax outputs: :func:`rnnkit.reference.losses.check_loss_activation`), refused
            before any computation; numbers too large for float64 (a value overflows to
            infinity or NaN, named), so a trace never holds one; an output that saturates to
            exactly 0 or 1 where the loss needs its log (:func:`.losses.saturated`).

    Example:
        >>> params = {"weight_ih": [[0.5], [1.0], [-0.5]], "weight_hh": [[0.1], [0.2], [0.3]]}
        >>> trace = explain("lstm", params, [[1.0], [-1.0]], variant="cifg")
        >>> [key for key in trace.steps[0]]
        ['a', 'i', 'f', 'g', 'c', 'o', 'h']
        >>> bool(np.allclose(trace.steps[0]["f"], 1 - trace.steps[0]["i"]))
        True
    """
    network, p, init = build_network(
        cell, params, nonlinearity=nonlinearity, output_activation=output_activation,
        variant=variant,
    )
    loss_name = default_loss(network.output_activation)
    if loss is not None:
        has_outputs = network.has_output_layer or network.spec.name == "jordan"
        loss_name = losses.check_loss_activation(
            loss, network.output_activation if has_outputs else None,
            output_layer="`weight_hy` in the parameters",
        )
    if isinstance(inputs, np.ndarray):
        x, batched = np.asarray(inputs, dtype=np.float64), inputs.ndim == 3
        x = x if x.ndim == 3 else x.reshape(1, x.shape[0], -1)
    else:
        x, batched = parse_inputs(inputs)
    B, T, I = x.shape
    if network.input_size != I:
        raise ValueError(
            f"Argument `inputs` has {I} numbers per step, but weight_ih has shape "
            f"{tuple(p['weight_ih_l0'].shape)}: expected {network.input_size} per step."
        )
    if lr is not None and targets is None:
        raise ValueError("Argument `lr` needs targets: an SGD step needs a loss to descend.")
    if lr is not None and (
        isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < np.inf
    ):
        raise ValueError(f"Argument `lr` must be a positive finite number, got {lr!r}.")
    n = check_lengths(lengths, B, T)
    if init is not None:
        init = tuple(np.broadcast_to(s, (1, B, s.shape[-1])).copy() for s in init)
    # an overflow is not warned about here but refused at the end, naming the value
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        trace = _run(network, p, x, batched, init, n, targets, loss_name, lr)
    _check_finite(trace)
    return trace


def _run(
    network: Network,
    p: dict[str, np.ndarray],
    x: np.ndarray,
    batched: bool,
    init: tuple[np.ndarray, ...] | None,
    n: np.ndarray | None,
    targets: object,
    loss_name: str,
    lr: float | None,
) -> Trace:
    """The computation of :func:`explain` once its arguments are checked."""
    B, T, _ = x.shape
    fwd = network.forward(p, x, init, n)
    run = fwd.runs[0][0]
    rows = _forward_rows(network)
    steps = [_step_values(rows, run.caches[t], run.states[t], network.spec) for t in range(T)]
    hidden = np.stack([run.caches[t]["h"] for t in range(T)], axis=1)          # [B, T, H]
    if n is not None:  # the network's output past each end: 0
        hidden = np.where(lengths_mask(n, T)[..., None], hidden, 0.0)
    if network.has_output_layer:
        z = fwd.pre_activations
        for t in range(T):
            steps[t]["q"] = z[:, t]  # type: ignore[index]
            steps[t]["y"] = fwd.outputs[:, t]
    trace = Trace(
        network=network,
        params={_external(k): v for k, v in p.items()},
        x=x,
        batched=batched,
        initial_state=run.initial,
        steps=steps,
        hidden=hidden,
        outputs=fwd.outputs,
        lengths=n,
    )
    if targets is None:
        return trace
    O = fwd.outputs.shape[-1]
    if isinstance(targets, np.ndarray):
        target_array, mask = targets, np.ones((B, T), dtype=bool)
    else:
        target_array, mask = parse_targets(targets, loss_name, B, T, O, batched)
    mask = mask & trace.valid  # no loss term past a sequence's end
    t_full = losses.check_targets(loss_name, fwd.outputs, target_array)
    stuck = np.argwhere(losses.saturated(loss_name, fwd.outputs, t_full) & mask)
    if stuck.size:
        b, t = stuck[0]
        raise ValueError(
            f"The loss cannot be computed in float64: at step {t + 1}"
            + (f" of sequence {b + 1}" if batched else "")
            + f" the outputs {_nested(fwd.outputs[b, t], 6)} hold an exact 0 or 1 where the "
            f"'{loss_name}' target {_nested(t_full[b, t], 6)} needs its log to be finite; give "
            f"targets the outputs can reach or smaller output-layer weights."
        )
    value, d_out = losses.loss(loss_name, fwd.outputs, t_full, mask=mask)
    terms, _ = losses.loss_terms(loss_name, fwd.outputs, t_full)
    trace.loss_name, trace.loss, trace.mask, trace.targets = loss_name, value, mask, t_full
    trace.loss_per_step = terms * mask
    _trace_backward(trace, network, p, fwd, d_out)
    if lr is not None:
        trace.lr = float(lr)
        trace.updated = {
            k: v - lr * trace.grads[k] for k, v in trace.params.items()  # type: ignore[index]
        }
    return trace


def _check_finite(trace: Trace) -> None:
    """Refuse a trace with an infinite or NaN number, naming the first (in the order a worked
    solution shows them): finite parameters and inputs can still overflow float64."""
    values: list[tuple[str, Any]] = []
    for t, step in enumerate(trace.steps):
        values += [(f"`{k}` at step {t + 1} of the forward pass", v) for k, v in step.items()]
    values += [("the hidden states", trace.hidden), ("the outputs", trace.outputs)]
    if trace.loss is not None:
        values += [("the loss", trace.loss_per_step), ("the loss", trace.loss)]
    for t, step in reversed(list(enumerate(trace.backward or []))):
        values += [(f"`{k}` at step {t + 1} of the backward pass", v) for k, v in step.items()]
    for t, step in reversed(list(enumerate(trace.step_grads or []))):
        values += [(f"step {t + 1}'s share of dL/d{k}", v) for k, v in step.items()]
    values += [(f"dL/d{k}", v) for k, v in (trace.grads or {}).items()]
    values += [(f"the updated {k}", v) for k, v in (trace.updated or {}).items()]
    for what, value in values:
        if not np.all(np.isfinite(value)):
            raise ValueError(
                f"The numbers overflow float64: {what} is infinite or NaN, so there is no worked "
                f"solution to show; give smaller parameters, inputs or learning rate."
            )


def _trace_backward(
    trace: Trace, network: Network, p: dict[str, np.ndarray], fwd: Forward, d_out: np.ndarray
) -> None:
    """Backpropagation through time one step at a time, keeping each step's share."""
    cell = network.cell
    run = fwd.runs[0][0]
    T = fwd.x.shape[0]
    cell_p = network.layer_params(p, 0, 0)
    d_state = tuple(np.zeros_like(s) for s in run.initial)
    _, renamed = _renames(network.spec)
    # Past a sequence's end no gradient arises: its outputs there have no loss term and its
    # frozen state feeds only later steps past the end (a worked solution has no loss on the
    # final state), so dL/ds_t = 0 at those steps and the plain step below passes zeros.
    backward: list[dict[str, np.ndarray]] = [{} for _ in range(T)]
    step_grads: list[dict[str, np.ndarray]] = [{} for _ in range(T)]
    for t in reversed(range(T)):
        g = zeros_like(p)
        notes: dict[str, np.ndarray] = {}
        d_y = d_out[:, t]                                                      # [B, O]
        if network.has_output_layer:
            # dL/dq_t = g'(q_t)ᵀ dL/dy_t;  dW_hy += dL/dq_tᵀ h_t;  dL/dh_t += W_hyᵀ dL/dq_t
            d_q = activate_backward(network.output_activation, d_y, fwd.outputs[:, t])
            h_t = run.caches[t]["h"]
            g["weight_hy"] += d_q.T @ h_t
            if "bias_y" in g:
                g["bias_y"] += d_q.sum(axis=0)
            notes["d_y"], notes["d_q"] = d_y, d_q
            d_from_output = d_q @ p["weight_hy"]
        else:
            d_from_output = d_y
        d_state = (d_state[0] + d_from_output, *d_state[1:])
        g_cell = network.layer_params(g, 0, 0)
        cell_notes: dict[str, np.ndarray] = {}
        d_u, d_state = cell.step_backward(cell_p, d_state, run.caches[t], g_cell, cell_notes)
        notes.update({renamed.get(k, k): v for k, v in cell_notes.items()})
        cell.project_input_backward(cell_p, d_u[None], run.in_cache.time_slice(t, t + 1), g_cell)
        backward[t] = notes
        step_grads[t] = {_external(k): v for k, v in g.items()}
    trace.backward = backward
    trace.step_grads = step_grads
    total = {_external(k): np.zeros_like(v) for k, v in p.items()}
    for shares in step_grads:
        for k, v in shares.items():
            total[k] += v
    trace.grads = total
