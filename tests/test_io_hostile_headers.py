"""Hostile NIfTI headers (hypothesis): every perturbed file is either read as nibabel reads it, with a
consistent geometry, or refused with one line naming the file; never a traceback."""

from __future__ import annotations

import functools
import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medgan.cli import main
from medgan.errors import DataError
from medgan.io import read_image
from medgan.io.image import MAX_ABS_VALUE, PIXDIM_TOLERANCE, SPACING_RANGE_MM, _collect_library_warnings
from tests.conftest import tree_digest

#: NIfTI-1 header fields: name -> (byte offset, dtype, count)
FIELDS = {
    "sizeof_hdr": (0, "<i4", 1), "dim_info": (39, "u1", 1), "dim": (40, "<i2", 8), "intent_code": (68, "<i2", 1),
    "datatype": (70, "<i2", 1), "bitpix": (72, "<i2", 1), "pixdim": (76, "<f4", 8), "vox_offset": (108, "<f4", 1),
    "scl_slope": (112, "<f4", 1), "scl_inter": (116, "<f4", 1), "xyzt_units": (123, "u1", 1),
    "cal_max": (124, "<f4", 1), "cal_min": (128, "<f4", 1), "qform_code": (252, "<i2", 1),
    "sform_code": (254, "<i2", 1), "quatern": (256, "<f4", 6), "srow": (280, "<f4", 12), "magic": (344, "u1", 4),
}
SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, 1e-30, 1e30, 3.4e38, float("nan"), float("inf"), float("-inf"), 352.0, 2.5]
SPECIAL_INTS = [0, 1, -1, 2, 3, 4, 7, 8, 16, 64, 255, 348, 512, 768, 1024, 32767, -32768]


@st.composite
def mutations(draw: st.DrawFn) -> list[tuple]:
    """1 to 3 edits: a header field element set to a hostile value, a flipped bit, or data bytes cut/added."""
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["field", "field", "bit", "size"]))
        if kind == "field":
            name = draw(st.sampled_from(sorted(FIELDS)))
            offset, dtype, count = FIELDS[name]
            index = draw(st.integers(0, count - 1))
            if dtype == "<f4":
                value = draw(st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(width=32, allow_nan=True)))
            elif dtype == "u1":
                value = draw(st.integers(0, 255))
            else:
                bits = 8 * np.dtype(dtype).itemsize
                value = draw(st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(-(2 ** (bits - 1)),
                                                                                2 ** (bits - 1) - 1)))
            edits.append(("field", name, offset + index * np.dtype(dtype).itemsize, dtype, value))
        elif kind == "bit":
            edits.append(("bit", draw(st.integers(0, 347)), draw(st.integers(0, 7))))
        else:
            edits.append(("size", draw(st.integers(-64, 64).filter(bool))))
    return edits


def apply(raw: bytes, edits: list[tuple]) -> bytes:
    data = bytearray(raw)
    for edit in edits:
        if edit[0] == "field":
            _, _, offset, dtype, value = edit
            if dtype == "<i2":
                value = int(np.int64(value).astype(np.int16))
            encoded = np.array([value], dtype=dtype).tobytes()
            data[offset:offset + len(encoded)] = encoded
        elif edit[0] == "bit":
            data[edit[1]] ^= 1 << edit[2]
        elif edit[1] > 0:
            data.extend(b"\x7f" * edit[1])
        else:
            del data[edit[1]:]
    return bytes(data)


@functools.cache
def _base() -> dict[str, bytes]:
    """Uncompressed bytes of a scaled int16 image and a uint8 label, both with sform and qform."""
    rng = np.random.default_rng(0)
    affine = np.array([[-1.2, 0.1, 0, 30], [0, 1.0, 0, -20], [0, 0, 2.0, 5], [0, 0, 0, 1]])
    image = nib.Nifti1Image(rng.integers(-300, 300, (6, 5, 4)).astype(np.int16), affine)
    image.header.set_slope_inter(2.0, 10.0)
    label = nib.Nifti1Image(rng.integers(0, 3, (6, 5, 4)).astype(np.uint8), affine)
    out = {}
    for name, img in (("image", image), ("label", label)):
        img.header["vox_offset"] = 352
        img.header.set_qform(affine, code=1)
        img.header.set_sform(affine, code=1)
        buffer = io.BytesIO()
        buffer.write(img.header.binaryblock + b"\0" * 4)
        buffer.write(np.asarray(img.dataobj).tobytes(order="F"))
        out[name] = buffer.getvalue()
        assert len(out[name]) == 352 + np.asarray(img.dataobj).nbytes
    return out


