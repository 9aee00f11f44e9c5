"""``inpaint_into``: new cases of a dataset with lesions from a trained inpainting run (the function
``medgan synthesize RUN OUT --into DATASET`` calls for this family)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medgan.errors import ConfigError, DataError


def inpaint_into(run_dir: str | Path, out: str | Path, data: str | Path, n: int, lesions_per_case: int | None = None,
                 seed: int = 0, cases: Sequence[str] | None = None, exclude_cases: Sequence[str] = (),
                 allow_excluded: bool = False, organ_labels: Sequence[int] | None = None,
                 margin_mm: float | None = None, inset_mm: float | None = None,
                 mask_source: str | Path | None = None, device: str = "cpu") -> Path:
    """Write ``n`` new cases to ``out``, each a case of ``data`` with inpainted lesions.

    Source cases are ``cases`` (default all of ``data``) minus ``exclude_cases`` and, when ``data``
    is the run's training dataset, minus the cases the run excluded (its test cases), in turn; new
    case ``i`` is ``<source>_inp<i>`` with seed ``(seed, i)``, written in ``data``'s layout with the
    source's affine and dtypes; ``manifest.csv`` lists source case, centres, label values and voxels.
    Every case is made before the first is written, so bad input writes nothing; finished cases are
    skipped on a re-run (resumable). Unset settings come from the run's ``insert`` config.

    Raises:
        DataError: a run of another family, a dataset without the run's modalities, an unknown case,
            a mask source with label values the run never saw, or a case with no room.

    Returns:
        The manifest path.
    """
    import copy

    from medgan.families._cases import without_excluded
    from medgan.families.lesion_inpaint.sampler import InpaintSampler, LesionInpainter
    from medgan.io import DatasetWriter, load_dataset

    if n < 1:
        raise ConfigError("--n must be at least 1")
    inpainter = LesionInpainter.from_run(run_dir, device)
    settings = copy.deepcopy(inpainter.config.insert)
    for name, value in (("lesions_per_case", lesions_per_case), ("organ_labels", organ_labels),
                        ("margin_mm", margin_mm), ("inset_mm", inset_mm),
                        ("mask_source", str(mask_source) if mask_source else None)):
        if value is not None:
            setattr(settings, name, list(value) if name == "organ_labels" else value)
    if settings.lesions_per_case < 1:
        raise ConfigError("--lesions-per-case must be at least 1")
    sampler = InpaintSampler(inpainter, settings)
    dataset = load_dataset(data)
    wanted = list(inpainter.config.data.modalities or [])
    if sorted(dataset.modalities) != sorted(wanted):
        raise DataError(dataset.root, f"has modalities {list(dataset.modalities)}; the inpainting run was trained "
                                      f"on {wanted}")
    dataset = load_dataset(data, modalities=wanted)
    known = {ref.id for ref in dataset.cases}
    for case_id in list(cases or []) + list(exclude_cases):
        if case_id not in known:
            raise DataError(dataset.root, f"no case named {case_id!r}")
    banned = set(exclude_cases)
    sources = [c for c in (cases or [ref.id for ref in dataset.cases]) if c not in banned]
    sources = without_excluded(run_dir, dataset.root, sources, bool(cases), allow_excluded)
    if not sources:
        raise DataError(dataset.root, "no source case left after exclusions")
    with DatasetWriter(dataset, out) as writer:  # a failure before the first case leaves no folder
        made: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for i in range(n):
            source = sources[i % len(sources)]
            new_id = f"{source}_inp{i:04d}"
            if writer.done(new_id):
                continue
            new_case, records = sampler.insert(dataset.load(source), settings.lesions_per_case,
                                               np.random.default_rng([seed, i]))
            made.append((new_id, new_case, {
                "source_case": source, "seed": seed, "index": i, "run": str(run_dir), "method": "lesion-inpaint",
                "centres": ";".join(" ".join(map(str, r["centre"])) for r in records),
                "lesion_labels": ";".join(" ".join(map(str, r["labels"])) for r in records),
                "lesion_voxels": ";".join(str(r["voxels"]) for r in records)}))
        for new_id, new_case, record in made:
            writer.write(new_case, new_id, record)
        return writer.finish()
