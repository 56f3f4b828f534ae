"""Regularisation options of rnnkit.nn layers: weight drop, locked and recurrent dropout, zoneout.

Oracles: the plain layer (every option at p=0, and every dropout in evaluation), torch.nn
layers fed the masked inputs or weights by hand, and hand-stepped cells written out here from
the equations (zoneout, recurrent dropout), with the masks the layer reports in
``last_masks``.
"""

from __future__ import annotations

import pytest
import torch
from nn_checks import DTYPE, assert_all_close, leaf, run_with_grads
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit.nn as rnn
from rnnkit.models.language_model import LanguageModel
from rnnkit.nn import regularizers as R

B, T, I, H, O = 3, 5, 3, 4, 2
LENGTHS = [4, 5, 2]


def _make(cell: str, **kwargs: object) -> rnn.RecurrentLayer:
    """A float64 layer; the same seed gives the same parameters whatever the options."""
    torch.manual_seed(7)
    if cell == "lstm":
        return rnn.LSTM(I, H, dtype=DTYPE, **kwargs)
    if cell == "peephole_lstm":
        return rnn.LSTM(I, H, peephole=True, dtype=DTYPE, **kwargs)
    if cell == "gru":
        return rnn.GRU(I, H, dtype=DTYPE, **kwargs)
    if cell == "rnn":
        return rnn.RNN(I, H, dtype=DTYPE, **kwargs)
    return rnn.JordanRNN(I, H, output_size=O, dtype=DTYPE, **kwargs)


CELLS = ["lstm", "peephole_lstm", "gru", "rnn", "jordan"]
OPTIONS = ["locked_dropout", "recurrent_dropout", "weight_drop", "zoneout"]


def _sigmoid(a: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.exp(-a))


def _lstm_by_hand(layer, x, h, c, *, h_mask=None, zone=None):
    """LSTM over x [T, B, I] from the equations; zone(t, name, new, old) mixes states."""
    W_ih, W_hh = layer.weight_ih_l0, layer.weight_hh_l0
    b = layer.bias_ih_l0 + layer.bias_hh_l0
    outputs = []
    for t in range(x.shape[0]):
        h_in = h if h_mask is None else h * h_mask
        a = x[t] @ W_ih.T + h_in @ W_hh.T + b
        i, f, g, o = (a[:, k * H : (k + 1) * H] for k in range(4))
        c_new = _sigmoid(f) * c + _sigmoid(i) * torch.tanh(g)
        h_new = _sigmoid(o) * torch.tanh(c_new)
        if zone is not None:
            h_new, c_new = zone(t, "h", h_new, h), zone(t, "c", c_new, c)
        h, c = h_new, c_new
        outputs.append(h)
    return torch.stack(outputs), h, c


def _gru_by_hand(layer, x, h, *, h_mask=None, zone=None):
    W_ih, W_hh = layer.weight_ih_l0, layer.weight_hh_l0
    outputs = []
    for t in range(x.shape[0]):
        h_in = h if h_mask is None else h * h_mask
        u = x[t] @ W_ih.T + layer.bias_ih_l0
        v = h_in @ W_hh.T + layer.bias_hh_l0
        r = _sigmoid(u[:, :H] + v[:, :H])
        z = _sigmoid(u[:, H : 2 * H] + v[:, H : 2 * H])
        n = torch.tanh(u[:, 2 * H :] + r * v[:, 2 * H :])
        h_new = (1 - z) * n + z * h  # the interpolation sees the undropped h_{t-1}
        if zone is not None:
            h_new = zone(t, "h", h_new, h)
        h = h_new
        outputs.append(h)
    return torch.stack(outputs), h


# ----------------------------------------------------------------------------------------
# p = 0 is the plain layer, exactly


ZERO_CASES = [(cell, option) for cell in CELLS for option in OPTIONS] + [
    ("lstm", "zoneout_c"),
    ("peephole_lstm", "zoneout_c"),
]


@pytest.mark.parametrize(("cell", "option"), ZERO_CASES)
def test_every_option_at_zero_equals_the_plain_layer_exactly(cell: str, option: str) -> None:
    # Two bidirectional layers with dropout between them: p = 0 must not even move the RNG.
    config = {"num_layers": 2, "bidirectional": True, "dropout": 0.3}
    plain, with_option = _make(cell, **config), _make(cell, **config, **{option: 0.0})
    assert with_option.path == plain.path
    x = leaf(T, B, I)
    results = []
    for layer in (plain, with_option):
        torch.manual_seed(3)
        results.append(run_with_grads(layer, lambda m: m(x, lengths=LENGTHS), [x]))
    assert set(results[0]) == set(results[1])
    for key, value in results[0].items():
        assert torch.equal(results[1][key], value), key
    assert with_option.last_masks == {}


