"""Layer options: paths, learned initial state, forget bias, extra parameter names, dropout."""

from __future__ import annotations

import pytest
import torch
from nn_checks import DTYPE, assert_all_close, leaf, run_with_grads

import rnnkit.nn as rnn
from rnnkit.spec import get_spec

B, T, I, H, O = 3, 5, 3, 4, 2


def test_default_paths() -> None:
    assert rnn.RNN(I, H).path == "fused"
    assert rnn.RNN(I, H, nonlinearity="relu").path == "fused"
    assert rnn.LSTM(I, H).path == "fused"
    assert rnn.GRU(I, H).path == "fused"
    assert rnn.LSTM(I, H, learn_initial_state=True, forget_bias=1.0).path == "fused"
    assert rnn.LSTM(I, H, peephole=True).path == "loop"
    assert rnn.JordanRNN(I, H, output_size=O).path == "loop"
    assert rnn.LSTM(I, H, force_loop=True).path == "loop"
    assert repr(rnn.GRU(I, H, num_layers=2)) == "GRU(3, 4, num_layers=2, path=fused)"
    layer = rnn.LSTM(I, H)
    layer.force_loop = True
    assert "path=loop" in repr(layer)


@pytest.mark.parametrize(
    ("layer", "cell", "output_size"),
    [
        (rnn.LSTM(I, H, 2, bidirectional=True, peephole=True), "peephole_lstm", None),
        (rnn.JordanRNN(I, H, 2, bidirectional=True, output_size=O), "jordan", O),
        (rnn.GRU(I, H, 2, bidirectional=True, bias=False), "gru", None),
        (rnn.LSTM(I, H, 2, bidirectional=True, proj_size=2), "lstm", None),
    ],
)
def test_parameter_names_and_shapes_follow_the_spec(
    layer: rnn.RecurrentLayer, cell: str, output_size: int | None
) -> None:
    spec = get_spec(cell)
    expected = {}
    out = layer.direction_output_size
    for k in range(2):
        shapes = spec.parameter_shapes(
            I if k == 0 else 2 * out,
            H,
            output_size=output_size,
            bias=layer.bias,
            proj_size=layer.proj_size,
        )
        for suffix in (f"_l{k}", f"_l{k}_reverse"):
            expected.update({name + suffix: shape for name, shape in shapes.items()})
    assert {n: tuple(p.shape) for n, p in layer.named_parameters()} == expected


@pytest.mark.parametrize("force_loop", [False, True])
def test_learned_initial_state_names_and_gradients(force_loop: bool) -> None:
    layer = rnn.LSTM(I, H, 2, bidirectional=True, learn_initial_state=True, dtype=DTYPE)
    layer.force_loop = force_loop
    names = [n for n, _ in layer.named_parameters() if n[1] == "0"]
    assert names == [
        f"{s}0_l{k}{r}" for k in range(2) for r in ("", "_reverse") for s in ("h", "c")
    ]
    assert all(not getattr(layer, n).any() for n in names)
    x = leaf(T, B, I)
    grads = run_with_grads(layer, lambda m: m(x, lengths=[5, 2, 3]), [x])
    for n in names:
        assert grads[f"grad {n}"].abs().sum() > 0, n
    assert layer.h0_l1_reverse.shape == (H,)


def test_jordan_learned_initial_state_is_y0() -> None:
    layer = rnn.JordanRNN(I, H, output_size=O, learn_initial_state=True)
    assert tuple(layer.y0_l0.shape) == (O,)


@pytest.mark.parametrize("value", [1.0, -2.5])
def test_forget_bias_sets_the_total_forget_bias(value: float) -> None:
    for peephole in (False, True):
        layer = rnn.LSTM(I, H, 2, bidirectional=True, forget_bias=value, peephole=peephole)
        f = slice(H, 2 * H)
        for suffix in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
            b_ih = getattr(layer, "bias_ih" + suffix)
            b_hh = getattr(layer, "bias_hh" + suffix)
            assert torch.all(b_ih[f] + b_hh[f] == value)
            assert torch.all(b_hh[f] == 0)
            assert not torch.all(b_ih[:H] == value)  # other gates keep torch's draw
        with torch.no_grad():
            layer.bias_ih_l0.zero_()
        layer.reset_parameters()
        assert torch.all(layer.bias_ih_l0[f] == value)