def _write(path: Path, raw: bytes) -> None:
    path.write_bytes(gzip.compress(raw, mtime=0) if path.name.endswith(".gz") else raw)


def _nibabel_reading(path: Path) -> np.ndarray:
    with _collect_library_warnings():  # the reference reading: its header fixes stay quiet
        img = nib.load(str(path))
    scaled = float(img.dataobj.slope) != 1.0 or float(img.dataobj.inter) != 0.0
    data = img.get_fdata(dtype=np.float32) if scaled else np.asarray(img.dataobj.get_unscaled())
    return data[None] if data.ndim <= 3 else np.moveaxis(data, -1, 0)


def check_read(path: Path) -> None:
    """Read ``path``: either a one-line DataError naming it, or a consistent result equal to nibabel's."""
    try:
        array, meta = read_image(path)
    except DataError as error:
        assert "\n" not in str(error) and error.path == str(path)
        return
    shape = tuple(meta["spatial_shape"])
    assert array.shape[1:] == shape and len(shape) in (2, 3)
    affine = np.asarray(meta["affine"])
    assert np.all(np.isfinite(affine)) and abs(np.linalg.det(affine[:3, :3])) > 0
    spacing = np.asarray(meta["spacing"])
    low, high = SPACING_RANGE_MM
    assert np.all((spacing >= low) & (spacing <= high))
    norms = np.linalg.norm(affine[:3, : len(shape)], axis=0)
    assert np.all(np.abs(norms - spacing) <= PIXDIM_TOLERANCE * np.maximum(norms, spacing) * 1.0001)
    values = array[np.isfinite(array)] if np.issubdtype(array.dtype, np.floating) else array
    assert not values.size or float(np.abs(values.astype(np.float64)).max()) <= MAX_ABS_VALUE
    np.testing.assert_array_equal(array, _nibabel_reading(path))  # read as nibabel reads the file


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=mutations(), which=st.sampled_from(["image", "label"]), suffix=st.sampled_from([".nii", ".nii.gz"]))
def test_hostile_header_is_read_correctly_or_refused_in_one_line(tmp_path: Path, edits: list, which: str,
                                                                  suffix: str) -> None:
    path = tmp_path / f"hostile{suffix}"
    _write(path, apply(_base()[which], edits))
    check_read(path)


def test_unperturbed_bases_are_read(tmp_path: Path) -> None:
    for name, raw in _base().items():
        for suffix in (".nii", ".nii.gz"):
            path = tmp_path / f"{name}{suffix}"
            _write(path, raw)
            array, _ = read_image(path)
            assert array.shape == (1, 6, 5, 4)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = _base()
    root = tmp_path_factory.mktemp("hostile") / "data"
    for i in range(2):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(exist_ok=True)
        _write(root / "images" / f"case{i}.nii", base["image"])
        _write(root / "labels" / f"case{i}.nii", base["label"])
    return root


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=mutations(), which=st.sampled_from(["images", "labels"]))
def test_hostile_header_through_augment(dataset: Path, tmp_path_factory: pytest.TempPathFactory,
                                        capsys: pytest.CaptureFixture, edits: list, which: str) -> None:
    """``medgan augment`` on a dataset with one hostile file: exit 0 with sane output, or 2 and one line."""
    original = _base()["image" if which == "images" else "label"]
    target = dataset / which / "case1.nii"
    _write(target, apply(original, edits))
    before = tree_digest(dataset)
    out = tmp_path_factory.mktemp("out") / "augmented"
    capsys.readouterr()
    status = main(["augment", str(dataset), str(out), "--no-progress"])
    err = capsys.readouterr().err
    try:
        assert "Traceback" not in err and "internal error" not in err, err
        assert status in (0, 2), err
        if status == 2:
            assert len(err.strip().splitlines()) == 1, err
        else:
            for case in ("case0_aug0", "case1_aug0"):
                label, _ = read_image(out / "labels" / f"{case}.nii")
                assert set(np.unique(label)) <= {0, 1, 2}
                image, _ = read_image(out / "images" / f"{case}.nii")
                assert np.all(np.isfinite(image))
        assert tree_digest(dataset) == before  # the input is never modified
    finally:
        _write(target, original)
