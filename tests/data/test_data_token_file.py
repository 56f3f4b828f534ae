"""prepare_token_file / open_token_file: streamed encoding equals in-memory encoding."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from rnnkit.data.batching import StreamBatches
from rnnkit.data.memmap import open_token_file, prepare_token_file
from rnnkit.data.text import read_text
from rnnkit.data.vocab import Vocabulary

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak. é€\n"


def test_char_token_file_equals_in_memory_encoding(tmp_path) -> None:
    source = tmp_path / "corpus.txt"
    source.write_text(TEXT * 7, "utf-8")
    out = prepare_token_file(source, tmp_path / "tok", piece_bytes=5)  # pieces cut characters
    tokens, vocab = open_token_file(out)
    text = read_text(source)
    assert isinstance(tokens, np.memmap) and tokens.dtype == np.uint16
    assert vocab == Vocabulary.build(text)
    assert tokens.tolist() == vocab.encode(text)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["num_tokens"] == len(text) and meta["level"] == "char"
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "tokens.bin", "vocab.json"]


def test_memmap_stream_equals_in_memory_stream(tmp_path) -> None:
    source = tmp_path / "corpus.txt"
    source.write_text(TEXT * 11, "utf-8")
    tokens, vocab = open_token_file(prepare_token_file(source, tmp_path / "tok"))
    in_memory = vocab.encode(read_text(source))
    for random_offset in (False, True):
        a = StreamBatches(tokens, 4, 9, random_offset=random_offset, seed=1)
        b = StreamBatches(in_memory, 4, 9, random_offset=random_offset, seed=1)
        a.set_epoch(2)
        b.set_epoch(2)
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x.inputs, y.inputs) and torch.equal(x.targets, y.targets)


def test_word_level_ends_lines_with_eos_across_pieces(tmp_path) -> None:
    source = tmp_path / "ptb.txt"
    source.write_text(" the cat sat \n a dog \n\nlast line without newline", "utf-8")
    expected = []
    for line in source.read_text().splitlines():  # the pytorch/examples Corpus rule
        expected += [*line.split(), "<eos>"]
    for piece_bytes in (1, 3, 7, 1 << 20):
        out = prepare_token_file(source, tmp_path / f"w{piece_bytes}", level="word",
                                 piece_bytes=piece_bytes)
        tokens, vocab = open_token_file(out)
        assert [vocab.itos[i] for i in tokens] == expected


def test_shared_vocabulary_reuse_and_overwrite(tmp_path) -> None:
    train = tmp_path / "train.txt"
    train.write_text("a b c\n", "utf-8")
    valid = tmp_path / "valid.txt"
    valid.write_text("c z\n", "utf-8")
    _, vocab = open_token_file(prepare_token_file(train, tmp_path / "train", level="word"))
    tokens, same = open_token_file(prepare_token_file(valid, tmp_path / "valid", level="word",
                                                      vocab=vocab))
    assert same == vocab and tokens.tolist() == [vocab.stoi["c"], vocab.unk_id, vocab.eos_id]
    before = (tmp_path / "train" / "tokens.bin").stat().st_mtime_ns
    prepare_token_file(train, tmp_path / "train", level="word")  # same source: reused
    assert (tmp_path / "train" / "tokens.bin").stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match=r"prepared from another source.*overwrite=True"):
        prepare_token_file(valid, tmp_path / "train", level="word")
    prepare_token_file(valid, tmp_path / "train", level="word", overwrite=True)
    assert open_token_file(tmp_path / "train")[1].itos[4:] == ["c", "z"]


def test_a_directory_of_something_else_is_never_written_into(tmp_path) -> None:
    text = tmp_path / "corpus.txt"
    text.write_text(TEXT, "utf-8")
    run = tmp_path / "run"  # a run directory: its vocab.json must not be replaced
    run.mkdir()
    (run / "vocab.json").write_text('{"run": true}', "utf-8")
    (run / "model.safetensors").write_bytes(b"weights")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=re.escape(
            f"Directory '{run}' is not a token directory and not empty (it holds "
            "'model.safetensors'); choose a new or empty directory."
        )):
            prepare_token_file(text, run, overwrite=overwrite)
    assert sorted(e.name for e in run.iterdir()) == ["model.safetensors", "vocab.json"]
    assert (run / "vocab.json").read_text("utf-8") == '{"run": true}'
    # an empty directory, or one an interrupted run left its temporary file in, is taken
    leftover = tmp_path / "leftover"
    leftover.mkdir()
    (leftover / "tokens.bin.tmp").write_bytes(b"\0\0")
    tokens, _ = open_token_file(prepare_token_file(text, leftover))
    assert len(tokens) == len(TEXT)
    assert not (leftover / "tokens.bin.tmp").exists()


def test_bad_input_and_damaged_files(tmp_path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.txt' is empty"):
        prepare_token_file(empty, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before any write
    source = tmp_path / "c.txt"
    source.write_text("abcabc", "utf-8")
    with pytest.raises(ValueError, match=r"a char-level vocabulary; got level='word'"):
        prepare_token_file(source, tmp_path / "out", level="word", vocab=Vocabulary.build("ab"))
    with pytest.raises(ValueError, match=r"needs an <eos> token"):
        prepare_token_file(source, tmp_path / "out", level="word", specials=("<unk>",))
    out = prepare_token_file(source, tmp_path / "ok")
    with open(out / "tokens.bin", "ab") as sink:
        sink.write(b"\x00")
    with pytest.raises(ValueError, match=r"ok' is damaged: tokens\.bin has 13 bytes; meta\.json "
                       r"promises 6"):
        open_token_file(out)
    with pytest.raises(FileNotFoundError, match=r"holds no token file: meta\.json is missing"):
        open_token_file(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"^Token directory '.*nowhere' does not exist\.$"):
        open_token_file(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"^Option `x` directory '.*c\.txt' is a file; "):
        open_token_file(source, name="Option `x` directory")
    (out / "meta.json").write_text('{"format": "something else"}', "utf-8")
    with pytest.raises(ValueError, match=r"holds a meta\.json that is not rnnkit token metadata"):
        open_token_file(out)
