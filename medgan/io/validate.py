"""Checks that turn bad input into one clear :class:`~medgan.errors.DataError` naming the file.

Each check either returns (possibly a converted array) or raises; none modifies its input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medgan.errors import DataError

#: default tolerance, in millimetres, when comparing the affines of images that must share a grid
AFFINE_TOLERANCE_MM = 1e-3


def check_finite(path: str | Path, array: np.ndarray) -> None:
    """Raise if a floating-point image holds NaN or infinite voxels."""
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array)
        if bad.any():
            n_nan = int(np.isnan(array).sum())
            n_inf = int(bad.sum()) - n_nan
            raise DataError(path, f"image has {n_nan} NaN and {n_inf} infinite voxels")


def check_label(path: str | Path, array: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Check a label map holds non-negative integer class indices.

    Integer-valued labels stored as floats are accepted and converted to the smallest unsigned
    integer type that holds them, with a warning; fractional, negative or non-finite values are an
    error (a resampled or probabilistic map is not a label map).

    Returns:
        ``(label, warning)``: the label array in an integer dtype, and a warning or ``None``.
    """
    warning = None
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise DataError(path, "label has NaN or infinite voxels")
        fractional = array != np.round(array)
        if fractional.any():
            example = float(array[fractional].flat[0])
            raise DataError(
                path,
                f"label has non-integer values (e.g. {example:g} in {int(fractional.sum())} voxels); "
                "labels must be integer class indices",
            )
    elif not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise DataError(path, f"label has unsupported dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise DataError(path, f"label has negative values (minimum {array.min():g})")
    if not np.issubdtype(array.dtype, np.integer):
        top = int(array.max()) if array.size else 0
        dtype = np.uint8 if top <= 255 else np.uint16 if top <= 65535 else np.uint32
        if array.dtype != np.bool_:
            warning = f"label stored as {array.dtype} with integer values; read as {np.dtype(dtype).name}"
        array = array.astype(dtype)
    return array, warning


def check_same_grid(
    reference: str | Path,
    reference_meta: dict[str, Any],
    path: str | Path,
    meta: dict[str, Any],
    tolerance_mm: float = AFFINE_TOLERANCE_MM,
) -> None:
    """Raise if ``path`` does not lie on the same voxel grid (shape and affine) as ``reference``."""
    shape_a, shape_b = tuple(reference_meta["spatial_shape"]), tuple(meta["spatial_shape"])
    if shape_a != shape_b:
        raise DataError(path, f"shape {shape_b} does not match {Path(reference).name} shape {shape_a}")
    diff = np.abs(np.asarray(reference_meta["affine"]) - np.asarray(meta["affine"]))
    if diff.max() > tolerance_mm:
        raise DataError(
            path,
            f"affine does not match {Path(reference).name} (largest difference {diff.max():.4g} "
            f"> tolerance {tolerance_mm:g} mm)",
        )
