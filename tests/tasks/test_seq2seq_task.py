"""`rnnkit train seq2seq` end to end, the pairs reader and batches, BLEU, predict and eval."""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
from pathlib import Path

import pytest
import torch

from rnnkit.cli import main
from rnnkit.config import TrainConfig
from rnnkit.tasks import load_run
from rnnkit.tasks.seq2seq import (
    PairBatches,
    RunConfig,
    Seq2SeqData,
    Seq2SeqModelConfig,
    corpus_bleu,
    evaluate_file,
    fit_seq2seq,
    predict_lines,
    read_pairs,
    translate_lines,
    vocabs_from_run,
)


def reverse_lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        word = "".join(rng.choice("abcdef") for _ in range(rng.randint(2, 5)))
        lines.append(f"{word}\t{word[::-1]}")
    return lines


def decoding(beam: int = 1) -> argparse.Namespace:
    return argparse.Namespace(beam=beam, alpha=0.0, max_length=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A seq2seq run trained (briefly) through the command line, with its pairs files."""
    root = tmp_path_factory.mktemp("seq2seq")
    train, valid = root / "train.tsv", root / "valid.tsv.gz"
    train.write_text("\n".join(reverse_lines(300, 0)) + "\n", encoding="utf-8")
    with gzip.open(valid, "wt", encoding="utf-8") as f:
        f.write("\n".join(reverse_lines(40, 1)) + "\n")
    run = root / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(
            [
                "train", "seq2seq", "--train", str(train), "--valid", str(valid),
                "--out", str(run), "--max-steps", "12", "--max-epochs", "0",
                "--model.hidden_size", "16", "--model.embedding_dim", "8",
                "--model.attention", "additive", "--data.batch_size", "16",
                "--progress", "false", "--eval-every", "6",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return root, run


def test_train_writes_a_run_that_predict_and_eval_use(trained, capsys) -> None:
    root, run = trained
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["step"] == 12
    config = json.loads((run / "config.json").read_text())
    assert config["run"]["task"] == "seq2seq" and config["model"]["name"] == "seq2seq"
    loaded = load_run(run)
    source, target = vocabs_from_run(loaded)
    assert {"a", "f", "<unk>"} <= set(source.itos) and target.eos_id == 3
    predictions = predict_lines(loaded, ["abc", "fed"], decoding())
    assert [p["input"] for p in predictions] == ["abc", "fed"]
    assert all(isinstance(p["translation"], str) for p in predictions)
    assert predict_lines(loaded, ["abc"], decoding(beam=3))[0]["input"] == "abc"
    metrics = evaluate_file(loaded, str(root / "valid.tsv.gz"), decoding())
    assert set(metrics) == {"loss", "perplexity", "accuracy", "bleu", "exact_match", "pairs"}
    assert metrics["pairs"] == 40 and 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["bleu"] <= 100


def test_resume_continues_the_run(trained, tmp_path) -> None:
    _, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["train", "seq2seq", "--resume", str(copy), "--max-steps", "14"]) == 0
    assert json.loads((copy / "trainer_state.json").read_text())["step"] == 14


def test_saved_run_translates_like_the_trained_model(tmp_path) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("\n".join(reverse_lines(60, 2)) + "\n", encoding="utf-8")
    config = RunConfig(
        data=Seq2SeqData(train=str(pairs), batch_size=8, lowercase=True),
        model=Seq2SeqModelConfig(hidden_size=12, embedding_dim=6, attention="general"),
        train=TrainConfig(max_steps=3, max_epochs=0, progress=False),
    )
    _, model, source, target = fit_seq2seq(config, run_dir=tmp_path / "run")
    lines = ["abc", "ffeed", "a"]
    loaded = load_run(tmp_path / "run", best=False)
    for beam in (1, 2):
        assert translate_lines(loaded.model, source, target, lines, beam_size=beam) == (
            translate_lines(model, source, target, lines, beam_size=beam)
        )
    # the run was trained lower-cased: predict lower-cases its input the same way
    upper, lower = predict_lines(loaded, ["ABC", "abc"], decoding())
    assert upper["translation"] == lower["translation"] and upper["input"] == "ABC"


def test_read_pairs_takes_two_fields_and_names_bad_lines(tmp_path) -> None:
    good = tmp_path / "good.tsv"
    good.write_text("Go.\tVa !\tCC-BY attribution\n\nHi.\tSalut.\n", encoding="utf-8")
    assert read_pairs(good) == [("Go.", "Va !"), ("Hi.", "Salut.")]
    assert read_pairs(good, lowercase=True)[0] == ("go.", "va !")
    bad = tmp_path / "bad.tsv"
    bad.write_text("Go.\tVa !\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2 has no TAB"):
        read_pairs(bad)
    bad.write_text("Go.\t \n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1 has an empty target"):
        read_pairs(bad)
    bad.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        read_pairs(bad)
    bad.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="only blank lines"):
        read_pairs(bad)


def test_pair_batches_pad_both_sides_and_depend_only_on_seed_and_epoch() -> None:
    sources = [[4] * n for n in (3, 1, 5, 2, 4)]
    targets = [[5] * (n + 1) for n in (1, 2, 3, 4, 5)]
    batches = PairBatches(sources, targets, batch_size=2, shuffle=True, seed=3)
    first = [b.inputs.tolist() for b in batches]
    assert [b.inputs.tolist() for b in batches] == first
    batches.set_epoch(1)
    assert [b.inputs.tolist() for b in batches] != first
    for batch in PairBatches(sources, targets, batch_size=5):
        assert batch.inputs.shape == (5, 5) and batch.targets.shape == (5, 6)
        assert batch.lengths.tolist() == [3, 1, 5, 2, 4]
        assert batch.num_tokens == 2 + 3 + 4 + 5 + 6  # target tokens: what the loss counts
    with pytest.raises(ValueError, match=r"`targets` must have one entry per source \(5\)"):
        PairBatches(sources, targets[:4], batch_size=2)


def test_corpus_bleu() -> None:
    ref = ["a", "b", "c", "d", "e", "f"]
    assert corpus_bleu([ref, ref], [ref, ref]) == pytest.approx(100.0)
    assert corpus_bleu([["x", "y", "z", "w"]], [ref]) == 0.0
    # same precision, shorter hypothesis: the brevity penalty lowers the score
    assert corpus_bleu([ref[:4]], [ref]) < corpus_bleu([ref[:5]], [ref]) < 100.0
    with pytest.raises(ValueError, match=r"`references` must have one entry per hypothesis \(1\)"):
        corpus_bleu([ref], [ref, ref])
    with pytest.raises(ValueError, match="`max_n` must be a positive integer"):
        corpus_bleu([ref], [ref], max_n=0)


def test_unknown_source_tokens_become_unk_and_empty_lines_are_refused(trained) -> None:
    _, run = trained
    loaded = load_run(run)
    source, target = vocabs_from_run(loaded)
    (text,) = translate_lines(loaded.model, source, target, ["xyz"])
    assert isinstance(text, str)
    with pytest.raises(ValueError, match="empty sentence at position 1"):
        translate_lines(loaded.model, source, target, ["abc", ""])
    with pytest.raises(ValueError, match="`--beam` expects a positive integer, got 0"):
        predict_lines(loaded, ["abc"], decoding(beam=0))


def test_predict_notes_the_source_characters_mapped_to_unk(trained, capsys) -> None:
    _, run = trained
    capsys.readouterr()
    assert main(["predict", str(run), "abz", "xyz", "cab"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3
    assert captured.err == (
        "rnnkit predict: note: characters not in the vocabulary, mapped to <unk>: "
        "'z' (input 1), 'x' (input 2), 'y' (input 2).\n"
    )


def test_bad_options_are_refused_before_any_write(tmp_path, capsys) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("\n".join(reverse_lines(20, 3)) + "\n", encoding="utf-8")
    out = tmp_path / "r"
    assert main(["train", "seq2seq", "--out", str(out)]) == 2
    assert "`--train FILE` is required" in capsys.readouterr().err
    code = main(["train", "seq2seq", "--train", str(pairs), "--out", str(out),
                 "--data.max_length", "1"])
    assert code == 2
    assert "No training pair has both sides within --data.max_length=1" in capsys.readouterr().err
    assert main(["train", "seq2seq", "--train", str(pairs), "--model.attention", "luong"]) == 2
    assert "expects one of none, dot, general, additive" in capsys.readouterr().err
    assert not out.exists()


ENG_FRA = Path(__file__).resolve().parents[3] / "shared" / "data" / "eng-fra.txt.gz"


@pytest.mark.slow
@pytest.mark.skipif(not ENG_FRA.is_file(), reason="shared/data/eng-fra.txt.gz is not present")
def test_translates_short_english_sentences_into_french(tmp_path) -> None:
    # about a minute on one CPU thread: 600 steps on the pairs of at most 20 characters
    config = RunConfig(
        data=Seq2SeqData(train=str(ENG_FRA), max_length=20, lowercase=True, batch_size=64),
        model=Seq2SeqModelConfig(hidden_size=256, embedding_dim=64),
        train=TrainConfig(lr=2e-3, clip_norm=1.0, max_steps=600, max_epochs=0,
                          eval_every=600, progress=False),
    )
    summary, *_ = fit_seq2seq(config, run_dir=tmp_path / "run")
    assert summary.val_metrics["accuracy"] > 0.7  # teacher-forced next-character accuracy
