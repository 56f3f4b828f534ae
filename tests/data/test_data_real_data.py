"""Real datasets from shared/data (slow; run with `-m slow`): import, verify, read, convert.

The folder is ``$RNNKIT_SHARED_DATA`` or ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import tarfile
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.data.conllu import read_conllu
from rnnkit.data.download import (
    convert_imdb_tar,
    convert_rt_polarity_pair,
    convert_rt_polarity_tar,
    file_digests,
)
from rnnkit.data.memmap import open_token_file, prepare_token_file
from rnnkit.data.registry import DATASETS
from rnnkit.data.tables import read_table

SHARED = Path(os.environ.get("RNNKIT_SHARED_DATA") or Path(__file__).parents[3] / "shared/data")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared data folder at {SHARED}"),
]


@pytest.mark.parametrize("name", list(DATASETS))
def test_import_each_dataset_with_from(name, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    assert main(["data", "get", name, "--from", str(SHARED)]) == 0
    printed = Path(capsys.readouterr().out.strip())
    root = tmp_path / "cache" / "datasets" / name
    assert printed == (root / DATASETS[name].files[0].name if len(DATASETS[name].files) == 1
                       else root)
    for expected in DATASETS[name].files:
        digests = file_digests(root / expected.name)
        assert digests["sha256"] == expected.sha256 and digests["size"] == expected.size
        if expected.git_blob:
            assert digests["git_blob"] == expected.git_blob


def test_single_file_import_by_path(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    assert main(["data", "get", "tiny-shakespeare", "--from",
                 str(SHARED / "tinyshakespeare.txt")]) == 0
    assert main(["data", "get", "sherlock", "--from", str(SHARED / "sherlock.txt.gz")]) == 0


def test_readers_on_real_files(tmp_path) -> None:
    train = read_conllu(SHARED / "ud_english_ewt/en_ewt-ud-train.conllu.gz")
    assert len(train) == 12544 and sum(len(s) for s in train) == 204577
    imdb = read_table(SHARED / "imdb.tsv.gz")
    assert len(imdb) == 50000 and imdb.classes() == ["neg", "pos"]
    rt = read_table(SHARED / "rt-polarity.tsv")
    assert len(rt) == 10662
    tokens, vocab = open_token_file(
        prepare_token_file(SHARED / "ptb/ptb.train.txt.gz", tmp_path / "ptb", level="word")
    )
    assert len(tokens) == 929589 and len(vocab) == 10002  # 9,999 words + <eos> + 3 specials


def test_imdb_conversion_reproduces_the_shared_file(tmp_path) -> None:
    """Rebuild an aclImdb-shaped tarball from imdb.tsv; the converter must give it back."""
    rows = read_table(SHARED / "imdb.tsv.gz", text_column="text", label_column="split")
    labels = read_table(SHARED / "imdb.tsv.gz").labels
    archive = tmp_path / "aclImdb_v1.tar.gz"
    counters: dict[tuple[str, str], int] = {}
    members = []
    for text, split, label in zip(rows.texts, rows.labels, labels, strict=True):
        review_id = counters.get((split, label), 0)  # the row's index in its block
        counters[(split, label)] = review_id + 1
        rating = 8 if label == "pos" else 2
        members.append((f"aclImdb/{split}/{label}/{review_id}_{rating}.txt", text))
    random.Random(0).shuffle(members)  # the converter must restore the order by numeric id
    with tarfile.open(archive, "w") as tar:  # uncompressed: the converter sniffs the format
        for name, text in members:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    convert_imdb_tar(archive, tmp_path / "imdb.tsv")
    assert file_digests(tmp_path / "imdb.tsv")["sha256"] == DATASETS["imdb"].files[0].sha256


def test_rt_polarity_conversions_reproduce_the_shared_file(tmp_path) -> None:
    table = read_table(SHARED / "rt-polarity.tsv")
    for label in ("pos", "neg"):
        text = "".join(t + "\n" for t, lab in zip(table.texts, table.labels, strict=True)
                       if lab == label)
        (tmp_path / f"rt-polarity.{label}").write_text(text, "utf-8")
    convert_rt_polarity_pair(tmp_path / "rt-polarity.pos", tmp_path / "rt-polarity.neg",
                             tmp_path / "pair.tsv")
    expected = DATASETS["rt-polarity"].files[0].sha256
    assert hashlib.sha256((tmp_path / "pair.tsv").read_bytes()).hexdigest() == expected
    archive = tmp_path / "rt-polaritydata.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for label in ("pos", "neg"):
            data = (tmp_path / f"rt-polarity.{label}").read_text("utf-8").encode("cp1252")
            info = tarfile.TarInfo(f"rt-polaritydata/rt-polarity.{label}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    convert_rt_polarity_tar(archive, tmp_path / "tar.tsv")
    assert hashlib.sha256((tmp_path / "tar.tsv").read_bytes()).hexdigest() == expected
