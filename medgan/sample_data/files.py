"""Reproducible files: NIfTI with sform and qform, gzip with a zero mtime, atomic writes, CSV text."""

from __future__ import annotations

import csv
import gzip
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from medgan.sample_data.geometry import GZIP_LEVEL


def nifti_bytes(data: np.ndarray, affine: np.ndarray) -> bytes:
    """Serialise an array as uncompressed NIfTI-1 bytes with sform and qform set (code 1)."""
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(data.dtype)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"medgan simulated sample data"
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    return img.to_bytes()


def write_atomic(path: Path, payload: bytes) -> None:
    """Write bytes to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_nifti_gz(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    """Write a reproducible ``.nii.gz``: no file name and a zero mtime in the gzip header."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=GZIP_LEVEL) as gz:
        gz.write(nifti_bytes(data, affine))
    write_atomic(path, buffer.getvalue())



def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically with Unix newlines."""
    write_atomic(path, text.encode("utf-8"))


def csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Render rows as CSV with Unix newlines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


