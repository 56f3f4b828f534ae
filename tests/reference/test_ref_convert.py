"""rnnkit.nn.convert: reference dicts <-> rnnkit.nn and torch.nn modules (oracle 3 too)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit import nn as rnn_nn
from rnnkit.nn.convert import from_reference, reference_network, to_reference
from rnnkit.reference.cells import make_cell
from rnnkit.reference.network import Network


@pytest.mark.parametrize("factory", [
    lambda: torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
    lambda: torch.nn.GRU(3, 4, batch_first=True, bias=False),
    lambda: torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu", batch_first=True),
], ids=["lstm", "gru-no-bias", "rnn-relu"])
def test_torch_layers_to_reference(factory) -> None:
    torch.manual_seed(0)
    module = factory().double()
    net, params = reference_network(module), to_reference(module)
    assert list(params) == [n for n, _ in module.named_parameters()]
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    out, h_n = module(x)
    fwd = net.forward(params, x.numpy())
    np.testing.assert_allclose(fwd.outputs, out.detach().numpy(), rtol=1e-12, atol=1e-13)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    for mine, theirs in zip(fwd.final_state, finals, strict=True):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(("cell", "torch_module"), [
    ("lstm", True), ("gru", True), ("rnn", True), ("peephole_lstm", False), ("jordan", False),
])
def test_reference_to_modules_and_back(cell: str, torch_module: bool) -> None:
    net = Network(cell, 3, 4, num_layers=2, bidirectional=True,
                  output_size=2 if cell == "jordan" else None,
                  output_activation="softmax" if cell == "jordan" else None)
    params = net.init_params(seed=1)
    module = from_reference(params, net, torch_module=torch_module, batch_first=True)
    expected_type = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN,
                     "peephole_lstm": rnn_nn.LSTM, "jordan": rnn_nn.JordanRNN}[cell]
    assert type(module) is expected_type
    back = to_reference(module)
    assert back.keys() == params.keys()
    for name in params:
        np.testing.assert_array_equal(back[name], params[name], err_msg=name)
    x = np.random.default_rng(2).normal(size=(2, 4, 3))
    out = module(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(net.forward(params, x).outputs, out, rtol=1e-12, atol=1e-13)


def test_cells_both_ways() -> None:
    torch.manual_seed(3)
    torch_cell = torch.nn.LSTMCell(3, 4).double()
    cell = reference_network(torch_cell)
    params = to_reference(torch_cell)
    x = np.random.default_rng(4).normal(size=(2, 3))
    state = cell.initial_state(2, 4)
    _, (h, c), _ = cell.forward(params, x, state)
    h_t, c_t = torch_cell(torch.from_numpy(x))
    np.testing.assert_allclose(h, h_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(c, c_t.detach().numpy(), rtol=1e-12)
    jordan = make_cell("jordan", output_activation="sigmoid")
    jparams = {k: np.full(s, 0.3) for k, s in jordan.parameter_shapes(3, 4, output_size=2).items()}
    module = from_reference(jparams, jordan)
    assert isinstance(module, rnn_nn.JordanCell) and module.output_activation == "sigmoid"
    assert module.weight_yh.dtype == torch.float64
    no_bias = {"weight_ih": np.zeros((12, 3), np.float32),
               "weight_hh": np.ones((12, 4), np.float32)}
    gru = from_reference(no_bias, "gru", torch_module=True)
    assert isinstance(gru, torch.nn.GRUCell) and gru.bias_ih is None
    assert gru.weight_ih.dtype == torch.float32 and float(gru.weight_hh.detach().sum()) == 48.0


def test_learned_initial_states_are_left_out() -> None:
    layer = rnn_nn.GRU(3, 4, learn_initial_state=True)
    params = to_reference(layer)
    assert "h0_l0" not in params and "weight_ih_l0" in params
    Network("gru", 3, 4).forward(params, np.zeros((1, 2, 3)))


def test_refusals() -> None:
    with pytest.raises(TypeError, match=r"Argument `module` must be an rnnkit\.nn cell or layer"):
        to_reference(torch.nn.Linear(2, 3))
    net = Network("peephole_lstm", 3, 4)
    with pytest.raises(ValueError, match="`torch_module=True` needs a plain 'rnn', 'lstm' or"):
        from_reference(net.init_params(), net, torch_module=True)
    params = net.init_params()
    del params["weight_ci_l0"]
    with pytest.raises(ValueError, match="Parameter `weight_ci_l0` is missing"):
        from_reference(params, net)
    ln = Network("lstm", 3, 4, layer_norm=True)
    with pytest.raises(ValueError, match=r"`torch_module=True` cannot hold a layer_norm network"):
        from_reference(ln.init_params(), ln, torch_module=True)


@pytest.mark.parametrize("cell", ["lstm", "peephole_lstm", "gru"])
def test_layer_norm_networks_cross_both_ways(cell: str) -> None:
    """A layer-norm layer trained fast can be explained slowly, and back."""
    layer = rnn_nn.LSTM if cell != "gru" else rnn_nn.GRU
    options = {"peephole": True} if cell == "peephole_lstm" else {}
    module = layer(3, 4, num_layers=2, bidirectional=True, layer_norm=True, **options).double()
    with torch.no_grad():  # move the gains and biases off their 1 / 0 initial values
        for name, p in module.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.1 * torch.randn_like(p))
    network = reference_network(module)
    assert network.layer_norm
    params = to_reference(module)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))  # [B, T, I]
    expected, _ = module(torch.from_numpy(x).transpose(0, 1))
    outputs = np.asarray(network.forward(params, x).outputs)  # the reference is batch-first
    np.testing.assert_allclose(outputs, expected.transpose(0, 1).detach().numpy(), atol=1e-12)
    back = from_reference(params, network, batch_first=True)
    assert back.layer_norm and back.path == "loop"
    again, _ = back(torch.from_numpy(x))
    torch.testing.assert_close(again, expected.transpose(0, 1))


# from_reference(params): the module read from the parameters' names and shapes alone
FROM_NAMES = {
    "rnn-2-layers-bidirectional": lambda: rnn_nn.RNN(3, 4, num_layers=2, bidirectional=True),
    "lstm-proj": lambda: rnn_nn.LSTM(3, 4, num_layers=2, proj_size=2),
    "peephole-lstm-no-bias": lambda: rnn_nn.LSTM(3, 4, peephole=True, bias=False),
    "lstm-layer-norm": lambda: rnn_nn.LSTM(3, 4, layer_norm=True, bidirectional=True),
    "lstm-fgr": lambda: rnn_nn.LSTM(3, 4, variant="fgr"),
    "gru-3-layers": lambda: rnn_nn.GRU(3, 4, num_layers=3),
    "jordan": lambda: rnn_nn.JordanRNN(3, 4, output_size=2, num_layers=2),
    "mut1": lambda: rnn_nn.MUT(4, 4, kind=1),
    "mut2": lambda: rnn_nn.MUT(4, 4, kind=2, num_layers=2),
    "torch-lstm": lambda: torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True),
    "torch-gru-cell": lambda: torch.nn.GRUCell(3, 4),
    "lstm-cell": lambda: rnn_nn.LSTMCell(3, 4),
    "jordan-cell": lambda: rnn_nn.JordanCell(3, 4, 2),
    "mut2-cell": lambda: rnn_nn.MUTCell(4, 4, kind=2),
}


def _same_module(module: torch.nn.Module, back: torch.nn.Module) -> None:
    assert back.spec.name == reference_network(module).spec.name
    for attribute in ("input_size", "hidden_size", "num_layers", "bidirectional", "bias",
                      "proj_size", "layer_norm", "output_size"):
        if hasattr(module, attribute):
            assert getattr(back, attribute) == getattr(module, attribute), attribute


@pytest.mark.parametrize("label", FROM_NAMES)
def test_from_reference_reads_the_module_from_the_names(label: str) -> None:
    torch.manual_seed(5)
    module = FROM_NAMES[label]().double()
    params = to_reference(module)
    back = from_reference(params)
    assert type(back) is type(module) or label.startswith("torch")
    if not label.startswith("torch"):
        _same_module(module, back)
    again = to_reference(back)
    assert again.keys() == params.keys()
    for name in params:
        np.testing.assert_array_equal(again[name], params[name], err_msg=name)
    size = module.input_size
    x = torch.from_numpy(np.random.default_rng(6).normal(size=(2, size)))
    if "cell" not in label:
        x = x[None].expand(5, 2, size).contiguous()                          # [T, B, I]
    expected, mine = module(x), back(x)
    expected = expected[0] if isinstance(expected, tuple) else expected
    mine = mine[0] if isinstance(mine, tuple) else mine
    torch.testing.assert_close(mine, expected, rtol=1e-12, atol=1e-13)


def test_from_reference_gives_torch_modules_from_the_names() -> None:
    module = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, bias=False)
    back = from_reference(to_reference(module), torch_module=True)
    assert type(back) is torch.nn.GRU
    assert (back.num_layers, back.bidirectional, back.bias) == (2, True, False)
    cell = from_reference(to_reference(torch.nn.RNNCell(3, 4)), torch_module=True)
    assert type(cell) is torch.nn.RNNCell and cell.hidden_size == 4


def test_what_the_names_cannot_tell_comes_from_the_network() -> None:
    relu = rnn_nn.RNN(3, 4, nonlinearity="relu")
    params = to_reference(relu)
    assert from_reference(params).nonlinearity == "tanh"  # the default: names look the same
    assert from_reference(params, reference_network(relu)).nonlinearity == "relu"
    cifg = rnn_nn.LSTM(3, 4, variant="cifg")
    params = to_reference(cifg)
    assert from_reference(params).spec.name == "gru"  # three blocks, as a GRU's
    back = from_reference(params, reference_network(cifg))
    assert back.spec.name == "lstm_cifg"
    jordan = rnn_nn.JordanRNN(3, 4, output_size=2, output_activation="softmax")
    back = from_reference(to_reference(jordan), reference_network(jordan))
    assert back.output_activation == "softmax"


def test_from_reference_refuses_names_and_shapes_that_fit_no_network() -> None:
    with pytest.raises(ValueError, match=r"Parameters `weight_ih` \(10, 3\) and `weight_hh` "
                                         r"\(20, 4\) fit no cell"):
        from_reference({"weight_ih_l0": np.zeros((10, 3)), "weight_hh_l0": np.zeros((20, 4))})
    with pytest.raises(ValueError, match=r"Parameter `weight_hh` is missing: the cell and its "
                                         r"sizes are read from it, got only weight_ih\."):
        from_reference({"weight_ih": np.zeros((4, 3))})
    params = to_reference(rnn_nn.GRU(3, 4, num_layers=2))
    del params["bias_hh_l1"]
    with pytest.raises(ValueError, match=r"Parameter `bias_hh_l1` is missing from `params`: "
                                         r"expected an array of shape \(12,\)"):
        from_reference(params)
    with pytest.raises(ValueError, match=r"holds no parameter of the first layer"):
        from_reference({"weight_ih_l1": np.zeros((4, 3)), "weight_hh_l1": np.zeros((4, 4))})


def test_the_converters_are_rnnkit_nn_names_loaded_on_use() -> None:
    import subprocess
    import sys

    import rnnkit.nn

    assert rnnkit.nn.from_reference is from_reference and rnnkit.nn.to_reference is to_reference
    code = ("import sys, rnnkit.nn; assert 'rnnkit.reference' not in sys.modules; "
            "from rnnkit.nn import from_reference; assert 'rnnkit.reference' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match=r"module 'rnnkit\.nn' has no attribute 'to_numpy'"):
        rnnkit.nn.to_numpy  # noqa: B018
