"""Data-parallel training: two Gloo processes under torchrun end with the weights a single
process reaches on the combined batches; and the pieces (sharding, environment) on their own."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import safetensors.torch
import torch
from train_toys import ListSource, ToyLM, stream_batches

from rnnkit.cli import main
from rnnkit.config import TrainConfig
from rnnkit.data.batching import Batch
from rnnkit.data.synthetic import marker_texts, write_table
from rnnkit.tasks.common import ExampleBatches
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


CLI_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import torch

    torch.set_num_threads(1)
    from rnnkit.cli import main

    for argv in json.loads(sys.argv[1]):
        assert main([*argv, "--train.distributed", "true"]) == 0
    """
)


def _task_commands(root: Path, out: str) -> list[list[str]]:
    """``rnnkit train`` for a classifier, a seq2seq model and a language model on tiny files
    whose batches split unevenly over 2 ranks: 5 rows of different lengths, targets whose
    lengths have nothing to do with the sources', and an epoch's last batch (the sixth step)
    and the last validation batch of a single row, which leaves rank 1 nothing. SGD, so that
    equal gradients mean equal weights to float precision; no dropout (the ranks draw their
    own masks)."""
    rng = random.Random(0)

    def pair() -> str:
        source = "".join(rng.choice("abcd") for _ in range(rng.randint(1, 6)))
        return f"{source}\t{rng.choice('xyz') * rng.randint(1, 7)}\n"

    if not (root / "train.csv").exists():
        write_table(root / "train.csv", *marker_texts(26, seed=0))
        write_table(root / "valid.csv", *marker_texts(11, seed=1))
        (root / "train.tsv").write_text("".join(pair() for _ in range(26)), "utf-8")
        (root / "valid.tsv").write_text("".join(pair() for _ in range(11)), "utf-8")
        (root / "corpus.txt").write_text("to be or not to be, that is the question.\n" * 12)
    common = ["--max-steps", "6", "--train.optimizer", "sgd", "--train.lr", "0.5",
              "--train.momentum", "0.9", "--eval-every", "3", "--log-every", "1",
              "--progress", "false", "--train.device", "cpu", "--train.seed", "4"]
    model = ["--model.hidden_size", "8", "--model.embedding_dim", "6", "--model.dropout", "0"]
    tables = ["--data.batch_size", "5", *model, *common]
    return [
        ["train", "classify", "--train", str(root / "train.csv"), "--valid",
         str(root / "valid.csv"), "--out", f"{out}/classify", *tables],
        ["train", "seq2seq", "--train", str(root / "train.tsv"), "--valid",
         str(root / "valid.tsv"), "--out", f"{out}/seq2seq", *tables],
        ["train", "lm", "--text", str(root / "corpus.txt"), "--out", f"{out}/lm",
         "--data.batch_size", "4", "--data.bptt", "8", "--model.num_layers", "1", *model,
         *common],
    ]


def test_two_processes_train_every_task_like_one(tmp_path, capsys) -> None:
    """``rnnkit train TASK --distributed`` under torchrun: a classifier (one loss term per
    example), a seq2seq model (one per target token) and a language model end where one
    process ends on the combined batches; rank 0 alone prints the summary."""
    script = tmp_path / "ddp_cli.py"
    script.write_text(CLI_SCRIPT)
    commands = json.dumps(_task_commands(tmp_path, str(tmp_path / "ddp")))
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "2", str(script), commands],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("trained 6 steps") == 3, done.stdout  # rank 0's lines only

    for argv in _task_commands(tmp_path, str(tmp_path / "one")):
        assert main(argv) == 0
    capsys.readouterr()
    for task in ("classify", "seq2seq", "lm"):
        one = safetensors.torch.load_file(tmp_path / "one" / task / "model.safetensors")
        two = safetensors.torch.load_file(tmp_path / "ddp" / task / "model.safetensors")
        assert one.keys() == two.keys()
        for name, value in one.items():
            torch.testing.assert_close(two[name], value, rtol=0, atol=1e-6, msg=f"{task} {name}")
        rows_one = read_metrics(tmp_path / "one" / task / "metrics.csv")
        rows_two = read_metrics(tmp_path / "ddp" / task / "metrics.csv")
        assert [(r["step"], r["split"]) for r in rows_one] == [
            (r["step"], r["split"]) for r in rows_two
        ]
        for a, b in zip(rows_one, rows_two, strict=True):
            assert a["loss"] == pytest.approx(b["loss"], abs=1e-5), (task, a["step"])


def test_shard_batch_weighs_each_part_by_what_its_rows_count() -> None:
    ranks = [DistributedContext(rank=r, world_size=2) for r in (0, 1)]
    lengths = torch.tensor([3, 3, 1, 1])
    # a classifier's batch: one loss term per row, whatever the lengths
    examples = next(iter(ExampleBatches([[1, 2, 3], [4, 5, 6], [7], [8]], labels=[0, 1, 0, 1],
                                        batch_size=4)))
    assert [shard_batch(examples, ctx).num_tokens for ctx in ranks] == [2, 2]
    # a seq2seq batch: the loss counts target tokens, not the source lengths
    pairs = Batch(inputs=torch.zeros(4, 3), lengths=lengths, targets=torch.zeros(4, 5),
                  row_tokens=torch.tensor([1, 1, 5, 5]))
    assert [shard_batch(pairs, ctx).num_tokens for ctx in ranks] == [2, 10]
    # without row_tokens: lengths, then T per row, then an even share per row
    assert [shard_batch(Batch(inputs=torch.zeros(4, 3), lengths=lengths), ctx).num_tokens
            for ctx in ranks] == [6, 2]
    assert [shard_batch(Batch(inputs=torch.zeros(4, 3), lengths=lengths, num_tokens=4),
                        ctx).num_tokens for ctx in ranks] == [2, 2]
    with pytest.raises(ValueError, match=r"num_tokens=7, which neither its lengths nor its "
                       r"shape \(4, 3\) account for.*give Batch.row_tokens"):
        shard_batch(Batch(inputs=torch.zeros(4, 3), lengths=lengths, num_tokens=7), ranks[0])
    with pytest.raises(ValueError, match=r"`num_tokens` \(3\) must equal the sum of"):
        Batch(inputs=torch.zeros(4, 3), num_tokens=3, row_tokens=torch.ones(4))


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
    # fewer rows than ranks: the last ranks get an empty part that weighs nothing
    parts = [shard_batch(batch, DistributedContext(rank=r, world_size=8)) for r in range(8)]
    assert [p.batch_size for p in parts] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert [p.num_tokens for p in parts] == [3, 3, 2, 1, 1, 0, 0, 0]
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
