"""What a dataset layout is: one object that finds a dataset's cases on disk and names new ones.

A layout reads (:meth:`DatasetLayout.detect`, :meth:`DatasetLayout.find`) and writes
(:meth:`DatasetLayout.naming`, :meth:`DatasetLayout.paths`, :meth:`DatasetLayout.description`);
:class:`~medgan.io.DatasetWriter` and :func:`~medgan.io.load_dataset` hold no layout-specific code.
The helpers below (paths inside the root, ``dataset.json``) are shared by the layouts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from medgan.errors import DataError
from medgan.io.image import image_suffix, is_image_file

if TYPE_CHECKING:
    from medgan.io.datasets import Dataset

#: called with each problem met while finding cases; raises (strict) or collects it
Report = Callable[[DataError], None]


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
class Found:
    """What :meth:`DatasetLayout.find` returns: the cases and what the layout declares about them."""

    cases: list[CaseRef]
    modalities: tuple[str, ...]
    label_names: dict[int, str] = field(default_factory=dict)
    description: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Naming:
    """How new files are named in an output dataset.

    Attributes:
        ending: image file ending (``.nii.gz``, ``.mha``, ...).
        separator: between case id and modality (BraTS 2023 ``-``, BraTS 2021 ``_``).
    """

    ending: str = ".nii.gz"
    separator: str = "-"


class DatasetLayout:
    """One on-disk dataset layout. Subclasses register with :func:`medgan.io.layouts.register`.

    Attributes:
        name: the name ``--format`` and ``load_dataset(format=)`` use.
        priority: detection order (lower first) when the format is ``auto``.
        from_description: recognised by its ``dataset.json`` (only such layouts are tried when a
            ``dataset.json`` exists).
        one_file_per_channel: ``False`` when all channels of a case go into one (4D) file.
    """

    name: ClassVar[str] = ""
    priority: ClassVar[int] = 100
    from_description: ClassVar[bool] = False
    one_file_per_channel: ClassVar[bool] = True

    # -- reading ---------------------------------------------------------------------------------

    def detect(self, root: Path, description: dict[str, Any] | None) -> bool:
        """True when the folder ``root`` (with its parsed ``dataset.json``, if any) is in this layout."""
        raise NotImplementedError

    def find(self, root: Path, report: Report) -> Found:
        """Find every case under ``root``; problems go to ``report``, fatal ones are raised."""
        raise NotImplementedError

    # -- writing ---------------------------------------------------------------------------------

    def naming(self, source: Dataset) -> Naming:
        """How new cases written in the layout of ``source`` are named (its file ending by default)."""
        for ref in source.cases:
            return Naming(image_suffix(ref.images[0]) or ".nii.gz")
        return Naming()

    def paths(self, case_id: str, modalities: list[str], labelled: bool, naming: Naming
              ) -> tuple[list[Path], Path | None]:
        """Relative image paths (one per file) and label path of a new case ``case_id``."""
        raise NotImplementedError

    def description(self, source: Dataset, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The ``dataset.json`` of an output holding the manifest ``rows``, or ``None`` if the layout has none."""
        return None


# --------------------------------------------------------------------------------------------------
# helpers shared by the layouts


def read_json(path: Path) -> dict[str, Any]:
    """Read a ``dataset.json``; a :class:`DataError` naming it when it is not a JSON object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise DataError(path, "dataset.json must hold a JSON object")
    return value


def inside(root: Path, path: Path) -> Path:
    """Raise unless ``path`` (after following symlinks) lies inside ``root``."""
    real_root = root.resolve()
    real = path.resolve()
    if real != real_root and real_root not in real.parents:
        what = "symlink" if path.is_symlink() else "path"
        raise DataError(path, f"{what} resolves outside the dataset root ({real}); refusing to follow it")
    return path


def listed_path(root: Path, entry: Any, listed_in: Path) -> Path:
    """A path named in ``dataset.json``: relative, inside the root, and existing."""
    if not isinstance(entry, str) or not entry:
        raise DataError(listed_in, f"expected a file path, found {entry!r}")
    if os.path.isabs(entry) or re.match(r"^[A-Za-z]:[\\/]", entry):
        raise DataError(listed_in, f"path {entry!r} is absolute; paths must be relative to the dataset root")
    path = root / entry
    if ".." in Path(entry).parts:
        raise DataError(listed_in, f"path {entry!r} escapes the dataset root")
    if not path.exists():
        if path.is_symlink():
            raise DataError(path, f"listed in {listed_in.name} but is a broken symlink")
        raise DataError(path, f"listed in {listed_in.name} but does not exist")
    return inside(root, path)


def image_files(root: Path, folder: Path, report: Report) -> list[Path]:
    """The image files in ``folder`` (hidden files skipped); a symlink out of ``root`` is reported."""
    files = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        try:
            inside(root, path)
        except DataError as error:
            report(error)
            continue
        if is_image_file(path):
            files.append(path)
        elif path.is_symlink() and image_suffix(path) and not path.exists():
            report(DataError(path, "broken symlink (its target does not exist)"))
    return files


def common_modalities(cases: list[CaseRef], report: Report) -> tuple[str, ...]:
    """The modalities of the first case; a case with other modalities is reported."""
    if not cases:
        return ()
    first = cases[0].modalities
    for case in cases[1:]:
        if case.modalities != first:
            report(DataError(case.images[0].parent, f"case {case.id} has modalities {list(case.modalities)}, "
                                                    f"but {cases[0].id} has {list(first)}"))
    return first
