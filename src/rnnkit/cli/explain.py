"""``rnnkit explain``: one recurrent network on given numbers, step by step.

::

    rnnkit explain CELL --params PARAMS.json --inputs INPUTS.json [--targets TARGETS.json]
        [--output-activation identity|sigmoid|tanh|softmax] [--loss mse|bce|ce] [--lr ETA]
        [--nonlinearity tanh|relu] [--plot FILE.png] [--json]

PARAMS.json maps the spec's parameter names (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``, ... and the output layer's ``weight_hy``, ``bias_y``; a Jordan cell's own) to
nested lists in torch's layout, plus optional initial states ``h0``/``c0``/``y0``.
INPUTS.json is a list of time steps (each a list of numbers), or a list of such sequences for
a batch. TARGETS.json holds one target per step (``null`` for none): a class index or one-hot
list for ``ce``, numbers for ``mse`` and ``bce``. Without ``weight_hy`` (and not Jordan) the
output is the hidden state. ``--json`` prints one JSON object (keys ``hidden``, ``outputs``,
``steps``; with targets ``loss``, ``loss_per_step``, ``grads``, ``backward``,
``step_grads``; with ``--lr`` also ``lr`` and ``updated``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rnnkit.reference.trace import CELL_ALIASES, explain
from rnnkit.spec import CELL_NAMES, NONLINEARITIES, OUTPUT_ACTIVATIONS

CELL_CHOICES = (*CELL_NAMES, *CELL_ALIASES)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the command's arguments."""
    parser.description = (
        "Run one recurrent network on given numbers and print the computation step by step: "
        "pre-activations, gates, states and outputs; with --targets the loss, every gradient "
        "of backpropagation through time, and with --lr the parameters after one SGD step."
    )
    parser.add_argument("cell", choices=CELL_CHOICES, metavar="CELL",
                        help=f"one of: {', '.join(CELL_CHOICES)}")
    parser.add_argument("--params", required=True, metavar="PARAMS.json",
                        help="parameter name -> nested list (torch layout)")
    parser.add_argument("--inputs", required=True, metavar="INPUTS.json",
                        help="list of time steps, or list of sequences for a batch")
    parser.add_argument("--targets", metavar="TARGETS.json",
                        help="one target per step (null for none)")
    parser.add_argument("--output-activation", choices=OUTPUT_ACTIVATIONS, default=None,
                        help="output activation of the output layer or Jordan cell "
                             "(default identity)")
    parser.add_argument("--loss", choices=("mse", "bce", "ce"), default=None,
                        help="default: ce after softmax, bce after sigmoid, else mse")
    parser.add_argument("--lr", type=float, default=None, metavar="ETA",
                        help="show the parameters after one SGD step with this learning rate")
    parser.add_argument("--nonlinearity", choices=NONLINEARITIES, default="tanh",
                        help="hidden nonlinearity of rnn/jordan (default tanh)")
    parser.add_argument("--plot", metavar="FILE.png", default=None,
                        help="save the gradient norm ||dL/dh_t|| through time (loss on the last "
                             "step) as a PNG")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _load(path: str, what: str) -> Any:
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"Argument `--{what}` file {path} is not valid JSON: {err}.") from None


def run(args: argparse.Namespace) -> int:
    """Run the command; return the exit status."""
    params = _load(args.params, "params")
    inputs = _load(args.inputs, "inputs")
    targets = _load(args.targets, "targets") if args.targets else None
    trace = explain(
        args.cell, params, inputs, targets=targets, nonlinearity=args.nonlinearity,
        output_activation=args.output_activation, loss=args.loss, lr=args.lr,
    )
    if args.plot:
        from rnnkit.reference.flow import plot_gradient_flow

        norms = trace.gradient_flow()
        plot_gradient_flow(
            {trace.network.spec.name: norms}, args.plot,
            title=f"‖dL/dh_t‖ through time, {trace.network.spec.name} (loss on the last step)",
        )
    if args.json:
        print(json.dumps(trace.to_json()))
        if args.plot:
            print(f"gradient flow plot written to {args.plot}", file=sys.stderr)
    else:
        print(trace.format())
        if args.plot:
            print(f"\nGradient flow plot written to {args.plot}")
    return 0
