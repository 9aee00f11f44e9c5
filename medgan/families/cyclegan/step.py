"""CycleGAN's step object: phase ``G`` (both generators: adversarial + cycle + identity), then phase
``D`` (both discriminators on the same batch, fakes through the image pools, loss halved)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medgan.families._translation.config import half_run_schedule
from medgan.families._translation.data import (
    CropSampler,
    check_patch_size,
    default_patch_size,
    load_domain,
    local_batch_size,
)
from medgan.families._translation.pool import ImagePool
from medgan.families.cyclegan import CycleGANConfig
from medgan.models.translation import PatchDiscriminator, ResnetGenerator
from medgan.training.losses import AdversarialLoss
from medgan.training.step import GANStep, OptimizerSpec, Phase, StepContext

#: crops of each domain kept fixed for the sample grids
PREVIEW_SEED = 1234


def build_generators(config: CycleGANConfig, channels_a: int = 1, channels_b: int = 1
                     ) -> tuple[ResnetGenerator, ResnetGenerator]:
    """``(G_ab, G_ba)`` of a resolved config."""
    m, dims = config.model, config.data.spatial_dims
    g_ab = ResnetGenerator(dims, channels_a, channels_b, m.g_channels, m.n_blocks, m.g_norm, m.dropout)
    g_ba = ResnetGenerator(dims, channels_b, channels_a, m.g_channels, m.n_blocks, m.g_norm, m.dropout)
    return g_ab, g_ba


class CycleGANStep(GANStep):
    """Trains ``G_ab``, ``G_ba`` (ResNet generators) against ``D_a``, ``D_b`` (PatchGANs).

    Args:
        config: the run's config; data fields (modalities, MR scale, patch size, schedule) are
            resolved here.
        rank, world_size: DDP place.
        volumes: pre-loaded ``(volumes_a, volumes_b)`` in the network range (benchmark stage,
            tests); default: loaded from ``config.data``.
    """

    def __init__(self, config: CycleGANConfig, rank: int = 0, world_size: int = 1,
                 volumes: tuple[list[np.ndarray], list[np.ndarray]] | None = None) -> None:
        self.config = config
        data = config.data
        if volumes is None:
            vol_a, _, _ = load_domain(data.a, data.cases, data.exclude_cases)
            vol_b, _, _ = load_domain(data.b, data.cases, data.exclude_cases)
        else:
            vol_a, vol_b = volumes
        data.n_cases_a, data.n_cases_b = len(vol_a), len(vol_b)
        data.patch_size = data.patch_size or default_patch_size(vol_a + vol_b, data.spatial_dims, 4, False)
        if data.patch_size % 4:
            raise ValueError(f"cyclegan: patch_size must be a multiple of 4, found {data.patch_size}")
        check_patch_size(data.patch_size, vol_a + vol_b, data.spatial_dims, 4)
        self.samplers = {"a": CropSampler(vol_a, data.spatial_dims, data.patch_size, data.flip),
                         "b": CropSampler(vol_b, data.spatial_dims, data.patch_size, data.flip)}
        ca, cb = vol_a[0].shape[0], vol_b[0].shape[0]
        m = config.model
        g_ab, g_ba = build_generators(config, ca, cb)
        self.networks: dict[str, nn.Module] = {
            "G_ab": g_ab, "G_ba": g_ba,
            "D_a": PatchDiscriminator(data.spatial_dims, ca, m.d_channels, m.d_layers, m.d_norm),
            "D_b": PatchDiscriminator(data.spatial_dims, cb, m.d_channels, m.d_layers, m.d_norm)}
        self.optimizers = {"G": OptimizerSpec(("G_ab", "G_ba"), config.g_optimizer,
                                                half_run_schedule(config.g_optimizer, config.train)),
                           "D": OptimizerSpec(("D_a", "D_b"), config.d_optimizer,
                                                half_run_schedule(config.d_optimizer, config.train))}
        self.phases = (Phase("G", "G"), Phase("D", "D", new_batch=False))
        self.ema_networks = ()
        self.adversarial = AdversarialLoss(config.loss.kind)
        self.identity = config.identity_weight > 0 and ca == cb
        self.pools = {"a": ImagePool(config.pool_size), "b": ImagePool(config.pool_size)}
        self.fakes: dict[str, torch.Tensor] = {}
        self.world_size = world_size
        rng = np.random.default_rng(PREVIEW_SEED)
        n = max(1, config.train.n_samples // 2)
        self.preview_batch = {k: torch.from_numpy(s.batch(n, rng)) for k, s in self.samplers.items()}

    def next_batch(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        n = local_batch_size(self.config.train.batch_size, ctx.world_size)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=ctx.generator)))
        return {k: torch.from_numpy(s.batch(n, rng)) for k, s in self.samplers.items()}

    def generator_loss(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Adversarial (both directions) + ``cycle_weight`` x cycle L1 + identity L1; stores the fakes."""
        n, c = self.networks, self.config
        fake_b, fake_a = n["G_ab"](a), n["G_ba"](b)
        adv = self.adversarial.generator(n["D_b"](fake_b)) + self.adversarial.generator(n["D_a"](fake_a))
        cycle = F.l1_loss(n["G_ba"](fake_b).float(), a.float()) + F.l1_loss(n["G_ab"](fake_a).float(), b.float())
        loss = adv + c.cycle_weight * cycle
        stats = {"G_adv": adv.detach(), "G_cycle": cycle.detach()}
        if self.identity:
            idt = F.l1_loss(n["G_ab"](b).float(), b.float()) + F.l1_loss(n["G_ba"](a).float(), a.float())
            loss = loss + c.cycle_weight * c.identity_weight * idt
            stats["G_identity"] = idt.detach()
        self.fakes = {"a": fake_a.detach(), "b": fake_b.detach()}
        return loss, stats

    def discriminator_loss(self, a: torch.Tensor, b: torch.Tensor, generator: torch.Generator
                           ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Each discriminator's loss on real vs pooled fakes, halved (the paper slows D this way)."""
        n = self.networks
        fake_a = self.pools["a"].query(self.fakes["a"], generator)
        fake_b = self.pools["b"].query(self.fakes["b"], generator)
        d_a = 0.5 * self.adversarial.discriminator(n["D_a"](a), n["D_a"](fake_a))
        d_b = 0.5 * self.adversarial.discriminator(n["D_b"](b), n["D_b"](fake_b))
        return d_a + d_b, {"D_a": d_a.detach(), "D_b": d_b.detach()}

    def loss(self, phase: str, batch: dict[str, torch.Tensor], ctx: StepContext
             ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        if phase == "G":
            return self.generator_loss(batch["a"], batch["b"])
        return self.discriminator_loss(batch["a"], batch["b"], ctx.generator)

    def preview(self, networks: Mapping[str, nn.Module], generator: torch.Generator, n: int) -> torch.Tensor:
        """Rows ``a | G_ab(a) | G_ba(G_ab(a))``, then ``b | G_ba(b) | G_ab(G_ba(b))`` (same channels only)."""
        device = next(networks["G_ab"].parameters()).device
        a = self.preview_batch["a"].to(device)
        fake_b = networks["G_ab"](a)
        rows = [torch.cat([a, fake_b, networks["G_ba"](fake_b)], 1).float()]
        if self.preview_batch["a"].shape[1] == self.preview_batch["b"].shape[1]:
            b = self.preview_batch["b"].to(device)
            fake_a = networks["G_ba"](b)
            rows.append(torch.cat([b, fake_a, networks["G_ab"](fake_a)], 1).float())
        return torch.cat(rows, 0)

    def state_dict(self) -> dict[str, Any]:
        return {"pool_a": self.pools["a"].state_dict(), "pool_b": self.pools["b"].state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pools["a"].load_state_dict(state["pool_a"])
        self.pools["b"].load_state_dict(state["pool_b"])
