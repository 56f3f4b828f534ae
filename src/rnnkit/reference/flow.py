"""Gradient flow through time: how much of a loss's gradient reaches each earlier step.

With the loss on the **last** step only, ``L = L_{T-1}``, backpropagation through time gives
at each step the gradient with respect to the state::

    dL/dh_t = (∂h_{t+1}/∂h_t)ᵀ dL/dh_{t+1}            t = T-2, ..., 0

a product of ``T-1-t`` Jacobians. In a tanh RNN each Jacobian is ``diag(1 - h²) W_hh``; when
its norm is below one the product shrinks geometrically (vanishing gradients: the first steps
get almost nothing), above one it can grow (exploding). The LSTM's cell path multiplies by
the forget gate ``f_t`` instead, and the GRU's by ``z_t``, so their gradients last longer; a
ReLU RNN whose ``W_hh`` starts as the identity (IRNN) passes it on unchanged while its units
are active. :func:`gradient_flow` returns ``‖dL/dh_t‖`` for every ``t``;
:func:`compare_gradient_flow` lines several networks up; :func:`plot_gradient_flow` draws them.

Examples:
    >>> from rnnkit.reference.network import Network
    >>> net = Network("rnn", 2, 8)
    >>> x = np.random.default_rng(0).normal(size=(1, 20, 2))
    >>> norms = gradient_flow(net, net.init_params(seed=0, scale=0.05), x)
    >>> norms.shape, bool(norms[0] < 1e-6 * norms[-1])
    ((20,), True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from rnnkit.reference import losses
from rnnkit.reference.network import Network

__all__ = ["DEFAULT_FLOW_CONFIGS", "compare_gradient_flow", "gradient_flow", "plot_gradient_flow"]


def gradient_flow(
    network: Network,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    *,
    targets: object = None,
    loss: str | None = None,
    layer: int = 0,
    direction: int = 0,
    initial_state: tuple[np.ndarray, ...] | None = None,
) -> np.ndarray:
    """``‖dL/dh_t‖`` for every step ``t``, with ``L`` the loss of the last step only.

    Args:
        network: the network.
        params: its parameters.
        x: inputs ``[B, T, I]``.
        targets: targets as for :meth:`Network.loss`; only the last step's count. Without
            targets, ``L`` is the sum of the last step's outputs.
        loss: the loss name (default from the output activation).
        layer: which layer's state to measure (0 = the first).
        direction: 0 forward, 1 backward (then "last step" still means ``t = T-1``).
        initial_state: as for :meth:`Network.forward`.

    Returns:
        ``[T]`` norms (Frobenius norm over the batch and the units; for Jordan cells the state
        is the output ``y_t``).

    Raises:
        ValueError: ``layer`` or ``direction`` out of range, bad inputs, or a loss not defined
            on the network's outputs (:meth:`Network.check_loss`).
    """
    if not 0 <= layer < network.num_layers:
        raise ValueError(f"Argument `layer` must be in [0, {network.num_layers}), got {layer!r}.")
    if not 0 <= direction < network.num_directions:
        raise ValueError(
            f"Argument `direction` must be in [0, {network.num_directions}), got {direction!r}."
        )
    name = network.check_loss(loss) if targets is not None else None
    fwd = network.forward(params, x, initial_state)
    out = fwd.outputs
    if name is None:
        d_out = np.zeros_like(out)
        if network.many_to_one:
            d_out[:] = 1.0
        else:
            d_out[:, -1] = 1.0
    else:
        mask = None
        if not network.many_to_one:
            mask = np.zeros(out.shape[:2], dtype=bool)
            mask[:, -1] = True
        _, d_out = losses.loss(name, out, targets, mask=mask)
    grads = network.backward(params, fwd, d_out, state_grads=True)
    per_step = grads.state_grads[layer][direction]  # type: ignore[index]   # [B, T, W]
    # ||g|| = m ||g / m|| with m = max |g_i|: squaring first would make every norm below
    # about 1e-154 read 0 in float64, while vanishing gradients go on down to 1e-308.
    m = np.abs(per_step).max(axis=(0, 2))  # [T]
    scaled = per_step / np.where(m > 0, m, 1.0)[None, :, None]
    return m * np.sqrt((scaled * scaled).sum(axis=(0, 2)))


#: Networks compared by :func:`compare_gradient_flow`: label -> (Network options, init options).
DEFAULT_FLOW_CONFIGS: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "tanh RNN, small init (±0.1/√H)": ({"cell": "rnn"}, {"scale_per_unit": 0.1}),
    "tanh RNN, uniform init (±1/√H)": ({"cell": "rnn"}, {}),
    "ReLU RNN, identity init (IRNN)": (
        {"cell": "rnn", "nonlinearity": "relu"},
        {"recurrent_init": "identity", "scale_per_unit": 0.1},
    ),
    "LSTM": ({"cell": "lstm"}, {}),
    "LSTM, forget-gate bias 1": ({"cell": "lstm"}, {"forget_bias": 1.0}),
    "GRU": ({"cell": "gru"}, {}),
}


def compare_gradient_flow(
    configs: Mapping[str, tuple[Mapping[str, object], Mapping[str, object]]] | None = None,
    *,
    steps: int = 50,
    input_size: int = 4,
    hidden_size: int = 16,
    batch_size: int = 4,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Gradient norms through time of several networks on the same random inputs.

    Args:
        configs: label -> ``(network options, init options)``; network options go to
            :class:`Network` (``cell`` among them), init options to
            :meth:`Network.init_params`, where ``scale_per_unit=s`` means ``scale=s/√H``.
            Default :data:`DEFAULT_FLOW_CONFIGS`.
        steps: ``T``.
        input_size: ``I``.
        hidden_size: ``H``.
        batch_size: ``B``.
        seed: seeds the inputs and every network's parameters.

    Returns:
        label -> ``[T]`` norms of ``dL/dh_t`` (the loss on the last step).
    """
    configs = DEFAULT_FLOW_CONFIGS if configs is None else configs
    x = np.random.default_rng(seed).normal(size=(batch_size, steps, input_size))
    curves = {}
    for label, (net_options, init_options) in configs.items():
        options = dict(net_options)
        cell = str(options.pop("cell"))
        net = Network(cell, input_size, hidden_size, **options)  # type: ignore[arg-type]
        init = dict(init_options)
        if "scale_per_unit" in init:
            init["scale"] = float(init.pop("scale_per_unit")) / np.sqrt(hidden_size)  # type: ignore[arg-type]
        params = net.init_params(seed, **init)  # type: ignore[arg-type]
        curves[label] = gradient_flow(net, params, x)
    return curves


def plot_gradient_flow(
    curves: Mapping[str, np.ndarray], path: str | os.PathLike[str], *, title: str | None = None
) -> None:
    """Draw ``‖dL/dh_t‖`` against ``t`` on a log scale, one line per curve, into a PNG file.

    Args:
        curves: label -> ``[T]`` norms.
        path: the image file to write.
        title: the plot's title.

    Raises:
        ValueError: no curves.
    """
    if not curves:
        raise ValueError("Argument `curves` must hold at least one curve, got none.")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    tiny = np.finfo(np.float64).tiny
    for label, norms in curves.items():
        norms = np.asarray(norms, dtype=np.float64)
        ax.semilogy(np.arange(len(norms)), np.maximum(norms, tiny), label=label)
    ax.set_xlabel("time step t")
    ax.set_ylabel("‖dL/dh_t‖  (loss on the last step)")
    ax.set_title(title or "Gradient norm through time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=110)
