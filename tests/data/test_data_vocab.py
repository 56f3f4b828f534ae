"""Vocabulary: stable ids, encode/decode round trip, unknown tokens, JSON round trip."""

from __future__ import annotations

import json

import pytest

from rnnkit.data.vocab import DEFAULT_SPECIALS, Vocabulary


def test_char_ids_are_specials_then_frequency_then_first_appearance() -> None:
    vocab = Vocabulary.build(["abracadabra"], level="char")
    assert vocab.itos == [*DEFAULT_SPECIALS, "a", "b", "r", "c", "d"]
    assert (vocab.pad_id, vocab.unk_id, vocab.sos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert vocab.stoi["a"] == 4 and vocab.level == "char"


def test_ids_are_stable_across_builds_and_input_forms() -> None:
    texts = ["the cat sat on the mat", "the dog sat"]
    first = Vocabulary.build(texts, level="word")
    again = Vocabulary.build(list(texts), level="word")
    pretokenized = Vocabulary.build([t.split() for t in texts], level="word")
    assert first == again == pretokenized
    assert first.itos[4:] == ["the", "sat", "cat", "on", "mat", "dog"]


def test_word_round_trip_and_unknown_becomes_unk() -> None:
    vocab = Vocabulary.build(["a b c a"], level="word")
    ids = vocab.encode("c  a\nb")
    assert vocab.decode(ids) == "c a b"
    assert vocab.encode("a zzz") == [vocab.stoi["a"], vocab.unk_id]
    assert vocab.encode(["b", "a"], add_sos=True, add_eos=True) == [2, 5, 4, 3]
    assert vocab.decode([2, 4, 3, 0], skip_specials=True) == "a"


def test_char_round_trip_keeps_newlines_and_spaces() -> None:
    text = "To be,\n or not to be.\n"
    vocab = Vocabulary.build([text])
    assert vocab.decode(vocab.encode(text)) == text


def test_max_size_and_min_freq() -> None:
    vocab = Vocabulary.build(["aaabbc"], specials=("<unk>",), max_size=3)
    assert vocab.itos == ["<unk>", "a", "b"]
    vocab = Vocabulary.build(["aaabbc"], specials=(), min_freq=2)
    assert vocab.itos == ["a", "b"] and vocab.unk_id is None and vocab.pad_id is None


def test_special_tokens_in_text_map_to_the_special() -> None:
    vocab = Vocabulary.build(["a <unk> b <eos>"], level="word")
    assert vocab.itos == [*DEFAULT_SPECIALS, "a", "b"]
    assert vocab.encode("a <eos>") == [4, 3]


def test_unknown_without_unk_names_token_and_position() -> None:
    vocab = Vocabulary.build(["ab"], specials=())
    with pytest.raises(ValueError, match=r"token 'x' at position 2.*no <unk>"):
        vocab.encode("abx")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"`level` must be one of char, word; got 'byte'"):
        Vocabulary.build(["a"], level="byte")
    with pytest.raises(ValueError, match=r"`max_size` .* at least the number of specials \(4\)"):
        Vocabulary.build(["a"], max_size=2)
    with pytest.raises(ValueError, match=r"`min_freq` must be an integer >= 1; got 0"):
        Vocabulary.build(["a"], min_freq=0)
    with pytest.raises(TypeError, match=r"text 1 is a int"):
        Vocabulary.build(["a", 3])
    with pytest.raises(ValueError, match=r"holds 9 at position 1, outside .*\[0, 5\)"):
        Vocabulary.build(["a"]).decode([4, 9])
    with pytest.raises(ValueError, match=r"`add_eos` needs a vocabulary with a <eos>"):
        Vocabulary.build(["a"], specials=("<pad>",)).encode("a", add_eos=True)
    with pytest.raises(ValueError, match=r"must not repeat a token; 'a' is at positions 0 and 1"):
        Vocabulary(["a", "a"], specials=())


def test_json_round_trip(tmp_path) -> None:
    vocab = Vocabulary.build(["héllo wörld\n"], level="char")
    path = tmp_path / "vocab.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.itos == vocab.itos and loaded.level == "char"
    data = json.loads(path.read_text("utf-8"))
    assert data["format"] == "rnnkit.vocabulary" and data["version"] == 1
    assert not (tmp_path / "vocab.json.tmp").exists()


def test_load_validates(tmp_path) -> None:
    path = tmp_path / "vocab.json"
    good = Vocabulary.build(["ab"]).to_dict()
    for change, message in [
        ({"version": 2}, r"must have version 1"),
        ({"format": "other"}, r"must have format 'rnnkit.vocabulary'"),
        ({"itos": ["<pad>", "a"]}, r"must start with the specials"),
        ({"itos": "abc"}, r"must have a list under 'itos'"),
        ({"extra": 1}, r"unknown keys \['extra'\]"),
    ]:
        path.write_text(json.dumps({**good, **change}), "utf-8")
        pattern = r"vocab\.json' is not a valid vocabulary: .*" + message
        with pytest.raises(ValueError, match=pattern):
            Vocabulary.load(path)
    path.write_text("{not json", "utf-8")
    with pytest.raises(ValueError, match=r"vocab\.json' is not valid UTF-8 JSON"):
        Vocabulary.load(path)
