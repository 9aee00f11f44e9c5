"""Harmonized copy-paste: real lesions pasted naively (the ``copy-paste`` stage), then made to fit the
target scan by a ConSinGAN ``harmonization`` run trained on that scan (Hinz et al. 2021, Sec. 4.2).

The harmonizer regenerates the whole scan; only the lesion's neighbourhood is taken from it: the
voxels the paste changed (image or label), widened by ``blend_voxels`` with a linear ramp, so the
scan is bit-for-bit the naive paste (and so the target) everywhere else. Labels are the paste's.

As a benchmark stage (``synthesis: {stage: consingan-harmonize}``) it trains one harmonization run
on each of ``targets`` training cases (healthy ones first) and pastes into those; as a command,
``medgan synthesize HARMONIZATION_RUN OUT --n K --paste-from DATASET`` pastes lesions of DATASET into
the run's scan and harmonizes them. The copy-paste stage is reached through the registry.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from medgan.config import load_config
from medgan.errors import ConfigError
from medgan.registry import SYNTHESIS_STAGES

#: the stage's harmonization budget (overrides of the consingan config; ``consingan:`` overrides these):
#: 3 stages with the coarsest side half the finest, so the pasted lesion enters at a fine scale (the
#: paper: 3 stages, 120 of 250 px), width 16, 60 steps: seconds per target on a CPU for a 64x64 slice
HARMONIZE_PRESET: dict[str, Any] = {
    "mode": "harmonization",
    "train": {"steps": 60, "n_samples": 1},
    "model": {"stages": 3, "min_size": 32, "max_size": 64, "width": 16},
}


@dataclass
class HarmonizeOptions:
    """Settings of harmonized copy-paste (``synthesis.options`` of ``consingan-harmonize``).

    Attributes:
        targets: training cases a harmonization run is trained on and lesions are pasted into
            (healthy cases first, in a seeded order); each costs one ConSinGAN training.
        blend_voxels: the harmonized image replaces the naive paste on the voxels the paste changed
            and fades out linearly over this many voxels around them.
        copy_paste: options of the ``copy-paste`` stage (``CopyPasteOptions``).
        consingan: overrides of the consingan config on top of :data:`HARMONIZE_PRESET`.
    """

    targets: int = 1
    blend_voxels: int = 3
    copy_paste: dict[str, Any] = field(default_factory=dict)
    consingan: dict[str, Any] = field(default_factory=dict)


def pasted_region(naive: dict[str, Any], target: dict[str, Any]) -> np.ndarray:
    """Boolean mask ``(X, Y[, Z])`` of the voxels where the naive paste differs from the target (any
    image channel or the label)."""
    changed = np.any(np.asarray(naive["image"]) != np.asarray(target["image"]), axis=0)
    if naive.get("label") is not None:
        old = target.get("label")
        old = np.zeros_like(naive["label"]) if old is None else np.asarray(old)
        changed |= np.asarray(naive["label"])[0] != old[0]
    return changed


def blend_weights(region: np.ndarray, blend_voxels: int) -> np.ndarray:
    """1 inside ``region``, falling linearly to 0 at ``blend_voxels + 1`` voxels from it (Euclidean)."""
    if not region.any():
        return np.zeros(region.shape, np.float32)
    distance = ndimage.distance_transform_edt(~region)
    return np.clip(1.0 - distance / (blend_voxels + 1), 0.0, 1.0).astype(np.float32)


def harmonize_paste(naive: dict[str, Any], target: dict[str, Any], sampler: Any, seed: int,
                    blend_voxels: int) -> dict[str, Any]:
    """The naive paste ``naive`` of ``target`` with its lesion region taken from the harmonization
    ``sampler`` (a :class:`~medgan.families.consingan.sampling.ConSinGANSampler` of a run trained on
    ``target``); label, affine, dtype, shape and the voxels away from the lesion are the naive case's."""
    harmonized = sampler.harmonize(naive, 1, seed)[0]
    weights = blend_weights(pasted_region(naive, target), blend_voxels)[None]
    base = np.asarray(naive["image"])
    mixed = base + weights * (np.asarray(harmonized["image"], np.float64) - base)
    mixed = np.where(weights > 0, mixed, base)  # exactly the naive voxels where the weight is 0
    if np.issubdtype(base.dtype, np.integer):
        info = np.iinfo(base.dtype)
        mixed = np.clip(np.round(mixed), info.min, info.max)
    out = {**naive, "image": mixed.astype(base.dtype), "meta": copy.deepcopy(naive["meta"])}
    out["meta"].setdefault("history", []).append({
        "name": "consingan_harmonize", "target": str(target.get("id", "")), "seed": int(seed),
        "blend_voxels": int(blend_voxels), "stage": int(sampler.stage),
        "harmonized_voxels": int((weights > 0).sum())})
    return out


