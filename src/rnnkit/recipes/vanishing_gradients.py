"""Exercise: vanishing and exploding gradients, made visible.

On one long random sequence, the loss is put on the last step only and backpropagation
through time gives ``‖dL/dh_t‖`` at every earlier step (:mod:`rnnkit.reference.flow`, the
NumPy engine's BPTT written out). In a tanh RNN each step back multiplies the gradient by
``diag(1 - h_t²) W_hh``; when that shrinks it, the first steps get almost nothing
(vanishing), when it stretches it the gradient grows without bound (exploding). The LSTM's
cell path multiplies by the forget gate instead, the GRU's by its update gate.

Comparisons, one plot each with a sentence under it saying what it shows:

* ``cells.png``: tanh RNN, LSTM (also with a forget-gate bias of 1) and GRU, default
  initialisation;
* ``init_rnn.png``, ``init_lstm.png``, ``init_gru.png``: each cell with small (uniform
  ``±0.1/√H``), default (``±1/√H``), orthogonal and identity recurrent initialisation;
* ``clipping.png``: an exploding case (a ReLU RNN whose recurrent matrix is the identity
  times 1.05, small input weights) trained with plain SGD, with and without clipping the
  gradient norm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.recipes.common import RecipeContext, line_plot, table
from rnnkit.reference.flow import gradient_flow
from rnnkit.reference.network import Network
from rnnkit.reference.optim import SGD, clip_grad_norm

__all__ = ["INITS", "Settings", "flow_curves", "run"]

#: label -> (Network options, init options); "scale_per_unit" s means scale s/√H
INITS: dict[str, dict[str, Any]] = {
    "small (±0.1/√H)": {"scale_per_unit": 0.1},
    "default (±1/√H)": {},
    "orthogonal W_hh": {"recurrent_init": "orthogonal"},
    "identity W_hh": {"recurrent_init": "identity"},
}
CELLS = {"tanh RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
# the exploding network's initialisation (its gain is a setting)
_EXPLODING: dict[str, Any] = {"nonlinearity": "relu", "recurrent_init": "identity",
                              "scale_per_unit": 0.1}


@dataclass
class Settings:
    """Settings of the vanishing-gradients recipe."""

    steps: int = 200  # T, length of the sequence
    input_size: int = 4  # I
    hidden_size: int = 32  # H
    explode_gain: float = 1.05  # the exploding ReLU RNN's recurrent matrix: identity times this
    clip_norm: float = 1.0  # the gradient norm clipping bounds the update to
    train_steps: int = 100  # SGD steps of the clipping comparison
    lr: float = 0.01  # SGD learning rate of the clipping comparison

    @classmethod
    def reduced(cls) -> Settings:
        """A run of a few seconds."""
        return cls(steps=100, hidden_size=16, train_steps=30)

    @classmethod
    def full(cls) -> Settings:
        """A longer sequence, wider layers and more training steps."""
        return cls()


def _params(net: Network, seed: int, options: dict[str, Any]) -> dict[str, np.ndarray]:
    init = dict(options)
    if "scale_per_unit" in init:
        init["scale"] = float(init.pop("scale_per_unit")) / np.sqrt(net.hidden_size)
    return net.init_params(seed, **init)


def flow_curves(
    settings: Settings, seed: int, configs: dict[str, tuple[str, dict[str, Any]]]
) -> dict[str, np.ndarray]:
    """``‖dL/dh_t‖`` for each ``label -> (cell, init options)`` on the same random sequence.

    ``init options`` go to :meth:`Network.init_params` (plus ``scale_per_unit``, and
    ``gain``: the recurrent matrix is multiplied by it), except ``nonlinearity``, which goes
    to the :class:`Network`.

    Returns:
        label -> ``[T]`` norms (the loss on the last step).
    """
    # one sequence (a batch of 1): the curves follow one input, not an average over several
    x = np.random.default_rng(seed).normal(size=(1, settings.steps, settings.input_size))
    curves = {}
    for label, (cell, options) in configs.items():
        options = dict(options)
        net = Network(cell, settings.input_size, settings.hidden_size,
                      nonlinearity=str(options.pop("nonlinearity", "tanh")))
        gain = float(options.pop("gain", 1.0))
        params = _params(net, seed, options)
        params["weight_hh_l0"] = params["weight_hh_l0"] * gain
        with np.errstate(over="ignore"):
            curves[label] = gradient_flow(net, params, x)
    return curves


def _kept(norms: np.ndarray) -> float:
    """The fraction of the last step's gradient norm that reaches the first step."""
    return float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")


def _plot_curves(
    ctx: RecipeContext, filename: str, title: str, curves: dict[str, np.ndarray], note: str
) -> None:
    T = len(next(iter(curves.values())))
    line_plot(
        ctx, filename,
        {label: (list(range(T)), norms) for label, norms in curves.items()},
        title=title, xlabel="time step t (the loss is on the last step)",
        ylabel="‖dL/dh_t‖", logy=True, note=note,
    )
    ctx.say("  " + note)


