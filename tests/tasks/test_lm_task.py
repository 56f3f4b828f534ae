"""`rnnkit train lm`, `rnnkit demo` and resume, end to end through the command line."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli import main
from rnnkit.tasks.lm import LMData, encode_corpus

TEXT = "to be or not to be, that is the question.\n" * 30


def test_train_lm_then_resume_continues_the_run(tmp_path, capsys) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    run = tmp_path / "run"
    common = [
        "--data.batch_size",
        "4",
        "--data.bptt",
        "10",
        "--model.hidden_size",
        "16",
        "--model.embedding_dim",
        "8",
        "--model.num_layers",
        "1",
        "--progress",
        "false",
    ]
    code = main(
        [
            "train",
            "lm",
            "--text",
            str(corpus),
            "--out",
            str(run),
            "--max-steps",
            "6",
            "--max-epochs",
            "0",
            *common,
        ]
    )
    assert code == 0
    assert "trained 6 steps" in capsys.readouterr().out
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["step"] == 6
    assert (run / "metrics.csv").is_file() and (run / "loss.png").is_file()
    code = main(["train", "lm", "--resume", str(run), "--max-steps", "9"])
    assert code == 0
    assert json.loads((run / "trainer_state.json").read_text())["step"] == 9


def test_train_lm_refuses_bad_options(tmp_path, capsys) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert main(["train", "lm", "--out", str(tmp_path / "r")]) == 2
    assert "Option `--text FILE` or `--tokens DIR` is required: the corpus to train on." in (
        capsys.readouterr().err
    )
    assert main(["train", "lm", "--text", str(corpus), "--model.hidden_size", "big"]) == 2
    assert "expects an integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "lm", "--text", str(corpus), "--colour", "red"])
    binary = tmp_path / "bin.dat"
    binary.write_bytes(b"\xff\xfe\x00")
    assert main(["train", "lm", "--text", str(binary), "--out", str(tmp_path / "r")]) == 2
    assert "Setting `data.text` (--text) file" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_demo_on_a_given_text_writes_samples_metrics_and_plot(tmp_path, capsys) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT * 3, encoding="utf-8")
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--text",
            str(corpus),
            "--max-time",
            "3",
            "--hidden-size",
            "16",
            "--layers",
            "1",
            "--length",
            "30",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "--- temperature 0.5 ---" in printed and "--- temperature 1.0 ---" in printed
    for name in ("metrics.csv", "loss.png", "samples.txt", "model.safetensors", "config.json"):
        assert (out / name).is_file(), name


def test_demo_refuses_an_empty_or_binary_text_naming_the_option(tmp_path, capsys) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert main(["demo", "--text", str(empty), "--out", str(tmp_path / "d")]) == 2
    assert "Option `--text` file" in capsys.readouterr().err
    binary = tmp_path / "bin.dat"
    binary.write_bytes(b"ab\x00\x01")
    assert main(["demo", "--text", str(binary), "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "Option `--text` file" in err and "NUL byte at byte offset 2" in err
    assert not (tmp_path / "d").exists()
    short = tmp_path / "short.txt"
    short.write_text("hello world\n", encoding="utf-8")
    assert main(["demo", "--text", str(short), "--out", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err == (
        f"rnnkit demo: error: Option `--text` file '{short}' holds 12 characters; the demo "
        "needs at least 200 to train and validate on.\n"
    )
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(("characters", "fits"), [(14, False), (18, True)])
def test_a_corpus_too_short_for_one_batch_is_refused_before_training(
    tmp_path, capsys, characters: int, fits: bool
) -> None:
    # batch 1, bptt 8: a row must keep bptt + 1 = 9 tokens after a start offset of up to 7,
    # so 16 training tokens (18 with the 2 held out) are the fewest that train
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abcdefghijklmnopqrstuvwxyz"[: characters - 1] + "\n", encoding="utf-8")
    out = tmp_path / "run"
    code = main(["train", "lm", "--text", str(corpus), "--data.batch_size", "1", "--data.bptt",
                 "8", "--max-steps", "1", "--out", str(out), "--progress", "false"])
    err = capsys.readouterr().err
    if fits:
        assert code == 0, err
        return
    assert code == 2
    assert err == (
        "rnnkit train: error: The corpus is too short for batch_size=1 and bptt=8: 12 training "
        "tokens make rows of 5 tokens after the random start offset, fewer than bptt + 1; use "
        "a smaller --data.batch_size or --data.bptt, or a longer text.\n"
    )
    assert not out.exists()


def test_word_level_corpus_ends_lines_with_eos() -> None:
    vocab, ids = encode_corpus("a b\nb c\n", LMData(level="word"))
    assert vocab.decode(ids.tolist()) == "a b <eos> b c <eos>"
