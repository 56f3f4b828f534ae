"""`rnnkit plot RUN` redraws a run's curves from metrics.csv."""

from __future__ import annotations

from rnnkit.cli import main
from rnnkit.config import TrainConfig
from rnnkit.tasks.lm import LMData, LMModel, RunConfig, fit_language_model


def test_plot_redraws_the_curves_of_a_run(tmp_path, capsys) -> None:
    config = RunConfig(
        data=LMData(batch_size=2, bptt=8),
        model=LMModel(embedding_dim=4, hidden_size=4, num_layers=1, dropout=0.0),
        train=TrainConfig(max_steps=4, max_epochs=0, log_every=1, progress=False),
    )
    fit_language_model(config, "abcd efgh " * 20, run_dir=tmp_path / "run")
    out = tmp_path / "again"
    assert main(["plot", str(tmp_path / "run"), "--out", str(out), "--window", "2"]) == 0
    printed = capsys.readouterr().out.split()
    assert str(out / "loss.png") in printed
    assert (out / "loss.png").stat().st_size > 1000
    assert main(["plot", str(tmp_path / "run"), "--window", "0"]) == 2
    assert "`window` expects a positive integer" in capsys.readouterr().err


def test_plot_refuses_a_directory_without_metrics(tmp_path, capsys) -> None:
    assert main(["plot", str(tmp_path)]) == 2
    assert "must be a run directory holding metrics.csv" in capsys.readouterr().err
