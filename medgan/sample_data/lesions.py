"""Simulated lesions: nested 3D brain tumours (BraTS labels) and 2D focal lesions of three classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medgan.sample_data.anatomy import partial_inside, rotation_matrix
from medgan.sample_data.geometry import SHAPE_2D, SPACING_2D


def smooth_noise(rng: np.random.Generator, shape: Sequence[int], sigma_vox: float) -> np.ndarray:
    """Gaussian-smoothed white noise, normalised to zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(tuple(shape)), sigma_vox, mode="wrap")
    return (field - field.mean()) / field.std()


@dataclass(frozen=True)
class TumourPlan:
    """Position and sizes of one simulated tumour (mm, world space)."""

    centre: np.ndarray
    radius_enhancing: float
    necrosis_ratio: float
    oedema_margin: float
    axes: np.ndarray  # 3x3, anisotropy and orientation of the blob
    mass_effect: float


def plan_tumour(rng: np.random.Generator, tissues: dict[str, np.ndarray], points: np.ndarray) -> TumourPlan:
    """Pick a tumour centre deep in the white matter of one hemisphere and draw its sizes."""
    hemisphere = 1.0 if rng.uniform() < 0.5 else -1.0
    candidates = np.flatnonzero(
        (tissues["wm"] > 0.6) & (tissues["signed_mm"] < -18.0) & (points[0] * hemisphere > 14.0) & (points[2] > -20.0)
    )
    centre = points[:, candidates[rng.integers(candidates.size)]]
    stretch = np.diag(1.0 / rng.uniform(0.8, 1.25, size=3))
    axes = stretch @ rotation_matrix(rng.uniform(-np.pi, np.pi, size=3))
    return TumourPlan(
        centre=centre,
        radius_enhancing=float(rng.uniform(9.0, 17.0)),
        necrosis_ratio=float(rng.uniform(0.45, 0.7)),
        oedema_margin=float(rng.uniform(6.0, 18.0)),
        axes=axes,
        mass_effect=float(rng.uniform(0.1, 0.3)),
    )


def tumour_labels(
    rng: np.random.Generator,
    plan: TumourPlan,
    tissues: dict[str, np.ndarray],
    points: np.ndarray,
    shape: Sequence[int],
) -> np.ndarray:
    """Draw nested irregular tumour regions: necrosis (1) in enhancing rim (3) in oedema (2).

    Shapes are level sets of ``distance * (1 + smooth noise)``, so the necrotic core sits in
    the enhancing tumour by construction; oedema spreads preferentially along white matter.

    Returns:
        (N,) uint8 labels.
    """
    offset = plan.axes @ (points - plan.centre[:, None])
    distance = np.sqrt(np.sum(offset**2, axis=0))
    core_noise = smooth_noise(rng, shape, 1.2).ravel()
    oedema_noise = smooth_noise(rng, shape, 1.6).ravel()
    shaped = distance * (1.0 + 0.22 * core_noise)
    tissue = tissues["gm"] + tissues["wm"]
    intracranial = tissue + tissues["csf"] > 0.5
    tumour = largest_component((shaped < plan.radius_enhancing) & intracranial, shape)
    necrosis = tumour & (shaped < plan.radius_enhancing * plan.necrosis_ratio)
    oedema_distance = distance + 4.0 * oedema_noise - 8.0 * (tissues["wm"] - 0.5)
    near_tumour = ndimage.binary_dilation(tumour.reshape(shape), iterations=1).ravel() & intracranial
    oedema = ((oedema_distance < plan.radius_enhancing + plan.oedema_margin) & (tissue > 0.45)) | near_tumour
    oedema = components_touching(oedema, tumour, shape)  # no islands away from the tumour
    labels = np.zeros(points.shape[1], dtype=np.uint8)
    labels[oedema] = 2
    labels[tumour] = 3
    labels[necrosis] = 1
    return labels


def largest_component(mask: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Keep the largest 26-connected component of a flat mask laid out on ``shape``."""
    components, count = ndimage.label(mask.reshape(tuple(shape)), structure=np.ones((3, 3, 3)))
    if count <= 1:
        return mask
    sizes = np.bincount(components.ravel())[1:]
    return (components == 1 + int(np.argmax(sizes))).ravel()


def components_touching(mask: np.ndarray, seed: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Keep the 26-connected components of a flat ``mask`` that overlap the flat ``seed``."""
    components, _ = ndimage.label(mask.reshape(tuple(shape)), structure=np.ones((3, 3, 3)))
    flat = components.ravel()
    keep = np.unique(flat[seed & mask])
    return np.isin(flat, keep[keep > 0])




def lesion_mask_2d(rng: np.random.Generator, class_id: int, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Draw one 2D lesion around a centre.

    Args:
        rng: the subject's generator.
        class_id: 1 cyst (round, sharp), 2 metastasis (small, ring-enhancing), 3 haemangioma
            (lobulated, bright, blurred border).
        offset: (2, N) in-plane offsets (mm) of the pixels from the lesion centre.

    Returns:
        ``(fractions, means, radius)``: (2, N) fractions of the lesion's two compartments, their
        T1c-like means relative to white matter, and the lesion's outer radius in mm.
    """
    pixel = SPACING_2D
    angle = rng.uniform(0.0, np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    if class_id == 1:
        radius = rng.uniform(6.0, 12.0)
        local = np.diag(1.0 / rng.uniform(0.85, 1.15, size=2)) @ rot @ offset
        inside = partial_inside(np.sqrt(np.sum(local**2, axis=0)), radius, pixel)
        return np.stack([inside, np.zeros_like(inside)]), np.array([0.2, 0.0]), radius
    if class_id == 2:
        radius = rng.uniform(6.0, 10.0)
        rim = rng.uniform(2.5, 3.5)
        local = np.diag(1.0 / rng.uniform(0.85, 1.15, size=2)) @ rot @ offset
        distance = np.sqrt(np.sum(local**2, axis=0))
        whole = partial_inside(distance, radius, pixel)
        centre = partial_inside(distance, radius - rim, pixel)
        return np.stack([centre, whole - centre]), np.array([0.4, 1.7]), radius
    lobes = rng.integers(3, 6)
    field = np.zeros(offset.shape[1])
    extent = 0.0
    for _ in range(lobes):
        shift = rng.uniform(-5.0, 5.0, size=2)
        lobe_radius = rng.uniform(4.0, 7.5)
        distance = np.sqrt(np.sum((offset - shift[:, None]) ** 2, axis=0))
        field = np.maximum(field, partial_inside(distance, lobe_radius, pixel))
        extent = max(extent, float(np.hypot(*shift)) + lobe_radius)
    blurred = ndimage.gaussian_filter(field.reshape(SHAPE_2D), rng.uniform(0.9, 1.5)).ravel()
    return np.stack([blurred, np.zeros_like(blurred)]), np.array([1.45, 0.0]), extent