def _describe(curves: dict[str, np.ndarray], steps: int) -> str:
    """One sentence: each curve's fraction of the gradient left at t = 0, most first."""
    kept = {label: _kept(n) for label, n in curves.items()}
    ranked = sorted(kept, key=lambda k: -kept[k] if np.isfinite(kept[k]) else np.inf)
    parts = "; ".join(f"{label}: {kept[label]:.1e}" for label in ranked)
    return (f"Fraction of the last step's gradient norm left after {steps - 1} steps back, "
            f"most first: {parts}.")


def _train_exploding(
    settings: Settings, seed: int, clip: bool
) -> dict[str, list[float | None]]:
    """Plain SGD on the exploding RNN: remember the first input until the last step.

    Returns per step the loss, the gradient norm before clipping and the norm of the update
    actually applied; the run stops at the first loss that is not finite.
    """
    rng = np.random.default_rng(seed)
    net = Network("rnn", settings.input_size, settings.hidden_size, nonlinearity="relu",
                  output_size=1, many_to_one=True)
    init = {k: v for k, v in _EXPLODING.items() if k != "nonlinearity"}
    params = _params(net, seed, init)
    params["weight_hh_l0"] = params["weight_hh_l0"] * settings.explode_gain
    x = rng.normal(size=(16, settings.steps, settings.input_size))
    y = x[:, 0, :1]  # the first input's first feature, needed at the last step
    opt = SGD(settings.lr)
    record: dict[str, list[float | None]] = {"loss": [], "grad_norm": [], "update_norm": []}
    for _ in range(settings.train_steps):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value, grads, _ = net.loss_and_grads(params, x, y, loss="mse", reduction="mean")
        if not np.isfinite(value):
            record["loss"].append(None)
            break
        g = grads.params
        norm = float(np.sqrt(sum(float((a * a).sum()) for a in g.values())))
        if clip:
            clip_grad_norm(g, settings.clip_norm)
        applied = float(np.sqrt(sum(float((a * a).sum()) for a in g.values())))
        record["loss"].append(float(value))
        record["grad_norm"].append(norm)
        record["update_norm"].append(settings.lr * applied)
        with np.errstate(over="ignore", invalid="ignore"):
            opt.step(params, g)
        if not all(np.all(np.isfinite(p)) for p in params.values()):
            record["loss"].append(None)
            break
    return record