# ----------------------------------------------------------------------------------------
# Paths and evaluation


@pytest.mark.parametrize(
    ("kwargs", "training_path", "eval_path"),
    [
        ({"weight_drop": 0.5}, "fused", "fused"),
        ({"locked_dropout": 0.5}, "fused", "fused"),
        ({"weight_drop": 0.5, "locked_dropout": 0.3, "init": "orthogonal"}, "fused", "fused"),
        ({"recurrent_dropout": 0.2}, "loop", "fused"),
        ({"zoneout": 0.1}, "loop", "loop"),
        ({"zoneout": 0.0, "zoneout_c": 0.1}, "loop", "loop"),
        ({"layer_norm": True}, "loop", "loop"),
        ({"layer_norm": True, "weight_drop": 0.5, "locked_dropout": 0.5}, "loop", "loop"),
        ({"peephole": True, "weight_drop": 0.5}, "loop", "loop"),
        ({"weight_drop": 0.5, "force_loop": True}, "loop", "loop"),
        ({"proj_size": 2, "weight_drop": 0.5, "locked_dropout": 0.5}, "fused", "fused"),
    ],
)
def test_path_follows_the_options(kwargs: dict, training_path: str, eval_path: str) -> None:
    layer = rnn.LSTM(I, H, **kwargs)
    assert layer.path == training_path
    assert f"path={training_path}" in repr(layer)
    assert layer.eval().path == eval_path
    layer(torch.randn(T, B, I))  # runs on that path


def test_repr_names_the_options() -> None:
    layer = rnn.LSTM(I, H, layer_norm=True, zoneout=0.1, zoneout_c=0.2, weight_drop=0.3)
    assert repr(layer) == (
        "LSTM(3, 4, layer_norm=True, weight_drop=0.3, zoneout=0.1, zoneout_c=0.2, path=loop)"
    )


@pytest.mark.parametrize("option", ["locked_dropout", "recurrent_dropout", "weight_drop"])
@pytest.mark.parametrize("cell", CELLS)
def test_dropout_options_in_evaluation_are_the_plain_layer(cell: str, option: str) -> None:
    plain, layer = _make(cell).eval(), _make(cell, **{option: 0.5}).eval()
    x = leaf(T, B, I)
    first = run_with_grads(layer, lambda m: m(x, lengths=LENGTHS), [x])
    assert_all_close(run_with_grads(layer, lambda m: m(x, lengths=LENGTHS), [x]), first)
    assert_all_close(first, run_with_grads(plain, lambda m: m(x, lengths=LENGTHS), [x]))
    assert layer.last_masks == {}


@pytest.mark.parametrize("option", OPTIONS)
def test_dropout_options_in_training_change_the_output(option: str) -> None:
    plain, layer = _make("lstm"), _make("lstm", **{option: 0.5})
    x = leaf(T, B, I)
    assert not torch.allclose(layer(x)[0], plain(x)[0])
    assert layer.last_masks


# ----------------------------------------------------------------------------------------
# Locked dropout: one mask per sequence, the same at every step


def _check_mask(mask: torch.Tensor, shape: tuple[int, ...], p: float) -> None:
    assert tuple(mask.shape) == shape
    values = set(mask.flatten().tolist())
    scale = torch.tensor(1.0 / (1.0 - p), dtype=mask.dtype).item()
    assert values <= {0.0, scale}, values


