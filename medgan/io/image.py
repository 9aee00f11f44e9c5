"""Read and write one medical image, keeping its geometry and on-disk storage exactly.

NIfTI goes through nibabel; every other format (.mha/.mhd, .nrrd, a DICOM series folder) through
SimpleITK. Arrays come back channels first, ``(C, X, Y[, Z])``, in voxel order as stored (no silent
reorientation); ``meta["affine"]`` maps voxel indices to RAS+ world millimetres, as in nibabel and
MONAI. Writing an array with the meta it was read with reproduces the file's affine, spacing,
orientation, dtype and scaling (``scl_slope``/``scl_inter``) exactly.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.fileholders import FileHolder
from nibabel.openers import ImageOpener

from medgan.errors import DataError
from medgan.io.atomic import atomic_path

NIFTI_SUFFIXES = (".nii.gz", ".nii")
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr")
MAX_AXIS_LENGTH = 16384
MAX_VOXELS = 2**31
#: voxel sizes (mm) outside this range are a damaged header, not an image
SPACING_RANGE_MM = (1e-4, 1e4)
#: largest relative difference accepted between pixdim and the voxel size of the sform affine
PIXDIM_TOLERANCE = 1e-3
#: finite voxel values beyond this are a wrong data type or scaling (squares must stay finite in float32)
MAX_ABS_VALUE = 1e15
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def image_suffix(path: str | Path) -> str:
    """The image-format suffix of ``path`` (``.nii.gz`` counts as one), or ``""`` if none is known."""
    name = Path(path).name.lower()
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return ""


def strip_image_suffix(name: str) -> str:
    """``"case_0000.nii.gz"`` -> ``"case_0000"``."""
    suffix = image_suffix(name)
    return name[: len(name) - len(suffix)] if suffix else name


def is_image_file(path: str | Path) -> bool:
    """True for a file whose name has a known image suffix (hidden files excluded)."""
    path = Path(path)
    return not path.name.startswith(".") and image_suffix(path) != "" and path.is_file()


def _check_geometry(path: Path, shape: tuple[int, ...], spacing: tuple[float, ...]) -> None:
    if not shape or any(int(n) < 1 or int(n) > MAX_AXIS_LENGTH for n in shape):
        raise DataError(path, f"implausible header dimensions {tuple(int(n) for n in shape)}")
    if int(np.prod([int(n) for n in shape], dtype=np.int64)) > MAX_VOXELS:
        raise DataError(path, f"implausible header dimensions {tuple(shape)} (more than 2^31 voxels)")
    low, high = SPACING_RANGE_MM
    if any(not np.isfinite(s) or s < low or s > high for s in spacing):
        raise DataError(path, f"implausible voxel spacing {tuple(float(s) for s in spacing)} "
                              f"(expected {low:g} to {high:g} mm)")


def read_image(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read an image file (or a DICOM series folder).

    Args:
        path: a NIfTI file, a SimpleITK-readable file, or a folder holding one DICOM series.

    Returns:
        ``(array, meta)``: the array channels first, ``(C, X, Y[, Z])``, in its stored dtype (float32
        when the file carries an intensity scaling); ``meta`` with ``affine`` (4x4, RAS+ mm),
        ``spacing``, ``orientation`` (e.g. ``"RAS"``), ``spatial_shape``, ``dtype`` (on-disk),
        ``scl_slope``/``scl_inter``, ``format`` and ``filename``; ``read_warnings`` (a list of
        lines) when the reading library warned about the file.

    Raises:
        DataError: the file is missing, unreadable, truncated or longer than its header says, or has
            an implausible or inconsistent header (``vox_offset`` inside the header, pixdim
            disagreeing with the affine, voxel sizes outside 1e-4..1e4 mm, absurd voxel values).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file does not exist")
    if path.is_dir():
        return _read_dicom_series(path)
    array, meta = _read_nifti(path) if image_suffix(path) in NIFTI_SUFFIXES else _read_itk(path)
    _check_values(path, array)
    return array, meta


def _read_nifti(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    # nibabel "fixes" some broken headers on load (zero pixdim becomes 1) and warns or logs about
    # others; we would rather check the header as stored and report the file in one line, so its
    # warnings and log records are collected here and never printed before (or instead of) ours.
    with _collect_library_warnings() as notes:
        array, meta = _read_nifti_checked(path)
    if notes:
        meta["read_warnings"] = notes
    return array, meta


def _read_nifti_checked(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        stream = ImageOpener(str(path))
    except Exception as exc:
        raise DataError(path, f"not a readable NIfTI file ({_reason(exc)})") from None
    with stream:
        try:
            klass = _nifti_class(stream.read(4))
            stream.seek(0)
            stored = klass.header_class.from_fileobj(stream, check=False)
        except Exception as exc:  # nibabel raises many types for corrupt headers
            raise DataError(path, f"not a readable NIfTI file ({_reason(exc)})") from None
        shape, dtype, offset = _check_stored_header(path, stored)
        expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        compressed = path.name.lower().endswith(".gz")
        if not compressed:
            _check_file_size(path, path.stat().st_size, expected, offset)
        try:
            img = klass.from_file_map({"image": FileHolder(str(path), stream)}, mmap=False)
        except Exception as exc:
            raise DataError(path, f"not a readable NIfTI file ({_reason(exc)})") from None
        header = img.header
        affine = np.asarray(img.affine, dtype=np.float64)
        shape = tuple(int(n) for n in img.shape)
        spatial = shape[:3] if len(shape) >= 3 else shape
        _check_affine(path, affine, stored, len(spatial))
        # nibabel moves the header's scl_slope/scl_inter onto the array proxy when it loads a file.
        slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
        scaled = slope != 1.0 or inter != 0.0
        try:
            data = img.get_fdata(dtype=np.float32) if scaled else np.asarray(img.dataobj.get_unscaled())
            extra = stream.read(1) if compressed else b""
        except Exception as exc:
            raise DataError(path, f"image data cannot be read, file truncated or corrupt ({_reason(exc)})") from None
        if extra:
            _check_file_size(path, expected + 1, expected, offset)  # raises: more data than the header says
    array = data[None] if data.ndim <= 3 else np.moveaxis(data, -1, 0)
    spacing = tuple(float(z) for z in header.get_zooms()[: len(spatial)])
    meta = {
        "affine": affine,
        "spacing": spacing,
        "orientation": "".join(nib.aff2axcodes(affine))[: len(spatial)],
        "spatial_shape": tuple(int(n) for n in spatial),
        "dtype": np.dtype(header.get_data_dtype()).name,
        "scl_slope": float(slope) if scaled else None,
        "scl_inter": float(inter) if scaled else None,
        "qform_code": int(header["qform_code"]),
        "sform_code": int(header["sform_code"]),
        "format": "nifti",
        "filename": str(path),
    }
    return np.ascontiguousarray(array), meta


def _nifti_class(first: bytes) -> type:
    """NIfTI-1 or NIfTI-2 image class from the header-size field (either byte order)."""
    for order in ("<", ">"):
        size = int(np.frombuffer(first, order + "i4")[0]) if len(first) == 4 else -1
        if size == 348:
            return nib.Nifti1Image
        if size == 540:
            return nib.Nifti2Image
    raise ValueError("header size field is neither 348 (NIfTI-1) nor 540 (NIfTI-2)")


def _check_stored_header(path: Path, stored: Any) -> tuple[tuple[int, ...], np.dtype, int]:
    """Dimensions, data type and voxel offset of a header as stored, or a :class:`DataError`."""
    dims = [int(n) for n in stored["dim"]]
    if not 1 <= dims[0] <= 7:
        raise DataError(path, f"implausible header dimensions: dim[0] = {dims[0]} (must be 1 to 7)")
    shape = tuple(dims[1: 1 + dims[0]])
    if len(shape) > 4 or (len(shape) == 4 and shape[3] < 1):
        raise DataError(path, f"unsupported image dimensions {shape} (expected 2D, 3D, or 4D channels)")
    spatial = shape[:3] if len(shape) >= 3 else shape
    _check_geometry(path, shape, tuple(float(z) for z in stored["pixdim"][1: 1 + len(spatial)]))
    try:
        dtype = np.dtype(stored.get_data_dtype())
    except Exception as exc:
        raise DataError(path, f"unknown voxel data type in the header ({_reason(exc)})") from None
    if dtype.itemsize == 0 or dtype.hasobject:
        raise DataError(path, f"unsupported voxel data type {dtype} in the header")
    raw_offset = float(stored["vox_offset"])
    minimum = int(stored["sizeof_hdr"]) + 4
    if not np.isfinite(raw_offset) or raw_offset != int(raw_offset) or raw_offset < minimum:
        raise DataError(path, f"vox_offset {raw_offset:g} lies inside the header (a single-file NIfTI stores "
                              f"its voxels from byte {minimum} on); the header is damaged")
    return shape, dtype, int(raw_offset)


def _check_file_size(path: Path, size: int, expected: int, offset: int) -> None:
    if size < expected:
        raise DataError(path, f"image data cannot be read, file truncated or corrupt (the header describes "
                              f"{expected - offset} bytes of voxels from byte {offset}, the file has "
                              f"{max(size - offset, 0)})")
    if size > expected:
        raise DataError(path, f"the file holds more voxel data than its header describes ({expected - offset} "
                              f"bytes from byte {offset}); the header's data type or dimensions are wrong")


def _check_affine(path: Path, affine: np.ndarray, stored: Any, n: int) -> None:
    """The affine (from the sform, else the qform) must be usable and agree with pixdim."""
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise DataError(path, "header affine is not finite or not invertible")
    from_affine = np.linalg.norm(affine[:3, :n], axis=0)
    pixdim = np.asarray(stored["pixdim"][1: 1 + n], dtype=np.float64)
    if np.any(np.abs(from_affine - pixdim) > PIXDIM_TOLERANCE * np.maximum(from_affine, pixdim)):
        shown = ", ".join(f"{v:.6g}" for v in pixdim)
        real = ", ".join(f"{v:.6g}" for v in from_affine)
        raise DataError(path, f"pixdim ({shown}) disagrees with the voxel size of the header's affine ({real}); "
                              "the header is inconsistent: fix pixdim or the sform (medgan takes geometry from "
                              "the affine, as nibabel does, and will not compute with either while they differ)")
    _check_geometry(path, tuple(int(x) for x in stored["dim"][1: 1 + n]), tuple(from_affine))


def _check_values(path: Path, array: np.ndarray) -> None:
    """Finite voxel values beyond :data:`MAX_ABS_VALUE` are refused (a wrong data type or scaling)."""
    wide_int = np.issubdtype(array.dtype, np.integer) and array.dtype.itemsize >= 8
    if not array.size or not (np.issubdtype(array.dtype, np.floating) or wide_int):
        return  # up to 32-bit integers cannot exceed the limit
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN images are reported elsewhere
        largest = max(abs(float(np.nanmin(array))), abs(float(np.nanmax(array))))
        if not np.isfinite(largest):  # NaN/Inf voxels are reported elsewhere; judge the finite ones
            finite = array[np.isfinite(array)]
            largest = float(np.abs(finite).max()) if finite.size else 0.0
    if largest > MAX_ABS_VALUE:
        raise DataError(path, f"voxel values up to {largest:.3g} are implausible (limit {MAX_ABS_VALUE:g}); "
                              "check the header's data type, scl_slope and scl_inter")


@contextlib.contextmanager
def _collect_library_warnings() -> Iterator[list[str]]:
    """Collect Python warnings and nibabel log records raised inside, instead of printing them."""
    notes: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = " ".join(record.getMessage().split())
            if f"nibabel: {text}" not in notes:
                notes.append(f"nibabel: {text}")

    # nibabel's header checks log to "nibabel.global", which has its own stream handler
    loggers = [logging.getLogger("nibabel"), logging.getLogger("nibabel.global")]
    saved = [(logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    for logger in loggers:
        logger.handlers = [Collect(logging.WARNING)]
        logger.propagate = False
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield notes
        for item in caught:
            text = " ".join(str(item.message).split())
            if text not in notes:
                notes.append(text)
    finally:
        for logger, (handlers, propagate, level) in zip(loggers, saved):
            logger.handlers = handlers
            logger.propagate = propagate
            logger.setLevel(level)


def _read_itk(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    import SimpleITK as sitk

    try:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        size = reader.GetSize()
        _check_geometry(path, tuple(size), tuple(reader.GetSpacing()))
        image = reader.Execute()
    except DataError:
        raise
    except Exception as exc:
        raise DataError(path, f"not a readable image file ({_reason(exc)})") from None
    return _from_sitk(path, image, "itk")


def _read_dicom_series(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    try:
        series = reader.GetGDCMSeriesIDs(str(path))
    except Exception as exc:
        raise DataError(path, f"cannot list DICOM series ({_reason(exc)})") from None
    if len(series) != 1:
        found = "no DICOM series" if not series else f"{len(series)} DICOM series"
        raise DataError(path, f"expected a folder with exactly one DICOM series, found {found}")
    try:
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
        image = reader.Execute()
    except Exception as exc:
        raise DataError(path, f"DICOM series cannot be read ({_reason(exc)})") from None
    return _from_sitk(path, image, "dicom")


def _from_sitk(path: Path, image: Any, fmt: str) -> tuple[np.ndarray, dict[str, Any]]:
    import SimpleITK as sitk

    ndim = image.GetDimension()
    data = sitk.GetArrayFromImage(image)  # (z, y, x[, c])
    if image.GetNumberOfComponentsPerPixel() > 1:
        data = np.moveaxis(data, -1, 0)
        array = np.transpose(data, (0, *range(ndim, 0, -1)))
    else:
        array = np.transpose(data, tuple(range(ndim - 1, -1, -1)))[None]
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(ndim, ndim)
    origin = np.asarray(image.GetOrigin(), dtype=np.float64)
    lps = np.eye(4)
    lps[:ndim, :ndim] = direction * spacing[None, :]
    lps[:ndim, 3] = origin
    affine = _LPS_TO_RAS @ lps
    meta = {
        "affine": affine,
        "spacing": tuple(float(s) for s in spacing),
        "orientation": "".join(nib.aff2axcodes(affine))[:ndim],
        "spatial_shape": tuple(int(n) for n in array.shape[1:]),
        "dtype": array.dtype.name,
        "scl_slope": None,
        "scl_inter": None,
        "format": fmt,
        "filename": str(path),
    }
    return np.ascontiguousarray(array), meta


def write_image(path: str | Path, array: np.ndarray, meta: dict[str, Any], dtype: str | None = None) -> Path:
    """Write ``array`` (channels first) with the geometry and storage in ``meta``, atomically.

    Args:
        path: target file; the format follows the suffix (``.nii.gz``/``.nii`` through nibabel,
            ``.mha``/``.mhd``/``.nrrd`` through SimpleITK).
        array: ``(C, X, Y[, Z])``; several channels become a 4D NIfTI or a vector image.
        meta: at least ``affine``; ``dtype``, ``scl_slope`` and ``scl_inter`` are honoured.
        dtype: on-disk dtype; defaults to ``meta["dtype"]``, then to the array's dtype.

    Returns:
        The path written.
    """
    path = Path(path)
    if hasattr(array, "detach"):  # torch tensors, MONAI MetaTensors
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    out_dtype = np.dtype(dtype or meta.get("dtype") or array.dtype)
    nifti = image_suffix(path) in NIFTI_SUFFIXES
    slope, inter = (meta.get("scl_slope"), meta.get("scl_inter")) if nifti else (None, None)
    raw = _to_storage(array, out_dtype, slope, inter)
    with atomic_path(path) as tmp:
        if nifti:
            _write_nifti(tmp, raw, meta, slope, inter)
        else:
            _write_itk(tmp, raw, meta)
    return path


def _to_storage(array: np.ndarray, dtype: np.dtype, slope: float | None, inter: float | None) -> np.ndarray:
    """Undo the intensity scaling and cast, rounding and clipping to an integer dtype's range."""
    if slope is not None:
        array = (array.astype(np.float64) - (inter or 0.0)) / slope
    if np.issubdtype(dtype, np.integer):
        if np.issubdtype(array.dtype, np.integer) and np.can_cast(array.dtype, dtype):
            return array.astype(dtype, copy=False)
        info = np.iinfo(dtype)
        return np.clip(np.rint(array), info.min, info.max).astype(dtype)
    if dtype == np.bool_:
        return array.astype(np.uint8)
    return array.astype(dtype, copy=False)


