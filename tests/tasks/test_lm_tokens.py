"""`rnnkit train lm --tokens DIR`: a language model trained from the memory-mapped token
directory `rnnkit data prepare` writes -- the same run as from the text when the vocabulary is
the same, resumable, and a directory that is not one is refused before anything is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import safetensors.torch
import torch

from rnnkit.cli import main
from rnnkit.data.vocab import Vocabulary
from rnnkit.train.metrics import read_metrics

TEXT = "to be or not to be, that is the question.\nwhether 'tis nobler in the mind\n" * 12
SMALL = ["--data.batch_size", "4", "--data.bptt", "10", "--model.hidden_size", "16",
         "--model.embedding_dim", "8", "--model.num_layers", "1", "--seed", "3",
         "--eval-every", "3", "--log-every", "1", "--progress", "false"]


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rnnkit.train.trainer.plot_metrics", lambda *args, **kwargs: [])


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def _losses(run: Path) -> list[tuple[int, str, float]]:
    return [(r["step"], r["split"], r["loss"]) for r in read_metrics(run / "metrics.csv")]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(run / "model.safetensors")


def test_training_from_the_prepared_directory_equals_training_from_the_text(
    tmp_path, corpus, capsys
) -> None:
    text_run, token_run = tmp_path / "from_text", tmp_path / "from_tokens"
    assert main(["train", "lm", "--text", str(corpus), "--out", str(text_run),
                 "--max-steps", "6", *SMALL]) == 0
    vocab_json = tmp_path / "vocab.json"
    config = json.loads((text_run / "config.json").read_text())
    Vocabulary.from_dict(config["vocab"]).save(vocab_json)
    tokens = tmp_path / "tokens"
    assert main(["data", "prepare", str(corpus), "--out", str(tokens),
                 "--vocab", str(vocab_json)]) == 0
    assert main(["train", "lm", "--tokens", str(tokens), "--out", str(token_run),
                 "--max-steps", "6", *SMALL]) == 0
    assert "trained 6 steps" in capsys.readouterr().out

    assert _losses(token_run) == _losses(text_run)
    assert len(_losses(text_run)) == 6 + 2  # a training row per step, 2 evaluations
    saved = json.loads((token_run / "config.json").read_text())
    assert saved["run"]["data"]["tokens"] == str(tokens) and saved["run"]["data"]["text"] == ""
    assert saved["vocab"] == config["vocab"]

    # both resume, and still agree
    for run in (text_run, token_run):
        assert main(["train", "lm", "--resume", str(run), "--max-steps", "9"]) == 0
    assert json.loads((token_run / "trainer_state.json").read_text())["step"] == 9
    assert _losses(token_run) == _losses(text_run)
    a, b = _weights(text_run), _weights(token_run)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_word_level_directory_brings_its_vocabulary_and_level(tmp_path, corpus, capsys) -> None:
    tokens = tmp_path / "words"
    assert main(["data", "prepare", str(corpus), "--out", str(tokens), "--level", "word"]) == 0
    run = tmp_path / "run"
    assert main(["train", "lm", "--tokens", str(tokens), "--out", str(run), "--max-steps", "2",
                 *SMALL]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["run"]["data"]["level"] == "word"  # from the directory, not the default
    vocab = Vocabulary.from_dict(config["vocab"])
    assert vocab.level == "word" and "<eos>" in vocab.stoi and "question." in vocab.stoi
    capsys.readouterr()
    assert main(["eval", str(run), str(corpus), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] > 0


def test_a_directory_that_is_no_token_file_is_refused_in_one_sentence(
    tmp_path, corpus, capsys
) -> None:
    prepared = tmp_path / "prepared"
    assert main(["data", "prepare", str(corpus), "--out", str(prepared)]) == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "meta.json").write_text('{"format": "nanogpt"}', encoding="utf-8")
    out = tmp_path / "out"
    cases = [
        (["--tokens", str(tmp_path / "nowhere")],
         rf"Setting `data.tokens` \(--tokens\) directory '{tmp_path / 'nowhere'}' does not "
         r"exist\."),
        (["--tokens", str(tmp_path)], r"directory '.*' holds no token file: meta\.json is "
         r"missing \(run `rnnkit data prepare` first\)\."),
        (["--tokens", str(foreign)], r"--tokens\) directory '.*foreign' holds a meta\.json "
         r"that is not rnnkit token metadata\."),
        (["--tokens", str(corpus)], r"--tokens\) directory '.*corpus\.txt' is a file; expected "
         r"the directory `rnnkit data prepare` writes\."),
        (["--text", str(prepared)], rf"Setting `data.text` \(--text\) expects a text file, got "
         rf"the directory '{prepared}'; to train on its prepared tokens give it as --tokens "
         r"DIR\."),
        (["--text", str(corpus), "--tokens", str(prepared)],
         r"Settings `data.text` and `data.tokens` do not combine"),
        (["--tokens", str(prepared), "--data.max_vocab", "10"],
         r"Settings `data.max_vocab` and `data.min_freq` do not apply to `data.tokens`"),
    ]
    capsys.readouterr()
    for options, message in cases:
        assert main(["train", "lm", *options, "--out", str(out), *SMALL]) == 2, options
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith("rnnkit train: error: ") and err.strip().endswith("."), err
        assert re.search(message, err), (message, err)
        assert not out.exists(), options
