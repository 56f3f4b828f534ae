"""Configuration: TOML/JSON files, command-line overrides, type checks, unknown keys."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from typing import Literal

import pytest

from rnnkit.config import (
    TrainConfig,
    add_config_arguments,
    apply_overrides,
    config_from_args,
    config_from_dict,
    field_help,
    load_config,
    save_config,
)


@dataclass
class DataSection:
    path: str = "corpus.txt"  # text file to train on
    bptt: int = 35  # truncation length
    sizes: tuple[int, ...] = (64, 64)  # hidden sizes per layer


@dataclass
class RunConfig:
    name: str = "run"  # run name
    cell: Literal["lstm", "gru"] = "lstm"  # recurrent cell
    dropout: float | None = None  # dropout, or none
    data: DataSection = field(default_factory=DataSection)  # data options
    train: TrainConfig = field(default_factory=TrainConfig)  # training options


def test_overrides_convert_each_type() -> None:
    cfg = apply_overrides(
        TrainConfig(),
        ["--lr", "0.01", "--schedule=cosine", "--max-steps", "7", "--progress", "false"],
    )
    assert (cfg.lr, cfg.schedule, cfg.max_steps, cfg.progress) == (0.01, "cosine", 7, False)
    assert TrainConfig().lr == 1e-3  # the original is untouched
    # A boolean written bare means true.
    flags = apply_overrides(TrainConfig(), ["--distributed", "--lr", "0.5", "--progress"])
    assert (flags.distributed, flags.lr, flags.progress) == (True, 0.5, True)


def test_dotted_keys_reach_sections() -> None:
    cfg = apply_overrides(
        RunConfig(),
        ["--train.lr", "0.5", "--data.bptt", "10", "--data.sizes", "8,16,32", "--dropout", "0.2"],
    )
    assert cfg.train.lr == 0.5 and cfg.data.bptt == 10 and cfg.data.sizes == (8, 16, 32)
    assert cfg.dropout == 0.2
    assert apply_overrides(cfg, {"dropout": "none"}).dropout is None
    assert apply_overrides(cfg, ["--data.sizes", "[1, 2]"]).data.sizes == (1, 2)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--lr", "abc"], "Option `lr` expects a float, got 'abc'."),
        (["--max_steps", "1.5"], "Option `max_steps` expects an integer, got '1.5'."),
        (
            ["--progress", "maybe"],
            "Option `progress` expects a boolean (true or false), got 'maybe'.",
        ),
        (
            ["--optimizer", "rmsprop"],
            "Option `optimizer` expects one of adam, adamw, sgd, got 'rmsprop'.",
        ),
        (["--lr", "-1"], "Option `lr` expects a positive float, got -1.0."),
        (["--lr"], "Option `lr` expects a value, got nothing."),
        (["--lr", "--seed", "1"], "Option `lr` expects a value, got nothing."),
        (["lr", "1"], "Expected an option like `--key value`, got 'lr'."),
    ],
)
def test_bad_values_are_named(words: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        apply_overrides(TrainConfig(), words)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--train.lr", "-1"], "Option `train.lr` expects a positive float, got -1.0."),
        (
            ["--train.max_steps", "0", "--train.max_epochs", "0"],
            "Options `train.max_steps`, `train.max_epochs` and `train.max_time` are all 0",
        ),
        (["--train.min_lr", "1"], "Option `train.min_lr` expects a value <= lr (0.001), got 1.0."),
    ],
)
def test_a_section_s_range_errors_name_the_key_as_given(words: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        apply_overrides(RunConfig(), words)
    with pytest.raises(ValueError, match=re.escape(message)):  # the same from a file's table
        config_from_dict(RunConfig, {"train": {
            key.removeprefix("--train."): json.loads(value)
            for key, value in zip(words[::2], words[1::2], strict=True)}})


def test_unknown_keys_list_the_valid_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"Unknown option `lrr` \(did you mean `lr`\?\); valid options are: "
        r"optimizer, lr, momentum,",
    ):
        apply_overrides(TrainConfig(), ["--lrr", "1"])
    with pytest.raises(ValueError, match=r"Unknown option `train.lrr`.*train\.lr, train\.momentum"):
        apply_overrides(RunConfig(), ["--train.lrr", "1"])
    # A section field needs its section: `--lr` is not a key of RunConfig.
    with pytest.raises(ValueError, match=r"Unknown option `lr` \(did you mean `train.lr`\?\)"):
        apply_overrides(RunConfig(), ["--lr", "1"])
    with pytest.raises(ValueError, match=re.escape("Unknown option `train`")):
        apply_overrides(RunConfig(), ["--train", "1"])
    with pytest.raises(
        ValueError, match=re.escape("Unknown option `model`; valid options are: name, cell")
    ):
        config_from_dict(RunConfig, {"model": {"size": 1}})


def test_files_load_with_sections_and_are_checked(tmp_path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('name = "x"\n[train]\nlr = 0.1\nmax_steps = 3\n[data]\nsizes = [4, 5]\n')
    cfg = load_config(RunConfig, toml)
    assert (cfg.name, cfg.train.lr, cfg.train.max_steps, cfg.data.sizes) == ("x", 0.1, 3, (4, 5))
    assert cfg.train.optimizer == "adam"  # untouched fields keep their defaults

    js = tmp_path / "run.json"
    js.write_text(json.dumps({"train": {"lr": 1}}))
    assert load_config(RunConfig, js).train.lr == 1.0

    (tmp_path / "bad.toml").write_text("[train]\nlr = 'fast'\n")
    with pytest.raises(
        ValueError, match=re.escape("Option `train.lr` expects a float, got 'fast'.")
    ):
        load_config(RunConfig, tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text("[train]\nmax_step = 3\n")
    with pytest.raises(
        ValueError, match=r"Unknown option `train.max_step` \(did you mean `train.max_steps`\?\)"
    ):
        load_config(RunConfig, tmp_path / "typo.toml")
    (tmp_path / "broken.toml").write_text("[train\n")
    with pytest.raises(ValueError, match=re.escape("is not valid TOML")):
        load_config(RunConfig, tmp_path / "broken.toml")
    (tmp_path / "int.toml").write_text("[train]\nmax_steps = 2.5\n")
    with pytest.raises(
        ValueError, match=re.escape("Option `train.max_steps` expects an integer, got 2.5.")
    ):
        load_config(RunConfig, tmp_path / "int.toml")
    with pytest.raises(FileNotFoundError, match=re.escape("does not exist")):
        load_config(RunConfig, tmp_path / "missing.toml")
    (tmp_path / "run.yaml").write_text("a: 1\n")
    with pytest.raises(ValueError, match=re.escape("must end in .toml or .json, got '.yaml'")):
        load_config(RunConfig, tmp_path / "run.yaml")


def test_argparse_layers_defaults_file_and_options(tmp_path) -> None:
    parser = argparse.ArgumentParser(prog="rnnkit train lm")
    add_config_arguments(parser, RunConfig)
    text = parser.format_help()
    assert "--train.lr FLOAT" in text
    assert "peak learning rate" in text and "default: 0.001" in text
    assert "--cell {lstm,gru}" in text and "--data.bptt INT" in text

    (tmp_path / "run.toml").write_text("[train]\nlr = 0.1\nmax_steps = 9\n")
    args = parser.parse_args(["--config", str(tmp_path / "run.toml"), "--train.lr", "0.2"])
    cfg = config_from_args(RunConfig, args, base={"name": "base", "train": {"max_steps": 4}})
    # defaults < base < file < command line
    assert (cfg.name, cfg.train.max_steps, cfg.train.lr) == ("base", 9, 0.2)

    flag = parser.parse_args(["--train.distributed"])
    assert config_from_args(RunConfig, flag).train.distributed is True

    bad = parser.parse_args(["--train.lr", "abc"])
    with pytest.raises(
        ValueError, match=re.escape("Option `train.lr` expects a float, got 'abc'.")
    ):
        config_from_args(RunConfig, bad)


def test_save_config_round_trips(tmp_path) -> None:
    cfg = apply_overrides(
        RunConfig(), ["--train.lr", "0.25", "--data.sizes", "3,4", "--dropout", "0.1"]
    )
    paths = save_config(cfg, tmp_path)
    assert [p.name for p in paths] == ["run_config.json", "run_config.toml"]
    assert load_config(RunConfig, tmp_path / "run_config.json") == cfg
    assert load_config(RunConfig, tmp_path / "run_config.toml") == cfg
    # A None value has no TOML spelling: JSON alone is written.
    with_none = apply_overrides(cfg, {"dropout": None})
    assert [p.name for p in save_config(with_none, tmp_path / "n")] == ["run_config.json"]


def test_train_config_ranges() -> None:
    with pytest.raises(
        ValueError, match=re.escape("Options `max_steps`, `max_epochs` and `max_time` are all 0")
    ):
        TrainConfig(max_epochs=0)
    with pytest.raises(ValueError, match=r"Option `gamma` expects a float in \(0, 1\), got 1.5."):
        TrainConfig(gamma=1.5)
    with pytest.raises(
        ValueError, match=re.escape("Option `mode` expects one of min, max, got 'up'.")
    ):
        TrainConfig(mode="up")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"Option `min_lr` expects a value <= lr \(0.001\), got 0.5."
    ):
        TrainConfig(min_lr=0.5)
    assert TrainConfig(max_epochs=0, max_time=5.0).max_time == 5.0


@pytest.mark.parametrize(("options", "message"), [
    ({"progress": "yes"}, "Option `progress` expects a boolean (true or false), got 'yes'."),
    ({"max_epochs": True}, "Option `max_epochs` expects an integer, got True."),
    ({"warmup_steps": 2.5}, "Option `warmup_steps` expects an integer, got 2.5."),
    ({"patience": None}, "Option `patience` expects an integer, got None."),
    ({"lr": "0.1"}, "Option `lr` expects a float, got '0.1'."),
])
def test_train_config_built_in_python_checks_each_type(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        TrainConfig(**options)  # type: ignore[arg-type]
    assert TrainConfig(lr=1, max_time=60).lr == 1  # an int is a float option's value


def test_field_help_reads_comments() -> None:
    helps = field_help(RunConfig)
    assert helps["cell"] == "recurrent cell"
    assert helps["train"] == "training options"
    assert field_help(TrainConfig)["clip_norm"].startswith("rescale gradients")


def test_override_order_does_not_matter_for_checks_across_fields() -> None:
    """``max_epochs = 0`` alone leaves no limit; with ``max_time`` in the same call it is fine."""
    for words in (
        ["--max-epochs", "0", "--max-time", "5"],
        ["--max-time", "5", "--max-epochs", "0"],
    ):
        config = apply_overrides(TrainConfig(), words)
        assert (config.max_epochs, config.max_time) == (0, 5.0)
    with pytest.raises(ValueError, match="are all 0"):
        apply_overrides(TrainConfig(), ["--max-epochs", "0"])
