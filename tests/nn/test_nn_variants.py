"""LSTM ablations (Greff et al. 2017) and MUT1-3 (Jozefowicz et al. 2015): each against a
hand-stepped formula, golden numbers, the fixed gates really fixed, and bad values refused."""

from __future__ import annotations

import pytest
import torch
from nn_checks import DTYPE
from torch import Tensor

import rnnkit.nn as rnn
from rnnkit.nn.variants import LSTM_VARIANTS, lstm_variant_spec, mut_spec

B, T, I, H = 2, 4, 3, 5
ABLATIONS = LSTM_VARIANTS[1:]


def assert_all_close(got: Tensor, expected: Tensor, label: str) -> None:
    assert got.shape == expected.shape, f"{label}: shape {got.shape} != {expected.shape}"
    diff = (got - expected).abs().max().item()
    assert torch.allclose(got, expected, atol=1e-10, rtol=1e-8), f"{label}: max diff {diff}"


def sig(a: Tensor) -> Tensor:
    return 1 / (1 + torch.exp(-a))


def blocks(t: Tensor | None, names: tuple[str, ...]) -> dict[str, Tensor]:
    """Rows of a stacked matrix (or entries of a stacked bias) per gate, as the docs lay out."""
    if t is None:
        return {}
    n = t.shape[0] // len(names)
    return {name: t[k * n : (k + 1) * n] for k, name in enumerate(names)}


