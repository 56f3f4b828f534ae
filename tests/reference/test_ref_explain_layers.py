"""A layer trained fast is explained slowly: its own parameter names go straight to explain.

A one-layer, one-direction rnnkit.nn layer's parameters (``weight_ih_l0`` ...), saved as JSON,
are read as the spec's names by ``rnnkit explain``; the worked solution's outputs and
gradients equal the layer's own (torch autograd). Parameters explain cannot work (another
layer, the reverse direction) are refused with their names.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit import nn as rnn_nn
from rnnkit.cli import main
from rnnkit.nn import to_reference
from rnnkit.reference.trace import explain

LAYERS = {
    "gru": (lambda: rnn_nn.GRU(2, 3), "gru", []),
    "lstm": (lambda: rnn_nn.LSTM(2, 3), "lstm", []),
    "peephole-lstm": (lambda: rnn_nn.LSTM(2, 3, peephole=True), "peephole", []),
    "rnn-relu": (lambda: rnn_nn.RNN(2, 3, nonlinearity="relu"), "rnn",
                 ["--nonlinearity", "relu"]),
    "jordan-sigmoid": (
        lambda: rnn_nn.JordanRNN(2, 3, output_size=2, output_activation="sigmoid"), "jordan",
        ["--output-activation", "sigmoid"],
    ),
}


def _trained(factory) -> torch.nn.Module:
    """The layer after a few SGD steps on random numbers, so no weight keeps its init."""
    torch.manual_seed(0)
    module = factory().double()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    x = torch.randn(5, 4, 2, dtype=torch.float64)                              # [T, B, I]
    for _ in range(10):
        optimizer.zero_grad()
        output, _ = module(x)
        (output - 0.5).pow(2).sum().backward()
        optimizer.step()
    return module


@pytest.mark.parametrize("label", LAYERS)
def test_a_trained_layer_explains_as_it_runs(label: str, tmp_path: Path, capsys) -> None:
    factory, cell, options = LAYERS[label]
    module = _trained(factory)
    params = to_reference(module)
    assert params and all(name.endswith("_l0") for name in params)
    x = np.random.default_rng(1).normal(size=(4, 2))                          # [T, I]
    targets = np.random.default_rng(2).uniform(size=(4, 2 if cell == "jordan" else 3))
    for name, value in (("params", {k: v.tolist() for k, v in params.items()}),
                        ("inputs", x.tolist()), ("targets", targets.tolist())):
        (tmp_path / f"{name}.json").write_text(json.dumps(value))
    argv = ["explain", cell, *options, "--loss", "mse", "--json"] + [
        arg for name in ("params", "inputs", "targets")
        for arg in (f"--{name}", str(tmp_path / f"{name}.json"))
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)

    module.zero_grad()
    output, _ = module(torch.from_numpy(x)[:, None])                           # [T, 1, W]
    (0.5 * (output[:, 0] - torch.from_numpy(targets)).pow(2).sum()).backward()
    np.testing.assert_allclose(result["outputs"], output[:, 0].detach().numpy(),
                               rtol=1e-12, atol=1e-13)
    assert set(result["grads"]) == {name[:-3] for name in params}
    for name, p in module.named_parameters():
        np.testing.assert_allclose(result["grads"][name[:-3]], p.grad.numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=name)


@pytest.mark.parametrize(("layer", "foreign"), [
    (lambda: rnn_nn.GRU(2, 3, num_layers=2),
     "`weight_ih_l1`, `weight_hh_l1`, `bias_ih_l1`, `bias_hh_l1`"),
    (lambda: rnn_nn.LSTM(2, 3, bidirectional=True),
     "`weight_ih_l0_reverse`, `weight_hh_l0_reverse`, `bias_ih_l0_reverse`, "
     "`bias_hh_l0_reverse`"),
], ids=["two-layers", "bidirectional"])
def test_other_layers_and_directions_are_named(layer, foreign: str) -> None:
    params = to_reference(layer())
    cell = "gru" if "weight_ih_l1" in params else "lstm"
    with pytest.raises(ValueError) as info:
        explain(cell, params, [[0.0, 0.0]])
    message = str(info.value)
    assert message.startswith(f"Parameters {foreign} belong to another layer or to the reverse "
                              "direction, but explain works one layer in one direction")


def test_names_it_does_not_know_are_listed() -> None:
    with pytest.raises(ValueError, match=r"Parameter `weight_ih` is missing: expected an array "
                                         r"of shape \(3\*H, I\) for a 'gru' cell \(it fixes I "
                                         r"and H\), got only `W`, `U`\.$"):
        explain("gru", {"W": [[1.0]], "U": [[1.0]]}, [[0.0]])
    params = {"weight_ih": [[1.0]], "weight_ih_l0": [[1.0]], "weight_hh": [[1.0]]}
    with pytest.raises(ValueError, match=r"Parameter `weight_ih` is given twice, as `weight_ih` "
                                         r"and `weight_ih_l0`"):
        explain("rnn", params, [[0.0]])