def _order(cases: Sequence[dict[str, Any]], rng: np.random.Generator) -> list[dict[str, Any]]:
    healthy = [c for c in cases if c.get("label") is None or not np.any(c["label"])]
    others = [c for c in cases if c.get("label") is not None and np.any(c["label"])]
    return [healthy[i] for i in rng.permutation(len(healthy))] + [others[i] for i in rng.permutation(len(others))]


@SYNTHESIS_STAGES.register("consingan-harmonize")
class HarmonizedCopyPasteStage:
    """Benchmark stage ``consingan-harmonize``: copy-paste, then ConSinGAN harmonization into the target.

    Args:
        options: :class:`HarmonizeOptions` fields (unknown keys are an error).
        spatial_dims: 2 or 3.
        device: torch device of the harmonization runs (``consingan: {train: {device: ...}}`` overrides it).
    """

    def __init__(self, options: dict[str, Any] | None, spatial_dims: int, device: str) -> None:
        from medgan.training.spec import merge_settings

        where = "synthesis.options (consingan-harmonize)"
        self.options = load_config(options or {}, HarmonizeOptions, where=where)
        if self.options.targets < 1 or self.options.blend_voxels < 0:
            raise ConfigError(f"{where}: targets must be at least 1 and blend_voxels at least 0")
        self.copy_paste = SYNTHESIS_STAGES.get("copy-paste")(self.options.copy_paste, spatial_dims, device)
        self.consingan = merge_settings(HARMONIZE_PRESET, self.options.consingan)
        if self.consingan.get("mode") != "harmonization":
            raise ConfigError(f"{where}: consingan.mode must be harmonization")
        self.spatial_dims, self.device = spatial_dims, device
        self._family_stage()  # an unknown consingan setting fails here, before any training
        self.targets: list[dict[str, Any]] = []
        self.samplers: dict[str, Any] = {}

    def _family_stage(self, case_id: str = "") -> Any:
        from medgan.training.spec import merge_settings
        from medgan.training.stage import FamilyStage

        options = merge_settings(self.consingan, {"data": {"case": case_id}})
        stage_type = FamilyStage.for_family("consingan")
        return stage_type(options, self.spatial_dims, self.device)

    def fit(self, cases: Sequence[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Collect the training cases' lesions (copy-paste) and train a harmonization run on each target
        case in ``workdir/harmonize-<case>/consingan`` (resuming runs left there)."""
        if not cases:
            raise ConfigError("consingan-harmonize stage: no training cases")
        workdir = Path(workdir)
        self.copy_paste.fit(cases, workdir, seed)
        self.targets = _order(cases, np.random.default_rng([seed, 7]))[: self.options.targets]
        self.samplers = {}
        for target in self.targets:
            stage = self._family_stage(str(target["id"]))
            stage.fit([target], workdir / f"harmonize-{target['id']}", seed)
            self.samplers[str(target["id"])] = stage.sampler

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """``n`` cases: lesions pasted into the target cases in turn, harmonized by each target's run
        (``context`` is not used: a harmonization run only fits the scan it learnt)."""
        if not self.samplers:
            raise ConfigError("consingan-harmonize stage: fit() must run before sample()")
        by_id = {str(t["id"]): t for t in self.targets}
        naive = self.copy_paste.sample(n, seed, self.targets)
        out = []
        for index, case in enumerate(naive):
            target_id = str(case["meta"].get("source_case", case.get("id")))
            out.append(harmonize_paste(case, by_id[target_id], self.samplers[target_id], seed * 1_000_003 + index,
                                       self.options.blend_voxels))
        return out


def paste_and_harmonize(sampler: Any, target: dict[str, Any], lesion_cases: Sequence[dict[str, Any]], n: int,
                        seed: int, blend_voxels: int = 3,
                        copy_paste: dict[str, Any] | None = None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``n`` pairs ``(naive, harmonized)``: lesions of ``lesion_cases`` pasted into ``target`` (the
    harmonization run's scan), then harmonized (``medgan synthesize RUN OUT --paste-from``)."""
    stage = SYNTHESIS_STAGES.get("copy-paste")(copy_paste or {}, np.asarray(target["image"]).ndim - 1, "cpu")
    with tempfile.TemporaryDirectory() as scratch:
        stage.fit(lesion_cases, Path(scratch), seed)
    naive = stage.sample(n, seed, [target])
    return [(case, harmonize_paste(case, target, sampler, seed * 1_000_003 + i, blend_voxels))
            for i, case in enumerate(naive)]
