"""Every kind of bad input gives one line naming the file and the problem, a non-zero exit, no
traceback, and leaves the input byte-identical."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medgan.cli import main
from medgan.errors import DataError
from medgan.io import load_dataset, read_image
from tests.conftest import REPO, make_folder, make_msd, make_nnunet, save_nifti, tree_digest


def _label(root: Path, case: str = "case00") -> Path:
    return root / "labels" / f"{case}.nii.gz"


def _image(root: Path, case: str = "case00", mod: str = "t1") -> Path:
    return root / "images" / f"{case}_{mod}.nii.gz"


def corrupt_bytes(root: Path) -> tuple[Path, str]:
    make_folder(root)
    _image(root).write_bytes(b"this is not an image at all" * 10)
    return _image(root), "not a readable NIfTI file"


def truncated_gzip(root: Path) -> tuple[Path, str]:
    make_folder(root)
    data = _image(root).read_bytes()
    _image(root).write_bytes(data[: len(data) // 2])
    return _image(root), "truncated or corrupt"


def truncated_plain(root: Path) -> tuple[Path, str]:
    make_folder(root)
    path = root / "images" / "case00_t1.nii"
    raw = gzip.decompress(_image(root).read_bytes())
    _image(root).unlink()
    path.write_bytes(raw[: len(raw) - 100])
    return path, "truncated or corrupt"


def shape_mismatch(root: Path) -> tuple[Path, str]:
    make_folder(root)
    save_nifti(_label(root), np.zeros((12, 10, 7), np.uint8))
    return _label(root), "shape (12, 10, 7) does not match"


def affine_mismatch(root: Path) -> tuple[Path, str]:
    make_folder(root)
    save_nifti(_label(root), np.zeros((12, 10, 8), np.uint8), np.diag([1.5, 1.5, 2.0, 1.0]))
    return _label(root), "affine does not match"


def modality_mismatch(root: Path) -> tuple[Path, str]:
    make_folder(root)
    save_nifti(_image(root, mod="t2"), np.zeros((11, 10, 8), np.float32))
    return _image(root, mod="t2"), "does not match"


def nan_voxels(root: Path) -> tuple[Path, str]:
    make_folder(root)
    data = np.ones((12, 10, 8), np.float32)
    data[1, 1, 1] = np.nan
    data[2, 2, 2] = np.inf
    save_nifti(_image(root), data)
    return _image(root), "1 NaN and 1 infinite voxels"


def float_label(root: Path) -> tuple[Path, str]:
    make_folder(root)
    label = np.zeros((12, 10, 8), np.float32)
    label[3:5, 3:5, 3:5] = 0.5
    save_nifti(_label(root), label)
    return _label(root), "non-integer values"


def negative_label(root: Path) -> tuple[Path, str]:
    make_folder(root)
    label = np.zeros((12, 10, 8), np.int16)
    label[0, 0, 0] = -1
    save_nifti(_label(root), label)
    return _label(root), "negative values"


def missing_listed_file(root: Path) -> tuple[Path, str]:
    make_msd(root)
    (root / "labelsTr" / "brain_001.nii.gz").unlink()
    return root / "labelsTr" / "brain_001.nii.gz", "listed in dataset.json but does not exist"


def parent_escape(root: Path) -> tuple[Path, str]:
    make_msd(root)
    save_nifti(root.parent / "outside.nii.gz", np.zeros((12, 10, 8), np.uint8))
    description = json.loads((root / "dataset.json").read_text())
    description["training"][0]["label"] = "../outside.nii.gz"
    (root / "dataset.json").write_text(json.dumps(description))
    return root / "dataset.json", "escapes the dataset root"


def absolute_path(root: Path) -> tuple[Path, str]:
    make_msd(root)
    description = json.loads((root / "dataset.json").read_text())
    description["training"][0]["image"] = str((root / "imagesTr" / "brain_000.nii.gz").resolve())
    (root / "dataset.json").write_text(json.dumps(description))
    return root / "dataset.json", "is absolute"


def symlink_out(root: Path) -> tuple[Path, str]:
    make_folder(root)
    target = save_nifti(root.parent / "elsewhere.nii.gz", np.zeros((12, 10, 8), np.uint8))
    _label(root).unlink()
    os.symlink(target, _label(root))
    return _label(root), "resolves outside the dataset root"


def absurd_dimensions(root: Path) -> tuple[Path, str]:
    make_folder(root)
    image = nib.load(str(_image(root)))
    data = image.get_fdata(dtype=np.float32)
    header = image.header.copy()
    raw = bytearray(header.binaryblock)
    # dim[1..3] live at byte 42 as int16: claim a 30000 x 30000 x 30000 volume
    raw[42:48] = np.array([30000, 30000, 30000], "<i2").tobytes()
    path = root / "images" / "case00_t1.nii"
    _image(root).unlink()
    path.write_bytes(bytes(raw) + b"\0" * 4 + data.tobytes(order="F"))
    return path, "implausible header dimensions"


def zero_spacing(root: Path) -> tuple[Path, str]:
    make_folder(root)
    image = nib.load(str(_image(root)))
    raw = bytearray(image.header.binaryblock)
    raw[80:84] = np.array([0.0], "<f4").tobytes()  # pixdim[1], the first voxel size
    path = root / "images" / "case00_t1.nii"
    data = image.get_fdata(dtype=np.float32)
    _image(root).unlink()
    path.write_bytes(bytes(raw) + b"\0" * 4 + data.tobytes(order="F"))
    return path, "implausible voxel spacing"


def _edit_header(root: Path, edit: Callable[[bytearray], None], gz: bool = False) -> Path:
    """Rewrite ``case00_t1`` as a single-file NIfTI with ``edit`` applied to its bytes."""
    make_folder(root)
    raw = bytearray(gzip.decompress(_image(root).read_bytes()))
    edit(raw)
    _image(root).unlink()
    path = _image(root) if gz else root / "images" / "case00_t1.nii"
    path.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
    return path


def vox_offset_in_header(root: Path) -> tuple[Path, str]:
    def edit(raw: bytearray) -> None:
        raw[108:112] = np.array([0.0], "<f4").tobytes()  # voxels "start" at byte 0: the header is read as data
    return _edit_header(root, edit), "vox_offset 0 lies inside the header"


def relabelled_dtype(root: Path) -> tuple[Path, str]:
    def edit(raw: bytearray) -> None:  # float32 voxels declared as uint8: a quarter of the data would be read
        raw[70:74] = np.array([2, 8], "<i2").tobytes()
    return _edit_header(root, edit, gz=True), "holds more voxel data than its header describes"


def pixdim_disagrees(root: Path) -> tuple[Path, str]:
    def edit(raw: bytearray) -> None:  # pixdim[1] 1.6 while the sform says 1.5 mm
        raw[80:84] = np.array([1.6], "<f4").tobytes()
    return _edit_header(root, edit, gz=True), "disagrees with the voxel size of the header's affine"


def pixdim_tiny(root: Path) -> tuple[Path, str]:
    def edit(raw: bytearray) -> None:
        raw[80:84] = np.array([1e-30], "<f4").tobytes()
    return _edit_header(root, edit), "implausible voxel spacing"


def pixdim_huge(root: Path) -> tuple[Path, str]:
    def edit(raw: bytearray) -> None:
        raw[80:84] = np.array([1e30], "<f4").tobytes()
    return _edit_header(root, edit), "implausible voxel spacing"


def absurd_values(root: Path) -> tuple[Path, str]:
    def edit(raw: bytearray) -> None:  # scl_slope 1e30 on float32 voxels around 100
        raw[112:116] = np.array([1e30], "<f4").tobytes()
    return _edit_header(root, edit), "are implausible"


def only_image_is_a_symlink_out(root: Path) -> tuple[Path, str]:
    make_folder(root, n=1, modalities=("t1",), unlabelled=0)
    outside = root.parent / "outside.nii.gz"
    os.replace(_image(root), outside)
    os.symlink(outside, _image(root))
    return _image(root), "symlink resolves outside the dataset root"


def bad_json(root: Path) -> tuple[Path, str]:
    make_nnunet(root)
    (root / "dataset.json").write_text("{ not json")
    return root / "dataset.json", "not valid JSON"


def nnunet_missing_channel(root: Path) -> tuple[Path, str]:
    make_nnunet(root)
    (root / "imagesTr" / "prostate_01_0001.nii.gz").unlink()
    return root / "imagesTr" / "prostate_01_0001.nii.gz", "channel 1 (ADC) of case prostate_01 does not exist"


def undeclared_label(root: Path) -> tuple[Path, str]:
    make_nnunet(root)
    label = np.zeros((12, 10, 8), np.uint8)
    label[1, 1, 1] = 7
    save_nifti(root / "labelsTr" / "prostate_00.nii.gz", label)
    return root / "labelsTr" / "prostate_00.nii.gz", "label values [7] are not declared"


BROKEN: dict[str, Callable[[Path], tuple[Path, str]]] = {f.__name__: f for f in [
    corrupt_bytes, truncated_gzip, truncated_plain, shape_mismatch, affine_mismatch, modality_mismatch,
    nan_voxels, float_label, negative_label, missing_listed_file, parent_escape, absolute_path, symlink_out,
    absurd_dimensions, zero_spacing, bad_json, nnunet_missing_channel, undeclared_label, vox_offset_in_header,
    relabelled_dtype, pixdim_disagrees, pixdim_tiny, pixdim_huge, absurd_values, only_image_is_a_symlink_out]}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_inspect_rejects_bad_input_with_one_line(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "dataset"
    culprit, message = BROKEN[name](root)
    before = tree_digest(tmp_path)
    status = main(["inspect", str(root)])
    err = capsys.readouterr().err
    assert status != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if message in line]
    assert len(lines) == 1, err
    assert str(culprit) in lines[0], err
    assert tree_digest(tmp_path) == before


def test_affine_within_tolerance_is_accepted(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    affine = np.array([[-1.5, 0, 0, 30.0], [0, 1.5, 0, -20.0], [0, 0, 2.0, 5.0], [0, 0, 0, 1]])
    affine[0, 3] += 1e-5
    save_nifti(_label(root), np.zeros((12, 10, 8), np.uint8), affine)
    ds = load_dataset(root)
    assert ds.load("case00")["label"].shape == (1, 12, 10, 8)


def test_integer_valued_float_label_is_read_with_warning(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    label = np.zeros((12, 10, 8), np.float32)
    label[1:3, 1:3, 1:3] = 2.0
    save_nifti(_label(root), label)
    case = load_dataset(root).load("case00")
    assert case["label"].dtype == np.uint8 and set(np.unique(case["label"])) == {0, 2}
    assert any("stored as float32" in w for w in case["meta"]["warnings"])


def test_missing_file_error() -> None:
    with pytest.raises(DataError, match="file does not exist"):
        read_image("/nonexistent/image.nii.gz")


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    truncated_gzip(root)
    result = subprocess.run([sys.executable, "-m", "medgan", "inspect", str(root)], capture_output=True,
                            text=True, cwd=REPO, timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "truncated or corrupt" in result.stderr
    result = subprocess.run([sys.executable, "-m", "medgan", "inspect", str(tmp_path / "nope")],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "dataset folder does not exist" in result.stderr
