"""Data-parallel training: two Gloo processes under torchrun end with the weights a single
process reaches on the combined batches; and the pieces (sharding, environment) on their own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import safetensors.torch
import torch
from train_toys import ListSource, ToyLM, stream_batches

from rnnkit.config import TrainConfig
from rnnkit.data.batching import Batch
from rnnkit.train import Trainer
from rnnkit.train.distributed import DistributedContext, init_distributed, shard_batch
from rnnkit.train.metrics import read_metrics

SCRIPT = textwrap.dedent(
    """
    import json
    import os
    import sys

    sys.path.insert(0, {toys!r})
    import torch

    torch.set_num_threads(1)
    from train_toys import ListSource, ToyLM, stream_batches

    from rnnkit.config import TrainConfig
    from rnnkit.train import Trainer

    run_dir = sys.argv[1]
    rank = int(os.environ["RANK"])
    torch.manual_seed(rank)  # different inits: the trainer broadcasts rank 0's
    model = ToyLM()
    config = TrainConfig(**json.loads(sys.argv[2]))
    train = ListSource(stream_batches(3, rows=4), shuffle=False)
    val = ListSource(stream_batches(2, rows=4, seed=5), shuffle=False)
    Trainer(model, train, config, run_dir, val_data=val, model_name="toy").fit()
    with open(os.path.join(os.path.dirname(run_dir), f"rank{{rank}}.json"), "w") as handle:
        json.dump({{"rows": model.rows_seen}}, handle)
    """
)
SETTINGS = {
    "optimizer": "sgd",
    "lr": 0.5,
    "momentum": 0.9,
    "max_steps": 5,
    "eval_every": 2,
    "log_every": 1,
    "progress": False,
    "device": "cpu",
}


def test_two_processes_match_one_on_the_combined_batch(tmp_path) -> None:
    script = tmp_path / "ddp_script.py"
    script.write_text(SCRIPT.format(toys=str(Path(__file__).parent)))
    settings = json.dumps({**SETTINGS, "distributed": True})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    done = subprocess.run(
        [*command, str(script), str(tmp_path / "ddp"), settings],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    torch.manual_seed(0)
    model = ToyLM()
    train = ListSource(stream_batches(3, rows=4), shuffle=False)
    val = ListSource(stream_batches(2, rows=4, seed=5), shuffle=False)
    Trainer(model, train, TrainConfig(**SETTINGS), tmp_path / "one", val_data=val).fit()

    ddp = safetensors.torch.load_file(tmp_path / "ddp" / "model.safetensors")
    for name, value in model.state_dict().items():
        torch.testing.assert_close(ddp[name], value, rtol=0, atol=1e-6, msg=name)
    # Each rank trained on its half of the rows (2 of 4).
    for rank in (0, 1):
        rows = json.loads((tmp_path / f"rank{rank}.json").read_text())["rows"]
        assert rows == [2] * 5
    # Losses were averaged over both ranks: the logs match the single process.
    one = read_metrics(tmp_path / "one" / "metrics.csv")
    two = read_metrics(tmp_path / "ddp" / "metrics.csv")
    assert [(r["step"], r["split"]) for r in one] == [(r["step"], r["split"]) for r in two]
    for a, b in zip(one, two, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    # The carried state of both ranks is in the checkpoint.
    stream = safetensors.torch.load_file(tmp_path / "ddp" / "stream_state.safetensors")
    assert sorted(stream) == ["r0/0", "r0/1", "r1/0", "r1/1"]


def test_shard_batch_splits_rows() -> None:
    batch = Batch(
        inputs=torch.arange(15).view(5, 3),
        targets=torch.arange(15).view(5, 3),
        lengths=torch.tensor([3, 3, 2, 1, 1]),
    )
    first = shard_batch(batch, DistributedContext(rank=0, world_size=2))
    second = shard_batch(batch, DistributedContext(rank=1, world_size=2))
    assert first.inputs.shape == (3, 3) and second.inputs.shape == (2, 3)
    assert (first.num_tokens, second.num_tokens) == (8, 2)
    assert shard_batch(batch, DistributedContext()) is batch
    with pytest.raises(
        ValueError, match=re.escape("expects at least one row per process (8), got 5 rows.")
    ):
        shard_batch(batch, DistributedContext(rank=0, world_size=8))
    stream = Batch(inputs=torch.zeros(3, 2), stream=True)
    with pytest.raises(ValueError, match="whose 3 rows must divide evenly over 2 processes"):
        shard_batch(stream, DistributedContext(rank=0, world_size=2))


def test_distributed_without_torchrun_is_explained(tmp_path, monkeypatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        ValueError,
        match="RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set; "
        "launch with `torchrun",
    ):
        init_distributed("cpu")
    with pytest.raises(ValueError, match="launch with `torchrun"):
        Trainer(
            ToyLM(),
            ListSource(stream_batches(1)),
            TrainConfig(max_steps=1, distributed=True),
            tmp_path,
        )
