"""The dataset registry and the archive converters (tiny archives made by the test)."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.data.download import (
    convert_imdb_tar,
    convert_rt_polarity_pair,
    convert_rt_polarity_tar,
    extract_zip_members,
    fetch_dataset,
)
from rnnkit.data.registry import (
    CONVERSIONS,
    DATASETS,
    Dataset,
    DatasetFile,
    Source,
    find_by_sha256,
    get_dataset,
)

_PINNED_RAW = re.compile(r"https://raw\.githubusercontent\.com/[^/]+/[^/]+/[0-9a-f]{40}/.+")


def test_every_entry_is_complete_and_pinned() -> None:
    expected = {"tiny-shakespeare", "imdb", "ptb", "ptb-char", "ud-english-ewt", "names",
                "eng-fra", "rt-polarity", "sherlock"}
    assert set(DATASETS) == expected
    for entry in DATASETS.values():
        assert entry.licence and entry.description and entry.files and entry.sources
        names = [f.name for f in entry.files]
        assert len(set(names)) == len(names)
        for file in entry.files:
            assert re.fullmatch(r"[0-9a-f]{64}", file.sha256) and file.size > 0
            assert file.git_blob is None or re.fullmatch(r"[0-9a-f]{40}", file.git_blob)
            assert file.local_names
        for source in entry.sources:
            assert source.conversion in CONVERSIONS and source.note
            if source.conversion == "copy":
                assert len(source.urls) == len(entry.files)
            for url in source.urls:
                # raw GitHub files are pinned to a commit; publishers' archives use https
                assert _PINNED_RAW.fullmatch(url) or url.startswith("https://"), url
                if "githubusercontent" in url:
                    assert _PINNED_RAW.fullmatch(url), url
    digests = [f.sha256 for e in DATASETS.values() for f in e.files]
    assert len(set(digests)) == len(digests)
    assert [d.name for d, _ in find_by_sha256(DATASETS["ptb"].files[0].sha256)] == ["ptb"]
    with pytest.raises(ValueError, match=r"`name` must be one of tiny-shakespeare, .*got 'x'"):
        get_dataset("x")


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_imdb_conversion_layout(tmp_path) -> None:
    archive = tmp_path / "aclImdb_v1.tar.gz"
    _tar(archive, {
        "aclImdb/README": b"readme",
        "aclImdb/train/pos/10_9.txt": b"ten, \"great\"",
        "aclImdb/train/pos/2_8.txt": "two\twith tab é".encode(),
        "aclImdb/train/neg/0_1.txt": b"zero",
        "aclImdb/train/unsup/0_0.txt": b"not labelled",
        "aclImdb/test/neg/1_2.txt": b"one",
        "aclImdb/test/pos/0_10.txt": b"best<br /><br />ever",
        "aclImdb/train/urls_pos.txt": b"http://x",
    })
    out = tmp_path / "imdb.tsv"
    convert_imdb_tar(archive, out)
    assert out.read_text("utf-8") == (
        "split\tlabel\ttext\n"
        "train\tpos\ttwo with tab é\n"
        'train\tpos\tten, "great"\n'
        "train\tneg\tzero\n"
        "test\tpos\tbest<br /><br />ever\n"
        "test\tneg\tone\n"
    )


def test_rt_polarity_conversions(tmp_path) -> None:
    pos, neg = "it's \" conan \" \nfine \x0c film \n", "dull . \n"
    (tmp_path / "rt-polarity.pos").write_text(pos, "utf-8")
    (tmp_path / "rt-polarity.neg").write_text(neg, "utf-8")
    expected = "label\ttext\npos\tit's \" conan \" \npos\tfine \x0c film \nneg\tdull . \n"
    out = tmp_path / "a.tsv"
    convert_rt_polarity_pair(tmp_path / "rt-polarity.pos", tmp_path / "rt-polarity.neg", out)
    assert out.read_text("utf-8") == expected
    archive = tmp_path / "rt-polaritydata.tar.gz"
    _tar(archive, {"rt-polaritydata/rt-polarity.pos": pos.encode("cp1252"),
                   "rt-polaritydata/rt-polarity.neg": neg.encode("cp1252")})
    convert_rt_polarity_tar(archive, tmp_path / "b.tsv")
    assert (tmp_path / "b.tsv").read_text("utf-8") == expected


def test_zip_members_and_archive_import(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    pairs, about = b"Go.\tVa !\n", b"about\n"
    archive = tmp_path / "fra-eng.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("fra.txt", pairs)
        bundle.writestr("_about.txt", about)
    extract_zip_members(archive, [DatasetFile("x.txt", 1, "0" * 64, member="fra.txt")], tmp_path)
    assert (tmp_path / "x.txt").read_bytes() == pairs
    toy = Dataset(
        name="toy-pairs", description="d", task="seq2seq", licence="l",
        files=(
            DatasetFile("pairs.txt", len(pairs), hashlib.sha256(pairs).hexdigest(),
                        local_names=("pairs.txt",), member="fra.txt"),
            DatasetFile("about.txt", len(about), hashlib.sha256(about).hexdigest(),
                        local_names=("about.txt",), member="_about.txt"),
        ),
        sources=(Source(("https://unused.invalid/fra-eng.zip",), "zip", note="n"),),
    )
    root = fetch_dataset(toy, source_path=archive)  # the local archive is converted
    assert (root / "pairs.txt").read_bytes() == pairs and (root / "about.txt").read_bytes() == about
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "fra-eng.zip").write_bytes(gzip.compress(b"x"))
    with pytest.raises(ValueError, match=r"fra-eng\.zip is not a readable zip file"):
        fetch_dataset(toy, source_path=tmp_path / "bad" / "fra-eng.zip")


def test_cli_list_info_prepare(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for entry in DATASETS.values():  # one row, then the licence and the first download URL
        row = out.index(f"\n{entry.name} ")
        licence = out.index(f"\n    licence: {entry.licence}\n", row)
        assert out.index(f"\n    url:     {entry.sources[0].urls[0]}", row) > licence
        assert entry.files[0].sha256 not in out
    assert "ptb.train.txt (and 2 more; -v lists them)\n" in out
    assert main(["data", "list", "-v"]) == 0
    out = capsys.readouterr().out
    for entry in DATASETS.values():
        assert entry.licence in out
        assert all(f"sha256 {file.sha256}" in out for file in entry.files)
        assert all(url in out for source in entry.sources for url in source.urls)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world\nhello again\n", "utf-8")
    assert main(["data", "info", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "sha256: " + hashlib.sha256(corpus.read_bytes()).hexdigest() in out
    assert "lines: 2" in out and "no registry dataset" in out
    assert main(["data", "prepare", str(corpus), "--out", str(tmp_path / "tok"),
                 "--level", "word"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "tok")
    assert main(["data", "info", str(tmp_path / "missing.txt")]) == 2
    assert "No such file or folder" in capsys.readouterr().err
