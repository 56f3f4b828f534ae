"""Checkpoints: round trip, atomic install and recovery, and every kind of bad checkpoint."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import safetensors.torch
import torch
from torch import nn
from train_toys import ListSource, ToyLM, stream_batches

from rnnkit.config import TrainConfig
from rnnkit.train import CheckpointError, Trainer, load_model, read_checkpoint
from rnnkit.train import checkpoint as ckpt


@pytest.fixture
def run(tmp_path):
    """A run directory with a checkpoint after 3 Adam steps on a stream (state carried)."""
    torch.manual_seed(0)
    model = ToyLM()
    cfg = TrainConfig(lr=0.01, max_steps=3, progress=False)
    trainer = Trainer(
        model,
        ListSource(stream_batches(4), shuffle=False),
        cfg,
        tmp_path / "run",
        model_name="toy",
        vocab={"tokens": ["a", "b"]},
    )
    trainer.fit()
    return tmp_path / "run", model, trainer


def test_round_trip(run) -> None:
    path, model, trainer = run
    checkpoint = read_checkpoint(path)
    assert checkpoint.config["model"] == {"name": "toy", "config": model.config_dict()}
    assert checkpoint.config["vocab"] == {"tokens": ["a", "b"]}
    assert checkpoint.config["train"]["max_steps"] == 3
    assert checkpoint.config["rnnkit_version"] and checkpoint.config["format_version"] == 1
    state = checkpoint.trainer_state
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (3, 0, 3)
    assert len(state["rng"]["torch"]) == 1 and isinstance(state["rng"]["torch"][0], str)
    for name, value in model.state_dict().items():
        assert torch.equal(checkpoint.model_state[name], value), name
    # The carried LSTM state (h, c) is saved exactly.
    restored = ckpt.tensors_to_tree(
        state["stream_state"],
        {k[3:]: v for k, v in checkpoint.stream_tensors.items() if k.startswith("r0/")},
    )
    assert isinstance(restored, tuple) and len(restored) == 2
    assert all(torch.equal(a, b) for a, b in zip(restored, trainer.stream_state, strict=True))
    # The optimizer state loads back into a fresh Adam and equals the original.
    fresh = torch.optim.Adam(ToyLM().parameters(), lr=0.01)
    ckpt.load_optimizer_state(fresh, checkpoint.optimizer_state, kind="Adam")
    original = trainer.optimizer.state_dict()["state"]
    for index, entry in fresh.state_dict()["state"].items():
        for key, value in entry.items():
            assert torch.equal(value, original[index][key]), (index, key)
    assert not list(path.glob(".checkpoint*"))


def test_tied_weights_are_stored_once_and_stay_tied(tmp_path) -> None:
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(5, 3)
            self.decoder = nn.Linear(3, 5)
            self.decoder.weight = self.embedding.weight

    model = Tied()
    ckpt.save_checkpoint(
        tmp_path,
        config=ckpt.checkpoint_config(model_name="tied", model_config={}, train_config={}),
        trainer_state={},
        model_state=model.state_dict(),
    )
    stored = safetensors.torch.load_file(tmp_path / ckpt.MODEL_FILE)
    assert "decoder.weight" not in stored and "embedding.weight" in stored
    again = Tied()
    ckpt.load_model_state(again, read_checkpoint(tmp_path).model_state)
    assert torch.equal(again.decoder.weight, model.embedding.weight)
    assert again.decoder.weight is again.embedding.weight


def test_crash_during_install_is_finished_on_read(run, monkeypatch) -> None:
    path, model, trainer = run
    assert read_checkpoint(path).trainer_state["step"] == 3
    trainer.step = 99  # a different checkpoint, to tell old from new
    with torch.no_grad():
        model.decoder.bias.add_(1.0)
    real_replace = ckpt.os.replace
    calls = []

    def crash_after_two(src, dst):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed mid-install")
        calls.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint()
    monkeypatch.setattr(ckpt.os, "replace", real_replace)
    assert (path / ".checkpoint.next").is_dir()
    # A reader that will not write refuses the mixed directory...
    with pytest.raises(CheckpointError, match="holds an interrupted checkpoint install"):
        read_checkpoint(path, recover_install=False)
    # ... the hashes catch the mix even if someone ignores the marker ...
    shutil.copytree(path, path.parent / "copy", ignore=shutil.ignore_patterns(".checkpoint*"))
    with pytest.raises(CheckpointError, match="does not belong to this checkpoint"):
        read_checkpoint(path.parent / "copy")
    # ... and a normal read finishes the install: the new checkpoint, complete.
    assert read_checkpoint(path).trainer_state["step"] == 99
    assert not (path / ".checkpoint.next").exists()


def test_crash_while_writing_leaves_the_old_checkpoint(run) -> None:
    path, _, trainer = run
    tmp = path / ".checkpoint.tmp"
    tmp.mkdir()
    (tmp / ckpt.MODEL_FILE).write_bytes(b"half a fi")
    assert read_checkpoint(path).trainer_state["step"] == 3
    trainer.save_checkpoint()  # the next write starts a fresh temporary directory
    assert not tmp.exists() and read_checkpoint(path).trainer_state["step"] == 3


def _truncate(path) -> None:
    data = (path / ckpt.MODEL_FILE).read_bytes()
    (path / ckpt.MODEL_FILE).write_bytes(data[: len(data) // 2])


def _foreign_config(path) -> None:
    (path / ckpt.CONFIG_FILE).write_text(
        json.dumps({"architectures": ["BertModel"], "hidden_size": 768})
    )


def _future_version(path) -> None:
    config = json.loads((path / ckpt.CONFIG_FILE).read_text())
    config["format_version"] = 99
    (path / ckpt.CONFIG_FILE).write_text(json.dumps(config))


def _not_json(path) -> None:
    (path / ckpt.STATE_FILE).write_bytes(b"\x80\x04pickle?")


def _foreign_safetensors(path) -> None:
    safetensors.torch.save_file({"w": torch.zeros(2)}, path / ckpt.OPTIMIZER_FILE)


def _other_checkpoints_model(path) -> None:
    model = ToyLM()
    ckpt.save_checkpoint(
        path / "other",
        config=ckpt.checkpoint_config(model_name="toy", model_config={}, train_config={}),
        trainer_state={},
        model_state=model.state_dict(),
    )
    shutil.copy(path / "other" / ckpt.MODEL_FILE, path / ckpt.MODEL_FILE)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate, r"model.safetensors is not a valid safetensors file \(truncated or corrupt"),
        (
            lambda p: (p / ckpt.OPTIMIZER_FILE).unlink(),
            r"Checkpoint .*run is missing optimizer.safetensors\.",
        ),
        (lambda p: (p / ckpt.CONFIG_FILE).unlink(), r"Checkpoint .*run is missing config.json\."),
        (
            _foreign_config,
            r"config.json is not an rnnkit checkpoint configuration: expected \"format\": "
            r"\"rnnkit-checkpoint\", found architectures, hidden_size "
            r"\(a file of another program\?\)",
        ),
        (
            _future_version,
            r"config.json has checkpoint format version 99; rnnkit .* reads version 1",
        ),
        (_not_json, r"trainer_state.json is not a JSON file"),
        (
            _foreign_safetensors,
            r"optimizer.safetensors is a safetensors file but not one rnnkit wrote",
        ),
        (_other_checkpoints_model, r"model.safetensors does not belong to this checkpoint"),
    ],
)
def test_bad_checkpoints_are_refused(run, damage, message) -> None:
    path = run[0]
    damage(path)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match=message):
        Trainer(
            ToyLM(),
            ListSource(stream_batches(4), shuffle=False),
            TrainConfig(max_steps=5, progress=False),
            path,
            model_name="toy",
            resume_from=path,
        )


def test_shape_mismatch_and_unknown_model(run, tmp_path) -> None:
    path = run[0]
    with pytest.raises(
        CheckpointError,
        match=re.escape(
            "does not fit the model: `embedding.weight` has shape [7, 8] in the checkpoint "
            "and [7, 4] in the model."
        ),
    ):
        load_model(path, lambda name, config: ToyLM(hidden_size=4))
    with pytest.raises(CheckpointError, match="names the model 'toy'; known models are lm"):
        load_model(path, {"lm": ToyLM})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_checkpoint(tmp_path / "nowhere")
    model, config = load_model(path, ToyLM)
    assert config["model"]["name"] == "toy" and isinstance(model, ToyLM)
    partial = {k: v for k, v in model.state_dict().items() if "decoder" not in k}
    with pytest.raises(CheckpointError, match=r"it lacks decoder\.weight, decoder\.bias\."):
        ckpt.load_model_state(ToyLM(), partial)


def test_optimizer_mismatch_is_refused(run) -> None:
    path = run[0]
    checkpoint = read_checkpoint(path)
    sgd = torch.optim.SGD(ToyLM().parameters(), lr=0.1)
    with pytest.raises(
        CheckpointError, match="holds the state of a Adam optimizer; this run uses SGD"
    ):
        ckpt.load_optimizer_state(sgd, checkpoint.optimizer_state, kind="Adam")
    small = torch.optim.Adam(ToyLM(hidden_size=4).parameters())
    with pytest.raises(
        CheckpointError,
        match=r"optimizer state `exp_avg` of shape \[7, 8\] for a parameter of shape \[7, 4\]",
    ):
        ckpt.load_optimizer_state(small, checkpoint.optimizer_state)
