"""pix2pix's step object: phase ``D`` (conditional PatchGAN on ``[input, output]`` pairs, loss
halved), then phase ``G`` on the same batch (adversarial + ``l1_weight`` x L1), as the reference."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medgan.errors import DataError
from medgan.families._translation.config import half_run_schedule
from medgan.families._translation.data import (
    CropSampler,
    check_patch_size,
    default_patch_size,
    domain_modality,
    local_batch_size,
    select_cases,
)
from medgan.families.pix2pix import Pix2PixConfig
from medgan.io.datasets import load_dataset
from medgan.models.translation import PatchDiscriminator, UNetGenerator
from medgan.training.losses import AdversarialLoss
from medgan.training.step import GANStep, OptimizerSpec, Phase, StepContext
from medgan.transforms.modality import fit_reference, make_scale

PREVIEW_SEED = 1234


def unet_depth(config: Pix2PixConfig) -> int:
    """The U-Net depth of a resolved config (log2 of the patch size, at most 8)."""
    if config.model.depth:
        return config.model.depth
    return int(min(8, max(2, int(config.data.patch_size).bit_length() - 1)))


def build_generator(config: Pix2PixConfig, in_channels: int = 1, out_channels: int = 1) -> UNetGenerator:
    """The U-Net of a resolved config."""
    m = config.model
    return UNetGenerator(config.data.spatial_dims, in_channels, out_channels, m.g_channels, unet_depth(config),
                         m.g_norm, m.dropout)


def load_pairs(config: Pix2PixConfig) -> list[np.ndarray]:
    """Source and target channels of each training case stacked ``(2, X, Y[, Z])`` in network range."""
    data = config.data
    dataset = load_dataset(data.a.path)
    source, target = domain_modality(dataset, data.a), domain_modality(dataset, data.b)
    ids = select_cases(dataset, data.cases, data.exclude_cases)
    if not ids:
        raise DataError(dataset.root, "no training case left after the case selection")
    pairs = []
    raw = [dataset.load(i) for i in ids]
    for domain, modality in ((data.a, source), (data.b, target)):
        if domain.intensity.reference is None:
            channel = [c["image"][list(c["meta"]["modalities"]).index(modality)] for c in raw]
            domain.intensity.reference = fit_reference(domain.intensity, modality, channel)
    scale_s, scale_t = make_scale(data.a.intensity, source), make_scale(data.b.intensity, target)
    for case in raw:
        names = list(case["meta"]["modalities"])
        pairs.append(np.stack([scale_s.to_network(case["image"][names.index(source)]),
                               scale_t.to_network(case["image"][names.index(target)])]))
    return pairs


class Pix2PixStep(GANStep):
    """Trains ``G`` (U-Net) against ``D`` (PatchGAN on ``[input, output]``).

    Args:
        config: the run's config (resolved here).
        rank, world_size: DDP place.
        pairs: pre-loaded ``(2, ...)`` source/target volumes in network range (tests); default: loaded.
    """

    def __init__(self, config: Pix2PixConfig, rank: int = 0, world_size: int = 1,
                 pairs: list[np.ndarray] | None = None) -> None:
        self.config = config
        data = config.data
        pairs = load_pairs(config) if pairs is None else pairs
        data.n_cases_a = data.n_cases_b = len(pairs)
        depth = config.model.depth
        data.patch_size = data.patch_size or default_patch_size(pairs, data.spatial_dims, 2 ** (depth or 2), True)
        config.model.depth = unet_depth(config)
        if data.patch_size % (2 ** config.model.depth):
            raise ValueError(f"pix2pix: patch_size {data.patch_size} must be a multiple of 2**depth "
                             f"({2 ** config.model.depth})")
        check_patch_size(data.patch_size, pairs, data.spatial_dims, 2 ** config.model.depth)
        self.sampler = CropSampler(pairs, data.spatial_dims, data.patch_size, data.flip)
        m = config.model
        self.networks: dict[str, nn.Module] = {
            "G": build_generator(config),
            "D": PatchDiscriminator(data.spatial_dims, 2, m.d_channels, m.d_layers, m.d_norm)}
        self.optimizers = {
            name: OptimizerSpec((name,), adam, half_run_schedule(adam, config.train))
            for name, adam in (("D", config.d_optimizer), ("G", config.g_optimizer))}
        self.phases = (Phase("D", "D"), Phase("G", "G", new_batch=False))
        self.ema_networks = ()
        self.adversarial = AdversarialLoss(config.loss.kind)
        rng = np.random.default_rng(PREVIEW_SEED)
        self.preview_batch = torch.from_numpy(self.sampler.batch(max(1, config.train.n_samples), rng))

    def next_batch(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        n = local_batch_size(self.config.train.batch_size, ctx.world_size)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=ctx.generator)))
        pairs = torch.from_numpy(self.sampler.batch(n, rng))
        return {"source": pairs[:, :1], "target": pairs[:, 1:]}

    def loss(self, phase: str, batch: dict[str, torch.Tensor], ctx: StepContext
             ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        source, target = batch["source"], batch["target"]
        g, d = self.networks["G"], self.networks["D"]
        if phase == "D":
            with torch.no_grad():
                fake = g(source)
            real_scores, fake_scores = d(torch.cat([source, target], 1)), d(torch.cat([source, fake], 1))
            loss = 0.5 * self.adversarial.discriminator(real_scores, fake_scores)
            return loss, {"D": loss.detach(), "D_real": real_scores.detach().float().mean(),
                          "D_fake": fake_scores.detach().float().mean()}
        fake = g(source)
        adv = self.adversarial.generator(d(torch.cat([source, fake], 1)))
        l1 = F.l1_loss(fake.float(), target.float())
        return adv + self.config.l1_weight * l1, {"G_adv": adv.detach(), "G_L1": l1.detach()}

    def preview(self, networks: Mapping[str, nn.Module], generator: torch.Generator, n: int) -> torch.Tensor:
        """Rows ``source | G(source) | target``."""
        device = next(networks["G"].parameters()).device
        pairs = self.preview_batch[:max(n, 1)].to(device)
        return torch.cat([pairs[:, :1], networks["G"](pairs[:, :1]), pairs[:, 1:]], 1).float()

    def state_dict(self) -> dict[str, Any]:
        return {}
