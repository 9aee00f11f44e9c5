"""Checks that a feature extractor behaves like a distance should: small for two real samples, growing
monotonically as one set is degraded (blur, noise, intensity shift).

Used by ``benchmarks/validate_metrics.py`` (figures in ``docs/evaluation.md``) and by the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medgan.metrics.casesets import IntensityReference
from medgan.metrics.distribution import frechet_distance, kernel_inception_distance, standardise

DEGRADATIONS = ("blur", "noise", "shift")
#: strengths: Gaussian sigma in voxels; noise sigma and shift as a fraction of the real intensity range
STRENGTHS: dict[str, tuple[float, ...]] = {
    "blur": (0.5, 1.0, 2.0, 3.0),
    "noise": (0.02, 0.05, 0.1, 0.2),
    "shift": (0.02, 0.05, 0.1, 0.2),
}


def degrade(image: np.ndarray, kind: str, strength: float, reference: IntensityReference,
            rng: np.random.Generator) -> np.ndarray:
    """A degraded copy of ``image`` ``(C, ...)`` in stored intensities.

    Args:
        kind: ``blur`` (Gaussian, sigma ``strength`` voxels on every spatial axis), ``noise``
            (Gaussian, sigma ``strength`` x the real intensity range) or ``shift`` (add ``strength``
            x the range).
        reference: the real set's intensity range per channel.
        rng: draws the noise.
    """
    span = (reference.high - reference.low).reshape((-1,) + (1,) * (image.ndim - 1))
    if kind == "blur":
        return np.stack([ndimage.gaussian_filter(c, strength) for c in image]).astype(np.float32)
    if kind == "noise":
        return (image + rng.normal(0.0, 1.0, image.shape) * strength * span).astype(np.float32)
    if kind == "shift":
        return (image + strength * span).astype(np.float32)
    raise ValueError(f"unknown degradation {kind!r} (known: {', '.join(DEGRADATIONS)})")


@dataclass
class DegradationRow:
    """Distances of one synthetic stand-in against the reference set."""

    kind: str
    strength: float
    fid: float
    kid: float


def degradation_curve(extractor, reference_images: Sequence[np.ndarray], reference_labels: Sequence | None,
                      other_images: Sequence[np.ndarray], other_labels: Sequence | None, seed: int = 0,
                      strengths: dict[str, tuple[float, ...]] | None = None) -> list[DegradationRow]:
    """Fréchet distance and KID of ``other`` (clean, then degraded at each strength) against ``reference``.

    Both sets are mapped to the reference's intensity scale; features are z-scored with the
    reference's statistics. The first row (``kind="none"``) is the real-vs-real distance.
    """
    strengths = STRENGTHS if strengths is None else strengths
    scale = IntensityReference.fit(list(reference_images), seed=seed)
    ref_features = extractor([scale.apply(i) for i in reference_images],
                             None if reference_labels is None else list(reference_labels))
    labels = None if other_labels is None else list(other_labels)

    def row(kind: str, strength: float, images: list[np.ndarray]) -> DegradationRow:
        features = extractor([scale.apply(i) for i in images], labels)
        a, b = standardise(ref_features, features)
        return DegradationRow(kind, strength, frechet_distance(a, b),
                              kernel_inception_distance(a, b, rng=np.random.default_rng(seed))[0])

    rows = [row("none", 0.0, list(other_images))]
    for kind, values in strengths.items():
        for strength in values:
            rng = np.random.default_rng([seed, DEGRADATIONS.index(kind), int(strength * 1000)])
            rows.append(row(kind, strength, [degrade(i, kind, strength, scale, rng) for i in other_images]))
    return rows


def is_monotonic(rows: Sequence[DegradationRow], kind: str, metric: str = "fid") -> bool:
    """True when ``metric`` rises strictly from the clean row through every strength of ``kind``."""
    values = [getattr(rows[0], metric)] + [getattr(r, metric) for r in rows if r.kind == kind]
    return all(b > a for a, b in zip(values, values[1:]))
