"""Write cases as a new dataset in a source dataset's layout, atomically and resumably.

Each case's files are written first (each atomically), then a small JSON record of the case; a case
with a record is finished, so an interrupted job re-run skips it. :meth:`DatasetWriter.finish`
gathers the records into ``manifest.csv`` and writes the layout's ``dataset.json`` (MSD, nnU-Net), so
the output folder is itself a dataset that ``medgan inspect``, MONAI and nnU-Net read. Where files go
is the layout's business (:mod:`medgan.io.layouts`); the writer has no layout-specific code.
"""

from __future__ import annotations

import json
import shutil
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medgan.errors import ConfigError, DataError
from medgan.io.atomic import write_text_atomic
from medgan.io.datasets import Dataset
from medgan.io.image import write_image
from medgan.io.layouts import get_layout
from medgan.io.outdir import OwnedFolder

RECORDS = Path(".medgan") / "records"


class DatasetWriter:
    """Writes cases named by new ids into ``out`` in the layout of ``source``.

    Unless ``claim=False``, the writer owns ``out`` until :meth:`finish` (or :meth:`close`): it holds
    an :class:`~medgan.io.outdir.OwnedFolder` lock, so a second writer is refused, ``out`` must be new,
    empty or made by medgan, and a folder written with other ``params`` is refused.

    Args:
        source: the dataset whose layout, modalities and ``dataset.json`` the output follows.
        out: output folder; must not lie inside the source dataset.
        command: what writes the folder (recorded; a folder made by another command is refused).
        params: everything that decides the output (seed, run, options), recorded and compared on
            resume; ``None`` checks the command only.
        claim: ``False`` when the caller already holds the folder (an ``OwnedFolder`` around the run,
            worker processes of one run).

    Example:
        >>> writer = DatasetWriter(dataset, "augmented")  # doctest: +SKIP
        >>> if not writer.done("case1_aug0"):  # doctest: +SKIP
        ...     writer.write(case, "case1_aug0", {"source": "case1", "seed": 3})
        >>> writer.finish()  # doctest: +SKIP
    """

    def __init__(self, source: Dataset, out: str | Path, command: str = "medgan dataset writer",
                 params: dict[str, Any] | None = None, claim: bool = True) -> None:
        self.source = source
        self.out = Path(out)
        root, target = source.root.resolve(), self.out.resolve()
        if target == root or root in target.parents:
            raise ConfigError(f"{self.out}: output folder lies inside the input dataset {source.root}; "
                              "choose a folder outside it (input data is never modified)")
        self.layout = get_layout(source.layout)
        self.naming = self.layout.naming(source)
        self.folder: OwnedFolder | None = None
        self.created = not self.out.exists()  # removed again when the run fails before writing a case
        self.written = 0
        if claim:
            self.folder = OwnedFolder(self.out, command, params)
            self.folder.acquire()
            weakref.finalize(self, self.folder.release)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        """Give the folder back; when an error ends the run before any case was written into a folder
        this writer created, remove that folder (a failed command leaves nothing behind)."""
        self.close()
        if exc_type is not None and self.created and not self.written and self.out.is_dir():
            shutil.rmtree(self.out, ignore_errors=True)

    def close(self) -> None:
        """Give up the output folder (its lock) without writing the manifest."""
        if self.folder is not None:
            self.folder.release()

    def paths(self, case_id: str, modalities: list[str], labelled: bool = True) -> tuple[list[Path], Path | None]:
        """Relative image paths (one per file) and label path of case ``case_id`` in this layout."""
        return self.layout.paths(case_id, modalities, labelled, self.naming)

    def _record_path(self, case_id: str) -> Path:
        return self.out / RECORDS / f"{case_id}.json"

    def done(self, case_id: str) -> bool:
        """True when case ``case_id`` was written completely by an earlier run."""
        return self._record_path(case_id).is_file()

    def write(self, case: dict[str, Any], case_id: str, record: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write ``case`` under the name ``case_id`` and return its manifest record.

        Args:
            case: a case dictionary; its ``meta`` gives affine and storage dtypes.
            case_id: the new case's name.
            record: extra manifest columns (source case, seed, parameters, ...), JSON-serialisable.
        """
        meta = case["meta"]
        image = _numpy(case["image"])
        self.written += 1  # from the first file on, a failure keeps the folder (a resume continues it)
        labelled = "label" in case and case["label"] is not None
        modalities = list(meta.get("modalities") or [f"ch{i}" for i in range(image.shape[0])])
        image_paths, label_path = self.paths(case_id, modalities, labelled)
        storage = meta.get("source", {}).get("storage") or []
        if not self.layout.one_file_per_channel:
            chunks = [image]
            dtypes = [storage[0] if storage else {"dtype": meta.get("dtype")}]
        else:
            chunks = [image[i:i + 1] for i in range(image.shape[0])]
            per_channel = storage if len(storage) == image.shape[0] else []
            dtypes = per_channel or [{"dtype": meta.get("dtype")}] * image.shape[0]
        for rel, chunk, info in zip(image_paths, chunks, dtypes):
            file_meta = dict(meta)
            file_meta.update({k: info.get(k) for k in ("dtype", "scl_slope", "scl_inter")})
            write_image(self.out / rel, chunk, file_meta)
        if labelled:
            label = _numpy(case["label"])
            label_dtype = meta.get("label_dtype") or ("uint8" if label.max() <= 255 else "int32")
            write_image(self.out / label_path, label, {"affine": meta["affine"], "dtype": label_dtype,
                                                       "qform_code": meta.get("qform_code", 1),
                                                       "sform_code": meta.get("sform_code", 1)})
        row = {"case_id": case_id, "labelled": labelled,
               "images": ";".join(str(p) for p in image_paths),
               "label": str(label_path) if label_path else ""}
        row.update(record or {})
        write_text_atomic(self._record_path(case_id), json.dumps(row, default=_json_default, sort_keys=True))
        return row

    def records(self) -> list[dict[str, Any]]:
        """The manifest records of every finished case, sorted by case id."""
        folder = self.out / RECORDS
        if not folder.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    def finish(self) -> Path:
        """Write ``manifest.csv`` (and the layout's ``dataset.json``, if it has one), give up the
        folder, and return the manifest path."""
        rows = self.records()
        manifest = self.out / "manifest.csv"
        write_text_atomic(manifest, pd.DataFrame(rows).to_csv(index=False))
        description = self.layout.description(self.source, rows)
        if description is not None:
            write_text_atomic(self.out / "dataset.json", json.dumps(description, indent=2))
        self.close()
        return manifest


def _numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise DataError("manifest", f"cannot record value of type {type(value).__name__}")
