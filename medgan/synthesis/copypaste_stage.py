"""Copy-paste as a benchmark synthesis stage (``copy-paste``) and as a command (``copy_paste_into``).

The stage follows :class:`medgan.benchmark.arms.SynthesisStage`: ``fit`` collects the real lesions of
the training cases (no learning), ``sample`` pastes them into the context cases, healthy cases
first. Importing this module is cheap (no torch); the work is in :mod:`medgan.synthesis.copypaste`.

Pipeline example::

    synthesis:
      stage: copy-paste
      options: {lesions_per_case: 1, rotate: 15, scale: [0.9, 1.1], elastic_mm: 2, border_mm: 8}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medgan.config import load_config
from medgan.errors import ConfigError, DataError
from medgan.registry import SYNTHESIS_STAGES


@SYNTHESIS_STAGES.register("copy-paste")
class CopyPasteStage:
    """Benchmark stage ``copy-paste``: real lesions, transformed and pasted into other training cases.

    Args:
        options: :class:`~medgan.synthesis.copypaste.CopyPasteOptions` fields (unknown keys are an error).
        spatial_dims: 2 or 3 (must match the cases).
        device: unused (no network).
    """

    def __init__(self, options: dict[str, Any] | None, spatial_dims: int, device: str) -> None:
        from medgan.synthesis.copypaste import CopyPasteOptions

        self.options = load_config(options or {}, CopyPasteOptions, where="synthesis.options (copy-paste)")
        self.spatial_dims = spatial_dims
        self.bank: list[Any] | None = None

    def fit(self, cases: Sequence[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Collect the lesions of ``cases`` (real training cases only); list them in ``workdir/lesions.json``."""
        from medgan.io.atomic import write_text_atomic
        from medgan.synthesis.copypaste import collect_lesions

        for case in cases:
            if case["image"].ndim - 1 != self.spatial_dims:
                raise ConfigError(f"copy-paste stage: case {case.get('id')} is {case['image'].ndim - 1}D but the "
                                  f"pipeline is {self.spatial_dims}D")
        self.bank = collect_lesions(cases, self.options)
        listing = [{"case": lesion.case, "voxels": lesion.meta["voxels"], "shape": list(lesion.label.shape)}
                   for lesion in self.bank]
        write_text_atomic(Path(workdir) / "lesions.json", json.dumps({"seed": seed, "lesions": listing}, indent=1))

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` new cases: lesions pasted into the context cases, healthy ones first, in turn."""
        import numpy as np

        from medgan.synthesis.copypaste import copy_paste_case

        if self.bank is None:
            raise ConfigError("copy-paste stage: fit() must run before sample()")
        rng = np.random.default_rng(seed)
        healthy = [c for c in context if c.get("label") is None or not np.any(c["label"])]
        others = [c for c in context if c.get("label") is not None and np.any(c["label"])]
        order = [healthy[i] for i in rng.permutation(len(healthy))] + [others[i] for i in rng.permutation(len(others))]
        if not order:
            raise ConfigError("copy-paste stage: no context case to paste into")
        if not self.bank:
            raise ConfigError("copy-paste stage: the training cases hold no lesion to paste")
        # the bank's lesions dealt out in turn (a new random order per round), so n cases follow the
        # training lesions' sizes and labels rather than a random draw's
        rounds = -(-n * self.options.lesions_per_case // len(self.bank))
        deal = [int(i) for _ in range(rounds) for i in rng.permutation(len(self.bank))]
        out: list[dict[str, Any]] = []
        failures: list[str] = []
        index = 0
        while len(out) < n:
            if len(failures) > 2 * n + len(order):
                raise DataError(order[0].get("id", "case"), f"copy-paste stage: could paste into only {len(out)} of "
                                                           f"{n} cases; last problem: {failures[-1]}")
            case = order[index % len(order)]
            per_case = self.options.lesions_per_case
            try:
                out.append(copy_paste_case(case, self.bank, np.random.default_rng([seed, index]), self.options,
                                           prefer=deal[len(out) * per_case:(len(out) + 1) * per_case]))
            except DataError as error:  # a case with no room: the next one
                failures.append(str(error))
            index += 1
        return out


def copy_paste_into(train_data: str | Path, target_data: str | Path, out: str | Path, n: int, seed: int = 0,
                    cases: Sequence[str] | None = None, exclude_cases: Sequence[str] = (),
                    target_cases: Sequence[str] | None = None, modalities: Sequence[str] | None = None,
                    options: dict[str, Any] | None = None) -> Path:
    """Write ``n`` new cases to ``out``: cases of ``target_data`` with lesions of ``train_data`` pasted in.

    Lesions come from the labelled cases of ``train_data`` (``cases``, default all, minus
    ``exclude_cases``, e.g. the test split); target cases are ``target_cases`` (default all of
    ``target_data`` minus ``exclude_cases``) in turn. New case ``i`` is ``<target>_cp<i>`` with seed
    ``(seed, i)``, written in ``target_data``'s layout with the target's affine and dtypes, listed in
    ``manifest.csv`` (source case, lesion sources, centres, labels). Finished cases are skipped on a
    re-run (resumable).

    Raises:
        DataError: a dataset lacks a modality of the other, a named case does not exist, or a case
            has no room for a lesion.
        ConfigError: bad ``n`` or options.

    Returns:
        The manifest path.
    """
    import numpy as np

    from medgan.io import DatasetWriter, load_dataset
    from medgan.synthesis.copypaste import CopyPasteOptions, collect_lesions, copy_paste_case

    if n < 1:
        raise ConfigError("--n must be at least 1")
    settings = load_config(options or {}, CopyPasteOptions, where="copy-paste options")
    train = load_dataset(train_data, modalities=list(modalities) if modalities else None)
    target = load_dataset(target_data, modalities=list(train.modalities))
    known_train = {ref.id for ref in train.cases}
    for case_id in cases or []:
        if case_id not in known_train:
            raise DataError(train.root, f"no case named {case_id!r}")
    train_ids = [c for c in (list(cases) if cases else [ref.id for ref in train.cases if ref.label is not None])
                 if c not in set(exclude_cases)]
    banned = set(exclude_cases)
    known = {ref.id for ref in target.cases}
    for case_id in target_cases or []:
        if case_id not in known:
            raise DataError(target.root, f"no case named {case_id!r}")
    sources = [c for c in (target_cases or [ref.id for ref in target.cases]) if c not in banned]
    if not sources:
        raise DataError(target.root, "no target case left after exclusions")
    bank = collect_lesions([train.load(i) for i in train_ids], settings)
    with DatasetWriter(target, out) as writer:  # a failure before the first case leaves no folder
        made = []  # every case before the first is written: bad input writes nothing
        for i in range(n):
            source = sources[i % len(sources)]
            new_id = f"{source}_cp{i:04d}"
            if writer.done(new_id):
                continue
            new_case = copy_paste_case(target.load(source), bank, np.random.default_rng([seed, i]), settings)
            made.append((i, source, new_id, new_case))
        for i, source, new_id, new_case in made:
            lesions = new_case["meta"]["history"][-1]["lesions"]
            writer.write(new_case, new_id, {
                "source_case": source, "seed": seed, "index": i, "method": "copy-paste",
                "lesion_sources": ";".join(r["source_case"] for r in lesions),
                "centres": ";".join(" ".join(map(str, r["centre"])) for r in lesions),
                "lesion_labels": ";".join(" ".join(map(str, r["labels"])) for r in lesions),
                "lesion_voxels": ";".join(str(r["voxels"]) for r in lesions)})
        return writer.finish()
