"""A run killed with SIGKILL at a random moment and resumed ends bit-identical to the same run
uninterrupted (same seed, CPU, one thread): dropout makes the RNG matter, a truncated-BPTT
stream makes the carried state matter, and checkpoint_every=1 lets the kill land anywhere --
in a step, in an evaluation, or in the middle of writing or installing a checkpoint."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

from resume_checks import assert_same_checkpoints, kill_after_step, trainer_step

from rnnkit.train.metrics import read_metrics

SCRIPT = textwrap.dedent(
    """
    import sys
    import time

    sys.path.insert(0, {toys!r})
    import torch

    torch.set_num_threads(1)
    from train_toys import ListSource, ToyLM, stream_batches

    from rnnkit.config import TrainConfig
    from rnnkit.train import Trainer


    class Paced(ToyLM):
        def forward_stream(self, inputs, state, targets=None):
            if self.training:
                time.sleep(0.01)  # so that the kill has a running process to land in
            return super().forward_stream(inputs, state, targets)


    run_dir, mode = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    model = Paced(dropout=0.3)
    train = ListSource(stream_batches(6, seed=1), shuffle=False)
    val = ListSource(stream_batches(2, seed=2), shuffle=False)
    config = TrainConfig(
        lr=0.01, max_steps=MAX_STEPS, checkpoint_every=1, eval_every=4, log_every=2, seed=3,
        progress=False,
    )
    resume = run_dir if mode == "resume" else None
    Trainer(model, train, config, run_dir, val_data=val, model_name="toy", resume_from=resume).fit()
    """
)
MAX_STEPS = 20


def _start(script: Path, run_dir: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), str(run_dir), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"training script failed:\n{out}\n{err}"


def test_sigkill_then_resume_is_bit_identical(tmp_path) -> None:
    script = tmp_path / "train_script.py"
    toys = str(Path(__file__).parent)
    script.write_text(SCRIPT.format(toys=toys).replace("MAX_STEPS", str(MAX_STEPS)))
    rng = random.Random()
    kill_after = rng.randint(2, MAX_STEPS - 4)
    extra_delay = rng.uniform(0.0, 0.03)
    context = f"(killed after step {kill_after} + {extra_delay:.3f} s)"

    whole = _start(script, tmp_path / "whole", "fresh")  # runs alongside the killed one
    killed = _start(script, tmp_path / "killed", "fresh")
    kill_after_step(killed, tmp_path / "killed", kill_after, extra_delay, context)
    assert trainer_step(tmp_path / "killed") < MAX_STEPS

    resumed = _start(script, tmp_path / "killed", "resume")
    _finish(resumed)
    _finish(whole)
    assert_same_checkpoints(tmp_path / "whole", tmp_path / "killed", context)

    # The logs agree too: the same training and validation losses at the same steps.
    def losses(run: str) -> list[tuple[int, str, float]]:
        rows = read_metrics(tmp_path / run / "metrics.csv")
        return [(r["step"], r["split"], r["loss"]) for r in rows]

    assert losses("killed") == losses("whole"), context
    assert len(losses("whole")) == MAX_STEPS // 2 + MAX_STEPS // 4
