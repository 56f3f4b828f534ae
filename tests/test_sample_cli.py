"""`rnnkit sample`: language-model and seq2seq runs, seeds, beams, and bad prompts."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from rnnkit.cli import main

TEXT = "to be or not to be, that is the question.\n" * 20
SMALL = [
    "--max-steps", "2", "--max-epochs", "0", "--model.hidden_size", "16",
    "--model.embedding_dim", "8", "--model.num_layers", "1", "--progress", "false",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A char-level and a word-level language model and a seq2seq model, barely trained."""
    root = tmp_path_factory.mktemp("sample")
    corpus = root / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    pairs = root / "pairs.tsv"
    pairs.write_text("abc\tcba\nbca\tacb\ncab\tbac\nab\tba\n" * 5, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lm_options = ["--data.batch_size", "4", "--data.bptt", "10", *SMALL]
        assert main(["train", "lm", "--text", str(corpus), "--out", str(root / "char"),
                     *lm_options]) == 0
        assert main(["train", "lm", "--text", str(corpus), "--out", str(root / "word"),
                     "--data.level", "word", *lm_options]) == 0
        assert main(["train", "seq2seq", "--train", str(pairs), "--out", str(root / "s2s"),
                     "--data.batch_size", "4", *SMALL]) == 0
    finally:
        torch.set_num_threads(threads)
    return root


def sample(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["sample", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_language_model_sample_is_reproducible_with_a_seed(runs, capsys) -> None:
    run = str(runs / "char")
    code, first, _ = sample(capsys, run, "--prime", "to be", "--length", "40", "--seed", "3")
    assert code == 0 and first.startswith("to be") and len(first.rstrip("\n")) >= 45
    assert sample(capsys, run, "--prime", "to be", "--length", "40", "--seed", "3")[1] == first
    code, out, _ = sample(capsys, run, "--prime", "to", "--length", "12", "--beam", "3",
                          "--json")
    result = json.loads(out)
    assert code == 0 and result["task"] == "lm" and result["beam"] == 3
    assert len(result["text"]) == 12 and result["prime"] == "to"
    # without a prompt a language model starts at a line boundary
    assert sample(capsys, run, "--length", "5", "--seed", "0")[0] == 0


def test_word_level_sample_puts_a_space_between_prompt_and_continuation(runs, capsys) -> None:
    run = str(runs / "word")
    spaced = 0
    for seed in ("0", "1", "2"):
        options = ["--prime", "to be", "--length", "6", "--seed", seed]
        code, out, _ = sample(capsys, run, *options, "--json")
        text = json.loads(out)["text"]
        code, shown, _ = sample(capsys, run, *options)
        assert code == 0
        if text[:1].isspace():  # a continuation that opens with a line break needs no space
            assert shown == f"to be{text}\n"
        else:
            assert shown == f"to be {text}\n"
            spaced += 1
    assert spaced  # the case this test is about was exercised
    # character level: no separator
    code, out, _ = sample(capsys, str(runs / "char"), "--prime", "to b", "--length", "5",
                          "--seed", "0", "--json")
    text = json.loads(out)["text"]
    code, shown, _ = sample(capsys, str(runs / "char"), "--prime", "to b", "--length", "5",
                            "--seed", "0")
    assert shown == f"to b{text}\n"


def test_prompt_outside_a_vocabulary_without_unk_is_one_clear_error(runs, capsys) -> None:
    code, out, err = sample(capsys, str(runs / "char"), "--prime", "to bZ")
    assert code == 2 and out == ""
    assert "holds the character 'Z' at position 4, which is not in the run's vocabulary" in err


def test_prompt_outside_a_vocabulary_with_unk_is_mapped_and_noted(runs, capsys) -> None:
    code, out, err = sample(capsys, str(runs / "word"), "--prime", "to be zebra", "--length",
                            "4", "--seed", "1")
    assert code == 0 and out.startswith("to be zebra")
    assert "mapped to <unk>: 'zebra' (position 2)" in err
    code, out, err = sample(capsys, str(runs / "s2s"), "--prime", "abz", "--json")
    assert code == 0 and json.loads(out)["task"] == "seq2seq"
    assert "mapped to <unk>: 'z' (position 2)" in err


def test_seq2seq_run_translates_the_prompt(runs, capsys) -> None:
    run = str(runs / "s2s")
    code, greedy, _ = sample(capsys, run, "--prime", "abc")
    assert code == 0
    code, beam, _ = sample(capsys, run, "--prime", "abc", "--beam", "2", "--json")
    assert code == 0 and json.loads(beam)["prime"] == "abc"
    assert sample(capsys, run, "--prime", "abc", "--temperature", "0")[1] == greedy
    code, _, err = sample(capsys, run)
    assert code == 2 and "`--prime TEXT` is required for a seq2seq run" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prime", ""], "`--prime` is empty"),
        (["--beam", "0"], "`--beam` expects a positive integer, got 0"),
        (["--beam", "2", "--top-k", "3"], "`--beam 2` searches deterministically and does not"),
        (["--length", "0"], "`--length` expects a positive integer, got 0"),
        (["--top-p", "1.5"], r"`--top-p` expects a number in (0, 1], got 1.5"),
        (["--temperature", "-1"], "`--temperature` expects a number >= 0"),
    ],
)
def test_bad_options_are_one_sentence(runs, capsys, argv, message) -> None:
    code, out, err = sample(capsys, str(runs / "char"), *argv)
    assert code == 2 and out == "" and message in err


def test_a_missing_run_is_named(tmp_path, capsys) -> None:
    code, _, err = sample(capsys, str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err


def test_word_level_predict_spaces_the_continuation_and_notes_unknown_words(runs, capsys):
    run = str(runs / "word")
    code = main(["predict", run, "to be", "to be zebra", "--length", "4", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["input"] for r in rows] == ["to be", "to be zebra"]
    for row in rows:
        gap = "" if row["continuation"][:1].isspace() else " "
        assert row["text"] == f"{row['input']}{gap}{row['continuation']}"
    assert "'zebra' (input 2)" in captured.err and "<unk>" in captured.err
    assert main(["predict", run, "to be", "--length", "4"]) == 0
    assert capsys.readouterr().out == rows[0]["text"] + "\n"


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("prime", [None, "to be", "to be\n"])
def test_printed_sample_is_written_as_it_is_generated_and_equals_the_json(
    runs, capsys, level: str, prime: str | None
) -> None:
    from rnnkit.cli.sample import _sample_lm, add_arguments
    from rnnkit.tasks import load_run
    from rnnkit.tasks.lm import join_continuation

    run = str(runs / level)
    options = ["--length", "30", "--seed", "4", *([] if prime is None else ["--prime", prime])]
    code, printed, _ = sample(capsys, run, *options)
    assert code == 0
    code, out, _ = sample(capsys, run, *options, "--json")
    result = json.loads(out)
    assert printed == join_continuation(level, result["prime"], result["text"]) + "\n"

    # piece by piece: the prompt first, then one piece per generated token
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    pieces: list[str] = []
    loaded = load_run(run)
    streamed = _sample_lm(loaded, parser.parse_args([run, *options]), write=pieces.append)
    assert streamed["streamed"] and len(pieces) == (1 if prime else 0) + streamed["tokens"]
    assert "".join(pieces) + "\n" == printed
