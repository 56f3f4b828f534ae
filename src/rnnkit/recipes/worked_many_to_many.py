"""Worked example: one step of backpropagation through time, by hand, in a many-to-many RNN.

A tanh hidden layer of 3 units with recurrent connections, a softmax output over 2 classes at
every step and the cross-entropy loss summed over the steps::

    a_t = U x_t + W h_{t-1} + b,    h_t = tanh(a_t),    h_0 = 0
    q_t = V h_t + c,                ŷ_t = softmax(q_t),  L = Σ_t -log ŷ_t[target_t]

Every weight and bias is 0.1, ``x_1 = (4, 0, 0, 0)``, ``x_2 = (0, 8, 2, 0)``, the targets are
the classes ``(1, 0)`` then ``(0, 1)`` and the learning rate is 1.0. The recipe prints the
forward values, the loss, every gradient of BPTT step by step and the parameters after one
SGD step ``θ ← θ - η dL/dθ`` -- the trace of ``rnnkit explain`` -- and checks the update by
running the forward pass again.

rnnkit (like torch) has two hidden biases, ``bias_ih`` and ``bias_hh``, whose sum is the
course's single ``b``: here ``bias_ih = b = 0.1`` and ``bias_hh = 0``. Both get the gradient
``dL/db``; the course's updated ``b`` is ``b - η dL/db``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.recipes.common import RecipeContext, fmt, line_plot, table
from rnnkit.reference.trace import explain

__all__ = ["INPUTS", "PARAMS", "TARGETS", "Settings", "run"]

I, H, O = 4, 3, 2
#: every weight and bias 0.1; the course's single hidden bias b is bias_ih (bias_hh = 0)
PARAMS = {
    "weight_ih": [[0.1] * I for _ in range(H)],
    "weight_hh": [[0.1] * H for _ in range(H)],
    "bias_ih": [0.1] * H,
    "bias_hh": [0.0] * H,
    "weight_hy": [[0.1] * H for _ in range(O)],
    "bias_y": [0.1] * O,
}
INPUTS = [[4.0, 0.0, 0.0, 0.0], [0.0, 8.0, 2.0, 0.0]]
TARGETS = [[1.0, 0.0], [0.0, 1.0]]
# course name -> rnnkit name
_COURSE_NAMES = {"U": "weight_ih", "W": "weight_hh", "b": "bias_ih", "V": "weight_hy",
                 "c": "bias_y"}


@dataclass
class Settings:
    """Settings of the worked many-to-many example (the numbers are the exercise's own)."""

    lr: float = 1.0  # learning rate of the one SGD step
    decimals: int = 6  # decimals printed

    @classmethod
    def reduced(cls) -> Settings:
        """The default run (the same numbers: a worked example is already small)."""
        return cls()

    @classmethod
    def full(cls) -> Settings:
        """The exercise's settings."""
        return cls()


def _matrix(value: np.ndarray, d: int) -> str:
    value = np.atleast_1d(np.asarray(value))
    if value.ndim == 1:
        return "(" + ", ".join(fmt(v, d) for v in value) + ")"
    return "[" + "; ".join(_matrix(row, d) for row in value) + "]"


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Print the worked solution; check the update; plot the class probabilities."""
    d = settings.decimals
    trace = explain(
        "rnn", PARAMS, INPUTS, targets=TARGETS, output_activation="softmax", loss="ce",
        lr=settings.lr,
    )
    ctx.say("Course notation: U = weight_ih, W = weight_hh, b = bias_ih (bias_hh = 0), "
            "V = weight_hy, c = bias_y.")
    ctx.say("")
    ctx.say(trace.format(decimals=d))
    all_grads, all_updated = trace.grads or {}, trace.updated or {}
    loss = float(trace.loss or 0.0)
    terms = trace.loss_per_step if trace.loss_per_step is not None else np.zeros((1, 0))
    grads = {course: all_grads[name] for course, name in _COURSE_NAMES.items()}
    updated = {course: all_updated[name] for course, name in _COURSE_NAMES.items()}
    ctx.say("")
    ctx.say("Summary in the course's notation")
    T = len(INPUTS)
    rows = []
    for t in range(T):
        rows.append([t + 1, _matrix(trace.steps[t]["a"][0], d), _matrix(trace.hidden[0, t], d),
                     _matrix(trace.outputs[0, t], d), fmt(float(terms[0, t]), d)])
    for line in table(["t", "a_t", "h_t", "ŷ_t = softmax(V h_t + c)", "L_t"], rows):
        ctx.say("  " + line)
    ctx.say(f"  L = {fmt(loss, d)}")
    for course in _COURSE_NAMES:
        ctx.say(f"  dL/d{course} = {_matrix(grads[course], d)}")
    if all(np.allclose(grads[k], 0.0) for k in ("U", "W", "b")):
        ctx.say(
            "  Why U, W and b get no gradient: with every weight equal, both output units "
            "compute the same score, and the error ŷ_t - y_t = (±0.5, ∓0.5) reaches h_t as "
            "Vᵀ(ŷ_t - y_t) = 0 because V's two rows are equal. Only V (and c, whose two steps "
            "cancel) sees the error in this first step; from the second step on V's rows "
            "differ and the gradient flows back through time."
        )
    ctx.say(f"After one SGD step with η = {settings.lr:g}:")
    for course in _COURSE_NAMES:
        ctx.say(f"  {course} = {_matrix(updated[course], d)}")

    # Check: the forward pass with the updated parameters (course's single bias: b_new, 0).
    new_params = {name: all_updated[name] for name in _COURSE_NAMES.values()}
    new_params["bias_hh"] = np.zeros(H)
    after = explain("rnn", new_params, INPUTS, targets=TARGETS, output_activation="softmax",
                    loss="ce")
    loss_after = float(after.loss or 0.0)
    verdict = "lowered" if loss_after < loss else "did not lower"
    ctx.say(f"Check: the loss with the updated parameters is {fmt(loss_after, d)} "
            f"(was {fmt(loss, d)}): one step of gradient descent {verdict} it.")
    correct = [int(np.argmax(TARGETS[t])) for t in range(T)]
    before_p = [float(trace.outputs[0, t, correct[t]]) for t in range(T)]
    after_p = [float(after.outputs[0, t, correct[t]]) for t in range(T)]
    steps = list(range(1, T + 1))
    moves = "; ".join(
        f"at t = {t + 1} it {'rises' if after_p[t] > before_p[t] else 'falls'} from "
        f"{fmt(before_p[t], 3)} to {fmt(after_p[t], 3)}" for t in range(T))
    note = (f"Probability the network gives the target class: {moves}. The summed loss "
            f"falls from {fmt(loss, 4)} to {fmt(loss_after, 4)}.")
    if all(np.allclose(grads[k], 0.0) for k in ("U", "W", "b")):
        note += (" Only V moved, and its update favours class 2 at every step; since h_t is "
                 "larger at t = 2, the gain there outweighs the loss at t = 1.")
    line_plot(
        ctx, "probabilities.png",
        {f"before the update (L = {fmt(loss, 4)})": (steps, before_p),
         f"after one SGD step (L = {fmt(loss_after, 4)})": (steps, after_p)},
        title="Worked many-to-many RNN: probability of the target class at each step",
        xlabel="time step t", ylabel="ŷ_t of the target class",
        styles={f"before the update (L = {fmt(loss, 4)})": "o-",
                f"after one SGD step (L = {fmt(loss_after, 4)})": "s-"},
        note=note,
    )
    return {
        "pre_activations": [trace.steps[t]["a"][0] for t in range(T)],
        "hidden": trace.hidden[0],
        "outputs": trace.outputs[0],
        "loss_per_step": terms[0],
        "loss": loss,
        "grads": grads,
        "updated": updated,
        "loss_after_update": loss_after,
        "outputs_after_update": after.outputs[0],
        "explain": trace.to_json(),
    }
