"""``rnnkit gradcheck``: the reference backward pass against finite differences.

::

    rnnkit gradcheck CELL [--variant V] [--nonlinearity tanh|relu] [--layers N]
        [--bidirectional] [--layer-norm] [--seed S] [--loss mse|bce|ce]
        [--output-activation ...] [--truncate K] [--many-to-one] [--tolerance TOL]

CELL is a cell of ``rnnkit.spec`` or ``mut1``, ``mut2``, ``mut3``; ``--variant`` picks an LSTM
ablation (``rnnkit gradcheck lstm --variant cifg``).

Builds a tiny float64 network, checks the gradient of every parameter, of the inputs and of
the initial state, prints a table of the max relative error per tensor and exits with status
1 when any error reaches the tolerance.
"""

from __future__ import annotations

import argparse

import numpy as np

from rnnkit.reference.cells import REFERENCE_CELL_NAMES
from rnnkit.reference.gradcheck import DEFAULT_TOLERANCE, check_network_gradients
from rnnkit.reference.network import Network
from rnnkit.spec import NONLINEARITIES, OUTPUT_ACTIVATIONS
from rnnkit.spec_variants import LSTM_VARIANTS

_ACTIVATION_FOR_LOSS = {"ce": "softmax", "bce": "sigmoid", "mse": "identity"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the command's arguments."""
    parser.add_argument("cell", choices=REFERENCE_CELL_NAMES, metavar="CELL",
                        help=f"one of: {', '.join(REFERENCE_CELL_NAMES)}")
    parser.add_argument("--variant", choices=LSTM_VARIANTS, default="vanilla",
                        help="LSTM gate ablation of Greff et al. 2017 (lstm only): "
                             f"{', '.join(LSTM_VARIANTS)} (default vanilla)")
    parser.add_argument("--nonlinearity", choices=NONLINEARITIES, default="tanh",
                        help="hidden nonlinearity of rnn/jordan")
    parser.add_argument("--layers", type=int, default=1, metavar="N", help="stacked layers")
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--layer-norm", action="store_true",
                        help="layer normalisation (lstm, peephole_lstm, gru)")
    parser.add_argument("--seed", type=int, default=0, help="seeds parameters, data, gradients")
    parser.add_argument("--loss", choices=("mse", "bce", "ce"), default=None,
                        help="check a loss against random targets (adds an output layer); "
                             "default: random upstream gradients")
    parser.add_argument("--output-activation", choices=OUTPUT_ACTIVATIONS, default=None,
                        help="output activation (default: the loss's canonical one)")
    parser.add_argument("--truncate", type=int, default=None, metavar="K",
                        help="check truncated BPTT with windows of K steps")
    parser.add_argument("--many-to-one", action="store_true", help="output at the last step only")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="largest max relative error that passes "
                             f"(default {DEFAULT_TOLERANCE:g})")
    parser.add_argument("--batch", type=int, default=2, help="B (default 2)")
    parser.add_argument("--steps", type=int, default=4, help="T (default 4)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="I (default 3; the hidden size for mut1 and mut2, which need I = H)")
    parser.add_argument("--hidden-size", type=int, default=4, help="H (default 4)")


def run(args: argparse.Namespace) -> int:
    """Run the command; return 0 when every tensor passes, else 1."""
    if args.input_size is None:
        args.input_size = args.hidden_size if args.cell in ("mut1", "mut2") else 3
    for name in ("layers", "batch", "steps", "input_size", "hidden_size"):
        if getattr(args, name) < 1:
            raise ValueError(
                f"Argument `--{name.replace('_', '-')}` must be a positive integer, got "
                f"{getattr(args, name)}."
            )
    activation = args.output_activation
    if activation is None and args.loss is not None:
        activation = _ACTIVATION_FOR_LOSS[args.loss]
    jordan = args.cell == "jordan"
    output_size = 2 if (jordan or args.loss is not None or activation is not None) else None
    net = Network(
        args.cell, args.input_size, args.hidden_size, args.layers,
        bidirectional=args.bidirectional, nonlinearity=args.nonlinearity,
        layer_norm=args.layer_norm, output_size=output_size, output_activation=activation,
        many_to_one=args.many_to_one, variant=args.variant,
    )
    rng = np.random.default_rng(args.seed)
    params = net.init_params(rng)
    x = rng.normal(size=(args.batch, args.steps, args.input_size))
    targets = None
    if args.loss is not None:
        shape = (args.batch,) if args.many_to_one else (args.batch, args.steps)
        O = net.num_directions * net.width if jordan else int(output_size or 2)
        if args.loss == "ce":
            targets = rng.integers(0, O, size=shape)
        else:
            targets = rng.uniform(0, 1, size=(*shape, O))
    result = check_network_gradients(
        net, params, x, targets=targets, loss=args.loss, truncate=args.truncate,
        seed=args.seed, tolerance=args.tolerance,
    )
    what = "loss " + args.loss if args.loss else "random upstream gradients"
    print(f"gradient check of {net!r}")
    print(f"B={args.batch}, T={args.steps}, float64, {what}"
          + (f", truncate={args.truncate}" if args.truncate else "")
          + ", five-point centred differences")
    print(result.table())
    return 0 if result.ok else 1
