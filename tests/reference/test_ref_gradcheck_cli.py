"""``rnnkit gradcheck``: a table per tensor and the exit status."""

from __future__ import annotations

import pytest

from rnnkit.cli import main


@pytest.mark.parametrize("argv", [
    ["lstm", "--layers", "2", "--bidirectional", "--layer-norm"],
    ["rnn", "--nonlinearity", "relu", "--loss", "ce", "--truncate", "2"],
    ["jordan", "--output-activation", "softmax", "--many-to-one", "--seed", "3"],
])
def test_passes_and_prints_a_table(argv: list[str], capsys) -> None:
    assert main(["gradcheck", *argv, "--steps", "3", "--hidden-size", "3"]) == 0
    out = capsys.readouterr().out
    assert "max rel error" in out and "inputs" in out and "initial_state[" in out
    assert "FAIL" not in out


def test_fails_with_status_one_below_a_tolerance_no_check_can_meet(capsys) -> None:
    assert main(["gradcheck", "gru", "--tolerance", "1e-30", "--steps", "2"]) == 1
    assert "FAIL (tolerance 1e-30)" in capsys.readouterr().out


def test_bad_options_are_usage_errors(capsys) -> None:
    assert main(["gradcheck", "rnn", "--layer-norm"]) == 2
    assert "`layer_norm=True` is defined for cells" in capsys.readouterr().err
    assert main(["gradcheck", "lstm", "--layers", "0"]) == 2
    assert "`--layers` must be a positive integer" in capsys.readouterr().err
