"""``rnnkit data``: named datasets (list, get), file inspection (info), token files (prepare).

::

    rnnkit data list [--verbose]   # name, task, size, licence, download URL (-v: sha256s)
    rnnkit data get NAME [--from PATH] [--force] [--timeout S]
    rnnkit data info PATH...
    rnnkit data prepare TEXT --out DIR [--level char|word] [--vocab VOCAB_JSON]

``get`` prints the path of the prepared data on stdout -- the file for a one-file dataset, the
folder otherwise -- so that ``rnnkit train lm --data "$(rnnkit data get tiny-shakespeare)"``
works; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``list``, ``get``, ``info`` and ``prepare`` actions to ``parser``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list", help="the named datasets: size, licence, download URL, whether cached"
    )
    listing.add_argument("--verbose", "-v", action="store_true",
                         help="also print every source URL, each file's sha256, and notes")

    get = actions.add_parser("get", help="download (or import) a named dataset, verified")
    get.add_argument("name", help="a dataset name (see `rnnkit data list`)")
    get.add_argument("--from", dest="source", metavar="PATH",
                     help="import a local copy (a file, a folder, or the publisher's archive) "
                          "instead of downloading; verified the same way")
    get.add_argument("--force", action="store_true", help="fetch again even if cached")
    get.add_argument("--timeout", type=float, default=60.0,
                     help="seconds a connection may stay silent (default 60)")

    info = actions.add_parser("info", help="what a file is: size, lines, digest, dataset, layout")
    info.add_argument("paths", nargs="+", metavar="PATH", help="files (or folders) to describe")

    prepare = actions.add_parser(
        "prepare", help="encode a text file once into a memory-mapped token file"
    )
    prepare.add_argument("text", help="a UTF-8 text file (.gz accepted)")
    prepare.add_argument("--out", required=True, help="output folder")
    prepare.add_argument("--level", choices=("char", "word"), default="char",
                         help="tokens: characters, or words with <eos> at line ends")
    prepare.add_argument("--vocab", metavar="VOCAB_JSON",
                         help="encode with this vocabulary (e.g. the train split's vocab.json)")
    prepare.add_argument("--max-size", type=int, default=None,
                         help="largest vocabulary size, specials included")
    prepare.add_argument("--min-freq", type=int, default=1,
                         help="rarer tokens become <unk> (default 1)")
    prepare.add_argument("--overwrite", action="store_true",
                         help="replace a token file prepared from another source")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; returns the exit status."""
    return {"list": _list, "get": _get, "info": _info, "prepare": _prepare}[args.action](args)


def _human(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"  # pragma: no cover -- the loop always returns


def _first_url(entry: Any) -> str:
    """The URL ``get`` downloads first, and how many more the entry lists."""
    urls = [url for source in entry.sources for url in source.urls]
    more = f" (and {len(urls) - 1} more; -v lists them)" if len(urls) > 1 else ""
    return urls[0] + more


def _list(args: argparse.Namespace) -> int:
    """Each dataset: a row (name, task, size, files, cached, description), then its licence
    and download URL; ``--verbose`` adds notes, every source URL and each file's sha256."""
    from rnnkit.data.download import cache_dir, is_complete
    from rnnkit.data.registry import DATASETS

    print(f"{'name':<17}{'task':<15}{'size':>9}  {'files':>5}  cached  description")
    for entry in DATASETS.values():
        cached = "yes" if is_complete(entry) else "no"
        print(f"{entry.name:<17}{entry.task:<15}{_human(entry.size):>9}  "
              f"{len(entry.files):>5}  {cached:<6}  {entry.description}")
        print(f"    licence: {entry.licence}")
        if not args.verbose:
            print(f"    url:     {_first_url(entry)}")
        else:
            if entry.notes:
                print(f"    notes:   {entry.notes}")
            for source in entry.sources:
                print(f"    source ({source.conversion}): {source.note}")
                for url in source.urls:
                    print(f"      {url}")
            for file in entry.files:
                print(f"    file {file.name}: {file.size:,} bytes, sha256 {file.sha256}"
                      + (f", git blob {file.git_blob}" if file.git_blob else ""))
    print(f"cache: {cache_dir()} (set RNNKIT_CACHE to move it)", file=sys.stderr)
    return 0


def _get(args: argparse.Namespace) -> int:
    from rnnkit.data.download import fetch_dataset
    from rnnkit.data.registry import get_dataset

    entry = get_dataset(args.name)
    if args.timeout <= 0:
        raise ValueError(f"Argument `--timeout` must be positive; got {args.timeout}.")
    if args.source is not None and not Path(args.source).exists():
        raise FileNotFoundError(f"Option `--from` path {args.source!r} does not exist.")
    root = fetch_dataset(entry, source_path=args.source, timeout=args.timeout,
                         force=args.force)
    print(f"{entry.name}: {len(entry.files)} file(s) verified in {root}", file=sys.stderr)
    print(root / entry.files[0].name if len(entry.files) == 1 else root)
    return 0


def _info(args: argparse.Namespace) -> int:
    from rnnkit.data.describe import describe_file

    paths: list[Path] = []
    for name in args.paths:
        path = Path(name)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            paths.append(path)
        else:
            raise FileNotFoundError(f"No such file or folder: {name!r}.")
    for number, path in enumerate(paths):
        if number:
            print()
        for key, value in describe_file(path):
            print(f"{key:>20}: {value}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from rnnkit.data.memmap import open_token_file, prepare_token_file
    from rnnkit.data.vocab import Vocabulary

    vocab = Vocabulary.load(args.vocab) if args.vocab else None
    out = prepare_token_file(args.text, args.out, level=args.level, vocab=vocab,
                             max_size=args.max_size, min_freq=args.min_freq,
                             overwrite=args.overwrite)
    tokens, vocab = open_token_file(out)
    print(f"{len(tokens):,} {args.level} tokens ({tokens.dtype}), vocabulary of {len(vocab):,} "
          f"in {out}", file=sys.stderr)
    print(out)
    return 0
