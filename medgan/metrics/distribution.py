"""Distances between two sets of feature vectors: Fréchet distance, KID, precision and recall.

All functions take feature matrices ``(N, D)``; :func:`standardise` puts two sets on the scale
of the reference (real) set first, so that no single handcrafted feature dominates.
"""

from __future__ import annotations

import numpy as np


def standardise(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Z-score every matrix with the mean and standard deviation of ``reference`` (columns)."""
    mean = reference.mean(axis=0)
    std = reference.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return [(m - mean) / std for m in (reference, *others)]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to ``a`` and ``b`` (``(N, D)`` each).

    ``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``; the trace of the matrix square root
    is computed from the eigenvalues of ``S_a^(1/2) S_b S_a^(1/2)`` (symmetric, so it is real and
    stable even when the covariances are singular, as they are when N <= D).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(50, 4))
        >>> round(frechet_distance(x, x), 6)
        0.0
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected (N, D) feature matrices of one width, found {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least two samples per set")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False).reshape(a.shape[1], -1), np.cov(b, rowvar=False).reshape(b.shape[1], -1)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)
    return max(value, 0.0)


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 50, subset_size: int = 1000,
                              rng: np.random.Generator | None = None) -> tuple[float, float]:
    """Unbiased squared MMD with the cubic polynomial kernel ``(x.y / D + 1)^3`` (KID).

    Args:
        a, b: feature matrices ``(N, D)`` and ``(M, D)``.
        subsets: number of random subsets averaged.
        subset_size: size of each subset (capped at the smaller set).
        rng: generator drawing the subsets (default seed 0).

    Returns:
        ``(mean, std)`` over subsets. Subsets have equal size ``m``, so the estimator is Gretton et
        al.'s (2012, eq. 3) ``MMD^2_u = 1/(m(m-1)) sum_{i != j} [k(x_i,x_j) + k(y_i,y_j) - k(x_i,y_j)
        - k(x_j,y_i)]``: unbiased for independent sets, exactly 0 for two identical sets (the form
        that keeps the diagonal of the cross term is also unbiased but is negative for identical sets).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least two samples per set")
    d = a.shape[1]
    if m == len(a) == len(b):
        subsets = 1  # every subset would be the whole of both sets
    values = []
    for _ in range(subsets):
        # the whole of two equal-size sets is used in its given order, so identical sets give 0
        x = a if m == len(a) == len(b) else a[rng.choice(len(a), m, replace=False)]
        y = b if m == len(a) == len(b) else b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1.0) ** 3
        kyy = (y @ y.T / d + 1.0) ** 3
        kxy = (x @ y.T / d + 1.0) ** 3
        total = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy) - 2.0 * (kxy.sum() - np.trace(kxy))
        values.append(total / (m * (m - 1)))
    return float(np.mean(values)), float(np.std(values))


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared, 0.0, None))


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row to its ``k``-th nearest other row."""
    distances = _pairwise(features, features)
    np.fill_diagonal(distances, np.inf)
    k = min(k, len(features) - 1)
    return np.sort(distances, axis=1)[:, k - 1]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of distributions (Kynkäänniemi et al., 2019).

    The real manifold is the union of balls around each real sample with radius its distance to
    its ``k``-th nearest real neighbour; likewise for the synthetic manifold. Precision is the
    fraction of synthetic samples inside the real manifold (fidelity); recall the fraction of
    real samples inside the synthetic manifold (coverage of the real variety).

    Returns:
        ``(precision, recall)``, each in [0, 1].
    """
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("precision/recall needs at least two samples per set")
    real_radii, fake_radii = knn_radii(real, k), knn_radii(fake, k)
    cross = _pairwise(fake, real)  # (fake, real)
    precision = float(np.mean((cross <= real_radii[None, :]).any(axis=1)))
    recall = float(np.mean((cross.T <= fake_radii[None, :]).any(axis=1)))
    return precision, recall


def single_image_fid(real: np.ndarray, generated: np.ndarray) -> float:
    """SIFID (Shaham et al. 2019): the Fréchet distance between the per-position features ``(P, D)``
    of one real and one generated image, both z-scored with the real image's feature mean and
    standard deviation (so that no filter's scale dominates).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(400, 3))
        >>> single_image_fid(x, x), single_image_fid(x, x + 1.0) > 2.9
        (0.0, True)
    """
    real, generated = standardise(real, generated)
    return frechet_distance(real, generated)
