"""Gradient check: the backward pass against centred finite differences.

For every entry ``θ_i`` of every tensor checked (each parameter, the inputs, the initial
state), the five-point centred difference::

    numeric_i = (f(θ - 2ε e_i) - 8 f(θ - ε e_i) + 8 f(θ + ε e_i) - f(θ + 2ε e_i)) / (12ε)

whose error is ``O(ε⁴)`` (the three-point ``(f(θ + ε e_i) - f(θ - ε e_i)) / 2ε`` is
``O(ε²)``, too coarse where layer normalisation of a few units curves the loss sharply)
and each tensor's error is reported relative to its largest entry::

    error = max_i |analytic_i - numeric_i| / max(max_i |analytic_i|, max_i |numeric_i|, 1e-2)

Relative to the tensor, not entry by entry, so that an entry that is nearly zero in both
does not turn rounding noise into a large ratio; and never relative to less than
:data:`ERROR_FLOOR` = 1e-2, because the rounding noise of a finite difference, about
``1e-16 |f| / ε``, does not shrink with the gradient (a whole tensor of gradients near
``1e-6`` -- an initial state many squashing steps back -- is compared absolutely). In
float64 with ``ε = 1e-6`` a correct backward pass gives errors around ``1e-9`` or below; a
wrong one gives errors near 1 (or near ``|gradient| / 1e-2`` for a tensor of tiny gradients).

The scalar ``f`` is either a loss against targets, or ``Σ G ⊙ outputs + Σ G_s ⊙ final state``
with random upstream gradients ``G`` (never all ones, which would hide a transposed or
permuted gradient). With ``truncate=k`` the scalar is the *truncated* objective: the sum
over loss terms of each term computed by a forward pass over its window only, with the states
entering the window held at their unperturbed values -- an independent restatement of
:mod:`rnnkit.reference.network`'s definition, so the check tests that definition too. With
``lengths`` that restatement runs each sequence alone, cut to its own length (no masks at
all), which restates the meaning of ``lengths`` as well.

Examples:
    >>> from rnnkit.reference.network import Network
    >>> net = Network("gru", input_size=2, hidden_size=3)
    >>> result = check_network_gradients(net, net.init_params(seed=1),
    ...                                  np.random.default_rng(0).normal(size=(2, 3, 2)))
    >>> result.ok, sorted(result.errors)[:2]
    (True, ['bias_hh_l0', 'bias_ih_l0'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rnnkit.reference import losses
from rnnkit.reference.cells import Cell
from rnnkit.reference.network import Forward, Network
from rnnkit.reference.params import zeros_like

__all__ = [
    "DEFAULT_EPS",
    "DEFAULT_TOLERANCE",
    "ERROR_FLOOR",
    "GradcheckResult",
    "check_cell_gradients",
    "check_network_gradients",
    "numerical_gradient",
    "relative_error",
]

#: Step of the centred difference.
DEFAULT_EPS = 1e-6
#: The smallest scale an error is taken relative to (see the module docstring).
ERROR_FLOOR = 1e-2
#: Largest relative error that passes.
DEFAULT_TOLERANCE = 1e-6

State = tuple[np.ndarray, ...]


def numerical_gradient(
    f: Callable[[], float], array: np.ndarray, eps: float = DEFAULT_EPS, order: int = 4
) -> np.ndarray:
    """Centred finite differences of ``f()`` with respect to every entry of ``array``.

    ``array`` is perturbed in place, one entry at a time, and restored; ``f`` must read it.

    Args:
        f: the scalar function.
        array: the tensor to differentiate against.
        eps: the step ``ε``.
        order: 2 for ``(f(θ+ε) - f(θ-ε)) / 2ε`` (error ``O(ε²)``), 4 for the five-point
            stencil ``(f(θ-2ε) - 8 f(θ-ε) + 8 f(θ+ε) - f(θ+2ε)) / 12ε`` (error ``O(ε⁴)``).

    >>> a = np.array([1.0, 2.0])
    >>> np.round(numerical_gradient(lambda: float((a ** 3).sum()), a), 6).tolist()
    [3.0, 12.0]
    """
    if order not in (2, 4):
        raise ValueError(f"Argument `order` must be 2 or 4, got {order!r}.")
    stencil = {
        2: ((1, 0.5), (-1, -0.5)),
        4: ((-2, 1 / 12), (-1, -8 / 12), (1, 8 / 12), (2, -1 / 12)),
    }
    grad = np.zeros_like(array)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        total = 0.0
        for k, weight in stencil[order]:
            flat[i] = original + k * eps
            total += weight * f()
        flat[i] = original
        out[i] = total / eps
    return grad


def relative_error(
    analytic: np.ndarray, numeric: np.ndarray, floor: float = ERROR_FLOOR
) -> float:
    """``max |a - n| / max(max |a|, max |n|, floor)``.

    >>> round(relative_error(np.array([1.0, 0.0]), np.array([1.001, 0.0])), 9)
    0.000999001
    >>> round(relative_error(np.array([2e-6]), np.array([1e-6])), 9)  # absolute / 1e-2
    0.0001
    """
    scale = max(float(np.max(np.abs(analytic), initial=0.0)),
                float(np.max(np.abs(numeric), initial=0.0)), floor)
    return float(np.max(np.abs(analytic - numeric), initial=0.0) / scale)


@dataclass
class GradcheckResult:
    """Per-tensor relative errors of a gradient check.

    Attributes:
        errors: tensor name -> max relative error.
        shapes: tensor name -> shape.
        tolerance: the largest error that passes.
    """

    errors: dict[str, float]
    shapes: dict[str, tuple[int, ...]]
    tolerance: float

    @property
    def ok(self) -> bool:
        """Whether every tensor's error is below the tolerance."""
        return all(e < self.tolerance for e in self.errors.values())

    @property
    def failures(self) -> list[str]:
        """The tensors whose error is not below the tolerance."""
        return [name for name, e in self.errors.items() if not e < self.tolerance]

    def table(self) -> str:
        """A table: tensor, shape, max relative error, ok/FAIL."""
        width = max([len("tensor"), *map(len, self.errors)])
        lines = [f"{'tensor':<{width}}  {'shape':<14} {'max rel error':>13}  result"]
        for name, err in self.errors.items():
            verdict = "ok" if err < self.tolerance else "FAIL"
            lines.append(
                f"{name:<{width}}  {self.shapes[name]!s:<14} {err:>13.3e}  {verdict}"
            )
        lines.append(
            f"{'all ' + str(len(self.errors)) + ' tensors':<{width}}  {'':<14} "
            f"{max(self.errors.values(), default=0.0):>13.3e}  "
            + ("ok" if self.ok else f"FAIL (tolerance {self.tolerance:g})")
        )
        return "\n".join(lines)


