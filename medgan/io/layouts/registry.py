"""The dataset layouts by name: ``register`` adds one, ``get_layout`` finds one, ``detect`` guesses."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeVar

from medgan.errors import DataError
from medgan.io.layouts.base import DatasetLayout, read_json
from medgan.registry import Registry

#: every dataset layout medgan reads and writes, by the name ``--format`` takes
DATASET_LAYOUTS = Registry("dataset layout")
_ORDER: list[str] = []  # registration order, for listings

L = TypeVar("L", bound=type[DatasetLayout])


def register(cls: L) -> L:
    """Class decorator: register a :class:`DatasetLayout` subclass under its ``name``."""
    DATASET_LAYOUTS.register(cls.name)(cls)
    if cls.name not in _ORDER:
        _ORDER.append(cls.name)
    return cls


def layout_names() -> tuple[str, ...]:
    """Registered layout names, in the order they were registered."""
    return tuple(_ORDER)


def format_choices() -> tuple[str, ...]:
    """What ``--format`` accepts: ``auto`` and every layout name."""
    return ("auto", *layout_names())


def add_format_option(parser: argparse.ArgumentParser, help: str = "dataset layout (default: detect)") -> None:
    """Add the ``--format`` option (``auto`` or a registered layout name) to a command's parser."""
    parser.add_argument("--format", default="auto", choices=format_choices(), help=help)


def get_layout(name: str) -> DatasetLayout:
    """The layout named ``name``; a :class:`~medgan.errors.ConfigError` listing the known ones otherwise."""
    return DATASET_LAYOUTS.get(name)()


def detect(root: Path) -> str:
    """Guess the layout of the dataset at ``root``: the first registered layout that recognises it."""
    meta_file = root / "dataset.json"
    description = read_json(meta_file) if meta_file.is_file() else None
    for name in sorted(_ORDER, key=lambda n: DATASET_LAYOUTS.get(n).priority):
        layout = get_layout(name)
        if layout.from_description == (description is not None) and layout.detect(root, description):
            return name
    if description is not None:
        raise DataError(meta_file, "dataset.json is neither MSD (training/modality) "
                                   "nor nnU-Net v2 (channel_names/file_ending)")
    raise DataError(
        root,
        "cannot recognise the dataset layout: expected images/ + labels/, a dataset.json "
        "(Medical Segmentation Decathlon or nnU-Net v2), or BraTS case folders",
    )
