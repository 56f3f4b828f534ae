"""What the kill-and-resume tests share: read a run's step, kill its process at a step, and
compare two runs' weights and optimizer state bit for bit.

``tests/`` holds the suite's root conftest, so pytest puts it on ``sys.path`` and any test
imports this module as ``resume_checks``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import safetensors.torch
import torch


def trainer_step(run_dir: Path) -> int:
    """The step ``run_dir``'s last checkpoint was taken at; -1 before the first one."""
    try:
        return int(json.loads((run_dir / "trainer_state.json").read_text())["step"])
    except (FileNotFoundError, ValueError, KeyError):
        return -1


def kill_after_step(proc: subprocess.Popen, run_dir: Path, step: int, delay: float,
                    context: str) -> str:
    """SIGKILL ``proc`` ``delay`` seconds after its run in ``run_dir`` checkpointed ``step``;
    fail if it made no progress for two minutes or ended on its own. Returns its stderr."""
    deadline = time.monotonic() + 120
    while trainer_step(run_dir) < step and proc.poll() is None:
        assert time.monotonic() < deadline, f"the training made no progress {context}"
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill {context}\n{err}"
    return err


def assert_same_checkpoints(expected_dir: Path, actual_dir: Path, context: str) -> None:
    """The model and optimizer files of two runs hold the same tensors, bit for bit."""
    for name in ("model.safetensors", "optimizer.safetensors"):
        expected = safetensors.torch.load_file(expected_dir / name)
        actual = safetensors.torch.load_file(actual_dir / name)
        assert expected.keys() == actual.keys()
        for key in expected:
            assert torch.equal(expected[key], actual[key]), f"{name}:{key} differs {context}"
