"""Rendering tissue fractions into MR contrasts (Rician noise, bias field) and CT (Hounsfield units)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from medgan.sample_data.anatomy import smooth_field
from medgan.sample_data.geometry import CT_MEANS, CT_NOISE_HU, MR_NOISE, MR_WM_LEVEL, TISSUES, to_int16


def head_support(tissues: dict[str, np.ndarray], shape: Sequence[int]) -> np.ndarray:
    """Voxels of the head dilated by one voxel; outside it MR is 0 and CT is -1000 HU.

    Registered, masked datasets (BraTS, SynthRAD) ship constant backgrounds too, and constant
    air keeps the shipped files small.
    """
    head = (tissues["air"] < 0.98).reshape(tuple(shape))
    return ndimage.binary_dilation(head, iterations=1).ravel()


def fraction_stack(tissues: dict[str, np.ndarray], lesion: np.ndarray | None) -> np.ndarray:
    """Stack tissue fractions in ``TISSUES`` order; lesion fractions (3, N) displace the rest."""
    normal = np.stack([tissues[name] for name in TISSUES[:6]])
    if lesion is None:
        lesion = np.zeros((3, normal.shape[1]))
    return np.concatenate([normal * (1.0 - lesion.sum(axis=0)), lesion])


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise of standard deviation ``sigma``."""
    real = signal + sigma * rng.standard_normal(signal.shape)
    imaginary = sigma * rng.standard_normal(signal.shape)
    return np.sqrt(real**2 + imaginary**2)


def render_mr(
    rng: np.random.Generator,
    means: Sequence[float],
    fractions: np.ndarray,
    texture: np.ndarray,
    points: np.ndarray,
) -> np.ndarray:
    """Render one MR contrast: tissue means (jittered) x texture x bias field, then Rician noise.

    Args:
        rng: the subject's generator.
        means: mean signal per tissue in ``TISSUES`` order, relative to white matter on T1.
        fractions: (len(TISSUES), N) tissue fractions.
        texture: (N,) multiplicative texture.
        points: (3, N) world coordinates, where the bias field is evaluated.

    Returns:
        The (N,) int16 image (>= 0).
    """
    jittered = np.asarray(means, dtype=np.float64) * (1.0 + rng.uniform(-0.05, 0.05, size=len(TISSUES)))
    level = rng.uniform(*MR_WM_LEVEL)
    bias_strength = rng.uniform(0.08, 0.2)
    bias = np.exp(bias_strength * smooth_field(rng.standard_normal((1, 4, 4, 4)), points)[0])
    noise = rng.uniform(*MR_NOISE)
    signal = level * (jittered @ fractions) * texture * bias
    return to_int16(rician(signal, noise * level, rng), 0, 32767)


def render_ct(rng: np.random.Generator, fractions: np.ndarray, skull_hu: np.ndarray) -> np.ndarray:
    """Render a CT in Hounsfield units with Gaussian noise.

    Args:
        rng: the subject's generator.
        fractions: (len(TISSUES), N) tissue fractions.
        skull_hu: (N,) skull density in HU.

    Returns:
        The (N,) int16 image, clipped to [-1024, 3071].
    """
    means = np.array([CT_MEANS.get(name, 0.0) for name in TISSUES])
    skull = TISSUES.index("skull")
    hu = means @ fractions + fractions[skull] * skull_hu  # CT_MEANS has no skull entry: it varies
    hu += rng.uniform(*CT_NOISE_HU) * rng.standard_normal(fractions.shape[1])
    return to_int16(hu, -1024, 3071)