def _compare(
    objective: Callable[[], float],
    tensors: Mapping[str, np.ndarray],
    analytic: Mapping[str, np.ndarray],
    eps: float,
    tolerance: float,
) -> GradcheckResult:
    errors, shapes = {}, {}
    for name, array in tensors.items():
        numeric = numerical_gradient(objective, array, eps)
        errors[name] = relative_error(analytic[name], numeric)
        shapes[name] = tuple(array.shape)
    return GradcheckResult(errors, shapes, tolerance)


def _check_float64(params: Mapping[str, np.ndarray]) -> None:
    for name, value in params.items():
        if not isinstance(value, np.ndarray) or value.dtype != np.float64:
            dtype = getattr(value, "dtype", type(value).__name__)
            raise ValueError(
                f"A gradient check needs float64 parameters; parameter `{name}` is {dtype}."
            )


def check_cell_gradients(
    cell: Cell,
    params: Mapping[str, np.ndarray],
    x_t: np.ndarray,
    state: State,
    *,
    seed: int = 0,
    eps: float = DEFAULT_EPS,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GradcheckResult:
    """Check one step of ``cell``: ``f = Σ_j G_j ⊙ new_state_j`` with random ``G_j``.

    Args:
        cell: a reference cell.
        params: its parameters (float64).
        x_t: ``[B, I]`` input (float64).
        state: the state tuple before the step (float64).
        seed: seeds the upstream gradients.
        eps: finite-difference step.
        tolerance: largest error that passes.

    Returns:
        :class:`GradcheckResult` over every parameter, ``x_t`` and each state component.
    """
    _check_float64(params)
    params = dict(params)
    state = tuple(np.array(s, dtype=np.float64) for s in state)
    x_t = np.array(x_t, dtype=np.float64)
    rng = np.random.default_rng(seed)
    _, new_state, cache = cell.forward(params, x_t, state)
    upstream = tuple(rng.normal(size=s.shape) for s in new_state)

    def objective() -> float:
        _, s, _ = cell.forward(params, x_t, state)
        return float(sum((g * v).sum() for g, v in zip(upstream, s, strict=True)))

    grads = zeros_like(params)
    d_x, d_state = cell.backward(params, upstream, cache, grads)
    tensors = dict(params)
    analytic = dict(grads)
    tensors["x_t"], analytic["x_t"] = x_t, d_x
    for name, s, d in zip(cell.spec.state_names, state, d_state, strict=True):
        tensors[f"{name}_prev"], analytic[f"{name}_prev"] = s, d
    return _compare(objective, tensors, analytic, eps, tolerance)


def check_network_gradients(
    network: Network,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    *,
    initial_state: State | None = None,
    targets: object = None,
    loss: str | None = None,
    mask: np.ndarray | None = None,
    reduction: str = "sum",
    truncate: int | None = None,
    lengths: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
    eps: float = DEFAULT_EPS,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GradcheckResult:
    """Check :meth:`Network.backward` for every parameter, the inputs and the initial state.

    Args:
        network: the network.
        params: its parameters, float64.
        x: inputs ``[B, T, I]``.
        initial_state: ``[L*D, B, ·]`` arrays; default random (so its gradient is checked at a
            state that is not special).
        targets: with targets, ``f`` is the loss (``loss``, ``mask``, ``reduction`` as in
            :meth:`Network.loss`); without, ``f = Σ G ⊙ outputs + Σ G_s ⊙ final state`` with
            random ``G`` drawn from ``seed``.
        truncate: check truncated BPTT (see the module docstring).
        lengths: each sequence's true length, as :meth:`Network.forward` (the loss then
            counts the valid steps only, :meth:`Network.loss`).
        seed: seeds the random initial state and upstream gradients.
        eps: finite-difference step.
        tolerance: largest error that passes.

    Returns:
        :class:`GradcheckResult` with one entry per parameter, ``inputs`` and
        ``initial_state[name]`` per state component.

    Raises:
        ValueError: parameters that are not float64, a loss not defined on the network's
            outputs (:meth:`Network.check_loss`), or anything :meth:`Network.forward` refuses.
    """
    _check_float64(params)
    loss_name = network.check_loss(loss)
    params = dict(params)
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)
    B = x.shape[0]
    if initial_state is None:
        init = tuple(0.5 * rng.normal(size=s.shape) for s in network.initial_state(B))
    else:
        init = tuple(np.array(s, dtype=np.float64) for s in initial_state)
    fwd0 = network.forward(params, x, init, lengths)
    g_out = rng.normal(size=fwd0.outputs.shape)
    g_final = tuple(rng.normal(size=s.shape) for s in fwd0.final_state)
    if targets is None:
        d_out, d_final = g_out, g_final
    else:
        _, d_out = network.loss(fwd0, targets, loss=loss_name, mask=mask, reduction=reduction)
        d_final = None
        t_full = losses.check_targets(loss_name, fwd0.outputs, targets)
        counted = fwd0.loss_mask(mask)
        weights = (
            np.ones(fwd0.outputs.shape[:-1]) if counted is None
            else np.asarray(counted, dtype=float)
        )
        scale = 1.0 / weights.sum() if reduction == "mean" and weights.sum() > 0 else 1.0
    grads = network.backward(params, fwd0, d_out, d_final, truncate=truncate)

    def term_value(
        y: np.ndarray, final: State | None, t: int, with_final: tuple[bool, bool],
        rows: slice,
    ) -> float:
        """The loss term of step ``t`` of the sequences ``rows`` from their outputs ``y``."""
        if targets is not None:
            if network.many_to_one:
                terms, _ = losses.loss_terms(loss_name, y, t_full[rows])
                return float((terms * weights[rows]).sum() * scale)
            terms, _ = losses.loss_terms(loss_name, y, t_full[rows, t])
            return float((terms * weights[rows, t]).sum() * scale)
        g = g_out[rows] if network.many_to_one else g_out[rows, t]
        value = float((g * y).sum())
        if final is not None:  # the final state's term: forward directions at T-1, backward at 0
            D = network.num_directions
            for s, g_s in zip(final, g_final, strict=True):
                for row in range(s.shape[0]):
                    if with_final[row % D]:
                        value += float((g_s[row, rows] * s[row]).sum())
        return value

    def objective() -> float:
        if truncate is not None:
            return _truncated_objective(
                network, params, x, init, fwd0, truncate, term_value, fwd0.lengths
            )
        fwd = network.forward(params, x, init, lengths)
        if targets is None:
            return float((g_out * fwd.outputs).sum()) + float(
                sum((g * s).sum() for g, s in zip(g_final, fwd.final_state, strict=True))
            )
        return network.loss(fwd, targets, loss=loss_name, mask=mask, reduction=reduction)[0]

    tensors: dict[str, np.ndarray] = dict(params)
    analytic: dict[str, np.ndarray] = dict(grads.params)
    tensors["inputs"], analytic["inputs"] = x, grads.inputs
    for name, s, d in zip(network.spec.state_names, init, grads.initial_state, strict=True):
        tensors[f"initial_state[{name}]"], analytic[f"initial_state[{name}]"] = s, d
    return _compare(objective, tensors, analytic, eps, tolerance)


def _truncated_objective(
    network: Network,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    init: State,
    fwd0: Forward,
    truncate: int,
    term_value: Callable[[np.ndarray, State | None, int, tuple[bool, bool], slice], float],
    lengths: np.ndarray | None = None,
) -> float:
    """``Σ_t L_t`` with each ``L_t`` from a forward pass over its window alone.

    Without lengths all sequences go together; with lengths each sequence ``b`` goes alone,
    cut to its own ``n_b`` steps, so its windows end at ``n_b - 1``.
    """
    T = x.shape[1]
    D, L = network.num_directions, network.num_layers
    runs = fwd0.runs
    groups = (
        [(slice(None), T)] if lengths is None
        else [(slice(b, b + 1), int(n)) for b, n in enumerate(lengths)]
    )
    total = 0.0
    for rows, T_b in groups:
        for t in [T_b - 1] if network.many_to_one else range(T_b):
            lo, hi = max(0, t - truncate + 1), min(T_b - 1, t + truncate - 1)
            # the states entering the window: unperturbed values from the full forward pass
            # (processing step T-2-hi of the backward direction is time hi + 1), except at a
            # sequence boundary, where the (perturbable) initial state enters
            entering = []
            for j in range(len(init)):
                parts = []
                for k in range(L):
                    for d in range(D):
                        if d == 0:
                            s = init[j][k * D] if lo == 0 else runs[k][0].states[lo - 1][j]
                        elif hi == T_b - 1:
                            s = init[j][k * D + 1]
                        else:
                            s = runs[k][1].states[T - 2 - hi][j]
                        parts.append(s[rows])
                entering.append(np.stack(parts))
            fwd = network.forward(params, x[rows, lo:hi + 1], tuple(entering))
            y = fwd.outputs if network.many_to_one else fwd.outputs[:, t - lo]
            with_final = (t == T_b - 1, t == 0)
            final = fwd.final_state if any(with_final) else None
            total += term_value(y, final, t, with_final, rows)
    return total
