"""The course exercises, reproduced: one recipe per worked example or exercise.

``rnnkit recipe list`` shows :data:`RECIPES`; ``rnnkit recipe run NAME`` calls
:func:`run_recipe`. A recipe module is imported only when it runs, so listing them costs
nothing. Every recipe has a reduced default (seconds on a laptop CPU) and ``full=True`` with
the exercise's own settings, prints what the exercise asks for, writes its plots and
``results.json`` into its run directory and returns the results.

Example:
    >>> [r.name for r in RECIPES.values()][:2]
    ['worked-many-to-many', 'worked-elman-jordan']
    >>> get_recipe("pairwise-sum").module
    'pairwise_sum'
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rnnkit.recipes.common import RecipeContext, jsonable, seed_all

__all__ = ["RECIPES", "Recipe", "RecipeRun", "get_recipe", "recipe_settings", "run_recipe"]


@dataclass(frozen=True)
class Recipe:
    """One course exercise.

    Attributes:
        name: the name ``rnnkit recipe run`` takes.
        module: the module under ``rnnkit.recipes`` that runs it.
        summary: one line for ``rnnkit recipe list``.
    """

    name: str
    module: str
    summary: str


#: Every recipe, in the order of the course.
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("worked-many-to-many", "worked_many_to_many",
               "worked example: 3 tanh units, softmax over 2 classes, BPTT by hand, one update"),
        Recipe("worked-elman-jordan", "worked_elman_jordan",
               "worked example: h(t) and y(t) of an Elman and a Jordan network, 4 steps"),
        Recipe("names-generation", "names_generation",
               "generate Portuguese names letter by letter; top-1/2/3 choices; copies counted"),
        Recipe("names-classification", "names_classification",
               "surname -> language (18 classes) with a packed LSTM; confusion matrix"),
        Recipe("delayed-regression", "delayed_regression",
               "regress y1 = 5x1(t) - 0.2x3(t-1), y2 = 25x2(t-1)x3(t-3) from noisy sequences"),
        Recipe("pairwise-sum", "pairwise_sum",
               "LSTM maps (1 2 5 6) to (1 3 7 11); predict (1 2 3 4) and (4 5 6 7)"),
        Recipe("char-gru-sentiment", "char_gru_sentiment",
               "character GRU sentiment on 11 sentences; both test sentences right, 5 seeds"),
        Recipe("shakespeare-char-small", "shakespeare_char_small",
               "3-layer ReLU RNN, then an LSTM, on 10,000 characters of tiny Shakespeare"),
        Recipe("vanishing-gradients", "vanishing_gradients",
               "gradient norm through time: tanh RNN / LSTM / GRU, three inits, clipping"),
        Recipe("kalman", "kalman",
               "GRU vs the Kalman filter on a linear system (within 5%) and a nonlinear one"),
        Recipe("shakespeare-char", "shakespeare_char",
               "benchmark: char LSTM on tiny Shakespeare, validation loss in 30 min of CPU"),
        Recipe("sherlock-char", "sherlock_char",
               "benchmark: char LSTM on the Sherlock Holmes canon; samples at 3 temperatures"),
        Recipe("ptb-word", "ptb_word",
               "benchmark: word LSTM on Penn Treebank, test perplexity in 60 min of CPU"),
        Recipe("ptb-char", "ptb_char",
               "benchmark: char LSTM on Penn Treebank, test bits per character in 60 min"),
        Recipe("imdb-lstm", "imdb_lstm",
               "benchmark: IMDB sentiment, padded -> packed -> dropout -> bi -> 2 layers"),
        Recipe("imdb-bilstm", "imdb_bilstm",
               "benchmark: IMDB sentiment with a packed BiLSTM (embedding 100, hidden 256)"),
        Recipe("rt-polarity", "rt_polarity",
               "benchmark: movie-review sentence polarity, 10-fold cross-validation"),
        Recipe("pos-ewt", "pos_ewt",
               "benchmark: UPOS tagging of UD English EWT with a BiLSTM and character features"),
        Recipe("translate-en-fr", "translate_en_fr",
               "benchmark: English -> French with attention, sacreBLEU greedy and beam 5"),
        Recipe("lstm-variants", "lstm_variants",
               "benchmark: LSTM ablations, GRU and MUT1-3 on 8-digit addition, 3 seeds each"),
    )
}


@dataclass
class RecipeRun:
    """What :func:`run_recipe` returns.

    Attributes:
        name: the recipe.
        run_dir: its run directory (``results.json`` and the plots are there).
        settings: the settings it ran with.
        results: its results, JSON-ready.
    """

    name: str
    run_dir: Path
    settings: dict[str, Any]
    results: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """``{"recipe": NAME, "results": {...}}``, what ``--json`` prints."""
        return {"recipe": self.name, "results": self.results}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``.

    Raises:
        ValueError: no such recipe (the message lists them).
    """
    if name not in RECIPES:
        raise ValueError(f"Argument `name` must be one of {list(RECIPES)}, got {name!r}.")
    return RECIPES[name]


