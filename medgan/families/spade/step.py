"""SPADE's step object: phase ``G`` (hinge + feature matching [+ KL]) then ``D`` (hinge) on the same
batch, as in the authors' trainer (generator step first, then discriminator step on a fresh fake)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from medgan.errors import DataError
from medgan.families._cases import select_case_ids
from medgan.families.spade import SpadeConfig
from medgan.families.spade.data import TrainingPairs, resolve_data
from medgan.models.spade import MultiScaleDiscriminator, SPADEEncoder, SPADEGenerator, one_hot_labels
from medgan.training.data import IndexSampler
from medgan.training.losses import AdversarialLoss, feature_matching_loss
from medgan.training.step import GANStep, OptimizerSpec, Phase, StepContext


def build_networks(config: SpadeConfig) -> dict[str, nn.Module]:
    """Generator ``G``, discriminator ``D`` (and encoder ``E``) of a resolved config."""
    data, model = config.data, config.model
    dims, shape = int(data.spatial_dims or 2), list(data.padded_shape or [])
    n_labels, n_channels = len(data.label_values or [0]), len(data.modalities or [0])
    networks: dict[str, nn.Module] = {
        "G": SPADEGenerator(dims, n_labels, n_channels, shape, model.base_channels, model.n_upsamples, model.z_dim,
                            model.hidden_channels, model.norm, model.spectral),
        "D": MultiScaleDiscriminator(dims, n_labels + n_channels, model.d_scales, model.d_channels, model.d_layers,
                                     model.spectral),
    }
    if model.use_encoder:
        downsamples = max(1, min(model.encoder_downsamples, int(np.log2(min(shape))) - 1))
        networks["E"] = SPADEEncoder(dims, n_channels, model.z_dim, model.encoder_channels, downsamples)
    return networks


class SpadeStep(GANStep):
    """Trains SPADE on label map + image pairs.

    Args:
        config: the run's config; its data fields are resolved here.
        rank, world_size: DDP place.
        cases: in-memory training cases (the benchmark stage, tests); default: read from
            ``config.data.path``.
    """

    def __init__(self, config: SpadeConfig, rank: int = 0, world_size: int = 1,
                 cases: Sequence[dict[str, Any]] | None = None) -> None:
        self.config = config
        loaders: list[Callable[[], dict[str, Any]]]
        if cases is None:
            loaders = self._dataset_loaders()
        else:
            cases = [c for c in cases if c.get("label") is not None]
            resolve_data(config, cases)
            loaders = [lambda c=c: c for c in cases]
        self.pairs = TrainingPairs(config, loaders)
        self.networks = build_networks(config)
        g_nets = ("G", "E") if "E" in self.networks else ("G",)
        self.optimizers = {"G": OptimizerSpec(g_nets, config.g_optimizer),
                           "D": OptimizerSpec(("D",), config.d_optimizer)}
        self.phases = (Phase("G", "G"), Phase("D", "D", new_batch=False))
        self.ema_networks = ("G",) if config.ema else ()
        self.adversarial = AdversarialLoss(config.loss.adversarial)
        self.sampler = IndexSampler(len(self.pairs), config.train.seed, rank, world_size)

    def _dataset_loaders(self) -> list[Callable[[], dict[str, Any]]]:
        from medgan.io import load_dataset, read_image

        data = self.config.data
        dataset = load_dataset(data.path, modalities=data.modalities)
        ids = select_case_ids(dataset, data.cases, data.exclude_cases)
        refs = [dataset.ref(i) for i in ids]
        refs = [r for r in refs if r.label is not None]
        if not refs:
            raise DataError(dataset.root, "no labelled training case left after exclusions")
        values: set[int] = set()
        for ref in refs:  # label files are small: every value of every case is known before training
            values |= set(np.unique(read_image(ref.label)[0]).astype(int).tolist())
        step = max(1, len(refs) // 32)
        resolve_data(self.config, [dataset.load(r) for r in refs[::step]], len(refs), values)
        return [lambda r=r: dataset.load(r) for r in refs]

    # --------------------------------------------------------------------------------- data

    def next_batch(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        indices = self.sampler.next(self.config.train.batch_size)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=ctx.generator)))
        pairs = [self.pairs.sample(int(i), rng) for i in indices]
        return {"label": torch.from_numpy(np.stack([p[0] for p in pairs])),
                "image": torch.from_numpy(np.stack([p[1] for p in pairs]))}

    # ------------------------------------------------------------------------------- losses

    def one_hot(self, label: torch.Tensor) -> torch.Tensor:
        """``(N, 1, ...)`` label values -> one-hot ``(N, L, ...)`` over the run's label values."""
        return one_hot_labels(label, self.config.data.label_values or [0])

    def noise(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor | None:
        """``(n, z_dim)`` standard normal noise drawn on the CPU (``None`` for a deterministic G)."""
        z_dim = self.config.model.z_dim
        return torch.randn(n, z_dim, generator=generator).to(device) if z_dim > 0 else None

    def _discriminate(self, labels: torch.Tensor, image: torch.Tensor) -> list[list[torch.Tensor]]:
        return self.networks["D"](torch.cat([labels, image.to(labels.dtype)], dim=1))

    def loss(self, phase: str, batch: dict[str, torch.Tensor], ctx: StepContext
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        labels, real = self.one_hot(batch["label"]), batch["image"]
        if phase == "G":
            return self._generator_loss(labels, real, ctx)
        with torch.no_grad():
            fake = self.networks["G"](labels, self.noise(real.shape[0], ctx.generator, ctx.device))
        fake_out, real_out = self._discriminate(labels, fake), self._discriminate(labels, real)
        terms = [self.adversarial.discriminator(r[-1], f[-1]) for r, f in zip(real_out, fake_out)]
        loss = torch.stack(terms).mean()
        return loss, {"D": loss.detach(), "D_real": torch.stack([r[-1].float().mean() for r in real_out]).mean(),
                      "D_fake": torch.stack([f[-1].float().mean() for f in fake_out]).mean()}

    def _generator_loss(self, labels: torch.Tensor, real: torch.Tensor, ctx: StepContext
                        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.config.loss
        stats: dict[str, torch.Tensor] = {}
        kld = None
        if "E" in self.networks:
            mu, logvar = self.networks["E"](real)
            eps = torch.randn(mu.shape, generator=ctx.generator).to(mu.device, mu.dtype)
            z = mu + eps * torch.exp(0.5 * logvar)
            kld = -0.5 * torch.sum(1 + logvar.float() - mu.float() ** 2 - logvar.float().exp()) / mu.shape[0]
        else:
            z = self.noise(real.shape[0], ctx.generator, ctx.device)
        fake = self.networks["G"](labels, z)
        fake_out = self._discriminate(labels, fake)
        with torch.no_grad():
            real_out = self._discriminate(labels, real)
        adv = torch.stack([self.adversarial.generator(f[-1]) for f in fake_out]).mean()
        # the authors sum the L1 over the layers of each scale and average over scales
        fm = torch.stack([feature_matching_loss(r[:-1], f[:-1]) * (len(f) - 1)
                          for r, f in zip(real_out, fake_out)]).mean()
        loss = adv + cfg.feature_matching * fm
        stats.update(G_adv=adv.detach(), G_fm=fm.detach())
        if kld is not None:
            loss = loss + cfg.kld * kld
            stats["G_kld"] = kld.detach()
        return loss, stats

    # ------------------------------------------------------------------------------ preview

    def preview(self, networks: Mapping[str, nn.Module], generator: torch.Generator, n: int) -> torch.Tensor:
        """Per row: the label map (scaled to [-1, 1]) then the generated channels."""
        device = next(networks["G"].parameters()).device
        labels = torch.from_numpy(np.stack([self.pairs.pair(i % len(self.pairs))[0] for i in range(n)])).to(device)
        fake = networks["G"](self.one_hot(labels), self.noise(n, generator, device)).float()
        top = max(1, max(self.config.data.label_values or [1]))
        return torch.cat([labels.float() / top * 2 - 1, fake], dim=1)

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
