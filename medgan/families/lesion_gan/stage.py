"""The ``lesion-gan`` synthesis stage of the benchmark: train the lesion GAN on the real training cases
of one data fraction, then insert its lesions into those same cases (healthy ones first) to make new
labelled cases (Frid-Adar et al. 2018; Bowles et al. 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from medgan.config import load_config
from medgan.errors import ConfigError, DataError


@dataclass
class LesionStageOptions:
    """``synthesis.options`` of a pipeline whose stage is ``lesion-gan``.

    Attributes:
        steps, batch_size: GAN training budget.
        patch_size: lesion patch edge (power of two; default 64 in 2D, 32 in 3D).
        mask: ``labels`` for multi-label lesions (BraTS tumours), ``binary`` for one class per lesion.
        loss: adversarial loss of the GAN.
        latent_dim, g_channels, d_channels: DCGAN sizes.
        lesions_per_case: lesions inserted into each new case.
        border: blending width at the lesion border (voxels).
        augment: classic augmentation of the GAN's training patches (``spatial`` or a YAML path).
        device: ``cpu`` or ``cuda`` (default: the benchmark's device).
    """

    steps: int = 300
    batch_size: int = 16
    patch_size: int | None = None
    mask: Literal["binary", "labels"] = "labels"
    loss: Literal["bce", "lsgan", "wgan-gp", "hinge"] = "bce"
    latent_dim: int = 64
    g_channels: int = 32
    d_channels: int = 32
    lesions_per_case: int = 1
    border: float = 2.0
    augment: str | None = None
    device: str | None = None


class LesionGANStage:
    """Benchmark stage ``lesion-gan`` (see :class:`medgan.benchmark.arms.SynthesisStage`)."""

    def __init__(self, options: dict[str, Any], spatial_dims: int, device: str) -> None:
        self.options = load_config(options, LesionStageOptions, where="synthesis.options (lesion-gan)")
        self.spatial_dims = spatial_dims
        self.device = self.options.device or device
        self.generator: Any = None

    def fit(self, cases: Sequence[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Train on the lesions of ``cases`` (read from their dataset by case id, so only these cases)."""
        from medgan.families.lesion_gan import LesionDataConfig, LesionGANConfig, LesionModelConfig
        from medgan.synthesis.lesions import LesionGenerator
        from medgan.training.config import TrainConfig
        from medgan.training.loop import train
        from medgan.training.losses import LossConfig

        sources = {c["meta"]["source"]["root"] for c in cases}
        if len(sources) != 1:
            raise ConfigError("lesion-gan stage: the training cases must come from one dataset")
        o = self.options
        config = LesionGANConfig(
            train=TrainConfig(steps=o.steps, batch_size=o.batch_size, seed=seed, device=self.device,
                              checkpoint_every=0, sample_every=0, progress=False, log_every=max(1, o.steps // 10)),
            data=LesionDataConfig(path=sources.pop(), modalities=list(cases[0]["meta"]["modalities"]),
                                  cases=[c["id"] for c in cases], spatial_dims=self.spatial_dims,
                                  patch_size=o.patch_size, mask=o.mask, augment=o.augment),
            model=LesionModelConfig(latent_dim=o.latent_dim, g_channels=o.g_channels, d_channels=o.d_channels),
            loss=LossConfig(kind=o.loss, drift=0.001 if o.loss == "wgan-gp" else 0.0),
        )
        workdir = Path(workdir)
        train("lesion-gan", config, workdir, resume=(workdir / "config.yaml").is_file())
        self.generator = LesionGenerator.from_run(workdir, self.device)

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` new cases: lesions inserted into the context cases, healthy cases first, in turn."""
        from medgan.synthesis.lesions import insert_synthetic_lesions

        if self.generator is None:
            raise ConfigError("lesion-gan stage: fit() must run before sample()")
        rng = np.random.default_rng(seed)
        healthy = [c for c in context if not np.any(c["label"])]
        others = [c for c in context if np.any(c["label"])]
        order = [healthy[i] for i in rng.permutation(len(healthy))] + [others[i] for i in rng.permutation(len(others))]
        out: list[dict[str, Any]] = []
        failures: list[str] = []
        index = 0
        while len(out) < n:
            if len(failures) > 2 * n + len(order):
                raise DataError(failures[-1].split(":")[0], f"lesion-gan stage: could place only {len(out)} of {n} "
                                                           f"lesions; last problem: {failures[-1]}")
            case = order[index % len(order)]
            index += 1
            try:
                new_case, _ = insert_synthetic_lesions(case, self.generator, self.options.lesions_per_case, rng,
                                                       border=self.options.border)
            except DataError as error:  # a case too full of lesions: try the next one
                failures.append(str(error))
                continue
            new_case["meta"]["source_case"] = case["id"]
            out.append(new_case)
        return out