def _plot_clipping(
    ctx: RecipeContext,
    flow: np.ndarray,
    runs: dict[str, dict[str, list[float | None]]],
    settings: Settings,
    note: str,
) -> None:
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    wrapped = textwrap.fill(note, 150)
    extra = 0.17 * (wrapped.count("\n") + 1) + 0.15  # inches under the axes
    fig = Figure(figsize=(13, 4.4 + extra))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 3, 1)
    ax.semilogy(range(len(flow)), flow, color="tab:red")
    ax.set_title("gradient through time, at initialisation", fontsize=10)
    ax.set_xlabel("time step t (the loss is on the last step)")
    ax.set_ylabel("‖dL/dh_t‖")
    ax.grid(True, which="both", alpha=0.3)
    styles = {"no clipping": dict(color="tab:blue", marker="X", markersize=9, zorder=3),
              "clipped": dict(color="tab:orange", marker="o", markersize=3)}
    for k, (key, title, ylabel) in enumerate((
        ("loss", "training loss", "MSE"),
        ("grad_norm", "gradient norm before clipping", "‖dL/dθ‖"),
    )):
        ax = fig.add_subplot(1, 3, k + 2)
        for label, record in runs.items():
            values = [v for v in record[key] if v is not None]
            style = styles["no clipping" if label == "no clipping" else "clipped"]
            if label == "no clipping" and record["loss"][-1] is None:
                label += f" (loss not finite after step {len(values)})"
            ax.semilogy(range(1, len(values) + 1), np.maximum(values, 1e-300), "-",
                        label=label, **style)  # type: ignore[arg-type]
        if key == "grad_norm":
            ax.axhline(settings.clip_norm, color="grey", linestyle="--",
                       label=f"clipped to norm {settings.clip_norm:g} before the update")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("SGD step")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Exploding gradients: ReLU RNN, W_hh = {settings.explode_gain:g} × identity, "
                 f"plain SGD (lr {settings.lr:g}) with and without clipping", fontsize=11)
    fig.text(0.5, 0.01, wrapped, ha="center", va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, extra / (4.4 + extra), 1, 0.95))
    ctx.save_figure(fig, "clipping.png")
    ctx.say("  " + note)


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Compute and plot every comparison; train the exploding case with and without clipping."""
    T = settings.steps
    ctx.say(f"One random sequence of {T} steps with {settings.input_size} inputs per step, "
            f"{settings.hidden_size} units; loss on the last step.")
    results: dict[str, Any] = {}

    ctx.say("")
    ctx.say("1. Cells, default initialisation")
    configs = {
        "tanh RNN": ("rnn", {}),
        "LSTM": ("lstm", {}),
        "LSTM, forget-gate bias 1": ("lstm", {"forget_bias": 1.0}),
        "LSTM, forget-gate bias 3": ("lstm", {"forget_bias": 3.0}),
        "GRU": ("gru", {}),
    }
    curves = flow_curves(settings, ctx.seed, configs)
    open_gate = _kept(curves["LSTM, forget-gate bias 3"]) / _kept(curves["tanh RNN"])
    note = (
        _describe(curves, T) + " At initialisation every cell loses gradient step after step: "
        "the tanh RNN through tanh′·W_hh, the LSTM through its forget gate (about σ(0) = 0.5 "
        "per step), the GRU through its update gate. What the gates add is that they can stay "
        f"open: with a forget-gate bias of 3 (σ(3) ≈ 0.95) the LSTM keeps {open_gate:.1e} "
        "times as much as the tanh RNN."
    )
    _plot_curves(ctx, "cells.png", "Gradient norm through time: cells", curves, note)
    results["cells"] = {label: {"norms": n, "kept": _kept(n)} for label, n in curves.items()}

    results["init"] = {}
    for k, (cell_label, cell) in enumerate(CELLS.items()):
        ctx.say("")
        ctx.say(f"{k + 2}. {cell_label}, four initialisations")
        curves = flow_curves(settings, ctx.seed,
                             {label: (cell, options) for label, options in INITS.items()})
        why = {
            "rnn": "Each step back multiplies the gradient by W_hhᵀ diag(1 - h²): small weights "
                   "shrink it at every step (vanishing); an orthogonal or identity W_hh keeps "
                   "its norm in the linear part, so only tanh′ < 1 wears it down.",
            "lstm": "Along the cell the gradient is multiplied by the forget gate at each step "
                    "(about 0.5 at initialisation); W_hh sets how much also flows back "
                    "through h_{t-1} and the gates.",
            "gru": "The GRU passes h_{t-1} on through its update gate z_t (about 0.5 at "
                   "initialisation); W_hh sets how much also flows back through the candidate "
                   "and the gates.",
        }[cell]
        note = _describe(curves, T) + " " + why
        _plot_curves(ctx, f"init_{cell}.png",
                     f"Gradient norm through time: {cell_label}, initialisations", curves, note)
        results["init"][cell] = {label: {"norms": n, "kept": _kept(n)}
                                 for label, n in curves.items()}

    ctx.say("")
    ctx.say(f"5. Exploding case: ReLU RNN with W_hh = identity × {settings.explode_gain:g}, "
            f"learning to output its first input at step {T}")
    explode = flow_curves(
        settings, ctx.seed,
        {"exploding": ("rnn", {**_EXPLODING, "gain": settings.explode_gain})},
    )["exploding"]
    runs = {
        "no clipping": _train_exploding(settings, ctx.seed, clip=False),
        f"clip norm {settings.clip_norm:g}": _train_exploding(settings, ctx.seed, clip=True),
    }
    rows = []
    for label, record in runs.items():
        losses = record["loss"]
        finite = [v for v in losses if v is not None]
        diverged = losses[-1] is None
        rows.append([label, f"{finite[0]:.3g}" if finite else "-",
                     f"{finite[-1]:.3g}" if finite else "-",
                     f"{max(v for v in record['grad_norm'] if v is not None):.3g}",
                     f"{max(v for v in record['update_norm'] if v is not None):.3g}",
                     f"diverged at step {len(losses)}" if diverged else "finite"])
    for line in table(["training", "first loss", "last finite loss", "max gradient norm",
                       "max update norm", "outcome"], rows):
        ctx.say("  " + line)
    unclipped = runs["no clipping"]
    unclipped_max = max(v for v in unclipped["grad_norm"] if v is not None)
    note = (
        f"The gradient reaching the first step is {_kept(explode):.1e} times the last step's: "
        f"it explodes. Unclipped, SGD steps scale with gradient norms up to {unclipped_max:.1e} "
        + ("and the loss leaves the finite numbers"
           if unclipped["loss"][-1] is None else "and the loss jumps around")
        + f"; clipping rescales each gradient to norm ≤ {settings.clip_norm:g}, so no update "
        f"is larger than lr × {settings.clip_norm:g} = {settings.lr * settings.clip_norm:g} and "
        "training goes on. Clipping bounds the step, not the cause: the direction is kept."
    )
    _plot_clipping(ctx, explode, runs, settings, note)
    results["exploding"] = {"norms": explode, "kept": _kept(explode), "training": runs}
    return results
