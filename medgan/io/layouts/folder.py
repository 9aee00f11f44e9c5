"""``folder``: ``images/`` and ``labels/`` matched by case name.

A label ``labels/case1.nii.gz`` owns the images ``images/case1.nii.gz`` or
``images/case1_<modality>.nii.gz`` (the longest case-name match wins); images without a label are
unlabelled (test) cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medgan.errors import DataError
from medgan.io.image import strip_image_suffix
from medgan.io.layouts.base import CaseRef, DatasetLayout, Found, Naming, Report, common_modalities, image_files
from medgan.io.layouts.registry import register


@register
class FolderLayout(DatasetLayout):
    """Plain ``images/`` + ``labels/`` folders."""

    name = "folder"
    priority = 30

    def detect(self, root: Path, description: dict[str, Any] | None) -> bool:
        return (root / "images").is_dir()

    def find(self, root: Path, report: Report) -> Found:
        images = image_files(root, root / "images", report)
        labels_dir = root / "labels"
        labels = image_files(root, labels_dir, report) if labels_dir.is_dir() else []
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
        return Found(cases, common_modalities(cases, report))

    def paths(self, case_id: str, modalities: list[str], labelled: bool, naming: Naming
              ) -> tuple[list[Path], Path | None]:
        e = naming.ending
        if modalities == ["image"]:
            images = [Path("images") / f"{case_id}{e}"]
        else:
            images = [Path("images") / f"{case_id}_{m}{e}" for m in modalities]
        return images, (Path("labels") / f"{case_id}{e}" if labelled else None)
