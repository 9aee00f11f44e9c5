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

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medgan.errors import DataError
from medgan.io.image import is_image_file, read_image, strip_image_suffix
from medgan.io.validate import AFFINE_TOLERANCE_MM, check_finite, check_label, check_same_grid

LAYOUTS = ("folder", "msd", "nnunet", "brats")
BRATS_2021 = ("t1", "t1ce", "t2", "flair")
BRATS_2023 = ("t1n", "t1c", "t2w", "t2f")
_BRATS_KNOWN = set(BRATS_2021) | set(BRATS_2023) | {"seg"}


@dataclass(frozen=True)
class CaseRef:
    """Where one case's files are; nothing is read until :meth:`Dataset.load`.

    Attributes:
        id: case name, unique in the dataset.
        images: image files, in channel order (one 4D file may hold several channels).
        modalities: one name per channel (a 4D file contributes several).
        label: label file, or ``None`` for an unlabelled case.
        split: ``"train"`` or ``"test"`` as the layout declares it.
    """

    id: str
    images: tuple[Path, ...]
    modalities: tuple[str, ...]
    label: Path | None = None
    split: str = "train"


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
        format: ``"auto"`` or one of ``folder``, ``msd``, ``nnunet``, ``brats``.
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
    layout = detect_layout(root) if format == "auto" else format
    if layout not in LAYOUTS:
        raise DataError(root, f"unknown dataset format {format!r}; choose one of auto, {', '.join(LAYOUTS)}")
    problems: list[DataError] = []

    def report(error: DataError) -> None:
        if strict:
            raise error
        problems.append(error)

    finder = {"folder": _find_folder, "msd": _find_msd, "nnunet": _find_nnunet, "brats": _find_brats}[layout]
    cases, names, label_names, description = finder(root, report)
    if modalities is not None:
        cases, names = _select_modalities(root, cases, names, list(modalities))
    _check_unique_ids(root, cases)
    return Dataset(root, layout, cases, names, label_names, description, problems, tolerance_mm)


