"""Oracle 4: the course's worked examples, with golden numbers computed by hand.

The golden numbers were computed independently of rnnkit, with plain Python ``math`` on the
equations written in each docstring, and are written here as literals.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.reference.trace import explain

# The course exercise: 3 inputs, 2 tanh hidden units, 1 sigmoid output.
U = [[-1.0, 0.5], [0.5, 0.1], [0.2, -2.0]]  # 3 x 2, applied as Uᵀ x
V = [[2.0], [-1.5]]                           # 2 x 1, applied as Vᵀ h
B_HIDDEN = [0.2, 0.2]
C_OUT = 0.5
INPUTS = [[1, 2, -1], [-1, 1, -2], [0, 3, 1], [2, -1, 0]]
W_ELMAN = [[2.0, 1.3], [1.5, 0.0]]            # 2 x 2, applied as Wᵀ h(t-1)
W_JORDAN = [2.0, 1.3]                         # y(t-1) -> hidden


def _t(m: list[list[float]]) -> list[list[float]]:
    return [list(r) for r in zip(*m, strict=True)]


ELMAN_PARAMS = {
    "weight_ih": _t(U), "weight_hh": _t(W_ELMAN), "bias_ih": B_HIDDEN, "bias_hh": [0.0, 0.0],
    "weight_hy": _t(V), "bias_y": [C_OUT],
}
JORDAN_PARAMS = {
    "weight_ih": _t(U), "weight_yh": [[W_JORDAN[0]], [W_JORDAN[1]]], "bias_ih": B_HIDDEN,
    "bias_yh": [0.0, 0.0], "weight_hy": _t(V), "bias_y": [C_OUT],
}

# golden numbers (plain Python math, see the docstrings)
ELMAN_A = [[0.0, 2.9], [2.790944751, 3.8], [5.383494122, -0.209753428],
           [-0.610180052, 2.399945182]]
ELMAN_H = [[0.0, 0.993963167], [0.992497363, 0.998999598], [0.999957833, -0.206730478],
           [-0.544253830, 0.983673082]]
ELMAN_Y = [0.270725512, 0.728395129, 0.943214429, 0.112643657]
JORDAN_A = [[0.0, 2.9], [1.841451024, 4.151943166], [3.322971512, -0.575068517],
            [-0.372988942, 2.352557187]]
JORDAN_H = [[0.0, 0.993963167], [0.950934233, 0.999505017], [0.997404807, -0.519071892],
            [-0.356603339, 0.982064537]]
JORDAN_Y = [0.270725512, 0.711485756, 0.963505529, 0.156262587]


def test_elman_network_forward() -> None:
    """Elman: a(t) = Uᵀx(t) + Wᵀh(t-1) + b, h(t) = tanh(a(t)), y(t) = σ(Vᵀh(t) + c), h(0) = 0.

    t=1: a = Uᵀ(1,2,-1) + b = (-1 + 1 - 0.2, 0.5 + 0.2 + 2) + 0.2 = (0.0, 2.9);
         h = (tanh 0, tanh 2.9) = (0, 0.993963167); z = 2·0 - 1.5·0.993963167 + 0.5
         = -0.990944751; y = σ(z) = 0.270725512.
    t=2: a = Uᵀ(-1,1,-2) + Wᵀh(1) + b = (1 + 0.5 - 0.4, -0.5 + 0.1 + 4) + (1.5·0.993963,
         0) + 0.2 = (2.790944751, 3.8); h = (0.992497363, 0.998999598); y = 0.728395129.
    t=3: a = (0 + 1.5 + 0.2, 0 + 0.3 - 2) + (2·0.992497 + 1.5·0.998999..., 1.3·0.992497...)
         + 0.2 = (5.383494122, -0.209753428); y = 0.943214429.
    t=4: a = (-2 - 0.5, 1 - 0.1) + (2·0.999958 - 1.5·0.206730, 1.3·0.999958) + 0.2
         = (-0.610180052, 2.399945182); y = 0.112643657.
    """
    trace = explain("elman", ELMAN_PARAMS, INPUTS, output_activation="sigmoid")
    a = np.array([s["a"][0] for s in trace.steps])
    np.testing.assert_allclose(a, ELMAN_A, atol=1e-8)
    np.testing.assert_allclose(trace.hidden[0], ELMAN_H, atol=1e-8)
    np.testing.assert_allclose(trace.outputs[0, :, 0], ELMAN_Y, atol=1e-8)


def test_jordan_network_forward() -> None:
    """Jordan: a(t) = Uᵀx(t) + W y(t-1) + b with W = (2.0, 1.3), h = tanh(a),
    y(t) = σ(Vᵀh(t) + c), y(0) = 0.

    t=1: as Elman (y(0) = 0): y(1) = 0.270725512.
    t=2: a = (1.1, 3.8) + 0.270725512·(2.0, 1.3) = (1.841451024, 4.151943166);
         h = (0.950934233, 0.999505017); z = 2·0.950934 - 1.5·0.999505 + 0.5 = 0.902610941;
         y = 0.711485756.
    t=3: a = (1.9, -1.5) + 0.711485756·(2.0, 1.3) = (3.322971512, -0.575068517);
         y = σ(3.273417451) = 0.963505529.
    t=4: a = (-2.3, 1.1) + 0.963505529·(2.0, 1.3) = (-0.372988942, 2.352557187);
         y = σ(-1.686303484) = 0.156262587.
    """
    trace = explain("jordan", JORDAN_PARAMS, INPUTS, output_activation="sigmoid")
    a = np.array([s["a"][0] for s in trace.steps])
    np.testing.assert_allclose(a, JORDAN_A, atol=1e-8)
    np.testing.assert_allclose(trace.hidden[0], JORDAN_H, atol=1e-8)
    np.testing.assert_allclose(trace.outputs[0, :, 0], JORDAN_Y, atol=1e-8)


# many-to-many: 4 inputs, 3 tanh hidden units, 2 softmax outputs, all weights and biases 0.1
# (one hidden bias: bias_ih = 0.1, bias_hh = 0)
MANY_PARAMS = {
    "weight_ih": [[0.1] * 4] * 3, "weight_hh": [[0.1] * 3] * 3, "bias_ih": [0.1] * 3,
    "bias_hh": [0.0] * 3, "weight_hy": [[0.1] * 3] * 2, "bias_y": [0.1] * 2,
}
MANY_INPUTS = [[4, 0, 0, 0], [0, 8, 2, 0]]
MANY_TARGETS = [[1, 0], [0, 1]]
H1, H2 = 0.462117157, 0.845065884
LOSS = 1.386294361
D_W_HY = 0.191474363


def test_many_to_many_softmax_one_sgd_step() -> None:
    """Many-to-many tanh/softmax, cross-entropy summed over the two steps, one SGD step lr 1.

    Forward: a1 = 0.1·4 + 0.1 = 0.5 for each unit, h1 = tanh 0.5 = 0.462117157;
    q1 = 0.1·3·h1 + 0.1 for both outputs, so y1 = (0.5, 0.5) and L1 = -ln 0.5.
    a2 = 0.1·(8 + 2) + 0.1 + 0.1·3·h1 = 1.238635147, h2 = tanh a2 = 0.845065884; again
    y2 = (0.5, 0.5), L2 = -ln 0.5; L = 2 ln 2 = 1.386294361.
    Backward: dL/dq1 = y1 - t1 = (-0.5, 0.5), dL/dq2 = (0.5, -0.5).
    dL/dW_hy[k, j] = Σ_t dL/dq_t[k] h_t[j]: row 0 = -0.5·h1 + 0.5·h2 = 0.191474363, row 1
    the negative; dL/db_y = (0, 0). dL/dh2 = W_hyᵀ dL/dq2 = 0.1·(0.5 - 0.5) = 0, and
    dL/dh1 = W_hyᵀ dL/dq1 + W_hhᵀ dL/da2 = 0: with equal weights the two outputs pull the
    hidden units equally in opposite directions, so every recurrent gradient is 0.
    Update, η = 1: W_hy row 0 = 0.1 - 0.191474363 = -0.091474363, row 1 = 0.291474363; every
    other parameter stays 0.1 (or 0).
    """
    trace = explain("rnn", MANY_PARAMS, MANY_INPUTS, targets=MANY_TARGETS,
                    output_activation="softmax", loss="ce", lr=1.0)
    _check_many_to_many(trace.to_json())


def _check_many_to_many(out: dict) -> None:
    np.testing.assert_allclose(out["hidden"], [[H1] * 3, [H2] * 3], atol=1e-8)
    np.testing.assert_allclose(out["outputs"], [[0.5, 0.5], [0.5, 0.5]], atol=1e-12)
    assert out["loss"] == pytest.approx(LOSS, abs=1e-8)
    np.testing.assert_allclose(out["grads"]["weight_hy"], [[D_W_HY] * 3, [-D_W_HY] * 3],
                               atol=1e-8)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "bias_y"):
        np.testing.assert_allclose(out["grads"][name], np.zeros_like(out["grads"][name]),
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(out["updated"]["weight_hy"],
                               [[0.1 - D_W_HY] * 3, [0.1 + D_W_HY] * 3], atol=1e-8)
    np.testing.assert_allclose(out["updated"]["weight_hh"], MANY_PARAMS["weight_hh"], atol=1e-12)


def _write(tmp_path: Path, **files: object) -> dict[str, str]:
    paths = {}
    for name, content in files.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(content))
        paths[name] = str(path)
    return paths


def test_explain_json_round_trips_the_elman_example(tmp_path: Path, capsys) -> None:
    p = _write(tmp_path, params=ELMAN_PARAMS, inputs=INPUTS)
    assert main(["explain", "elman", "--params", p["params"], "--inputs", p["inputs"],
                 "--output-activation", "sigmoid", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(out["hidden"], ELMAN_H, atol=1e-8)
    np.testing.assert_allclose(np.array(out["outputs"])[:, 0], ELMAN_Y, atol=1e-8)
    assert "loss" not in out


def test_explain_json_round_trips_the_jordan_example(tmp_path: Path, capsys) -> None:
    p = _write(tmp_path, params=JORDAN_PARAMS, inputs=INPUTS)
    assert main(["explain", "jordan", "--params", p["params"], "--inputs", p["inputs"],
                 "--output-activation", "sigmoid", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(out["hidden"], JORDAN_H, atol=1e-8)
    np.testing.assert_allclose(np.array(out["outputs"])[:, 0], JORDAN_Y, atol=1e-8)


def test_explain_json_many_to_many_with_class_indices(tmp_path: Path, capsys) -> None:
    p = _write(tmp_path, params=MANY_PARAMS, inputs=MANY_INPUTS, targets=[0, 1])
    assert main(["explain", "rnn", "--params", p["params"], "--inputs", p["inputs"],
                 "--targets", p["targets"], "--output-activation", "softmax", "--loss", "ce",
                 "--lr", "1.0", "--json"]) == 0
    _check_many_to_many(json.loads(capsys.readouterr().out))


def test_explain_through_a_real_subprocess(tmp_path: Path) -> None:
    p = _write(tmp_path, params=MANY_PARAMS, inputs=MANY_INPUTS, targets=MANY_TARGETS)
    plot = tmp_path / "flow.png"
    done = subprocess.run(
        [sys.executable, "-m", "rnnkit", "explain", "rnn", "--params", p["params"],
         "--inputs", p["inputs"], "--targets", p["targets"], "--output-activation", "softmax",
         "--lr", "1.0", "--json", "--plot", str(plot)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    _check_many_to_many(json.loads(done.stdout))
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_explain_text_reads_like_a_worked_solution(tmp_path: Path, capsys) -> None:
    p = _write(tmp_path, params=MANY_PARAMS, inputs=MANY_INPUTS, targets=MANY_TARGETS)
    assert main(["explain", "rnn", "--params", p["params"], "--inputs", p["inputs"],
                 "--targets", p["targets"], "--output-activation", "softmax", "--lr", "1"]) == 0
    text = capsys.readouterr().out
    for expected in (
        "h_1 = tanh(a_1)", "      = [0.462117, 0.462117, 0.462117]",
        "y_2 = softmax(q_2) = [0.500000, 0.500000]", "L = 1.386294",
        "Backward pass through time", "dL/dq_2 = g'(q_2)ᵀ dL/dy_2 = [0.500000, -0.500000]",
        "dL/dweight_hy = [[0.191474, 0.191474, 0.191474], [-0.191474, -0.191474, -0.191474]]",
        "After one SGD step",
        "weight_hy = [[-0.091474, -0.091474, -0.091474], [0.291474, 0.291474, 0.291474]]",
    ):
        assert expected in text, f"missing line: {expected!r}\n{text}"


def test_without_an_output_layer_the_output_is_the_hidden_state(capsys, tmp_path: Path) -> None:
    params = {k: v for k, v in ELMAN_PARAMS.items() if k not in ("weight_hy", "bias_y")}
    p = _write(tmp_path, params=params, inputs=INPUTS)
    assert main(["explain", "rnn", "--params", p["params"], "--inputs", p["inputs"]]) == 0
    text = capsys.readouterr().out
    assert "the output y_t is the hidden state h_t" in text
    trace = explain("rnn", params, INPUTS)
    np.testing.assert_array_equal(trace.outputs, trace.hidden)


def test_per_step_gradients_add_up_to_the_network_backward_pass() -> None:
    """The trace's step-by-step backward pass equals Network.backward, for every cell."""
    rng = np.random.default_rng(0)
    for cell, extra in [("rnn", {}), ("jordan", {}), ("lstm", {}), ("peephole_lstm", {}),
                        ("gru", {}), ("lstm", {"ln": True})]:
        from rnnkit.reference.network import Network

        O = 2
        net = Network(cell, 3, 4, output_size=O, output_activation="softmax",
                      layer_norm=bool(extra))
        params = net.init_params(seed=1)
        given = {k[:-3] if k.endswith("_l0") else k: v.tolist() for k, v in params.items()}
        x = rng.normal(size=(2, 3, 3))
        targets = [[0, 1, None], [1, None, 0]]
        trace = explain(cell, given, x.tolist(), targets=targets, output_activation="softmax")
        mask = np.array([[1, 1, 0], [1, 0, 1]], dtype=bool)
        value, grads, _ = net.loss_and_grads(params, x, np.array([[0, 1, 0], [1, 0, 0]]),
                                             loss="ce", mask=mask)
        assert trace.loss == pytest.approx(value, rel=1e-12)
        for name, g in grads.params.items():
            short = name[:-3] if name.endswith("_l0") else name
            np.testing.assert_allclose(trace.grads[short], g, rtol=1e-10, atol=1e-13,
                                       err_msg=f"{cell}: {name}")


def test_a_batch_of_sequences_keeps_the_batch_axis(tmp_path: Path, capsys) -> None:
    """Two copies of the many-to-many example: the same numbers per row, twice the loss."""
    p = _write(tmp_path, params=MANY_PARAMS, inputs=[MANY_INPUTS, MANY_INPUTS],
               targets=[MANY_TARGETS, [[1, 0], None]])
    assert main(["explain", "rnn", "--params", p["params"], "--inputs", p["inputs"],
                 "--targets", p["targets"], "--output-activation", "softmax", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(out["hidden"], [[[H1] * 3] * 2, [[H2] * 3] * 2], atol=1e-8)
    # row 2 has no target at step 2: L = 2 ln 2 + ln 2
    assert out["loss"] == pytest.approx(1.5 * LOSS, abs=1e-8)
    assert out["loss_per_step"][1] == pytest.approx([LOSS / 2, 0.0], abs=1e-8)
    assert "updated" not in out
