"""Exercise: learn to add each number to the one before it, from three examples.

The training pairs are ``(1 2 5 6) → (1 3 7 11)``, ``(5 7 7 8) → (5 12 14 15)`` and
``(3 4 5 7) → (3 7 9 12)``: ``y_t = x_t + x_{t-1}`` (``x_0 = 0``). The course's model, an LSTM
layer of 10 units with a linear output trained with Adam at a learning rate of 0.001, is
asked for ``(1 2 3 4)`` and ``(4 5 6 7)``; the right answers are ``(1 3 5 7)`` and
``(4 9 11 13)``. It misses the second one by several units.

Why, and the better model. Three sequences are twelve numbers, and the LSTM has over 500
parameters: many functions fit twelve numbers, and nothing makes gradient descent pick the
sum. On top, raw values up to 15 push the LSTM's sigmoids and tanh into saturation. The
better configuration changes three things:

1. **Scale**: inputs and targets are divided by 10, so every value is in [0, 1.5].
2. **Examples of the rule**: the three course sequences plus random sequences of digits
   0-9 labelled by the same rule (the two test sequences are left out), so the fit pins
   down the rule, not twelve numbers.
3. **A cell that can be exactly linear**: an Elman layer with ReLU units. Where its units
   are active a ReLU RNN is a linear recurrence, and the rule is linear, so it can
   represent ``y_t = x_t + x_{t-1}`` exactly and carry it to unseen inputs; an LSTM's
   saturating gates can only approximate a sum. Adam at 0.01 with a cosine decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rnnkit.nn import LSTM, RNN
from rnnkit.recipes.common import RecipeContext, fmt, line_plot, one_thread, table

__all__ = ["TEST_INPUTS", "TEST_TARGETS", "TRAIN_INPUTS", "TRAIN_TARGETS", "Settings", "run"]

TRAIN_INPUTS = [[1, 2, 5, 6], [5, 7, 7, 8], [3, 4, 5, 7]]
TRAIN_TARGETS = [[1, 3, 7, 11], [5, 12, 14, 15], [3, 7, 9, 12]]
TEST_INPUTS = [[1, 2, 3, 4], [4, 5, 6, 7]]
#: the answers, y_t = x_t + x_{t-1}
TEST_TARGETS = [[1, 3, 5, 7], [4, 9, 11, 13]]


@dataclass
class Settings:
    """Settings of the pairwise-sum recipe."""

    course_hidden: int = 10  # LSTM units of the course's model
    course_lr: float = 0.001  # Adam learning rate of the course's model
    course_iterations: int = 5000  # full-batch Adam steps of the course's model
    better_hidden: int = 16  # ReLU units of the better model
    better_lr: float = 0.01  # Adam learning rate of the better model (cosine decay to 0)
    better_iterations: int = 3000  # full-batch Adam steps of the better model
    extra_sequences: int = 256  # random digit sequences labelled by the rule
    scale: float = 10.0  # the better model sees inputs and targets divided by this

    @classmethod
    def reduced(cls) -> Settings:
        """A run of a few seconds."""
        return cls(course_iterations=600, better_iterations=1000, extra_sequences=128)

    @classmethod
    def full(cls) -> Settings:
        """The exercise's model as given (the course names no epoch count: 5000 steps) and
        the better model at full length."""
        return cls()


class _SeqRegressor(nn.Module):
    """A recurrent layer and a linear output at every step: ``[B, T, 1] → [B, T, 1]``."""

    def __init__(self, layer: nn.Module, hidden_size: int, scale: float) -> None:
        super().__init__()
        self.rnn = layer
        self.out = nn.Linear(hidden_size, 1)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x / self.scale)
        return self.out(h) * self.scale


def _fit(
    model: _SeqRegressor, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, cosine: bool
) -> list[float]:
    """Full-batch Adam on the (scaled) mean squared error; the loss of every step."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    losses = []
    for _ in range(steps):
        loss = (((model(x) - y) / model.scale) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(loss.item())
    return losses


def _rule(x: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[:, 1:] += x[:, :-1]
    return y


def _extra_sequences(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random digit sequences of length 4, none equal to a test sequence."""
    tests = {tuple(s) for s in TEST_INPUTS}
    rows: list[list[int]] = []
    while len(rows) < n:
        for row in torch.randint(0, 10, (n, 4), generator=generator).tolist():
            if tuple(row) not in tests and len(rows) < n:
                rows.append(row)
    return torch.tensor(rows, dtype=torch.float32)


def _predict(model: nn.Module, inputs: list[list[int]]) -> list[list[float]]:
    with torch.no_grad():
        out = model(torch.tensor(inputs, dtype=torch.float32)[..., None])
    return out[..., 0].tolist()


def _report(ctx: RecipeContext, label: str, predictions: list[list[float]]) -> float:
    ctx.say(label)
    rows, worst = [], 0.0
    for x, y, p in zip(TEST_INPUTS, TEST_TARGETS, predictions, strict=True):
        err = max(abs(a - b) for a, b in zip(p, y, strict=True))
        worst = max(worst, err)
        rows.append([" ".join(map(str, x)), " ".join(map(str, y)),
                     " ".join(fmt(v, 2) for v in p), fmt(err, 3)])
    for line in table(["input", "answer", "prediction", "max |error|"], rows):
        ctx.say("  " + line)
    return worst


def run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    """Train the course's LSTM and the better model; predict the two test sequences."""
    with one_thread():
        return _run(ctx, settings)


def _run(ctx: RecipeContext, settings: Settings) -> dict[str, Any]:
    torch.manual_seed(ctx.seed)
    x = torch.tensor(TRAIN_INPUTS, dtype=torch.float32)[..., None]
    y = torch.tensor(TRAIN_TARGETS, dtype=torch.float32)[..., None]

    ctx.say(f"Course model: LSTM({settings.course_hidden} units) + linear output, raw values, "
            f"Adam lr {settings.course_lr:g}, {settings.course_iterations} full-batch steps on "
            "the 3 training sequences.")
    course = _SeqRegressor(LSTM(1, settings.course_hidden, batch_first=True),
                           settings.course_hidden, 1.0)
    course_losses = _fit(course, x, y, settings.course_lr, settings.course_iterations, False)
    course_pred = _predict(course, TEST_INPUTS)
    course_err = _report(ctx, "Course model's predictions:", course_pred)

    generator = torch.Generator().manual_seed(ctx.seed)
    extra = _extra_sequences(settings.extra_sequences, generator)[..., None]
    xb = torch.cat([x, extra])
    yb = torch.cat([y, _rule(extra)])
    ctx.say("")
    ctx.say(f"Better model: ReLU Elman RNN ({settings.better_hidden} units) + linear output, "
            f"values divided by {settings.scale:g}, trained on the 3 course sequences plus "
            f"{settings.extra_sequences} random digit sequences labelled by the same rule (the "
            f"test sequences left out), Adam lr {settings.better_lr:g} with cosine decay, "
            f"{settings.better_iterations} full-batch steps.")
    better = _SeqRegressor(RNN(1, settings.better_hidden, nonlinearity="relu", batch_first=True),
                           settings.better_hidden, settings.scale)
    better_losses = _fit(better, xb, yb, settings.better_lr, settings.better_iterations, True)
    better_pred = _predict(better, TEST_INPUTS)
    better_err = _report(ctx, "Better model's predictions:", better_pred)
    train_fit = max(abs(a - b) for p, t in zip(_predict(better, TRAIN_INPUTS), TRAIN_TARGETS,
                                                 strict=True) for a, b in zip(p, t, strict=True))
    ctx.say("")
    ctx.say(
        f"What it took: the course's LSTM is off by up to {fmt(course_err, 2)} on the test "
        f"sequences; the better model by {fmt(better_err, 3)} (and {fmt(train_fit, 3)} on the "
        "course's own sequences). Three sequences are twelve numbers for a model of over 500 "
        "parameters, so many functions fit them; scaling the values to about [0, 1] keeps the "
        "units out of saturation, random examples of the rule pin down the rule itself, and "
        "ReLU units, linear where active, can represent the sum exactly instead of "
        "approximating it with saturating gates."
    )
    # The better model is trained on values divided by `scale`; its MSE times scale² is in the
    # original units, so both curves share one axis.
    line_plot(
        ctx, "learning_curve.png",
        {
            f"course: LSTM {settings.course_hidden}, lr {settings.course_lr:g}, 3 sequences": (
                list(range(1, len(course_losses) + 1)), course_losses),
            f"better: ReLU RNN {settings.better_hidden}, values / {settings.scale:g}, "
            f"+{settings.extra_sequences} rule examples": (
                list(range(1, len(better_losses) + 1)),
                [v * settings.scale**2 for v in better_losses]),
        },
        title="Pairwise sum: learning curves",
        xlabel="Adam step (full batch)", ylabel="training MSE (original units)", logy=True,
        note=(f"Largest error on the test sequences (1 2 3 4) and (4 5 6 7) after training: "
              f"course model {fmt(course_err, 2)}, better model {fmt(better_err, 3)}. The course "
              f"model fits its 3 training sequences to an MSE of {course_losses[-1]:.2g} and "
              "still misses the test answers: it has not learned the rule."),
    )
    return {
        "test_inputs": TEST_INPUTS,
        "test_targets": TEST_TARGETS,
        "predictions": better_pred,
        "max_abs_error": better_err,
        "course_predictions": course_pred,
        "course_max_abs_error": course_err,
        "course_final_loss": course_losses[-1],
        "better_final_loss": better_losses[-1],
    }
