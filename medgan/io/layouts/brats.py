"""``brats``: one folder per case, ``<case>_t1/_t1ce/_t2/_flair/_seg`` (BraTS 2021) or
``<case>-t1n/-t1c/-t2w/-t2f/-seg`` (BraTS 2023).

Extra modalities (``-ct``) follow the standard ones in alphabetical order; folders without ``seg``
are unlabelled.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from medgan.errors import DataError
from medgan.io.image import strip_image_suffix
from medgan.io.layouts.base import (
    CaseRef,
    DatasetLayout,
    Found,
    Naming,
    Report,
    common_modalities,
    image_files,
    inside,
)
from medgan.io.layouts.registry import register

if TYPE_CHECKING:
    from medgan.io.datasets import Dataset

BRATS_2021 = ("t1", "t1ce", "t2", "flair")
BRATS_2023 = ("t1n", "t1c", "t2w", "t2f")
LABEL_NAMES = {0: "background", 1: "necrotic core", 2: "oedema", 3: "enhancing tumour"}


def brats_modality(folder: str, filename: str) -> str | None:
    """The modality in ``filename`` of a file in case folder ``folder`` (``None`` if it is not one)."""
    stem = strip_image_suffix(filename)
    if filename.startswith(".") or stem == filename or not stem.startswith(folder):
        return None
    rest = stem[len(folder):]
    if len(rest) < 2 or rest[0] not in "-_":
        return None
    return rest[1:]


@register
class BratsLayout(DatasetLayout):
    """BraTS case folders."""

    name = "brats"
    priority = 40

    def detect(self, root: Path, description: dict[str, Any] | None) -> bool:
        for sub in sorted(p for p in root.iterdir() if p.is_dir()):
            if any(brats_modality(sub.name, f.name) for f in sub.iterdir()):
                return True
        return False

    def find(self, root: Path, report: Report) -> Found:
        cases: list[CaseRef] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                inside(root, folder)
            except DataError as error:
                report(error)
                continue
            found: dict[str, Path] = {}
            for path in image_files(root, folder, report):
                modality = brats_modality(folder.name, path.name)
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
        return Found(cases, common_modalities(cases, report), dict(LABEL_NAMES))

    def naming(self, source: Dataset) -> Naming:
        ending = super().naming(source).ending
        for ref in source.cases:
            name = ref.images[0].name
            if name.startswith(ref.id) and len(name) > len(ref.id):
                return Naming(ending, name[len(ref.id)])
        return Naming(ending, "-")

    def paths(self, case_id: str, modalities: list[str], labelled: bool, naming: Naming
              ) -> tuple[list[Path], Path | None]:
        s, e = naming.separator, naming.ending
        images = [Path(case_id) / f"{case_id}{s}{m}{e}" for m in modalities]
        return images, (Path(case_id) / f"{case_id}{s}seg{e}" if labelled else None)
