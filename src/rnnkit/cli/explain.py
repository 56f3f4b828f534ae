"""``rnnkit explain``: one recurrent network on given numbers, step by step.

::

    rnnkit explain CELL [--variant V] --params PARAMS.json --inputs INPUTS.json
        [--targets TARGETS.json] [--output-activation identity|sigmoid|tanh|softmax]
        [--loss mse|bce|ce] [--lr ETA] [--nonlinearity tanh|relu] [--lengths N,N,...]
        [--plot FILE.png] [--json]

CELL is a cell of ``rnnkit.spec`` (``elman`` and ``peephole`` are aliases) or ``mut1``,
``mut2``, ``mut3`` (Jozefowicz et al. 2015; MUT1 and MUT2 need ``I = H``); ``--variant`` picks
an LSTM gate ablation of Greff et al. 2017 (``rnnkit explain lstm --variant cifg ...``:
``nig``, ``nfg``, ``nog``, ``niaf``, ``noaf``, ``cifg``, ``fgr``), whose removed gates have no
row and whose weights hold only the blocks of the gates it has (``rnnkit.spec_variants``).

PARAMS.json maps the spec's parameter names (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``, ... and the output layer's ``weight_hy``, ``bias_y``; a Jordan cell's own) to
nested lists in torch's layout, plus optional initial states ``h0``/``c0``/``y0``. The names
of a one-layer, one-direction layer's own parameters (``weight_ih_l0`` ..., as
``rnnkit.nn.to_reference`` gives them) are read as these; another layer's or direction's are
refused by name.
INPUTS.json is a list of time steps (each a list of numbers), or a list of such sequences for
a batch. TARGETS.json holds one target per step (``null`` for none): a class index or one-hot
list for ``ce``, numbers for ``mse`` and ``bce``. A loss is used only on outputs it is defined
on: ``bce`` needs sigmoid or softmax outputs, ``ce`` softmax outputs, and a network without an
output layer takes only ``mse``; any other pair is refused before any computation.
``--lengths 3,2`` gives each sequence of a padded batch its true length: past it the state is
frozen, the output is 0 and there is no loss term (the steps are marked "past its end",
``null`` in the JSON). Without ``weight_hy`` (and not Jordan) the output is the hidden state.
FGR also takes ``weight_ah [3H, 3H]`` and an optional ``a0``.
``--json`` prints one JSON object (keys ``cell``, ``hidden``, ``outputs``, ``steps``; with
targets ``loss``, ``loss_per_step``, ``grads``, ``backward``, ``step_grads``; with ``--lr``
also ``lr`` and ``updated``), the same keys for every cell and variant. Every number in it is
finite: numbers that overflow float64, or an output saturated to exactly 0 or 1 where the
loss takes its log, are refused with a message naming the value.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rnnkit.data.text import read_text
from rnnkit.reference.cells import REFERENCE_CELL_NAMES
from rnnkit.reference.trace import CELL_ALIASES, explain
from rnnkit.spec import NONLINEARITIES, OUTPUT_ACTIVATIONS
from rnnkit.spec_variants import LSTM_VARIANTS

CELL_CHOICES = (*REFERENCE_CELL_NAMES, *CELL_ALIASES)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the command's arguments."""
    parser.description = (
        "Run one recurrent network on given numbers and print the computation step by step: "
        "pre-activations, gates, states and outputs; with --targets the loss, every gradient "
        "of backpropagation through time, and with --lr the parameters after one SGD step."
    )
    parser.add_argument("cell", choices=CELL_CHOICES, metavar="CELL",
                        help=f"one of: {', '.join(CELL_CHOICES)}")
    # checked by explain(), so that a bad value is one sentence with exit status 2
    parser.add_argument("--variant", default="vanilla", metavar="V",
                        help="LSTM gate ablation of Greff et al. 2017 (lstm only): "
                             f"{', '.join(LSTM_VARIANTS)} (default vanilla)")
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
                        help="default: ce after softmax, bce after sigmoid, else mse; bce "
                             "needs sigmoid or softmax outputs, ce softmax outputs")
    parser.add_argument("--lr", type=float, default=None, metavar="ETA",
                        help="show the parameters after one SGD step with this learning rate")
    parser.add_argument("--nonlinearity", choices=NONLINEARITIES, default="tanh",
                        help="hidden nonlinearity of rnn/jordan (default tanh)")
    parser.add_argument("--lengths", metavar="N,N,...", default=None,
                        help="each sequence's true length in a padded batch (default: all "
                             "steps)")
    parser.add_argument("--plot", metavar="FILE.png", default=None,
                        help="save the gradient norm ||dL/dh_t|| through time (loss on the last "
                             "step) as a PNG")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _load(path: str, what: str) -> Any:
    """The JSON in the file option ``--what`` names; a missing, empty, binary or malformed
    file is refused in one sentence naming the option."""
    name = f"Option `--{what}` file"
    if not Path(path).exists():
        raise FileNotFoundError(f"{name} {path!r} does not exist.")
    text = read_text(path, name=name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{name} {path!r} is not valid JSON: {err}.") from None


def _parse_lengths(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"Argument `--lengths` must be whole numbers separated by commas, one "
                         f"per sequence, got {text!r}.") from None


def run(args: argparse.Namespace) -> int:
    """Run the command; return the exit status."""
    lengths = _parse_lengths(args.lengths)
    params = _load(args.params, "params")
    inputs = _load(args.inputs, "inputs")
    targets = _load(args.targets, "targets") if args.targets else None
    trace = explain(
        args.cell, params, inputs, targets=targets, nonlinearity=args.nonlinearity,
        output_activation=args.output_activation, loss=args.loss, lr=args.lr,
        variant=args.variant, lengths=lengths,
    )
    if args.plot:
        from rnnkit.reference.flow import plot_gradient_flow

        norms = trace.gradient_flow()
        plot_gradient_flow(
            {trace.network.spec.name: norms}, args.plot,
            title=f"‖dL/dh_t‖ through time, {trace.network.spec.name} (loss on the last step)",
        )
    if args.json:
        # explain() refuses a trace with an infinite or NaN number, so this never raises
        print(json.dumps(trace.to_json(), allow_nan=False))
        if args.plot:
            print(f"gradient flow plot written to {args.plot}", file=sys.stderr)
    else:
        print(trace.format())
        if args.plot:
            print(f"\nGradient flow plot written to {args.plot}")
    return 0
