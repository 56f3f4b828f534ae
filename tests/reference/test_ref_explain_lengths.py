"""``rnnkit explain --lengths``: a padded batch of sequences of different lengths, worked step
by step.

Oracles: the reference network's own ``lengths`` (its forward and backward pass over the
batch) and each sequence explained alone, cut to its length.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.reference.network import Network
from rnnkit.reference.trace import explain

LENGTHS = [3, 1, 2]
# (cell, variant, layer norm): every spec cell, layer norm, an LSTM ablation and a MUT
CELLS = [("rnn", "vanilla", False), ("jordan", "vanilla", False), ("lstm", "vanilla", False),
         ("peephole_lstm", "vanilla", False), ("gru", "vanilla", False),
         ("lstm", "vanilla", True), ("lstm", "cifg", False), ("mut3", "vanilla", False)]


def _setup(cell: str, variant: str, ln: bool) -> tuple[Network, dict, dict, np.ndarray, list]:
    """A network with 2 softmax outputs, its parameters (network and spec names), inputs
    ``[3, 3, 3]`` and class targets at every step, padded steps included (to be ignored)."""
    net = Network(cell, 3, 3, output_size=2, output_activation="softmax", layer_norm=ln,
                  variant=variant)
    params = net.init_params(seed=3)
    given = {k.removesuffix("_l0"): v.tolist() for k, v in params.items()}
    x = np.random.default_rng(1).normal(size=(3, 3, 3))
    targets = [[0, 1, 1], [1, 0, 0], [1, 1, 0]]
    return net, params, given, x, targets


@pytest.mark.parametrize(("cell", "variant", "ln"), CELLS)
def test_a_padded_batch_equals_the_network_with_lengths(cell: str, variant: str,
                                                        ln: bool) -> None:
    net, params, given, x, targets = _setup(cell, variant, ln)
    trace = explain(cell, given, x.tolist(), targets=targets, output_activation="softmax",
                    variant=variant, lengths=LENGTHS)
    value, grads, fwd = net.loss_and_grads(params, x, np.array(targets), loss="ce",
                                           lengths=LENGTHS)
    assert trace.loss == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(trace.outputs, fwd.outputs, rtol=1e-12, atol=1e-14)
    for name, g in grads.params.items():
        np.testing.assert_allclose(trace.grads[name.removesuffix("_l0")], g, rtol=1e-10,
                                   atol=1e-13, err_msg=f"{cell} {variant}: {name}")


@pytest.mark.parametrize(("cell", "variant", "ln"), CELLS[:5])
def test_each_sequence_of_the_batch_is_the_sequence_explained_alone(
    cell: str, variant: str, ln: bool
) -> None:
    _, _, given, x, targets = _setup(cell, variant, ln)
    batch = explain(cell, given, x.tolist(), targets=targets, output_activation="softmax",
                    lengths=LENGTHS)
    total = {k: np.zeros_like(v) for k, v in batch.grads.items()}  # type: ignore[union-attr]
    loss = 0.0
    for b, n in enumerate(LENGTHS):
        alone = explain(cell, given, x[b, :n].tolist(), targets=targets[b][:n],
                        output_activation="softmax")
        for t in range(n):
            for key, value in alone.steps[t].items():
                np.testing.assert_allclose(batch.steps[t][key][b], value[0], rtol=1e-12,
                                           atol=1e-14, err_msg=f"{cell} {key} step {t}")
            for key, value in alone.backward[t].items():  # type: ignore[index]
                np.testing.assert_allclose(batch.backward[t][key][b], value[0],  # type: ignore[index]
                                           rtol=1e-10, atol=1e-13, err_msg=f"{cell} d{key}")
        assert not batch.hidden[b, n:].any() and not batch.outputs[b, n:].any()
        loss += alone.loss  # type: ignore[operator]
        for k, v in alone.grads.items():  # type: ignore[union-attr]
            total[k] += v
    assert batch.loss == pytest.approx(loss, rel=1e-12)
    for k, v in total.items():
        np.testing.assert_allclose(batch.grads[k], v, rtol=1e-10, atol=1e-13)  # type: ignore[index]


def test_full_lengths_change_nothing() -> None:
    _, _, given, x, targets = _setup("gru", "vanilla", False)
    plain = explain("gru", given, x.tolist(), targets=targets, output_activation="softmax")
    full = explain("gru", given, x.tolist(), targets=targets, output_activation="softmax",
                   lengths=[3, 3, 3])
    assert full.loss == plain.loss
    assert {k: v.tolist() for k, v in full.grads.items()} == {  # type: ignore[union-attr]
        k: v.tolist() for k, v in plain.grads.items()}  # type: ignore[union-attr]
    note = ("Lengths: sequence 1 has 3, sequence 2 has 3, sequence 3 has 3 step(s); past its "
            "end a sequence's state is frozen (s_t = s_{t-1}), its output is 0 and it has no "
            "loss term.\n")
    assert note in full.format() and full.format().replace(note, "") == plain.format()


def _write(tmp_path: Path, **files: object) -> list[str]:
    argv = []
    for key, value in files.items():
        (tmp_path / f"{key}.json").write_text(json.dumps(value))
        argv += [f"--{key}", str(tmp_path / f"{key}.json")]
    return argv


def test_cli_marks_steps_past_the_end(tmp_path: Path, capsys) -> None:
    _, _, given, x, targets = _setup("lstm", "vanilla", False)
    argv = ["explain", "lstm", *_write(tmp_path, params=given, inputs=x.tolist(),
                                        targets=targets), "--output-activation", "softmax",
            "--lengths", "3,1,2"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lengths"] == LENGTHS
    # step 2: sequence 2 has ended; step 3: sequences 2 and 3
    assert [row is None for row in out["steps"][1]["c"]] == [False, True, False]
    assert [row is None for row in out["backward"][2]["d_c"]] == [False, True, True]
    assert out["hidden"][2][1] == [0.0, 0.0, 0.0] and out["loss_per_step"][2][2] == 0.0
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Lengths: sequence 1 has 3, sequence 2 has 1, sequence 3 has 2 step(s)" in text
    assert "sequence 2, 3 past its end: state frozen, s_3 = s_2; output 0" in text
    assert "sequence 2, 3 past its end: no gradient (no loss term" in text
    assert "(past its end)" in text


@pytest.mark.parametrize(("lengths", "message"), [
    ("3,x", "Argument `--lengths` must be whole numbers separated by commas"),
    ("3,1", "Argument `lengths` must be 3 integers in [1, 3], one per sequence"),
    ("3,0,2", "Argument `lengths` must be 3 integers in [1, 3], one per sequence"),
])
def test_cli_refuses_bad_lengths(lengths: str, message: str, tmp_path: Path, capsys) -> None:
    _, _, given, x, _ = _setup("gru", "vanilla", False)
    argv = ["explain", "gru", *_write(tmp_path, params=given, inputs=x.tolist()),
            "--output-activation", "softmax", "--lengths", lengths]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_the_gradient_flow_plot_needs_sequences_of_one_length(tmp_path: Path, capsys) -> None:
    _, _, given, x, targets = _setup("gru", "vanilla", False)
    plot = tmp_path / "flow.png"
    argv = ["explain", "gru", *_write(tmp_path, params=given, inputs=x.tolist(),
                                       targets=targets), "--output-activation", "softmax",
            "--lengths", "3,1,2", "--plot", str(plot)]
    assert main(argv) == 2
    assert "The gradient flow is drawn for sequences of one length" in capsys.readouterr().err
    assert not plot.exists()
