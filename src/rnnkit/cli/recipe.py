"""``rnnkit recipe``: the course exercises, reproduced.

::

    rnnkit recipe list
    rnnkit recipe run NAME [--full] [--json] [--out DIR] [--seed N] [--data PATH]
                           [--set KEY=VALUE ...]

``run`` prints the exercise's answer (numbers, tables), writes its plots and
``results.json`` into the run directory (default ``runs/recipe-NAME-TIME``). ``--json``
prints one JSON object ``{"recipe": NAME, "results": {...}}`` on stdout and the report on
stderr. ``--set`` changes one of the recipe's settings (``--set iterations=500``; the
settings are listed in ``results.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnnkit.recipes import RECIPES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the command's arguments."""
    parser.description = "The course exercises, reproduced: list them, or run one."
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", help="show every recipe with one line each")
    run = sub.add_parser("run", help="run one recipe")
    run.add_argument("name", metavar="NAME", help="one of: " + ", ".join(RECIPES))
    run.add_argument("--full", action="store_true",
                     help="the exercise's own settings (minutes) instead of the reduced ones")
    run.add_argument("--json", action="store_true",
                     help='print one JSON object {"recipe": NAME, "results": {...}} on stdout')
    run.add_argument("--out", metavar="DIR", default=None,
                     help="run directory (default runs/recipe-NAME-TIME)")
    run.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    run.add_argument("--data", metavar="PATH", default=None,
                     help="data file or folder (default: the recipe's dataset in rnnkit's cache)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="change one of the recipe's settings (repeatable)")


def _overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"Argument `--set` expects KEY=VALUE, got {item!r}.")
        out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    """Run the command; return the exit status."""
    if args.action == "list":
        width = max(len(name) for name in RECIPES)
        for recipe in RECIPES.values():
            print(f"{recipe.name:<{width}}  {recipe.summary}")
        return 0
    from rnnkit.recipes import get_recipe, run_recipe

    get_recipe(args.name)  # an unknown name fails before anything is written
    if args.data is not None and not Path(args.data).exists():
        raise FileNotFoundError(f"Option `--data` path {args.data!r} does not exist.")
    result = run_recipe(
        args.name,
        full=args.full,
        seed=args.seed,
        out=args.out,
        data=args.data,
        overrides=_overrides(args.set),
        stream=sys.stderr if args.json else sys.stdout,
    )
    if args.json:
        print(json.dumps(result.to_json()))
    return 0
