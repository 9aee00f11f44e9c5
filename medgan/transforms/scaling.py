"""Intensity scaling between a scan's own units and the [-1, 1] range GANs work in, and the body
mask it is measured in. One home for every family: lesion patches, SPADE images and progressive-GAN
volumes all map a low and a high percentile per channel to -1 and 1 (they differ only in where each
percentile is measured), and map generated values back with the same two numbers.

Example:
    >>> import numpy as np
    >>> image = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    >>> lo, hi = percentile_range(image)
    >>> unit = to_unit_range(image, lo, hi)
    >>> float(unit.min()), float(unit.max())
    (-1.0, 1.0)
    >>> bool(np.allclose(from_unit_range(unit, lo, hi)[:, 1:-1], image[:, 1:-1], atol=1e-4))
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: percentiles mapped to -1 and 1
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


def _values(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    data = np.asarray(image, np.float32)
    if mask is not None and mask.any():
        return data[:, mask]
    return data.reshape(data.shape[0], -1)


def percentile_range(image: np.ndarray, low_mask: np.ndarray | None = None, high_mask: np.ndarray | None = None,
                     low: float = LOW_PERCENTILE, high: float = HIGH_PERCENTILE, min_width: float = 1e-3
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel intensities at the ``low`` and ``high`` percentiles.

    Args:
        image: ``(C, X, Y[, Z])``.
        low_mask, high_mask: ``(X, Y[, Z])`` bool: where each percentile is measured (default, or
            an empty mask: the whole image). Lesion patches use the body for both; SPADE the whole
            image for the background level and the body for the top.
        low, high: the percentiles.
        min_width: ``hi`` is at least ``lo + min_width``.

    Returns:
        ``(lo, hi)``, each ``(C,)`` float32, with ``hi > lo``.
    """
    lo = np.percentile(_values(image, low_mask), low, axis=1)
    hi = np.percentile(_values(image, high_mask), high, axis=1)
    return lo.astype(np.float32), np.maximum(hi, lo + min_width).astype(np.float32)


def _per_channel(values: Sequence[float] | np.ndarray, ndim: int) -> np.ndarray:
    return np.asarray(values, np.float32).reshape((-1,) + (1,) * (ndim - 1))


def to_unit_range(image: np.ndarray, lo: Sequence[float] | np.ndarray, hi: Sequence[float] | np.ndarray
                  ) -> np.ndarray:
    """Scale ``(C, ...)`` intensities so ``lo -> -1`` and ``hi -> 1`` per channel, clipped to [-1, 1]."""
    image = np.asarray(image, np.float32)
    low, high = _per_channel(lo, image.ndim), _per_channel(hi, image.ndim)
    return np.clip(2.0 * (image - low) / (high - low) - 1.0, -1.0, 1.0)


def from_unit_range(values: np.ndarray, lo: Sequence[float] | np.ndarray, hi: Sequence[float] | np.ndarray
                    ) -> np.ndarray:
    """Inverse of :func:`to_unit_range` for ``(C, ...)`` values (without the clipping)."""
    values = np.asarray(values, np.float32)
    low, high = _per_channel(lo, values.ndim), _per_channel(hi, values.ndim)
    return (values + 1.0) / 2.0 * (high - low) + low
