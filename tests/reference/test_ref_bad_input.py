"""Bad input is refused with one sentence naming the argument (explain, Network, losses)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.reference import losses
from rnnkit.reference.cells import make_cell
from rnnkit.reference.network import Network
from rnnkit.reference.trace import explain

PARAMS = {
    "weight_ih": [[1.0, 0.0, 0.5], [0.5, 0.1, -2.0]], "weight_hh": [[2.0, 1.5], [1.3, 0.0]],
    "bias_ih": [0.2, 0.2], "bias_hh": [0.0, 0.0], "weight_hy": [[2.0, -1.5]], "bias_y": [0.5],
}
INPUTS = [[1, 2, -1], [-1, 1, -2]]


def _run(tmp_path: Path, params: object, inputs: object = INPUTS, *extra: str,
         targets: object = None) -> list[str]:
    (tmp_path / "p.json").write_text(json.dumps(params))
    (tmp_path / "i.json").write_text(json.dumps(inputs))
    argv = ["explain", "rnn", "--params", str(tmp_path / "p.json"), "--inputs",
            str(tmp_path / "i.json"), *extra]
    if targets is not None:
        (tmp_path / "t.json").write_text(json.dumps(targets))
        argv += ["--targets", str(tmp_path / "t.json")]
    return argv


def test_missing_parameter(tmp_path: Path, capsys) -> None:
    params = {k: v for k, v in PARAMS.items() if k != "weight_hh"}
    assert main(_run(tmp_path, params)) == 2
    err = capsys.readouterr().err
    assert "Parameter `weight_hh` is missing" in err and "(2, 2)" in err


def test_unknown_parameter(tmp_path: Path, capsys) -> None:
    assert main(_run(tmp_path, {**PARAMS, "weight_xx": [[1.0]]})) == 2
    err = capsys.readouterr().err
    assert "Parameter `weight_xx` (shape (1, 1)) is not a parameter" in err
    assert "weight_ih, weight_hh" in err


def test_shape_mismatch_names_both_shapes(tmp_path: Path, capsys) -> None:
    assert main(_run(tmp_path, {**PARAMS, "weight_hh": [[2.0, 1.5, 0.0], [1.3, 0.0, 0.0]]})) == 2
    err = capsys.readouterr().err
    assert "Parameter `weight_hh` has shape (2, 3), expected (2, 2)." in err


def test_misshapen_weight_ih_gives_the_concrete_shape() -> None:
    lstm = {"weight_ih": np.zeros((11, 2)), "weight_hh": np.zeros((12, 3))}
    with pytest.raises(ValueError, match=r"Parameter `weight_ih` has shape \(11, 2\), expected "
                                         r"\(12, 2\) = \(4\*H, I\) with H = 3 from weight_hh "
                                         r"\(12, 3\) for a 'lstm' cell\.$"):
        explain("lstm", lstm, [[0.0, 0.0]])
    # without weight_hh, H is not known: the rule, with I from weight_ih
    with pytest.raises(ValueError, match=r"expected \(4\*H, 2\), a number of rows divisible by "
                                         r"4 for a 'lstm' cell\.$"):
        explain("lstm", {"weight_ih": np.zeros((11, 2))}, [[0.0, 0.0]])
    jordan = {"weight_ih": np.zeros((0, 2)), "weight_yh": np.zeros((3, 1))}
    with pytest.raises(ValueError, match=r"expected \(3, 2\) = \(1\*H, I\) with H = 3 from "
                                         r"weight_yh \(3, 1\)"):
        explain("jordan", jordan, [[0.0, 0.0]])


def test_output_layer_of_the_wrong_width(capsys, tmp_path: Path) -> None:
    assert main(_run(tmp_path, {**PARAMS, "weight_hy": [[2.0, -1.5, 1.0]]})) == 2
    assert "Parameter `weight_hy` has shape (1, 3), expected (O, 2)." in capsys.readouterr().err


def test_inputs_of_the_wrong_width(tmp_path: Path, capsys) -> None:
    assert main(_run(tmp_path, PARAMS, [[1, 2], [3, 4]])) == 2
    err = capsys.readouterr().err
    assert "Argument `inputs` has 2 numbers per step" in err and "(2, 3)" in err


def test_ragged_inputs_and_bad_json(tmp_path: Path, capsys) -> None:
    assert main(_run(tmp_path, PARAMS, [[1, 2, 3], [1, 2]])) == 2
    assert "Argument `inputs` must be a list of time steps" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    argv = ["explain", "rnn", "--params", str(tmp_path / "bad.json"), "--inputs",
            str(tmp_path / "bad.json")]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(
        f"rnnkit explain: error: Option `--params` file '{tmp_path / 'bad.json'}' is not valid "
        "JSON: Expecting property name"
    )


@pytest.mark.parametrize(
    ("option", "content", "message"),
    [
        ("--params", None, "Option `--params` file '{path}' does not exist."),
        ("--inputs", b"", "Option `--inputs` file '{path}' is empty; expected some text."),
        ("--targets", b"[1,\x00]", "Option `--targets` file '{path}' contains a NUL byte at "
                                    "byte offset 3 (line 1); it looks binary, expected UTF-8 "
                                    "text."),
    ],
)
def test_a_missing_empty_or_binary_file_is_named_by_its_option(
    option: str, content: bytes | None, message: str, tmp_path: Path, capsys
) -> None:
    argv = _run(tmp_path, PARAMS, INPUTS, targets=[0, 1])
    path = tmp_path / "given.json"
    if content is not None:
        path.write_bytes(content)
    argv[argv.index(option) + 1] = str(path)
    assert main(argv) == 2
    assert capsys.readouterr().err == f"rnnkit explain: error: {message.format(path=path)}\n"


def test_targets_of_the_wrong_length_or_class(tmp_path: Path, capsys) -> None:
    assert main(_run(tmp_path, PARAMS, INPUTS, targets=[1.0])) == 2
    assert "one target per time step (2), got 1" in capsys.readouterr().err
    argv = _run(tmp_path, PARAMS, INPUTS, "--loss", "ce", "--output-activation", "softmax",
                targets=[0, 3])
    assert main(argv) == 2
    assert "class index in [0, 0], got 3" in capsys.readouterr().err


def test_options_that_do_not_combine() -> None:
    with pytest.raises(ValueError, match="`output_activation` needs an output layer"):
        explain("rnn", {k: PARAMS[k] for k in ("weight_ih", "weight_hh")}, INPUTS,
                output_activation="softmax")
    with pytest.raises(ValueError, match="`nonlinearity` applies only to cells 'rnn' and"):
        make_cell("gru", nonlinearity="relu")
    with pytest.raises(ValueError, match="`layer_norm=True` is defined for cells"):
        make_cell("rnn", layer_norm=True)
    with pytest.raises(ValueError, match="`lr` needs targets"):
        explain("rnn", PARAMS, INPUTS, lr=0.1)
    with pytest.raises(ValueError, match="Argument `cell` must be one of"):
        explain("hopfield", PARAMS, INPUTS)
    with pytest.raises(ValueError, match="`ln_ih_weight` is not a parameter of a 'rnn' cell"):
        explain("rnn", {**PARAMS, "ln_ih_weight": [1.0, 1.0]}, INPUTS)


def test_network_refuses_bad_arguments() -> None:
    net = Network("lstm", 3, 2)
    params = net.init_params()
    with pytest.raises(ValueError, match=r"Argument `x` must have shape \[B, T, 3\]"):
        net.forward(params, np.zeros((2, 4, 5)))
    with pytest.raises(TypeError, match="Argument `x` must be a NumPy array"):
        net.forward(params, [[[0.0, 0.0, 0.0]]])
    with pytest.raises(ValueError, match=r"`initial_state` \(c\) must have shape \(1, 2, 2\)"):
        net.forward(params, np.zeros((2, 4, 3)), (np.zeros((1, 2, 2)), np.zeros((1, 3, 2))))
    with pytest.raises(ValueError, match=r"`weight_hh_l0` has shape \(8, 3\), expected \(8, 2\)"):
        net.forward({**params, "weight_hh_l0": np.zeros((8, 3))}, np.zeros((1, 1, 3)))
    with pytest.raises(TypeError, match="Parameter `bias_ih_l0` must be a NumPy array"):
        net.forward({**params, "bias_ih_l0": [0.0] * 8}, np.zeros((1, 1, 3)))
    fwd = net.forward(params, np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="`d_outputs` must have the shape of the outputs"):
        net.backward(params, fwd, np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="`hidden_size` must be an integer >= 1, got 0"):
        Network("gru", 3, 0)
    with pytest.raises(ValueError, match="`output_size` is required for the 'jordan' cell"):
        Network("jordan", 3, 2)
    with pytest.raises(ValueError, match="`recurrent_init` must be one of"):
        net.init_params(recurrent_init="zeros")
    with pytest.raises(ValueError, match="`forget_bias` needs a cell with a forget gate"):
        Network("gru", 3, 2).init_params(forget_bias=1.0)


def test_losses_refuse_bad_targets() -> None:
    y = np.full((2, 3, 2), 0.5)
    with pytest.raises(ValueError, match=r"`targets` must have shape \(2, 3\) \(class indices\)"):
        losses.loss("ce", y, np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\] for the 'bce' loss"):
        losses.loss("bce", y, np.full((2, 3, 2), 2.0))
    with pytest.raises(ValueError, match="Argument `loss` must be one of"):
        losses.loss("hinge", y, y)
    with pytest.raises(ValueError, match="Argument `reduction` must be one of"):
        losses.loss("mse", y, y, reduction="max")
    with pytest.raises(ValueError, match=r"Argument `mask` must have shape \(2, 3\)"):
        losses.loss("mse", y, y, mask=np.ones(2, dtype=bool))
