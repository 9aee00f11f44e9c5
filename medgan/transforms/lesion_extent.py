"""Lesion sizes in millimetres, the region (patch) size they call for, and resampling to a spacing.

Models that work on a region around a lesion (the lesion GAN's patches, the inpainting model's
regions) size it from the data: the extent of every training lesion along each voxel axis in mm,
a high percentile of those extents (the 100th by default: no training lesion is truncated), a
margin on each side, converted to voxels at the working spacing and rounded up to what the network
needs (a multiple of ``2 ** depth``, or a power of two). Working in mm is what makes the same
model usable on 1 x 1 x 2 mm and 3 x 3 x 6 mm volumes.

Example:
    >>> extents = np.array([[40.0, 35.0, 30.0], [62.0, 50.0, 48.0]])
    >>> region_shape(extents, spacing=(3.5, 3.5, 3.5), margin_mm=7.0, multiple=16)
    (32, 32, 32)
    >>> region_shape(extents, spacing=(3.0, 3.0, 6.0), margin_mm=7.0, multiple=16)
    (32, 32, 16)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage


def component_extents_mm(label: np.ndarray, spacing: Sequence[float], min_voxels: int = 1) -> np.ndarray:
    """Bounding-box extent in mm along each axis of every lesion component (label > 0).

    Args:
        label: ``(X, Y[, Z])`` or ``(1, X, Y[, Z])`` integer label map.
        spacing: voxel size in mm, one per spatial axis.
        min_voxels: smaller components are ignored.

    Returns:
        ``(K, dims)`` float64, one row per component (``K`` may be 0).
    """
    label = np.asarray(label)
    if label.ndim == len(spacing) + 1:
        label = label[0]
    if label.ndim != len(spacing):
        raise ValueError(f"label of shape {label.shape} does not match spacing {tuple(spacing)}")
    components, n = ndimage.label(label > 0)
    if n == 0:
        return np.zeros((0, label.ndim))
    sizes = np.bincount(components.ravel(), minlength=n + 1)[1:]
    boxes = ndimage.find_objects(components)
    rows = [[(s.stop - s.start) * float(sp) for s, sp in zip(box, spacing)]
            for box, size in zip(boxes, sizes) if box is not None and size >= min_voxels]
    return np.asarray(rows, np.float64).reshape(-1, label.ndim)


def lesion_extents_mm(cases: Iterable[dict[str, Any]], min_voxels: int = 1) -> np.ndarray:
    """Extents in mm (per axis) of every lesion component of every case.

    Args:
        cases: case dictionaries with ``label`` and ``meta["spacing"]``.
        min_voxels: smaller components are ignored.

    Returns:
        ``(N, dims)`` float64.
    """
    rows = [component_extents_mm(case["label"], case_spacing(case), min_voxels) for case in cases
            if case.get("label") is not None]
    if not rows:
        return np.zeros((0, 0))
    return np.concatenate(rows, axis=0)


def case_spacing(case: dict[str, Any]) -> tuple[float, ...]:
    """A case's voxel size in mm (``meta["spacing"]``, one per spatial axis; 1 mm when unknown)."""
    dims = np.asarray(case["image"]).ndim - 1
    spacing = (case.get("meta") or {}).get("spacing")
    if spacing is None or len(spacing) < dims:
        return (1.0,) * dims
    return tuple(float(s) for s in spacing[:dims])


def extent_percentile(extents_mm: np.ndarray, percentile: float = 100.0) -> np.ndarray:
    """Per-axis ``percentile`` of lesion extents (mm); the 100th is the largest lesion."""
    extents_mm = np.asarray(extents_mm, np.float64)
    if extents_mm.ndim != 2 or len(extents_mm) == 0:
        raise ValueError("no lesion extents to size a region from")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must lie in (0, 100], got {percentile}")
    return np.percentile(extents_mm, percentile, axis=0)


def round_up(n: float, multiple: int = 1, power_of_two: bool = False, minimum: int = 1) -> int:
    """The smallest allowed size ``>= n``: a multiple of ``multiple``, or a power of two."""
    n = max(int(math.ceil(n - 1e-9)), minimum)
    if power_of_two:
        return max(int(2 ** math.ceil(math.log2(n))), multiple)
    return int(math.ceil(n / multiple) * multiple)


