"""`rnnkit train regress` → `predict` → `eval`, end to end on a tiny series, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.data.synthetic import delayed_sum_series, write_series
from rnnkit.tasks import load_run
from rnnkit.tasks.regress import RegressData, make_examples, parse_window

QUIET = ["--train.progress", "false"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("regress")
    # y[t] = x[t-1] + x[t-2]: the next y is known from the past window of x
    write_series(root / "train.csv", delayed_sum_series(600, delay=1, span=2, seed=0), ["x", "y"])
    write_series(root / "test.csv", delayed_sum_series(120, delay=1, span=2, seed=1), ["x", "y"])
    return root


@pytest.fixture(scope="module")
def trained(files: Path) -> Path:
    run = files / "run"
    argv = ["train", "regress", "--train", str(files / "train.csv"), "--out", str(run),
            "--max-steps", "150", "--train.lr", "0.01", "--model.hidden_size", "16",
            "--data.window", "6", "--data.target_columns", "y", *QUIET]
    assert main(argv) == 0
    return run


def test_train_predict_eval_end_to_end(trained: Path, files: Path, capsys) -> None:
    capsys.readouterr()
    config = json.loads((trained / "config.json").read_text())
    assert config["model"]["name"] == "sequence_regressor"
    assert config["run"]["data"]["input_columns"] == ["x", "y"]
    assert config["run"]["data"]["target_columns"] == ["y"]

    window = "0.1 0; 0.2 0.1; -0.3 0.3; 0.5 -0.1; 0.1 0.2; 0.4 0.6"
    assert main(["predict", str(trained), window, "--json"]) == 0
    prediction = json.loads(capsys.readouterr().out)
    assert prediction["input"] == window
    # next y = the last two x: 0.4 + 0.1
    assert prediction["forecast"]["y"] == [pytest.approx(0.5, abs=0.1)]

    assert main(["predict", str(trained), window]) == 0
    assert capsys.readouterr().out.startswith("y: 0.")

    assert main(["eval", str(trained), str(files / "test.csv"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["windows"] == 120 - 6 - 1 + 1
    assert metrics["rmse"] == pytest.approx(metrics["mse"] ** 0.5)
    assert metrics["mse"] < 0.03  # the target's variance is 2/3


def test_checkpoint_holds_the_standardization_fitted_on_training_data(trained: Path) -> None:
    model = load_run(trained).model
    assert model.config.standardize_inputs and model.config.standardize_targets
    # fitted on the first 80% of the training series (the rest is validation)
    values = delayed_sum_series(600, delay=1, span=2, seed=0)[:480]
    assert model.input_mean.tolist() == pytest.approx(values.mean(0).tolist(), abs=0.02)
    assert model.target_std.item() == pytest.approx(values[:, 1].std(), rel=0.05)


def test_wrong_feature_count_and_bad_windows_are_refused(trained: Path, files: Path,
                                                         capsys) -> None:
    capsys.readouterr()
    assert main(["predict", str(trained), "1 2 3"]) == 2
    assert ("step 1 has 3 value(s), expected 2 (one per input column: x, y"
            in capsys.readouterr().err)
    assert main(["predict", str(trained), "1 2; 3 nan"]) == 2
    assert "holds NaN or inf" in capsys.readouterr().err
    write_series(files / "short.csv", np.zeros((5, 2)), ["x", "y"])
    assert main(["eval", str(trained), str(files / "short.csv")]) == 2
    assert "has 5 steps; window = 6 and horizon = 1 need at least 7" in capsys.readouterr().err
    write_series(files / "other.csv", np.zeros((20, 2)), ["x", "z"])
    assert main(["eval", str(trained), str(files / "other.csv")]) == 2
    assert "has no column 'y'" in capsys.readouterr().err


def test_per_step_outputs_and_a_longer_horizon(files: Path, capsys) -> None:
    run = files / "per_step"
    argv = ["train", "regress", "--train", str(files / "train.csv"), "--out", str(run),
            "--max-steps", "2", "--data.many-to-one", "false", "--data.window", "5",
            "--data.horizon", "2", "--data.input-columns", "x", "--target-columns", "y",
            "--model.cell", "gru", "--model.loss", "mae", *QUIET]
    assert main(argv) == 0
    # dashes stand for underscores in keys, the bare --target-columns for data.target_columns
    data = json.loads((run / "config.json").read_text())["run"]["data"]
    assert (data["many_to_one"], data["input_columns"], data["target_columns"]) == (
        False, ["x"], ["y"]
    )
    capsys.readouterr()
    assert main(["predict", str(run), "0.1, 0.2, 0.3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["forecast"]["y"]) == 3  # one per step


def test_make_examples_and_parse_window() -> None:
    series = np.arange(14.0).reshape(7, 2)  # columns a = 0, 2, 4, ...; b = 1, 3, 5, ...
    x, y = make_examples(series, [0], [1], RegressData(window=3, horizon=2))
    assert x[:, :, 0].tolist() == [[0, 2, 4], [2, 4, 6], [4, 6, 8]]
    assert y.tolist() == [[7, 9], [9, 11], [11, 13]]
    x, y = make_examples(series, [0], [1], RegressData(window=3, horizon=2, many_to_one=False))
    assert y[:, :, 0].tolist() == [[5, 7, 9], [7, 9, 11], [9, 11, 13]]
    assert parse_window("1,2, 3", ["v"]).tolist() == [[1.0], [2.0], [3.0]]
    with pytest.raises(ValueError, match=r"holds a value that is not a number"):
        parse_window("1 two", ["v"])
    with pytest.raises(ValueError, match=r"separate steps with ';'"):
        parse_window("1 2 3", ["a", "b"])
