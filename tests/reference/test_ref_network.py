"""Network details: dtypes, shapes, parameter names, initialisation options, bias=False."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.reference.gradcheck import check_network_gradients
from rnnkit.reference.network import Network
from rnnkit.spec import get_spec


def test_float32_is_allowed_and_close_to_float64() -> None:
    net = Network("lstm", 3, 4, num_layers=2, output_size=2, output_activation="softmax")
    p64 = net.init_params(seed=0)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    x = np.random.default_rng(1).normal(size=(2, 5, 3))
    targets = np.array([[0, 1, 0, 1, 1], [1, 1, 0, 0, 1]])
    v64, g64, f64 = net.loss_and_grads(p64, x, targets)
    v32, g32, f32 = net.loss_and_grads(p32, x, targets)
    assert f32.outputs.dtype == np.float32 and g32.params["weight_hh_l1"].dtype == np.float32
    assert f64.outputs.dtype == np.float64
    assert v32 == pytest.approx(v64, rel=1e-5)
    for name in p64:
        np.testing.assert_allclose(g32.params[name], g64.params[name], rtol=1e-3, atol=1e-5)


def test_parameter_names_follow_torch_and_the_spec() -> None:
    net = Network("peephole_lstm", 3, 4, num_layers=2, bidirectional=True, layer_norm=True,
                  output_size=5)
    shapes = net.parameter_shapes()
    spec = get_spec("peephole_lstm").parameter_shapes(8, 4, layer_norm=True)
    assert list(shapes)[:len(spec)] == [k + "_l0" for k in spec]
    assert shapes["weight_ih_l1_reverse"] == (16, 8)
    assert shapes["ln_c_weight_l1_reverse"] == (4,)
    assert shapes["weight_hy"] == (5, 8) and shapes["bias_y"] == (5,)
    jordan = Network("jordan", 3, 4, num_layers=2, output_size=2).parameter_shapes()
    assert jordan["weight_ih_l1"] == (4, 2) and jordan["weight_hy_l1"] == (2, 4)
    assert "bias_y" not in jordan and "bias_y_l0" in jordan


def test_many_to_one_and_state_gradients_shapes() -> None:
    net = Network("gru", 3, 4, bidirectional=True, output_size=2, many_to_one=True)
    params = net.init_params(seed=2)
    x = np.random.default_rng(3).normal(size=(5, 6, 3))
    fwd = net.forward(params, x)
    assert fwd.outputs.shape == (5, 2) and fwd.hidden.shape == (5, 6, 8)
    assert fwd.final_state[0].shape == (2, 5, 4)
    grads = net.backward(params, fwd, np.ones((5, 2)), state_grads=True)
    assert grads.state_grads is not None and grads.state_grads[0][1].shape == (5, 6, 4)
    # the output layer reads the last step: both directions' outputs at t = T-1
    np.testing.assert_allclose(fwd.outputs, fwd.hidden[:, -1] @ params["weight_hy"].T
                               + params["bias_y"])


def test_initialisation_options() -> None:
    net = Network("lstm", 3, 4)
    identity = net.init_params(seed=0, recurrent_init="identity")["weight_hh_l0"]
    np.testing.assert_array_equal(identity, np.concatenate([np.eye(4)] * 4))
    ortho = net.init_params(seed=0, recurrent_init="orthogonal")["weight_hh_l0"]
    for k in range(4):
        block = ortho[4 * k:4 * (k + 1)]
        np.testing.assert_allclose(block @ block.T, np.eye(4), atol=1e-12)
    biased = net.init_params(seed=0, forget_bias=1.0)
    f = get_spec("lstm").gate_slice("f", 4)
    np.testing.assert_array_equal(biased["bias_ih_l0"][f], np.ones(4))
    np.testing.assert_array_equal(biased["bias_hh_l0"][f], np.zeros(4))
    ln = Network("gru", 3, 4, layer_norm=True).init_params()
    assert np.all(ln["ln_ih_weight_l0"] == 1.0) and np.all(ln["ln_hh_bias_l0"] == 0.0)
    with pytest.raises(ValueError, match="needs a square recurrent matrix"):
        Network("jordan", 3, 4, output_size=2).init_params(recurrent_init="identity")


def test_without_biases() -> None:
    net = Network("gru", 2, 3, num_layers=2, bias=False, output_size=2)
    params = net.init_params(seed=4)
    assert not any(k.startswith("bias") for k in params)
    result = check_network_gradients(net, params, np.random.default_rng(5).normal(size=(2, 3, 2)))
    assert result.ok, result.table()
