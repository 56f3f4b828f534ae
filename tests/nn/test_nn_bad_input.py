"""Bad arguments to rnnkit.nn layers: one clear error that names the argument."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit.nn as rnn

B, T, I, H = 3, 5, 3, 4


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: rnn.LSTM(0, H), ValueError, "`input_size` must be a positive integer, got 0"),
        (lambda: rnn.GRU(I, -1), ValueError, "`hidden_size` must be a positive integer, got -1"),
        (lambda: rnn.RNN(I, H, 0), ValueError, "`num_layers` must be a positive integer, got 0"),
        (lambda: rnn.RNN(I, 2.5), ValueError, "`hidden_size` must be a positive integer"),
        (
            lambda: rnn.JordanRNN(I, H, output_size=0),
            ValueError,
            "`output_size` must be a positive integer",
        ),
        (
            lambda: rnn.LSTM(I, H, 2, dropout=1.0),
            ValueError,
            r"`dropout` must be a number in \[0, 1\)",
        ),
        (lambda: rnn.LSTM(I, H, 2, dropout=-0.1), ValueError, "`dropout` must be a number"),
        (lambda: rnn.LSTM(I, H, 2, dropout="0.5"), ValueError, "`dropout` must be a number"),
        (lambda: rnn.RNN(I, H, nonlinearity="gelu"), ValueError, "`nonlinearity` must be one of"),
        (
            lambda: rnn.JordanRNN(I, H, output_size=2, nonlinearity="sigmoid"),
            ValueError,
            "`nonlinearity` must be one of",
        ),
        (
            lambda: rnn.JordanRNN(I, H, output_size=2, output_activation="relu"),
            ValueError,
            "`output_activation` must be one of",
        ),
        (lambda: rnn.GRU(I, H, peephole=True), ValueError, "`peephole` applies to LSTM only"),
        (lambda: rnn.RNN(I, H, forget_bias=1.0), ValueError, "`forget_bias` applies to LSTM"),
        (lambda: rnn.GRU(I, H, proj_size=2), ValueError, "`proj_size` applies to LSTM only"),
        (lambda: rnn.LSTM(I, H, nonlinearity="relu"), ValueError, "`nonlinearity` applies to"),
        (lambda: rnn.LSTM(I, H, bias=False, forget_bias=1.0), ValueError, "`forget_bias` needs"),
        (lambda: rnn.LSTM(I, H, forget_bias="1"), ValueError, "`forget_bias` must be a number"),
        (lambda: rnn.LSTM(I, H, proj_size=H), ValueError, "`proj_size` must be smaller"),
        (lambda: rnn.LSTM(I, H, proj_size=-1), ValueError, "`proj_size` must be a non-negative"),
        (lambda: rnn.LSTM(I, H, batch_first="yes"), TypeError, "`batch_first` must be a bool"),
        (lambda: rnn.LSTM(I, H, peephole=1), TypeError, "`peephole` must be a bool"),
        (lambda: rnn.GRU(I, H, zonout=0.1), TypeError, "unexpected keyword argument 'zonout'"),
    ],
)
def test_bad_constructor_arguments(make, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_switched_off_options_of_other_layers_are_accepted() -> None:
    assert rnn.GRU(I, H, peephole=False, forget_bias=None, proj_size=0).path == "fused"


@pytest.mark.parametrize("force_loop", [False, True])
class TestBadForwardArguments:
    def test_wrong_input_size(self, force_loop: bool) -> None:
        layer = rnn.LSTM(I, H, force_loop=force_loop)
        with pytest.raises(ValueError, match="`input` must have input_size=3 features"):
            layer(torch.randn(T, B, I + 1))

    def test_wrong_input_rank_and_type(self, force_loop: bool) -> None:
        layer = rnn.GRU(I, H, force_loop=force_loop)
        with pytest.raises(ValueError, match="`input` must be 2-D or 3-D"):
            layer(torch.randn(2, T, B, I))
        with pytest.raises(TypeError, match="`input` must be a tensor or a PackedSequence"):
            layer([[0.0] * I])
        with pytest.raises(TypeError, match="`input` must be a floating-point tensor"):
            layer(torch.ones(T, B, I, dtype=torch.int64))
        with pytest.raises(ValueError, match="`input` must have at least one step"):
            layer(torch.randn(0, B, I))

    def test_wrong_state_shape(self, force_loop: bool) -> None:
        layer = rnn.GRU(I, H, 2, bidirectional=True, force_loop=force_loop)
        x = torch.randn(T, B, I)
        with pytest.raises(ValueError, match=r"`hx` must have h_0 of shape \[4, 3, 4\]"):
            layer(x, torch.zeros(2, B, H))
        with pytest.raises(ValueError, match=r"`hx` must have h_0 of shape \[4, 3, 4\]"):
            layer(x, torch.zeros(4, B, H + 1))
        with pytest.raises(ValueError, match=r"`hx` must have h_0 of shape \[4, 4\]"):
            layer(torch.randn(T, I), torch.zeros(4, B, H))

    def test_wrong_lstm_state(self, force_loop: bool) -> None:
        layer = rnn.LSTM(I, H, force_loop=force_loop)
        x = torch.randn(T, B, I)
        with pytest.raises(ValueError, match=r"`hx` must be a tuple \(h_0, c_0\), got Tensor"):
            layer(x, torch.zeros(1, B, H))
        with pytest.raises(ValueError, match=r"`hx` must be a tuple \(h_0, c_0\), got 3 item"):
            layer(x, (torch.zeros(1, B, H),) * 3)
        with pytest.raises(ValueError, match=r"`hx` must have c_0 of shape \[1, 3, 4\]"):
            layer(x, (torch.zeros(1, B, H), torch.zeros(1, B, 2)))

    def test_bad_lengths(self, force_loop: bool) -> None:
        layer = rnn.RNN(I, H, batch_first=True, force_loop=force_loop)
        x = torch.randn(B, T, I)
        with pytest.raises(ValueError, match="`lengths` must not exceed the sequence length 5"):
            layer(x, lengths=[5, 6, 1])
        with pytest.raises(ValueError, match="`lengths` must be positive"):
            layer(x, lengths=[5, 0, 1])
        with pytest.raises(ValueError, match="`lengths` must be positive"):
            layer(x, lengths=torch.tensor([-1, 2, 3]))
        with pytest.raises(ValueError, match=r"`lengths` must have one entry per sequence \(batch"):
            layer(x, lengths=[5, 4])
        with pytest.raises(ValueError, match="`lengths` must be a 1-D integer tensor"):
            layer(x, lengths=torch.tensor([5.0, 4.0, 3.0]))
        with pytest.raises(ValueError, match="`lengths` must be a 1-D integer tensor"):
            layer(x, lengths=torch.tensor([[5, 4, 3]]))
        with pytest.raises(ValueError, match="`lengths` must be a 1-D integer tensor"):
            layer(x, lengths=[5, 4.5, 3])
        with pytest.raises(ValueError, match="`lengths` needs a batched 3-D input"):
            layer(torch.randn(T, I), lengths=[5])
        packed = pack_padded_sequence(x, [5, 4, 3], batch_first=True)
        with pytest.raises(ValueError, match="`lengths` must be None for a PackedSequence"):
            layer(packed, lengths=[5, 4, 3])

    def test_wrong_packed_input_size(self, force_loop: bool) -> None:
        layer = rnn.LSTM(I + 1, H, force_loop=force_loop)
        packed = pack_padded_sequence(torch.randn(T, B, I), [5, 4, 3])
        with pytest.raises(ValueError, match="`input` must have input_size=4 features"):
            layer(packed)


def test_direction_parameters_out_of_range() -> None:
    layer = rnn.LSTM(I, H, 2)
    with pytest.raises(ValueError, match=r"`layer` must be in \[0, 2\)"):
        layer.direction_parameters(2)
    with pytest.raises(ValueError, match=r"`direction` must be in \[0, 1\)"):
        layer.direction_parameters(0, 1)
