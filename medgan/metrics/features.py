"""Feature extractors for distribution metrics, registered by name; the default needs no download.

An extractor maps one case (image on the common reference scale, optional label) to a feature
vector; Fréchet distance, KID, precision/recall, the coverage classifier and feature-space
memorisation all work on those vectors.

``radiomics`` (default) computes handcrafted, radiomics-style features with scikit-image and
SciPy, per channel:
- intensity histogram: mean, standard deviation, skewness, kurtosis, 1/10/50/90/99th percentiles,
  entropy of a 64-bin histogram on [0, 1] (10 features);
- gradient and edges: mean, standard deviation and 90th percentile of the Sobel gradient
  magnitude, variance of the Laplacian (4);
- GLCM texture (``graycomatrix``/``graycoprops``, 32 grey levels, distances 1 and 3, four angles
  averaged): contrast, dissimilarity, homogeneity, ASM, correlation (10);
- LBP (``local_binary_pattern``, 8 neighbours, radius 1, uniform): the 10-bin histogram (10);
and, when every compared case has a label, the mask's shape (fraction of the image, log number of
components, boundary-to-volume ratio) and per channel the intensity mean and standard deviation
inside the mask and its contrast against a 3-voxel ring around it. Only the mask (label > 0) is
used, never the label values, so class information does not leak into the features.

In 3D the intensity, gradient and shape features are computed on the whole volume; GLCM and LBP are
2D operators and are averaged over the three orthogonal mid-planes.

``inception`` (see :mod:`medgan.metrics.inception`) needs a local weights file and torchvision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from scipy import ndimage, stats

from medgan.metrics.casesets import mid_planes
from medgan.registry import Registry

#: feature extractors, by the name given to ``medgan evaluate --extractor``
EXTRACTORS = Registry("feature extractor")

GLCM_LEVELS = 32
GLCM_DISTANCES = (1, 3)
GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "ASM", "correlation")
HIST_BINS = 64


class FeatureExtractor(Protocol):
    """Maps a batch of cases to feature vectors."""

    name: str

    def __call__(self, images: list[np.ndarray], labels: list[np.ndarray | None] | None) -> np.ndarray:
        """Features ``(N, D)`` of ``images`` (each ``(C, X, Y[, Z])`` on the reference scale)."""
        ...


def build_extractor(name: str, **options: Any) -> FeatureExtractor:
    """The extractor registered as ``name``, built with ``options`` (e.g. ``weights=...``)."""
    factory: Callable[..., FeatureExtractor] = EXTRACTORS.get(name)
    return factory(**options)


def _quantise(plane: np.ndarray, levels: int) -> np.ndarray:
    return np.clip(np.round(np.clip(plane, 0.0, 1.0) * (levels - 1)), 0, levels - 1).astype(np.uint8)


def intensity_features(x: np.ndarray) -> list[float]:
    """Histogram statistics of one channel (any dimensionality)."""
    v = x.ravel().astype(np.float64)
    std = float(v.std())
    skew = float(stats.skew(v)) if std > 1e-8 else 0.0
    kurt = float(stats.kurtosis(v)) if std > 1e-8 else 0.0
    hist, _ = np.histogram(np.clip(v, 0.0, 1.0), bins=HIST_BINS, range=(0.0, 1.0))
    p = hist[hist > 0] / v.size
    entropy = float(-(p * np.log2(p)).sum())
    return [float(v.mean()), std, skew, kurt, *np.percentile(v, [1, 10, 50, 90, 99]).tolist(), entropy]


def gradient_features(x: np.ndarray) -> list[float]:
    """Sobel gradient magnitude statistics and Laplacian variance (a sharpness measure)."""
    x = x.astype(np.float64)
    magnitude = np.sqrt(sum(ndimage.sobel(x, axis=a) ** 2 for a in range(x.ndim)))
    return [float(magnitude.mean()), float(magnitude.std()), float(np.percentile(magnitude, 90)),
            float(ndimage.laplace(x).var())]


def glcm_features(plane: np.ndarray) -> list[float]:
    """GLCM properties of one 2D plane, averaged over four angles, for each distance."""
    from skimage.feature import graycomatrix, graycoprops

    q = _quantise(plane, GLCM_LEVELS)
    matrix = graycomatrix(q, distances=list(GLCM_DISTANCES), angles=[0, np.pi / 4, np.pi / 2, 3 * np.pi / 4],
                          levels=GLCM_LEVELS, symmetric=True, normed=True)
    out = []
    for prop in GLCM_PROPS:
        values = np.nan_to_num(graycoprops(matrix, prop), nan=1.0)  # correlation of a flat plane
        out.extend(values.mean(axis=1).tolist())
    return out


def lbp_features(plane: np.ndarray) -> list[float]:
    """10-bin histogram of uniform local binary patterns (8 neighbours, radius 1) of a 2D plane."""
    from skimage.feature import local_binary_pattern

    codes = local_binary_pattern(_quantise(plane, 256), P=8, R=1, method="uniform")
    hist, _ = np.histogram(codes, bins=10, range=(0, 10))
    return (hist / codes.size).tolist()


def mask_features(image: np.ndarray, label: np.ndarray) -> list[float]:
    """Shape of the mask ``label > 0`` and the image intensity in and around it (zeros when empty)."""
    mask = np.asarray(label).reshape(image.shape[1:]) > 0
    channels = image.shape[0]
    n = int(mask.sum())
    if n == 0:
        return [0.0] * (3 + 3 * channels)
    structure = np.ones((3,) * mask.ndim)
    _, components = ndimage.label(mask, structure=structure)
    boundary = mask & ~ndimage.binary_erosion(mask)
    ring = ndimage.binary_dilation(mask, iterations=3) & ~mask
    out = [n / mask.size, float(np.log1p(components)), float(boundary.sum()) / n]
    for c in range(channels):
        inside = image[c][mask]
        around = image[c][ring] if ring.any() else inside
        out.extend([float(inside.mean()), float(inside.std()), float(inside.mean() - around.mean())])
    return out


@EXTRACTORS.register("radiomics")
class RadiomicsExtractor:
    """Handcrafted radiomics-style features (see the module docstring); no weights, no download.

    Args:
        use_label: add mask shape and in-mask intensity features (only when every case has a label).
    """

    name = "radiomics"

    def __init__(self, use_label: bool = True) -> None:
        self.use_label = use_label

    def case_features(self, image: np.ndarray, label: np.ndarray | None) -> np.ndarray:
        """Feature vector of one case ``(C, X, Y[, Z])``."""
        out: list[float] = []
        for channel in image:
            out += intensity_features(channel) + gradient_features(channel)
            planes = mid_planes(channel)
            out += np.mean([glcm_features(p) + lbp_features(p) for p in planes], axis=0).tolist()
        if self.use_label and label is not None:
            out += mask_features(image, label)
        return np.asarray(out, dtype=np.float64)

    def __call__(self, images: list[np.ndarray], labels: list[np.ndarray | None] | None = None) -> np.ndarray:
        labels = labels if labels is not None and self.use_label else [None] * len(images)
        if self.use_label and any(label is None for label in labels):
            labels = [None] * len(images)  # mixed sets: image features only, so every row has one length
        return np.stack([self.case_features(image, label) for image, label in zip(images, labels)])


@EXTRACTORS.register("inception")
def _inception(**options: Any) -> FeatureExtractor:
    from medgan.metrics.inception import InceptionExtractor

    return InceptionExtractor(**options)
