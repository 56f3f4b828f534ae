"""read_conllu: words and tags, multiword tokens and empty nodes skipped, bad lines reported."""

from __future__ import annotations

import pytest

from rnnkit.data.conllu import read_conllu, tagged


def _line(*fields: str) -> str:
    return "\t".join(fields)


def _word(i: int, form: str, upos: str, xpos: str = "_") -> str:
    return _line(str(i), form, form.lower(), upos, xpos, "_", "0", "dep", "_", "_")


GOOD = "\n".join([
    "# newdoc id = d1",
    "# sent_id = s1",
    "# text = I can't.",
    _word(1, "I", "PRON", "PRP"),
    _line("2-3", "can't", *["_"] * 8),
    _word(2, "ca", "AUX", "MD"),
    _word(3, "n't", "PART", "RB"),
    _line("3.1", "x", *["_"] * 8),
    _word(4, ".", "PUNCT", "."),
    "",
    "# sent_id = s2",
    _word(1, "Go", "VERB", "VB"),
    "",
])


def test_reads_words_tags_and_comments(tmp_path) -> None:
    path = tmp_path / "a.conllu"
    path.write_text(GOOD, "utf-8")
    first, second = read_conllu(path)
    assert first.words == ["I", "ca", "n't", "."]
    assert first.upos == ["PRON", "AUX", "PART", "PUNCT"]
    assert first.xpos == ["PRP", "MD", "RB", "."]
    assert (first.sent_id, first.text, first.line) == ("s1", "I can't.", 4)
    assert second.words == ["Go"] and second.text is None and second.line == 12
    words, tags = tagged([first, second], "xpos")
    assert words == [first.words, ["Go"]] and tags == [first.xpos, ["VB"]]


def test_last_sentence_without_blank_line(tmp_path) -> None:
    path = tmp_path / "a.conllu"
    path.write_text(GOOD.rstrip("\n"), "utf-8")
    assert len(read_conllu(path)) == 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_line("2", "x", "x", "X"), r"line 5 has 4 TAB-separated fields; expected 10"),
        (_word(5, "x", "X"), r"line 5 has the ID 5; expected 2"),
        (_word(2, "x", "X").replace("2", "two", 1), r"line 5 has the ID 'two'"),
        (_word(2, "x", ""), r"line 5 has an empty UPOS field"),
    ],
)
def test_bad_line_is_reported_with_its_number(tmp_path, bad: str, message: str) -> None:
    lines = GOOD.split("\n")
    lines.insert(4, bad)  # becomes line 5, inside the first sentence
    path = tmp_path / "bad.conllu"
    path.write_text("\n".join(lines), "utf-8")
    with pytest.raises(ValueError, match=r"CoNLL-U file '.*bad\.conllu' " + message):
        read_conllu(path)


def test_empty_binary_and_comment_only(tmp_path) -> None:
    path = tmp_path / "x.conllu"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"x\.conllu' is empty"):
        read_conllu(path)
    path.write_bytes(b"1\tA\x00")
    with pytest.raises(ValueError, match=r"x\.conllu' line 1 contains a NUL byte"):
        read_conllu(path)
    path.write_text("# only a comment\n", "utf-8")
    with pytest.raises(ValueError, match=r"holds no word lines"):
        read_conllu(path)
    with pytest.raises(ValueError, match=r"`tags` must be one of upos, xpos; got 'ner'"):
        tagged([], "ner")
