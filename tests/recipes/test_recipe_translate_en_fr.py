"""The translate-en-fr benchmark: normalisation, the fixed split, BLEU against sacreBLEU,
reduced runs end to end (a learnable toy language and the real pairs), and (slow) the full run."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import random
from pathlib import Path

import pytest
import sacrebleu

from rnnkit.recipes import recipe_settings, run_recipe
from rnnkit.recipes.translate_en_fr import (
    TEST_FRACTION,
    VALID_FRACTION,
    load_splits,
    normalize,
    sacre_bleu,
    split_of,
    word_count,
)
from rnnkit.tasks.seq2seq import corpus_bleu
from rnnkit.train.metrics import read_metrics

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not (SHARED / "eng-fra.txt.gz").is_file(),
    reason="the shared datasets (../shared/data/eng-fra.txt.gz) are not beside the repository",
)
BENCHMARK_KEYS = {"metric", "value", "higher_is_better", "target", "target_text", "met",
                  "published", "setting", "wall_seconds", "table"}

EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
FR = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]


def _toy_pairs(path: Path, count: int = 900, unique: int = 100) -> Path:
    """A learnable toy language: English number words -> French ones, word for word."""
    rng = random.Random(0)
    lines = set()
    while len(lines) < count:
        digits = [rng.randrange(10) for _ in range(rng.randint(1, 6))]
        english = " ".join(EN[d] for d in digits).capitalize() + "."
        french = " ".join(FR[d] for d in digits).capitalize() + "\u202f!"
        lines.add(f"{english}\t{french}")
    # sentences with a word of their own: the held-out ones must stay out of the vocabulary
    lines.update(f"Word{i}.\tMot{i}\u202f!" for i in range(unique))
    path.write_text("\n".join(sorted(lines)) + "\n", encoding="utf-8")
    return path


# -- normalisation and words ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("Go.", "en", "go ."),
    ("Va\u202f!", "fr", "va !"),
    ("I don't know, it costs $3.50.", "en", "i don't know , it costs $ 3.50 ."),
    ("Qu\u2019est-ce que c'est\u00a0?", "fr", "qu' est-ce que c' est ?"),
    ("L'homme dit\u202f: «\u00a0Aujourd'hui\u00a0»", "fr", "l' homme dit : \" aujourd'hui \""),
    ("Tom's 1,000 cats\u2026", "en", "tom's 1,000 cats . . ."),
    ("zero\u200bwidth soft\u00adhyphen", "en", "zerowidth softhyphen"),
])
def test_normalize_golden(text: str, language: str, expected: str) -> None:
    assert normalize(text, language) == expected  # type: ignore[arg-type]


def test_normalize_rejects_unknown_language() -> None:
    with pytest.raises(ValueError, match=r"`language` must be 'en' or 'fr', got 'de'"):
        normalize("Hallo", "de")  # type: ignore[arg-type]


def test_word_count_ignores_punctuation() -> None:
    assert word_count("je suis là , n' est-ce pas ?") == 6
    assert word_count("! ? .") == 0
    assert word_count("il a 3 chats .") == 4


# -- the fixed split --------------------------------------------------------------------------


def test_split_is_fixed_and_groups_one_english_sentence() -> None:
    # golden: the split is BLAKE2b (8 bytes, big-endian) of the words, modulo 10,000
    assert [split_of(f"sentence number {i} .") for i in range(4)] == [
        "test", "train", "valid", "train"]
    digest = hashlib.blake2b(b"sentence number 0", digest_size=8).digest()
    assert int.from_bytes(digest, "big") % 10_000 < TEST_FRACTION * 10_000
    assert split_of("go .") == split_of("go !") == split_of("Go!".lower()) == "train"
    sentences = [f"sentence number {i} ." for i in range(20_000)]
    splits = [split_of(s) for s in sentences]
    assert splits == [split_of(s.replace(" .", " !")) for s in sentences]
    for name, share in (("test", TEST_FRACTION), ("valid", VALID_FRACTION),
                        ("train", 1 - TEST_FRACTION - VALID_FRACTION)):
        assert abs(splits.count(name) / len(splits) - share) < 0.006


def test_load_splits_filters_normalises_and_keeps_duplicates_together(tmp_path: Path) -> None:
    rows = []
    for i in range(400):
        rows.append(f"Sentence number {i}.\tPhrase numéro {i}\u202f!")
        rows.append(f"Sentence number {i}!\tLa phrase numéro {i}.")  # the same English words
    rows.append("One two three four five six seven eight nine ten eleven.\tUn.")  # 11 words
    path = tmp_path / "pairs.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")
    splits, read = load_splits(path, max_words=10)
    assert read == 801
    assert sum(len(v) for v in splits.values()) == 800  # the 11-word sentence is left out
    assert splits["test"][:2] == [("sentence number 0 .", "phrase numéro 0 !"),
                                  ("sentence number 0 !", "la phrase numéro 0 .")]
    where = {en.rstrip(" .!"): name for name, pairs in splits.items() for en, _ in pairs}
    for name, pairs in splits.items():
        for en, _ in pairs:
            assert where[en.rstrip(" .!")] == name
            assert split_of(en) == name
    assert all(len(splits[name]) > 0 for name in ("train", "valid", "test"))
    # a shorter limit only removes pairs; it never moves one to another split
    short, _ = load_splits(path, max_words=3)
    assert 0 < len(short["test"]) < len(splits["test"])
    assert short["test"] == [p for p in splits["test"] if word_count(p[0]) <= 3
                             and word_count(p[1]) <= 3]


def test_load_splits_rejects_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("Hello there.\tBonjour.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"`max_words` must be a positive integer, got 0"):
        load_splits(path, max_words=0)
    with pytest.raises(ValueError, match=r"expected some of each"):
        load_splits(path)


# -- BLEU ---------------------------------------------------------------------------------------


def test_rnnkit_bleu_agrees_with_sacrebleu_on_whitespace_tokens() -> None:
    """On lower-cased text whose punctuation is already split off (what the recipe stores),
    13a tokenisation is the identity and both compute the same corpus BLEU whenever every
    n-gram order has a match (sacreBLEU's exp smoothing only acts on zero counts)."""
    rng = random.Random(1)
    words = ["le", "la", "un", "chat", "chien", "dort", "mange", "voit", "petit", "grand",
             ".", "!", "?"]
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))) for _ in range(60)]
    hyps = []
    for ref in refs:
        tokens = ref.split()
        tokens[rng.randrange(len(tokens))] = rng.choice(words)  # one substitution
        if rng.random() < 0.5:
            tokens = tokens[:-1]  # shorter: the brevity penalty acts
        hyps.append(" ".join(tokens))
    ours = corpus_bleu([h.split() for h in hyps], [r.split() for r in refs])
    theirs = sacrebleu.corpus_bleu(hyps, [refs]).score
    assert 10 < ours < 90
    assert ours == pytest.approx(theirs, rel=1e-9)
    assert sacre_bleu(hyps, [[r] for r in refs]) == pytest.approx(ours, rel=1e-9)
    # golden: (5/6 · 3/5 · 2/4 · 1/3) ** (1/4) = (1/12) ** (1/4)
    hyp, ref = "the cat sat on a mat", "the cat sat on the mat"
    assert corpus_bleu([hyp.split()], [ref.split()]) == pytest.approx(100 / 12 ** 0.25)
    assert sacre_bleu([hyp], [[ref]]) == pytest.approx(100 / 12 ** 0.25)


