"""``rnnkit explain`` for the LSTM ablations and MUT1-3: the printout equals the engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.reference.activations import sigmoid
from rnnkit.reference.network import Network
from rnnkit.reference.trace import explain

X = [[1.0, -1.0], [0.5, 2.0]]  # T = 2 steps of I = 2 inputs


def _fixed(net: Network) -> dict[str, np.ndarray]:
    """Small fixed parameters under the network's names: 0.3 sin(1.3 k + j)."""
    return {
        name: 0.3 * np.sin(1.3 * np.arange(int(np.prod(shape))) + j).reshape(shape)
        for j, (name, shape) in enumerate(net.parameter_shapes().items())
    }


# name -> (explain's cell, variant, output_size, output_activation, loss, targets, initial state)
CASES = {
    "cifg": ("lstm", "cifg", None, None, "mse", [[0.5, 0.0], [0.0, 1.0]], {}),
    "fgr": ("lstm", "fgr", 1, None, "mse", [0.5, -1.0],
            {"h0": [0.1, -0.2], "c0": [0.3, 0.0], "a0": [0.2, 0.4, 0.6, 0.8, 0.1, 0.9]}),
    "mut2": ("mut2", "vanilla", 2, "softmax", "ce", [1, 0], {}),
}


def _case(name: str, tmp_path: Path) -> tuple[Network, dict, list[str]]:
    """The reference network, its parameters and the `rnnkit explain` arguments of a case."""
    cell, variant, O, act, _, targets, init = CASES[name]
    net = Network(cell, 2, 2, variant=variant, output_size=O, output_activation=act)
    params = _fixed(net)
    given = {k.removesuffix("_l0"): v.tolist() for k, v in params.items()} | init
    files = {"params": given, "inputs": X, "targets": targets}
    argv = ["explain", cell, "--variant", variant]
    for key, value in files.items():
        (tmp_path / f"{key}.json").write_text(json.dumps(value))
        argv += [f"--{key}", str(tmp_path / f"{key}.json")]
    if act is not None:
        argv += ["--output-activation", act]
    return net, params, argv