@pytest.mark.parametrize("force_loop", [False, True])
def test_locked_dropout_masks_inputs_and_outputs_of_every_layer(force_loop: bool) -> None:
    p = 0.5
    layer = rnn.LSTM(I, H, 2, bidirectional=True, locked_dropout=p, dtype=DTYPE)
    layer.force_loop = force_loop
    assert layer.path == ("loop" if force_loop else "fused")
    x = leaf(T, B, I)
    out, (h_n, c_n) = layer(x)
    masks = layer.last_masks
    assert sorted(masks) == ["locked_l0", "locked_l1", "locked_output"]
    _check_mask(masks["locked_l0"], (B, I), p)
    _check_mask(masks["locked_l1"], (B, 2 * H), p)
    _check_mask(masks["locked_output"], (B, 2 * H), p)
    # The oracle: torch.nn layers on inputs masked by hand, the [B, F] mask broadcast over T.
    first = torch.nn.LSTM(I, H, bidirectional=True, dtype=DTYPE)
    second = torch.nn.LSTM(2 * H, H, bidirectional=True, dtype=DTYPE)
    for k, module in enumerate((first, second)):
        module.load_state_dict(
            {
                f"{n}_l0{r}": p_
                for d, r in enumerate(("", "_reverse"))
                for n, p_ in layer.direction_parameters(k, d).items()
            }
        )
    y1, (h1, c1) = first(x * masks["locked_l0"])
    y2, (h2, c2) = second(y1 * masks["locked_l1"])
    torch.testing.assert_close(out, y2 * masks["locked_output"])
    torch.testing.assert_close(h_n, torch.cat([h1, h2]))
    torch.testing.assert_close(c_n, torch.cat([c1, c2]))


@pytest.mark.parametrize("how", ["batch_first", "lengths", "packed"])
@pytest.mark.parametrize("force_loop", [False, True])
def test_locked_dropout_with_batch_first_lengths_and_packed_input(how: str, force_loop: bool):
    p = 0.4
    batch_first = how == "batch_first"
    layer = rnn.GRU(I, H, batch_first=batch_first, locked_dropout=p, dtype=DTYPE)
    layer.force_loop = force_loop
    plain = torch.nn.GRU(I, H, batch_first=batch_first, dtype=DTYPE)
    plain.load_state_dict(layer.state_dict())
    x = leaf(B, T, I) if batch_first else leaf(T, B, I)
    if how == "packed":
        packed_out, h_n = layer(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
        out, _ = pad_packed_sequence(packed_out, total_length=T)
    else:
        out, h_n = layer(x, lengths=LENGTHS if how == "lengths" else None)
    m_in, m_out = layer.last_masks["locked_l0"], layer.last_masks["locked_output"]
    _check_mask(m_in, (B, I), p)
    axis = 1 if batch_first else 0
    masked = x * m_in.unsqueeze(axis)
    if how == "batch_first":
        expected, h_expected = plain(masked)
    else:
        seq = pack_padded_sequence(masked, LENGTHS, enforce_sorted=False)
        expected_packed, h_expected = plain(seq)
        expected, _ = pad_packed_sequence(expected_packed, total_length=T)
    torch.testing.assert_close(out, expected * m_out.unsqueeze(axis))
    torch.testing.assert_close(h_n, h_expected)


def test_locked_dropout_module_and_function() -> None:
    x = torch.randn(T, B, I)
    drop = R.LockedDropout(0.5)
    y = drop(x)
    torch.testing.assert_close(y, x * drop.last_mask.unsqueeze(0))
    assert repr(drop) == "LockedDropout(p=0.5)"
    y = R.locked_dropout(torch.ones(B, T, I), 0.5, batch_first=True)
    assert torch.equal(y, y[:, :1].expand_as(y))
    assert R.locked_dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match=r"`x` must be a 3-D sequence batch"):
        R.locked_dropout(torch.ones(B, I), 0.5)
    with pytest.raises(ValueError, match=r"`x` must be a 3-D sequence batch"):
        drop(torch.ones(B, I))


# ----------------------------------------------------------------------------------------
# Recurrent dropout: one mask per sequence on h_{t-1}, in the recurrent product only


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_dropout_equals_a_hand_stepped_cell(cell: str) -> None:
    p = 0.5
    layer = _make(cell, recurrent_dropout=p)
    x = leaf(T, B, I)
    h0 = leaf(1, B, H, seed=1)
    if cell == "lstm":
        c0 = leaf(1, B, H, seed=2)
        out, (h_n, c_n) = layer(x, (h0, c0))
    else:
        out, h_n = layer(x, h0)
    mask = layer.last_masks["recurrent_l0"]
    _check_mask(mask, (B, H), p)
    assert 0 < int((mask == 0).sum()) < mask.numel()  # the mask drops something here
    if cell == "lstm":
        expected, h, c = _lstm_by_hand(layer, x, h0[0], c0[0], h_mask=mask)
        torch.testing.assert_close(c_n[0], c)
    else:
        expected, h = _gru_by_hand(layer, x, h0[0], h_mask=mask)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(h_n[0], h)


