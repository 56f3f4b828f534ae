"""Checkpoints: a directory of safetensors and JSON files, written atomically, never unpickled.

A checkpoint directory holds::

    config.json                model name and constructor arguments, training config,
                               vocabulary, rnnkit version, checkpoint format version
    model.safetensors          the model's state_dict (tied tensors stored once, aliases in
                               the header)
    optimizer.safetensors      the optimizer state_dict: tensors here, everything else as
                               JSON in the header (``__metadata__["optimizer"]``)
    stream_state.safetensors   the recurrent state carried between truncated-BPTT chunks
                               (only when there is one), one block per rank
    trainer_state.json         step, epoch, batch within the epoch, RNG states, best metric,
                               schedule state ... and the SHA-256 of every other file

The run directory holds the last checkpoint at its top level (``RUN/model.safetensors``, ...)
and the best one under ``RUN/best/``; both are written the same way.

How a write stays atomic (a redo log of one directory rename):

1. every file is written, flushed and fsynced into ``DIR/.checkpoint.tmp/``,
   ``trainer_state.json`` (with the hashes) last;
2. ``.checkpoint.tmp`` is renamed to ``.checkpoint.next`` -- one atomic rename that commits
   the new checkpoint: from here on it *will* be installed;
3. the files are moved from ``.checkpoint.next/`` to ``DIR/`` one by one with
   ``os.replace``, ``trainer_state.json`` last, and ``.checkpoint.next`` is removed.

A crash during 1 leaves a ``.checkpoint.tmp`` that is ignored and deleted: the old
checkpoint is intact. A crash during 3 leaves ``.checkpoint.next``: :func:`read_checkpoint`
first finishes the moves (every file there is complete), then loads the new checkpoint. A
reader that will not write (``recover=False``) refuses such a directory, and the hashes in
``trainer_state.json`` make any mix of files from two checkpoints fail to load -- so a half
checkpoint never loads.

Loading checks everything and fails with one sentence (:class:`CheckpointError`, a
``ValueError``): missing files, a file that is not JSON or not safetensors, a configuration of
another program, an unknown format version, a file from another checkpoint, parameters whose
names or shapes do not match the model.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import shutil
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from rnnkit import __version__

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "MODEL_FILE",
    "OPTIMIZER_FILE",
    "STATE_FILE",
    "STREAM_FILE",
    "Checkpoint",
    "CheckpointError",
    "checkpoint_config",
    "decode_rng_bytes",
    "encode_rng_bytes",
    "has_checkpoint",
    "load_model",
    "load_model_state",
    "load_optimizer_state",
    "numpy_rng_state",
    "python_rng_state",
    "read_checkpoint",
    "save_checkpoint",
    "set_numpy_rng_state",
    "set_python_rng_state",
    "tensors_to_tree",
    "tree_to_tensors",
]

FORMAT = "rnnkit-checkpoint"
STATE_FORMAT = "rnnkit-trainer-state"
FORMAT_VERSION = 1

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STREAM_FILE = "stream_state.safetensors"
STATE_FILE = "trainer_state.json"
#: every file a checkpoint may hold, in install order (the commit marker last)
FILES = (CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, STREAM_FILE, STATE_FILE)
_TMP = ".checkpoint.tmp"
_NEXT = ".checkpoint.next"


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, corrupt, foreign or does not fit the model."""


@dataclass
class Checkpoint:
    """A checkpoint read back from disk (see :func:`read_checkpoint`).

    Attributes:
        path: the directory.
        config: ``config.json`` (``model.name``, ``model.config``, ``train``, ``vocab``, ...).
        trainer_state: ``trainer_state.json``.
        model_state: the model's state_dict (CPU tensors, tied names restored).
        optimizer_state: the optimizer's state_dict in torch's layout, or ``None``.
        stream_tensors: the flattened carried state (see :func:`tensors_to_tree`).
    """

    path: Path
    config: dict[str, Any]
    trainer_state: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None = None
    stream_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


# -- small encoders --------------------------------------------------------------------------


