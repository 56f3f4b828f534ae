"""The NumPy reference engine: every cell's forward and backward pass written out.

It never imports torch (``import rnnkit.reference`` works where torch is not installed) and
builds every cell from ``rnnkit.spec``, so its parameter dicts move to and from ``rnnkit.nn``
unchanged (``rnnkit.nn.convert``). Modules, in reading order:

* :mod:`~rnnkit.reference.activations`, :mod:`~rnnkit.reference.layer_norm`: the pieces;
* :mod:`~rnnkit.reference.cells`: each cell's step, forward beside backward;
  :mod:`~rnnkit.reference.variants`: the LSTM ablations and MUT1-3 (``rnnkit.spec_variants``);
* :mod:`~rnnkit.reference.network`: layers over time, stacking, both directions, the output
  layer, full and truncated BPTT; :mod:`~rnnkit.reference.losses`;
* :mod:`~rnnkit.reference.optim` (SGD, Adam, clipping) and :mod:`~rnnkit.reference.fit`;
* :mod:`~rnnkit.reference.gradcheck`: finite differences against the backward pass;
* :mod:`~rnnkit.reference.flow`: gradient norms through time;
* :mod:`~rnnkit.reference.trace`: a worked solution, step by step (``rnnkit explain``);
* :mod:`~rnnkit.reference.infer`: the network a parameter dict describes, read from its names
  and shapes (``rnnkit.nn.from_reference(params)``).
"""

from rnnkit.reference.cells import GRU, LSTM, RNN, Cell, Jordan, PeepholeLSTM, make_cell
from rnnkit.reference.fit import FitHistory, fit
from rnnkit.reference.flow import compare_gradient_flow, gradient_flow, plot_gradient_flow
from rnnkit.reference.gradcheck import check_cell_gradients, check_network_gradients
from rnnkit.reference.network import Forward, Gradients, Network, default_loss
from rnnkit.reference.optim import SGD, Adam, clip_grad_norm, clip_grad_value
from rnnkit.reference.trace import Trace, explain
from rnnkit.reference.variants import MUT, LSTMVariant

__all__ = [
    "GRU",
    "LSTM",
    "MUT",
    "RNN",
    "SGD",
    "Adam",
    "Cell",
    "FitHistory",
    "Forward",
    "Gradients",
    "Jordan",
    "LSTMVariant",
    "Network",
    "PeepholeLSTM",
    "Trace",
    "check_cell_gradients",
    "check_network_gradients",
    "clip_grad_norm",
    "clip_grad_value",
    "compare_gradient_flow",
    "default_loss",
    "explain",
    "fit",
    "gradient_flow",
    "make_cell",
    "plot_gradient_flow",
]
