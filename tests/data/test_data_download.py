"""fetch_dataset against a local HTTP server: good file, wrong checksum, truncated, down, timeout.

The registry entry is a test-made Dataset whose URL points at 127.0.0.1; after every failure
the cache must hold no file at all.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from rnnkit.cli import main
from rnnkit.data.download import ChecksumError, DownloadError, fetch_dataset, file_digests
from rnnkit.data.registry import DATASETS, Dataset, DatasetFile, Source

BODY = b"First Citizen:\nBefore we proceed any further, hear me speak.\n" * 50


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[bytes, int]]] = {}

    def do_GET(self) -> None:
        if self.path not in self.routes:
            self.send_error(404, "Not Found")
            return
        body, length = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)  # then the connection closes: HTTP/1.0

    def log_message(self, *args: object) -> None:  # keep the test output clean
        return


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.routes = {
        "/good.txt": (BODY, len(BODY)),
        "/short.txt": (BODY[:100], len(BODY)),  # announces more than it sends
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("RNNKIT_CACHE", str(root))
    return root


def _toy(url: str, sha256: str | None = None, size: int | None = None) -> Dataset:
    return Dataset(
        name="toy",
        description="a test corpus",
        task="lm-char",
        licence="test data",
        files=(
            DatasetFile(
                "toy.txt",
                len(BODY) if size is None else size,
                sha256 or hashlib.sha256(BODY).hexdigest(),
                local_names=("toy.txt",),
            ),
        ),
        sources=(Source((url,)),),
    )


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_good_download_is_verified_and_cached(server, cache) -> None:
    root = fetch_dataset(_toy(f"{server}/good.txt"), progress=False)
    assert root == cache / "datasets" / "toy"
    assert (root / "toy.txt").read_bytes() == BODY
    assert _files(cache) == [root / "toy.txt"]
    # Cached: a second call does not touch the network (the URL is now dead).
    assert fetch_dataset(_toy(f"{server}/missing.txt"), progress=False) == root


def test_wrong_checksum(server, cache) -> None:
    with pytest.raises(ChecksumError, match=r"Checksum mismatch for toy\.txt from http://"
                                            r"127\.0\.0\.1:\d+/good\.txt: expected sha256 0{64}"):
        fetch_dataset(_toy(f"{server}/good.txt", sha256="0" * 64), progress=False)
    assert _files(cache) == [] and not cache.exists()


def test_wrong_size(server, cache) -> None:
    with pytest.raises(ChecksumError, match=rf"has {len(BODY)} bytes; expected 7"):
        fetch_dataset(_toy(f"{server}/good.txt", size=7), progress=False)
    assert _files(cache) == []


def test_truncated_download(server, cache) -> None:
    with pytest.raises(DownloadError, match=rf"short\.txt was truncated: got 100 of {len(BODY)}"):
        fetch_dataset(_toy(f"{server}/short.txt"), progress=False)
    assert _files(cache) == [] and not cache.exists()


def test_http_error(server, cache) -> None:
    with pytest.raises(DownloadError, match=r"missing\.txt failed: the server answered HTTP 404"):
        fetch_dataset(_toy(f"{server}/missing.txt"), progress=False)
    assert _files(cache) == []


def test_server_down(cache) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match=r"failed: cannot reach the server"):
        fetch_dataset(_toy(f"http://127.0.0.1:{port}/toy.txt"), progress=False, timeout=2)
    assert _files(cache) == [] and not cache.exists()


def test_timeout(cache) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/toy.txt"
        with pytest.raises(DownloadError, match=r"timed out: no (answer|data) .*0\.3 s"):
            fetch_dataset(_toy(url), progress=False, timeout=0.3)
    assert _files(cache) == []


def test_second_source_is_tried_after_a_failure(server, cache) -> None:
    toy = _toy(f"{server}/short.txt")
    toy = Dataset(**{**toy.__dict__, "sources": (*toy.sources, Source((f"{server}/good.txt",)))})
    root = fetch_dataset(toy, progress=False)
    assert (root / "toy.txt").read_bytes() == BODY


def test_import_from_local_file_and_folder(tmp_path, cache) -> None:
    local = tmp_path / "copy"
    local.mkdir()
    (local / "toy.txt").write_bytes(BODY)
    root = fetch_dataset(_toy("http://unused.invalid/x"), source_path=local / "toy.txt")
    assert (root / "toy.txt").read_bytes() == BODY
    (root / "toy.txt").unlink()
    (local / "toy.txt").unlink()
    (local / "toy.txt.gz").write_bytes(gzip.compress(BODY))
    fetch_dataset(_toy("http://unused.invalid/x"), source_path=local)  # finds toy.txt.gz
    assert (root / "toy.txt").read_bytes() == BODY
    (local / "toy.txt.gz").write_bytes(gzip.compress(BODY[:-1] + b"!"))
    with pytest.raises(ChecksumError, match=r"toy\.txt from .*copy: expected sha256"):
        fetch_dataset(_toy("http://unused.invalid/x"), source_path=local)
    with pytest.raises(DownloadError, match=r"lacks toy\.txt \(or toy\.txt\.gz\) of dataset toy"):
        fetch_dataset(_toy("http://unused.invalid/x"), source_path=tmp_path)
    assert sorted(p.name for p in _files(cache)) == ["toy.txt"]  # the good copy stays


def test_file_digests_of_gzip_is_the_content(tmp_path) -> None:
    plain, packed = tmp_path / "a.txt", tmp_path / "a.txt.gz"
    plain.write_bytes(BODY)
    packed.write_bytes(gzip.compress(BODY))
    assert file_digests(plain) == file_digests(packed)
    assert file_digests(plain)["sha256"] == hashlib.sha256(BODY).hexdigest()


def test_cli_get_prints_the_path(server, cache, monkeypatch, capsys) -> None:
    monkeypatch.setitem(DATASETS, "toy", _toy(f"{server}/good.txt"))
    assert main(["data", "get", "toy"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == str(cache / "datasets" / "toy" / "toy.txt")
    monkeypatch.setitem(DATASETS, "toy", _toy(f"{server}/short.txt"))
    assert main(["data", "get", "toy", "--force"]) == 2
    assert "was truncated" in capsys.readouterr().err
    assert _files(cache) == [cache / "datasets" / "toy" / "toy.txt"]  # the old copy is kept
