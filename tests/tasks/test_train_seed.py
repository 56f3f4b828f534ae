"""`rnnkit train` is reproducible from the command line: `--seed` fixes the model's initial
weights as well as the training loop, so two identical commands end with identical weights,
and a run killed with SIGKILL and resumed with `--resume` ends like the uninterrupted one."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
from resume_checks import assert_same_checkpoints, kill_after_step

from rnnkit.cli import main
from rnnkit.data.synthetic import marker_texts, write_table
from rnnkit.train.metrics import read_metrics

TEXT = "to be or not to be, that is the question.\n" * 30
LM = ["--data.batch_size", "4", "--data.bptt", "10", "--model.hidden_size", "16",
      "--model.embedding_dim", "8", "--model.num_layers", "1"]
CLASSIFY = ["--model.hidden_size", "8", "--model.embedding_dim", "8", "--data.batch_size", "8",
            "--model.dropout", "0.2", "--data.seed", "1"]


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rnnkit.train.trainer.plot_metrics", lambda *args, **kwargs: [])


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(run / "model.safetensors")


def _argv(task: str, data: Path, out: Path, *extra: str) -> list[str]:
    options = LM if task == "lm" else CLASSIFY
    source = ["--text", str(data)] if task == "lm" else ["--train", str(data)]
    return ["train", task, *source, "--out", str(out), "--max-steps", "4",
            "--progress", "false", *options, *extra]


@pytest.mark.parametrize("task", ["lm", "classify"])
def test_the_same_command_twice_gives_the_same_weights(tmp_path, capsys, task) -> None:
    if task == "lm":
        data = tmp_path / "corpus.txt"
        data.write_text(TEXT, encoding="utf-8")
    else:
        data = tmp_path / "train.csv"
        write_table(data, *marker_texts(40, seed=0))
    for name in ("a", "b"):
        assert main(_argv(task, data, tmp_path / name, "--train.seed", "7")) == 0
    torch.manual_seed(123)  # the global generator's state before a run must not matter
    assert main(_argv(task, data, tmp_path / "c", "--train.seed", "8")) == 0
    capsys.readouterr()

    a, b, c = (_weights(tmp_path / name) for name in "abc")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(not torch.equal(a[key], c[key]) for key in a), "--seed changed nothing"
    # the first logged loss comes from the initial weights: equal only if they were
    first = [read_metrics(tmp_path / name / "metrics.csv")[0]["loss"] for name in "abc"]
    assert first[0] == first[1] != first[2]


def test_sigkill_then_resume_from_the_command_line_is_bit_identical(tmp_path, capsys) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT * 4, encoding="utf-8")
    steps = 16

    def argv(out: Path) -> list[str]:
        return ["train", "lm", "--text", str(corpus), "--out", str(out), "--seed", "5",
                "--max-steps", str(steps), "--checkpoint-every", "1", "--eval-every", "4",
                "--log-every", "2", "--progress", "false", *LM]

    rng = random.Random()
    kill_after = rng.randint(2, steps - 4)
    delay = rng.uniform(0.0, 0.02)
    context = f"(killed after step {kill_after} + {delay:.3f} s)"
    killed = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", *argv(tmp_path / "killed")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert main(argv(tmp_path / "whole")) == 0  # while the other one starts
    kill_after_step(killed, tmp_path / "killed", kill_after, delay, context)
    assert main(["train", "lm", "--resume", str(tmp_path / "killed")]) == 0
    capsys.readouterr()
    assert_same_checkpoints(tmp_path / "whole", tmp_path / "killed", context)

    def logged(run: str) -> list[tuple]:  # all but the timings
        rows = read_metrics(tmp_path / run / "metrics.csv")
        return [(r["step"], r["split"], r["loss"], r["lr"], r.get("grad_norm")) for r in rows]

    assert logged("killed") == logged("whole"), context
    assert len(logged("whole")) == steps // 2 + steps // 4


def test_the_library_fit_seeds_the_initial_weights_too(tmp_path) -> None:
    """rnnkit demo and the recipes call a task's fit directly, not the command: the seed
    must reach the model built there as well."""
    from rnnkit.config import TrainConfig
    from rnnkit.tasks.lm import LMData, LMModel, RunConfig, fit_language_model

    def fit(name: str, seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(1000 + len(name))  # whatever the global generator held before
        config = RunConfig(
            out=str(tmp_path / name),
            data=LMData(batch_size=4, bptt=10),
            model=LMModel(hidden_size=16, embedding_dim=8, num_layers=1),
            train=TrainConfig(max_steps=2, max_epochs=0, progress=False, seed=seed),
        )
        fit_language_model(config, TEXT, run_dir=tmp_path / name)
        return _weights(tmp_path / name)

    a, b, c = fit("a", 3), fit("bb", 3), fit("ccc", 4)
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert any(not torch.equal(a[key], c[key]) for key in a)