def encode_rng_bytes(state: torch.Tensor) -> str:
    """A torch RNG state (a uint8 tensor) as base64 text.

    Example:
        >>> state = torch.get_rng_state()
        >>> torch.equal(decode_rng_bytes(encode_rng_bytes(state)), state)
        True
    """
    return base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii")


def decode_rng_bytes(text: str) -> torch.Tensor:
    """The inverse of :func:`encode_rng_bytes`."""
    data = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=np.uint8).copy()
    return torch.from_numpy(data)


def python_rng_state() -> list[Any]:
    """``random.getstate()`` as JSON-safe lists."""
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def set_python_rng_state(state: list[Any]) -> None:
    """Restore :func:`python_rng_state`'s output."""
    version, internal, gauss = state
    random.setstate((version, tuple(internal), gauss))


def numpy_rng_state() -> dict[str, Any]:
    """NumPy's global (legacy) RNG state as a JSON-safe dict."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "name": name,
        "keys": [int(k) for k in keys],
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def set_numpy_rng_state(state: Mapping[str, Any]) -> None:
    """Restore :func:`numpy_rng_state`'s output."""
    np.random.set_state(
        (
            state["name"],
            np.array(state["keys"], dtype=np.uint32),
            state["pos"],
            state["has_gauss"],
            state["cached_gaussian"],
        )
    )


def tree_to_tensors(tree: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Flatten a nested tuple/list of tensors (or ``None``) into a JSON spec and named tensors.

    Example:
        >>> spec, tensors = tree_to_tensors((torch.zeros(1), (torch.ones(2), None)))
        >>> spec
        {'tuple': [{'tensor': '0'}, {'tuple': [{'tensor': '1.0'}, None]}]}
        >>> sorted(tensors)
        ['0', '1.0']
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(node: Any, key: str) -> Any:
        if node is None:
            return None
        if isinstance(node, torch.Tensor):
            tensors[key] = node
            return {"tensor": key}
        if isinstance(node, (tuple, list)):
            kind = "tuple" if isinstance(node, tuple) else "list"
            sep = "." if key else ""
            return {kind: [walk(child, f"{key}{sep}{i}") for i, child in enumerate(node)]}
        raise TypeError(
            "Expected the recurrent state to be tensors in nested tuples or lists, got "
            f"{type(node).__name__}."
        )

    spec = walk(tree, prefix)
    return spec, tensors


def tensors_to_tree(
    spec: Any, tensors: Mapping[str, torch.Tensor], device: torch.device | str = "cpu"
) -> Any:
    """Rebuild :func:`tree_to_tensors`'s input from its spec and tensors.

    Raises:
        CheckpointError: the spec names a tensor that is not there, or is malformed.

    Example:
        >>> spec, tensors = tree_to_tensors((torch.zeros(1), [torch.ones(2)]))
        >>> tensors_to_tree(spec, tensors)
        (tensor([0.]), [tensor([1., 1.])])
    """

    def walk(node: Any) -> Any:
        if node is None:
            return None
        if isinstance(node, dict) and len(node) == 1:
            ((kind, value),) = node.items()
            if kind == "tensor":
                if value not in tensors:
                    raise CheckpointError(
                        f"The saved recurrent state lacks the tensor {value!r} its layout names."
                    )
                return tensors[value].to(device)
            if kind in ("tuple", "list") and isinstance(value, list):
                children = [walk(child) for child in value]
                return tuple(children) if kind == "tuple" else children
        raise CheckpointError(f"The saved recurrent state has a malformed layout entry {node!r}.")

    return walk(spec)


# -- writing ---------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some file systems do not open directories; the renames still happened
        return
    try:
        with contextlib.suppress(OSError):  # a directory fsync is only a durability hint
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _model_bytes(state: Mapping[str, torch.Tensor]) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[Any, ...], str] = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"Expected the model state_dict to hold tensors, got {type(value).__name__} "
                f"for {name!r}."
            )
        # Tied weights (one tensor under two names) are stored once: safetensors refuses
        # shared storage, and storing twice would untie them on load.
        identity = (
            value.untyped_storage().data_ptr() if value.numel() else id(value),
            value.storage_offset(),
            tuple(value.shape),
            tuple(value.stride()),
            value.dtype,
            value.device,
        )
        if value.numel() and identity in seen:
            aliases[name] = seen[identity]
            continue
        seen[identity] = name
        tensors[name] = value.detach().cpu().contiguous()
    metadata = {"format": FORMAT, "aliases": json.dumps(aliases)}
    return safetensors.torch.save(tensors, metadata=metadata)


