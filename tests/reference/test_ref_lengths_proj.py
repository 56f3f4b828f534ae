"""The reference network with variable lengths (``lengths=``) and LSTM projection (``proj_size``).

Oracles: rnnkit.nn layers with ``lengths`` (their CPU training path is the Python loop),
torch.nn.LSTM with a PackedSequence and with ``proj_size``, finite differences
(:func:`check_network_gradients`, whose truncated objective runs each sequence alone, cut to
its length), and each sequence of a padded batch run alone. float64, tiny sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit import nn as rnn_nn
from rnnkit.nn.convert import from_reference, reference_network, to_reference
from rnnkit.reference.gradcheck import check_network_gradients
from rnnkit.reference.network import Network

RTOL, ATOL = 1e-10, 1e-12
LENGTHS = [5, 2, 4]


def _same(label: str, what: str, mine: np.ndarray, theirs: torch.Tensor | np.ndarray) -> None:
    other = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert mine.shape == other.shape, f"{label}: {what} shapes {mine.shape} != {other.shape}"
    np.testing.assert_allclose(
        mine, other, rtol=RTOL, atol=ATOL, err_msg=f"{label}: {what} differs from torch"
    )


def _compare(label: str, module: torch.nn.Module, *, lengths: list[int] | None,
             packed: bool = False, seed: int = 0) -> None:
    """Run ``module`` (batch_first, float64; packed input when ``packed``) and the reference
    network on the same weights, under the loss ``Σ G ⊙ outputs + Σ G_s ⊙ final states``
    with random ``G`` (also nonzero on padded steps: both engines must ignore them)."""
    gen = torch.Generator().manual_seed(seed)
    net, params = reference_network(module), to_reference(module)
    B, T = 3, 5
    x = torch.randn(B, T, module.input_size, dtype=torch.float64, generator=gen,
                    requires_grad=True)
    sizes = (net.proj_size or net.hidden_size, net.hidden_size) if "c" in net.spec.state_names \
        else (net.hidden_size,)
    init = tuple(torch.randn(net.num_layers * net.num_directions, B, n, dtype=torch.float64,
                             generator=gen, requires_grad=True) for n in sizes)
    hx = init if len(init) == 2 else init[0]
    if packed:
        pack = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True,
                                    enforce_sorted=False)
        out, h_n = module(pack, hx)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    elif lengths is None:
        out, h_n = module(x, hx)
    else:
        out, h_n = module(x, hx, lengths=lengths)
    finals = h_n if isinstance(h_n, tuple) else (h_n,)
    g_out = torch.randn(out.shape, dtype=torch.float64, generator=gen)
    g_fin = [torch.randn(f.shape, dtype=torch.float64, generator=gen) for f in finals]
    objective = (out * g_out).sum() + sum((f * g).sum() for f, g in zip(finals, g_fin, strict=True))
    objective.backward()

    fwd = net.forward(params, x.detach().numpy(), tuple(s.detach().numpy() for s in init),
                      lengths=lengths)
    grads = net.backward(params, fwd, g_out.numpy(), tuple(g.numpy() for g in g_fin))
    _same(label, "outputs", fwd.outputs, out)
    for name, mine, theirs in zip(net.spec.state_names, fwd.final_state, finals, strict=True):
        _same(label, f"final state {name}", mine, theirs)
    for name, p in module.named_parameters():
        _same(label, f"gradient of {name}", grads.params[name], p.grad)
    _same(label, "gradient of the inputs", grads.inputs, x.grad)
    for name, mine, s in zip(net.spec.state_names, grads.initial_state, init, strict=True):
        _same(label, f"gradient of the initial state {name}", mine, s.grad)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_lengths_equal_rnnkit_nn(kind: str) -> None:
    layer = getattr(rnn_nn, kind)(2, 3, num_layers=2, bidirectional=True, batch_first=True,
                                  dtype=torch.float64)
    _compare(f"rnnkit.nn.{kind} lengths={LENGTHS}", layer, lengths=LENGTHS)


def test_lengths_equal_torch_packed_sequence() -> None:
    lstm = torch.nn.LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True,
                         dtype=torch.float64)
    _compare("torch.nn.LSTM PackedSequence", lstm, lengths=LENGTHS, packed=True)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_projection_equals_torch_lstm(num_layers: int) -> None:
    lstm = torch.nn.LSTM(2, 3, num_layers=num_layers, bidirectional=True, batch_first=True,
                         proj_size=2, dtype=torch.float64)
    _compare(f"torch.nn.LSTM proj_size=2 num_layers={num_layers}", lstm, lengths=None)


def test_projection_with_lengths_equals_rnnkit_nn() -> None:
    layer = rnn_nn.LSTM(2, 3, num_layers=2, bidirectional=True, batch_first=True, proj_size=1,
                        dtype=torch.float64)
    _compare("rnnkit.nn.LSTM proj_size=1 lengths", layer, lengths=LENGTHS)


def test_padded_batch_equals_each_sequence_alone() -> None:
    net = Network("lstm", 2, 3, num_layers=2, bidirectional=True, proj_size=2,
                  output_size=2, output_activation="tanh")
    params = net.init_params(seed=3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 5, 2))
    init = tuple(rng.normal(size=s.shape) for s in net.initial_state(3))
    fwd = net.forward(params, x, init, lengths=LENGTHS)
    g_out = rng.normal(size=fwd.outputs.shape)
    grads = net.backward(params, fwd, g_out)
    assert not fwd.outputs[1, 2:].any() and not grads.inputs[1, 2:].any()
    total = {name: np.zeros_like(v) for name, v in params.items()}
    for b, n in enumerate(LENGTHS):
        alone_init = tuple(s[:, b:b + 1] for s in init)
        alone = net.forward(params, x[b:b + 1, :n], alone_init)
        np.testing.assert_allclose(alone.outputs[0], fwd.outputs[b, :n], rtol=RTOL, atol=ATOL)
        for a, s in zip(alone.final_state, fwd.final_state, strict=True):
            np.testing.assert_allclose(a[:, 0], s[:, b], rtol=RTOL, atol=ATOL)
        g = net.backward(params, alone, g_out[b:b + 1, :n])
        np.testing.assert_allclose(g.inputs[0], grads.inputs[b, :n], rtol=RTOL, atol=ATOL)
        for a, s in zip(g.initial_state, grads.initial_state, strict=True):
            np.testing.assert_allclose(a[:, 0], s[:, b], rtol=RTOL, atol=ATOL)
        for name in total:
            total[name] += g.params[name]
    for name, value in total.items():
        np.testing.assert_allclose(grads.params[name], value, rtol=RTOL, atol=ATOL,
                                   err_msg=f"gradient of {name}")


def test_gradcheck_variable_length_bidirectional_gru() -> None:
    net = Network("gru", 2, 3, bidirectional=True)
    x = np.random.default_rng(1).normal(size=(3, 5, 2))
    result = check_network_gradients(net, net.init_params(seed=1), x, lengths=LENGTHS)
    assert result.ok, result.table()
    assert {"weight_hh_l0_reverse", "inputs", "initial_state[h]"} <= set(result.errors)


def test_gradcheck_projected_lstm_with_a_loss_and_lengths() -> None:
    net = Network("lstm", 2, 3, num_layers=2, proj_size=2, output_size=2,
                  output_activation="softmax")
    x = np.random.default_rng(2).normal(size=(2, 4, 2))
    targets = np.array([[0, 1, 1, 0], [1, 0, 0, 0]])
    result = check_network_gradients(net, net.init_params(seed=2), x, targets=targets,
                                     lengths=[4, 2], reduction="mean")
    assert result.ok, result.table()
    assert {"weight_hr_l0", "weight_hr_l1", "initial_state[h]", "initial_state[c]"} <= set(
        result.errors
    )


def test_gradcheck_truncated_with_lengths_against_sequences_cut_alone() -> None:
    # the check's truncated objective runs each sequence alone over its own windows
    net = Network("rnn", 2, 2, bidirectional=True)
    x = np.random.default_rng(4).normal(size=(2, 4, 2))
    result = check_network_gradients(net, net.init_params(seed=4), x, lengths=[4, 2],
                                     truncate=2)
    assert result.ok, result.table()


@pytest.mark.parametrize("many_to_one", [False, True])
def test_truncation_at_least_t_equals_full_bptt_with_lengths(many_to_one: bool) -> None:
    net = Network("gru", 2, 3, num_layers=2, bidirectional=True, output_size=2,
                  many_to_one=many_to_one)
    params = net.init_params(seed=5)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 5, 2))
    fwd = net.forward(params, x, lengths=LENGTHS)
    g_out = rng.normal(size=fwd.outputs.shape)
    g_fin = tuple(rng.normal(size=s.shape) for s in fwd.final_state)
    full = net.backward(params, fwd, g_out, g_fin)
    for k in (5, 7):
        cut = net.backward(params, fwd, g_out, g_fin, truncate=k)
        for name in params:
            np.testing.assert_allclose(cut.params[name], full.params[name], rtol=RTOL,
                                       atol=ATOL, err_msg=f"truncate={k}: {name}")
        np.testing.assert_allclose(cut.inputs, full.inputs, rtol=RTOL, atol=ATOL)
        for a, b in zip(cut.initial_state, full.initial_state, strict=True):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    shorter = net.backward(params, fwd, g_out, g_fin, truncate=1)
    assert not np.allclose(shorter.params["weight_hh_l0"], full.params["weight_hh_l0"])


def test_loss_counts_only_the_valid_steps() -> None:
    net = Network("rnn", 2, 3, output_size=2, output_activation="softmax")
    params = net.init_params(seed=6)
    x = np.random.default_rng(6).normal(size=(3, 5, 2))
    targets = np.zeros((3, 5), dtype=int)
    value, _, fwd = net.loss_and_grads(params, x, targets, lengths=LENGTHS, reduction="mean")
    assert fwd.mask.sum() == sum(LENGTHS)
    alone = [net.loss_and_grads(params, x[b:b + 1, :n], targets[b:b + 1, :n])[0]
             for b, n in enumerate(LENGTHS)]
    assert value == pytest.approx(sum(alone) / sum(LENGTHS), rel=1e-12)
    mask = np.ones((3, 5), dtype=bool)
    mask[0, 0] = False
    masked, _, _ = net.loss_and_grads(params, x, targets, lengths=LENGTHS, mask=mask)
    first = net.loss_and_grads(params, x[:1, :1], targets[:1, :1])[0]
    assert masked == pytest.approx(sum(alone) - first, rel=1e-12)


def test_projection_round_trip() -> None:
    net = Network("lstm", 3, 4, num_layers=2, bidirectional=True, proj_size=2)
    params = net.init_params(seed=7)
    assert params["weight_hr_l1_reverse"].shape == (2, 4)
    assert params["weight_ih_l1"].shape == (16, 4) and params["weight_hh_l0"].shape == (16, 2)
    for torch_module, cls in ((False, rnn_nn.LSTM), (True, torch.nn.LSTM)):
        module = from_reference(params, net, torch_module=torch_module, batch_first=True)
        assert type(module) is cls and module.proj_size == 2
        back = to_reference(module)
        assert back.keys() == params.keys()
        for name, value in params.items():
            np.testing.assert_array_equal(back[name], value)
        twin = reference_network(module)
        assert twin.proj_size == 2 and twin.parameter_shapes() == net.parameter_shapes()
    h0, c0 = net.initial_state(5)
    assert h0.shape == (4, 5, 2) and c0.shape == (4, 5, 4)


@pytest.mark.parametrize(
    ("lengths", "match"),
    [
        ([5, 2], r"`lengths` must be 3 integers in \[1, 5\], one per sequence, got \[5, 2\]"),
        ([5, 0, 4], r"`lengths` must be 3 integers in \[1, 5\].*got \[5, 0, 4\]"),
        ([5, 6, 4], r"`lengths` must be 3 integers in \[1, 5\].*got \[5, 6, 4\]"),
        ([5.0, 2, 4], r"`lengths` must be 3 integers.*got \[5\.0, 2, 4\]"),
        ([True, 2, 4], r"`lengths` must be 3 integers.*got \[True, 2, 4\]"),
        (np.ones((3, 1), dtype=int), r"`lengths` must be 3 integers.*shape \(3, 1\)"),
        ("523", r"`lengths` must be 3 integers.*got str '523'"),
    ],
)
def test_bad_lengths_are_refused(lengths: object, match: str) -> None:
    net = Network("gru", 2, 3)
    with pytest.raises(ValueError, match=match):
        net.forward(net.init_params(), np.zeros((3, 5, 2)), lengths=lengths)


def test_bad_projections_and_masks_are_refused() -> None:
    with pytest.raises(ValueError, match=r"`proj_size` applies only to the plain 'lstm' cell, "
                                         r"got proj_size=2 for cell 'gru'"):
        Network("gru", 2, 3, proj_size=2)
    with pytest.raises(ValueError, match=r"`proj_size` applies only.*cell 'peephole_lstm'"):
        Network("peephole_lstm", 2, 3, proj_size=2)
    with pytest.raises(ValueError, match=r"`proj_size` applies only.*cell 'lstm_cifg'"):
        Network("lstm", 2, 3, proj_size=2, variant="cifg")
    with pytest.raises(ValueError, match=r"`proj_size` must be smaller than hidden_size=3, "
                                         r"got 3"):
        Network("lstm", 2, 3, proj_size=3)
    with pytest.raises(ValueError, match=r"`proj_size` must be a non-negative integer, got -1"):
        Network("lstm", 2, 3, proj_size=-1)
    with pytest.raises(ValueError, match=r"`recurrent_init='orthogonal'` needs a square"):
        Network("lstm", 2, 3, proj_size=2).init_params(recurrent_init="orthogonal")
    net = Network("rnn", 2, 3, output_size=1)
    with pytest.raises(ValueError, match=r"`mask` must have shape \(3, 5\), got \(3, 4\)"):
        net.loss_and_grads(net.init_params(), np.zeros((3, 5, 2)), np.zeros((3, 5, 1)),
                           lengths=LENGTHS, mask=np.ones((3, 4), dtype=bool))
