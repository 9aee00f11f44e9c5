"""A tiny staged GAN family in the manner of ConSinGAN (Hinz et al. 2021), used by the engine tests.

One training image; a generator pyramid whose stages are all built up front; stage ``s`` makes the
image at ``SIZES[s]``. At any time the last ``trained_stages`` stages are trained together, each
stage below the newest at ``lr_scale`` (δ) times the rate of the one above; the head is trained
while the pyramid is shallower than that and the tail always. A new stage starts every
``steps_per_stage`` steps, with fresh Adam moments for the generator and the critic (ConSinGAN builds
new optimisers per stage), and the rate drops by 10x after 80 % of a stage (its MultiStepLR). Loss:
WGAN-GP for the critic, adversarial + reconstruction (fixed noise) for the generator.

It lives outside ``medgan`` on purpose: it proves a staged family plugs in without any engine change.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from medgan.registry import GAN_FAMILIES
from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.losses import AdversarialLoss, LossConfig, discriminator_loss
from medgan.training.spec import FamilySpec
from medgan.training.step import GANStep, OptimizerSpec, ParamGroup, Phase, StepContext

SIZES = (4, 6, 8)


@dataclass
class StagedConfig:
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=13, batch_size=1, log_every=1,
                                                                      checkpoint_every=0, sample_every=0,
                                                                      n_samples=1, progress=False))
    loss: LossConfig = field(default_factory=lambda: LossConfig(kind="wgan-gp", gp_weight=0.1))
    g: AdamConfig = field(default_factory=lambda: AdamConfig(lr=5e-3, betas=(0.5, 0.999)))
    d: AdamConfig = field(default_factory=lambda: AdamConfig(lr=5e-3, betas=(0.5, 0.999)))
    stages: int = 3
    steps_per_stage: int = 5
    trained_stages: int = 2
    lr_scale: float = 0.1
    reconstruction_weight: float = 10.0
    n_critic: int = 2


class StagedGenerator(nn.Module):
    """head -> stage 0 -> upsample -> stage 1 -> ... -> tail; stage ``s`` outputs ``SIZES[s]``."""

    def __init__(self, stages: int, width: int = 4) -> None:
        super().__init__()
        self.head = nn.Conv2d(1, width, 3, padding=1)
        self.body = nn.ModuleList([nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2))
                                   for _ in range(stages)])
        self.tail = nn.Sequential(nn.Conv2d(width, 1, 3, padding=1), nn.Tanh())

    def forward(self, noise: list[torch.Tensor], stage: int) -> torch.Tensor:
        x = self.head(noise[0])
        for s in range(stage + 1):
            if s > 0:
                x = F.interpolate(x, size=(SIZES[s],) * 2, mode="bilinear", align_corners=False) + noise[s]
            x = x + self.body[s](x)
        return self.tail(x)


class StagedStep(GANStep):
    def __init__(self, config: StagedConfig, rank: int, world_size: int) -> None:
        self.config = config
        self.networks = {"G": StagedGenerator(config.stages),
                         "D": nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))}
        self.phases = (Phase("D", "D", repeats=config.n_critic), Phase("G", "G", new_batch=False))
        self.adversarial = AdversarialLoss(config.loss.kind)
        grid = torch.linspace(-1, 1, SIZES[-1])
        image = (torch.sin(3 * grid)[:, None] * torch.cos(2 * grid)[None, :])[None, None]
        self.reals = [F.interpolate(image, size=(s, s), mode="area") for s in SIZES]
        self.fixed_noise = [torch.randn(1, 1, s, s, generator=torch.Generator().manual_seed(7)) for s in SIZES]
        self.steps_done = 0
        self.crash_at_step = -1  # tests set this to simulate a killed run
        self._update_stage()

    # ------------------------------------------------------------------ the staged part of the contract

    def _update_stage(self) -> None:
        """Stage from the steps done; the optimiser specs of that stage (the engine rebuilds on change)."""
        c = self.config
        self.stage = min(c.stages - 1, self.steps_done // c.steps_per_stage)
        lowest = max(0, self.stage - c.trained_stages + 1)
        groups = [ParamGroup((f"G.body.{s}",), c.lr_scale ** (self.stage - s)) for s in range(lowest, self.stage + 1)]
        if self.stage < c.trained_stages:
            groups.insert(0, ParamGroup(("G.head",), c.lr_scale ** self.stage))
        groups.append(ParamGroup(("G.tail",)))
        self.optimizers = {"G": OptimizerSpec(("G",), c.g, self.stage_schedule, tuple(groups), stage=self.stage),
                           "D": OptimizerSpec(("D",), c.d, self.stage_schedule, stage=self.stage)}

    def stage_schedule(self, step: int) -> float:
        into = self.steps_done - self.stage * self.config.steps_per_stage
        return 0.1 if into >= 0.8 * self.config.steps_per_stage else 1.0

    def end_step(self, ctx: StepContext) -> None:
        self.steps_done += 1
        self._update_stage()

    def state_dict(self) -> dict[str, Any]:
        return {"steps_done": self.steps_done, "stage": self.stage}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps_done = int(state["steps_done"])
        self._update_stage()
        assert self.stage == state["stage"]

    # ------------------------------------------------------------------------------ plain GAN parts

    def noise(self, generator: torch.Generator, device: torch.device) -> list[torch.Tensor]:
        return [0.1 * torch.randn(1, 1, s, s, generator=generator).to(device) for s in SIZES[:self.stage + 1]]

    def next_batch(self, ctx: StepContext) -> Any:
        return {"real": self.reals[self.stage]}

    def loss(self, phase: str, batch: Any, ctx: StepContext):
        if ctx.step == self.crash_at_step:
            raise KeyboardInterrupt("simulated kill")
        g, d, real = self.networks["G"], self.networks["D"], batch["real"]
        fake = g(self.noise(ctx.generator, ctx.device), self.stage)
        if phase == "D":
            return discriminator_loss(self.config.loss, d, real, fake.detach(), ctx.generator)
        fixed = [n.to(ctx.device) for n in self.fixed_noise[:self.stage + 1]]
        reconstruction = F.mse_loss(g(fixed, self.stage), real)
        adversarial = self.adversarial.generator(d(fake))
        loss = adversarial + self.config.reconstruction_weight * reconstruction
        return loss, {"G_adv": adversarial.detach(), "G_rec": reconstruction.detach()}

    def preview(self, networks, generator, n):
        device = next(networks["G"].parameters()).device
        return torch.cat([networks["G"](self.noise(generator, device), self.stage) for _ in range(n)])


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


if "toy-staged" not in GAN_FAMILIES:
    GAN_FAMILIES.register("toy-staged")(FamilySpec(
        name="toy-staged", summary="test family: ConSinGAN-like staged training", config_type=StagedConfig,
        add_train_arguments=_no_arguments, apply_train_arguments=lambda args, config: config, build=StagedStep))
