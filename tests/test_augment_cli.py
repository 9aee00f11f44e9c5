"""``medgan augment`` end to end: layout, manifest, seeds, workers, resume, preview, errors."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from medgan.augment import copy_seed
from medgan.cli import main

AFFINE = np.array([[-1.2, 0, 0, 30], [0, 1.0, 0, -20], [0, 0, 2.0, 5], [0, 0, 0, 1]])


def _folder_dataset(root: Path, shape: tuple[int, ...], n: int = 3, unlabelled: int = 1) -> Path:
    """``images/`` + ``labels/`` with int16 images and uint8 labels (values 0, 1, 2)."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    affine = AFFINE if len(shape) == 3 else np.diag([0.8, 0.8, 1.0, 1.0])
    for i in range(n + unlabelled):
        image = rng.normal(200, 40, shape).astype(np.int16)
        nib.save(nib.Nifti1Image(image, affine), root / "images" / f"case{i}.nii.gz")
        if i < n:
            label = np.zeros(shape, np.uint8)
            label[tuple(slice(s // 4, s // 2) for s in shape)] = 1
            label[tuple(slice(s // 2, 3 * s // 4) for s in shape)] = 2
            nib.save(nib.Nifti1Image(label, affine), root / "labels" / f"case{i}.nii.gz")
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.nii.gz"))}


def test_augment_end_to_end_then_inspect(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _folder_dataset(tmp_path / "src", (20, 18, 12))
    out = tmp_path / "out"
    assert main(["augment", str(src), str(out), "--copies", "2", "--seed", "3", "--no-progress",
                 "--include-original"]) == 0
    printed = capsys.readouterr().out
    assert "3 labelled cases: 9 cases written" in printed and "1 unlabelled case(s) left out" in printed
    assert main(["inspect", str(out)]) == 0
    manifest = pd.read_csv(out / "manifest.csv")
    augmented = manifest[manifest["copy"] >= 0]
    assert len(manifest) == 9 and len(augmented) == 6
    row = augmented[(augmented["source"] == "case1") & (augmented["copy"] == 1)].iloc[0]
    assert row["case_id"] == "case1_aug1" and int(row["seed"]) == copy_seed(3, "case1", 1)
    assert "affine" in row["params"] and "gaussian_noise" in row["params"]
    for case_id in ("case0_aug0", "case2_aug1"):
        image = nib.load(out / "images" / f"{case_id}.nii.gz")
        label = nib.load(out / "labels" / f"{case_id}.nii.gz")
        assert np.allclose(image.affine, AFFINE) and image.get_data_dtype() == np.int16
        assert label.get_data_dtype() == np.uint8 and set(np.unique(label.get_fdata())) <= {0, 1, 2}
        assert image.shape == (20, 18, 12)
    original = nib.load(out / "images" / "case0.nii.gz").get_fdata()
    assert np.array_equal(original, nib.load(src / "images" / "case0.nii.gz").get_fdata())


def test_workers_and_resume_give_identical_bytes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _folder_dataset(tmp_path / "src", (16, 16, 10))
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["augment", str(src), str(one), "--copies", "2", "--no-progress"]) == 0
    assert main(["augment", str(src), str(two), "--copies", "2", "--workers", "2", "--no-progress"]) == 0
    reference = _files(one)
    assert len(reference) == 12 and _files(two) == reference
    # an interrupted run: one case's record and one of its files are gone
    (one / ".medgan" / "records" / "case1_aug0.json").unlink()
    (one / "images" / "case1_aug0.nii.gz").unlink()
    capsys.readouterr()
    assert main(["augment", str(src), str(one), "--copies", "2", "--no-progress"]) == 0
    assert "1 cases written, 5 already done" in capsys.readouterr().out
    assert _files(one) == reference
    assert len(pd.read_csv(one / "manifest.csv")) == 6


def test_2d_dataset_with_preview(tmp_path: Path) -> None:
    src = _folder_dataset(tmp_path / "src", (32, 28), n=2, unlabelled=0)
    out = tmp_path / "out"
    assert main(["augment", str(src), str(out), "--copies", "1", "--preview", "--no-progress"]) == 0
    assert (out / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert nib.load(out / "labels" / "case0_aug0.nii.gz").shape == (32, 28)
    assert main(["inspect", str(out)]) == 0


@pytest.mark.parametrize("config, message", [
    ("transforms:\n  - {name: swirl}\n", "unknown transform 'swirl'"),
    ("transforms:\n  - {name: elastic, magnitude_mm: -3}\n", "magnitude_mm"),
    ("transforms:\n  - {name: flip, axes: [2]}\n", "do not exist in 2D"),
    ("transfroms: []\n", "unknown setting 'transfroms'"),
])
def test_bad_config_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture, config: str,
                                      message: str) -> None:
    src = _folder_dataset(tmp_path / "src", (12, 12), n=1, unlabelled=0)
    path = tmp_path / "aug.yaml"
    path.write_text(config)
    assert main(["augment", str(src), str(tmp_path / "out"), "--config", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "images").exists()


def test_refuses_output_inside_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _folder_dataset(tmp_path / "src", (12, 12, 8), n=1, unlabelled=0)
    before = _files(src)
    assert main(["augment", str(src), str(src / "augmented"), "--no-progress"]) == 2
    assert "inside the input dataset" in capsys.readouterr().err
    assert _files(src) == before and not (src / "augmented").exists()