def test_recurrent_dropout_masks_per_direction_and_layer() -> None:
    layer = rnn.LSTM(I, H, 2, bidirectional=True, proj_size=2, recurrent_dropout=0.3)
    layer(torch.randn(T, B, I))
    assert sorted(layer.last_masks) == [
        "recurrent_l0",
        "recurrent_l0_reverse",
        "recurrent_l1",
        "recurrent_l1_reverse",
    ]
    assert layer.last_masks["recurrent_l1"].shape == (B, 2)  # h has proj_size units


# ----------------------------------------------------------------------------------------
# Zoneout: training keeps units with a fresh mask per step, evaluation the expectation


def _zone_from_masks(masks: dict[str, torch.Tensor]):
    def zone(t, name, new, old):
        z = masks[f"zoneout_{name}_l0"][t]
        return z * old + (1 - z) * new

    return zone


def _zone_expectation(p_h: float, p_c: float):
    def zone(t, name, new, old):
        p = p_h if name == "h" else p_c
        return p * old + (1 - p) * new

    return zone


@pytest.mark.parametrize("zoneout_c", [None, 0.0, 0.6])
def test_lstm_zoneout_equals_a_hand_stepped_cell(zoneout_c: float | None) -> None:
    p = 0.3
    p_c = p if zoneout_c is None else zoneout_c
    layer = _make("lstm", zoneout=p, zoneout_c=zoneout_c)
    x = leaf(T, B, I)
    h0, c0 = leaf(1, B, H, seed=1), leaf(1, B, H, seed=2)
    out, (h_n, c_n) = layer(x, (h0, c0))
    masks = layer.last_masks
    assert tuple(masks["zoneout_h_l0"].shape) == (T, B, H)
    assert set(masks["zoneout_h_l0"].flatten().tolist()) == {0.0, 1.0}
    assert ("zoneout_c_l0" in masks) == (p_c > 0)
    if p_c:
        # a fresh mask per step: the steps' masks are not all the same
        assert not all(torch.equal(m, masks["zoneout_c_l0"][0]) for m in masks["zoneout_c_l0"])
    else:
        masks = {**masks, "zoneout_c_l0": torch.zeros(T, B, H, dtype=DTYPE)}
    expected, h, c = _lstm_by_hand(layer, x, h0[0], c0[0], zone=_zone_from_masks(masks))
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close((h_n[0], c_n[0]), (h, c))

    layer.eval()
    out, (h_n, c_n) = layer(x, (h0, c0))
    again, _ = layer(x, (h0, c0))
    assert torch.equal(out, again)
    expected, h, c = _lstm_by_hand(layer, x, h0[0], c0[0], zone=_zone_expectation(p, p_c))
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close((h_n[0], c_n[0]), (h, c))


def test_gru_zoneout_equals_a_hand_stepped_cell() -> None:
    p = 0.4
    layer = _make("gru", zoneout=p)
    x, h0 = leaf(T, B, I), leaf(1, B, H, seed=1)
    out, h_n = layer(x, h0)
    assert sorted(layer.last_masks) == ["zoneout_h_l0"]
    expected, h = _gru_by_hand(layer, x, h0[0], zone=_zone_from_masks(layer.last_masks))
    torch.testing.assert_close((out, h_n[0]), (expected, h))
    layer.eval()
    out, h_n = layer(x, h0)
    expected, h = _gru_by_hand(layer, x, h0[0], zone=_zone_expectation(p, 0.0))
    torch.testing.assert_close((out, h_n[0]), (expected, h))


def test_zoneout_gradients_flow_through_kept_units() -> None:
    layer = _make("jordan", zoneout=0.5, recurrent_dropout=0.2)
    x = leaf(T, B, I)
    grads = run_with_grads(layer, lambda m: m(x, lengths=LENGTHS), [x])
    assert sorted(layer.last_masks) == ["recurrent_l0", "zoneout_y_l0"]
    assert grads["grad weight_yh_l0"].abs().sum() > 0
    assert grads["grad input[0]"].abs().sum() > 0