def test_bleu_differs_from_sacrebleu_only_by_smoothing() -> None:
    hyp, ref = ["the cat sat down"], ["the cat sat on the mat"]  # no matching 4-gram
    assert corpus_bleu([h.split() for h in hyp], [r.split() for r in ref]) == 0.0
    assert sacrebleu.corpus_bleu(hyp, [ref], smooth_method="none").score == 0.0
    smoothed = sacre_bleu(hyp, [ref[:1]])
    assert 0 < smoothed < 50


def test_sacre_bleu_takes_a_varying_number_of_references() -> None:
    hyps = ["soyez amical !", "je suis un lâche ."]
    refs = [["sois amical !", "soyez amical !"], ["je suis un couard ."]]
    assert sacre_bleu(hyps, refs) == pytest.approx(sacrebleu.corpus_bleu(
        hyps, [["sois amical !", "je suis un couard ."], ["soyez amical !", None]]).score)
    assert sacre_bleu(hyps, refs) > sacre_bleu(hyps, [r[:1] for r in refs])
    with pytest.raises(ValueError, match=r"one entry per hypothesis \(2\), got 1"):
        sacre_bleu(hyps, refs[:1])
    with pytest.raises(ValueError, match=r"every sentence a reference"):
        sacre_bleu(hyps, [refs[0], []])


