"""Configuration as typed dataclasses: load from TOML or JSON, override from the command line.

A configuration is a dataclass whose fields are ``bool``, ``int``, ``float``, ``str``, a
``Literal[...]`` of strings, ``X | None``, ``list[X]`` / ``tuple[X, ...]``, ``dict`` (free
JSON) or another configuration dataclass (a *section*). Each field carries one ``#`` comment
on its line; :func:`field_help` reads those comments so ``--help`` shows them.

Values are resolved in three layers, later ones winning: the dataclass defaults, a TOML or
JSON file (``--config FILE``), then ``--key value`` options.

The key convention (one, everywhere): an option is the field's name, with a dot between a
section and its fields. For ``TrainConfig`` on its own that is ``--lr 0.01``; for a run
configuration with a ``train`` section it is ``--train.lr 0.01``. ``--key=value`` works too,
and ``-`` may be written for ``_`` (``--max-steps`` is ``--max_steps``); a boolean option
without a value means true (``--distributed``). In a file, sections are
TOML tables or JSON objects::

    [train]
    lr = 0.01
    schedule = "cosine"

Every value is type-checked with one sentence naming the option (``Option `lr` expects a
float, got 'abc'.``) and an unknown key is refused with the list of valid ones.

Example:
    >>> cfg = apply_overrides(TrainConfig(), ["--lr", "0.01", "--schedule=cosine"])
    >>> cfg.lr, cfg.schedule
    (0.01, 'cosine')
    >>> apply_overrides(TrainConfig(), ["--lr", "abc"])
    Traceback (most recent call last):
    ...
    ValueError: Option `lr` expects a float, got 'abc'.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import io
import json
import math
import re
import sys
import tokenize
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "TrainConfig",
    "add_config_arguments",
    "apply_overrides",
    "bare_keys",
    "config_from_args",
    "config_from_dict",
    "config_to_dict",
    "field_help",
    "load_config",
    "option_keys",
    "save_config",
    "to_toml",
]

C = TypeVar("C")

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "step", "cosine", "plateau")


@dataclass
class TrainConfig:
    """How to fit a model: optimizer, schedule, clipping, limits, evaluation and checkpoints.

    Every limit that is ``0`` is off; at least one of ``max_steps``, ``max_epochs`` and
    ``max_time`` must be set. ``max_steps`` overrides ``max_epochs`` when both are set (as in
    the Hugging Face trainer); ``max_time`` applies on top. Steps count optimizer updates.

    Raises:
        ValueError: a value out of range (a negative rate, a factor outside (0, 1), ...) or
            no limit at all.

    Example:
        >>> TrainConfig(optimizer="sgd", lr=0.1, max_steps=100).momentum
        0.9
        >>> TrainConfig(lr=-1.0)
        Traceback (most recent call last):
        ...
        ValueError: Option `lr` expects a positive float, got -1.0.
    """

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"  # update rule: adam | adamw | sgd
    lr: float = 1e-3  # peak learning rate (reached after warm-up, before decay)
    momentum: float = 0.9  # sgd momentum (adam and adamw ignore it)
    weight_decay: float = 0.0  # L2 penalty (adam, sgd) or decoupled decay (adamw), all params
    schedule: Literal["constant", "step", "cosine", "plateau"] = "constant"  # lr after warm-up
    warmup_steps: int = 0  # linear warm-up from lr/(warmup_steps+1) up to lr
    step_size: int = 1000  # step schedule: multiply the lr by `gamma` every step_size steps
    gamma: float = 0.1  # step schedule: the factor applied every step_size steps
    min_lr: float = 0.0  # cosine schedule: the lr reached at the last step
    plateau_factor: float = 0.5  # plateau schedule: lr factor when `metric` stops improving
    plateau_patience: int = 2  # plateau schedule: evaluations without improvement tolerated
    clip_norm: float = 0.0  # rescale gradients whose global L2 norm exceeds this (0 = off)
    clip_value: float = 0.0  # clamp every gradient element to [-clip_value, clip_value] (0 = off)
    max_steps: int = 0  # stop after this many optimizer steps in all (0 = no limit)
    max_epochs: int = 1  # passes over the training data (ignored when max_steps > 0; 0 = none)
    max_time: float = 0.0  # stop after this many seconds of this invocation (0 = no limit)
    eval_every: int = 0  # evaluate every N steps (0 = at the end of every epoch)
    checkpoint_every: int = 0  # checkpoint every N steps (0 = at the end of every epoch)
    metric: str = "loss"  # validation metric that picks the best checkpoint and stops early
    mode: Literal["min", "max"] = "min"  # whether a smaller or a larger `metric` is better
    patience: int = 0  # early stopping: evaluations without improvement tolerated (0 = off)
    seed: int = 0  # seeds python, numpy, torch: initial weights (rnnkit train), a fresh run (+rank)
    log_every: int = 10  # write a training row to metrics.csv every N steps
    divergence: Literal["stop", "lower_lr"] = "stop"  # on a nan/inf loss or gradient
    divergence_factor: float = 0.5  # divergence = lower_lr: lr factor after each divergence
    divergence_retries: int = 3  # divergence = lower_lr: divergences tolerated before stopping
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto = cuda when available, else cpu
    distributed: bool = False  # data-parallel over the processes started by torchrun
    progress: bool = True  # show a progress bar on stderr
    flush_denormal: bool = True  # on CPU, treat subnormal floats as zero while training
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: train under bfloat16 autocast, fp32 weights

    def __post_init__(self) -> None:
        # the declared type of every option, as for a config file (a bool is no number here;
        # a float option takes an int)
        hints = _hints(type(self))
        for f in _fields(type(self)):
            _convert(f.name, hints[f.name], getattr(self, f.name), from_text=False)
        positive = ["lr", "step_size"]
        non_negative = [
            "momentum",
            "weight_decay",
            "warmup_steps",
            "min_lr",
            "plateau_patience",
            "clip_norm",
            "clip_value",
            "max_steps",
            "max_epochs",
            "max_time",
            "eval_every",
            "checkpoint_every",
            "patience",
            "divergence_retries",
        ]
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                kind = "integer" if name == "step_size" else "float"
                raise ValueError(f"Option `{name}` expects a positive {kind}, got {value!r}.")
        for name in non_negative:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
                raise ValueError(f"Option `{name}` expects a number >= 0, got {value!r}.")
        if not (isinstance(self.log_every, int) and self.log_every >= 1):
            raise ValueError(
                f"Option `log_every` expects a positive integer, got {self.log_every!r}."
            )
        for name in ("gamma", "plateau_factor", "divergence_factor"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < 1):
                raise ValueError(f"Option `{name}` expects a float in (0, 1), got {value!r}.")
        choices = {
            "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES,
            "mode": ("min", "max"),
            "divergence": ("stop", "lower_lr"),
            "device": ("auto", "cpu", "cuda"),
            "precision": ("fp32", "bf16"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"Option `{name}` expects one of {', '.join(allowed)}, "
                    f"got {getattr(self, name)!r}."
                )
        if self.max_steps == 0 and self.max_epochs == 0 and self.max_time == 0:
            raise ValueError(
                "Options `max_steps`, `max_epochs` and `max_time` are all 0 (no limit); "
                "set at least one so training ends."
            )
        if self.min_lr > self.lr:
            raise ValueError(
                f"Option `min_lr` expects a value <= lr ({self.lr!r}), got {self.min_lr!r}."
            )


# -- field introspection ---------------------------------------------------------------------


def _is_config(obj: Any) -> bool:
    return dataclasses.is_dataclass(obj)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.init]


def field_help(cls: type) -> dict[str, str]:
    """The ``#`` comment on each field's line of a configuration dataclass.

    ``field(metadata={"help": ...})`` takes precedence over the comment. Fields without
    either map to ``""``.

    Args:
        cls: a dataclass type.

    Returns:
        ``{field name: help text}``.

    Example:
        >>> field_help(TrainConfig)["lr"]
        'peak learning rate (reached after warm-up, before decay)'
    """
    names = [f.name for f in _fields(cls)]
    comments: dict[str, str] = {}
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # defined in a REPL or from a frozen module: no comments
        source = ""
    if source:
        line_field: dict[int, str] = {}
        line_comment: dict[int, str] = {}
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                line_comment[tok.start[0]] = tok.string.lstrip("#").strip()
        for number, line in enumerate(source.splitlines(), start=1):
            stripped = line.strip()
            name = stripped.split(":", 1)[0].strip()
            if name in names and ":" in stripped and name not in line_field.values():
                line_field[number] = name
        for number, name in line_field.items():
            comments[name] = line_comment.get(number, "")
    return {f.name: str(f.metadata.get("help", comments.get(f.name, ""))) for f in _fields(cls)}


def option_keys(cls: type, prefix: str = "") -> list[str]:
    """Every dotted option key of a configuration dataclass, sections expanded.

    Example:
        >>> option_keys(TrainConfig)[:3]
        ['optimizer', 'lr', 'momentum']
    """
    keys: list[str] = []
    hints = _hints(cls)
    for f in _fields(cls):
        tp = hints[f.name]
        if isinstance(tp, type) and _is_config(tp):
            keys.extend(option_keys(tp, prefix=f"{prefix}{f.name}."))
        else:
            keys.append(prefix + f.name)
    return keys


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "a boolean (true or false)"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a float"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in inner) + " or none"
    if origin in (list, tuple):
        return "a list (comma-separated or JSON)"
    if tp is dict or origin is dict:
        return "a JSON object"
    return getattr(tp, "__name__", str(tp))


def _metavar(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "{" + ",".join(str(a) for a in typing.get_args(tp)) + "}"
    if tp is bool:
        return "{true,false}"
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _metavar(inner[0]) if len(inner) == 1 else "VALUE"
    names = {int: "INT", float: "FLOAT", str: "STR"}
    return names.get(tp, "LIST" if origin in (list, tuple) else "JSON")


# -- value conversion ------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _bad(key: str, tp: Any, value: Any) -> ValueError:
    return ValueError(f"Option `{key}` expects {_type_name(tp)}, got {value!r}.")


def _convert(key: str, tp: Any, value: Any, *, from_text: bool) -> Any:
    """Check ``value`` against ``tp``; with ``from_text`` parse it from a command-line string."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (from_text and str(value).lower() in ("none", "null")):
            if type(None) in args:
                return None
            raise _bad(key, tp, value)
        inner = [a for a in args if a is not type(None)]
        for candidate in inner:
            try:
                return _convert(key, candidate, value, from_text=from_text)
            except ValueError:
                continue
        raise _bad(key, tp, value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise _bad(key, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise _bad(key, tp, value) from None
        raise _bad(key, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_text and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _bad(key, tp, value) from None
        raise _bad(key, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _bad(key, tp, value)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        raise _bad(key, tp, value)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        items = value
        if from_text and isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except json.JSONDecodeError:
                    raise _bad(key, tp, value) from None
            else:
                items = [] if not text else [part.strip() for part in text.split(",")]
            text_items = from_text and all(isinstance(i, str) for i in items)
        else:
            text_items = False
        if not isinstance(items, (list, tuple)):
            raise _bad(key, tp, value)
        converted = [
            item if item_tp is Any else _convert(key, item_tp, item, from_text=text_items)
            for item in items
        ]
        return tuple(converted) if origin is tuple else converted
    if tp is dict or origin is dict or tp is Any:
        if from_text and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise _bad(key, tp, value) from None
        if tp is Any or isinstance(value, dict):
            return value
        raise _bad(key, tp, value)
    raise TypeError(f"Option `{key}` has a type rnnkit configs do not support: {tp!r}.")


# -- building configs ------------------------------------------------------------------------


def _unknown(key: str, valid: Sequence[str]) -> ValueError:
    same_leaf = [v for v in valid if v.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]]
    close = same_leaf[:1] or difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return ValueError(f"Unknown option `{key}`{hint}; valid options are: {', '.join(valid)}.")


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, _prefix: str = "") -> C:
    """Build a configuration from a nested dict (a parsed TOML or JSON file).

    Missing keys keep their defaults; every present value is type-checked.

    Args:
        cls: the configuration dataclass.
        data: ``{field: value}``, with a nested mapping for each section.

    Returns:
        An instance of ``cls``.

    Raises:
        ValueError: an unknown key (the valid ones are listed) or a value of the wrong type.
        TypeError: ``data`` (or a section) is not a mapping.

    Example:
        >>> config_from_dict(TrainConfig, {"lr": 1, "max_steps": 5}).lr
        1.0
    """
    if not isinstance(data, Mapping):
        where = f"section `{_prefix[:-1]}`" if _prefix else "a configuration"
        raise TypeError(f"Expected {where} to be a table/object, got {type(data).__name__}.")
    hints = _hints(cls)
    names = {f.name for f in _fields(cls)}
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key not in names:
            raise _unknown(_prefix + str(raw_key), option_keys(cls, _prefix))
        tp = hints[key]
        if isinstance(tp, type) and _is_config(tp):
            kwargs[key] = config_from_dict(tp, value, _prefix=f"{_prefix}{key}.")
        else:
            kwargs[key] = _convert(_prefix + key, tp, value, from_text=False)
    try:
        return cls(**kwargs)
    except ValueError as err:
        if not _prefix:
            raise
        raise ValueError(_qualified(str(err), _prefix, names)) from None


def _qualified(message: str, prefix: str, names: set[str]) -> str:
    """``message`` with each backticked field name of a section written as the option key
    the user gave, e.g. ``Option `lr` ...`` -> ``Option `train.lr` ...`` for ``train.``.

    Example:
        >>> _qualified("Option `lr` expects a positive float, got -1.0.", "train.", {"lr"})
        'Option `train.lr` expects a positive float, got -1.0.'
    """
    return re.sub(
        r"`([A-Za-z_][A-Za-z0-9_]*)`",
        lambda m: f"`{prefix}{m.group(1)}`" if m.group(1) in names else m.group(0),
        message,
    )


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-safe nested dict of a configuration (tuples become lists).

    Example:
        >>> config_to_dict(TrainConfig())["optimizer"]
        'adam'
    """
    if not _is_config(config) or isinstance(config, type):
        raise TypeError(
            f"Expected a configuration dataclass instance, got {type(config).__name__}."
        )

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}


def load_config(cls: type[C], path: str | Path) -> C:
    """Read a configuration from a ``.toml`` or ``.json`` file.

    Args:
        cls: the configuration dataclass.
        path: the file; its suffix picks the parser.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a suffix other than .toml/.json, a syntax error, an unknown key or a
            value of the wrong type.
    """
    return config_from_dict(cls, _read_file(path))


def _read_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Configuration file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ValueError(
            f"Configuration file {str(path)!r} must end in .toml or .json, got {suffix!r}."
        )
    try:
        if suffix == ".toml":
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"Configuration file {str(path)!r} is not valid {suffix[1:].upper()}: {err}."
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"Configuration file {str(path)!r} must hold an object of options, "
            f"got {type(data).__name__}."
        )
    return data


#: the value of an option written without one (``--distributed``): true for a boolean
_FLAG = object()


def _split_overrides(items: Sequence[str]) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    i = 0
    while i < len(items):
        item = items[i]
        if not item.startswith("--") or item == "--":
            raise ValueError(f"Expected an option like `--key value`, got {item!r}.")
        if "=" in item:
            key, value = item[2:].split("=", 1)
            i += 1
        elif i + 1 >= len(items) or items[i + 1].startswith("--"):
            key, value = item[2:], _FLAG
            i += 1
        else:
            key, value = item[2:], items[i + 1]
            i += 2
        pairs.append((key, value))
    return pairs


def apply_overrides(config: C, overrides: Sequence[str] | Mapping[str, Any]) -> C:
    """Return ``config`` with options replaced, checked for type and name.

    Args:
        config: a configuration dataclass instance (left unchanged).
        overrides: command-line words (``["--lr", "0.1", "--train.max_steps=5"]``) or a
            mapping of dotted keys to values; strings are parsed as on the command line.

    Returns:
        A new instance (``__post_init__`` checks run again).

    Raises:
        ValueError: an unknown key, a malformed word, or a value of the wrong type.

    Example:
        >>> apply_overrides(TrainConfig(), {"max-steps": "5"}).max_steps
        5
        >>> apply_overrides(TrainConfig(), ["--lrr", "1"])
        Traceback (most recent call last):
        ...
        ValueError: Unknown option `lrr` (did you mean `lr`?); valid options are: ...
    """
    if isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    elif isinstance(overrides, str):
        raise TypeError("Argument `overrides` expects a list of words, got a single string.")
    else:
        pairs = _split_overrides(list(overrides))
    valid = option_keys(type(config))
    # Convert every option first and validate the whole configuration once at the end, so
    # the order of options never matters (``--max-epochs 0 --max-time 5`` is fine although
    # ``max_epochs = 0`` alone, with no other limit, is not).
    data = config_to_dict(config)
    for key, value in pairs:
        parts, new_value = _override_one(config, key, value, valid)
        section = data
        for part in parts[:-1]:
            section = section[part]
        section[parts[-1]] = new_value
    return config_from_dict(type(config), data)


def _override_one(config: Any, key: str, value: Any, valid: list[str]) -> tuple[list[str], Any]:
    parts = key.replace("-", "_").split(".")
    # Walk down to the section that owns the last part.
    chain = [config]
    for part in parts[:-1]:
        owner = chain[-1]
        known = {f.name for f in _fields(type(owner))}
        sub = getattr(owner, part) if part in known else None
        if sub is None or not _is_config(sub):
            raise _unknown(key, valid)
        chain.append(sub)
    leaf = chain[-1]
    name = parts[-1]
    names = {f.name for f in _fields(type(leaf))}
    tp = _hints(type(leaf)).get(name)
    if name not in names or (isinstance(tp, type) and _is_config(tp)):
        raise _unknown(key, valid)
    dotted = ".".join(parts)
    if value is _FLAG:
        if tp is not bool:
            raise ValueError(f"Option `{dotted}` expects a value, got nothing.")
        value = True
    return parts, _convert(dotted, tp, value, from_text=isinstance(value, str))


# -- argparse --------------------------------------------------------------------------------

_CONFIG_DEST = "config"


def bare_keys(cls: type) -> dict[str, list[str]]:
    """Each field name inside a section of ``cls``, with the dotted keys that end in it.

    A name held by one key is that key's bare alias on the command line (``--max-steps`` for
    ``--train.max_steps``); a name held by several is ambiguous and must be written in full.
    Names of top-level fields are left out: ``--out`` is always the top-level ``out``.

    Example:
        >>> @dataclass
        ... class Run:
        ...     lr: float = 0.1  # a top-level field: `--lr` means this one
        ...     train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
        ...     tune: TrainConfig = dataclasses.field(default_factory=TrainConfig)
        >>> keys = bare_keys(Run)
        >>> keys["seed"], "lr" in keys
        (['train.seed', 'tune.seed'], False)
    """
    top = {f.name for f in _fields(cls)}
    owners: dict[str, list[str]] = {}
    for key in option_keys(cls):
        name = key.rsplit(".", 1)[-1]
        if "." in key and name not in top:
            owners.setdefault(name, []).append(key)
    return owners


def _spellings(key: str) -> list[str]:
    """``--key`` as written with underscores, then with dashes (once if they are the same)."""
    return list(dict.fromkeys([f"--{key}", f"--{key.replace('_', '-')}"]))


class _AmbiguousOption(argparse.Action):
    """A bare option that several sections hold (``--seed``): refused, naming the full keys."""

    def __init__(self, option_strings: list[str], dest: str, keys: Sequence[str] = (),
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs="?", **kwargs)
        self.keys = list(keys)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        full = " or ".join(f"--{key}" for key in self.keys)
        raise argparse.ArgumentError(
            self, f"ambiguous here; write {full}."
        )


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, prefix: str = "") -> None:
    """Add ``--config FILE`` and one ``--key`` option per field of ``cls`` to ``parser``.

    The options take raw strings (converted by :func:`config_from_args`, so every type error
    has the same one-sentence message) and show their default and comment in ``--help`` (a
    comment that states its own ``(default: ...)`` is shown as it is).

    Every key may be written with dashes for underscores (``--data.input-columns``). At the
    top (no ``prefix``) a field of a section also answers to its bare name when no other
    section and no top-level field has that name (``--max-steps`` is ``--train.max_steps``;
    see :func:`bare_keys`); ``--help`` lists these aliases beside the full keys. A bare name
    that several sections hold (``--seed`` with ``data.seed`` and ``train.seed``) is refused
    with the full keys to write instead. An option the parser already has keeps its meaning
    (a command's own ``--valid FILE`` is not replaced by the alias of ``data.valid``).

    Args:
        parser: the parser to extend.
        cls: the configuration dataclass.
        prefix: prepended to every key (used for sections; leave empty at the top).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> @dataclass
        ... class Run:
        ...     train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
        >>> add_config_arguments(parser, Run)
        >>> args = parser.parse_args(["--max-steps", "5", "--train.clip-norm", "1"])
        >>> config_from_args(Run, args).train.max_steps, config_from_args(Run, args).train.clip_norm
        (5, 1.0)
    """
    bare: dict[str, list[str]] = {}
    if not prefix:
        parser.add_argument(
            "--config",
            dest=_CONFIG_DEST,
            metavar="FILE",
            default=None,
            help="TOML or JSON file with option values (command-line options win)",
        )
        bare = bare_keys(cls)
    _add_section_arguments(parser, cls, prefix, bare)
    if not prefix:
        for name, keys in bare.items():
            if len(keys) > 1:
                _add_if_free(parser, *_spellings(name), action=_AmbiguousOption, keys=keys,
                             dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)


def _add_section_arguments(
    parser: argparse.ArgumentParser, cls: type, prefix: str, bare: Mapping[str, list[str]]
) -> None:
    hints = _hints(cls)
    helps = field_help(cls)
    defaults = cls() if _has_all_defaults(cls) else None
    group = parser.add_argument_group(
        f"{prefix[:-1]} options" if prefix else f"{cls.__name__} options"
    )
    for f in _fields(cls):
        tp = hints[f.name]
        key = prefix + f.name
        if isinstance(tp, type) and _is_config(tp):
            _add_section_arguments(parser, tp, key + ".", bare)
            continue
        default = getattr(defaults, f.name) if defaults is not None else _field_default(f)
        text = helps.get(f.name, "")
        shown = "required" if default is dataclasses.MISSING else f"default: {default!r}"
        # a comment may say itself what the default means ("runs/TASK-..." for an empty out)
        help_text = text if "(default:" in text else f"{text} ({shown})".lstrip()
        options: dict[str, Any] = {
            "dest": key, "metavar": _metavar(tp), "default": argparse.SUPPRESS,
        }
        if tp is bool:
            options.update(nargs="?", const="true")
        # --help shows the full key and its bare alias; the other spellings work unlisted
        full, *full_dashed = _spellings(key)
        alias = _spellings(f.name) if bare.get(f.name) == [key] else []
        if alias and not _add_if_free(group, full, alias[-1], help=help_text, **options):
            alias = []  # the command has an option of that name: it keeps its meaning
        if not alias:
            group.add_argument(full, help=help_text, **options)
        for name in (*full_dashed, *alias[:-1]):
            group.add_argument(name, help=argparse.SUPPRESS, **options)


def _add_if_free(container: Any, *names: str, **kwargs: Any) -> bool:
    """Add the option ``names`` unless the parser has one of them already; say whether."""
    try:
        container.add_argument(*names, **kwargs)
    except argparse.ArgumentError:
        return False
    return True


def _has_all_defaults(cls: type) -> bool:
    return all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in _fields(cls)
    )


def _field_default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def config_from_args(
    cls: type[C], args: argparse.Namespace, *, base: Mapping[str, Any] | None = None
) -> C:
    """Resolve a configuration from parsed arguments: defaults, then ``--config``, then options.

    Args:
        cls: the configuration dataclass given to :func:`add_config_arguments`.
        args: the namespace returned by ``parser.parse_args``.
        base: values applied before the file (for a command's own defaults), as a nested dict.

    Returns:
        An instance of ``cls``.

    Raises:
        ValueError: a bad file, an unknown key or a value of the wrong type.
    """
    values = vars(args)
    data: dict[str, Any] = _deep_merge({}, dict(base or {}))
    path = values.get(_CONFIG_DEST)
    if path:
        from_file = _read_file(path)
        config_from_dict(cls, from_file)  # names and types checked against the file's own keys
        data = _deep_merge(data, from_file)
    config = config_from_dict(cls, data)
    keys = option_keys(cls)
    overrides = {k: values[k] for k in keys if k in values}
    return apply_overrides(config, overrides)


def _deep_merge(into: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            into[key] = _deep_merge(dict(into[key]), value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value
    return into


# -- saving ----------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"Cannot write {type(value).__name__} as a TOML value.")


def to_toml(data: Mapping[str, Any]) -> str | None:
    """Serialise a nested dict as TOML, or return ``None`` when TOML cannot hold it.

    Scalars, lists of scalars and nested tables are written; ``None`` values, lists of
    tables and non-string keys make the result ``None`` (JSON remains the full record).

    Example:
        >>> print(to_toml({"seed": 1, "train": {"lr": 0.1, "schedule": "cosine"}}))
        seed = 1
        <BLANKLINE>
        [train]
        lr = 0.1
        schedule = "cosine"
        <BLANKLINE>
    """
    lines: list[str] = []

    def emit(table: Mapping[str, Any], name: str) -> bool:
        scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if name:
            if lines:
                lines.append("")
            lines.append(f"[{name}]")
        for key, value in scalars:
            if not isinstance(key, str) or not _toml_ok(value):
                return False
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in tables:
            if not isinstance(key, str):
                return False
            if not emit(value, f"{name}.{_toml_key(key)}" if name else _toml_key(key)):
                return False
        return True

    if not emit(data, ""):
        return None
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _toml_ok(value: Any) -> bool:
    if value is None or isinstance(value, Mapping):
        return False
    if isinstance(value, (list, tuple)):
        return all(_toml_ok(v) for v in value)
    return isinstance(value, (bool, int, float, str))


def save_config(config: Any, run_dir: str | Path, name: str = "run_config") -> list[Path]:
    """Write the resolved configuration to ``run_dir/NAME.json`` (and ``NAME.toml`` if it fits).

    Args:
        config: a configuration dataclass instance or a plain nested dict.
        run_dir: the run directory (created if missing).
        name: the file stem.

    Returns:
        The paths written.
    """
    data = dict(config) if isinstance(config, Mapping) else config_to_dict(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    written = [run_dir / f"{name}.json"]
    written[0].write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    text = to_toml(data)
    if text is not None:
        written.append(run_dir / f"{name}.toml")
        written[1].write_text(text, encoding="utf-8")
    return written
