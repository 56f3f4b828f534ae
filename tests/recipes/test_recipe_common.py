"""The recipes' plotting helper: smoothing and log axes that span many decades."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest

from rnnkit.recipes.common import RecipeContext, _round_decades, line_plot


def _ctx(tmp_path: Path) -> RecipeContext:
    return RecipeContext("demo", tmp_path, full=False, seed=0, stream=io.StringIO())


def test_line_plot_smooths_and_refuses_a_negative_window(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    series = {"noisy": (list(range(1, 41)), [float(i % 2) for i in range(40)])}
    path = line_plot(ctx, "smooth.png", series, title="t", xlabel="x", ylabel="y", smooth=10)
    assert path.stat().st_size > 1000 and ctx.plots == ["smooth.png"]
    with pytest.raises(ValueError, match=r"`smooth` expects a non-negative integer, got -1"):
        line_plot(ctx, "bad.png", series, title="t", xlabel="x", ylabel="y", smooth=-1)


def test_log_axis_over_many_decades_gets_round_decade_ticks() -> None:
    from matplotlib.figure import Figure

    ax = Figure().add_subplot(1, 1, 1)
    ax.semilogy([0, 1], [1e-240, 10.0])
    _round_decades(ax)
    exponents = [round(math.log10(t)) for t in ax.get_yticks()]
    assert len(exponents) <= 9
    assert all(e % 50 == 0 for e in exponents) and 0 in exponents and -200 in exponents
