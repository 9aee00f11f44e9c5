"""Read -> write round trips keep geometry, dtype and scaling exactly, for every format."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from medgan.io import read_image, write_image
from tests.conftest import AFFINE, save_nifti

OBLIQUE = np.array([[0.0, -1.2, 0.1, 10.0], [1.0, 0.0, 0.0, -7.5], [0.0, 0.1, 2.5, 3.25], [0, 0, 0, 1]])


def _header_fields(path: Path) -> dict:
    header = nib.load(str(path)).header
    keys = ["dim", "pixdim", "datatype", "qform_code", "sform_code", "srow_x", "srow_y", "srow_z",
            "quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"]
    return {k: np.asarray(header[k]).tolist() for k in keys}


@pytest.mark.parametrize("dtype", ["int16", "uint8", "float32", "float64", "int32"])
def test_nifti_round_trip_keeps_everything(tmp_path: Path, dtype: str) -> None:
    rng = np.random.default_rng(1)
    data = (rng.normal(0, 50, (9, 7, 5)) if "float" in dtype else rng.integers(0, 120, (9, 7, 5))).astype(dtype)
    src = save_nifti(tmp_path / "in.nii.gz", data, OBLIQUE)
    array, meta = read_image(src)
    assert array.shape == (1, 9, 7, 5) and array.dtype == np.dtype(dtype)
    out = write_image(tmp_path / "out.nii.gz", array, meta)
    assert np.array_equal(nib.load(str(out)).get_fdata(), nib.load(str(src)).get_fdata())
    assert nib.load(str(out)).get_data_dtype() == np.dtype(dtype)
    assert np.array_equal(nib.load(str(out)).affine, nib.load(str(src)).affine)
    assert _header_fields(out) == _header_fields(src)
    again, meta2 = read_image(out)
    assert np.array_equal(again, array)
    assert meta2["orientation"] == meta["orientation"] and meta2["spacing"] == meta["spacing"]


def test_nifti_scaling_is_kept_exactly(tmp_path: Path) -> None:
    raw = np.random.default_rng(2).integers(-300, 3000, (8, 8, 6)).astype(np.int16)
    image = nib.Nifti1Image(raw, AFFINE)
    image.header.set_slope_inter(0.25, -1024.0)
    nib.save(image, str(tmp_path / "ct.nii.gz"))
    array, meta = read_image(tmp_path / "ct.nii.gz")
    assert array.dtype == np.float32
    assert meta["scl_slope"] == 0.25 and meta["scl_inter"] == -1024.0 and meta["dtype"] == "int16"
    np.testing.assert_allclose(array[0], raw * 0.25 - 1024.0)
    out = write_image(tmp_path / "out.nii", array, meta)
    written = nib.load(str(out))
    assert np.array_equal(np.asarray(written.dataobj.get_unscaled()), raw)
    assert (written.dataobj.slope, written.dataobj.inter) == (0.25, -1024.0)


def test_4d_nifti_becomes_channels_first_and_back(tmp_path: Path) -> None:
    data = np.random.default_rng(3).random((6, 5, 4, 3)).astype(np.float32)
    array, meta = read_image(save_nifti(tmp_path / "mm.nii.gz", data))
    assert array.shape == (3, 6, 5, 4)
    assert np.array_equal(array[2], data[..., 2])
    out = write_image(tmp_path / "out.nii.gz", array, meta)
    assert np.array_equal(nib.load(str(out)).get_fdata(dtype=np.float32), data)


def test_2d_nifti(tmp_path: Path) -> None:
    data = np.arange(20, dtype=np.int16).reshape(5, 4)
    array, meta = read_image(save_nifti(tmp_path / "slice.nii.gz", data))
    assert array.shape == (1, 5, 4) and meta["spatial_shape"] == (5, 4) and len(meta["spacing"]) == 2
    out = write_image(tmp_path / "o.nii.gz", array, meta)
    assert np.array_equal(np.asarray(nib.load(str(out)).dataobj), data)


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    array, meta = read_image(save_nifti(tmp_path / "a.nii.gz", np.ones((4, 4, 4), np.float32)))
    one = write_image(tmp_path / "x" / "b.nii.gz", array, meta).read_bytes()
    two = write_image(tmp_path / "y" / "b.nii.gz", array, meta).read_bytes()
    assert one == two


@pytest.mark.parametrize("suffix", [".mha", ".nrrd", ".mhd"])
@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_itk_formats_round_trip(tmp_path: Path, suffix: str, dtype: str) -> None:
    data = np.random.default_rng(4).integers(-100, 100, (7, 6, 5)).astype(dtype)
    image = sitk.GetImageFromArray(np.transpose(data, (2, 1, 0)).copy())
    image.SetSpacing((0.7, 0.8, 2.5))
    image.SetOrigin((-10.0, 20.0, 3.0))
    image.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(image, str(tmp_path / f"in{suffix}"))
    array, meta = read_image(tmp_path / f"in{suffix}")
    assert array.shape == (1, 7, 6, 5) and array.dtype == np.dtype(dtype)
    assert np.array_equal(array[0], data)
    assert meta["spacing"] == pytest.approx((0.7, 0.8, 2.5))
    # ITK's LPS origin (-10, 20, 3) is RAS (10, -20, 3).
    assert meta["affine"][:3, 3].tolist() == pytest.approx([10.0, -20.0, 3.0])
    write_image(tmp_path / f"out{suffix}", array, meta)
    back = sitk.ReadImage(str(tmp_path / f"out{suffix}"))
    assert back.GetSpacing() == pytest.approx(image.GetSpacing())
    assert back.GetOrigin() == pytest.approx(image.GetOrigin())
    assert back.GetDirection() == pytest.approx(image.GetDirection())
    assert sitk.GetArrayFromImage(back).dtype == np.dtype(dtype)
    assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))


def test_nifti_and_itk_agree_on_world_geometry(tmp_path: Path) -> None:
    data = np.random.default_rng(5).random((6, 5, 4)).astype(np.float32)
    array, meta = read_image(save_nifti(tmp_path / "a.nii.gz", data, OBLIQUE))
    write_image(tmp_path / "a.mha", array, meta)
    array2, meta2 = read_image(tmp_path / "a.mha")
    assert np.array_equal(array2, array)
    np.testing.assert_allclose(meta2["affine"], meta["affine"], atol=1e-6)
    assert meta2["orientation"] == meta["orientation"]


def _write_dicom_series(folder: Path, data: np.ndarray, spacing: tuple[float, float, float]) -> None:
    folder.mkdir(parents=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series_uid = "1.2.826.0.1.3680043.2.1125.1.12345"
    for z in range(data.shape[2]):
        slice_image = sitk.GetImageFromArray(np.ascontiguousarray(data[:, :, z].T))
        slice_image.SetSpacing(spacing[:2])
        for tag, value in {
            "0008|0060": "MR", "0020|000e": series_uid, "0020|000d": series_uid + ".0",
            "0020|0013": str(z + 1), "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|0032": f"0\\0\\{z * spacing[2]}", "0028|0030": f"{spacing[1]}\\{spacing[0]}",
            "0018|0050": str(spacing[2]), "0008|0018": f"{series_uid}.{z + 1}",
        }.items():
            slice_image.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{z:03d}.dcm"))
        writer.Execute(slice_image)


def test_dicom_series_folder(tmp_path: Path) -> None:
    data = np.random.default_rng(6).integers(0, 1000, (8, 6, 5)).astype(np.int16)
    _write_dicom_series(tmp_path / "series", data, (0.5, 0.5, 3.0))
    array, meta = read_image(tmp_path / "series")
    assert array.shape == (1, 8, 6, 5)
    assert np.array_equal(array[0], data)
    assert meta["spacing"] == pytest.approx((0.5, 0.5, 3.0))
    assert meta["format"] == "dicom"
    write_image(tmp_path / "series.nii.gz", array, meta)
    assert np.array_equal(read_image(tmp_path / "series.nii.gz")[0], array)
