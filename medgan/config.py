"""Typed configuration: dataclasses read from YAML (or dicts), unknown keys are an error.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Train:
    ...     steps: int = 100
    ...     lr: float = 2e-4
    >>> load_config({"steps": 5}, Train)
    Train(steps=5, lr=0.0002)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from medgan.errors import ConfigError
from medgan.io.atomic import write_text_atomic

T = TypeVar("T")

#: the largest seed medgan accepts. numpy's generators take any integer >= 0, torch any in
#: [-2**63, 2**64 - 1] but wraps negative ones (-1 becomes 2**64 - 1); seeds are also stored in CSV and
#: JSON tables read back as int64. So a seed is an integer in [0, 2**63 - 1], never wrapped.
MAX_SEED = 2**63 - 1


def check_seed(value: Any, where: str = "seed") -> int:
    """Return ``value`` as a seed, or raise a :class:`ConfigError` naming ``where``.

    A seed is an integer in ``[0, MAX_SEED]``; values outside are refused instead of being wrapped
    (``2**70`` is not ``0``, ``-1`` is not ``4294967295``). Booleans and non-integral floats are refused.

    Example:
        >>> check_seed(7)
        7
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{where}: a seed must be a whole number in [0, 2**63 - 1], got {value!r}")
    value = int(value)
    if not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{where}: seed {value} is outside [0, 2**63 - 1] (= {MAX_SEED}); "
                          "medgan does not wrap seeds, choose one in that range")
    return value


def seed_value(text: str) -> int:
    """``argparse`` type for ``--seed``: an integer in ``[0, 2**63 - 1]``, refused (not wrapped) otherwise.

    Example:
        >>> parser.add_argument("--seed", type=seed_value, default=0)  # doctest: +SKIP
    """
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed must be a whole number in [0, 2**63 - 1], got {text!r}") from None
    try:
        return check_seed(value, "seed")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("seed: ")) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a clear :class:`ConfigError` if the file is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return value


def load_config(source: str | Path | dict[str, Any] | None, cls: type[T], where: str = "") -> T:
    """Build dataclass ``cls`` from a YAML file or a dict, checking keys and types.

    Nested dataclass fields are built recursively; unknown keys raise :class:`ConfigError` naming
    the key and its place (``where``); ints are accepted for float fields, lists for tuples.
    """
    if source is None:
        data: dict[str, Any] = {}
    elif isinstance(source, dict):
        data = source
    else:
        where = where or str(source)
        data = read_yaml(source)
    return _build(cls, data, where or cls.__name__)


def _build(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    values = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else _build(hint, value, where)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, found {value!r}")
        inner = args[0] if args and (origin is list or (len(args) == 2 and args[1] is Ellipsis)) else None
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, found {len(value)}")
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        items = [_coerce(inner, v, f"{where}[{i}]") if inner else v for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, found {value!r}")
        return dict(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, found {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, found {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, found {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, found {value!r}")
        return value
    if hint is Path:
        return Path(value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML-safe dict of a config dataclass (tuples become lists, paths strings)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    write_text_atomic(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))
