"""Summarise a dataset case by case and list every problem found (what ``medgan inspect`` prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from medgan.errors import DataError
from medgan.io.datasets import Dataset, load_dataset


def inspect_dataset(path: str | Path, format: str = "auto", progress: bool = True
                    ) -> tuple[Dataset, pd.DataFrame, list[str]]:
    """Read every case of a dataset and describe it.

    Args:
        path: the dataset folder.
        format: layout name or ``"auto"`` (see :func:`medgan.io.load_dataset`).
        progress: show a progress bar on standard error.

    Returns:
        ``(dataset, table, problems)``: one table row per case (shape, spacing, orientation,
        modalities, dtype, label values and voxel counts, status), and one line per problem
        found, each naming the file. The dataset is valid when ``problems`` is empty.
    """
    dataset = load_dataset(path, format=format, strict=False)
    problems = [str(p) for p in dataset.problems]
    rows: list[dict[str, Any]] = []
    for ref in tqdm(dataset.cases, desc="inspect", unit="case", disable=not progress or None):
        row: dict[str, Any] = {"case": ref.id, "split": ref.split, "labelled": ref.label is not None}
        try:
            case = dataset.load(ref)
        except DataError as error:
            problems.append(str(error))
            rows.append({**row, "status": "error"})
            continue
        meta = case["meta"]
        row.update(
            shape="x".join(str(n) for n in meta["spatial_shape"]),
            spacing="x".join(f"{s:g}" for s in meta["spacing"]),
            orientation=meta["orientation"],
            modalities=",".join(meta["modalities"]),
            dtype=meta["dtype"],
        )
        if "label" in case:
            values, counts = np.unique(case["label"], return_counts=True)
            row["label_values"] = ",".join(str(int(v)) for v in values)
            row["label_voxels"] = ",".join(f"{int(v)}:{int(c)}" for v, c in zip(values, counts) if v != 0)
            undeclared = sorted(set(int(v) for v in values) - set(dataset.label_names)) if dataset.label_names else []
            if undeclared:
                problems.append(f"{ref.label}: label values {undeclared} are not declared in the dataset's labels "
                                f"{sorted(dataset.label_names)}")
                row["status"] = "error"
        row.setdefault("status", "warning" if meta["warnings"] else "ok")
        row["notes"] = "; ".join(meta["warnings"])
        rows.append(row)
    columns = ["case", "split", "labelled", "shape", "spacing", "orientation", "modalities", "dtype",
               "label_values", "label_voxels", "status", "notes"]
    table = pd.DataFrame(rows, columns=columns).astype(object).fillna("")
    return dataset, table, problems
