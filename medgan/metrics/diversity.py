"""Within-set diversity: mean pairwise MS-SSIM (2D) or SSIM (3D), to detect mode collapse.

A set whose images all look alike has a high mean pairwise similarity. MS-SSIM is computed with
MONAI (``MultiScaleSSIMMetric``) with a 7-pixel Gaussian window (sigma 1.5) and as many scales as
the image size allows (at most the standard five, weights renormalised), so that 32- and 64-pixel
images work; 3D volumes use single-scale SSIM (``SSIMMetric``) with the same window.
Images must be on a common [0, 1] scale (values outside are clipped).
"""

from __future__ import annotations

import numpy as np

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
KERNEL_SIZE = 7
KERNEL_SIGMA = 1.5


def ms_ssim_scales(min_size: int, kernel_size: int = KERNEL_SIZE) -> int:
    """Number of MS-SSIM scales an image whose shortest side is ``min_size`` supports (>= 1)."""
    for n in range(len(MS_SSIM_WEIGHTS), 1, -1):
        # MONAI's check (size // (n-1)^2 > kernel - 1) and a window that still fits the coarsest scale
        if min_size // (n - 1) ** 2 > kernel_size - 1 and min_size / 2 ** (n - 1) >= kernel_size:
            return n
    if min_size < kernel_size:
        raise ValueError(f"images of {min_size} pixels are smaller than the {kernel_size}-pixel SSIM window")
    return 1


def sample_pairs(n: int, max_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``max_pairs`` distinct unordered index pairs ``(P, 2)`` out of ``n`` items."""
    first, second = np.triu_indices(n, k=1)
    pairs = np.stack([first, second], axis=1)
    if len(pairs) > max_pairs:
        pairs = pairs[np.sort(rng.choice(len(pairs), max_pairs, replace=False))]
    return pairs


def pairwise_similarity(images: np.ndarray, pairs: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """MS-SSIM (2D) or SSIM (3D) of each pair.

    Args:
        images: ``(N, C, X, Y[, Z])`` on a [0, 1] scale.
        pairs: index pairs ``(P, 2)``.

    Returns:
        ``(P,)`` similarities (1 for identical images).
    """
    import torch
    from monai.metrics import MultiScaleSSIMMetric, SSIMMetric

    spatial_dims = images.ndim - 2
    if spatial_dims == 2:
        n = ms_ssim_scales(min(images.shape[2:]))
        weights = np.asarray(MS_SSIM_WEIGHTS[:n]) / np.sum(MS_SSIM_WEIGHTS[:n])
        metric = MultiScaleSSIMMetric(spatial_dims=2, data_range=1.0, kernel_size=KERNEL_SIZE,
                                      kernel_sigma=KERNEL_SIGMA, weights=tuple(weights.tolist()), reduction="none")
    else:
        if min(images.shape[2:]) < KERNEL_SIZE:
            raise ValueError(f"volumes smaller than the {KERNEL_SIZE}-voxel SSIM window")
        metric = SSIMMetric(spatial_dims=3, data_range=1.0, win_size=KERNEL_SIZE, kernel_sigma=KERNEL_SIGMA,
                            reduction="none")
    clipped = np.clip(images, 0.0, 1.0).astype(np.float32)
    out = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            a = torch.from_numpy(clipped[chunk[:, 0]])
            b = torch.from_numpy(clipped[chunk[:, 1]])
            out.append(metric(a, b).reshape(len(chunk), -1).mean(dim=1).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def mean_pairwise_similarity(images: np.ndarray, max_pairs: int, rng: np.random.Generator) -> tuple[float, int]:
    """Mean pairwise (MS-)SSIM within a set and the number of pairs used."""
    if len(images) < 2:
        raise ValueError("diversity needs at least two images")
    pairs = sample_pairs(len(images), max_pairs, rng)
    return float(pairwise_similarity(images, pairs).mean()), len(pairs)


def low_diversity(real_similarity: float, synthetic_similarity: float, ratio: float = 0.5) -> bool:
    """The collapse rule: synthetic mean dissimilarity ``1 - s`` below ``ratio`` times the real one."""
    return (1.0 - synthetic_similarity) < ratio * (1.0 - real_similarity)