def region_shape(extents_mm: np.ndarray, spacing: Sequence[float], percentile: float = 100.0,
                 margin_mm: float = 0.0, multiple: int = 1, power_of_two: bool = False, cubic: bool = False,
                 minimum: int = 8) -> tuple[int, ...]:
    """Region size in voxels at ``spacing`` that holds the ``percentile`` lesion plus ``margin_mm``.

    Args:
        extents_mm: ``(N, dims)`` lesion extents (:func:`lesion_extents_mm`).
        spacing: voxel size of the region in mm.
        percentile: of the extents per axis (100: no training lesion truncated).
        margin_mm: context kept on each side of the lesion.
        multiple: each size is rounded up to a multiple of this (``2 ** depth`` of a U-Net).
        power_of_two: round up to a power of two instead (DCGAN patches).
        cubic: the same size on every axis (the largest).
        minimum: smallest size per axis.

    Returns:
        One size per axis.
    """
    extent = extent_percentile(extents_mm, percentile)
    if len(extent) != len(spacing):
        raise ValueError(f"extents have {len(extent)} axes but the spacing {tuple(spacing)} has {len(spacing)}")
    voxels = [(e + 2.0 * margin_mm) / float(s) for e, s in zip(extent, spacing)]
    if cubic:
        voxels = [max(voxels)] * len(voxels)
    return tuple(round_up(v, multiple, power_of_two, minimum) for v in voxels)


def resampled_shape(shape: Sequence[int], spacing: Sequence[float], new_spacing: Sequence[float]) -> tuple[int, ...]:
    """Voxel counts covering the same field of view at ``new_spacing`` (at least 1 per axis)."""
    return tuple(max(1, int(round(n * float(a) / float(b)))) for n, a, b in zip(shape, spacing, new_spacing))


def resample_to_spacing(array: np.ndarray, spacing: Sequence[float], new_spacing: Sequence[float],
                        labels: bool | str = False) -> np.ndarray:
    """Resample a ``(C, *spatial)`` array from ``spacing`` to ``new_spacing`` (same field of view).

    Images are interpolated linearly (float32 out). Label maps never get a value the input lacks:
    ``labels=True`` (or ``"nearest"``) takes the nearest voxel; ``labels="linear"`` interpolates each
    value's one-hot mask linearly and takes the largest (smoother borders that follow a linearly
    resampled image, as ``label_linear`` in :mod:`medgan.transforms.spatial`). Voxel centres are
    aligned as grid cells (``scipy.ndimage.zoom(grid_mode=True)``), so the centre of the volume stays
    at its centre.

    Args:
        array: channels first.
        spacing, new_spacing: voxel sizes in mm, one per spatial axis.
        labels: ``False`` for images; ``True``/``"nearest"`` or ``"linear"`` for label maps.

    Returns:
        ``(C, *resampled_shape)`` (labels in the input's dtype); the input itself when the spacings
        are equal.
    """
    array = np.asarray(array)
    dims = array.ndim - 1
    if len(spacing) != dims or len(new_spacing) != dims:
        raise ValueError(f"array of shape {array.shape} needs {dims} spacings, got {tuple(spacing)} and "
                         f"{tuple(new_spacing)}")
    if labels not in (False, True, "nearest", "linear"):
        raise ValueError(f"labels must be False, True, 'nearest' or 'linear', got {labels!r}")
    if np.allclose(spacing, new_spacing, rtol=1e-4, atol=1e-6):
        return array
    shape = resampled_shape(array.shape[1:], spacing, new_spacing)
    zoom = [n / m for n, m in zip(shape, array.shape[1:])]

    def resample(channel: np.ndarray, order: int) -> np.ndarray:
        # edges replicate (``mode="nearest"``): zero padding would darken the outermost voxels
        return ndimage.zoom(channel, zoom, order=order, mode="nearest", grid_mode=True)

    if labels == "linear":
        out = []
        for channel in array:
            values = np.unique(channel)
            weights = np.stack([resample((channel == v).astype(np.float32), 1) for v in values])
            out.append(values[weights.argmax(0)])
        return np.stack(out).astype(array.dtype, copy=False)
    if labels:
        return np.stack([resample(channel, 0) for channel in array]).astype(array.dtype, copy=False)
    return np.stack([resample(channel, 1) for channel in array.astype(np.float32, copy=False)])
