"""Fetch named datasets into the cache, verified, or import them from a local copy.

The cache is ``$RNNKIT_CACHE`` (default ``~/.cache/rnnkit``); a dataset lies in
``datasets/<name>/``, one uncompressed file per :class:`~rnnkit.data.registry.DatasetFile`.

Every file is first written into a temporary folder inside the cache, then checked (size,
sha256 and, where known, git blob id) and only then renamed into place. A failed download --
server unreachable, timeout, HTTP error, fewer bytes than the announced ``Content-Length``, a
digest that does not match -- raises one :class:`DownloadError` naming the file and the source,
and leaves nothing in the cache. Archives (IMDB, rt-polarity, the Tatoeba pairs) are converted
after download, and the converted files are what is verified.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path

from rnnkit.data.registry import Dataset, DatasetFile, Source, get_dataset
from rnnkit.data.text import open_binary

__all__ = [
    "DEFAULT_TIMEOUT",
    "ChecksumError",
    "DownloadError",
    "cache_dir",
    "dataset_dir",
    "download_url",
    "fetch_dataset",
    "file_digests",
    "is_complete",
]

#: Seconds a connection may stay silent before the download is abandoned.
DEFAULT_TIMEOUT = 60.0
_BLOCK = 1 << 16


class DownloadError(ValueError):
    """A dataset could not be fetched or imported; the message says which file and why."""


class ChecksumError(DownloadError):
    """A file's size or digest differs from the registry's."""


def cache_dir() -> Path:
    """The rnnkit cache: ``$RNNKIT_CACHE``, else ``~/.cache/rnnkit``."""
    return Path(os.environ.get("RNNKIT_CACHE") or Path.home() / ".cache" / "rnnkit")


def dataset_dir(name: str) -> Path:
    """Where the dataset ``name`` lies in the cache (whether or not it is there)."""
    return cache_dir() / "datasets" / name


def file_digests(path: str | os.PathLike[str]) -> dict[str, object]:
    """Size, sha256 and git blob id of a file's content (``.gz`` files decompressed).

    Examples:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp) / "hello.txt"
        ...     _ = path.write_bytes(b"hello\\n")
        ...     digests = file_digests(path)
        >>> digests["size"], digests["git_blob"]  # `git hash-object hello.txt`
        (6, 'ce013625030ba8dba906f756967f9e9ca394464a')
    """
    sha256 = hashlib.sha256()
    size = 0
    with open_binary(path) as stream:
        while block := stream.read(_BLOCK):
            sha256.update(block)
            size += len(block)
    blob = hashlib.sha1(b"blob %d\0" % size)  # the header needs the size: a second pass
    with open_binary(path) as stream:
        while block := stream.read(_BLOCK):
            blob.update(block)
    return {"size": size, "sha256": sha256.hexdigest(), "git_blob": blob.hexdigest()}


def _verify(path: Path, expected: DatasetFile, origin: str) -> None:
    """Raise ChecksumError unless ``path`` has the size and digests of ``expected``."""
    size = path.stat().st_size
    if size != expected.size:
        raise ChecksumError(
            f"File {expected.name} from {origin} has {size} bytes; expected {expected.size} "
            "(wrong or damaged copy), so it was not kept."
        )
    digests = file_digests(path)
    if digests["sha256"] != expected.sha256:
        raise ChecksumError(
            f"Checksum mismatch for {expected.name} from {origin}: expected sha256 "
            f"{expected.sha256}, got {digests['sha256']}, so it was not kept."
        )
    if expected.git_blob is not None and digests["git_blob"] != expected.git_blob:
        raise ChecksumError(
            f"Checksum mismatch for {expected.name} from {origin}: expected git blob "
            f"{expected.git_blob}, got {digests['git_blob']}, so it was not kept."
        )


def is_complete(dataset: Dataset, root: Path | None = None) -> bool:
    """Whether every file of ``dataset`` lies in ``root`` (default: its cache folder) with
    the right size. Files there were verified before they were renamed into place."""
    root = dataset_dir(dataset.name) if root is None else root
    return all(
        (root / f.name).is_file() and (root / f.name).stat().st_size == f.size
        for f in dataset.files
    )


def download_url(
    url: str,
    dest: str | os.PathLike[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> int:
    """Download ``url`` into the file ``dest``, checking that every announced byte came.

    Args:
        url: an http(s) or file URL.
        dest: the file to write (the caller removes it on failure).
        timeout: seconds a connection may stay silent.
        progress: show a tqdm bar on stderr (only when stderr is a terminal).

    Returns:
        The number of bytes written.

    Raises:
        DownloadError: unreachable server, HTTP error, timeout, or fewer bytes than the
            ``Content-Length`` header announced (a truncated download).
    """
    from tqdm import tqdm

    name = url.rsplit("/", 1)[-1]
    request = urllib.request.Request(url, headers={"User-Agent": "rnnkit"})
    received = 0
    total: int | None = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with (
                open(dest, "wb") as sink,
                tqdm(
                    total=total, unit="B", unit_scale=True, desc=name, file=sys.stderr,
                    disable=not progress or None, leave=False,
                ) as bar,
            ):
                while block := response.read(_BLOCK):
                    sink.write(block)
                    received += len(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as err:
        err.close()  # it holds the response's socket
        raise DownloadError(f"Download of {url} failed: the server answered HTTP {err.code} "
                            f"{err.reason}.") from None
    except TimeoutError:
        raise DownloadError(
            f"Download of {url} timed out: no data for {timeout:g} s after {received} bytes."
        ) from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise DownloadError(
                f"Download of {url} timed out: no answer within {timeout:g} s."
            ) from None
        raise DownloadError(f"Download of {url} failed: cannot reach the server "
                            f"({err.reason}).") from None
    except http.client.IncompleteRead as err:
        raise DownloadError(
            f"Download of {url} was truncated: got {received + len(err.partial)} of "
            f"{total} bytes."
        ) from None
    except (ConnectionError, http.client.HTTPException) as err:
        raise DownloadError(f"Download of {url} failed after {received} bytes: {err}.") from None
    if total is not None and received != total:
        raise DownloadError(
            f"Download of {url} was truncated: got {received} of {total} bytes "
            "(Content-Length)."
        )
    return received


# ---------------------------------------------------------------------------------- converters
def _write_tsv_rows(out: Path, header: str, rows: Iterable[str]) -> None:
    with open(out, "w", encoding="utf-8", newline="\n") as sink:
        sink.write(header + "\n")
        for row in rows:
            sink.write(row + "\n")


_IMDB_MEMBER = re.compile(r"(?:[^/]+/)?(train|test)/(pos|neg)/([0-9]+)_([0-9]+)\.txt")


def convert_imdb_tar(archive: Path, out: Path) -> None:
    """aclImdb_v1.tar.gz -> ``imdb.tsv`` in the ``shared/data`` layout.

    Header ``split<TAB>label<TAB>text``; rows train-pos, train-neg, test-pos, test-neg, each
    block ordered by the numeric review id of the file name; TABs inside reviews become
    spaces. Members are read, never extracted to disk.

    Raises:
        DownloadError: not a tar file, a review that is not UTF-8 or holds a line break.
    """
    blocks: dict[tuple[str, str], list[tuple[int, str]]] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                match = _IMDB_MEMBER.fullmatch(member.name)
                if not member.isfile() or match is None:
                    continue
                split, label, review_id, _ = match.groups()
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                try:
                    text = handle.read().decode("utf-8")
                except UnicodeDecodeError as err:
                    raise DownloadError(
                        f"Archive {archive.name} member {member.name} is not UTF-8 at byte "
                        f"{err.start}."
                    ) from None
                if "\n" in text or "\r" in text:
                    raise DownloadError(
                        f"Archive {archive.name} member {member.name} holds a line break; "
                        "the one-review-per-line TSV cannot represent it."
                    )
                blocks.setdefault((split, label), []).append(
                    (int(review_id), text.replace("\t", " "))
                )
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DownloadError(f"Archive {archive.name} is not a readable tar file: {err}.") from None
    rows = (
        f"{split}\t{label}\t{text}"
        for split in ("train", "test")
        for label in ("pos", "neg")
        for _, text in sorted(blocks.get((split, label), []))
    )
    _write_tsv_rows(out, "split\tlabel\ttext", rows)


def _polarity_rows(pos: str, neg: str) -> Iterable[str]:
    for label, text in (("pos", pos), ("neg", neg)):
        lines = text.split("\n")  # not splitlines(): that would also cut at \x0c, \x1c, ...
        if lines and lines[-1] == "":
            lines.pop()
        for line in lines:
            yield f"{label}\t{line}"


def _decode(data: bytes, encoding: str, what: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise DownloadError(f"{what} is not {encoding} at byte {err.start}.") from None


def convert_rt_polarity_pair(pos: Path, neg: Path, out: Path) -> None:
    """UTF-8 ``rt-polarity.pos`` + ``.neg`` -> ``rt-polarity.tsv`` (header ``label<TAB>text``,
    pos lines then neg lines, each line verbatim)."""
    texts = [_decode(p.read_bytes(), "utf-8", p.name) for p in (pos, neg)]
    _write_tsv_rows(out, "label\ttext", _polarity_rows(*texts))


def convert_rt_polarity_tar(archive: Path, out: Path) -> None:
    """Cornell's ``rt-polaritydata.tar.gz`` (Windows-1252) -> ``rt-polarity.tsv``."""
    found: dict[str, str] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in ("rt-polarity.pos", "rt-polarity.neg"):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[base] = _decode(handle.read(), "cp1252", member.name)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DownloadError(f"Archive {archive.name} is not a readable tar file: {err}.") from None
    missing = {"rt-polarity.pos", "rt-polarity.neg"} - set(found)
    if missing:
        raise DownloadError(f"Archive {archive.name} lacks {sorted(missing)}.")
    rows = _polarity_rows(found["rt-polarity.pos"], found["rt-polarity.neg"])
    _write_tsv_rows(out, "label\ttext", rows)


