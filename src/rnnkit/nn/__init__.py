"""The PyTorch engine: recurrent cells and layers built from ``rnnkit.spec``.

Cells know one step (``step(x_t, state) -> (y_t, new_state)``); layers own time and are
drop-in replacements for ``torch.nn.RNN``, ``LSTM`` and ``GRU`` with extra options (peepholes,
learned initial state, forget-gate bias, ``lengths=``) and a Jordan layer. The step functions
both share are in :mod:`rnnkit.nn.functional`. Regularisers (weight drop, locked and
recurrent dropout, zoneout, embedding dropout) are in :mod:`rnnkit.nn.regularizers`, layer
normalisation in the cells and :mod:`rnnkit.nn.functional`, per-gate initialisation in
:mod:`rnnkit.nn.init`; the layers switch each on by an option (``layer_norm=True``,
``weight_drop=0.5``, ``init="orthogonal"``...).

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
    "init_recurrent",
]
