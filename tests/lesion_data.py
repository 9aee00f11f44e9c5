"""Small synthetic lesion datasets for the lesion-GAN tests: a bright round body with blob lesions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import save_nifti


def make_lesion_dataset(root: Path, spatial_dims: int = 3, n: int = 4, size: int = 32, healthy: int = 1,
                        seed: int = 0) -> Path:
    """``n`` cases with two lesions each (classes 1 and 2) plus ``healthy`` lesion-free cases, folder layout."""
    rng = np.random.default_rng(seed)
    grid = np.indices((size,) * spatial_dims).astype(np.float32)
    centre = (size - 1) / 2
    body = np.sqrt(((grid - centre) ** 2).sum(0)) < size * 0.42
    affine = np.diag([1.5] * spatial_dims + [1.0] * (4 - spatial_dims))
    affine[:3, 3] = [10.0, -5.0, 2.0]
    for i in range(n + healthy):
        image = np.where(body, 100.0, 0.0) + rng.normal(0, 3, body.shape)
        label = np.zeros(body.shape, np.uint8)
        if i < n:
            for lesion_class, offset in ((1, -5), (2, 5)):
                spot = np.full(spatial_dims, centre) + offset + rng.integers(-2, 3, spatial_dims)
                blob = np.sqrt(((grid - spot.reshape((-1,) + (1,) * spatial_dims)) ** 2).sum(0)) < 3
                label[blob] = lesion_class
                image[blob] = 160.0 + 20 * lesion_class
        save_nifti(root / "images" / f"case{i:02d}.nii.gz", image.astype(np.int16), affine)
        save_nifti(root / "labels" / f"case{i:02d}.nii.gz", label, affine)
    return root
