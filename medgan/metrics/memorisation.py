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


def write_closest_pairs_png(path: str, synthetic: np.ndarray, training: np.ndarray, pairs: list[tuple[int, int]],
                            titles: list[str]) -> None:
    """A PNG with one row per pair: synthetic case and its nearest training case (first channel, mid-slice).

    Args:
        path: output PNG (written atomically).
        synthetic, training: ``(N, C, X, Y[, Z])`` images on the reference scale.
        pairs: ``(synthetic index, training index)``.
        titles: one caption per pair.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medgan.io.atomic import atomic_path

    def view(image: np.ndarray) -> np.ndarray:
        channel = image[0]
        plane = channel if channel.ndim == 2 else channel[:, :, channel.shape[2] // 2]
        return np.rot90(np.clip(plane, 0, 1))

    rows = max(1, len(pairs))
    figure, axes = plt.subplots(rows, 2, figsize=(4.4, 2.2 * rows), squeeze=False)
    for row, ((i, j), title) in enumerate(zip(pairs, titles)):
        for col, (image, name) in enumerate(((synthetic[i], "synthetic"), (training[j], "nearest training"))):
            axes[row, col].imshow(view(image), cmap="gray", vmin=0, vmax=1)
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
            axes[row, col].set_title(f"{name}\n{title if col == 0 else ''}".strip(), fontsize=7)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
