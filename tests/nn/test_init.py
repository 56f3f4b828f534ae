"""Per-gate-block initialisation: ``init=`` on rnnkit.nn layers and ``init_recurrent``."""

from __future__ import annotations

import math

import pytest
import torch

import rnnkit.nn as rnn
from rnnkit.nn.init import INIT_SCHEMES, init_recurrent

I, H = 5, 32
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def _layers(cell: str, **kwargs: object) -> list[torch.nn.Module]:
    """The rnnkit layer with ``init=`` and a torch.nn layer through ``init_recurrent``."""
    scheme = kwargs.pop("init")
    ours = {"lstm": rnn.LSTM, "gru": rnn.GRU, "rnn": rnn.RNN}[cell](I, H, init=scheme, **kwargs)
    theirs = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](I, H, **kwargs)
    return [ours, init_recurrent(theirs, scheme)]


def _blocks(weight: torch.Tensor) -> list[torch.Tensor]:
    return list(weight.detach().split(H))


def _weights(module: torch.nn.Module, prefix: str) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in module.named_parameters() if n.startswith(prefix)]


@pytest.mark.parametrize("cell", list(GATES))
def test_orthogonal_makes_every_gate_block_orthogonal(cell: str) -> None:
    for module in _layers(cell, init="orthogonal", num_layers=2, bidirectional=True):
        for name, weight in _weights(module, "weight_hh"):
            blocks = _blocks(weight)
            assert len(blocks) == GATES[cell]
            for k, block in enumerate(blocks):
                torch.testing.assert_close(
                    block @ block.T, torch.eye(H), atol=1e-5, rtol=0, msg=f"{name} block {k}"
                )
            if len(blocks) > 1:  # not one orthogonal slab: distinct blocks are independent
                assert not torch.allclose(blocks[0], blocks[1])
        for _, bias in _weights(module, "bias"):
            assert not bias.any()


@pytest.mark.parametrize("cell", list(GATES))
def test_identity_makes_every_gate_block_the_identity(cell: str) -> None:
    for module in _layers(cell, init="identity", num_layers=2):
        for name, weight in _weights(module, "weight_hh"):
            for k, block in enumerate(_blocks(weight)):
                assert torch.equal(block, torch.eye(H)), f"{name} block {k}"
        for _, bias in _weights(module, "bias"):
            assert not bias.any()


def test_irnn_with_gain_and_a_square_jordan_layer() -> None:
    irnn = init_recurrent(rnn.RNN(I, H, nonlinearity="relu"), "identity", gain=0.5)
    assert torch.equal(irnn.weight_hh_l0, 0.5 * torch.eye(H))
    jordan = rnn.JordanRNN(I, H, output_size=H, init="identity")
    assert torch.equal(jordan.weight_yh_l0, torch.eye(H))
    with pytest.raises(ValueError, match=r"needs square recurrent blocks, got weight_yh_l0"):
        rnn.JordanRNN(I, H, output_size=3, init="identity")


@pytest.mark.parametrize("cell", list(GATES))
def test_xavier_bound_is_per_gate_block(cell: str) -> None:
    G = GATES[cell]
    for module in _layers(cell, init="xavier", bidirectional=True):
        for prefix, fan_in in (("weight_ih", I), ("weight_hh", H)):
            bound = math.sqrt(6.0 / (fan_in + H))  # a block's fan-out is H, not G*H
            for name, weight in _weights(module, prefix):
                for k, block in enumerate(_blocks(weight)):
                    top = block.abs().max().item()
                    assert 0.85 * bound < top <= bound, f"{name} block {k}: {top} vs {bound}"
                if G > 1:  # the stacked matrix's bound would be smaller than what was drawn
                    assert weight.abs().max().item() > math.sqrt(6.0 / (fan_in + G * H))


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
@pytest.mark.parametrize("cell", list(GATES))
def test_kaiming_bound_per_gate_block(cell: str, nonlinearity: str) -> None:
    module = init_recurrent(
        {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](I, H),
        "kaiming",
        nonlinearity=nonlinearity,
    )
    gain = math.sqrt(2.0) if nonlinearity == "relu" else 5.0 / 3.0
    for prefix, fan_in in (("weight_ih", I), ("weight_hh", H)):
        bound = gain * math.sqrt(3.0 / fan_in)
        for name, weight in _weights(module, prefix):
            for k, block in enumerate(_blocks(weight)):
                top = block.abs().max().item()
                assert 0.85 * bound < top <= bound, f"{name} block {k}: {top} vs {bound}"
    layer = rnn.LSTM(I, H, init="kaiming")
    assert layer.weight_hh_l0.abs().max() <= math.sqrt(6.0 / H)


