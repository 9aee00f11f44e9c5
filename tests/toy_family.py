"""A toy GAN family used by the engine tests: two generators, two discriminators, an image pool,
a stage with its own batch size, extra checkpointed state and a custom learning-rate schedule.
It lives outside ``medgan`` on purpose: it proves a family plugs in without any engine change."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from medgan.registry import GAN_FAMILIES
from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.data import IndexSampler
from medgan.training.losses import AdversarialLoss, LossConfig, discriminator_loss
from medgan.training.spec import FamilySpec
from medgan.training.step import GANStep, OptimizerSpec, Phase, StepContext


@dataclass
class ToyConfig:
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=6, batch_size=4, log_every=1,
                                                                      checkpoint_every=3, sample_every=0,
                                                                      n_samples=2, progress=False))
    loss: LossConfig = field(default_factory=lambda: LossConfig(kind="lsgan"))
    g: AdamConfig = field(default_factory=lambda: AdamConfig(lr=1e-3))
    d: AdamConfig = field(default_factory=lambda: AdamConfig(lr=2e-3, betas=(0.0, 0.9)))
    n_critic: int = 2
    cycle_weight: float = 10.0


def _net(out_act: bool) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
                               nn.Dropout(0.2), nn.Conv2d(4, 1, 3, padding=1)]
    return nn.Sequential(*layers, nn.Tanh()) if out_act else nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))


class ToyCycleStep(GANStep):
    def __init__(self, config: ToyConfig, rank: int, world_size: int) -> None:
        self.config = config
        self.networks = {"G_ab": _net(True), "G_ba": _net(True), "D_a": _net(False), "D_b": _net(False)}
        self.optimizers = {"G": OptimizerSpec(("G_ab", "G_ba"), config.g, schedule=self.g_schedule),
                           "D": OptimizerSpec(("D_a", "D_b"), config.d)}
        self.phases = (Phase("G", "G"), Phase("D", "D", repeats=config.n_critic, new_batch=False))
        self.ema_networks = ("G_ab",)
        data = torch.Generator().manual_seed(123)
        self.a = torch.rand(10, 1, 8, 8, generator=data) * 2 - 1
        self.b = -torch.rand(10, 1, 8, 8, generator=data)
        self.sampler = IndexSampler(10, config.train.seed, rank, world_size)
        self.adversarial = AdversarialLoss(config.loss.kind)
        self.alpha = 0.0          # extra state, like a fade-in
        self.images_seen = 0
        self.pool: list[torch.Tensor] = []
        self.fakes: dict[str, torch.Tensor] = {}
        self.crash_at_step = -1  # tests set this to simulate a killed run
        self.step_seconds = 0.0  # tests set this to slow a run down (to signal it mid-run)

    def g_schedule(self, step: int) -> float:
        return 0.5 ** (step // 2) * (1.0 + self.alpha)

    def batch_size(self) -> int:
        return self.config.train.batch_size if self.alpha < 0.5 else self.config.train.batch_size // 2

    def next_batch(self, ctx: StepContext) -> Any:
        idx = torch.from_numpy(self.sampler.next(self.batch_size()))
        self.images_seen += len(idx) * ctx.world_size
        return {"a": self.a[idx], "b": self.b[idx]}

    def loss(self, phase: str, batch: Any, ctx: StepContext):
        if ctx.step == self.crash_at_step:
            raise KeyboardInterrupt("simulated kill")
        n = self.networks
        if phase == "G":
            fake_b, fake_a = n["G_ab"](batch["a"]), n["G_ba"](batch["b"])
            self.fakes = {"a": fake_a.detach(), "b": fake_b.detach()}
            cycle = (n["G_ba"](fake_b) - batch["a"]).abs().mean() + (n["G_ab"](fake_a) - batch["b"]).abs().mean()
            adv = self.adversarial.generator(n["D_b"](fake_b)) + self.adversarial.generator(n["D_a"](fake_a))
            return adv + self.config.cycle_weight * cycle, {"G_adv": adv.detach(), "G_cycle": cycle.detach()}
        pooled = self._pool(self.fakes["a"], ctx)
        loss_a, stats = discriminator_loss(self.config.loss, n["D_a"], batch["a"], pooled, ctx.generator)
        loss_b, _ = discriminator_loss(self.config.loss, n["D_b"], batch["b"], self.fakes["b"], ctx.generator)
        return 0.5 * (loss_a + loss_b), {"D": (loss_a + loss_b).detach()}

    def _pool(self, fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        out = []
        for image in fake:
            if len(self.pool) < 3:
                self.pool.append(image.cpu())
                out.append(image)
            elif torch.rand((), generator=ctx.generator) < 0.5:
                k = int(torch.randint(len(self.pool), (), generator=ctx.generator))
                out.append(self.pool[k].to(image.device))
                self.pool[k] = image.cpu()
            else:
                out.append(image)
        return torch.stack(out)

    def end_step(self, ctx: StepContext) -> None:
        self.alpha = min(1.0, self.alpha + 0.2)
        time.sleep(self.step_seconds)

    def preview(self, networks, generator, n):
        return torch.cat([self.a[:n], networks["G_ab"](self.a[:n])], dim=1)

    def state_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "images_seen": self.images_seen, "sampler": self.sampler.state_dict(),
                "pool": list(self.pool)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.alpha, self.images_seen = state["alpha"], state["images_seen"]
        self.sampler.load_state_dict(state["sampler"])
        self.pool = list(state["pool"])


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


if "toy-cycle" not in GAN_FAMILIES:
    GAN_FAMILIES.register("toy-cycle")(FamilySpec(
        name="toy-cycle", summary="test family", config_type=ToyConfig, add_train_arguments=_no_arguments,
        apply_train_arguments=lambda args, config: config, build=ToyCycleStep))