def _optimizer_bytes(state: Mapping[str, Any], kind: str) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    per_param: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        plain: dict[str, Any] = {}
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                key = f"state.{index}.{name}"
                tensors[key] = value.detach().cpu().contiguous()
                plain[name] = {"tensor": key}
            else:
                plain[name] = value
        per_param[str(index)] = plain
    meta = {"kind": kind, "state": per_param, "param_groups": state["param_groups"]}
    try:
        text = json.dumps(meta)
    except TypeError as err:
        raise TypeError(f"The optimizer state has a value JSON cannot hold: {err}.") from None
    return safetensors.torch.save(tensors, metadata={"format": FORMAT, "optimizer": text})


def _json_bytes(data: Mapping[str, Any], what: str) -> bytes:
    try:
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")
    except TypeError as err:
        raise TypeError(f"The checkpoint's {what} must be JSON-safe: {err}.") from None


def checkpoint_config(
    *,
    model_name: str,
    model_config: Mapping[str, Any] | None,
    train_config: Mapping[str, Any],
    vocab: Any = None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of ``config.json``.

    Args:
        model_name: the registry name that rebuilds the model.
        model_config: the model's ``config_dict()``.
        train_config: the training configuration as a dict.
        vocab: a JSON-safe vocabulary (``vocab.to_dict()``), or an object with ``to_dict``.
        run: the whole resolved run configuration, if the caller has one.

    Example:
        >>> checkpoint_config(model_name="toy", model_config={"h": 2}, train_config={})["format"]
        'rnnkit-checkpoint'
    """
    if vocab is not None and hasattr(vocab, "to_dict"):
        vocab = vocab.to_dict()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "rnnkit_version": __version__,
        "model": {
            "name": model_name,
            "config": None if model_config is None else dict(model_config),
        },
        "train": dict(train_config),
        "vocab": vocab,
        "run": None if run is None else dict(run),
    }


def save_checkpoint(
    directory: str | Path,
    *,
    config: Mapping[str, Any],
    trainer_state: Mapping[str, Any],
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any] | None = None,
    optimizer_kind: str = "",
    stream_tensors: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write a checkpoint into ``directory`` atomically (see the module docstring).

    Args:
        directory: the checkpoint directory (``RUN`` or ``RUN/best``), created if missing.
        config: ``config.json`` (from :func:`checkpoint_config`).
        trainer_state: JSON-safe loop state; ``format``, ``format_version`` and ``files``
            are added.
        model_state: the model's ``state_dict()``.
        optimizer_state: the optimizer's ``state_dict()``, if any.
        optimizer_kind: the optimizer's class name, checked on load.
        stream_tensors: flattened carried state (:func:`tree_to_tensors`), if any.

    Returns:
        ``directory``.

    Raises:
        TypeError: a value that JSON or safetensors cannot hold.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload: dict[str, bytes] = {
        CONFIG_FILE: _json_bytes(config, "config"),
        MODEL_FILE: _model_bytes(model_state),
    }
    if optimizer_state is not None:
        payload[OPTIMIZER_FILE] = _optimizer_bytes(optimizer_state, optimizer_kind)
    if stream_tensors:
        payload[STREAM_FILE] = safetensors.torch.save(
            {k: v.detach().cpu().contiguous() for k, v in stream_tensors.items()},
            metadata={"format": FORMAT},
        )
    state = dict(trainer_state)
    state.update(
        format=STATE_FORMAT,
        format_version=FORMAT_VERSION,
        files={name: hashlib.sha256(data).hexdigest() for name, data in payload.items()},
    )
    payload[STATE_FILE] = _json_bytes(state, "trainer state")

    tmp, nxt = directory / _TMP, directory / _NEXT
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for name in FILES:
        if name in payload:
            _write_bytes(tmp / name, payload[name])
    _fsync_dir(tmp)
    if nxt.exists():  # an install nobody finished: this newer checkpoint replaces it
        shutil.rmtree(nxt)
    os.rename(tmp, nxt)  # the commit point
    _fsync_dir(directory)
    _install(directory)
    return directory


def _install(directory: Path) -> None:
    """Move a committed ``.checkpoint.next`` into place, the trainer state last.

    Safe to run again after a crash part-way: files already moved are not in ``.next`` any
    more, and the trainer state, moved last, still lists every file of the new checkpoint.
    """
    nxt = directory / _NEXT
    if (nxt / STATE_FILE).is_file():
        try:
            listed = set(json.loads((nxt / STATE_FILE).read_bytes())["files"]) | {STATE_FILE}
        except (ValueError, KeyError, TypeError):
            listed = set(FILES)
        # Files the new checkpoint does not have must not survive beside it.
        for name in FILES:
            if name not in listed:
                (directory / name).unlink(missing_ok=True)
        for name in FILES:
            try:
                os.replace(nxt / name, directory / name)
            except FileNotFoundError:  # already moved (by us before a crash, or a reader)
                continue
        _fsync_dir(directory)
    shutil.rmtree(nxt, ignore_errors=True)


def recover(directory: str | Path) -> None:
    """Finish an interrupted install and drop an unfinished write in ``directory``."""
    directory = Path(directory)
    if (directory / _NEXT).is_dir():
        _install(directory)
    if (directory / _TMP).exists():
        shutil.rmtree(directory / _TMP, ignore_errors=True)


def has_checkpoint(directory: str | Path) -> bool:
    """Whether ``directory`` holds a committed checkpoint (possibly still to be installed)."""
    directory = Path(directory)
    return (directory / STATE_FILE).is_file() or (directory / _NEXT / STATE_FILE).is_file()


# -- reading ---------------------------------------------------------------------------------


def _parse_json(path: Path, data: bytes, expected_format: str, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"{path} is not a JSON file ({err}); the checkpoint is corrupt."
        ) from None
    if not isinstance(parsed, dict) or parsed.get("format") != expected_format:
        keys = (
            ", ".join(sorted(map(str, parsed))[:8])
            if isinstance(parsed, dict)
            else type(parsed).__name__
        )
        raise CheckpointError(
            f'{path} is not an rnnkit {what}: expected "format": "{expected_format}", '
            f"found {keys or 'nothing'} (a file of another program?)."
        )
    version = parsed.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; rnnkit {__version__} reads "
            f"version {FORMAT_VERSION}."
        )
    return parsed


def _parse_safetensors(path: Path, data: bytes) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    def bad(reason: str) -> CheckpointError:
        return CheckpointError(f"{path} is not a valid safetensors file ({reason}).")

    if len(data) < 8:
        raise bad(f"{len(data)} bytes, shorter than the 8-byte header length")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise bad(f"its header claims {size} bytes but the file has {len(data) - 8} after it")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("its header is not JSON") from None
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    try:
        tensors = safetensors.torch.load(data)
    except Exception as err:  # safetensors raises its own SafetensorError for every defect
        raise bad(f"truncated or corrupt: {err}") from None
    metadata = header.get("__metadata__") or {}
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not one rnnkit wrote.")
    return tensors, metadata


def _unflatten_optimizer(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]
) -> tuple[dict[str, Any], str]:
    try:
        meta = json.loads(metadata["optimizer"])
        state: dict[int, dict[str, Any]] = {}
        for index, entries in meta["state"].items():
            restored: dict[str, Any] = {}
            for name, value in entries.items():
                if isinstance(value, dict) and set(value) == {"tensor"}:
                    restored[name] = tensors[value["tensor"]]
                else:
                    restored[name] = value
            state[int(index)] = restored
        return {"state": state, "param_groups": meta["param_groups"]}, str(meta.get("kind", ""))
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path} has a malformed optimizer record ({err!r}).") from None


def read_checkpoint(directory: str | Path, *, recover_install: bool = True) -> Checkpoint:
    """Read and validate the checkpoint in ``directory``.

    Args:
        directory: ``RUN`` (the last checkpoint) or ``RUN/best``.
        recover_install: finish an install a crash interrupted (the only write it makes);
            with ``False`` such a directory is refused.

    Returns:
        The checkpoint, tensors on the CPU.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        CheckpointError: anything wrong with its files (one sentence says what).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"Checkpoint directory {str(directory)!r} does not exist.")
    for attempt in range(3):
        if (directory / _NEXT).is_dir():
            if not recover_install:
                raise CheckpointError(
                    f"{directory} holds an interrupted checkpoint install ({_NEXT}); read it "
                    "once with recover_install=True to finish it."
                )
            recover(directory)
        state_bytes = (
            (directory / STATE_FILE).read_bytes() if (directory / STATE_FILE).is_file() else b""
        )
        try:
            return _read_once(directory, state_bytes)
        except _MixedFilesError as mixed:
            # A trainer may have installed a newer checkpoint while we read: read again.
            changed = (directory / STATE_FILE).is_file() and (
                (directory / STATE_FILE).read_bytes() != state_bytes
            )
            if attempt == 2 or not (changed or (directory / _NEXT).is_dir()):
                raise CheckpointError(str(mixed)) from None
            time.sleep(0.05)
    raise CheckpointError(f"{directory} kept changing while it was read.")  # pragma: no cover