def test_uniform_is_torchs_default_bound() -> None:
    lstm = init_recurrent(torch.nn.LSTM(I, H), "uniform")
    bound = 1.0 / math.sqrt(H)
    for _, p in lstm.named_parameters():
        assert 0.9 * bound < p.abs().max() <= bound


def test_forget_bias_sets_the_total_forget_bias_after_the_scheme() -> None:
    f = slice(H, 2 * H)
    for scheme in INIT_SCHEMES:
        layer = rnn.LSTM(I, H, 2, bidirectional=True, init=scheme, forget_bias=1.0)
        theirs = init_recurrent(torch.nn.LSTM(I, H, 2, bidirectional=True), scheme, forget_bias=1.0)
        for module in (layer, theirs):
            for name, bias in _weights(module, "bias_ih"):
                hh = getattr(module, name.replace("bias_ih", "bias_hh"))
                assert torch.all(bias[f] + hh[f] == 1.0) and torch.all(hh[f] == 0), name
                if scheme != "uniform":
                    assert not bias[:H].any() and not bias[2 * H :].any()


def test_projection_and_output_matrices_get_xavier() -> None:
    P = 8
    lstm = rnn.LSTM(I, H, proj_size=P, init="orthogonal")
    for block in _blocks(lstm.weight_hh_l0):  # [H, P] blocks: orthonormal columns
        torch.testing.assert_close(block.T @ block, torch.eye(P), atol=1e-5, rtol=0)
    assert lstm.weight_hr_l0.abs().max() <= math.sqrt(6.0 / (P + H))
    jordan = rnn.JordanRNN(I, H, output_size=3, init="xavier")
    assert jordan.weight_hy_l0.abs().max() <= math.sqrt(6.0 / (3 + H))


def test_other_parameters_are_left_alone() -> None:
    layer = rnn.LSTM(I, H, peephole=True, layer_norm=True, learn_initial_state=True)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if not name.startswith(("weight_ih", "weight_hh", "bias")):
                p.fill_(0.25)
    init_recurrent(layer, "xavier")
    for name, p in layer.named_parameters():
        if not name.startswith(("weight_ih", "weight_hh", "bias")):
            assert torch.all(p == 0.25), name


def test_cells_of_both_libraries() -> None:
    ours = init_recurrent(rnn.LSTMCell(I, H), "orthogonal", forget_bias=2.0)
    theirs = init_recurrent(torch.nn.GRUCell(I, H), "identity")
    for block in _blocks(ours.weight_hh):
        torch.testing.assert_close(block @ block.T, torch.eye(H), atol=1e-5, rtol=0)
    assert torch.all(ours.bias_ih[H : 2 * H] == 2.0)
    for block in _blocks(theirs.weight_hh):
        assert torch.equal(block, torch.eye(H))


def test_reset_parameters_applies_the_scheme_again() -> None:
    layer = rnn.GRU(I, H, init="identity")
    with torch.no_grad():
        layer.weight_hh_l0.normal_()
    layer.reset_parameters()
    assert torch.equal(layer.weight_hh_l0[:H], torch.eye(H))
    assert "init='identity'" in repr(layer)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: init_recurrent(torch.nn.Linear(2, 3), "xavier"), TypeError, r"`module` must be"),
        (lambda: init_recurrent(torch.nn.LSTM(2, 3), "glorot"), ValueError, r"`init` must be one"),
        (
            lambda: init_recurrent(torch.nn.LSTM(2, 3), "xavier", gain=0),
            ValueError,
            r"`gain` must be a positive number, got 0",
        ),
        (
            lambda: init_recurrent(torch.nn.GRU(2, 3), "xavier", forget_bias=1.0),
            ValueError,
            r"`forget_bias` needs a module with a forget gate",
        ),
        (
            lambda: init_recurrent(torch.nn.LSTM(2, 3, bias=False), "xavier", forget_bias=1.0),
            ValueError,
            r"`forget_bias` needs biases",
        ),
        (
            lambda: init_recurrent(torch.nn.LSTM(2, 3, proj_size=2), "identity"),
            ValueError,
            r"needs square recurrent blocks, got weight_hh_l0 with blocks of shape \[3, 2\]",
        ),
        (
            lambda: init_recurrent(torch.nn.LSTM(2, 3), "kaiming", nonlinearity="swish"),
            ValueError,
            r"swish",
        ),
    ],
)
def test_bad_arguments(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_a_failed_identity_leaves_the_module_unchanged() -> None:
    lstm = torch.nn.LSTM(2, 3, proj_size=2)
    before = {n: p.detach().clone() for n, p in lstm.named_parameters()}
    with pytest.raises(ValueError, match="square"):
        init_recurrent(lstm, "identity")
    for name, p in lstm.named_parameters():
        assert torch.equal(p, before[name]), name
