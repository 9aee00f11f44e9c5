"""Small synthetic image + label sets for the metric tests (no files unless written explicitly)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

#: lesion intensity per class on a [0, 100] scale: dark, bright, mid-grey with a bright rim
CLASS_LEVEL = {1: 10.0, 2: 95.0, 3: 55.0}


def lesion_case(rng: np.random.Generator, cls: int, size: int = 32, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """One image ``(1, *shape)`` (float32, 0..100) and label ``(1, *shape)`` with one round lesion of class ``cls``."""
    shape = (size,) * dims
    background = ndimage.gaussian_filter(rng.normal(0, 1, shape), 3.0)
    image = 40.0 + 15.0 * background / (background.std() + 1e-8) + rng.normal(0, 2.0, shape)
    centre = rng.uniform(size * 0.3, size * 0.7, dims)
    radius = rng.uniform(size * 0.12, size * 0.22)
    grid = np.indices(shape).astype(float)
    distance = np.sqrt(((grid - centre.reshape((-1,) + (1,) * dims)) ** 2).sum(0))
    mask = distance <= radius
    image[mask] = CLASS_LEVEL[cls] + rng.normal(0, 2.0, int(mask.sum()))
    if cls == 3:
        image[mask & (distance > radius - 1.5)] = 90.0
    label = np.where(mask, cls, 0).astype(np.int64)
    return image[None].astype(np.float32), label[None]


def lesion_set(n: int, seed: int, size: int = 32, dims: int = 2, classes: tuple[int, ...] = (1, 2, 3)
               ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` cases cycling through ``classes``; returns images and labels."""
    rng = np.random.default_rng(seed)
    cases = [lesion_case(rng, classes[i % len(classes)], size, dims) for i in range(n)]
    return [c[0] for c in cases], [c[1] for c in cases]


def write_folder(root: Path, images: list[np.ndarray], labels: list[np.ndarray] | None, prefix: str = "case") -> Path:
    """Write a folder-layout dataset (``images/``, ``labels/``) of 2D or 3D NIfTI files."""
    for i, image in enumerate(images):
        (root / "images").mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(image[0], np.eye(4)), str(root / "images" / f"{prefix}{i:03d}.nii.gz"))
        if labels is not None:
            (root / "labels").mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(labels[i][0].astype(np.uint8), np.eye(4)),
                     str(root / "labels" / f"{prefix}{i:03d}.nii.gz"))
    return root
