"""Per-position feature extractors: one feature vector per pixel/voxel of an image, registered by name.

Whole-case extractors (:mod:`medgan.metrics.features`) give one vector per case; a metric that
compares the *internal* statistics of single images (SIFID: the Fréchet distance between the
distributions of local features of one real and one generated image) needs a feature map instead.
An extractor here maps one image ``(C, X, Y[, Z])`` on the evaluation's reference scale to a matrix
``(P, D)``: ``P`` positions, ``D`` features each. Select one with ``medgan evaluate
--spatial-extractor NAME`` (``EvaluateOptions.spatial_extractor``); a plugin registers its own in
:data:`SPATIAL_EXTRACTORS` (an Inception or a domain network read from a local file, say).

``filterbank`` (default) needs no weights: per image channel, a fixed multi-scale bank of Gaussian
filters computed at every pixel/voxel with SciPy: the Gaussian-smoothed intensity, the Gaussian
gradient magnitude and the Laplacian of Gaussian at σ = 1, 2 and 4 voxels (9 features per channel),
concatenated across channels (``D = 9 C``: one joint distribution over all modalities). A regular
grid of positions (stride chosen so that at most ``max_positions`` remain; every position in a
64×64 slice) is kept. These are low-level, local features like those of Inception's first blocks
that SIFID uses, but they are not Inception's: values are not comparable with published SIFIDs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from scipy import ndimage

from medgan.registry import Registry

#: per-position feature extractors, by the name given to ``medgan evaluate --spatial-extractor``
SPATIAL_EXTRACTORS = Registry("spatial feature extractor")


class SpatialFeatureExtractor(Protocol):
    """Maps one image to one feature vector per position."""

    name: str

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Features ``(P, D)`` of ``image`` ``(C, X, Y[, Z])`` on the reference scale."""
        ...


def build_spatial_extractor(name: str, **options: Any) -> SpatialFeatureExtractor:
    """The per-position extractor registered as ``name``, built with ``options``."""
    factory: Callable[..., SpatialFeatureExtractor] = SPATIAL_EXTRACTORS.get(name)
    return factory(**options)


def grid_stride(shape: Sequence[int], max_positions: int) -> int:
    """The smallest stride (same on every axis) that keeps at most ``max_positions`` grid positions."""
    stride = max(1, math.floor((math.prod(shape) / max(1, max_positions)) ** (1 / len(shape))))
    while math.prod(-(-s // stride) for s in shape) > max_positions:
        stride += 1
    return stride


@SPATIAL_EXTRACTORS.register("filterbank")
class FilterBankExtractor:
    """A fixed multi-scale Gaussian filter bank at every pixel/voxel (see the module docstring).

    Args:
        sigmas: Gaussian scales in voxels.
        max_positions: most positions kept (a regular grid; the whole image when it is smaller).
    """

    name = "filterbank"

    def __init__(self, sigmas: Sequence[float] = (1.0, 2.0, 4.0), max_positions: int = 65536) -> None:
        self.sigmas = tuple(float(s) for s in sigmas)
        self.max_positions = int(max_positions)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, np.float64)
        stride = grid_stride(image.shape[1:], self.max_positions)
        keep = (slice(None, None, stride),) * (image.ndim - 1)
        maps = []
        for channel in image:
            for sigma in self.sigmas:
                maps.append(ndimage.gaussian_filter(channel, sigma, mode="nearest")[keep])
                maps.append(ndimage.gaussian_gradient_magnitude(channel, sigma, mode="nearest")[keep])
                maps.append(ndimage.gaussian_laplace(channel, sigma, mode="nearest")[keep])
        return np.stack([m.ravel() for m in maps], axis=1)
