"""Body/organ masks from image intensity, and the per-case intensity scaling that lesion patches
share between training (extraction) and insertion, so a synthetic lesion takes the intensity scale
of the scan it is put into."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: percentiles inside the foreground mapped to -1 and 1
LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5


def foreground_mask(image: np.ndarray) -> np.ndarray:
    """The body (or head) of a scan from its intensities: Otsu threshold of the channel-mean of the
    min-max scaled channels, largest connected component, holes filled.

    Args:
        image: ``(C, X, Y[, Z])``.

    Returns:
        ``(X, Y[, Z])`` bool; all ``True`` when the image is constant.
    """
    from skimage.filters import threshold_otsu

    data = np.asarray(image, dtype=np.float32)
    lo = data.reshape(data.shape[0], -1).min(1).reshape((-1,) + (1,) * (data.ndim - 1))
    hi = data.reshape(data.shape[0], -1).max(1).reshape((-1,) + (1,) * (data.ndim - 1))
    scaled = ((data - lo) / np.maximum(hi - lo, 1e-6)).mean(0)
    if float(scaled.max()) <= float(scaled.min()):
        return np.ones(scaled.shape, bool)
    mask = scaled > threshold_otsu(scaled)
    components, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(components.ravel())[1:]
        mask = components == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(mask)


def intensity_range(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel intensities at the low and high percentiles inside ``mask``.

    Returns:
        ``(lo, hi)``, each of shape ``(C,)``, with ``hi > lo``.
    """
    values = np.asarray(image, np.float32)[:, mask] if mask.any() else np.asarray(image, np.float32).reshape(
        image.shape[0], -1)
    lo = np.percentile(values, LOW_PERCENTILE, axis=1)
    hi = np.percentile(values, HIGH_PERCENTILE, axis=1)
    return lo.astype(np.float32), np.maximum(hi, lo + 1e-3).astype(np.float32)


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return np.asarray(v, np.float32).reshape((-1,) + (1,) * (ndim - 1))


def to_unit_range(image: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Scale ``(C, ...)`` intensities so ``lo -> -1`` and ``hi -> 1`` (clipped to [-1, 1])."""
    scaled = 2.0 * (np.asarray(image, np.float32) - _per_channel(lo, image.ndim)) / (
        _per_channel(hi, image.ndim) - _per_channel(lo, image.ndim)) - 1.0
    return np.clip(scaled, -1.0, 1.0)


def from_unit_range(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_unit_range` (without the clipping)."""
    lo_, hi_ = _per_channel(lo, values.ndim), _per_channel(hi, values.ndim)
    return (np.asarray(values, np.float32) + 1.0) / 2.0 * (hi_ - lo_) + lo_
