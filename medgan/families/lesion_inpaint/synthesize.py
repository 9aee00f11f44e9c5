"""``inpaint_into``: new cases of a dataset with lesions from a trained inpainting run (the function
``medgan synthesize RUN OUT --into DATASET`` calls for this family)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medgan.errors import ConfigError, DataError


def inpaint_into(run_dir: str | Path, out: str | Path, data: str | Path, n: int, lesions_per_case: int = 1,
                 seed: int = 0, cases: Sequence[str] | None = None, exclude_cases: Sequence[str] = (),
                 organ_labels: Sequence[int] | None = None, margin_mm: float | None = None, inset_mm: float = 10.0,
                 device: str = "cpu") -> Path:
    """Write ``n`` new cases to ``out``, each a case of ``data`` with inpainted lesions.

    Source cases are ``cases`` (default all of ``data``) minus ``exclude_cases``, in turn; new case
    ``i`` is ``<source>_inp<i>`` with seed ``(seed, i)``, written in ``data``'s layout with the
    source's affine and dtypes; ``manifest.csv`` lists source case, centres, label values and voxels.
    Finished cases are skipped on a re-run (resumable).

    Raises:
        DataError: a run of another family, a dataset without the run's modalities, an unknown case,
            or a case with no room.

    Returns:
        The manifest path.
    """
    from medgan.families.lesion_inpaint.sampler import LesionInpainter, inpaint_lesions
    from medgan.io import DatasetWriter, load_dataset

    if n < 1:
        raise ConfigError("--n must be at least 1")
    inpainter = LesionInpainter.from_run(run_dir, device)
    dataset = load_dataset(data, modalities=inpainter.config.data.modalities)
    known = {ref.id for ref in dataset.cases}
    for case_id in list(cases or []) + list(exclude_cases):
        if case_id not in known:
            raise DataError(dataset.root, f"no case named {case_id!r}")
    banned = set(exclude_cases)
    sources = [c for c in (cases or [ref.id for ref in dataset.cases]) if c not in banned]
    if not sources:
        raise DataError(dataset.root, "no source case left after exclusions")
    writer = DatasetWriter(dataset, out)
    for i in range(n):
        source = sources[i % len(sources)]
        new_id = f"{source}_inp{i:04d}"
        if writer.done(new_id):
            continue
        new_case, records = inpaint_lesions(dataset.load(source), inpainter, lesions_per_case,
                                            np.random.default_rng([seed, i]), organ_labels=organ_labels,
                                            margin_mm=margin_mm, inset_mm=inset_mm)
        writer.write(new_case, new_id, {
            "source_case": source, "seed": seed, "index": i, "run": str(run_dir), "method": "lesion-inpaint",
            "centres": ";".join(" ".join(map(str, r["centre"])) for r in records),
            "lesion_labels": ";".join(" ".join(map(str, r["labels"])) for r in records),
            "lesion_voxels": ";".join(str(r["voxels"]) for r in records)})
    return writer.finish()
