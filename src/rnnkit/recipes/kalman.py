"""Benchmark: an RNN learns to filter a linear dynamical system as well as the Kalman filter.

The linear system (state ``h_t ∈ R²``, observation ``x_t ∈ R``), a damped rotation seen
through its first coordinate::

    h_t = A h_{t−1} + w_t,    w_t ~ N(0, Q),    A = ρ·[[cos θ, −sin θ], [sin θ, cos θ]]
    x_t = C h_t + v_t,        v_t ~ N(0, R),    C = [1, 0]

with ``ρ = 0.95``, ``θ = 0.3``, ``Q = 0.1·I``, ``R = 0.5`` and ``h_0 ~ N(0, P∞)``, ``P∞`` the
stationary covariance (``P∞ = A P∞ Aᵀ + Q``). The task: estimate ``h_t`` from
``x_1..x_t`` at every step ``t = 1..T``. The error measure is the mean over sequences and
steps of the squared Euclidean error ``‖ĥ_t − h_t‖²`` (for the Kalman filter its expectation
is ``trace P_t``).

The Kalman filter (:func:`kalman_filter`, NumPy float64, from the known prior ``N(0, P∞)``)
is the optimal estimator here::

    predict:  h⁻ = A ĥ,                P⁻ = A P Aᵀ + Q
    update:   K = P⁻ Cᵀ (C P⁻ Cᵀ + R)⁻¹,
              ĥ = h⁻ + K (x − C h⁻),   P = (I − K C) P⁻

The RNN estimator is a :class:`rnnkit.nn.GRU` with a linear read-out at every step,
trained with Adam (cosine decay) on the squared error, on fresh simulated sequences at
every step, and tested on the same fresh test sequences as the filter.

The nonlinear system keeps the dynamics and observes through a saturating sensor::

    x_t = tanh(4·C h_t) + v_t,    v_t ~ N(0, 0.02)

There no Gaussian filter is optimal. Two baselines run on it: the linear Kalman filter that
takes the sensor for linear (``x = C h + v``), and the extended Kalman filter (EKF), which
linearises the sensor at each predicted state (``H = 4·(1 − tanh²(4·C h⁻))·C`` in place of
``C`` and ``tanh(4·C h⁻)`` in place of ``C h⁻``). The headline of the nonlinear row compares
the RNN with the better of the two.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.nn import GRU
from rnnkit.recipes.common import RecipeContext, fmt, one_thread, table

__all__ = [
    "REDUCED_BOUND",
    "LinearGaussianSystem",
    "Settings",
    "kalman_filter",
    "linear_system",
    "nonlinear_system",
    "run",
    "stationary_covariance",
    "steady_state_covariance",
]

#: in the reduced setting the RNN's linear-system MSE stays below this multiple of the filter's
REDUCED_BOUND = 1.15
#: the gain of the nonlinear system's sensor ``tanh(SENSOR_GAIN · C h)``
SENSOR_GAIN = 4.0


@dataclass(frozen=True)
class Settings:
    """Sizes of the run (the systems themselves are fixed, see the module docstring)."""

    steps: int = 50  # time steps of every sequence
    hidden: int = 64  # GRU units
    iterations: int = 3000  # Adam steps, each on a fresh batch
    batch: int = 128  # sequences per step
    lr: float = 3e-3  # peak Adam learning rate (cosine decay to 0)
    test_sequences: int = 4000  # fresh test sequences (the same for every estimator)

    @classmethod
    def reduced(cls) -> Settings:
        """A run of a few seconds."""
        return cls(hidden=32, iterations=400, batch=64, test_sequences=500)

    @classmethod
    def full(cls) -> Settings:
        """The benchmark's setting."""
        return cls()


