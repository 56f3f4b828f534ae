"""The LSTM ablations and MUT1-3 in the reference engine: gradient check, engine against
engine (rnnkit.nn.LSTM(variant=...) / rnnkit.nn.MUT), and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit import nn as rnn_nn
from rnnkit.cli import main
from rnnkit.nn.convert import from_reference, reference_network, to_reference
from rnnkit.reference.cells import REFERENCE_CELL_NAMES, make_cell
from rnnkit.reference.gradcheck import check_cell_gradients, check_network_gradients
from rnnkit.reference.network import Network
from rnnkit.reference.variants import MUT, LSTMVariant
from rnnkit.spec_variants import LSTM_VARIANTS

ABLATIONS = LSTM_VARIANTS[1:]
MUTS = ("mut1", "mut2", "mut3")
H = 3
TOL = 1e-10  # engine against engine, float64


def _network(kind: str, input_size: int = H, **options: object) -> Network:
    """A reference network of an ablation (``"cifg"``) or a MUT (``"mut2"``)."""
    if kind.startswith("mut"):
        return Network(kind, input_size, H, **options)
    return Network("lstm", input_size, H, variant=kind, **options)


def _input_size(kind: str) -> int:
    return H if kind in ("mut1", "mut2") else 2  # MUT1 and MUT2 need I == H


# -- oracle 1: gradient check ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ABLATIONS + MUTS)
def test_gradcheck_every_parameter_input_and_initial_state(kind: str) -> None:
    I = _input_size(kind)
    net = _network(kind, I)
    x = np.random.default_rng(1).normal(size=(2, 3, I))
    result = check_network_gradients(net, net.init_params(seed=2), x, seed=3)
    expected = {*net.parameter_shapes(), "inputs",
                *(f"initial_state[{s}]" for s in net.spec.state_names)}
    assert set(result.errors) == expected
    assert result.ok, result.table()


@pytest.mark.parametrize("kind", ABLATIONS + MUTS)
def test_gradcheck_of_one_cell_step_with_a_random_state(kind: str) -> None:
    cell = make_cell("lstm", variant=kind) if kind in ABLATIONS else make_cell(kind)
    I = _input_size(kind)
    rng = np.random.default_rng(4)
    params = {k: rng.normal(size=s) for k, s in cell.parameter_shapes(I, H).items()}
    state = tuple(0.5 * rng.normal(size=(2, n)) for n in cell.state_sizes(H))
    result = check_cell_gradients(cell, params, rng.normal(size=(2, I)), state, seed=5)
    assert len(result.errors) == len(params) + 1 + len(state)
    assert result.ok, result.table()


@pytest.mark.parametrize(("kind", "layers", "bidirectional", "truncate"), [
    ("fgr", 2, True, None),
    ("fgr", 1, False, 2),
    ("cifg", 2, False, 1),
    ("mut3", 2, True, 2),
    ("mut1", 2, False, None),
    ("mut2", 1, True, 1),
])
def test_gradcheck_stacked_bidirectional_truncated(
    kind: str, layers: int, bidirectional: bool, truncate: int | None
) -> None:
    I = _input_size(kind)
    net = _network(kind, I, num_layers=layers, bidirectional=bidirectional)
    x = np.random.default_rng(6).normal(size=(1, 3, I))
    result = check_network_gradients(net, net.init_params(seed=7), x, truncate=truncate, seed=8)
    assert result.ok, result.table()


# -- oracle 2: engine against engine -------------------------------------------------------------


def _assert_same(label: str, what: str, mine: np.ndarray, theirs: torch.Tensor) -> None:
    other = theirs.detach().numpy()
    assert mine.shape == other.shape, f"{label}: {what} shape {mine.shape} != {other.shape}"
    np.testing.assert_allclose(mine, other, rtol=TOL, atol=TOL,
                               err_msg=f"{label}: {what} differs between the engines")


def _torch_layer(kind: str, layers: int, bidirectional: bool) -> rnn_nn.RecurrentLayer:
    common = dict(num_layers=layers, bidirectional=bidirectional, batch_first=True,
                  dtype=torch.float64)
    if kind.startswith("mut"):
        return rnn_nn.MUT(_input_size(kind), H, kind=int(kind[-1]), **common)
    return rnn_nn.LSTM(_input_size(kind), H, variant=kind, **common)


@pytest.mark.parametrize(("kind", "layers", "bidirectional"), [
    *((k, 1, False) for k in ABLATIONS + MUTS),
    *((k, 2, False) for k in ("cifg", "fgr", "nog", "mut1", "mut3")),
    *((k, 1, True) for k in ("noaf", "fgr", "mut2", "mut3")),
    ("fgr", 2, True),
    ("mut3", 2, True),
])
def test_same_as_the_torch_engine(kind: str, layers: int, bidirectional: bool) -> None:
    """The torch layer's state_dict, as NumPy arrays, runs the reference network unchanged:
    outputs, final states and the gradients of ``Σ outputs`` agree to 1e-10."""
    label = f"{kind}, {layers} layer(s), bidirectional={bidirectional}"
    torch.manual_seed(9)
    module = _torch_layer(kind, layers, bidirectional)
    params = {k: v.numpy().copy() for k, v in module.state_dict().items()}
    net = _network(kind, module.input_size, num_layers=layers, bidirectional=bidirectional)
    assert list(params) == list(net.parameter_shapes()), label
    gen = torch.Generator().manual_seed(10)
    x = torch.randn(2, 3, module.input_size, dtype=torch.float64, generator=gen,
                    requires_grad=True)
    init = tuple(
        torch.randn(layers * (1 + bidirectional), 2, n, dtype=torch.float64, generator=gen,
                    requires_grad=True)
        for n in module.state_sizes
    )
    out, h_n = module(x, init if len(init) > 1 else init[0])
    out.sum().backward()
    finals = h_n if isinstance(h_n, tuple) else (h_n,)

    fwd = net.forward(params, x.detach().numpy(), tuple(s.detach().numpy() for s in init))
    grads = net.backward(params, fwd, np.ones(fwd.outputs.shape))
    _assert_same(label, "outputs", fwd.outputs, out)
    for name, mine, theirs in zip(net.spec.state_names, fwd.final_state, finals, strict=True):
        _assert_same(label, f"final state {name}", mine, theirs)
    for name, p in module.named_parameters():
        _assert_same(label, f"gradient of {name}", grads.params[name], p.grad)
    _assert_same(label, "gradient of the inputs", grads.inputs, x.grad)
    for name, mine, s in zip(net.spec.state_names, grads.initial_state, init, strict=True):
        _assert_same(label, f"gradient of the initial state {name}", mine, s.grad)


def test_convert_builds_the_matching_reference_network() -> None:
    """rnnkit.nn layers report their spec names ('lstm_fgr', 'mut1'): both are cell names."""
    fgr = reference_network(rnn_nn.LSTM(2, H, variant="fgr", num_layers=2))
    assert isinstance(fgr, Network) and isinstance(fgr.cell, LSTMVariant)
    assert (fgr.cell.variant, fgr.num_layers, fgr.spec.state_names) == ("fgr", 2, ("h", "c", "a"))
    mut = reference_network(rnn_nn.MUT(H, H, kind=1))
    assert isinstance(mut, Network) and isinstance(mut.cell, MUT) and mut.cell.kind == 1


@pytest.mark.parametrize("kind", [*ABLATIONS, *MUTS])
def test_layers_and_cells_go_to_the_reference_engine_and_back(kind: str) -> None:
    torch.manual_seed(0)
    if kind.startswith("mut"):
        layer = rnn_nn.MUT(H, H, kind=int(kind[-1]), num_layers=2)
        cell = rnn_nn.MUTCell(H, H, kind=int(kind[-1]))
    else:
        layer = rnn_nn.LSTM(2, H, variant=kind, num_layers=2)
        cell = rnn_nn.LSTMCell(2, H, variant=kind)
    for module in (layer, cell):
        back = from_reference(to_reference(module), reference_network(module))
        assert type(back) is type(module) and back.spec == module.spec
        assert back.state_dict().keys() == module.state_dict().keys()
        for name, value in module.state_dict().items():
            torch.testing.assert_close(back.state_dict()[name].float(), value, rtol=0, atol=0)


def test_identity_recurrent_init_stacks_one_eye_per_recurrent_block() -> None:
    params = _network("mut1").init_params(recurrent_init="identity")  # weight_hh blocks (r, h)
    np.testing.assert_array_equal(params["weight_hh_l0"], np.vstack([np.eye(H)] * 2))


# -- the refusals --------------------------------------------------------------------------------


def test_bad_cells_and_variants_are_refused() -> None:
    with pytest.raises(ValueError, match="Argument `variant` applies only to the 'lstm' cell, "
                                         "got variant='cifg' for cell 'gru'"):
        make_cell("gru", variant="cifg")
    with pytest.raises(ValueError, match="Argument `variant` applies only to the 'lstm' cell"):
        Network("peephole_lstm", 2, H, variant="nig")
    with pytest.raises(ValueError, match=r"Argument `variant` must be one of \['vanilla', 'nig'.*"
                                         r"got 'coupled'"):
        make_cell("lstm", variant="coupled")
    with pytest.raises(ValueError, match=r"Argument `cell` must be one of \[.*'mut3'\], "
                                         r"got 'mut4'"):
        make_cell("mut4")
    with pytest.raises(ValueError, match="Argument `kind` must be one of \\[1, 2, 3\\], got 0"):
        MUT(0)
    with pytest.raises(ValueError, match=r"must be one of \['nig'.*\] for LSTMVariant, "
                                         r"got 'vanilla'"):
        LSTMVariant("vanilla")
    assert REFERENCE_CELL_NAMES[-3:] == MUTS


def test_layer_norm_and_other_options_do_not_combine_with_the_variants() -> None:
    with pytest.raises(ValueError, match="Argument `layer_norm` is defined for variant='vanilla' "
                                         "only, got layer_norm=True with variant='fgr'"):
        make_cell("lstm", variant="fgr", layer_norm=True)
    with pytest.raises(ValueError, match="Argument `layer_norm` is defined for variant='vanilla'"):
        Network("lstm", 2, H, variant="cifg", layer_norm=True)
    with pytest.raises(ValueError, match="`layer_norm=True` is defined for cells 'lstm', "
                                         "'peephole_lstm' and 'gru', not for 'mut2'"):
        make_cell("mut2", layer_norm=True)
    with pytest.raises(ValueError, match="Argument `nonlinearity` applies only to cells"):
        make_cell("mut3", nonlinearity="relu")
    with pytest.raises(ValueError, match="`forget_bias` needs a cell with a forget gate"):
        _network("cifg").init_params(forget_bias=1.0)


@pytest.mark.parametrize("kind", ["mut1", "mut2"])
def test_mut1_and_mut2_need_input_size_equal_to_hidden_size(kind: str) -> None:
    message = (f"Argument `input_size` must equal hidden_size=3 for cell '{kind}', which adds "
               f"x_t to a gate, got 2.")
    with pytest.raises(ValueError, match=message):  # the torch engine's sentence
        rnn_nn.MUT(2, 3, kind=int(kind[-1]))
    with pytest.raises(ValueError, match=message):
        Network(kind, 2, 3)
    with pytest.raises(ValueError, match=message):
        make_cell(kind).parameter_shapes(2, 3)
    with pytest.raises(ValueError, match=f"`bidirectional=True` with num_layers=2 does not "
                                         f"combine with kind={kind[-1]}"):
        Network(kind, 3, 3, num_layers=2, bidirectional=True)
    Network("mut3", 2, 3, num_layers=2, bidirectional=True)  # MUT3 reads x_t through W_ih only


# -- rnnkit gradcheck ----------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["lstm", "--variant", "cifg", "--truncate", "1"],
    ["lstm", "--variant", "fgr", "--bidirectional"],
    ["mut2", "--loss", "ce"],  # the input size defaults to the hidden size
])
def test_the_command_checks_the_new_cells(argv: list[str], capsys) -> None:
    assert main(["gradcheck", *argv, "--steps", "2", "--hidden-size", "2", "--batch", "1"]) == 0
    out = capsys.readouterr().out
    assert "max rel error" in out and "FAIL" not in out
    assert ("LSTMVariant" if argv[0] == "lstm" else "MUT(2)") in out


def test_the_command_lists_and_refuses(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["gradcheck", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "mut1, mut2, mut3" in out and "nig, nfg, nog, niaf, noaf, cifg, fgr" in out
    assert main(["gradcheck", "gru", "--variant", "nog"]) == 2
    assert "`variant` applies only to the 'lstm' cell" in capsys.readouterr().err
    assert main(["gradcheck", "mut1", "--input-size", "2", "--hidden-size", "3"]) == 2
    assert "must equal hidden_size=3 for cell 'mut1'" in capsys.readouterr().err
