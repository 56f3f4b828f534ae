"""read_text / iter_text: UTF-8 corpora, with clear errors for empty, binary and bad bytes."""

from __future__ import annotations

import gzip

import pytest

from rnnkit.data.text import iter_text, read_text


def test_reads_utf8_and_gzip(tmp_path) -> None:
    text = "First Citizen:\nBefore we proceed — any further.\n"
    plain = tmp_path / "a.txt"
    plain.write_bytes(text.encode())
    packed = tmp_path / "a.txt.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert read_text(plain) == text == read_text(packed)


def test_pieces_keep_multibyte_characters_whole(tmp_path) -> None:
    text = "é€😀a\n" * 50
    path = tmp_path / "u.txt"
    path.write_bytes(text.encode())
    pieces = list(iter_text(path, piece_bytes=3))
    assert "".join(pieces) == text and len(pieces) > 10


def test_missing_empty_binary_and_bad_utf8(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"No such file: '.*nope\.txt'"):
        read_text(tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"Text file '.*empty\.txt' is empty"):
        read_text(empty)
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"ab\ncd\x00\x01")
    with pytest.raises(ValueError, match=r"bin' contains a NUL byte at byte offset 5 \(line 2"):
        read_text(binary)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("line one\nna\xefve\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"1\.txt' is not valid UTF-8 at byte offset 11 \(line 2"):
        read_text(latin)


def test_bad_utf8_offset_across_pieces(tmp_path) -> None:
    path = tmp_path / "cut.txt"
    path.write_bytes("aé\n".encode() * 3 + b"\xe2\x82")  # a 3-byte character cut short at the end
    with pytest.raises(ValueError, match=r"byte offset 12 \(line 4\): unexpected end of data"):
        "".join(iter_text(path, piece_bytes=2))


def test_corrupt_gzip(tmp_path) -> None:
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"bad\.txt\.gz' cannot be decompressed"):
        read_text(path)
