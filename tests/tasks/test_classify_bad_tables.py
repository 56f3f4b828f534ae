"""`rnnkit train classify` and `rnnkit eval` on a table that has a header and no rows: one
sentence naming the option and the file, before anything is written."""

from __future__ import annotations

from pathlib import Path

from rnnkit.cli import main
from rnnkit.data.synthetic import marker_texts, write_table

SMALL = ["--model.hidden_size", "8", "--model.embedding_dim", "4", "--data.batch_size", "8",
         "--progress", "false"]


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_a_header_only_table_is_one_sentence_naming_option_and_file(tmp_path: Path,
                                                                    capsys) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n", "utf-8")
    good = tmp_path / "good.csv"
    write_table(good, *marker_texts(20, seed=0))
    out = tmp_path / "run"

    assert main(["train", "classify", "--train", str(empty), "--out", str(out), *SMALL]) == 2
    assert _error(capsys) == (
        f"rnnkit train: error: Setting `data.train` (--train) file '{empty}' has a header line "
        "but no rows; expected at least one row."
    )
    assert main(["train", "classify", "--train", str(good), "--valid", str(empty),
                 "--out", str(out), *SMALL]) == 2
    assert _error(capsys).startswith(
        f"rnnkit train: error: Setting `data.valid` (--valid) file '{empty}' has a header line "
        "but no rows"
    )
    assert not out.exists()

    assert main(["train", "classify", "--train", str(good), "--out", str(out),
                 "--max-steps", "1", *SMALL]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), str(empty)]) == 2
    assert _error(capsys) == (
        f"rnnkit eval: error: Argument `DATA` file '{empty}' has a header line but no rows; "
        "expected at least one row."
    )
