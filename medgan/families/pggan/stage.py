"""The ``pggan`` synthesis stage of the benchmark: fit a small progressive GAN on the training cases'
images and label maps, then sample whole labelled cases on each context case's grid.

Options (the pipeline's ``synthesis.options``; unknown keys are an error): see :class:`PGGANStageOptions`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class PGGANStageOptions:
    """Settings of the benchmark stage (kept small: the benchmark trains one GAN per fraction x seed).

    Attributes:
        resolution: longest side of the generated volume; outputs are resampled to each context
            case's grid (image linear, label nearest) when it differs.
        steps: training steps.
        fade_images, stable_images: growth schedule (real images per fade-in / stabilisation).
        batch_sizes: per level.
        latent_dim, fmap_base, fmap_max: network sizes.
        ema_decay: generator EMA.
        gradient_checkpointing: less memory, more time.
    """

    resolution: int = 16
    steps: int = 300
    fade_images: int = 400
    stable_images: int = 400
    batch_sizes: list[int] | None = None
    latent_dim: int = 128
    fmap_base: int = 512
    fmap_max: int = 64
    ema_decay: float = 0.99
    gradient_checkpointing: bool = False


class PGGANStage:
    """Benchmark stage ``pggan``: ``Stage(options, spatial_dims, device)``, ``fit``, ``sample``.

    Args:
        options: :class:`PGGANStageOptions` fields.
        spatial_dims: 2 or 3 (must match the cases).
        device: torch device name.
    """

    def __init__(self, options: dict[str, Any], spatial_dims: int, device: str) -> None:
        from medgan.config import load_config

        self.options = load_config(dict(options), PGGANStageOptions, where="synthesis.options")
        self.spatial_dims, self.device = spatial_dims, device
        self.sampler: Any = None

    def fit(self, cases: Sequence[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Train on ``cases`` (all their image channels plus the label map) in ``workdir/pggan``."""
        import torch

        from medgan.errors import ConfigError
        from medgan.families.pggan.config import LABEL, PGGANConfig
        from medgan.families.pggan.sampling import PGGANSampler
        from medgan.families.pggan.step import PGGANStep
        from medgan.training.config import TrainConfig
        from medgan.training.loop import Trainer, resolve_device

        if not cases:
            raise ConfigError("pggan stage: no training cases")
        dims = int(cases[0]["image"].ndim) - 1
        if dims != self.spatial_dims:
            raise ConfigError(f"pggan stage: the pipeline is {self.spatial_dims}D but the cases are {dims}D")
        o = self.options
        modalities = list(cases[0]["meta"].get("modalities") or [f"ch{i}" for i in range(cases[0]["image"].shape[0])])
        config = PGGANConfig(train=TrainConfig(steps=o.steps, seed=seed, device=self.device, ema_decay=o.ema_decay,
                                               log_every=max(1, o.steps // 20), checkpoint_every=0, sample_every=0,
                                               n_samples=4, progress=False))
        config.data.channels = modalities + [LABEL]
        config.model.resolution, config.model.latent_dim = o.resolution, o.latent_dim
        config.model.fmap_base, config.model.fmap_max = o.fmap_base, o.fmap_max
        config.model.gradient_checkpointing = o.gradient_checkpointing
        config.growth.fade_images, config.growth.stable_images = o.fade_images, o.stable_images
        config.growth.batch_sizes = o.batch_sizes
        device = resolve_device(self.device)
        torch.manual_seed(seed)
        step = PGGANStep(config, cases=cases)
        trainer = Trainer(step, Path(workdir) / "pggan", "pggan", device=device)
        trainer.fit()
        self.sampler = PGGANSampler(config, trainer.networks_for_sampling()["G"], step.level, step.alpha, device,
                                    checkpoint=str(Path(workdir) / "pggan"))

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` labelled cases; case ``i`` takes the grid, affine and intensity range of ``context[i % len]``."""
        from medgan.errors import ConfigError
        from medgan.families.pggan.volumes import volume_range

        if self.sampler is None:
            raise ConfigError("pggan stage: sample() before fit()")
        if not context:
            raise ConfigError("pggan stage: sample() needs context cases for their grid and affine")
        outputs = self.sampler.generate(self.sampler.noise(n, seed))
        cases = []
        for index, output in enumerate(outputs):
            ref = context[index % len(context)]
            lo, hi = volume_range(ref["image"])
            case = self.sampler.to_case(output, grid="data", reference=ref, intensity=(lo.tolist(), hi.tolist()))
            meta = case["meta"]
            meta["source_case"] = ref.get("id", "")
            meta["history"][-1].update({"seed": seed, "index": index,
                                        "note": "whole volume generated; geometry from the source case"})
            meta["modalities"] = copy.deepcopy(ref["meta"].get("modalities", meta["modalities"]))
            if "dtype" in ref["meta"]:
                meta["dtype"] = "float32"
            case["id"] = f"pggan-{seed}-{index:04d}"
            cases.append(case)
        return cases