@pytest.mark.parametrize("name", list(CASES))
def test_json_equals_the_reference_network(name: str, tmp_path: Path, capsys) -> None:
    _, _, _, _, loss, targets, init = CASES[name]
    net, params, argv = _case(name, tmp_path)
    assert main([*argv, "--lr", "0.1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)

    x = np.array([X])                                                          # [1, T, I]
    names = net.spec.state_names
    state = tuple(np.array(init[f"{s}0"])[None, None] for s in names) if init else None
    target_array = np.array([targets]) if loss == "ce" else np.array(targets).reshape(1, 2, -1)
    value, grads, fwd = net.loss_and_grads(params, x, target_array, loss=loss,
                                           initial_state=state)
    close = {"rtol": 0, "atol": 1e-12}
    np.testing.assert_allclose(out["hidden"], fwd.hidden[0], **close)
    np.testing.assert_allclose(out["outputs"], fwd.outputs[0], **close)
    assert out["loss"] == pytest.approx(value, rel=0, abs=1e-12)
    expected = {k.removesuffix("_l0"): v for k, v in grads.params.items()}
    assert set(out["grads"]) == set(expected)
    for k, g in expected.items():
        np.testing.assert_allclose(out["grads"][k], g, **close, err_msg=f"dL/d{k}")
        np.testing.assert_allclose(
            out["updated"][k], params[k if k in params else k + "_l0"] - 0.1 * g, **close,
            err_msg=f"updated {k}",
        )
    # the same top-level keys as for a spec cell
    plain = explain("rnn", {"weight_ih": [[0.5, 0.1]], "weight_hh": [[0.2]]}, X,
                    targets=[0.0, 1.0], lr=0.1).to_json()
    assert set(out) == set(plain)


def test_each_row_obeys_its_equation(tmp_path: Path) -> None:
    """The rows the text prints are the cell's own values: CIFG's f, FGR's a_t, MUT2's h_t."""
    traces = {}
    for name in CASES:
        cell, variant, _, act, _, targets, init = CASES[name]
        _, params, _ = _case(name, tmp_path)
        given = {k.removesuffix("_l0"): v for k, v in params.items()} | init
        traces[name] = explain(cell, given, X, targets=targets, variant=variant,
                               output_activation=act)
    for step in traces["cifg"].steps:
        np.testing.assert_allclose(step["f"], 1.0 - step["i"], rtol=0, atol=1e-15)
    fgr = traces["fgr"]
    for step in fgr.steps:
        np.testing.assert_allclose(step["a"], np.concatenate([step["i"], step["f"], step["o"]], 1))
        np.testing.assert_allclose(step["i"], sigmoid(step["z"][:, :2]), rtol=0, atol=1e-15)
    assert set(fgr.backward[0]) >= {"d_z", "d_a_state", "d_a_prev", "d_c_prev"}
    mut = traces["mut2"]
    h_prev = np.zeros((1, 2))  # h_0
    for step in mut.steps:
        expected_h = step["n"] * step["z"] + h_prev * (1.0 - step["z"])
        np.testing.assert_allclose(step["h"], expected_h, rtol=0, atol=1e-15)
        np.testing.assert_allclose(step["s"], step["r"] * h_prev, rtol=0, atol=1e-15)
        h_prev = step["h"]
    # MUT2's r_t ⊙ h_{t-1} is "s": the output layer keeps its own q_t and dL/dq_t
    assert "q" in mut.steps[0] and "d_q" in mut.backward[0] and "d_s" in mut.backward[0]
    np.testing.assert_allclose(mut.steps[0]["y"].sum(), 1.0)  # softmax output, not s_t


@pytest.mark.parametrize(("cell", "variant", "shown", "absent"), [
    ("lstm", "cifg", ["= [a_i | a_g | a_o]", "f_1 = 1 - i_1", "dL/di_2 = dL/dc_2 ⊙ g_2 - dL/df_2"],
     ["σ(a_f)", "df ⊙ f(1-f)"]),
    ("lstm", "nig", ["= [a_f | a_g | a_o]", "c_1 = f_1 ⊙ c_0 + g_1"], ["\n  i_1 = ", "dL/di_2"]),
    ("lstm", "nog", ["h_1 = tanh(c_1)"], ["\n  o_1 = ", "dL/do_2"]),
    ("lstm", "fgr", ["r_1 = W_ah a_0", "a_2 = [i_2 | f_2 | o_2]", "dL/da_0 = W_ahᵀ"], []),
    ("mut2", "vanilla", ["z_1 = σ(a^z_1)", "r_1 = σ(a^r_1)", "n_1 = tanh(a^n_1)   (the candidate)",
                         "u_1 = [u_z | u_r | u_h] = [W_xz x_1 + b_xz | x_1 |"],
     ["\n  c_1 = ", "\n  o_1 = "]),
])
def test_text_shows_the_gates_the_variant_has(
    cell: str, variant: str, shown: list[str], absent: list[str], tmp_path: Path, capsys
) -> None:
    net = Network(cell, 2, 2, variant=variant)
    params = {k.removesuffix("_l0"): v.tolist() for k, v in _fixed(net).items()}
    (tmp_path / "p.json").write_text(json.dumps(params))
    (tmp_path / "x.json").write_text(json.dumps(X))
    (tmp_path / "t.json").write_text(json.dumps([[0.0, 1.0], [1.0, 0.0]]))
    assert main(["explain", cell, "--variant", variant, "--params", str(tmp_path / "p.json"),
                 "--inputs", str(tmp_path / "x.json"), "--targets", str(tmp_path / "t.json")]) == 0
    text = capsys.readouterr().out
    for line in shown:
        assert line in text, line
    for line in absent:
        assert line not in text, line


@pytest.mark.parametrize(("cell", "variant", "rows", "message"), [
    ("gru", "cifg", 6, "`variant` applies only to the 'lstm' cell, got variant='cifg' for cell"),
    ("lstm", "bogus", 8, r"`variant` must be one of \['vanilla', 'nig'.*got 'bogus'"),
    ("mut1", "vanilla", 4, r"`weight_ih` has shape \(4, 3\), but a 'mut1' cell adds x_t itself"),
    ("mut2", "vanilla", 4, r"must equal its hidden size H=2: expected \(4, 2\)"),
])
def test_bad_input_is_one_sentence_and_status_2(
    cell: str, variant: str, rows: int, message: str, tmp_path: Path, capsys
) -> None:
    params = {"weight_ih": np.ones((rows, 3)).tolist(), "weight_hh": np.ones((rows, 2)).tolist()}
    (tmp_path / "p.json").write_text(json.dumps(params))
    (tmp_path / "x.json").write_text(json.dumps([[1.0, 0.0, 2.0]]))
    argv = ["explain", cell, "--variant", variant, "--params", str(tmp_path / "p.json"),
            "--inputs", str(tmp_path / "x.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnkit explain: error: ")
    with pytest.raises(ValueError, match=message):
        explain(cell, params, [[1.0, 0.0, 2.0]], variant=variant)


def test_help_lists_the_variants_and_mut(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--variant V" in text and "cifg" in text and "fgr" in text
    assert "mut1, mut2, mut3" in text
