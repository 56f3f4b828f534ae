"""What every recipe shares: its run directory, its printed report, its plots and results.

A recipe is a module with a ``Settings`` dataclass (``reduced()`` for the default run of a few
seconds, ``full()`` for the exercise's own settings) and a function
``run(ctx: RecipeContext, settings) -> dict`` that prints what the exercise asks for with
:meth:`RecipeContext.say`, draws its plots with :func:`line_plot` (or its own figure and
:meth:`RecipeContext.save_figure`) and returns its results as JSON-ready values;
:func:`rnnkit.recipes.run_recipe` writes them to ``RUN/results.json``.

Example:
    >>> import io, tempfile
    >>> ctx = RecipeContext("demo", Path(tempfile.mkdtemp()), full=False, seed=0,
    ...                     stream=io.StringIO())
    >>> ctx.say("h(1) =", fmt(0.99396316, 4))
    >>> ctx.stream.getvalue()
    'h(1) = 0.9940\\n'
    >>> jsonable({"y": np.float32(0.5), "t": (1, 2)})
    {'y': 0.5, 't': [1, 2]}
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

__all__ = [
    "RecipeContext",
    "fmt",
    "jsonable",
    "line_plot",
    "one_thread",
    "read_lines",
    "resolve_data",
    "seed_all",
    "table",
    "torch_threads",
]


@dataclass
class RecipeContext:
    """Where a recipe writes and how it reports.

    Attributes:
        name: the recipe's name.
        run_dir: the run directory (created by :func:`rnnkit.recipes.run_recipe`).
        full: run the exercise's own settings instead of the reduced ones.
        seed: the seed of every random draw.
        data: the ``--data`` path, or ``None`` for the recipe's default dataset.
        stream: where :meth:`say` prints (stderr when the command prints JSON).
        plots: the plots written so far, relative to ``run_dir``.
    """

    name: str
    run_dir: Path
    full: bool
    seed: int
    data: Path | None = None
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    plots: list[str] = field(default_factory=list)

    def say(self, *parts: object) -> None:
        """Print one line of the recipe's report (parts joined by spaces)."""
        print(*parts, file=self.stream, flush=True)

    def path(self, filename: str) -> Path:
        """A file inside the run directory."""
        return self.run_dir / filename

    def save_figure(self, fig: Any, filename: str) -> Path:
        """Write a matplotlib ``Figure`` as a PNG into the run directory and record it."""
        path = self.path(filename)
        tmp = path.with_name(path.stem + ".tmp.png")
        fig.savefig(tmp, dpi=90)
        os.replace(tmp, path)
        self.plots.append(filename)
        self.say(f"plot written to {path}")
        return path


