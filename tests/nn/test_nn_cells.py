"""rnnkit.nn cells: parameters from the spec, equal to torch.nn cells, worked examples."""

from __future__ import annotations

import pytest
import torch
from nn_checks import DTYPE, assert_all_close, leaf, run_with_grads

from rnnkit.nn import GRUCell, JordanCell, LSTMCell, PeepholeLSTMCell, RNNCell
from rnnkit.spec import get_spec

I, H, O, B = 3, 4, 2, 3


def _cells(bias: bool = True) -> dict[str, torch.nn.Module]:
    return {
        "rnn": RNNCell(I, H, bias=bias),
        "lstm": LSTMCell(I, H, bias=bias),
        "peephole_lstm": PeepholeLSTMCell(I, H, bias=bias),
        "gru": GRUCell(I, H, bias=bias),
        "jordan": JordanCell(I, H, O, bias=bias),
    }


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", ["rnn", "lstm", "peephole_lstm", "gru", "jordan"])
def test_parameters_follow_the_spec(name: str, bias: bool) -> None:
    cell = _cells(bias)[name]
    shapes = get_spec(name).parameter_shapes(
        I, H, output_size=O if name == "jordan" else None, bias=bias
    )
    assert {n: tuple(p.shape) for n, p in cell.named_parameters()} == shapes
    assert list(dict(cell.named_parameters())) == list(shapes)
    assert cell.spec.name == name
    bound = 1 / H**0.5
    assert all(p.abs().max() <= bound for p in cell.parameters())


@pytest.mark.parametrize("name", ["rnn", "lstm", "peephole_lstm", "gru", "jordan"])
def test_initial_state_matches_the_spec(name: str) -> None:
    cell = _cells()[name]
    state = cell.initial_state(B, dtype=DTYPE)
    expected = get_spec(name).state_shapes(B, H, output_size=O if name == "jordan" else None)
    assert tuple(tuple(s.shape) for s in state) == expected
    assert all(s.dtype == DTYPE and not s.any() for s in state)
    y, new_state = cell.step(torch.randn(B, I), None)
    assert tuple(tuple(s.shape) for s in new_state) == expected
    assert torch.equal(y, new_state[0])