class _MixedFilesError(Exception):
    """A file's hash differs from the one the trainer state records."""


def _read_once(directory: Path, state_bytes: bytes) -> Checkpoint:
    for name in (CONFIG_FILE, STATE_FILE, MODEL_FILE):
        if not (directory / name).is_file():
            raise CheckpointError(f"Checkpoint {directory} is missing {name}.")
    state = _parse_json(directory / STATE_FILE, state_bytes, STATE_FORMAT, "trainer state")
    hashes = state.get("files")
    if not isinstance(hashes, dict) or MODEL_FILE not in hashes or CONFIG_FILE not in hashes:
        raise CheckpointError(f"{directory / STATE_FILE} does not list the checkpoint's files.")
    contents: dict[str, bytes] = {}
    for name in hashes:
        if name not in FILES or name == STATE_FILE:
            raise CheckpointError(f"{directory / STATE_FILE} lists an unknown file {name!r}.")
        if not (directory / name).is_file():
            raise CheckpointError(f"Checkpoint {directory} is missing {name}.")
        contents[name] = (directory / name).read_bytes()

    # Format first (a truncated or foreign file says so), then the hashes (a mix of two
    # checkpoints), then the content.
    config = _parse_json(
        directory / CONFIG_FILE, contents[CONFIG_FILE], FORMAT, "checkpoint configuration"
    )
    parsed = {
        name: _parse_safetensors(directory / name, data)
        for name, data in contents.items()
        if name.endswith(".safetensors")
    }
    for name, data in contents.items():
        if hashlib.sha256(data).hexdigest() != hashes[name]:
            raise _MixedFilesError(
                f"{directory / name} does not belong to this checkpoint (its SHA-256 differs "
                f"from the one {STATE_FILE} records): the directory mixes files of two "
                "checkpoints."
            )
    checkpoint = Checkpoint(path=directory, config=config, trainer_state=state, model_state={})
    for name, (tensors, metadata) in parsed.items():
        path = directory / name
        if name == MODEL_FILE:
            try:
                aliases = json.loads(metadata.get("aliases", "{}"))
                for alias, source in aliases.items():
                    tensors[alias] = tensors[source]
            except (json.JSONDecodeError, KeyError, AttributeError) as err:
                raise CheckpointError(f"{path} has a malformed alias record ({err!r}).") from None
            checkpoint.model_state = tensors
        elif name == OPTIMIZER_FILE:
            checkpoint.optimizer_state, kind = _unflatten_optimizer(path, tensors, metadata)
            checkpoint.trainer_state["optimizer_kind"] = kind
        elif name == STREAM_FILE:
            checkpoint.stream_tensors = tensors
    return checkpoint