def recipe_settings(
    name: str, *, full: bool = False, overrides: Mapping[str, Any] | None = None
) -> Any:
    """The settings dataclass a recipe runs with: reduced or full, then ``overrides``.

    Args:
        name: the recipe.
        full: the exercise's own settings instead of the reduced ones.
        overrides: field name -> value (strings are parsed as on the command line).

    Raises:
        ValueError: an unknown recipe, an unknown setting or a value of the wrong type.
    """
    from rnnkit.config import apply_overrides

    module = importlib.import_module(f"rnnkit.recipes.{get_recipe(name).module}")
    settings = module.Settings.full() if full else module.Settings.reduced()
    if overrides:
        settings = apply_overrides(settings, dict(overrides))
    return settings


def _default_run_dir(name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"recipe-{name}-{stamp}"
    k = 1
    while path.exists():
        k += 1
        path = Path("runs") / f"recipe-{name}-{stamp}-{k}"
    return path


def run_recipe(
    name: str,
    *,
    full: bool = False,
    seed: int = 0,
    out: str | Path | None = None,
    data: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    stream: TextIO | None = None,
) -> RecipeRun:
    """Run one recipe and write its ``results.json`` and plots into its run directory.

    Args:
        name: the recipe (see :data:`RECIPES`).
        full: the exercise's own settings (minutes) instead of the reduced ones (seconds).
        seed: seeds python, numpy and torch, and every draw the recipe makes.
        out: the run directory (default ``runs/recipe-NAME-TIME``).
        data: the data file or folder (default: the recipe's named dataset in the cache).
        overrides: settings to change (see the recipe module's ``Settings``).
        stream: where the report is printed (default stdout).

    Returns:
        A :class:`RecipeRun`.

    Raises:
        ValueError: an unknown recipe or setting, or a seed that is not a non-negative int.
        FileNotFoundError: ``data`` does not exist.
    """
    recipe = get_recipe(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"Argument `seed` must be a non-negative integer, got {seed!r}.")
    settings = recipe_settings(name, full=full, overrides=overrides)
    if data is not None and not Path(data).exists():
        raise FileNotFoundError(
            f"Argument `data` must be an existing file or folder, got {str(data)!r}."
        )
    run_dir = Path(out) if out is not None else _default_run_dir(name)
    run_dir.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(f"rnnkit.recipes.{recipe.module}")
    ctx = RecipeContext(
        name=name,
        run_dir=run_dir,
        full=full,
        seed=seed,
        data=None if data is None else Path(data),
        stream=sys.stdout if stream is None else stream,
    )
    ctx.say(f"== recipe {name} ({'full' if full else 'reduced'} settings, seed {seed}) ==")
    seed_all(seed)
    results = dict(module.run(ctx, settings))
    results["plots"] = [str(run_dir / p) for p in ctx.plots]
    results["run_dir"] = str(run_dir)
    results = jsonable(results)
    settings_dict = jsonable(dataclasses.asdict(settings))
    record = {
        "recipe": name,
        "full": full,
        "seed": seed,
        "settings": settings_dict,
        "results": results,
    }
    # written beside, then renamed: an interrupted write never leaves half a results.json
    partial = run_dir / "results.json.partial"
    partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, run_dir / "results.json")
    ctx.say(f"results written to {run_dir / 'results.json'}")
    return RecipeRun(name=name, run_dir=run_dir, settings=settings_dict, results=results)
