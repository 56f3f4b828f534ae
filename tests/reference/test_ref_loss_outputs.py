"""A loss is used only on outputs it is defined on, and no worked solution holds inf or NaN.

bce takes log y and log(1 - y): sigmoid or softmax outputs; ce takes log y of a distribution:
softmax outputs; mse takes any output (rnnkit.reference.losses.LOSS_ACTIVATIONS). The others
are refused in one sentence naming both options, before any computation, by the Network API,
explain and the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.reference import losses
from rnnkit.reference.fit import fit
from rnnkit.reference.flow import gradient_flow
from rnnkit.reference.gradcheck import check_network_gradients
from rnnkit.reference.network import Network
from rnnkit.reference.trace import explain

PARAMS = {
    "weight_ih": [[1.0, 0.0, 0.5], [0.5, 0.1, -2.0]], "weight_hh": [[2.0, 1.5], [1.3, 0.0]],
    "bias_ih": [0.2, 0.2], "bias_hh": [0.0, 0.0], "weight_hy": [[2.0, -1.5]], "bias_y": [0.5],
}
INPUTS = [[1, 2, -1], [-1, 1, -2]]

REFUSED = [("identity", "bce"), ("tanh", "bce"), ("identity", "ce"), ("tanh", "ce"),
           ("sigmoid", "ce")]
ACCEPTED = [("sigmoid", "bce"), ("softmax", "bce"), ("softmax", "ce"), ("identity", "mse"),
            ("sigmoid", "mse"), ("tanh", "mse"), ("softmax", "mse")]


def _message(activation: str, loss: str) -> str:
    return rf"Argument `loss='{loss}'` does not combine with `output_activation='{activation}'`"


def _targets(loss: str, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2, size=(2, 3)) if loss == "ce" else rng.uniform(size=(2, 3, 2))


@pytest.mark.parametrize(("activation", "loss"), REFUSED)
def test_network_refuses_before_the_forward_pass(activation: str, loss: str) -> None:
    net = Network("lstm", 2, 3, output_size=2, output_activation=activation)
    rng = np.random.default_rng(0)
    x, targets = rng.normal(size=(2, 3, 2)), _targets(loss, rng)
    # no parameters at all: a forward pass would fail on them first
    with pytest.raises(ValueError, match=_message(activation, loss)):
        net.loss_and_grads({}, x, targets, loss=loss)
    params = net.init_params(seed=1)
    fwd = net.forward(params, x)
    with pytest.raises(ValueError, match=_message(activation, loss)):
        net.loss(fwd, targets, loss=loss)
    with pytest.raises(ValueError, match=_message(activation, loss)):
        fit(net, params, x, targets, loss=loss, epochs=1)
    with pytest.raises(ValueError, match=_message(activation, loss)):
        check_network_gradients(net, params, x, targets=targets, loss=loss)
    with pytest.raises(ValueError, match=_message(activation, loss)):
        gradient_flow(net, params, x, targets=targets, loss=loss)


@pytest.mark.parametrize(("activation", "loss"), ACCEPTED)
def test_network_accepts_the_outputs_a_loss_is_defined_on(activation: str, loss: str) -> None:
    net = Network("gru", 2, 3, output_size=2, output_activation=activation)
    rng = np.random.default_rng(2)
    x, targets = rng.normal(size=(2, 3, 2)), _targets(loss, rng)
    value, grads, _ = net.loss_and_grads(net.init_params(seed=3), x, targets, loss=loss)
    assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads.params.values())


def test_hidden_states_take_only_the_squared_error() -> None:
    net = Network("rnn", 2, 3)  # no output layer: the outputs are tanh hidden states
    x = np.zeros((1, 2, 2))
    for loss in ("bce", "ce"):
        with pytest.raises(ValueError, match=rf"`loss='{loss}'` does not combine with a network "
                                             r"without an output layer.*\(`output_size`\)"):
            net.loss_and_grads(net.init_params(), x, np.zeros((1, 2, 3)), loss=loss)
    net.loss_and_grads(net.init_params(), x, np.zeros((1, 2, 3)), loss="mse")


def test_jordan_outputs_are_its_own_activation() -> None:
    x, targets = np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5)
    sigmoid = Network("jordan", 2, 3, output_size=2, output_activation="sigmoid")
    sigmoid.loss_and_grads(sigmoid.init_params(), x, targets, loss="bce")
    identity = Network("jordan", 2, 3, output_size=2)
    with pytest.raises(ValueError, match=_message("identity", "bce")):
        identity.loss_and_grads(identity.init_params(), x, targets, loss="bce")


def test_the_default_loss_always_fits() -> None:
    for activation in ("identity", "sigmoid", "tanh", "softmax"):
        net = Network("rnn", 2, 3, output_size=2, output_activation=activation)
        loss = net.check_loss()
        assert losses.check_loss_activation(loss, activation) == loss


@pytest.mark.parametrize(("activation", "loss"), REFUSED)
def test_explain_refuses(activation: str, loss: str) -> None:
    targets = [0, 0] if loss == "ce" else [1.0, 0.0]
    with pytest.raises(ValueError, match=_message(activation, loss)):
        explain("rnn", PARAMS, INPUTS, targets=targets, output_activation=activation, loss=loss)
    no_head = {k: v for k, v in PARAMS.items() if k not in ("weight_hy", "bias_y")}
    with pytest.raises(ValueError, match=r"without an output layer.*\(`weight_hy` in the param"):
        explain("rnn", no_head, INPUTS, targets=[[0.5, 0.5]] * 2, loss=loss)


def _write(tmp_path: Path, params: object, targets: object) -> list[str]:
    for name, value in (("p", params), ("i", INPUTS), ("t", targets)):
        (tmp_path / f"{name}.json").write_text(json.dumps(value))
    return ["explain", "rnn", "--params", str(tmp_path / "p.json"), "--inputs",
            str(tmp_path / "i.json"), "--targets", str(tmp_path / "t.json")]


@pytest.mark.parametrize(("activation", "loss", "targets"), [
    ("identity", "bce", [1.0, 0.0]),  # printed loss 710.5 and gradients of -4.6e307
    ("identity", "ce", [0, 0]),       # printed -inf gradients, and -Infinity in the JSON
])
def test_cli_refuses_with_both_options_and_prints_nothing(
    tmp_path: Path, capsys, activation: str, loss: str, targets: list
) -> None:
    argv = _write(tmp_path, PARAMS, targets)
    assert main([*argv, "--output-activation", activation, "--loss", loss, "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"`loss='{loss}'` does not combine with `output_activation='{activation}'`" in err


def test_cli_softmax_and_bce_is_finite_json(tmp_path: Path, capsys) -> None:
    two = {**PARAMS, "weight_hy": [[2.0, -1.5], [0.5, 1.0]], "bias_y": [0.5, 0.0]}
    argv = _write(tmp_path, two, [[1.0, 0.0], [0.0, 1.0]])
    assert main([*argv, "--output-activation", "softmax", "--loss", "bce", "--json"]) == 0

    def refuse(constant: str) -> None:
        raise AssertionError(f"the JSON holds {constant}")

    result = json.loads(capsys.readouterr().out, parse_constant=refuse)
    y = np.array(result["outputs"])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    expected = -(t * np.log(y) + (1 - t) * np.log(1 - y)).sum()
    assert result["loss"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("activation", "head", "targets"), [
    ("sigmoid", {"weight_hy": [[60.0, 60.0]], "bias_y": [0.0]}, [0.0, 0.0]),  # σ(z) == 1.0
    ("softmax", {"weight_hy": [[2.0, -1.5]], "bias_y": [0.5]}, [0.0, 0.0]),   # one output: 1
])
def test_saturated_outputs_are_refused_not_clamped(
    activation: str, head: dict, targets: list
) -> None:
    """-log(1 - y) with y exactly 1.0 was printed as 708.4 with a gradient of 0."""
    params = {**PARAMS, **head}
    with pytest.raises(ValueError, match=r"The loss cannot be computed in float64: at step 1 the "
                                         r"outputs \[1\.000000\] hold an exact 0 or 1 where "
                                         r"the 'bce' target \[0\.000000\]"):
        explain("rnn", params, INPUTS, targets=targets, output_activation=activation,
                loss="bce")
    # the same network is explained where its targets are within reach
    explain("rnn", params, INPUTS, targets=[1.0, 1.0], output_activation=activation, loss="bce")


def test_overflow_is_refused_not_printed(tmp_path: Path, capsys) -> None:
    big = {"weight_ih": [[1e200, 0.0, 0.0]], "weight_hh": [[1e200]], "weight_hy": [[1e200]]}
    with pytest.raises(ValueError, match=r"The numbers overflow float64: the loss is infinite"):
        explain("rnn", big, INPUTS, targets=[0.5, 0.5])
    assert main([*_write(tmp_path, big, [0.5, 0.5]), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "overflow float64" in err
    # finite numbers whose SGD step overflows
    with pytest.raises(ValueError, match=r"overflow float64: the updated weight_ih is infinite"):
        explain("rnn", PARAMS, INPUTS, targets=[100.0, -100.0], lr=1e308)
    with pytest.raises(ValueError, match=r"`lr` must be a positive finite number, got inf"):
        explain("rnn", PARAMS, INPUTS, targets=[0.5, 0.5], lr=float("inf"))


def test_gradcheck_cli_refuses(capsys) -> None:
    assert main(["gradcheck", "rnn", "--loss", "ce", "--output-activation", "sigmoid"]) == 2
    assert "`loss='ce'` does not combine with `output_activation='sigmoid'`" in (
        capsys.readouterr().err
    )