def seed_all(seed: int) -> None:
    """Seed python's, numpy's and torch's generators (torch only when it is imported)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` CPU threads inside the block (0: leave the count as it is),
    then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fast_precision() -> str:
    """The training precision a benchmark recipe runs in on this CPU: ``"bf16"`` where the
    CPU has bfloat16 units (AVX512-BF16 or AMX), the float32 ``"fp32"`` where bfloat16 would
    only be emulated and many times slower (:func:`rnnkit.train.native_bf16`)."""
    from rnnkit.train import native_bf16

    return "bf16" if native_bf16("cpu") else "fp32"


def one_thread() -> contextlib.AbstractContextManager[None]:
    """Run torch on one CPU thread inside the block, then restore the previous count.

    The recipes' small models (tens of units, batches of a few sequences) spend more time
    synchronising threads than computing; on one thread they run several times faster.
    """
    return torch_threads(1)


def fmt(value: float, decimals: int = 4) -> str:
    """A number with a fixed number of decimals, ``-0.0000`` written as ``0.0000``.

    >>> fmt(-0.00001), fmt(2.5, 2)
    ('0.0000', '2.50')
    """
    text = f"{float(value):.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Lines of a plain-text table with columns padded to their widest cell.

    >>> print("\\n".join(table(["t", "h"], [[1, "0.5"], [10, "-1"]])))
    t   h
    --  ---
    1   0.5
    10  -1
    """
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def jsonable(value: Any) -> Any:
    """``value`` with numpy and torch numbers and arrays turned into plain Python (for JSON).

    Non-finite floats become ``None`` (JSON has no NaN).
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def line_plot(
    ctx: RecipeContext,
    filename: str,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logy: bool = False,
    note: str | None = None,
    styles: Mapping[str, str] | None = None,
    smooth: int = 0,
) -> Path:
    """Draw one line per series into ``RUN/filename`` (a PNG) and return its path.

    Args:
        ctx: the recipe's context.
        filename: the PNG's name inside the run directory.
        series: label -> ``(x values, y values)``.
        title, xlabel, ylabel: the figure's texts.
        logy: a logarithmic y axis.
        note: a sentence printed under the plot (what it shows).
        styles: label -> matplotlib format string (``"o"``, ``"--"``...).
        smooth: when above 1, each series is drawn faintly and its trailing mean over
            ``smooth`` points over it (for noisy per-step or per-epoch curves).

    Raises:
        ValueError: no series, or a negative ``smooth``.
    """
    if not series:
        raise ValueError("Argument `series` must hold at least one curve, got none.")
    if smooth < 0:
        raise ValueError(f"Argument `smooth` expects a non-negative integer, got {smooth!r}.")
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    wrapped = textwrap.fill(note, 105) if note else ""
    extra = 0.17 * (wrapped.count("\n") + 1) + 0.15 if note else 0.0  # inches under the axes
    fig = Figure(figsize=(7.5, 4.2 + extra))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    tiny = np.finfo(np.float64).tiny
    for label, (xs, ys) in series.items():
        y = np.asarray(ys, dtype=np.float64)
        style, kwargs = (styles or {}).get(label, "-"), {}
        if smooth > 1:
            from rnnkit.train.plots import rolling_mean

            (faint,) = ax.plot(list(xs), np.maximum(y, tiny) if logy else y, "-", alpha=0.25,
                               linewidth=0.7)
            y = np.asarray(rolling_mean(y.tolist(), smooth))
            label, kwargs = f"{label} ({smooth}-point mean)", {"color": faint.get_color()}
        if logy:
            y = np.maximum(y, tiny)
        ax.plot(list(xs), y, style, label=label, **kwargs)
    if logy:
        ax.set_yscale("log")
        _round_decades(ax)
    if all(isinstance(x, (int, np.integer)) for xs, _ in series.values() for x in xs):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if note:
        fig.text(0.5, 0.01, wrapped, ha="center", va="bottom", fontsize=8)
        fig.tight_layout(rect=(0, extra / (4.2 + extra), 1, 1))
    else:
        fig.tight_layout()
    return ctx.save_figure(fig, filename)


def _round_decades(ax: Any) -> None:
    """On a log axis spanning many decades, ticks every 1, 2, 5, 10, 20, 50... decades (at most
    eight), so the labels read 10⁻⁵⁰, 10⁻¹⁰⁰ rather than matplotlib's 10⁻⁵⁴, 10⁻⁸⁷."""
    from matplotlib.ticker import FixedLocator, NullLocator

    low, high = ax.get_ylim()
    lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
    if hi - lo <= 12:
        return
    step = next(s for s in (2, 5, 10, 20, 25, 50, 100) if (hi - lo) / s <= 8)
    first = math.ceil(lo / step) * step
    ax.yaxis.set_major_locator(FixedLocator([10.0**k for k in range(first, hi + 1, step)]))
    ax.yaxis.set_minor_locator(NullLocator())


def resolve_data(ctx: RecipeContext, dataset: str, filename: str | None = None) -> Path:
    """The recipe's data: ``--data`` when given, else the named dataset from rnnkit's cache.

    A folder given with ``--data`` is joined with ``filename`` (when the recipe reads one
    file of the dataset), or with ``filename.gz`` when only the compressed copy is there
    (the readers decompress ``.gz`` on the fly). Without ``--data`` the dataset is fetched
    into the cache (:func:`rnnkit.data.download.fetch_dataset`: a download, verified) unless
    it is there.

    Raises:
        FileNotFoundError: the path, or ``filename`` inside it, does not exist.
    """
    if ctx.data is not None:
        path = Path(ctx.data)
        if not path.exists():
            raise FileNotFoundError(
                f"Argument `--data` must be an existing file or folder, got {str(path)!r}."
            )
        if path.is_dir() and filename is not None:
            for candidate in (path / filename, path / f"{filename}.gz"):
                if candidate.is_file():
                    return candidate
            raise FileNotFoundError(
                f"Argument `--data` is a folder without {filename} (or {filename}.gz): "
                f"{str(ctx.data)!r}."
            )
        return path
    from rnnkit.data.download import DownloadError, fetch_dataset

    ctx.say(f"(no --data given: using dataset {dataset!r} from rnnkit's cache)")
    try:
        folder = fetch_dataset(dataset)
    except DownloadError as err:
        reason = str(err).rstrip(".")
        raise ValueError(
            f"Dataset {dataset!r} is not in rnnkit's cache and could not be fetched ({reason}); "
            f"give the data with --data PATH, or import a local copy with "
            f"`rnnkit data get {dataset} --from FOLDER`."
        ) from None
    return folder / filename if filename is not None else folder


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of a UTF-8 text file, stripped.

    Raises:
        ValueError: the file holds no non-empty line (or is not UTF-8 text).
    """
    from rnnkit.data.text import read_text

    lines = [line.strip() for line in read_text(path).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"File {str(path)!r} must hold at least one non-empty line, got none.")
    return lines