def test_zoneout_function() -> None:
    new, old = torch.randn(4), torch.randn(4)
    mixed = R.zoneout(new, old, torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert torch.equal(mixed, torch.stack([old[0], new[1], old[2], new[3]]))  # exact
    torch.testing.assert_close(R.zoneout(new, old, 0.25), 0.25 * old + 0.75 * new)
    mask = R.zoneout_mask((1000,), 0.3, new)
    assert set(mask.tolist()) == {0.0, 1.0}


# ----------------------------------------------------------------------------------------
# Weight drop


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "peephole_lstm", "jordan"])
def test_weight_drop_changes_only_the_recurrent_weight(cell: str) -> None:
    p = 0.5
    layer = _make(cell, weight_drop=p, num_layers=2, bidirectional=True)
    recurrent = "weight_yh" if cell == "jordan" else "weight_hh"
    stored = {n: q.detach().clone() for n, q in layer.named_parameters()}
    for k in range(2):
        for d in range(2):
            used = layer._forward_parameters(k, d)
            own = layer.direction_parameters(k, d)
            suffix = layer._suffix(k, d)
            mask = layer.last_masks["weight_drop" + suffix]
            _check_mask(mask, tuple(own[recurrent].shape), p)
            assert torch.equal(used[recurrent], own[recurrent] * mask)
            assert used[recurrent].is_contiguous()
            for name, value in own.items():
                if name != recurrent:
                    assert used[name] is value, name
    x = leaf(T, B, I)
    run_with_grads(layer, lambda m: m(x), [x])
    for name, value in layer.named_parameters():
        assert torch.equal(value, stored[name]), f"{name} changed in place"
    layer.eval()
    assert layer._forward_parameters(0, 0)[recurrent] is getattr(layer, recurrent + "_l0")


