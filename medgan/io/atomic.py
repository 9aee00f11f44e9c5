"""Atomic file output: write to a temporary name beside the target, then rename.

A reader never sees a half-written file, and an interrupted job leaves either the old file or none.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``target``.

    The temporary name keeps the target's suffixes (``.nii.gz``, ``.mha``) so writers that pick a
    format from the extension still do the right thing.

    Example:
        >>> with atomic_path("out/case.nii.gz") as tmp:  # doctest: +SKIP
        ...     nib.save(img, tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp = tmp_dir / target.name
    try:
        yield tmp
        # Every file written into the temporary folder moves (an .mhd header and its .raw, say);
        # the target itself moves last so its presence means the whole write finished.
        for extra in sorted(tmp_dir.iterdir()):
            if extra.name != target.name:
                os.replace(extra, target.parent / extra.name)
        os.replace(tmp, target)
    except OSError as error:
        if error.filename is None:  # a failed write() (full disk, ...) names no file: name the target
            raise OSError(error.errno, error.strerror, str(target)) from error
        raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_bytes_atomic(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    write_bytes_atomic(target, text.encode("utf-8"))
