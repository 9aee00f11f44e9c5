"""``nnunet``: nnU-Net v2 raw, ``dataset.json`` with ``channel_names``, ``labels``, ``file_ending``.

Channel ``k`` of case ``C`` is ``imagesTr/C_000k<ending>``, its label ``labelsTr/C<ending>``; test
cases are in ``imagesTs/``. A ``dataset`` key listing every file explicitly is honoured.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medgan.errors import DataError
from medgan.io.layouts.base import (
    CaseRef,
    DatasetLayout,
    Found,
    Naming,
    Report,
    image_files,
    inside,
    listed_path,
    read_json,
)
from medgan.io.layouts.registry import register

if TYPE_CHECKING:
    from medgan.io.datasets import Dataset


@register
class NnunetLayout(DatasetLayout):
    """nnU-Net v2 raw data: ``imagesTr/``, ``labelsTr/``, ``imagesTs/`` and ``dataset.json``."""

    name = "nnunet"
    priority = 10
    from_description = True

    def detect(self, root: Path, description: dict[str, Any] | None) -> bool:
        return description is not None and ("channel_names" in description or "file_ending" in description)

    def find(self, root: Path, report: Report) -> Found:
        meta_file = root / "dataset.json"
        description = read_json(meta_file)
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
                    images = tuple(listed_path(root, p, meta_file) for p in entry["images"])
                    label = listed_path(root, entry["label"], meta_file) if entry.get("label") else None
                except (DataError, KeyError, TypeError) as error:
                    bad = DataError(meta_file, f"bad entry for {case_id!r}")
                    report(error if isinstance(error, DataError) else bad)
                    continue
                cases.append(CaseRef(case_id, images, names, label, "train"))
            return Found(cases, names, label_names, description)
        for images_dir, labels_dir, split in (("imagesTr", "labelsTr", "train"), ("imagesTs", "labelsTs", "test")):
            folder = root / images_dir
            if not folder.is_dir():
                if split == "train":
                    report(DataError(folder, "folder does not exist"))
                continue
            files = [p for p in image_files(root, folder, report) if p.name.endswith(ending)]
            ids = sorted({p.name[: -len(ending)][:-5] for p in files
                          if re.search(r"_\d{4}$", p.name[: -len(ending)])})
            for case_id in ids:
                images = []
                try:
                    for key in keys:
                        path = folder / f"{case_id}_{int(key):04d}{ending}"
                        if not path.exists():
                            raise DataError(path, f"channel {key} ({channels[key]}) of case {case_id} does not exist")
                        images.append(inside(root, path))
                    label_path = root / labels_dir / f"{case_id}{ending}"
                    label = inside(root, label_path) if label_path.exists() else None
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
        return Found(cases, names, label_names, description)

    def naming(self, source: Dataset) -> Naming:
        return Naming(str(source.description.get("file_ending", ".nii.gz")))

    def paths(self, case_id: str, modalities: list[str], labelled: bool, naming: Naming
              ) -> tuple[list[Path], Path | None]:
        e = naming.ending
        folder = "imagesTr" if labelled else "imagesTs"
        images = [Path(folder) / f"{case_id}_{i:04d}{e}" for i in range(len(modalities))]
        return images, (Path("labelsTr") / f"{case_id}{e}" if labelled else None)

    def description(self, source: Dataset, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        description = copy.deepcopy(source.description)
        description.pop("dataset", None)
        description["numTraining"] = sum(1 for r in rows if r["labelled"])
        return description