def extract_zip_members(archive: Path, files: Iterable[DatasetFile], work: Path) -> None:
    """Copy each file's ``member`` out of a zip archive into ``work`` (never to its own path)."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            names = bundle.namelist()
            for expected in files:
                member = next(
                    (n for n in names if n == expected.member
                     or n.endswith("/" + str(expected.member))),
                    None,
                )
                if member is None:
                    raise DownloadError(
                        f"Archive {archive.name} has no member {expected.member!r}."
                    )
                with bundle.open(member) as source, open(work / expected.name, "wb") as sink:
                    shutil.copyfileobj(source, sink, _BLOCK)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DownloadError(f"Archive {archive.name} is not a readable zip file: {err}.") from None


def _convert(source: Source, dataset: Dataset, inputs: list[Path], work: Path) -> None:
    """Turn the downloaded (or local) inputs of ``source`` into the dataset files in ``work``."""
    if source.conversion == "copy":
        for path, expected in zip(inputs, dataset.files, strict=True):
            if path != work / expected.name:
                _copy_decompressed(path, work / expected.name)
    elif source.conversion == "imdb-tar":
        convert_imdb_tar(inputs[0], work / dataset.files[0].name)
    elif source.conversion == "rt-polarity-pair":
        convert_rt_polarity_pair(inputs[0], inputs[1], work / dataset.files[0].name)
    elif source.conversion == "rt-polarity-tar":
        convert_rt_polarity_tar(inputs[0], work / dataset.files[0].name)
    elif source.conversion == "zip":
        extract_zip_members(inputs[0], dataset.files, work)
    else:
        raise ValueError(f"Source conversion {source.conversion!r} is unknown.")


def _copy_decompressed(path: Path, dest: Path) -> None:
    try:
        with open_binary(path) as stream, open(dest, "wb") as sink:
            shutil.copyfileobj(stream, sink, _BLOCK)  # type: ignore[misc]
    except (OSError, EOFError) as err:
        raise DownloadError(f"Cannot read {str(path)!r}: {err}.") from None


# ------------------------------------------------------------------------------------- fetching
def _local_inputs(dataset: Dataset, path: Path) -> tuple[Source, list[Path]]:
    """Match a local file or folder to a source of ``dataset``: its files or an archive."""
    copy = Source(tuple(f.name for f in dataset.files), "copy", note="local copy")
    if path.is_file():
        for source in dataset.sources:
            if source.conversion != "copy" and path.name in source.archive_names:
                if len(source.urls) != 1:
                    raise DownloadError(
                        f"Dataset {dataset.name} needs {len(source.urls)} files "
                        f"{list(source.archive_names)}; pass the folder holding them."
                    )
                return source, [path]
        if len(dataset.files) == 1:
            return copy, [path]
        raise DownloadError(
            f"Dataset {dataset.name} has {len(dataset.files)} files; pass the folder that "
            f"holds them ({', '.join(f.name for f in dataset.files[:3])}, ...), not one file."
        )
    if not path.is_dir():
        raise FileNotFoundError(f"No such file or folder: {str(path)!r}.")
    found: list[Path] = []
    missing: list[str] = []
    for expected in dataset.files:
        candidates = [path / n for name in expected.local_names for n in (name, name + ".gz")]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            missing.append(expected.local_names[0] if expected.local_names else expected.name)
        else:
            found.append(hit)
    if not missing:
        return copy, found
    # A folder holding the publisher's files or archive instead.
    for source in dataset.sources:
        if source.conversion != "copy":
            archives = [path / n for n in source.archive_names]
            if all(a.is_file() for a in archives):
                return source, archives
    raise DownloadError(
        f"Folder {str(path)!r} lacks {missing[0]} (or {missing[0]}.gz) of dataset "
        f"{dataset.name}" + (f" and {len(missing) - 1} more file(s)" if len(missing) > 1 else "")
        + "."
    )


def fetch_dataset(
    dataset: str | Dataset,
    *,
    source_path: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Make a dataset available in the cache and return its folder.

    Args:
        dataset: a registry name or a :class:`~rnnkit.data.registry.Dataset`.
        source_path: import from this local file or folder instead of downloading (a copy of
            the files, ``.gz`` or not, or the publisher's archive); verified the same way.
        timeout: seconds a connection may stay silent.
        progress: show download progress on stderr.
        force: fetch again even when the cache already holds the files.

    Returns:
        ``$RNNKIT_CACHE/datasets/<name>``, holding every file of the dataset.

    Raises:
        DownloadError: every source failed (the message gives each reason); nothing is left
            in the cache.
        ChecksumError: a file has the wrong size or digest (a subclass of DownloadError).
        FileNotFoundError: ``source_path`` does not exist.
        ValueError: unknown dataset name.
    """
    entry = get_dataset(dataset) if isinstance(dataset, str) else dataset
    root = dataset_dir(entry.name)
    if source_path is None and not force and is_complete(entry, root):
        return root
    if source_path is not None:
        source_path = Path(source_path)
        attempts = [_local_inputs(entry, source_path)]
        origin = str(source_path)
    else:
        attempts = [(source, []) for source in entry.sources]
        origin = ""
    parent = root.parent
    created = [p for p in (parent.parent, parent) if not p.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=parent))
    errors: list[DownloadError] = []
    try:
        for source, local in attempts:
            try:
                inputs = local or _download_all(source, entry, work, timeout, progress)
                _convert(source, entry, inputs, work)
                for expected in entry.files:
                    _verify(work / expected.name, expected, origin or _origin(source))
            except DownloadError as err:
                errors.append(err)
                for child in work.iterdir():  # start the next source from a clean folder
                    _remove(child)
                continue
            root.mkdir(exist_ok=True)
            for expected in entry.files:
                os.replace(work / expected.name, root / expected.name)
            return root
        if len(errors) == 1:
            raise errors[0]
        raise DownloadError(
            f"Every source of dataset {entry.name} failed: "
            + " / ".join(str(e).rstrip(".") for e in errors) + "."
        )
    finally:
        _remove(work)
        for path in reversed(created):  # leave the cache as we found it
            with contextlib.suppress(OSError):
                path.rmdir()


def _origin(source: Source) -> str:
    return source.urls[0] if len(source.urls) == 1 else f"{source.urls[0]} (and siblings)"


def _download_all(
    source: Source, dataset: Dataset, work: Path, timeout: float, progress: bool
) -> list[Path]:
    if source.conversion == "copy":
        targets = [work / f.name for f in dataset.files]
    else:
        (work / ".download").mkdir(exist_ok=True)
        targets = [work / ".download" / name for name in source.archive_names]
    for url, target in zip(source.urls, targets, strict=True):
        download_url(url, target, timeout=timeout, progress=progress)
    return targets


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
