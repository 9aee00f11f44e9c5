"""Memorisation: is each synthetic case closer to a training case than new real cases ever are?

For every synthetic case we find its nearest training case, in image space (normalised
cross-correlation, NCC, of the whole case on the common grid; distance ``1 - NCC``) and in feature
space (Euclidean distance of standardised features). The yardstick is the same nearest-neighbour
distance measured from *real* cases to the training set (leave-one-out when the real set is the
training set). A synthetic case is flagged when it is closer than the ``percentile``-th percentile
of those real-to-training distances; new real data is therefore flagged at about ``percentile`` %
by construction, and exact copies always.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _unit_rows(images: np.ndarray) -> np.ndarray:
    flat = images.reshape(len(images), -1).astype(np.float64)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return flat / np.where(norms > 1e-12, norms, 1.0)


def ncc_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of every case of ``a`` ``(N, ...)`` with every case of ``b`` ``(M, ...)``."""
    return _unit_rows(a) @ _unit_rows(b).T


def feature_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(N, M)`` between feature rows."""
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared, 0.0, None))


@dataclass
class NearestNeighbours:
    """Nearest training case of each query case: index and distance."""

    index: np.ndarray
    distance: np.ndarray


def nearest(distances: np.ndarray, exclude_same: bool = False) -> NearestNeighbours:
    """Row-wise nearest column of a distance matrix (the diagonal skipped when ``exclude_same``)."""
    d = distances.astype(np.float64, copy=True)
    if exclude_same:
        np.fill_diagonal(d, np.inf)
    index = np.argmin(d, axis=1)
    return NearestNeighbours(index, d[np.arange(len(d)), index])


def memorised_fraction(synthetic_nn: np.ndarray, reference_nn: np.ndarray, percentile: float
                       ) -> tuple[float, float, np.ndarray]:
    """Fraction of synthetic cases at or below the ``percentile``-th percentile of reference distances.

    Returns:
        ``(fraction, threshold, flags)``.
    """
    threshold = float(np.percentile(reference_nn, percentile))
    flags = synthetic_nn <= threshold
    return float(flags.mean()), threshold, flags