def _write_nifti(tmp: Path, raw: np.ndarray, meta: dict[str, Any], slope: float | None, inter: float | None) -> None:
    # The header and voxel bytes are written by hand so that the stored dtype and the scaling are
    # exactly the ones given: nibabel's array writer would pick its own scaling.
    data = raw[0] if raw.shape[0] == 1 else np.moveaxis(raw, 0, -1)
    affine = np.asarray(meta["affine"], dtype=np.float64)
    header = nib.Nifti1Header()
    header.set_data_dtype(data.dtype)
    header.set_data_shape(data.shape)
    header.set_qform(affine, code=int(meta.get("qform_code", 1)))
    header.set_sform(affine, code=int(meta.get("sform_code", 1)))
    header.set_xyzt_units("mm")
    if slope is not None:
        header.set_slope_inter(slope, inter or 0.0)
    header["vox_offset"] = 352
    payload = header.binaryblock + b"\x00" * 4 + np.asfortranarray(data).tobytes(order="F")
    if tmp.name.lower().endswith(".gz"):
        # mtime=0 and no stored file name: the same data always gives the same bytes.
        with open(tmp, "wb") as raw_file, gzip.GzipFile(
            filename="", mode="wb", fileobj=raw_file, mtime=0, compresslevel=6
        ) as gz:
            gz.write(payload)
    else:
        tmp.write_bytes(payload)


def _write_itk(tmp: Path, raw: np.ndarray, meta: dict[str, Any]) -> None:
    import SimpleITK as sitk

    ndim = raw.ndim - 1
    data = np.transpose(raw, (0, *range(ndim, 0, -1)))  # (C, z, y, x)
    if raw.shape[0] == 1:
        image = sitk.GetImageFromArray(np.ascontiguousarray(data[0]))
    else:
        image = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(data, 0, -1)), isVector=True)
    lps = _LPS_TO_RAS @ np.asarray(meta["affine"], dtype=np.float64)
    matrix = lps[:ndim, :ndim]
    spacing = np.linalg.norm(matrix, axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in (matrix / spacing[None, :]).ravel()))
    image.SetOrigin(tuple(float(v) for v in lps[:ndim, 3]))
    sitk.WriteImage(image, str(tmp), useCompression=True)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