def count_fused_calls(layer: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the layer's calls of the fused kernel (so a "fused" case cannot pass on the loop)."""
    calls = [0]
    real = layer._call_fused

    def spy(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(layer, "_call_fused", spy)
    return calls


# With lengths on the CPU under autograd even a fused layer runs the loop (torch's packed
# backward is quadratic in T), so the fused path with gradients is checked without lengths.
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("force_loop", [False, True])
@pytest.mark.parametrize("proj_size", [0, 2])
def test_weight_drop_equals_torch_with_dropped_weights(
    force_loop: bool, proj_size: int, with_lengths: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = rnn.LSTM(I, H, 2, bidirectional=True, proj_size=proj_size, weight_drop=0.5, dtype=DTYPE)
    layer.force_loop = force_loop
    assert layer.path == ("loop" if force_loop else "fused")
    calls = count_fused_calls(layer, monkeypatch)
    theirs = torch.nn.LSTM(I, H, 2, bidirectional=True, proj_size=proj_size, dtype=DTYPE)
    theirs.load_state_dict(layer.state_dict())
    x = leaf(T, B, I)
    lengths = LENGTHS if with_lengths else None
    got = run_with_grads(layer, lambda m: m(x, lengths=lengths), [x])
    assert (calls[0] > 0) == (not force_loop and not with_lengths)
    masks = layer.last_masks
    assert len(masks) == 4
    with torch.no_grad():
        for suffix in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
            getattr(theirs, "weight_hh" + suffix).mul_(masks["weight_drop" + suffix])

    def reference(module: torch.nn.Module) -> object:
        if not with_lengths:
            return module(x)
        out, state = module(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
        return pad_packed_sequence(out, total_length=T)[0], state

    expected = run_with_grads(theirs, reference, [x])
    for suffix in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
        # dL/dW = dL/dW' ⊙ M/(1-p): the stored parameter gets the gradient through the mask
        key = "grad weight_hh" + suffix
        expected[key] = expected[key] * masks["weight_drop" + suffix]
        assert got[key].abs().sum() > 0
    assert_all_close(got, expected)


@pytest.mark.parametrize("with_lengths", [False, True])
def test_fused_and_loop_paths_draw_the_same_masks(
    with_lengths: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = rnn.GRU(
        I,
        H,
        2,
        batch_first=True,
        bidirectional=True,
        weight_drop=0.3,
        locked_dropout=0.3,
        dtype=DTYPE,
    )
    calls = count_fused_calls(layer, monkeypatch)
    x = leaf(B, T, I)
    lengths = LENGTHS if with_lengths else None
    results = {}
    for path in ("fused", "loop"):
        layer.force_loop = path == "loop"
        torch.manual_seed(11)
        results[path] = run_with_grads(layer, lambda m: m(x, lengths=lengths), [x])
    assert (calls[0] > 0) == (not with_lengths)
    assert_all_close(results["loop"], results["fused"])


def test_dropconnect_function() -> None:
    w = torch.randn(6, 4, requires_grad=True)
    dropped, mask = R.dropconnect(w, 0.25)
    _check_mask(mask, (6, 4), 0.25)
    dropped.sum().backward()
    torch.testing.assert_close(w.grad, mask)
    assert R.dropconnect(w, 0.25, training=False) == (w, None)


# ----------------------------------------------------------------------------------------
# Embedding dropout


def test_embedding_dropout_drops_whole_words() -> None:
    weight = torch.randn(24, 3, requires_grad=True)
    ids = torch.randperm(40).remainder(20).view(4, 10)  # words 0..19, each twice
    torch.manual_seed(1)
    emb = R.embedding_dropout(ids, weight, 0.5)
    kept = set()
    for word in ids.unique().tolist():
        rows = emb[ids == word]
        assert torch.equal(rows, rows[:1].expand_as(rows)), word  # every occurrence alike
        if rows.abs().sum() > 0:
            torch.testing.assert_close(rows[0], weight[word] * 2)
            kept.add(word)
    assert 0 < len(kept) < 20  # some words kept, others dropped
    emb.sum().backward()
    assert torch.equal(R.embedding_dropout(ids, weight, 0.5, training=False), weight[ids])


def test_language_model_embedding_dropout() -> None:
    model = LanguageModel(vocab_size=7, embedding_dim=4, hidden_size=5, num_layers=1)
    assert model.config.embedding_dropout == 0.0
    torch.manual_seed(0)
    dropping = LanguageModel(
        vocab_size=7, embedding_dim=4, hidden_size=5, num_layers=1, embedding_dropout=0.5
    )
    assert dropping.config_dict()["embedding_dropout"] == 0.5
    assert LanguageModel.from_config_dict(dropping.config_dict()).config.embedding_dropout == 0.5
    dropping.load_state_dict(model.state_dict())
    ids = torch.tensor([[1, 2, 1, 3, 1, 2], [3, 3, 1, 2, 4, 4]])
    seen = []
    dropping.rnn.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    torch.manual_seed(3)
    dropping(ids, targets=ids)
    (emb,) = seen
    for word in ids.unique().tolist():
        rows = emb[ids == word]
        assert torch.equal(rows, rows[:1].expand_as(rows)), word
    assert {bool(emb[ids == w].abs().sum() > 0) for w in ids.unique().tolist()} == {True, False}
    dropping.eval()
    model.eval()
    torch.testing.assert_close(dropping(ids)[0], model(ids)[0])
    with pytest.raises(ValueError, match=r"`embedding_dropout` must be a number in \[0, 1\)"):
        LanguageModel(vocab_size=7, embedding_dropout=1.0)


# ----------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (
            lambda: rnn.LSTM(I, H, weight_drop=1.0),
            ValueError,
            r"`weight_drop` must be a number in \[0, 1\), got 1.0",
        ),
        (
            lambda: rnn.GRU(I, H, zoneout=-0.1),
            ValueError,
            r"`zoneout` must be a number in \[0, 1\)",
        ),
        (
            lambda: rnn.RNN(I, H, locked_dropout="0.1"),
            ValueError,
            r"`locked_dropout` must be a number",
        ),
        (
            lambda: rnn.LSTM(I, H, recurrent_dropout=True),
            ValueError,
            r"`recurrent_dropout` must be",
        ),
        (
            lambda: rnn.LSTM(I, H, zoneout_c=1.5),
            ValueError,
            r"`zoneout_c` must be a number in \[0, 1\)",
        ),
        (lambda: rnn.GRU(I, H, zoneout_c=0.1), ValueError, r"`zoneout_c` applies to LSTM only"),
        (
            lambda: rnn.RNN(I, H, layer_norm=True),
            ValueError,
            r"`layer_norm` applies to LSTM and GRU",
        ),
        (
            lambda: rnn.JordanRNN(I, H, output_size=O, layer_norm=True),
            ValueError,
            r"`layer_norm` applies",
        ),
        (lambda: rnn.LSTM(I, H, layer_norm=1), TypeError, r"`layer_norm` must be a bool"),
        (lambda: rnn.LSTM(I, H, init="he"), ValueError, r"`init` must be one of \['uniform'"),
        (lambda: rnn.LSTM(I, H, proj_size=2, init="identity"), ValueError, r"square recurrent"),
    ],
)
def test_bad_option_values(make, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_check_probability() -> None:
    assert R.check_probability("p", 0) == 0.0
    with pytest.raises(ValueError, match=r"Argument `p` must be a number in \[0, 1\), got nan"):
        R.check_probability("p", float("nan"))
