"""Reading, validating and writing medical images and datasets.

The one data representation of medgan is the *case*: ``{"image": (C, X, Y[, Z]),
"label": (1, X, Y[, Z]), "meta": {...}, "id": str}``.

The names below are imported on first use, so that ``medgan.io.outdir`` or ``medgan.io.atomic``
alone do not pull in nibabel and pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "LAYOUTS": "datasets", "CaseRef": "datasets", "Dataset": "datasets", "detect_layout": "datasets",
    "load_case": "datasets", "load_dataset": "datasets",
    "DatasetWriter": "writers",
    "OwnedFolder": "outdir",
    "atomic_path": "atomic", "write_bytes_atomic": "atomic", "write_text_atomic": "atomic",
    "read_image": "image", "write_image": "image",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'medgan.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"medgan.io.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
