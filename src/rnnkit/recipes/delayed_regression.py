"""Exercise: regress two outputs that depend on delayed inputs, from noisy sequences.

Three inputs uniform in [0, 1), two outputs, ``ε`` standard normal::

    y1(t) = 5·x1(t) − 0.2·x3(t−1) + 0.1·ε        (y1 has no x3 term at t = 0)
    y2(t) = 25·x2(t−1)·x3(t−3) + 0.1·ε           (y2 is only noise for t < 3)

The noise variance is ``0.1² = 0.01``: no model can have a lower expected test MSE. The
course's model is a recurrent layer of 5 hidden units with a linear output, trained with
Adam at a learning rate of 0.01 for 10,000 iterations on 8 sequences of 100 steps (the
exercise names no cell: an Elman tanh layer here). It learns ``y1`` (a linear function of
the inputs) but not the product in ``y2``.

The better configuration changes what it takes to learn ``25·x2(t−1)·x3(t−3)``, a product
of two delayed inputs: an LSTM of 32 units (memory for the delays) with a two-layer output
(a product is a curved function of the state), inputs centred and each target divided by
its scale (5 and 25, so both outputs count alike), and -- the largest gain -- fresh sequences
drawn from the same process at every iteration (64 sequences of 10 steps; the delays are at
most 3 steps) instead of 8 fixed ones, which a model big enough for the product memorises.
Adam at 0.02 with a cosine decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.nn import LSTM, RNN
from rnnkit.recipes.common import RecipeContext, fmt, one_thread, table

__all__ = ["NOISE_STD", "Settings", "make_sequences", "run"]

#: standard deviation of the noise on both outputs
NOISE_STD = 0.1


def make_sequences(n: int, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences of the exercise's process: inputs ``[n, T, 3]``, targets ``[n, T, 2]``.

    Raises:
        ValueError: ``n`` or ``steps`` is not a positive integer.

    >>> x, y = make_sequences(2, 5, np.random.default_rng(0))
    >>> x.shape, y.shape
    ((2, 5, 3), (2, 5, 2))
    """
    for name, value in (("n", n), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Argument `{name}` must be a positive integer, got {value!r}.")
    x = rng.random((n, steps, 3))
    y = np.zeros((n, steps, 2))
    y[:, :, 0] = 5.0 * x[:, :, 0]
    y[:, 1:, 0] -= 0.2 * x[:, :-1, 2]
    y[:, 3:, 1] = 25.0 * x[:, 2:-1, 1] * x[:, :-3, 2]
    y += NOISE_STD * rng.standard_normal((n, steps, 2))
    return x, y


@dataclass
class Settings:
    """Settings of the delayed-regression recipe."""

    steps: int = 100  # time steps of the course's training and of the test sequences
    train_sequences: int = 8  # the course's fixed training sequences
    test_sequences: int = 32  # fresh sequences the test MSE is measured on
    course_hidden: int = 5  # units of the course's Elman layer
    course_lr: float = 0.01  # Adam learning rate of the course's model
    course_iterations: int = 10000  # full-batch Adam steps of the course's model
    better_hidden: int = 32  # LSTM units of the better model
    better_head: int = 64  # units of the better model's hidden output layer
    better_lr: float = 0.02  # Adam learning rate of the better model (cosine decay)
    better_iterations: int = 6000  # Adam steps of the better model
    better_batch: int = 64  # fresh sequences per step of the better model
    better_steps: int = 10  # time steps of each of those sequences
    compare_fixed: bool = True  # also train the better model on the 8 fixed sequences

    @classmethod
    def reduced(cls) -> Settings:
        """A run of a few seconds."""
        return cls(course_iterations=1000, better_iterations=2500, compare_fixed=False)

    @classmethod
    def full(cls) -> Settings:
        """The exercise's own settings for the course's model."""
        return cls()


class _Regressor(nn.Module):
    """Recurrent layer → output layer at every step; inputs centred, targets scaled."""

    def __init__(self, layer: nn.Module, hidden: int, head: int) -> None:
        super().__init__()
        self.rnn = layer
        self.out: nn.Module = (
            nn.Linear(hidden, 2) if head == 0
            else nn.Sequential(nn.Linear(hidden, head), nn.Tanh(), nn.Linear(head, 2))
        )
        self.register_buffer("scale", torch.ones(2))
        self.register_buffer("shift", torch.zeros(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x - self.shift)
        return self.out(h) * self.scale


def _train(
    model: _Regressor,
    lr: float,
    iterations: int,
    batches: Any,
    cosine: bool,
) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iterations) if cosine else None
    losses = []
    for _ in range(iterations):
        x, y = batches()
        loss = (((model(x) - y) / model.scale) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(loss.item())
    return losses


def _test_mse(model: _Regressor, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], Any]:
    with torch.no_grad():
        pred = model(x)
    return ((pred - y) ** 2).mean(dim=(0, 1)).tolist(), pred


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train the course's model and the better one; report test MSE; plot predictions."""
    with one_thread():
        return _run(ctx, settings)


def _run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    torch.manual_seed(ctx.seed)
    rng = np.random.default_rng(ctx.seed)
    f32 = torch.float32
    x_np, y_np = make_sequences(settings.train_sequences, settings.steps, rng)
    xt_np, yt_np = make_sequences(settings.test_sequences, settings.steps,
                                  np.random.default_rng(ctx.seed + 10_000))
    x, y = torch.tensor(x_np, dtype=f32), torch.tensor(y_np, dtype=f32)
    xt, yt = torch.tensor(xt_np, dtype=f32), torch.tensor(yt_np, dtype=f32)
    noise_var = NOISE_STD**2
    ctx.say(f"Noise variance 0.1² = {noise_var:g}: the lowest expected test MSE of any model. "
            f"Test: {settings.test_sequences} fresh sequences of {settings.steps} steps.")

    def fixed() -> tuple[torch.Tensor, torch.Tensor]:
        return x, y

    def fresh() -> tuple[torch.Tensor, torch.Tensor]:
        xb, yb = make_sequences(settings.better_batch, settings.better_steps, rng)
        return torch.tensor(xb, dtype=f32), torch.tensor(yb, dtype=f32)

    runs: dict[str, dict[str, Any]] = {}
    plans = [
        ("course", f"Course model: Elman tanh layer of {settings.course_hidden} units + linear "
                   f"output, Adam {settings.course_lr:g}, {settings.course_iterations} "
                   f"iterations on the {settings.train_sequences} fixed sequences"),
    ]
    if settings.compare_fixed:
        plans.append(("better_fixed_data", f"Better model on the same {settings.train_sequences} "
                                           "fixed sequences"))
    plans.append(("better", f"Better model: LSTM {settings.better_hidden} units + output layer "
                            f"of {settings.better_head} tanh units, centred inputs, scaled "
                            f"targets, {settings.better_iterations} iterations on fresh "
                            f"batches of {settings.better_batch} sequences of "
                            f"{settings.better_steps} steps, Adam {settings.better_lr:g} "
                            "with cosine decay"))
    for key, description in plans:
        ctx.say(description + " ...")
        if key == "course":
            model = _Regressor(RNN(3, settings.course_hidden, batch_first=True),
                               settings.course_hidden, 0)
            losses = _train(model, settings.course_lr, settings.course_iterations, fixed, False)
        else:
            model = _Regressor(LSTM(3, settings.better_hidden, batch_first=True),
                               settings.better_hidden, settings.better_head)
            model.scale.copy_(torch.tensor([5.0, 25.0]))
            model.shift.fill_(0.5)
            source = fresh if key == "better" else fixed
            losses = _train(model, settings.better_lr, settings.better_iterations, source, True)
        mse, pred = _test_mse(model, xt, yt)
        runs[key] = {"test_mse": mse, "test_mse_mean": float(np.mean(mse)),
                     "final_train_loss": losses[-1], "prediction": pred}
    rows = [[key, fmt(r["test_mse"][0], 4), fmt(r["test_mse"][1], 4), fmt(r["test_mse_mean"], 4),
             fmt(r["test_mse_mean"] / noise_var, 2)] for key, r in runs.items()]
    ctx.say("")
    for line in table(["model", "test MSE y1", "test MSE y2", "mean", "mean / noise variance"],
                      rows):
        ctx.say("  " + line)
    course = runs["course"]["test_mse"]
    better = runs["better"]["test_mse_mean"]
    ctx.say(
        f"The course's model is at {fmt(course[0] / noise_var, 1)}× the noise variance on y1 "
        f"(linear in the inputs) and {fmt(course[1] / noise_var, 1)}× on y2 (a product of "
        f"delayed inputs); the better model's mean test MSE is {fmt(better, 4)}, "
        f"{fmt(better / noise_var, 2)}× the noise variance. What "
        "helped: memory for the delays (LSTM), a curved output layer for the product, inputs "
        "and targets on one scale, and fresh sequences instead of 8 fixed ones (which a model "
        "big enough for the product memorises)."
    )
    labels = {"course": f"course: Elman {settings.course_hidden}, {settings.train_sequences} "
                        "fixed sequences",
              "better_fixed_data": f"better model, {settings.train_sequences} fixed sequences",
              "better": f"better: LSTM {settings.better_hidden}, fresh sequences"}
    _plot(ctx, yt_np, runs, labels)
    for r in runs.values():
        r.pop("prediction")
    return {"noise_variance": noise_var, **runs, "test_mse": runs["better"]["test_mse"],
            "test_mse_mean": runs["better"]["test_mse_mean"]}


def _plot(
    ctx: RecipeContext, truth: np.ndarray, runs: dict[str, dict[str, Any]], labels: dict[str, str]
) -> None:
    """Per output: predictions against the ground truth (left) and each model's error with
    the noise band (right), first steps of test sequence 1; test MSEs beside the errors."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7.0))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 2, width_ratios=(3, 2))
    T = min(40, truth.shape[1])
    steps = np.arange(T)
    colors = {"course": "tab:red", "better_fixed_data": "tab:orange", "better": "tab:green"}
    for k, name in enumerate(("y1(t) = 5·x1(t) − 0.2·x3(t−1) + 0.1ε",
                              "y2(t) = 25·x2(t−1)·x3(t−3) + 0.1ε")):
        ax = fig.add_subplot(grid[k, 0])
        ax.plot(steps, truth[0, :T, k], "k.", label="ground truth (noisy)", markersize=7)
        err_ax = fig.add_subplot(grid[k, 1])
        err_ax.axhspan(-2 * NOISE_STD, 2 * NOISE_STD, color="grey", alpha=0.25)
        for key, r in runs.items():
            pred = r["prediction"][0, :T, k].numpy()
            mse = ", ".join(f"y{j + 1} {v:.3f}" for j, v in enumerate(r["test_mse"]))
            ax.plot(steps, pred, "-", color=colors[key], alpha=0.85, linewidth=1.3,
                    label=f"{labels[key]} (test MSE {mse})")
            err_ax.plot(steps, pred - truth[0, :T, k], "-", color=colors[key], linewidth=1.1)
        ax.set_title(f"{name}: test sequence 1, first {T} steps", fontsize=10)
        ax.set_xlabel("time step t")
        ax.set_ylabel(f"y{k + 1}")
        ax.grid(alpha=0.3)
        err_ax.set_title(f"error in y{k + 1}: prediction − ground truth\n(grey: the noise, "
                         f"±2σ = ±{2 * NOISE_STD:g})", fontsize=10)
        err_ax.set_xlabel("time step t")
        err_ax.set_ylabel("error")
        err_ax.grid(alpha=0.3)
    handles, texts = ax.get_legend_handles_labels()
    fig.legend(handles, texts, loc="lower center", ncol=2, fontsize=8.5, frameon=False)
    fig.suptitle("Delayed regression: predictions on fresh test sequences (noise variance 0.01)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    ctx.save_figure(fig, "predictions.png")
