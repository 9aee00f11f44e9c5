"""Shared fixtures: small random NIfTI datasets written into a temp folder in each layout."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"
AFFINE = np.array([[-1.5, 0, 0, 30.0], [0, 1.5, 0, -20.0], [0, 0, 2.0, 5.0], [0, 0, 0, 1]])


def save_nifti(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    """Save ``data`` (spatial dims first, as nibabel expects) as a NIfTI file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def random_volume(rng: np.random.Generator, shape: tuple[int, ...] = (12, 10, 8)) -> np.ndarray:
    return rng.normal(100, 20, shape).astype(np.float32)


def random_label(rng: np.random.Generator, shape: tuple[int, ...] = (12, 10, 8), classes: int = 3) -> np.ndarray:
    label = np.zeros(shape, np.uint8)
    label[2:6, 2:6, 2:5] = rng.integers(1, classes + 1)
    label[7:9, 5:8, 4:6] = 1
    return label


def make_folder(root: Path, n: int = 3, modalities: tuple[str, ...] = ("t1", "t2"), unlabelled: int = 1,
                seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n + unlabelled):
        case = f"case{i:02d}"
        for m in modalities:
            save_nifti(root / "images" / f"{case}_{m}.nii.gz", random_volume(rng))
        if i < n:
            save_nifti(root / "labels" / f"{case}.nii.gz", random_label(rng))
    return root


def make_msd(root: Path, n: int = 3, channels: int = 2, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    training, test = [], []
    for i in range(n):
        data = np.stack([random_volume(rng) for _ in range(channels)], axis=-1)
        save_nifti(root / "imagesTr" / f"brain_{i:03d}.nii.gz", data)
        save_nifti(root / "labelsTr" / f"brain_{i:03d}.nii.gz", random_label(rng))
        training.append({"image": f"./imagesTr/brain_{i:03d}.nii.gz", "label": f"./labelsTr/brain_{i:03d}.nii.gz"})
    save_nifti(root / "imagesTs" / "brain_100.nii.gz", np.stack([random_volume(rng)] * channels, axis=-1))
    test.append("./imagesTs/brain_100.nii.gz")
    description = {
        "name": "BrainTest", "tensorImageSize": "4D",
        "modality": {str(c): ["FLAIR", "T1w", "T2w"][c] for c in range(channels)},
        "labels": {"0": "background", "1": "edema", "2": "non-enhancing", "3": "enhancing"},
        "numTraining": n, "numTest": 1, "training": training, "test": test,
    }
    (root / "dataset.json").write_text(json.dumps(description, indent=2))
    return root


def make_nnunet(root: Path, n: int = 3, channels: tuple[str, ...] = ("T2", "ADC"), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        for c in range(len(channels)):
            save_nifti(root / "imagesTr" / f"prostate_{i:02d}_{c:04d}.nii.gz", random_volume(rng))
        save_nifti(root / "labelsTr" / f"prostate_{i:02d}.nii.gz", random_label(rng, classes=2))
    for c in range(len(channels)):
        save_nifti(root / "imagesTs" / f"prostate_99_{c:04d}.nii.gz", random_volume(rng))
    description = {
        "channel_names": {str(c): name for c, name in enumerate(channels)},
        "labels": {"background": 0, "PZ": 1, "TZ": 2},
        "numTraining": n, "file_ending": ".nii.gz",
    }
    (root / "dataset.json").write_text(json.dumps(description, indent=2))
    return root


def make_brats(root: Path, n: int = 2, style: str = "2023", healthy: int = 1, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    mods, sep, name = (("t1n", "t1c", "t2w", "t2f"), "-", "BraTS-GLI-{:05d}-000") if style == "2023" else (
        ("t1", "t1ce", "t2", "flair"), "_", "BraTS2021_{:05d}")
    for i in range(n + healthy):
        case = name.format(i)
        for m in (*mods, "ct") if style == "2023" else mods:
            save_nifti(root / case / f"{case}{sep}{m}.nii.gz", random_volume(rng).astype(np.int16))
        label = random_label(rng) if i < n else np.zeros((12, 10, 8), np.uint8)
        save_nifti(root / case / f"{case}{sep}seg.nii.gz", label)
    return root


MAKERS: dict[str, Callable[..., Path]] = {"folder": make_folder, "msd": make_msd, "nnunet": make_nnunet,
                                          "brats": make_brats}


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (to prove inputs were left byte-identical)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture(params=sorted(MAKERS))
def any_dataset(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    """A small valid dataset in each of the four layouts."""
    return request.param, MAKERS[request.param](tmp_path / request.param)
