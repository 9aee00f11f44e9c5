"""ConSinGAN's training step (Hinz et al. 2021): one case, a generator pyramid grown stage by stage,
the newest ``trained_stages`` stages trained together (each lower one at δ times the rate of the one
above), WGAN-GP critic, reconstruction loss from fixed noise at the coarsest scale.

A new stage starts every ``steps_per_stage`` steps: its block starts as a copy of the stage below,
its noise amplitude is ``noise_amp`` times the RMSE of the reconstruction at its scale, and both Adam
optimisers restart (new layout: the engine rebuilds them and records it in the checkpoint). Within a
stage the rate drops by 10x after ``lr_drop`` of it (the paper's MultiStepLR).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from medgan.families.consingan.config import ConSinGANConfig
from medgan.families.consingan.data import check_settings, pick_case, read_case, real_pyramid, resolve
from medgan.families.consingan.model import Critic, StagedGenerator
from medgan.training.losses import AdversarialLoss, discriminator_loss
from medgan.training.step import GANStep, OptimizerSpec, ParamGroup, Phase, StepContext


def build_networks(config: ConSinGANConfig) -> dict[str, torch.nn.Module]:
    """``{"G": generator pyramid, "D": critic}`` of a resolved config."""
    m = config.model
    return {"G": StagedGenerator(m.spatial_dims, m.channels, m.width, m.layers, len(m.scales or [])),
            "D": Critic(m.spatial_dims, m.channels, m.width, m.layers)}


def draw_noise(config: ConSinGANConfig, stage: int, n: int, generator: torch.Generator,
               first: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Random noise of stages ``0..stage`` for ``n`` samples, drawn on the CPU from ``generator``;
    ``first`` (harmonization: an image at the coarsest scale) replaces the first stage's noise."""
    m = config.model
    start = 0 if first is None else 1
    noise = [torch.randn(n, m.channels if s == 0 else m.width, *m.scales[s], generator=generator)
             for s in range(start, stage + 1)]
    return noise if first is None else [first.expand(n, *first.shape[1:])] + noise


