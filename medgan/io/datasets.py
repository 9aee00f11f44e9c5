"""Find the cases of a dataset on disk, in the layouts researchers use, and load them as cases.

Layouts (``format=``):
- ``folder``: ``images/`` and ``labels/`` matched by case name; modality suffixes allowed
  (``case_t1.nii.gz``, ``case_0000.nii.gz`` beside ``labels/case.nii.gz``).
- ``msd``: Medical Segmentation Decathlon, ``dataset.json`` with ``training``/``test`` lists.
- ``nnunet``: nnU-Net v2 raw, ``dataset.json`` with ``channel_names``, ``labels``, ``file_ending``.
- ``brats``: one folder per case, ``<case>_t1/t1ce/t2/flair/seg`` (2021) or
  ``<case>-t1n/t1c/t2w/t2f/seg`` (2023); extra modalities (``-ct``) are kept after the standard ones.

A loaded case is a dictionary ``{"image": (C, X, Y[, Z]), "label": (1, X, Y[, Z]), "meta": {...},
"id": str}``; unlabelled cases have no ``"label"`` key and ``meta["labelled"] is False``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medgan.errors import DataError
from medgan.io.image import read_image
from medgan.io.layouts import CaseRef, get_layout, layout_names
from medgan.io.layouts import detect as _detect
from medgan.io.validate import AFFINE_TOLERANCE_MM, check_finite, check_label, check_same_grid

#: names of the built-in layouts, in detection order (the registry in ``medgan.io.layouts`` is the source)
LAYOUTS = layout_names()


@dataclass
class Dataset:
    """A dataset found on disk: its layout, its cases, and the problems met while finding them."""

    root: Path
    layout: str
    cases: list[CaseRef]
    modalities: tuple[str, ...]
    label_names: dict[int, str] = field(default_factory=dict)
    description: dict[str, Any] = field(default_factory=dict)
    problems: list[DataError] = field(default_factory=list)
    tolerance_mm: float = AFFINE_TOLERANCE_MM

    def __len__(self) -> int:
        return len(self.cases)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Load the cases one at a time (memory does not grow with the number of cases)."""
        for ref in self.cases:
            yield self.load(ref)

    def ref(self, case_id: str) -> CaseRef:
        """The :class:`CaseRef` named ``case_id``."""
        for ref in self.cases:
            if ref.id == case_id:
                return ref
        raise DataError(self.root, f"no case named {case_id!r}")

    def load(self, ref: CaseRef | str) -> dict[str, Any]:
        """Read, validate and stack one case. Raises :class:`DataError` on any bad file."""
        ref = self.ref(ref) if isinstance(ref, str) else ref
        return load_case(ref, self.root, self.layout, tolerance_mm=self.tolerance_mm)

    def select(self, case_ids: Sequence[str]) -> Dataset:
        """A view of this dataset holding only ``case_ids`` (in that order)."""
        by_id = {ref.id: ref for ref in self.cases}
        missing = [c for c in case_ids if c not in by_id]
        if missing:
            raise DataError(self.root, f"no case named {missing[0]!r}")
        return Dataset(self.root, self.layout, [by_id[c] for c in case_ids], self.modalities,
                       self.label_names, self.description, [], self.tolerance_mm)


def load_case(ref: CaseRef, root: Path, layout: str, tolerance_mm: float = AFFINE_TOLERANCE_MM) -> dict[str, Any]:
    """Read one case's files into a case dictionary (see the module docstring)."""
    arrays, storage, warnings = [], [], []
    first_path, first_meta = None, None
    for path in ref.images:
        array, meta = read_image(path)
        warnings.extend(f"{path}: {note}" for note in meta.pop("read_warnings", []))
        check_finite(path, array)
        if first_meta is None:
            first_path, first_meta = path, meta
        else:
            check_same_grid(first_path, first_meta, path, meta, tolerance_mm)
        arrays.append(array)
        storage.append({"dtype": meta["dtype"], "scl_slope": meta["scl_slope"], "scl_inter": meta["scl_inter"],
                        "channels": int(array.shape[0])})
    assert first_meta is not None and first_path is not None
    dtype = np.result_type(*arrays)
    image = np.concatenate([a.astype(dtype, copy=False) for a in arrays], axis=0) if len(arrays) > 1 else arrays[0]
    meta = {k: v for k, v in first_meta.items() if k not in ("filename",)}
    meta.update(
        modalities=_channel_names(ref, storage),
        labelled=ref.label is not None,
        history=[],
        warnings=warnings,
        source={
            "root": str(root),
            "layout": layout,
            "case_id": ref.id,
            "split": ref.split,
            "image_files": [str(p.relative_to(root)) for p in ref.images],
            "label_file": str(ref.label.relative_to(root)) if ref.label is not None else None,
            "storage": storage,
        },
    )
    case: dict[str, Any] = {"image": image, "meta": meta, "id": ref.id}
    if ref.label is not None:
        label, label_meta = read_image(ref.label)
        warnings.extend(f"{ref.label}: {note}" for note in label_meta.pop("read_warnings", []))
        check_same_grid(first_path, first_meta, ref.label, label_meta, tolerance_mm)
        if label.shape[0] != 1:
            raise DataError(ref.label, f"label has {label.shape[0]} channels; expected one label map")
        label, warning = check_label(ref.label, label)
        if warning:
            warnings.append(f"{ref.label}: {warning}")
        meta["label_dtype"] = label.dtype.name
        case["label"] = label
    return case


