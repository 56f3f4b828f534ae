"""`rnnkit train classify` → `predict` → `eval`, end to end on tiny files, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.data.synthetic import marker_texts, write_table
from rnnkit.tasks import load_run
from rnnkit.tasks.classify import RunConfig, classify_texts, run_config_of, split_indices

QUIET = ["--train.progress", "false"]
SMALL = ["--model.hidden_size", "16", "--model.embedding_dim", "8", "--data.batch_size", "16"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("classify")
    write_table(root / "train.csv", *marker_texts(200, seed=0))
    write_table(root / "valid.jsonl", *marker_texts(60, seed=1))
    write_table(root / "test.tsv", *marker_texts(60, seed=2))
    return root


@pytest.fixture(scope="module")
def trained(files: Path) -> Path:
    run = files / "run"
    argv = ["train", "classify", "--train", str(files / "train.csv"), "--valid",
            str(files / "valid.jsonl"), "--out", str(run), "--max-steps", "120",
            "--train.lr", "0.02", *QUIET, *SMALL]
    assert main(argv) == 0
    return run


def test_train_predict_eval_end_to_end(trained: Path, files: Path, capsys) -> None:
    capsys.readouterr()
    config = json.loads((trained / "config.json").read_text())
    assert config["model"]["name"] == "sequence_classifier"
    assert config["model"]["config"]["labels"] == ["no", "yes"]
    assert config["run"]["task"] == "classify"
    assert (trained / "metrics.csv").is_file() and (trained / "best").is_dir()

    assert main(["predict", str(trained), "a b x c", "d e a", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["label"] for p in lines] == ["yes", "no"]
    assert lines[0]["input"] == "a b x c"
    assert sum(lines[0]["probabilities"].values()) == pytest.approx(1.0)

    (files / "inputs.txt").write_text("x a\n\nb c d\n", encoding="utf-8")
    assert main(["predict", str(trained), f"@{files / 'inputs.txt'}"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out] == ["yes", "no"]

    assert main(["eval", str(trained), str(files / "test.tsv"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert list(metrics)[:3] == ["accuracy", "macro_f1", "loss"]
    assert metrics["accuracy"] >= 0.95 and metrics["macro_f1"] >= 0.95
    assert metrics["examples"] == 60 and {"f1_no", "f1_yes"} <= set(metrics)

    assert main(["eval", str(trained), str(files / "test.tsv")]) == 0
    assert capsys.readouterr().out.startswith("accuracy: ")


def test_save_load_predictions_are_identical(trained: Path) -> None:
    run = load_run(trained, best=False)
    data = run_config_of(run, RunConfig).data
    first = classify_texts(run.model, run.vocab, ["a x", "b c"], data)
    again = load_run(trained, best=False)
    assert classify_texts(again.model, again.vocab, ["a x", "b c"], data) == first


def test_unknown_labels_and_empty_input_are_refused(trained: Path, files: Path, capsys) -> None:
    write_table(files / "odd.csv", ["a b", "x c"], ["yes", "maybe"])
    capsys.readouterr()
    assert main(["eval", str(trained), str(files / "odd.csv")]) == 2
    err = capsys.readouterr().err
    assert "line 3 has the label 'maybe', which is not one of the classes ['no', 'yes']" in err
    argv = ["train", "classify", "--train", str(files / "train.csv"), "--valid",
            str(files / "odd.csv"), "--out", str(files / "never"), *QUIET]
    assert main(argv) == 2
    assert "'maybe', which is not one of the classes" in capsys.readouterr().err
    assert not (files / "never").exists()
    assert main(["predict", str(trained), "   "]) == 2
    assert "Argument `INPUT` is empty" in capsys.readouterr().err
    assert main(["train", "classify", *QUIET]) == 2
    assert "`--train FILE` is required" in capsys.readouterr().err
    assert main(["predict", str(files / "nowhere"), "a"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_binary_word_vectors_and_held_out_split(files: Path, capsys) -> None:
    vectors = files / "vectors.txt"
    vectors.write_text("x 1 0 0\na 0 1 0\nzzz 0 0 1\n", encoding="utf-8")
    run = files / "binary"
    argv = ["train", "classify", "--train", str(files / "train.csv"), "--out", str(run),
            "--max-steps", "2", "--model.binary", "true", "--model.embeddings", str(vectors),
            "--model.freeze_embeddings", "true", "--model.pooling", "mean",
            "--model.cell", "gru", "--model.options", '{"learn_initial_state": true}', *QUIET]
    assert main(argv) == 0
    assert "found vectors for 2 of 6 words" in capsys.readouterr().err
    loaded = load_run(run)
    model = loaded.model
    assert model.config.binary and model.config.embedding_dim == 3
    assert model.embedding.weight[loaded.vocab.stoi["x"]].tolist() == [1.0, 0.0, 0.0]
    assert not model.embedding.weight.requires_grad
    # without --valid, 10% of the 200 rows were held out
    train_idx, valid_idx = split_indices(200, 0.1, seed=0)
    assert len(valid_idx) == 20 and len(set(train_idx) | set(valid_idx)) == 200
    assert main(["predict", str(run), "a x", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in ("yes", "no")


def test_embedding_dropout_is_an_option(files: Path, capsys) -> None:
    run = files / "worddrop"
    base = ["train", "classify", "--train", str(files / "train.csv"), *QUIET, *SMALL,
            "--max-steps", "2"]
    assert main([*base, "--out", str(run), "--model.embedding_dropout", "0.25"]) == 0
    model = load_run(run).model
    assert model.config.embedding_dropout == 0.25
    assert main([*base, "--out", str(files / "worddrop-bad"),
                 "--model.embedding_dropout", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "embedding_dropout" in err and "1.5" in err
    assert not (files / "worddrop-bad").exists()


def test_resume_continues_a_run(files: Path, capsys) -> None:
    run = files / "resumed"
    base = ["train", "classify", "--train", str(files / "train.csv"), *QUIET, *SMALL]
    assert main([*base, "--out", str(run), "--max-steps", "3"]) == 0
    assert main([*base, "--resume", str(run), "--max-steps", "5"]) == 0
    assert "trained 5 steps" in capsys.readouterr().out
    assert main([*base, "--out", str(run), "--max-steps", "3"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"rnnkit train: error: Option `--out` directory '{run}' already holds a checkpoint; "
        f"continue it with --resume '{run}', start over with --overwrite, or choose another "
        "--out."
    )
    assert main([*base, "--out", str(run), "--max-steps", "2", "--overwrite"]) == 0
    assert "trained 2 steps" in capsys.readouterr().out


def test_predict_notes_unknown_words_and_a_file_name_read_as_text(
    trained: Path, files: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    capsys.readouterr()
    assert main(["predict", str(trained), "a zebra x", "d qux zebra"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err == (
        "rnnkit predict: note: words not in the vocabulary, mapped to <unk>: "
        "'zebra' (input 1), 'qux' (input 2).\n"
    )
    assert main(["predict", str(trained), "a b x c"]) == 0
    assert capsys.readouterr().err == ""
    many = " ".join(f"w{n}" for n in range(13))  # the note names ten, then counts
    assert main(["predict", str(trained), many]) == 0
    assert capsys.readouterr().err.endswith("'w8' (input 1), 'w9' (input 1), and 3 more.\n")

    # a bare file name is text (the result must not depend on the current directory), noted
    monkeypatch.chdir(files)
    Path("lines.txt").write_text("x a\nb c\n", encoding="utf-8")
    assert main(["predict", str(trained), "lines.txt", "--json"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["input"] for line in captured.out.splitlines()] == ["lines.txt"]
    assert captured.err.startswith(
        "rnnkit predict: note: input 'lines.txt' names a file but is read as text; "
        "write @lines.txt to read the file's lines.\n"
    )
    assert main(["predict", str(trained), "@lines.txt"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2 and captured.err == ""


def test_train_help_lists_the_bare_aliases_and_one_default_per_option(
    capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per option
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "classify", "--help"])
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for alias in ("--max-steps INT", "--max-time FLOAT", "--checkpoint-every INT",
                  "--eval-every INT", "--batch-size INT", "--hidden-size INT"):
        assert any(f", {alias} " in f"{line} " for line in lines), alias
    (out,) = [line for line in lines if line.lstrip().startswith("--out ")]
    assert out.split(None, 2)[2] == "run directory (default: runs/classify-YYYYmmdd-HHMMSS)"
    assert all(line.count("(default:") <= 1 for line in lines)
    # data.seed and train.seed: a bare --seed is not listed (it is refused, see below)
    assert not any(", --seed " in f"{line} " for line in lines)


def test_train_options_take_dashes_and_bare_aliases(files: Path, capsys) -> None:
    run = files / "spelled"
    argv = ["train", "classify", "--train", str(files / "train.csv"), "--out", str(run),
            "--max_steps", "1", "--train.log-every", "1", "--data.batch-size", "8",
            "--hidden-size", "8", "--model.embedding-dim", "4", "--progress=false"]
    assert main(argv) == 0
    config = json.loads((run / "config.json").read_text())["run"]
    assert config["train"]["max_steps"] == 1 and config["train"]["log_every"] == 1
    assert config["data"]["batch_size"] == 8 and config["model"]["hidden_size"] == 8
    assert config["model"]["embedding_dim"] == 4
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--seed", "3"])
    assert exit_info.value.code == 2
    assert "argument --seed: ambiguous here; write --data.seed or --train.seed." in (
        capsys.readouterr().err
    )


def test_predict_help_lists_the_task_options(trained: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(trained), "--help"])
    assert exit_info.value.code == 0
    assert "predict with a classify run" in capsys.readouterr().out


@pytest.mark.slow
def test_rt_polarity_sentiment(tmp_path: Path, capsys) -> None:
    data = Path("/work/shared/data/rt-polarity.tsv")
    if not data.is_file():
        pytest.skip("the shared rt-polarity file is not here")
    run = tmp_path / "rt"
    argv = ["train", "classify", "--train", str(data), "--out", str(run), "--max-steps", "1500",
            "--train.eval_every", "300", "--train.checkpoint_every", "300",
            "--data.min_freq", "2", "--data.bucket_size", "640", "--model.bidirectional", "true",
            "--model.pooling", "max", "--model.dropout", "0.3", *QUIET]
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    # measured: best held-out accuracy 0.77 (10% of the 10,662 sentences)
    assert summary["best_metric"] >= 0.72