def augment(config: ConSinGANConfig, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Harmonization's training input: ``image`` ``(1, C, ...)`` in [-1, 1] with a random contrast,
    shift and noise per channel (drawn from ``generator``), clipped to [-1, 1]."""
    c = image.shape[1]
    shape = (1, c) + (1,) * (image.dim() - 2)
    scale = 1 + config.augment_scale * (2 * torch.rand(shape, generator=generator) - 1)
    shift = config.augment_shift * (2 * torch.rand(shape, generator=generator) - 1)
    noise = config.augment_noise * torch.randn(image.shape, generator=generator)
    return (image * scale + shift + noise).clamp(-1, 1)


class ConSinGANStep(GANStep):
    """The engine's step object for ConSinGAN (see the module docstring)."""

    def __init__(self, config: ConSinGANConfig, rank: int, world_size: int,
                 cases: list[dict[str, Any]] | None = None) -> None:
        self.config = config
        check_settings(config)
        case = pick_case(config, cases) if cases is not None else read_case(config)
        resolve(config, case)
        self.case_id = case["id"]
        self.reals = real_pyramid(config, case)
        self.networks = build_networks(config)
        self.phases = (Phase("D", "D", repeats=config.n_critic),
                       Phase("G", "G", repeats=config.g_repeats, new_batch=False))
        self.ema_networks = ()
        self.adversarial = AdversarialLoss(config.loss.kind)
        self.stages = len(config.model.scales)
        seed = torch.Generator().manual_seed(config.train.seed)
        self.fixed_noise = torch.randn(1, config.model.channels, *config.model.scales[0], generator=seed)
        self.steps_done = 0
        self.amplitudes = [1.0]
        self._update_stage()

    # ------------------------------------------------------------------------------- stages

    def _update_stage(self) -> None:
        """The stage from the steps done, and the optimiser layout of that stage."""
        c = self.config
        self.stage = min(self.stages - 1, self.steps_done // c.steps_per_stage)
        lowest = max(0, self.stage - c.trained_stages + 1)
        groups = [ParamGroup((f"G.body.{s}",), c.lr_scale ** (self.stage - s)) for s in range(lowest, self.stage + 1)]
        if self.stage < c.trained_stages:
            groups.insert(0, ParamGroup(("G.head",), c.lr_scale ** self.stage))
        groups.append(ParamGroup(("G.tail",)))
        self.optimizers = {"G": OptimizerSpec(("G",), c.g, self.stage_schedule, tuple(groups), stage=self.stage),
                           "D": OptimizerSpec(("D",), c.d, self.stage_schedule, stage=self.stage)}

    def stage_schedule(self, step: int) -> float:
        """Learning-rate multiplier: 1, then 0.1 after ``lr_drop`` of the current stage."""
        into = self.steps_done - self.stage * self.config.steps_per_stage
        return 0.1 if into >= self.config.lr_drop * self.config.steps_per_stage else 1.0

    def _start_stage(self) -> None:
        """A new stage: its block copies the one below; its noise amplitude from the reconstruction error."""
        g = self.networks["G"]
        s = self.stage
        with torch.no_grad():
            g.body[s].load_state_dict(g.body[s - 1].state_dict())
            device = next(g.parameters()).device
            rec = self._reconstruct(g, s, device)
            rmse = torch.sqrt(F.mse_loss(rec, self.reals[s].to(device)))
        self.amplitudes.append(self.config.noise_amp * float(rmse))

    def _reconstruct(self, g: torch.nn.Module, stage: int, device: torch.device) -> torch.Tensor:
        """The generator's output from the fixed noise (zero noise above the coarsest stage)."""
        first = self.reals[0] if self.config.mode == "harmonization" else self.fixed_noise
        noise = [first.to(device)] + [
            torch.zeros(1, self.config.model.width, *self.config.model.scales[s], device=device)
            for s in range(1, stage + 1)]
        return g(noise, self.amplitudes + [0.0] * (stage + 1 - len(self.amplitudes)), self.config.model.scales, stage)

    def end_step(self, ctx: StepContext) -> None:
        self.steps_done += 1
        before = self.stage
        self._update_stage()
        if self.stage != before:
            self._start_stage()

    def state_dict(self) -> dict[str, Any]:
        return {"steps_done": self.steps_done, "stage": self.stage, "amplitudes": list(self.amplitudes)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps_done = int(state["steps_done"])
        self.amplitudes = [float(a) for a in state["amplitudes"]]
        self._update_stage()
        if len(self.amplitudes) != self.stage + 1:
            raise ValueError(f"consingan state holds {len(self.amplitudes)} noise amplitudes for stage {self.stage}")

    # ------------------------------------------------------------------------------- losses

    def next_batch(self, ctx: StepContext) -> Any:
        return {"real": self.reals[self.stage]}

    def loss(self, phase: str, batch: Any, ctx: StepContext) -> Any:
        g, d, real = self.networks["G"], self.networks["D"], batch["real"]
        first = self._first(ctx.generator)
        noise = [z.to(ctx.device) for z in draw_noise(self.config, self.stage, 1, ctx.generator, first)]
        fake = g(noise, self.amplitudes, self.config.model.scales, self.stage)
        if phase == "D":
            return discriminator_loss(self.config.loss, d, real, fake.detach(), ctx.generator)
        adversarial = self.adversarial.generator(d(fake))
        reconstruction = F.mse_loss(self._reconstruct(g, self.stage, ctx.device), real)
        loss = adversarial + self.config.reconstruction_weight * reconstruction
        return loss, {"G_adv": adversarial.detach(), "G_rec": reconstruction.detach(),
                      "stage": torch.tensor(float(self.stage))}

    def _first(self, generator: torch.Generator) -> torch.Tensor | None:
        """Harmonization: the augmented case at the coarsest scale; generation: ``None`` (noise)."""
        return augment(self.config, self.reals[0], generator) if self.config.mode == "harmonization" else None

    def preview(self, networks: dict[str, Any], generator: torch.Generator, n: int) -> torch.Tensor:
        """``n`` samples of the current stage: image channels, then the label map (index of the class)."""
        g = networks["G"]
        device = next(g.parameters()).device
        noise = [z.to(device) for z in draw_noise(self.config, self.stage, n, generator, self._first(generator))]
        out = g(noise, self.amplitudes, self.config.model.scales, self.stage).float()
        images = out[:, :len(self.config.data.modalities or [])]
        values = self.config.data.label_values or []
        if len(values) > 1:
            index = out[:, images.shape[1]:].argmax(1, keepdim=True).float()
            images = torch.cat([images, index / (len(values) - 1) * 2 - 1], 1)
        return images