def _channel_names(ref: CaseRef, storage: list[dict[str, Any]]) -> list[str]:
    n_channels = sum(info["channels"] for info in storage)
    if n_channels == len(ref.modalities):
        return list(ref.modalities)
    raise DataError(ref.images[0], f"image has {n_channels} channels but the dataset declares "
                                   f"{len(ref.modalities)} modalities {list(ref.modalities)}")


# --------------------------------------------------------------------------------------------------
# discovery


def load_dataset(
    path: str | Path,
    format: str = "auto",
    modalities: Sequence[str] | None = None,
    strict: bool = True,
    tolerance_mm: float = AFFINE_TOLERANCE_MM,
) -> Dataset:
    """Find the cases of the dataset at ``path``.

    Args:
        path: the dataset's root folder.
        format: ``"auto"`` or a layout name (``folder``, ``msd``, ``nnunet``, ``brats``; see
            :mod:`medgan.io.layouts`).
        modalities: keep only these image modalities, in this order (e.g. ``["t1n", "t2f"]``).
        strict: raise at the first problem (missing files, paths escaping the root, ...); with
            ``False`` the problems are collected in ``dataset.problems`` and the affected cases left out.
        tolerance_mm: largest affine difference accepted between a case's images and its label.

    Returns:
        A :class:`Dataset`; nothing but ``dataset.json`` has been read yet.

    Example:
        >>> ds = load_dataset("sample_data/brats")  # doctest: +SKIP
        >>> case = ds.load(ds.cases[0]); case["image"].shape  # doctest: +SKIP
        (5, 64, 64, 64)
    """
    root = Path(path)
    if not root.exists():
        raise DataError(root, "dataset folder does not exist")
    if not root.is_dir():
        raise DataError(root, "expected a dataset folder, found a file")
    names = layout_names()
    if format != "auto" and format not in names:
        raise DataError(root, f"unknown dataset format {format!r}; choose one of auto, {', '.join(names)}")
    layout = detect_layout(root) if format == "auto" else format
    problems: list[DataError] = []

    def report(error: DataError) -> None:
        if strict:
            raise error
        problems.append(error)

    try:
        found = get_layout(layout).find(root, report)
    except DataError as error:
        # a fatal problem ("no image files found") after files were skipped: name the first skipped file
        if problems:
            first = problems[0]
            raise DataError(first.path, f"{first.problem} ({error.path}: {error.problem})") from None
        raise
    cases, names_ = found.cases, found.modalities
    if modalities is not None:
        cases, names_ = _select_modalities(root, cases, names_, list(modalities))
    _check_unique_ids(root, cases)
    return Dataset(root, layout, cases, names_, found.label_names, found.description, problems, tolerance_mm)


def detect_layout(root: Path) -> str:
    """Guess the layout of the dataset at ``root`` (the first registered layout that recognises it)."""
    return _detect(Path(root))


def _select_modalities(root: Path, cases: list[CaseRef], names: tuple[str, ...], wanted: list[str]
                       ) -> tuple[list[CaseRef], tuple[str, ...]]:
    selected = []
    for case in cases:
        if len(case.images) != len(case.modalities):
            raise DataError(case.images[0], "modalities are stored in one 4D file; selecting some is not supported")
        index = {m: i for i, m in enumerate(case.modalities)}
        missing = [m for m in wanted if m not in index]
        if missing:
            raise DataError(root, f"case {case.id} has no modality {missing[0]!r} (it has {list(case.modalities)})")
        selected.append(CaseRef(case.id, tuple(case.images[index[m]] for m in wanted), tuple(wanted),
                                case.label, case.split))
    return selected, tuple(wanted)


def _check_unique_ids(root: Path, cases: list[CaseRef]) -> None:
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise DataError(root, f"two cases are named {case.id!r}")
        seen.add(case.id)
