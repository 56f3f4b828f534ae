"""`rnnkit train tag` → `predict` → `eval`, end to end on tiny CoNLL-U files, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.data.synthetic import parity_sentences, write_conllu
from rnnkit.tasks import load_run
from rnnkit.tasks.tag import RunConfig, run_config_of, tag_sentences

QUIET = ["--train.progress", "false"]
SMALL = ["--model.hidden_size", "16", "--model.embedding_dim", "8", "--data.batch_size", "16"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tag")
    for name, n, seed in (("train", 200, 0), ("valid", 40, 1), ("test", 40, 2)):
        words, tags = parity_sentences(n, seed=seed)
        # XPOS: a finer tag set (the parity and the word), to check --data.tags xpos
        xpos = [[f"{t}-{w}" for w, t in zip(ws, ts, strict=True)] for ws, ts in zip(words, tags,
                                                                                    strict=True)]
        write_conllu(root / f"{name}.conllu", words, tags, xpos)
    return root


@pytest.fixture(scope="module")
def trained(files: Path) -> Path:
    run = files / "run"
    argv = ["train", "tag", "--train", str(files / "train.conllu"), "--valid",
            str(files / "valid.conllu"), "--out", str(run), "--max-steps", "200",
            "--train.lr", "0.02", "--data.min_freq", "1", *QUIET, *SMALL]
    assert main(argv) == 0
    return run


def test_train_predict_eval_end_to_end(trained: Path, files: Path, capsys) -> None:
    capsys.readouterr()
    config = json.loads((trained / "config.json").read_text())
    assert config["model"]["name"] == "sequence_tagger"
    assert config["model"]["config"]["labels"] == ["EVEN", "ODD"]
    assert config["model"]["config"]["bidirectional"] is True

    assert main(["predict", str(trained), "one zero one one", "zero one", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["words"] == ["one", "zero", "one", "one"]
    assert lines[0]["tags"] == ["ODD", "ODD", "EVEN", "ODD"]
    assert lines[1]["tags"] == ["EVEN", "ODD"]

    assert main(["predict", str(trained), "one one"]) == 0
    assert capsys.readouterr().out.strip() == "one/ODD one/EVEN"

    assert main(["eval", str(trained), str(files / "test.conllu"), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["accuracy"] >= 0.97
    assert metrics["sentences"] == 40 and metrics["unknown_words"] == 0
    assert set(metrics) == {"accuracy", "loss", "sentences", "words", "unknown_words"}


def test_save_load_tags_are_identical_and_unknown_words_map_to_unk(trained: Path) -> None:
    run = load_run(trained)
    data = run_config_of(run, RunConfig).data
    sentences = [["one", "zero", "one"], ["zero", "never-seen", "one"]]
    first = tag_sentences(run.model, run.vocab, sentences, data)
    again = load_run(trained)
    assert tag_sentences(again.model, again.vocab, sentences, data) == first
    assert [len(t) for t in first] == [3, 3]
    with pytest.raises(ValueError, match=r"item 1 has no words"):
        tag_sentences(run.model, run.vocab, [["one"], []], data)


def test_predict_notes_the_words_mapped_to_unk(trained: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["predict", str(trained), "one seven zero", "zero one"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith("one/")
    assert captured.err == (
        "rnnkit predict: note: words not in the vocabulary, mapped to <unk>: 'seven' (input 1).\n"
    )


def test_unknown_tags_are_refused_with_their_line(trained: Path, files: Path, capsys) -> None:
    write_conllu(files / "odd.conllu", [["one", "zero"], ["one"]], [["ODD", "ODD"], ["NOUN"]])
    capsys.readouterr()
    assert main(["eval", str(trained), str(files / "odd.conllu")]) == 2
    err = capsys.readouterr().err
    assert "sentence at line 6 has the UPOS tag 'NOUN' (word 1), which is not one of the 2" in err


def test_xpos_tags_are_an_option(files: Path, capsys) -> None:
    run = files / "xpos"
    argv = ["train", "tag", "--train", str(files / "train.conllu"), "--out", str(run),
            "--max-steps", "2", "--data.tags", "xpos", "--model.cell", "rnn",
            "--model.num_layers", "2", "--model.dropout", "0.1", *QUIET, *SMALL]
    assert main(argv) == 0
    assert load_run(run).model.class_names() == ["EVEN-one", "EVEN-zero", "ODD-one", "ODD-zero"]
    capsys.readouterr()
    assert main(["train", "tag", "--train", str(files / "train.conllu"), "--data.tags", "lemma",
                 *QUIET]) == 2
    assert "Option `data.tags` expects one of upos, xpos, got 'lemma'" in capsys.readouterr().err


@pytest.mark.slow
def test_ud_english_ewt_upos(tmp_path: Path, capsys) -> None:
    data = Path("/work/shared/data/ud_english_ewt")
    if not data.is_dir():
        pytest.skip("the shared UD English EWT files are not here")
    run = tmp_path / "ud"
    argv = ["train", "tag", "--train", str(data / "en_ewt-ud-train.conllu.gz"), "--valid",
            str(data / "en_ewt-ud-dev.conllu.gz"), "--out", str(run), "--max-steps", "1000",
            "--train.eval_every", "500", "--train.checkpoint_every", "500",
            "--data.lowercase", "true", "--data.bucket_size", "640", *QUIET]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["eval", str(run), str(data / "en_ewt-ud-test.conllu.gz"), "--json"]) == 0
    # measured: 0.891 on dev after 1000 steps (0.911 on test after 3349 steps)
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.87
