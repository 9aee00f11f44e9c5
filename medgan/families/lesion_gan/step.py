"""The lesion GAN's step object: patches in, phases ``D`` (``n_critic`` times) then ``G``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from medgan.errors import ConfigError, DataError
from medgan.families._cases import select_case_ids
from medgan.families._checks import check_size, check_values
from medgan.families.lesion_gan import LesionGANConfig
from medgan.families.lesion_gan.codec import MaskCodec
from medgan.families.lesion_gan.patches import LesionPatches, extract_lesion_patches
from medgan.families.lesion_gan.sizes import resolve_patch_size
from medgan.io.datasets import load_dataset
from medgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from medgan.training.data import IndexSampler
from medgan.training.losses import AdversarialLoss, discriminator_loss
from medgan.training.step import GANStep, OptimizerSpec, Phase, StepContext

#: ``augment(sample, rng) -> sample`` on ``{"image": (C, ...), "label": (1, ...)}`` numpy arrays
Augment = Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, np.ndarray]]


def build_networks(config: LesionGANConfig, image_channels: int) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    """Generator and discriminator of a resolved config."""
    data, model = config.data, config.model
    n_classes = len(data.classes or []) if model.conditional and len(data.classes or []) > 1 else 0
    norm = model.d_norm if model.d_norm != "auto" else ("layer" if config.loss.kind == "wgan-gp" else "batch")
    g = DCGANGenerator(data.spatial_dims, image_channels + 1, data.patch_size, model.latent_dim, model.g_channels,
                       n_classes)
    d = DCGANDiscriminator(data.spatial_dims, image_channels + 1, data.patch_size, model.d_channels, n_classes, norm)
    return g, d


class LesionGANStep(GANStep):
    """Trains a DCGAN on lesion patches (image channels + one mask channel).

    Args:
        config: the run's config; its data fields are resolved here (classes, dims, patch size).
        rank, world_size: DDP place.
        augment: optional classic augmentation applied to each patch before the random crop, e.g.
            the transforms of :mod:`medgan.transforms`; it must draw its randomness from ``rng``.
        patches: pre-extracted patches (tests, benchmarks); default: extracted from ``config.data``.
    """

    def __init__(self, config: LesionGANConfig, rank: int = 0, world_size: int = 1, augment: Augment | None = None,
                 patches: LesionPatches | None = None) -> None:
        self.config, self.augment = config, augment
        data = config.data
        if patches is None:
            dataset = load_dataset(data.path, modalities=data.modalities)
            data.modalities = list(dataset.modalities)
            ids = select_case_ids(dataset, data.cases, data.exclude_cases)
            first = dataset.load(ids[0]) if ids else None
            if first is None:
                raise DataError(dataset.root, "no labelled training case left after exclusions")
            data.spatial_dims = data.spatial_dims or first["image"].ndim - 1
            default = resolve_patch_size(data, dataset, ids)
            if data.patch_size != default and data.spatial_dims == first["image"].ndim - 1:  # given
                check_size("data.patch_size", data.patch_size, first["image"].shape[1:])
            patches = extract_lesion_patches(dataset, ids, data.spatial_dims, data.patch_size, data.jitter,
                                             data.min_voxels)
        else:
            data.spatial_dims = data.spatial_dims or patches.images.ndim - 2
            data.patch_size = data.patch_size or patches.images.shape[-1] - 2 * data.jitter
        if patches.images.shape[-1] != data.patch_size + 2 * data.jitter:
            raise ConfigError("lesion-gan: patches do not match patch_size + 2 * jitter")
        self.patches = patches
        check_values("data.classes", data.classes, patches.classes, "lesion class", exact=True)
        check_values("data.label_values", data.label_values, [0, *np.unique(patches.labels)], exact=True)
        data.classes = sorted({int(c) for c in patches.classes})
        data.n_patches = len(patches)
        self.class_index = {c: i for i, c in enumerate(data.classes)}
        data.label_values = sorted({0, *(int(v) for v in np.unique(patches.labels))})
        self.codec = MaskCodec(data.mask, data.label_values)
        self.image_channels = patches.images.shape[1]
        generator, discriminator = build_networks(config, self.image_channels)
        self.conditional = generator.num_classes > 0
        self.networks: dict[str, nn.Module] = {"G": generator, "D": discriminator}
        self.optimizers = {"G": OptimizerSpec(("G",), config.g_optimizer),
                           "D": OptimizerSpec(("D",), config.d_optimizer)}
        self.phases = (Phase("D", "D", repeats=config.n_critic), Phase("G", "G"))
        self.ema_networks = ("G",)
        self.adversarial = AdversarialLoss(config.loss.kind)
        self.sampler = IndexSampler(len(patches), config.train.seed, rank, world_size)

    # --------------------------------------------------------------------------------- data

    def next_batch(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        indices = self.sampler.next(self.config.train.batch_size)
        seed = int(torch.randint(0, 2**62, (), generator=ctx.generator))
        rng = np.random.default_rng(seed)
        samples = [self._sample(int(i), rng) for i in indices]
        return {"image": torch.from_numpy(np.stack(samples)),
                "class": torch.tensor([self.class_index[int(self.patches.classes[i])] for i in indices])}

    def _sample(self, index: int, rng: np.random.Generator) -> np.ndarray:
        data = self.config.data
        image, labels = self.patches.images[index], self.patches.labels[index]
        if self.augment is not None:
            out = self.augment({"image": image.copy(), "label": labels[None].copy()}, rng)
            image, labels = np.asarray(out["image"], np.float32), np.asarray(out["label"])[0]
        sample = np.concatenate([image, self.codec.encode(labels)[None]], axis=0)
        offsets = rng.integers(0, 2 * data.jitter + 1, size=data.spatial_dims)
        window = tuple(slice(int(o), int(o) + data.patch_size) for o in offsets)
        sample = sample[(slice(None),) + window]
        if data.flips:
            for axis in range(data.spatial_dims):
                if rng.random() < 0.5:
                    sample = np.flip(sample, axis=axis + 1)
        return np.ascontiguousarray(sample, dtype=np.float32)

    # ------------------------------------------------------------------------------- losses

    def _fake(self, n: int, classes: torch.Tensor, ctx: StepContext, networks: Mapping[str, nn.Module] | None = None
              ) -> torch.Tensor:
        z = torch.randn(n, self.config.model.latent_dim, generator=ctx.generator).to(ctx.device)
        g = (networks or self.networks)["G"]
        return g(z, classes if self.conditional else None)

    def loss(self, phase: str, batch: dict[str, torch.Tensor], ctx: StepContext
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real, classes = batch["image"], batch["class"]
        cond = classes if self.conditional else None
        d = self.networks["D"]
        if phase == "D":
            with torch.no_grad():
                fake = self._fake(real.shape[0], classes, ctx)
            return discriminator_loss(self.config.loss, lambda x: d(x, cond), real, fake, ctx.generator)
        fake = self._fake(real.shape[0], classes, ctx)
        loss = self.adversarial.generator(d(fake, cond))
        return loss, {"G_adv": loss.detach()}

    def preview(self, networks: Mapping[str, nn.Module], generator: torch.Generator, n: int) -> torch.Tensor:
        classes = torch.arange(n) % max(1, len(self.config.data.classes or [1]))
        device = next(networks["G"].parameters()).device
        z = torch.randn(n, self.config.model.latent_dim, generator=generator).to(device)
        return networks["G"](z, classes.to(device) if self.conditional else None).float()

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