@pytest.mark.parametrize(
    ("ours_cls", "torch_cls", "kwargs"),
    [
        (RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
        (RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
        (LSTMCell, torch.nn.LSTMCell, {}),
        (GRUCell, torch.nn.GRUCell, {}),
    ],
)
def test_cell_equals_torch_cell(ours_cls: type, torch_cls: type, kwargs: dict) -> None:
    ours = ours_cls(I, H, **kwargs, dtype=DTYPE)
    theirs = torch_cls(I, H, **kwargs, dtype=DTYPE)
    theirs.load_state_dict(ours.state_dict())
    x = leaf(B, I)
    state = [leaf(B, H, seed=3 + k) for k in range(2 if ours_cls is LSTMCell else 1)]

    def step_ours(module: torch.nn.Module) -> object:
        return module.step(x, tuple(state))[1]

    def step_theirs(module: torch.nn.Module) -> object:
        return module(x, tuple(state) if len(state) == 2 else state[0])

    assert_all_close(
        run_with_grads(ours, step_ours, [x, *state]),
        run_with_grads(theirs, step_theirs, [x, *state]),
    )


def _set_constant(cell: torch.nn.Module, values: dict[str, float]) -> None:
    with torch.no_grad():
        for name, value in values.items():
            getattr(cell, name).fill_(value)


def test_elman_worked_example() -> None:
    cell = RNNCell(1, 1, dtype=DTYPE)
    _set_constant(cell, {"weight_ih": 0.5, "weight_hh": -1.0, "bias_ih": 0.1, "bias_hh": 0.0})
    state = cell.initial_state(1)
    hs = []
    for x in (1.0, 2.0, 3.0):
        _, state = cell(torch.tensor([[x]], dtype=DTYPE), state)
        hs.append(state[0].item())
    # h_t = tanh(0.5 x_t + 0.1 - h_{t-1}), worked out by hand from h_0 = 0
    assert hs == pytest.approx([0.5370495669980353, 0.5101632506598711, 0.7968185523743573])


def test_lstm_worked_example() -> None:
    cell = LSTMCell(1, 1, dtype=DTYPE)
    _set_constant(cell, {"weight_ih": 0.5, "weight_hh": 0.25, "bias_ih": 0.0, "bias_hh": 0.0})
    state = None
    hc = []
    for x in (1.0, 2.0):
        _, state = cell(torch.tensor([[x]], dtype=DTYPE), state)
        hc.append((state[0].item(), state[1].item()))
    assert hc[0] == pytest.approx((0.17426971865610508, 0.28764913664496794))
    assert hc[1] == pytest.approx((0.4865175453930609, 0.7890439246141099))


def test_gru_worked_example() -> None:
    cell = GRUCell(1, 1, dtype=DTYPE)
    _set_constant(cell, {"weight_ih": 0.5, "weight_hh": 0.25, "bias_ih": 0.0, "bias_hh": 0.0})
    state = None
    hs = []
    for x in (1.0, 2.0):
        _, state = cell(torch.tensor([[x]], dtype=DTYPE), state)
        hs.append(state[0].item())
    assert hs == pytest.approx([0.17446802061504182, 0.3308292013340443])


def test_peephole_cell_follows_its_equations() -> None:
    cell = PeepholeLSTMCell(I, H, dtype=DTYPE)
    x, h, c = leaf(B, I), leaf(B, H, seed=1), leaf(B, H, seed=2)
    y, (h_new, c_new) = cell(x, (h, c))
    p = dict(cell.named_parameters())
    pre = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    i, f, g, o = pre.split(H, dim=1)
    i = torch.sigmoid(i + p["weight_ci"] * c)
    f = torch.sigmoid(f + p["weight_cf"] * c)
    c_expected = f * c + i * torch.tanh(g)
    o = torch.sigmoid(o + p["weight_co"] * c_expected)
    torch.testing.assert_close(c_new, c_expected)
    torch.testing.assert_close(h_new, o * torch.tanh(c_expected))
    assert torch.equal(y, h_new)


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "softmax"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_jordan_cell_follows_its_equations(nonlinearity: str, activation: str) -> None:
    cell = JordanCell(I, H, O, nonlinearity=nonlinearity, output_activation=activation, dtype=DTYPE)
    x, y_prev = leaf(B, I), leaf(B, O, seed=1)
    y, (state,) = cell(x, (y_prev,))
    p = dict(cell.named_parameters())
    pre = x @ p["weight_ih"].T + p["bias_ih"] + y_prev @ p["weight_yh"].T + p["bias_yh"]
    hidden = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
    a = hidden @ p["weight_hy"].T + p["bias_y"]
    expected = {
        "identity": a,
        "sigmoid": torch.sigmoid(a),
        "tanh": torch.tanh(a),
        "softmax": torch.softmax(a, -1),
    }[activation]
    torch.testing.assert_close(y, expected)
    assert torch.equal(state, y)


@pytest.mark.parametrize("name", ["rnn", "lstm", "peephole_lstm", "gru", "jordan"])
def test_unbatched_step_equals_batch_of_one(name: str) -> None:
    cell = _cells()[name]
    x = torch.randn(I)
    state = tuple(s[0] + 0.3 for s in cell.initial_state(1))
    y, new_state = cell(x, state)
    y1, new_state1 = cell(x.unsqueeze(0), tuple(s.unsqueeze(0) for s in state))
    assert y.shape == y1.shape[1:]
    torch.testing.assert_close(y, y1[0])
    for a, b in zip(new_state, new_state1, strict=True):
        torch.testing.assert_close(a, b[0])


def test_cell_bad_input() -> None:
    cell = LSTMCell(I, H)
    with pytest.raises(ValueError, match="`x_t` must have shape"):
        cell(torch.randn(B, I + 1))
    with pytest.raises(TypeError, match="`x_t` must be a tensor"):
        cell([[0.0] * I])
    with pytest.raises(ValueError, match="`state` must hold 2 tensor"):
        cell(torch.randn(B, I), (torch.zeros(B, H),))
    with pytest.raises(ValueError, match=r"`state` must have c of shape \[3, 4\]"):
        cell(torch.randn(B, I), (torch.zeros(B, H), torch.zeros(B, H + 1)))
    with pytest.raises(TypeError, match="`state` must be a tuple"):
        cell(torch.randn(B, I), torch.zeros(B, H))
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        cell.initial_state(0)
    with pytest.raises(ValueError, match="`nonlinearity` must be one of"):
        RNNCell(I, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="`output_activation` must be one of"):
        JordanCell(I, H, O, output_activation="relu")
    with pytest.raises(ValueError, match="`hidden_size` must be a positive integer"):
        GRUCell(I, 0)
    with pytest.raises(ValueError, match="`output_size` must be a positive integer"):
        JordanCell(I, H, -1)
    with pytest.raises(TypeError, match="`bias` must be a bool"):
        GRUCell(I, H, bias=1)