# -- the recipe ---------------------------------------------------------------------------------


def test_settings_and_bad_beam_widths(tmp_path: Path) -> None:
    full = recipe_settings("translate-en-fr", full=True)
    assert full.max_words == 10 and full.beam_widths == [1, 2, 5, 10]
    assert full.max_train_pairs == 0 and full.max_test_sources == 0
    path = _toy_pairs(tmp_path / "toy.txt", count=100)
    with pytest.raises(ValueError, match=r"`beam_widths` must hold 1 \(greedy\) and 5"):
        run_recipe("translate-en-fr", data=path, out=tmp_path / "run", stream=io.StringIO(),
                   overrides={"beam_widths": [1, 2]})


def test_reduced_run_learns_a_toy_language(tmp_path: Path) -> None:
    path = _toy_pairs(tmp_path / "eng-fra.txt")
    report = io.StringIO()
    run = run_recipe(
        "translate-en-fr", data=tmp_path, out=tmp_path / "run", stream=report,
        overrides={"max_steps": 150, "eval_every": 50, "lr": 0.01, "min_freq": 1,
                   "max_test_sources": 0},
    )
    results = run.results
    bench = results["benchmark"]
    assert set(bench) == BENCHMARK_KEYS
    # only training words enter the vocabularies: 4 specials, the 10 number words, "." or
    # "!", and the words of their own of the training sentences "word{i} ."
    splits, _ = load_splits(path)
    own = sum(en.startswith("word") for en, _ in splits["train"])
    assert 80 < own < 100
    assert results["vocab_sizes"] == {"en": 15 + own, "fr": 15 + own}
    assert results["test_pairs"] == len(splits["test"]) > 20
    # word-for-word translation is learnt: both decodings score high, beam 5 at least greedy
    greedy, beam5 = results["beams"]["1"]["bleu"], results["beams"]["5"]["bleu"]
    assert greedy > 50 and beam5 > 50
    assert bench["value"] == beam5 and bench["target"] == greedy
    assert bench["met"] == (beam5 >= greedy)
    curves = results["loss_curves"]
    assert curves["training loss"]["loss"][-1] < 0.5 * curves["training loss"]["loss"][0]
    assert curves["validation loss"]["steps"] == [50, 100, 150]
    assert "source    " in report.getvalue() and "beam 5    " in report.getvalue()


@needs_shared
def test_reduced_run_on_the_real_pairs(tmp_path: Path) -> None:
    report = io.StringIO()
    run = run_recipe("translate-en-fr", data=SHARED, out=tmp_path / "run", stream=report)
    results = run.results
    assert results["pairs_read"] == 142_787
    assert results["train_pairs"] == 1500 and results["valid_pairs"] == 200
    assert results["test_sources"] == 60 and results["test_pairs"] >= 60
    bench = results["benchmark"]
    assert set(bench) == BENCHMARK_KEYS
    assert bench["metric"].startswith("test BLEU") and bench["higher_is_better"] is True
    assert bench["target_text"] == "beam 5 ≥ greedy"
    assert bench["met"] == (bench["value"] >= bench["target"])
    assert [row["beam"] for row in bench["table"]] == [1, 5]
    assert sorted(results["beams"], key=int) == ["1", "2", "5"]
    for entry in results["beams"].values():
        assert 0 <= entry["bleu"] <= 100 and entry["decode_seconds"] >= 0
    assert bench["wall_seconds"] > 0 and math.isfinite(results["valid_loss"])
    assert len(results["examples"]) == 3
    rows = read_metrics(tmp_path / "run" / "seq2seq" / "metrics.csv")
    train_losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert train_losses[-1] < train_losses[0]
    for plot in ("loss.png", "bleu_vs_beam.png"):
        assert (tmp_path / "run" / plot).stat().st_size > 1000
    record = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert record["results"]["benchmark"]["value"] == bench["value"]


@pytest.mark.slow
@needs_shared
def test_full_run_meets_the_target(tmp_path: Path) -> None:
    results = run_recipe("translate-en-fr", full=True, data=SHARED, out=tmp_path / "run",
                         stream=io.StringIO()).results
    assert results["test_pairs"] > 5000
    assert results["benchmark"]["met"], results["benchmark"]