# -- loading into objects --------------------------------------------------------------------


def _shape(t: torch.Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def load_model_state(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "the checkpoint"
) -> None:
    """Load ``state`` into ``model`` after checking every name and shape.

    Raises:
        CheckpointError: names missing or unexpected, or a shape that differs.

    Example:
        >>> model = nn.Linear(2, 3)
        >>> state = {"weight": torch.zeros(3, 2), "bias": torch.zeros(4)}
        >>> try:
        ...     load_model_state(model, state, "ckpt")
        ... except CheckpointError as err:
        ...     print(err)
        ckpt does not fit the model: `bias` has shape [4] in the checkpoint and [3] in the model.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(
                f"has {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''} "
                "that the model does not"
            )
        raise CheckpointError(f"{source} does not fit the model: it {' and '.join(parts)}.")
    for name, value in expected.items():
        if tuple(state[name].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{source} does not fit the model: `{name}` has shape {_shape(state[name])} in "
                f"the checkpoint and {_shape(value)} in the model."
            )
    model.load_state_dict(dict(state), strict=True)


def load_optimizer_state(
    optimizer: torch.optim.Optimizer,
    state: Mapping[str, Any],
    source: str = "the checkpoint",
    kind: str = "",
) -> None:
    """Load ``state`` into ``optimizer`` after checking groups, sizes and shapes.

    Raises:
        CheckpointError: another optimizer class, other parameter groups or shapes.
    """
    if kind and kind != type(optimizer).__name__:
        raise CheckpointError(
            f"{source} holds the state of a {kind} optimizer; this run uses "
            f"{type(optimizer).__name__}."
        )
    saved_groups = state["param_groups"]
    groups = optimizer.param_groups
    sizes = [len(g["params"]) for g in saved_groups]
    if sizes != [len(g["params"]) for g in groups]:
        raise CheckpointError(
            f"{source} has optimizer parameter groups of sizes {sizes}; this model has "
            f"{[len(g['params']) for g in groups]}."
        )
    by_index = {
        index: param
        for saved, group in zip(saved_groups, groups, strict=True)
        for index, param in zip(saved["params"], group["params"], strict=True)
    }
    for index, entries in state["state"].items():
        if index not in by_index:
            raise CheckpointError(f"{source} has optimizer state for unknown parameter {index}.")
        param = by_index[index]
        for name, value in entries.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                raise CheckpointError(
                    f"{source} has optimizer state `{name}` of shape {_shape(value)} for a "
                    f"parameter of shape {_shape(param)}."
                )
    optimizer.load_state_dict(dict(state))


def load_model(
    directory: str | Path,
    build_model: Callable[[str, dict[str, Any]], nn.Module] | Mapping[str, Any] | type,
    *,
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint holds, weights loaded, in eval mode.

    Args:
        directory: ``RUN`` or ``RUN/best``.
        build_model: ``build_model(name, config) -> nn.Module`` (rnnkit.models has one), a
            mapping from names to classes, or one class with ``from_config_dict``.
        device: where the model goes.

    Returns:
        ``(model, config)`` with ``config`` the checkpoint's ``config.json`` (its ``vocab``
        entry holds the vocabulary).

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        CheckpointError: a bad checkpoint, or one whose model name is not known.
    """
    checkpoint = read_checkpoint(directory)
    model_entry = checkpoint.config.get("model") or {}
    name, model_config = model_entry.get("name"), model_entry.get("config")
    if not isinstance(name, str) or not isinstance(model_config, dict):
        raise CheckpointError(
            f"{Path(directory) / CONFIG_FILE} does not record the model's name and config, so "
            "the model cannot be rebuilt from it."
        )
    if isinstance(build_model, Mapping):
        if name not in build_model:
            raise CheckpointError(
                f"{Path(directory) / CONFIG_FILE} names the model {name!r}; known models are "
                f"{', '.join(sorted(build_model))}."
            )
        model = build_model[name].from_config_dict(model_config)
    elif isinstance(build_model, type) and hasattr(build_model, "from_config_dict"):
        model = build_model.from_config_dict(model_config)
    else:
        model = build_model(name, model_config)
    load_model_state(model, checkpoint.model_state, str(Path(directory) / MODEL_FILE))
    model.to(device)
    model.eval()
    return model, checkpoint.config
