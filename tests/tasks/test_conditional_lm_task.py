"""`rnnkit train lm --data.conditional true`: names by category, then sample, predict, eval."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from rnnkit.cli import main
from rnnkit.tasks import load_run
from rnnkit.tasks.lm import read_categorised

NAMES = {"Alpha": ["abab", "abba", "aab"], "Omega": ["xyz", "xxyz", "zyx", "xyzz"]}


@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    folder = root / "names"
    folder.mkdir()
    for category, names in NAMES.items():
        (folder / f"{category}.txt").write_text("\n".join(names * 5) + "\n", encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(
            [
                "train", "lm", "--text", str(folder), "--data.conditional", "true",
                "--out", str(root / "run"), "--max-steps", "120", "--max-epochs", "0",
                "--eval-every", "60", "--data.batch_size", "8", "--data.valid_fraction", "0.1",
                "--model.hidden_size", "24", "--model.embedding_dim", "8",
                "--model.num_layers", "1", "--model.dropout", "0", "--train.lr", "0.02",
                "--progress", "false",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return root


def test_each_category_generates_its_own_kind_of_name(names_run, capsys) -> None:
    run = load_run(names_run / "run")
    assert run.model.config.categories == ["Alpha", "Omega"]
    for category, letters in (("Alpha", set("ab")), ("Omega", set("xyz"))):
        assert main(["sample", str(names_run / "run"), "--category", category,
                     "--temperature", "0", "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["category"] == category and result["text"]
        assert set(result["text"]) <= letters, result
        # printed as it is generated, up to the model's <eos>, which is not shown
        assert main(["sample", str(names_run / "run"), "--category", category,
                     "--temperature", "0"]) == 0
        assert capsys.readouterr().out == result["text"] + "\n"
    assert main(["sample", str(names_run / "run"), "--category", "Alpha", "--prime", "ab",
                 "--beam", "2"]) == 0
    assert capsys.readouterr().out.startswith("ab")


def test_category_is_required_and_checked(names_run, capsys) -> None:
    run = str(names_run / "run")
    assert main(["sample", run]) == 2
    assert "`--category NAME` is required" in capsys.readouterr().err
    assert main(["sample", run, "--category", "Beta"]) == 2
    assert "must be one of ['Alpha', 'Omega'], got 'Beta'" in capsys.readouterr().err


def test_predict_and_eval_take_categories(names_run, capsys) -> None:
    run = str(names_run / "run")
    assert main(["predict", run, "Omega", "Alpha\ta", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["category"] for r in rows] == ["Omega", "Alpha"] and rows[1]["prime"] == "a"
    pairs = names_run / "eval.tsv"
    pairs.write_text("Alpha\tabab\nOmega\txyz\n", encoding="utf-8")
    assert main(["eval", run, str(pairs), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["tokens"] == 9 and metrics["loss"] < 1.5  # 4 + 1 and 3 + 1 <eos>
    pairs.write_text("Gamma\tabc\n", encoding="utf-8")
    assert main(["eval", run, str(pairs)]) == 2
    assert "has the category 'Gamma', which the model does not know" in capsys.readouterr().err


def test_resume_continues_a_conditional_run(names_run, tmp_path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(names_run / "run", copy)
    assert main(["train", "lm", "--resume", str(copy), "--max-steps", "125"]) == 0
    assert json.loads((copy / "trainer_state.json").read_text())["step"] == 125


def test_read_categorised_reads_tsv_and_names_bad_lines(tmp_path) -> None:
    table = tmp_path / "names.tsv"
    table.write_text("Alpha\tabab\n\nOmega\t xyz \n", encoding="utf-8")
    assert read_categorised(table) == [("Alpha", "abab"), ("Omega", "xyz")]
    table.write_text("Alpha\tabab\nno category\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2 is not 'category<TAB>text'"):
        read_categorised(table)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"holds no \.txt files"):
        read_categorised(empty)
