"""The PyTorch engine: recurrent cells and layers built from ``rnnkit.spec``.

Cells know one step (``step(x_t, state) -> (y_t, new_state)``); layers own time and are
drop-in replacements for ``torch.nn.RNN``, ``LSTM`` and ``GRU`` with extra options (peepholes,
learned initial state, forget-gate bias, ``lengths=``) and a Jordan layer. The step functions
both share are in :mod:`rnnkit.nn.functional`. Regularisers (weight drop, locked and
recurrent dropout, zoneout, embedding dropout) are in :mod:`rnnkit.nn.regularizers`, layer
normalisation in the cells and :mod:`rnnkit.nn.functional` (the layer-norm LSTM layer's
whole-sequence loop, backward by hand, in :mod:`rnnkit.nn.layer_norm_lstm`), per-gate
initialisation in :mod:`rnnkit.nn.init`; the layers switch each on by an option
(``layer_norm=True``, ``weight_drop=0.5``, ``init="orthogonal"``...). :func:`to_reference` and
:func:`from_reference` (:mod:`rnnkit.nn.convert`) move parameters to and from the NumPy
reference engine; they are imported on first use, so the fast path never loads that engine.

Example:
    >>> import torch
    >>> from rnnkit.nn import LSTM
    >>> output, (h_n, c_n) = LSTM(3, 4, num_layers=2)(torch.randn(5, 2, 3))
    >>> output.shape, h_n.shape
    (torch.Size([5, 2, 4]), torch.Size([2, 2, 4]))
"""

from rnnkit.nn.cells import GRUCell, JordanCell, LSTMCell, MUTCell, PeepholeLSTMCell, RNNCell
from rnnkit.nn.init import init_recurrent
from rnnkit.nn.layers import GRU, LSTM, MUT, RNN, JordanRNN, RecurrentLayer
from rnnkit.nn.regularizers import LockedDropout

# the names of rnnkit.nn.convert, which imports the reference engine: loaded on first use
_CONVERT = ("from_reference", "reference_network", "to_reference")


def __getattr__(name: str) -> object:
    if name in _CONVERT:
        from rnnkit.nn import convert

        return getattr(convert, name)
    raise AttributeError(f"module 'rnnkit.nn' has no attribute {name!r}")


__all__ = [
    "GRU",
    "LSTM",
    "MUT",
    "RNN",
    "GRUCell",
    "JordanCell",
    "JordanRNN",
    "LSTMCell",
    "LockedDropout",
    "MUTCell",
    "PeepholeLSTMCell",
    "RNNCell",
    "RecurrentLayer",
    "from_reference",
    "init_recurrent",
    "reference_network",
    "to_reference",
]