def detect_layout(root: Path) -> str:
    """Guess the layout of the dataset at ``root`` (see the module docstring)."""
    meta_file = root / "dataset.json"
    if meta_file.is_file():
        description = _read_json(meta_file)
        if "channel_names" in description or "file_ending" in description:
            return "nnunet"
        if "training" in description or "modality" in description:
            return "msd"
        raise DataError(meta_file, "dataset.json is neither MSD (training/modality) "
                                   "nor nnU-Net v2 (channel_names/file_ending)")
    if (root / "images").is_dir():
        return "folder"
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if any(_brats_modality(sub.name, f.name) for f in sub.iterdir()):
            return "brats"
    raise DataError(
        root,
        "cannot recognise the dataset layout: expected images/ + labels/, a dataset.json "
        "(Medical Segmentation Decathlon or nnU-Net v2), or BraTS case folders",
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise DataError(path, "dataset.json must hold a JSON object")
    return value


def _inside(root: Path, path: Path) -> Path:
    """Raise unless ``path`` (after following symlinks) lies inside ``root``."""
    real_root = root.resolve()
    real = path.resolve()
    if real != real_root and real_root not in real.parents:
        raise DataError(path, f"resolves outside the dataset root ({real}); refusing to follow it")
    return path


def _listed_path(root: Path, entry: Any, listed_in: Path) -> Path:
    """A path named in ``dataset.json``: relative, inside the root, and existing."""
    if not isinstance(entry, str) or not entry:
        raise DataError(listed_in, f"expected a file path, found {entry!r}")
    if os.path.isabs(entry) or re.match(r"^[A-Za-z]:[\\/]", entry):
        raise DataError(listed_in, f"path {entry!r} is absolute; paths must be relative to the dataset root")
    path = root / entry
    if ".." in Path(entry).parts:
        raise DataError(listed_in, f"path {entry!r} escapes the dataset root")
    if not path.exists():
        raise DataError(path, f"listed in {listed_in.name} but does not exist")
    return _inside(root, path)


def _image_files(root: Path, folder: Path, report: Any) -> list[Path]:
    files = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        try:
            _inside(root, path)
        except DataError as error:
            report(error)
            continue
        if is_image_file(path):
            files.append(path)
    return files


def _find_folder(root: Path, report: Any) -> tuple[list[CaseRef], tuple[str, ...], dict[int, str], dict]:
    images = _image_files(root, root / "images", report)
    labels_dir = root / "labels"
    labels = _image_files(root, labels_dir, report) if labels_dir.is_dir() else []
    if not images:
        raise DataError(root / "images", "no image files found")
    stems = {strip_image_suffix(p.name): p for p in labels}
    owner: dict[Path, str] = {}
    for image in images:
        stem = strip_image_suffix(image.name)
        matches = [s for s in stems if stem == s or stem.startswith(s + "_")]
        if matches:
            owner[image] = max(matches, key=len)
    cases: list[CaseRef] = []
    suffixes: set[str] = set()
    for stem, label in stems.items():
        files = [p for p in images if owner.get(p) == stem]
        if not files:
            report(DataError(label, "label has no matching image in images/"))
            continue
        mods = [strip_image_suffix(p.name)[len(stem) + 1:] or "image" for p in files]
        suffixes.update(m for m in mods if m != "image")
        order = sorted(range(len(files)), key=lambda i: mods[i])
        cases.append(CaseRef(stem, tuple(files[i] for i in order), tuple(mods[i] for i in order), label))
    groups: dict[str, list[tuple[str, Path]]] = {}
    for image in images:
        if image in owner:
            continue
        stem = strip_image_suffix(image.name)
        case_id, mod = stem, "image"
        for suffix in suffixes:
            if stem.endswith("_" + suffix):
                case_id, mod = stem[: -len(suffix) - 1], suffix
        groups.setdefault(case_id, []).append((mod, image))
    for case_id, members in groups.items():
        members.sort()
        cases.append(CaseRef(case_id, tuple(p for _, p in members), tuple(m for m, _ in members), None, "test"))
    cases.sort(key=lambda c: c.id)
    names = _common_modalities(root, cases, report)
    return cases, names, {}, {}


def _find_msd(root: Path, report: Any) -> tuple[list[CaseRef], tuple[str, ...], dict[int, str], dict]:
    meta_file = root / "dataset.json"
    description = _read_json(meta_file)
    modality = description.get("modality", {"0": "image"})
    names = tuple(str(modality[k]) for k in sorted(modality, key=lambda k: int(k)))
    label_names = {int(k): str(v) for k, v in description.get("labels", {}).items()}
    cases: list[CaseRef] = []
    for entry in description.get("training", []):
        try:
            if not isinstance(entry, dict) or "image" not in entry:
                raise DataError(meta_file, f"training entry {entry!r} needs an 'image' path")
            image = _listed_path(root, entry["image"], meta_file)
            label = _listed_path(root, entry["label"], meta_file) if entry.get("label") else None
        except DataError as error:
            report(error)
            continue
        cases.append(CaseRef(strip_image_suffix(image.name), (image,), names, label, "train"))
    for entry in description.get("test", []):
        item = entry.get("image") if isinstance(entry, dict) else entry
        try:
            image = _listed_path(root, item, meta_file)
        except DataError as error:
            report(error)
            continue
        cases.append(CaseRef(strip_image_suffix(image.name), (image,), names, None, "test"))
    return cases, names, label_names, description


def _find_nnunet(root: Path, report: Any) -> tuple[list[CaseRef], tuple[str, ...], dict[int, str], dict]:
    meta_file = root / "dataset.json"
    description = _read_json(meta_file)
    for key in ("channel_names", "labels", "file_ending"):
        if key not in description:
            raise DataError(meta_file, f"nnU-Net v2 dataset.json lacks {key!r}")
    channels = description["channel_names"]
    keys = sorted(channels, key=lambda k: int(k))
    names = tuple(str(channels[k]) for k in keys)
    ending = str(description["file_ending"])
    label_names = {}
    for name, value in description["labels"].items():
        if isinstance(value, int):
            label_names[value] = str(name)
    cases: list[CaseRef] = []
    if "dataset" in description:  # nnU-Net v2 also lets dataset.json name every file
        for case_id, entry in description["dataset"].items():
            try:
                images = tuple(_listed_path(root, p, meta_file) for p in entry["images"])
                label = _listed_path(root, entry["label"], meta_file) if entry.get("label") else None
            except (DataError, KeyError, TypeError) as error:
                report(error if isinstance(error, DataError) else DataError(meta_file, f"bad entry for {case_id!r}"))
                continue
            cases.append(CaseRef(case_id, images, names, label, "train"))
        return cases, names, label_names, description
    for images_dir, labels_dir, split in (("imagesTr", "labelsTr", "train"), ("imagesTs", "labelsTs", "test")):
        folder = root / images_dir
        if not folder.is_dir():
            if split == "train":
                report(DataError(folder, "folder does not exist"))
            continue
        files = [p for p in _image_files(root, folder, report) if p.name.endswith(ending)]
        ids = sorted({p.name[: -len(ending)][:-5] for p in files if re.search(r"_\d{4}$", p.name[: -len(ending)])})
        for case_id in ids:
            images = []
            try:
                for key in keys:
                    path = folder / f"{case_id}_{int(key):04d}{ending}"
                    if not path.exists():
                        raise DataError(path, f"channel {key} ({channels[key]}) of case {case_id} does not exist")
                    images.append(_inside(root, path))
                label_path = root / labels_dir / f"{case_id}{ending}"
                label = _inside(root, label_path) if label_path.exists() else None
                if split == "train" and label is None:
                    raise DataError(label_path, f"label of training case {case_id} does not exist")
            except DataError as error:
                report(error)
                continue
            cases.append(CaseRef(case_id, tuple(images), names, label, split))
    n_training = description.get("numTraining")
    n_found = sum(1 for c in cases if c.split == "train")
    if isinstance(n_training, int) and n_training != n_found:
        report(DataError(meta_file, f"numTraining is {n_training} but {n_found} training cases were found"))
    return cases, names, label_names, description


def _brats_modality(folder: str, filename: str) -> str | None:
    stem = strip_image_suffix(filename)
    if filename.startswith(".") or stem == filename or not stem.startswith(folder):
        return None
    rest = stem[len(folder):]
    if len(rest) < 2 or rest[0] not in "-_":
        return None
    return rest[1:]


def _find_brats(root: Path, report: Any) -> tuple[list[CaseRef], tuple[str, ...], dict[int, str], dict]:
    cases: list[CaseRef] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            _inside(root, folder)
        except DataError as error:
            report(error)
            continue
        found: dict[str, Path] = {}
        for path in _image_files(root, folder, report):
            modality = _brats_modality(folder.name, path.name)
            if modality is not None:
                found[modality] = path
        if not found:
            continue
        label = found.pop("seg", None)
        standard = BRATS_2023 if any(m in found for m in BRATS_2023) else BRATS_2021
        order = [m for m in standard if m in found] + sorted(m for m in found if m not in standard)
        if not order:
            report(DataError(folder, "case folder has a label but no image"))
            continue
        cases.append(CaseRef(folder.name, tuple(found[m] for m in order), tuple(order), label,
                             "train" if label is not None else "test"))
    if not cases:
        raise DataError(root, "no BraTS case folders found")
    names = _common_modalities(root, cases, report)
    return cases, names, {0: "background", 1: "necrotic core", 2: "oedema", 3: "enhancing tumour"}, {}


def _common_modalities(root: Path, cases: list[CaseRef], report: Any) -> tuple[str, ...]:
    if not cases:
        return ()
    first = cases[0].modalities
    for case in cases[1:]:
        if case.modalities != first:
            report(DataError(case.images[0].parent, f"case {case.id} has modalities {list(case.modalities)}, "
                                                    f"but {cases[0].id} has {list(first)}"))
    return first


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
