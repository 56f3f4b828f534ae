"""Worked example: the same small network as an Elman and as a Jordan network.

3 inputs, 2 tanh hidden units, 1 sigmoid output, four time steps. In the course's notation
(column vectors, matrices applied transposed)::

    Elman:   h(t) = tanh(Uᵀ x(t) + Wᵀ h(t-1) + b),   y(t) = σ(Vᵀ h(t) + c),   h(0) = 0
    Jordan:  h(t) = tanh(Uᵀ x(t) + w y(t-1) + b),    y(t) = σ(Vᵀ h(t) + c),   y(0) = 0

with ``U`` (3×2), ``W`` (2×2), ``w = (2.0, 1.3)`` (the output fed back to both hidden units),
``V`` (2×1). In rnnkit's (torch's) layout that is ``weight_ih = Uᵀ``, ``weight_hh = Wᵀ``,
``weight_yh = w`` as a column, ``weight_hy = Vᵀ``, ``bias_ih = b`` with ``bias_hh = 0``,
``bias_y = c``. The numbers come from the reference engine's step-by-step trace
(:func:`rnnkit.reference.trace.explain`, the machinery of ``rnnkit explain``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnkit.recipes.common import RecipeContext, fmt, table
from rnnkit.reference.trace import explain

__all__ = ["ELMAN_PARAMS", "INPUTS", "JORDAN_PARAMS", "Settings", "run"]

U = [[-1.0, 0.5], [0.5, 0.1], [0.2, -2.0]]  # 3 x 2, applied as Uᵀ x
V = [[2.0], [-1.5]]  # 2 x 1, applied as Vᵀ h
B_HIDDEN = [0.2, 0.2]
C_OUT = 0.5
W_ELMAN = [[2.0, 1.3], [1.5, 0.0]]  # 2 x 2, applied as Wᵀ h(t-1)
W_JORDAN = [2.0, 1.3]  # y(t-1) -> each hidden unit
#: x(1..4)
INPUTS = [[1.0, 2.0, -1.0], [-1.0, 1.0, -2.0], [0.0, 3.0, 1.0], [2.0, -1.0, 0.0]]


def _transpose(m: list[list[float]]) -> list[list[float]]:
    return [list(row) for row in zip(*m, strict=True)]


#: The Elman network in torch's layout.
ELMAN_PARAMS = {
    "weight_ih": _transpose(U), "weight_hh": _transpose(W_ELMAN),
    "bias_ih": B_HIDDEN, "bias_hh": [0.0, 0.0],
    "weight_hy": _transpose(V), "bias_y": [C_OUT],
}
#: The Jordan network in torch's layout (its output weights are part of the cell).
JORDAN_PARAMS = {
    "weight_ih": _transpose(U), "weight_yh": [[w] for w in W_JORDAN],
    "bias_ih": B_HIDDEN, "bias_yh": [0.0, 0.0],
    "weight_hy": _transpose(V), "bias_y": [C_OUT],
}


@dataclass
class Settings:
    """Settings of the worked Elman/Jordan example (the numbers are the exercise's own)."""

    decimals: int = 6  # decimals printed in the tables

    @classmethod
    def reduced(cls) -> Settings:
        """The default run (the same numbers: a worked example is already small)."""
        return cls()

    @classmethod
    def full(cls) -> Settings:
        """The exercise's settings."""
        return cls()


def _solve(cell: str, params: dict[str, Any]) -> dict[str, Any]:
    trace = explain(cell, params, INPUTS, output_activation="sigmoid")
    T = len(INPUTS)
    return {
        "pre_activations": [trace.steps[t]["a"][0].tolist() for t in range(T)],
        "hidden": trace.hidden[0].tolist(),
        "outputs": [float(trace.outputs[0, t, 0]) for t in range(T)],
        "trace": trace,
    }


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Print ``h(t)`` and ``y(t)`` of both networks; plot them."""
    d = settings.decimals
    ctx.say("Network: 3 inputs, 2 tanh hidden units, 1 sigmoid output; x(1..4) =", INPUTS)
    ctx.say("U =", U, " V =", V, " b =", B_HIDDEN, " c =", C_OUT)
    results: dict[str, Any] = {}
    for key, cell, params, title in (
        ("elman", "elman", ELMAN_PARAMS,
         f"(a) Elman: h(t) = tanh(Uᵀx(t) + Wᵀh(t-1) + b), W = {W_ELMAN}, h(0) = 0"),
        ("jordan", "jordan", JORDAN_PARAMS,
         f"(b) Jordan: h(t) = tanh(Uᵀx(t) + w·y(t-1) + b), w = {W_JORDAN}, y(0) = 0"),
    ):
        solved = _solve(cell, params)
        ctx.say("")
        ctx.say(title)
        ctx.say("    y(t) = σ(Vᵀh(t) + c)")
        rows = [
            [t + 1, INPUTS[t], "(" + ", ".join(fmt(v, d) for v in solved["pre_activations"][t])
             + ")", "(" + ", ".join(fmt(v, d) for v in solved["hidden"][t]) + ")",
             fmt(solved["outputs"][t], d)]
            for t in range(len(INPUTS))
        ]
        for line in table(["t", "x(t)", "a(t) (pre-activation)", "h(t)", "y(t)"], rows):
            ctx.say("  " + line)
        solved.pop("trace")
        results[key] = solved
    ctx.say("")
    ctx.say(
        "Both networks agree at t = 1 (nothing is fed back yet: h(0) = 0, y(0) = 0) and differ "
        "from t = 2 on: the Elman network feeds its whole hidden state back through W, the "
        "Jordan network only its output y(t-1), one number in (0, 1), through w."
    )
    steps = list(range(1, len(INPUTS) + 1))
    _plot(ctx, steps, results)
    return results


def _plot(ctx: RecipeContext, steps: list[int], results: dict[str, Any]) -> None:
    """y(t), h₁(t) and h₂(t) side by side, Elman against Jordan in each panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    panels = (("output y(t)", [[y] for y in results["elman"]["outputs"]],
               [[y] for y in results["jordan"]["outputs"]], 0),
              ("hidden unit h₁(t)", results["elman"]["hidden"], results["jordan"]["hidden"], 0),
              ("hidden unit h₂(t)", results["elman"]["hidden"], results["jordan"]["hidden"], 1))
    for k, (label, elman, jordan, unit) in enumerate(panels):
        ax = fig.add_subplot(1, 3, k + 1)
        ax.plot(steps, [v[unit] for v in elman], "o-", color="tab:blue", label="Elman")
        ax.plot(steps, [v[unit] for v in jordan], "s--", color="tab:orange", label="Jordan")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("time step t")
        ax.set_xticks(steps)
        ax.set_ylim(-1.08, 1.08)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.grid(alpha=0.3)
        if k == 0:
            ax.set_ylabel("value")
            ax.legend(fontsize=8)
    fig.suptitle("Elman vs Jordan network, same weights: equal at t = 1, apart from t = 2 "
                 "(Elman feeds back h(t-1), Jordan y(t-1))", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    ctx.save_figure(fig, "elman_jordan.png")
