"""``msd``: Medical Segmentation Decathlon, a ``dataset.json`` with ``training``/``test`` lists.

All channels of a case are one 4D file, in the order of ``modality``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medgan.errors import DataError
from medgan.io.image import strip_image_suffix
from medgan.io.layouts.base import CaseRef, DatasetLayout, Found, Naming, Report, listed_path, read_json
from medgan.io.layouts.registry import register

if TYPE_CHECKING:
    from medgan.io.datasets import Dataset


@register
class MsdLayout(DatasetLayout):
    """Medical Segmentation Decathlon: ``imagesTr/``, ``labelsTr/``, ``imagesTs/`` listed in ``dataset.json``."""

    name = "msd"
    priority = 20
    from_description = True
    one_file_per_channel = False

    def detect(self, root: Path, description: dict[str, Any] | None) -> bool:
        return description is not None and ("training" in description or "modality" in description)

    def find(self, root: Path, report: Report) -> Found:
        meta_file = root / "dataset.json"
        description = read_json(meta_file)
        modality = description.get("modality", {"0": "image"})
        names = tuple(str(modality[k]) for k in sorted(modality, key=lambda k: int(k)))
        label_names = {int(k): str(v) for k, v in description.get("labels", {}).items()}
        cases: list[CaseRef] = []
        for entry in description.get("training", []):
            try:
                if not isinstance(entry, dict) or "image" not in entry:
                    raise DataError(meta_file, f"training entry {entry!r} needs an 'image' path")
                image = listed_path(root, entry["image"], meta_file)
                label = listed_path(root, entry["label"], meta_file) if entry.get("label") else None
            except DataError as error:
                report(error)
                continue
            cases.append(CaseRef(strip_image_suffix(image.name), (image,), names, label, "train"))
        for entry in description.get("test", []):
            item = entry.get("image") if isinstance(entry, dict) else entry
            try:
                image = listed_path(root, item, meta_file)
            except DataError as error:
                report(error)
                continue
            cases.append(CaseRef(strip_image_suffix(image.name), (image,), names, None, "test"))
        return Found(cases, names, label_names, description)

    def paths(self, case_id: str, modalities: list[str], labelled: bool, naming: Naming
              ) -> tuple[list[Path], Path | None]:
        e = naming.ending
        images = [Path("imagesTr" if labelled else "imagesTs") / f"{case_id}{e}"]
        return images, (Path("labelsTr") / f"{case_id}{e}" if labelled else None)

    def description(self, source: Dataset, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        description = copy.deepcopy(source.description)
        description.pop("dataset", None)
        train = [r for r in rows if r["labelled"]]
        description["training"] = [{"image": "./" + r["images"], "label": "./" + r["label"]} for r in train]
        description["test"] = ["./" + r["images"] for r in rows if not r["labelled"]]
        description["numTraining"] = len(train)
        description["numTest"] = len(description["test"])
        return description