@dataclass(frozen=True)
class LinearGaussianSystem:
    """``h_t = A h_{t−1} + w_t``, ``x_t = g(C h_t) + v_t``, Gaussian ``w``, ``v``, ``h_0``.

    Attributes:
        A: ``[n, n]`` transition matrix.
        C: ``[m, n]`` observation matrix.
        Q: ``[n, n]`` covariance of ``w``.
        R: ``[m, m]`` covariance of ``v``.
        gain: ``None`` for ``g(z) = z``; else the sensor is ``g(z) = tanh(gain · z)``.
    """

    A: np.ndarray
    C: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    gain: float | None = None

    @property
    def prior_covariance(self) -> np.ndarray:
        """The covariance of ``h_0``: the stationary one."""
        return stationary_covariance(self.A, self.Q)

    def sense(self, z: np.ndarray) -> np.ndarray:
        """``g(z)``, the noiseless sensor applied to ``z = C h``."""
        return z if self.gain is None else np.tanh(self.gain * z)

    def sense_slope(self, z: np.ndarray) -> np.ndarray:
        """``g'(z)`` elementwise."""
        if self.gain is None:
            return np.ones_like(z)
        return self.gain * (1 - np.tanh(self.gain * z) ** 2)

    def simulate(
        self, sequences: int, steps: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``sequences`` runs of ``steps`` steps.

        Returns:
            ``(x, h)``: observations ``[B, T, m]`` and states ``[B, T, n]`` (``t = 1..T``).

        Raises:
            ValueError: ``sequences`` or ``steps`` is not a positive integer.
        """
        for name, value in (("sequences", sequences), ("steps", steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")
        n, m = self.A.shape[0], self.C.shape[0]
        Lq, Lr = np.linalg.cholesky(self.Q), np.linalg.cholesky(self.R)
        h = rng.standard_normal((sequences, n)) @ np.linalg.cholesky(self.prior_covariance).T
        hs = np.empty((sequences, steps, n))
        xs = np.empty((sequences, steps, m))
        for t in range(steps):
            h = h @ self.A.T + rng.standard_normal((sequences, n)) @ Lq.T
            hs[:, t] = h
            xs[:, t] = self.sense(h @ self.C.T) + rng.standard_normal((sequences, m)) @ Lr.T
        return xs, hs


def linear_system() -> LinearGaussianSystem:
    """The benchmark's linear system (see the module docstring)."""
    rho, theta = 0.95, 0.3
    A = rho * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return LinearGaussianSystem(A, np.array([[1.0, 0.0]]), 0.1 * np.eye(2), np.array([[0.5]]))


def nonlinear_system() -> LinearGaussianSystem:
    """The benchmark's nonlinear system: the same dynamics seen through ``tanh(4·h1) + v``."""
    lin = linear_system()
    return LinearGaussianSystem(lin.A, lin.C, lin.Q, np.array([[0.02]]), gain=SENSOR_GAIN)


def stationary_covariance(A: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """The ``P`` with ``P = A P Aᵀ + Q`` (``A`` stable), solved exactly via Kronecker products.

    Raises:
        ValueError: ``A`` has an eigenvalue of modulus ≥ 1.

    Example:
        >>> stationary_covariance(np.array([[0.5]]), np.array([[0.75]]))
        array([[1.]])
    """
    if np.max(np.abs(np.linalg.eigvals(A))) >= 1:
        raise ValueError("Argument `A` must have every eigenvalue inside the unit circle, "
                         f"got spectral radius {np.max(np.abs(np.linalg.eigvals(A))):g}.")
    n = A.shape[0]
    vec = np.linalg.solve(np.eye(n * n) - np.kron(A, A), Q.reshape(-1))
    P = vec.reshape(n, n)
    return (P + P.T) / 2


def steady_state_covariance(
    A: np.ndarray, C: np.ndarray, Q: np.ndarray, R: np.ndarray, *, tol: float = 1e-13
) -> np.ndarray:
    """The Kalman filter's steady-state (filtered) error covariance ``P``.

    Iterates ``P⁻ = A P Aᵀ + Q``, ``P = P⁻ − P⁻ Cᵀ (C P⁻ Cᵀ + R)⁻¹ C P⁻`` to convergence.

    Example:
        >>> P = steady_state_covariance(np.eye(1), np.eye(1), np.eye(1), np.eye(1))
        >>> round(float(P[0, 0]), 6)  # P = (P + 1) / (P + 2) → (√5 − 1) / 2
        0.618034
    """
    P = Q.copy()
    for _ in range(100_000):
        Pm = A @ P @ A.T + Q
        new = Pm - Pm @ C.T @ np.linalg.solve(C @ Pm @ C.T + R, C @ Pm)
        if np.max(np.abs(new - P)) < tol:
            return new
        P = new
    return P


def kalman_filter(
    x: np.ndarray,
    A: np.ndarray,
    C: np.ndarray,
    Q: np.ndarray,
    R: np.ndarray,
    m0: np.ndarray,
    P0: np.ndarray,
    *,
    sense: Callable[[np.ndarray], np.ndarray] | None = None,
    sense_slope: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The Kalman filter (or, with ``sense``, the extended Kalman filter), float64.

    From the prior ``h_0 ~ N(m0, P0)``, at each step ``t = 1..T``::

        h⁻ = A ĥ,  P⁻ = A P Aᵀ + Q
        K = P⁻ Hᵀ (H P⁻ Hᵀ + R)⁻¹,  ĥ = h⁻ + K (x_t − ẑ),  P = (I − K H) P⁻

    with ``H = C`` and ``ẑ = C h⁻`` (linear), or ``H = diag(g'(C h⁻)) C`` and
    ``ẑ = g(C h⁻)`` (extended, sensor ``x = g(C h) + v``).

    Args:
        x: observations ``[B, T, m]``.
        A, C, Q, R: the system's matrices ``[n, n]``, ``[m, n]``, ``[n, n]``, ``[m, m]``.
        m0, P0: the prior mean ``[n]`` and covariance ``[n, n]`` of ``h_0``.
        sense, sense_slope: ``g`` and ``g'`` elementwise, both or neither.

    Returns:
        ``(means, covariances)``: ``[B, T, n]`` and ``[B, T, n, n]``.

    Raises:
        ValueError: ``x`` is not ``[B, T, m]``, or only one of ``sense``, ``sense_slope``.

    Example:
        >>> means, covs = kalman_filter(np.ones((1, 1, 1)), *(np.eye(1),) * 4,
        ...                             np.zeros(1), np.eye(1))
        >>> float(means[0, 0, 0]), float(covs[0, 0, 0, 0])  # P⁻ = 2, K = 2/3
        (0.6666666666666666, 0.6666666666666667)
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != C.shape[0]:
        raise ValueError(f"Argument `x` must have shape [B, T, {C.shape[0]}], got {x.shape}.")
    if (sense is None) != (sense_slope is None):
        raise ValueError("Arguments `sense` and `sense_slope` must be given together, got one.")
    B, T, _ = x.shape
    n = A.shape[0]
    eye = np.eye(n)
    m = np.broadcast_to(np.asarray(m0, dtype=np.float64), (B, n)).copy()
    P = np.broadcast_to(np.asarray(P0, dtype=np.float64), (B, n, n)).copy()
    means = np.empty((B, T, n))
    covs = np.empty((B, T, n, n))
    for t in range(T):
        m = m @ A.T                                    # h⁻ = A ĥ            [B, n]
        P = A @ P @ A.T + Q                            # P⁻ = A P Aᵀ + Q     [B, n, n]
        z = m @ C.T                                    # C h⁻                [B, m]
        if sense is None:
            H = np.broadcast_to(C, (B, *C.shape))
            z_hat = z
        else:
            H = sense_slope(z)[:, :, None] * C         # diag(g'(C h⁻)) C    [B, m, n]
            z_hat = sense(z)
        Ht = H.transpose(0, 2, 1)
        S = H @ P @ Ht + R                             # C P⁻ Cᵀ + R         [B, m, m]
        K = np.linalg.solve(S, (P @ Ht).transpose(0, 2, 1)).transpose(0, 2, 1)  # [B, n, m]
        m = m + (K @ (x[:, t] - z_hat)[:, :, None])[:, :, 0]
        P = (eye - K @ H) @ P
        means[:, t] = m
        covs[:, t] = P
    return means, covs


def _filter(system: LinearGaussianSystem, x: np.ndarray, extended: bool) -> np.ndarray:
    args = (system.A, system.C, system.Q, system.R, np.zeros(system.A.shape[0]),
            system.prior_covariance)
    if extended:
        means, _ = kalman_filter(x, *args, sense=system.sense, sense_slope=system.sense_slope)
    else:
        means, _ = kalman_filter(x, *args)
    return means


def _mse(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(((estimate - truth) ** 2).sum(axis=-1).mean())


class _Estimator(nn.Module):
    """GRU → linear read-out of the state at every step."""

    def __init__(self, obs: int, hidden: int, state: int) -> None:
        super().__init__()
        self.rnn = GRU(obs, hidden, batch_first=True)
        self.out = nn.Linear(hidden, state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)
        return self.out(h)


def _train(
    system: LinearGaussianSystem, settings: Settings, rng: np.random.Generator
) -> tuple[_Estimator, list[float]]:
    model = _Estimator(system.C.shape[0], settings.hidden, system.A.shape[0])
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings.iterations)
    losses = []
    for _ in range(settings.iterations):
        x_np, h_np = system.simulate(settings.batch, settings.steps, rng)
        x = torch.tensor(x_np, dtype=torch.float32)
        h = torch.tensor(h_np, dtype=torch.float32)
        loss = ((model(x) - h) ** 2).sum(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return model, losses


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Filter both systems with the (extended) Kalman filter and a trained GRU; compare."""
    with one_thread():
        return _run(ctx, settings)


def _run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    wall_start = time.perf_counter()
    torch.manual_seed(ctx.seed)
    rng = np.random.default_rng(ctx.seed)
    systems = {"linear": linear_system(), "nonlinear": nonlinear_system()}
    P_ss = steady_state_covariance(*(getattr(systems["linear"], k) for k in "ACQR"))
    ctx.say(f"Linear system: damped rotation (ρ 0.95, θ 0.3), x = h1 + v, Q 0.1·I, R 0.5; "
            f"steady-state Kalman covariance trace {fmt(np.trace(P_ss), 4)}.")
    ctx.say("Nonlinear system: same dynamics, x = tanh(4·h1) + v, R 0.02. "
            f"{settings.test_sequences} test sequences of {settings.steps} steps; "
            f"GRU {settings.hidden} units, {settings.iterations} Adam steps on fresh batches of "
            f"{settings.batch}.")
    out: dict[str, dict[str, Any]] = {}
    curves: dict[str, list[float]] = {}
    shown: dict[str, dict[str, np.ndarray]] = {}
    for key, system in systems.items():
        x_test, h_test = system.simulate(settings.test_sequences, settings.steps,
                                         np.random.default_rng(ctx.seed + 10_000))
        kf = _filter(system, x_test, extended=False)
        start = time.perf_counter()
        model, losses = _train(system, settings, rng)
        train_seconds = time.perf_counter() - start
        with torch.no_grad():
            rnn = model(torch.tensor(x_test, dtype=torch.float32)).double().numpy()
        row: dict[str, Any] = {"kalman_mse": _mse(kf, h_test), "rnn_mse": _mse(rnn, h_test),
                               "final_train_loss": losses[-1], "train_seconds": train_seconds}
        shown[key] = {"truth": h_test[0], "Kalman filter": kf[0], "GRU": rnn[0]}
        if system.gain is not None:
            ekf = _filter(system, x_test, extended=True)
            row["ekf_mse"] = _mse(ekf, h_test)
            shown[key]["extended Kalman filter"] = ekf[0]
            row["best_filter_mse"] = min(row["kalman_mse"], row["ekf_mse"])
        else:
            row["steady_state_trace"] = float(np.trace(P_ss))
            row["best_filter_mse"] = row["kalman_mse"]
        row["ratio"] = row["rnn_mse"] / row["best_filter_mse"]
        out[key] = row
        curves[key] = losses
    rows = [["linear", "Kalman filter (optimal)", fmt(out["linear"]["kalman_mse"]), "—",
             fmt(out["linear"]["rnn_mse"]), fmt(out["linear"]["ratio"], 3)],
            ["nonlinear", "linear KF / extended KF", fmt(out["nonlinear"]["kalman_mse"]),
             fmt(out["nonlinear"]["ekf_mse"]), fmt(out["nonlinear"]["rnn_mse"]),
             fmt(out["nonlinear"]["ratio"], 3)]]
    ctx.say("")
    for line in table(["system", "filter", "Kalman MSE", "EKF MSE", "RNN MSE",
                       "RNN / best filter"], rows):
        ctx.say("  " + line)
    lin, nonlin = out["linear"], out["nonlinear"]
    ctx.say(f"Linear: the GRU is at {fmt(100 * (lin['ratio'] - 1), 1)}% above the optimal "
            f"filter ({'within' if lin['ratio'] <= 1.05 else 'outside'} the 5% target). "
            f"Nonlinear: the GRU's MSE is {fmt(100 * (1 - nonlin['ratio']), 1)}% below the "
            "better Gaussian filter.")
    _plot(ctx, shown, curves, out)
    benchmark = {
        "metric": "test MSE, GRU / Kalman filter (linear system)",
        "value": lin["ratio"],
        "higher_is_better": False,
        "target": 1.05,
        "target_text": "≤ 1.05 (within 5% of the Kalman filter); < 1 vs the best filter on "
                       "the nonlinear system",
        "met": bool(lin["ratio"] <= 1.05 and nonlin["ratio"] < 1.0),
        "published": "the Kalman filter, optimal on the linear system",
        "setting": (f"GRU {settings.hidden} units, {settings.iterations} Adam steps on fresh "
                    f"batches of {settings.batch}, sequences of {settings.steps} steps, "
                    f"{settings.test_sequences} test sequences"),
        "wall_seconds": time.perf_counter() - wall_start,
        "table": [{"system": key, "Kalman MSE": row["kalman_mse"],
                   "EKF MSE": row.get("ekf_mse"), "GRU MSE": row["rnn_mse"],
                   "GRU / best filter": row["ratio"]} for key, row in out.items()],
    }
    return {"kalman_mse": lin["kalman_mse"], "rnn_mse": lin["rnn_mse"], "ratio": lin["ratio"],
            "steady_state_trace": lin["steady_state_trace"], "linear": lin,
            "nonlinear": nonlin, "reduced_bound": REDUCED_BOUND, "benchmark": benchmark}


def _plot(
    ctx: RecipeContext,
    shown: dict[str, dict[str, np.ndarray]],
    curves: dict[str, list[float]],
    out: dict[str, dict[str, Any]],
) -> None:
    """``estimates.png``: each filter's estimate of both state components on the first test
    sequence; ``training.png``: the GRU's training loss against the best filter's test MSE."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from rnnkit.train.plots import rolling_mean

    colors = {"Kalman filter": "tab:blue", "GRU": "tab:orange",
              "extended Kalman filter": "tab:green"}
    short = {"Kalman filter": ("KF", "kalman_mse"), "GRU": ("GRU", "rnn_mse"),
             "extended Kalman filter": ("EKF", "ekf_mse")}
    fig = Figure(figsize=(10, 6.8))
    FigureCanvasAgg(fig)
    handles: dict[str, Any] = {}
    for row, (key, series) in enumerate(shown.items()):
        mse = ", ".join(f"{short[label][0]} {out[key][short[label][1]]:.3f}"
                        for label in series if label != "truth")
        for dim in range(2):
            ax = fig.add_subplot(2, 2, 2 * row + dim + 1)
            steps = np.arange(1, series["truth"].shape[0] + 1)
            for label, values in series.items():
                if label == "truth":
                    (line,) = ax.plot(steps, values[:, dim], "k.-", linewidth=1)
                    label = "true state"
                else:
                    (line,) = ax.plot(steps, values[:, dim], "-", color=colors[label],
                                      linewidth=1.2)
                handles.setdefault(label, line)
            ax.set_title(f"{key} system, h{dim + 1}" + (f" (test MSE: {mse})" if dim == 0
                                                        else ""), fontsize=9.5)
            ax.set_xlabel("time step t")
            ax.set_ylabel(f"h{dim + 1}(t) and its estimates")
            ax.grid(alpha=0.3)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles),
               fontsize=9, frameon=False)
    fig.suptitle("Filtering from noisy observations: test sequence 1 (the MSEs are over all "
                 "test sequences, both components)", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    ctx.save_figure(fig, "estimates.png")

    window = 50
    fig = Figure(figsize=(10, 3.8))
    FigureCanvasAgg(fig)
    for k, (key, losses) in enumerate(curves.items()):
        ax = fig.add_subplot(1, 2, k + 1)
        steps = np.arange(1, len(losses) + 1)
        ax.plot(steps, losses, color="tab:orange", alpha=0.25, linewidth=0.6)
        ax.plot(steps, rolling_mean(losses, window), color="tab:orange",
                label=f"GRU training loss ({window}-step mean)")
        best = "Kalman filter" if key == "linear" else "better of KF and EKF"
        ax.axhline(out[key]["best_filter_mse"], color="tab:blue", linestyle="--",
                   label=f"{best}: test MSE {out[key]['best_filter_mse']:.3f}")
        ax.set_ylim(0.8 * min(min(losses), out[key]["best_filter_mse"]),
                    1.1 * max(out[key]["best_filter_mse"], float(np.percentile(losses, 99))))
        ax.set_title(f"{key} system (GRU test MSE {out[key]['rnn_mse']:.3f})", fontsize=10)
        ax.set_xlabel("Adam step (a fresh batch each)")
        ax.set_ylabel("mean ‖ĥ − h‖² per step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("GRU filter training", fontsize=11)
    fig.tight_layout()
    ctx.save_figure(fig, "training.png")
