"""Reading, validating and writing medical images and datasets.

The one data representation of medgan is the *case*: ``{"image": (C, X, Y[, Z]),
"label": (1, X, Y[, Z]), "meta": {...}, "id": str}``.
"""

from medgan.io.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from medgan.io.datasets import LAYOUTS, CaseRef, Dataset, detect_layout, load_case, load_dataset
from medgan.io.image import read_image, write_image
from medgan.io.writers import DatasetWriter

__all__ = [
    "LAYOUTS",
    "CaseRef",
    "Dataset",
    "DatasetWriter",
    "atomic_path",
    "detect_layout",
    "load_case",
    "load_dataset",
    "read_image",
    "write_bytes_atomic",
    "write_image",
    "write_text_atomic",
]