def hand_lstm_variant(
    variant: str, p: dict[str, Tensor], x: Tensor, state: tuple[Tensor, ...]
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Greff et al.'s equations written gate by gate, one sequence ``x [T, I]`` at a time."""
    names = {"nig": "fgo", "nfg": "igo", "nog": "ifg", "cifg": "igo"}.get(variant, "ifgo")
    Wx, Wh = blocks(p["weight_ih"], tuple(names)), blocks(p["weight_hh"], tuple(names))
    bx, bh = blocks(p["bias_ih"], tuple(names)), blocks(p["bias_hh"], tuple(names))
    h, c = state[0], state[1]
    prev = state[2] if variant == "fgr" else None  # [i; f; o] of the previous step
    outputs = []
    for x_t in x:
        a = {k: Wx[k] @ x_t + bx[k] + Wh[k] @ h + bh[k] for k in names}
        if variant == "fgr":
            R = blocks(p["weight_ah"], ("i", "f", "o"))
            for k in "ifo":
                a[k] = a[k] + R[k] @ prev
        i = torch.ones(H, dtype=DTYPE) if variant == "nig" else sig(a["i"])
        f = torch.ones(H, dtype=DTYPE) if variant == "nfg" else 1 - i if variant == "cifg" else None
        f = sig(a["f"]) if f is None else f
        o = torch.ones(H, dtype=DTYPE) if variant == "nog" else sig(a["o"])
        g = a["g"] if variant == "niaf" else torch.tanh(a["g"])
        c = f * c + i * g
        h = o * c if variant == "noaf" else o * torch.tanh(c)
        prev = torch.cat([i, f, o])
        outputs.append(h)
    final = (h, c, prev) if variant == "fgr" else (h, c)
    return torch.stack(outputs), final


def hand_mut(kind: int, p: dict[str, Tensor], x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """Jozefowicz et al.'s section 3.3, one sequence ``x [T, I]``."""
    spec = mut_spec(kind)
    Wx, Wh = blocks(p["weight_ih"], spec.input_gates), blocks(p["weight_hh"], spec.recurrent_gates)
    bx, bh = blocks(p["bias_ih"], spec.input_gates), blocks(p["bias_hh"], spec.recurrent_gates)
    b = {k: bx.get(k, 0) + bh.get(k, 0) for k in "zrh"}
    outputs = []
    for x_t in x:
        if kind == 1:
            z = sig(Wx["z"] @ x_t + b["z"])
            r = sig(Wx["r"] @ x_t + Wh["r"] @ h + b["r"])
            h = torch.tanh(Wh["h"] @ (r * h) + torch.tanh(x_t) + b["h"]) * z + h * (1 - z)
        elif kind == 2:
            z = sig(Wx["z"] @ x_t + Wh["z"] @ h + b["z"])
            r = sig(x_t + Wh["r"] @ h + b["r"])
            h = torch.tanh(Wh["h"] @ (r * h) + Wx["h"] @ x_t + b["h"]) * z + h * (1 - z)
        else:
            z = sig(Wx["z"] @ x_t + Wh["z"] @ torch.tanh(h) + b["z"])
            r = sig(Wx["r"] @ x_t + Wh["r"] @ h + b["r"])
            h = torch.tanh(Wh["h"] @ (r * h) + Wx["h"] @ x_t + b["h"]) * z + h * (1 - z)
        outputs.append(h)
    return torch.stack(outputs), h


def randomize(module: torch.nn.Module, seed: int = 3) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.7)


@pytest.mark.parametrize("variant", ABLATIONS)
def test_lstm_variant_layer_equals_hand_stepped_equations(variant: str) -> None:
    layer = rnn.LSTM(I, H, batch_first=True, variant=variant, dtype=DTYPE)
    randomize(layer)
    x = torch.randn(B, T, I, dtype=DTYPE)
    state = tuple(torch.randn(1, B, n, dtype=DTYPE) for n in layer.state_sizes)
    output, final = layer(x, state)
    p = layer.direction_parameters(0)
    for b in range(B):
        expected, expected_final = hand_lstm_variant(
            variant, p, x[b], tuple(s[0, b] for s in state)
        )
        assert_all_close(output[b], expected, f"{variant} output {b}")
        for k, s in enumerate(expected_final):
            assert_all_close(final[k][0, b], s, f"{variant} final state {k} of {b}")


@pytest.mark.parametrize("kind", [1, 2, 3])
def test_mut_layer_equals_hand_stepped_equations(kind: int) -> None:
    layer = rnn.MUT(H, H, kind=kind, dtype=DTYPE)
    randomize(layer)
    x = torch.randn(T, B, H, dtype=DTYPE)
    h0 = torch.randn(1, B, H, dtype=DTYPE)
    output, h_n = layer(x, h0)
    for b in range(B):
        expected, expected_h = hand_mut(kind, layer.direction_parameters(0), x[:, b], h0[0, b])
        assert_all_close(output[:, b], expected, f"MUT{kind} output {b}")
        assert_all_close(h_n[0, b], expected_h, f"MUT{kind} h_n {b}")


def _constant(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.fill_(0.0 if name.startswith("bias") else 0.5)


def test_golden_numbers_cifg_and_mut1() -> None:
    """I = H = 1, every weight 0.5, biases 0, x = 1, 1, zero initial state (by hand:
    CIFG a = 0.5 + 0.5 h, i = o = σ(a), c = (1 - i) c + i tanh(a), h = o tanh(c);
    MUT1 z = σ(0.5), r = σ(0.5 + 0.5 h), h = tanh(0.5 r h + tanh 1) z + h (1 - z))."""
    x = torch.ones(2, 1, 1, dtype=DTYPE)
    cifg = rnn.LSTM(1, 1, variant="cifg", dtype=DTYPE)
    _constant(cifg)
    out, (_h, c) = cifg(x)
    assert out[:, 0, 0].tolist() == pytest.approx([0.17426971865610508, 0.2669256723997954])
    assert c.item() == pytest.approx(0.4420163567368466)
    mut1 = rnn.MUT(1, 1, kind=1, dtype=DTYPE)
    _constant(mut1)
    out, _ = mut1(x)
    assert out[:, 0, 0].tolist() == pytest.approx([0.3996282225493534, 0.5952516341287577])


def _zero_gate(layer: rnn.LSTM, gate: str, value: float = 0.0) -> None:
    """Zero the weights of one gate block and set its total bias to ``value``."""
    rows = layer.spec.gate_slice(gate, H)
    with torch.no_grad():
        layer.weight_ih_l0[rows] = 0.0
        layer.weight_hh_l0[rows] = 0.0
        layer.bias_ih_l0[rows] = value
        layer.bias_hh_l0[rows] = 0.0


def test_removed_gates_stay_fixed_whatever_the_weights() -> None:
    x = torch.randn(T, B, I, dtype=DTYPE)
    c0 = torch.randn(1, B, H, dtype=DTYPE)
    h0 = torch.randn(1, B, H, dtype=DTYPE)
    # NFG: with g = 0 the cell is c_t = f ⊙ c_{t-1}: f = 1 keeps it exactly, any weights.
    nfg = rnn.LSTM(I, H, variant="nfg", dtype=DTYPE)
    randomize(nfg, seed=5)
    _zero_gate(nfg, "g")
    _, (_, c) = nfg(x, (h0, c0))
    assert torch.equal(c, c0)
    vanilla = rnn.LSTM(I, H, dtype=DTYPE)
    randomize(vanilla, seed=5)
    _zero_gate(vanilla, "g")
    assert not torch.allclose(vanilla(x, (h0, c0))[1][1], c0)  # a real forget gate decays it
    # NIG: with f = 0 (bias -1e4) the cell is c_t = i ⊙ tanh(a_g): i = 1 gives tanh(a_g).
    nig = rnn.LSTM(I, H, variant="nig", dtype=DTYPE)
    randomize(nig, seed=6)
    _zero_gate(nig, "f", -1e4)
    _, (h, c) = nig(x[:1], (h0, c0))
    g = nig.spec.gate_slice("g", H)
    a_g = x[0] @ nig.weight_ih_l0[g].T + nig.bias_ih_l0[g] + h0[0] @ nig.weight_hh_l0[g].T
    a_g = a_g + nig.bias_hh_l0[g]
    assert_all_close(c[0], torch.tanh(a_g), "NIG cell")
    # NOG: h_t = tanh(c_t) for any weights.
    nog = rnn.LSTM(I, H, variant="nog", dtype=DTYPE)
    randomize(nog, seed=7)
    _out, (h, c) = nog(x, (h0, c0))
    assert_all_close(h, torch.tanh(c), "NOG output")


def test_cifg_has_no_forget_weights_and_couples_the_gates() -> None:
    cifg = rnn.LSTM(I, H, variant="cifg", dtype=DTYPE)
    assert cifg.spec.gates == ("i", "g", "o")
    assert {n: tuple(p.shape) for n, p in cifg.named_parameters()} == {
        "weight_ih_l0": (3 * H, I), "weight_hh_l0": (3 * H, H),
        "bias_ih_l0": (3 * H,), "bias_hh_l0": (3 * H,),
    }
    randomize(cifg, seed=8)
    _zero_gate(cifg, "g")  # then c_t = (1 - i) ⊙ c_{t-1}
    x = torch.randn(1, B, I, dtype=DTYPE)
    c0 = torch.randn(1, B, H, dtype=DTYPE)
    _, (_, c) = cifg(x, (torch.zeros(1, B, H, dtype=DTYPE), c0))
    i_rows = cifg.spec.gate_slice("i", H)
    i = sig(x[0] @ cifg.weight_ih_l0[i_rows].T + cifg.bias_ih_l0[i_rows] + cifg.bias_hh_l0[i_rows])
    assert_all_close(c[0], (1 - i) * c0[0], "CIFG cell")


def test_fgr_weights_get_gradients_and_zero_recurrence_is_the_plain_lstm() -> None:
    fgr = rnn.LSTM(I, H, 2, variant="fgr", dtype=DTYPE)
    assert fgr.weight_ah_l1.shape == (3 * H, 3 * H)
    x = torch.randn(T, B, I, dtype=DTYPE)
    out, (_, _, a) = fgr(x)
    assert a.shape == (2, B, 3 * H)
    (out.pow(2).sum() + a.sum()).backward()
    for name in ("weight_ah_l0", "weight_ah_l1"):
        grad = getattr(fgr, name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    plain = rnn.LSTM(I, H, 2, dtype=DTYPE)
    with torch.no_grad():
        for name, p in plain.named_parameters():
            p.copy_(getattr(fgr, name))
        fgr.weight_ah_l0.zero_()
        fgr.weight_ah_l1.zero_()
    expected, (_h_p, c_p) = plain(x)
    out, (_h, c, _) = fgr(x)
    assert_all_close(out, expected, "FGR with W_ah = 0")
    assert_all_close(c, c_p, "FGR c_n with W_ah = 0")


def test_vanilla_variant_is_todays_lstm_exactly() -> None:
    torch.manual_seed(11)
    today = rnn.LSTM(I, H, 2, bidirectional=True, forget_bias=1.0)
    torch.manual_seed(11)
    vanilla = rnn.LSTM(I, H, 2, bidirectional=True, forget_bias=1.0, variant="vanilla")
    assert repr(vanilla) == repr(today) and vanilla.path == "fused"
    assert today.state_dict().keys() == vanilla.state_dict().keys()
    for name, p in today.state_dict().items():
        assert torch.equal(p, vanilla.state_dict()[name]), name
    x = torch.randn(T, B, I)
    out_a, (h_a, c_a) = today(x, lengths=[4, 2])
    out_b, (h_b, c_b) = vanilla(x, lengths=[4, 2])
    assert torch.equal(out_a, out_b) and torch.equal(h_a, h_b) and torch.equal(c_a, c_b)
    cell = rnn.LSTMCell(I, H, variant="vanilla")
    assert cell.spec.name == "lstm" and repr(cell) == "LSTMCell(3, 5)"


@pytest.mark.parametrize("variant", ABLATIONS)
def test_variant_cell_steps_like_the_layer(variant: str) -> None:
    layer = rnn.LSTM(I, H, variant=variant, dtype=DTYPE)
    cell = rnn.LSTMCell(I, H, variant=variant, dtype=DTYPE)
    cell.load_state_dict(layer.direction_parameters(0))
    x = torch.randn(T, B, I, dtype=DTYPE)
    output, final = layer(x)
    state = None
    for t in range(T):
        y, state = cell(x[t], state)
        assert_all_close(y, output[t], f"{variant} step {t}")
    for k, s in enumerate(state):
        assert_all_close(s, final[k][0], f"{variant} final state {k}")


@pytest.mark.parametrize("kind", [1, 2, 3])
def test_mut_cell_steps_like_the_layer_and_lengths_freeze_the_state(kind: int) -> None:
    layer = rnn.MUT(H, H, kind=kind, batch_first=True, learn_initial_state=True, dtype=DTYPE)
    randomize(layer, seed=kind)
    cell = rnn.MUTCell(H, H, kind=kind, dtype=DTYPE)
    cell.load_state_dict(layer.direction_parameters(0))
    x = torch.randn(B, T, H, dtype=DTYPE)
    output, h_n = layer(x, lengths=[T, 2])
    state = (layer.h0_l0.expand(B, H),)
    for t in range(T):
        y, state = cell(x[:, t], state)
        assert_all_close(y[0], output[0, t], f"MUT{kind} step {t}")
        if t == 1:
            assert_all_close(state[0][1], h_n[0, 1], f"MUT{kind} state at the end of sequence 1")
    assert torch.equal(output[1, 2:], torch.zeros(T - 2, H, dtype=DTYPE))
    output.sum().backward()
    assert layer.h0_l0.grad is not None and layer.weight_hh_l0.grad.abs().sum() > 0


def test_fgr_state_with_lengths_and_learned_initial_state() -> None:
    fgr = rnn.LSTM(I, H, variant="fgr", learn_initial_state=True, bidirectional=True)
    assert fgr.a0_l0.shape == (3 * H,) and fgr.a0_l0_reverse.shape == (3 * H,)
    x = torch.randn(T, B, I)
    _, full = fgr(x[:2, 1:])
    _, masked = fgr(x, lengths=[T, 2])
    for k in range(3):  # the forward direction's state at the true end of sequence 1
        torch.testing.assert_close(masked[k][0, 1], full[k][0, 0])


def test_forget_bias_lands_on_the_forget_block_of_each_variant() -> None:
    nig = rnn.LSTM(I, H, variant="nig", forget_bias=1.0)  # blocks f, g, o: f comes first
    assert nig.bias_ih_l0[:H].tolist() == [1.0] * H
    assert nig.bias_hh_l0[:H].tolist() == [0.0] * H


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Argument `variant` must be one of \['vanilla', 'nig'"):
        rnn.LSTM(I, H, variant="gru")
    with pytest.raises(ValueError, match="Argument `variant` must be one of"):
        rnn.LSTMCell(I, H, variant=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Argument `variant` applies to LSTM only"):
        rnn.GRU(I, H, variant="cifg")
    with pytest.raises(ValueError, match="Argument `peephole` does not combine with variant='nig'"):
        rnn.LSTM(I, H, variant="nig", peephole=True)
    with pytest.raises(ValueError, match="Argument `proj_size` does not combine"):
        rnn.LSTM(I, H, variant="cifg", proj_size=2)
    with pytest.raises(ValueError, match="Argument `zoneout` does not combine with variant='fgr'"):
        rnn.LSTM(I, H, variant="fgr", zoneout=0.1)
    with pytest.raises(ValueError, match="Argument `layer_norm` is defined for variant='vanilla'"):
        rnn.LSTMCell(I, H, variant="noaf", layer_norm=True)
    with pytest.raises(ValueError, match="Argument `forget_bias` needs a cell with a forget gate"):
        rnn.LSTM(I, H, variant="nfg", forget_bias=1.0)
    with pytest.raises(ValueError, match=r"Argument `kind` must be one of \[1, 2, 3\], got 4"):
        rnn.MUT(H, H, kind=4)
    with pytest.raises(ValueError, match="Argument `input_size` must equal hidden_size=5"):
        rnn.MUTCell(I, H, kind=2)
    with pytest.raises(ValueError, match="Argument `bidirectional=True` with num_layers=2"):
        rnn.MUT(H, H, 2, bidirectional=True, kind=1)
    with pytest.raises(ValueError, match="Argument `hx` must be a tuple \\(h_0, c_0, a_0\\)"):
        rnn.LSTM(I, H, variant="fgr")(torch.randn(T, B, I), (torch.zeros(1, B, H),) * 2)
    assert lstm_variant_spec("vanilla") is None
    assert rnn.MUT(I, H, kind=3).weight_ih_l0.shape == (3 * H, I)  # MUT3 takes any input size


@pytest.mark.parametrize(
    "layer",
    [
        rnn.LSTM(H, H, 2, variant="cifg", recurrent_dropout=0.3, weight_drop=0.2, zoneout=0.1,
                 locked_dropout=0.1, init="orthogonal"),
        rnn.LSTM(H, H, variant="fgr", recurrent_dropout=0.3, weight_drop=0.2, init="xavier"),
        rnn.MUT(H, H, 2, kind=1, recurrent_dropout=0.3, weight_drop=0.2, zoneout=0.1,
                init="orthogonal"),
    ],
    ids=["cifg", "fgr", "mut1"],
)
def test_regularisers_and_init_apply_to_the_variants(layer: rnn.RecurrentLayer) -> None:
    x = torch.randn(T, B, H)
    out, _ = layer(x)
    assert "recurrent_l0" in layer.last_masks and "weight_drop_l0" in layer.last_masks
    assert out.shape == (T, B, H)
    out.sum().backward()
    assert layer.weight_hh_l0.grad is not None
    layer.eval()
    torch.testing.assert_close(layer(x)[0], layer(x)[0])  # evaluation draws no masks
    if layer.spec.name == "lstm_cifg":  # orthogonal blocks, in the variant's own layout
        block = layer.weight_hh_l0[:H].detach()
        torch.testing.assert_close(block @ block.T, torch.eye(H), atol=1e-5, rtol=0)


def test_init_recurrent_sets_the_forget_block_where_the_variant_keeps_it() -> None:
    from rnnkit.nn.init import init_recurrent

    for variant, block in (("vanilla", slice(4, 8)), ("nig", slice(0, 4)), ("nog", slice(4, 8))):
        layer = rnn.LSTM(3, 4, variant=variant)
        init_recurrent(layer, "orthogonal", forget_bias=1.0)
        bias = layer.bias_ih_l0.detach()
        assert torch.equal(bias[block], torch.ones(4)), variant
        assert float(bias.sum()) == 4.0, variant
