"""Tiny paired MR/CT head phantoms in BraTS layout for the translation tests."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

AFFINE = np.array([[2.0, 0, 0, -20.0], [0, 2.0, 0, -24.0], [0, 0, 3.0, -10.0], [0, 0, 0, 1]])


def phantom(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mr int16, ct int16 HU, label uint8)``: an ellipsoid head with a skull and a lesion."""
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radius = np.sqrt(sum((g / (0.8 + 0.1 * rng.random())) ** 2 for g in grid))
    head, brain = radius < 1.0, radius < 0.8
    mr = np.where(brain, 300, np.where(head, 80, 0)) + rng.normal(0, 5, shape) * head
    ct = np.where(brain, 35, np.where(head, 1200, -1000)) + rng.normal(0, 5, shape) * head
    label = np.zeros(shape, np.uint8)
    centre = tuple(n // 2 for n in shape)
    label[tuple(slice(c - 1, c + 2) for c in centre)] = 1
    return mr.astype(np.int16), ct.astype(np.int16), label


def make_paired_brats(root: Path, n: int = 3, shape: tuple[int, ...] = (20, 24, 6), seed: int = 0) -> Path:
    """``root/<case>/<case>-{t1n,ct,seg}.nii.gz`` for ``n`` cases ``TR-000``..."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        case = f"TR-{i:03d}"
        mr, ct, label = phantom(rng, shape)
        folder = root / case
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in (("t1n", mr), ("ct", ct), ("seg", label)):
            nib.save(nib.Nifti1Image(data, AFFINE), str(folder / f"{case}-{name}.nii.gz"))
    return root


TINY_CYCLEGAN = {"train": {"steps": 2, "batch_size": 1, "log_every": 1, "checkpoint_every": 0, "sample_every": 0,
                           "n_samples": 2, "progress": False, "device": "cpu", "ema_decay": 0.0},
                 "model": {"g_channels": 4, "n_blocks": 1, "d_channels": 4, "d_layers": 2}}
TINY_PIX2PIX = {"train": dict(TINY_CYCLEGAN["train"]),
                "model": {"g_channels": 4, "depth": 3, "d_channels": 4, "d_layers": 2}}
