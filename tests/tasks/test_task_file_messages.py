"""A bad file given to `rnnkit train tag|regress|seq2seq` or `rnnkit eval` is refused in one
line that names the option it came from (`--train`, `--valid`, the `DATA` argument) and the
file, before anything is written -- as `train classify` and `train lm` already do; a bad
model, data or training value is named as the option the user gave (`model.hidden_size`),
not as the argument of the constructor that checked it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.data.synthetic import delayed_sum_series, parity_sentences, write_conllu, write_series

QUIET = ["--progress", "false"]


def _tag_file(path: Path) -> None:
    write_conllu(path, *parity_sentences(30, seed=0))


def _series_file(path: Path) -> None:
    write_series(path, delayed_sum_series(80, delay=1, span=2, seed=0), ["x", "y"])


def _pairs_file(path: Path) -> None:
    path.write_text("".join(f"{w}\t{w[::-1]}\n" for w in ("abc", "bca", "cab", "dab", "bad",
                                                         "fed", "def", "ace", "cafe", "bead")),
                    encoding="utf-8")


#: task -> (a good file's name and writer, options for a tiny run, a file in the wrong format
#: and the end of the message it gets)
TASKS: dict[str, tuple[str, Callable[[Path], None], list[str], str, str]] = {
    "tag": ("good.conllu", _tag_file, ["--model.hidden_size", "8", "--data.min_freq", "1"],
            "1\tword\n", "line 1 has 2 TAB-separated fields; expected 10 (ID FORM LEMMA UPOS "
            "XPOS FEATS HEAD DEPREL DEPS MISC)."),
    "regress": ("good.csv", _series_file, ["--model.hidden_size", "8", "--data.window", "4",
                                           "--data.target_columns", "y"],
                "x,y\n1,\n", "line 2 column 'y' is empty, a missing value; expected a finite "
                "number (gaps are never filled silently)."),
    "seq2seq": ("good.tsv", _pairs_file, ["--model.hidden_size", "8", "--model.embedding_dim",
                                          "4", "--data.batch_size", "4"],
                "no tab here\n", "line 1 has no TAB; expected 'source<TAB>target'."),
}


def _good_and_bad(task: str, tmp_path: Path) -> tuple[Path, Path]:
    """A good file of ``task``'s format and one with the format error of :data:`TASKS`."""
    good_name, write_good, _, wrong, _ = TASKS[task]
    good = tmp_path / good_name
    write_good(good)
    bad = tmp_path / f"bad{good.suffix}"
    bad.write_text(wrong, encoding="utf-8")
    return good, bad


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_bad_train_or_valid_file_is_named_by_its_option(task: str, tmp_path: Path,
                                                          capsys) -> None:
    small, wrong_message = TASKS[task][2], TASKS[task][4]
    good, bad = _good_and_bad(task, tmp_path)
    binary = tmp_path / "binary.dat"
    binary.write_bytes(b"ab\x00cd\n")
    out = tmp_path / "run"

    assert main(["train", task, "--train", str(binary), "--out", str(out), *small, *QUIET]) == 2
    assert _one_line(capsys) == (
        f"rnnkit train: error: Setting `data.train` (--train) file '{binary}' line 1 contains a "
        "NUL byte; it looks binary, expected UTF-8 text."
    )
    assert main(["train", task, "--train", str(bad), "--out", str(out), *small, *QUIET]) == 2
    assert _one_line(capsys) == (
        f"rnnkit train: error: Setting `data.train` (--train) file '{bad}' {wrong_message}"
    )
    assert main(["train", task, "--train", str(good), "--valid", str(bad), "--out", str(out),
                 *small, *QUIET]) == 2
    assert _one_line(capsys) == (
        f"rnnkit train: error: Setting `data.valid` (--valid) file '{bad}' {wrong_message}"
    )
    assert not out.exists()  # refused before the run directory was made


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_bad_eval_file_is_named_as_the_data_argument(task: str, tmp_path: Path,
                                                       capsys) -> None:
    small, wrong_message = TASKS[task][2], TASKS[task][4]
    good, bad = _good_and_bad(task, tmp_path)
    run = tmp_path / "run"
    assert main(["train", task, "--train", str(good), "--out", str(run), "--max-steps", "1",
                 *small, *QUIET]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), str(bad)]) == 2
    assert _one_line(capsys) == f"rnnkit eval: error: Argument `DATA` file '{bad}' {wrong_message}"


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_bad_model_or_training_value_is_named_by_its_option(task: str, tmp_path: Path,
                                                              capsys) -> None:
    small = TASKS[task][2]
    good, _ = _good_and_bad(task, tmp_path)
    out = tmp_path / "run"
    base = ["train", task, "--train", str(good), "--out", str(out), *small, *QUIET]
    # checked by the model's constructor, which names its argument: the command names the option
    assert main([*base, "--model.hidden_size", "0"]) == 2
    assert _one_line(capsys) == (
        "rnnkit train: error: Option `model.hidden_size` must be a positive integer, got 0."
    )
    # checked by the training section itself
    assert main([*base, "--train.lr", "-1"]) == 2
    assert _one_line(capsys) == (
        "rnnkit train: error: Option `train.lr` expects a positive float, got -1.0."
    )
    assert not out.exists()


def test_the_language_model_s_batch_shape_is_named_by_its_option(tmp_path: Path,
                                                                  capsys) -> None:
    text = tmp_path / "corpus.txt"
    text.write_text("to be or not to be\n" * 40, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "lm", "--text", str(text), "--out", str(out), "--data.bptt", "0",
                 *QUIET]) == 2
    assert _one_line(capsys) == (
        "rnnkit train: error: Option `data.bptt` must be a positive integer; got 0."
    )
    assert main(["train", "lm", "--text", str(text), "--out", str(out), "--data.bptt", "10",
                 "--model.dropout", "1.5", *QUIET]) == 2
    assert _one_line(capsys) == (
        "rnnkit train: error: Option `model.dropout` must be in [0, 1), got 1.5."
    )
    assert not out.exists()