CONFIGS = [
    ("lstm", {"num_layers": 2, "bidirectional": True, "learn_initial_state": True}),
    ("lstm", {"num_layers": 2, "proj_size": 2, "bias": False, "batch_first": True}),
    ("lstm", {"forget_bias": 1.0, "bidirectional": True}),
    ("gru", {"num_layers": 3, "learn_initial_state": True, "batch_first": True}),
    ("rnn", {"num_layers": 2, "nonlinearity": "relu", "bidirectional": True, "bias": False}),
]


@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize(("cell", "kwargs"), CONFIGS)
def test_fused_path_equals_loop_path(cell: str, kwargs: dict, with_lengths: bool) -> None:
    cls = {"lstm": rnn.LSTM, "gru": rnn.GRU, "rnn": rnn.RNN}[cell]
    layer = cls(I, H, **kwargs, dtype=DTYPE)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))  # learned states away from zero
    x = leaf(B, T, I) if layer.batch_first else leaf(T, B, I)
    lengths = [2, 5, 1] if with_lengths else None
    results = {}
    for path in ("fused", "loop"):
        layer.force_loop = path == "loop"
        assert layer.path == path
        results[path] = run_with_grads(layer, lambda m: m(x, lengths=lengths), [x])
    assert_all_close(results["loop"], results["fused"])


def test_dropout_between_layers_in_training() -> None:
    layer = rnn.LSTM(I, H, 2, dropout=0.5, force_loop=True, dtype=DTYPE)
    first = torch.nn.LSTM(I, H, dtype=DTYPE)
    second = torch.nn.LSTM(H, H, dtype=DTYPE)
    for k, module in enumerate((first, second)):
        module.load_state_dict({f"{n}_l0": p for n, p in layer.direction_parameters(k).items()})
    x = leaf(T, B, I)
    torch.manual_seed(5)
    out, _ = layer(x)
    torch.manual_seed(5)
    expected, _ = second(torch.nn.functional.dropout(first(x)[0], 0.5, training=True))
    torch.testing.assert_close(out, expected)
    layer.eval()
    torch.manual_seed(5)
    assert not torch.allclose(layer(x)[0], out)


def test_fused_dropout_matches_torch_in_training() -> None:
    ours = rnn.GRU(I, H, 3, dropout=0.3, dtype=DTYPE)
    theirs = torch.nn.GRU(I, H, 3, dropout=0.3, dtype=DTYPE)
    theirs.load_state_dict(ours.state_dict())
    x = leaf(T, B, I)
    torch.manual_seed(3)
    got = ours(x)
    torch.manual_seed(3)
    expected = theirs(x)
    torch.testing.assert_close(got, expected)


def test_dropout_with_one_layer_warns_like_torch() -> None:
    with pytest.warns(UserWarning, match="num_layers=1"):
        rnn.GRU(I, H, dropout=0.2)


def test_layer_with_options_loads_into_torch_except_its_extras() -> None:
    layer = rnn.LSTM(I, H, 2, peephole=True, learn_initial_state=True)
    missing = torch.nn.LSTM(I, H, 2).load_state_dict(layer.state_dict(), strict=False)
    assert missing.missing_keys == []
    assert sorted(missing.unexpected_keys) == sorted(
        [f"weight_c{g}_l{k}" for g in "ifo" for k in range(2)]
        + [f"{s}0_l{k}" for s in "hc" for k in range(2)]
    )


def test_cell_loads_a_layers_direction_parameters() -> None:
    layer = rnn.JordanRNN(I, H, 2, bidirectional=True, output_size=O, dtype=DTYPE)
    cell = rnn.JordanCell(2 * O, H, O, dtype=DTYPE)
    cell.load_state_dict(layer.direction_parameters(1, 1))
    assert torch.equal(cell.weight_yh, layer.weight_yh_l1_reverse)


def test_module_moves_and_casts() -> None:
    layer = rnn.LSTM(I, H, 2).to(torch.float64)
    out, (h, c) = layer(torch.randn(T, B, I, dtype=torch.float64))
    assert out.dtype == h.dtype == c.dtype == torch.float64
