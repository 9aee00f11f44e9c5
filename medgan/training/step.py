"""The contract between the engine and a GAN family: a step object with networks, optimiser groups,
phases, and a loss per phase.

The engine owns everything generic (devices, AMP, DDP gradient averaging, optimiser steps, EMA,
checkpoints, logs, sample grids); the family owns its networks, its data source and the meaning of
each phase. Nothing here knows any family. See ``docs/engine.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from medgan.training.config import AdamConfig


@dataclass(frozen=True)
class Phase:
    """One optimisation phase of a training step (StyleGAN2-ADA's ``Dmain``/``Gmain``).

    Attributes:
        name: passed to :meth:`GANStep.loss` so the family knows what to compute.
        optimizer: the optimiser stepped after this phase's backward pass; only the parameters it
            trains get gradients during the phase.
        repeats: how many times the phase runs per step (``n_critic`` for a WGAN critic).
        every: run only on steps that are multiples of this (lazy regularisation).
        new_batch: draw a fresh batch for each run of the phase; ``False`` reuses the step's last
            batch (pix2pix/CycleGAN: the discriminator sees the batch the generator just used).
    """

    name: str
    optimizer: str
    repeats: int = 1
    every: int = 1
    new_batch: bool = True


@dataclass(frozen=True)
class ParamGroup:
    """Parameters of some modules trained together at a multiple of the optimiser's learning rate.

    Attributes:
        modules: a network's name (``"G"``, every parameter of it) or a network's name followed by
            a submodule path (``"G.body.3"``, as ``nn.Module.get_submodule`` reads it).
        lr_scale: multiplies the optimiser's (scheduled) learning rate for these parameters
            (ConSinGAN: 0.1 for the stage below the newest, 0.01 for the one below that...).
    """

    modules: tuple[str, ...]
    lr_scale: float = 1.0


@dataclass
class OptimizerSpec:
    """An Adam optimiser over one or several named networks, or over chosen parts of them.

    Attributes:
        networks: names of the networks (keys of ``GANStep.networks``) it belongs to.
        adam: learning rate, betas, eps, weight decay, and the config-driven schedule.
        schedule: optional callable ``step -> lr multiplier`` that overrides ``adam.schedule``; it may
            read the family's own state (a progressive GAN's resolution), which is checkpointed, so
            a resumed run gets the same learning rates.
        groups: the parameter groups it trains, each with its learning-rate multiple; empty (the
            default) means one group holding every parameter of ``networks`` at scale 1. Only the
            parameters of the groups get gradients in the phases of this optimiser.
        stage: a number the family changes to restart this optimiser with fresh Adam moments even
            when its groups stay the same (a new stage of a staged GAN).

    The engine builds the Adam optimiser again, with fresh moments, whenever the *layout* (the
    ``stage`` and the modules of each group) changes; a family changes it by replacing entries of
    ``GANStep.optimizers``, in ``end_step`` or ``load_state_dict``. Changing only ``lr_scale``
    keeps the moments.
    """

    networks: tuple[str, ...]
    adam: AdamConfig = field(default_factory=AdamConfig)
    schedule: Callable[[int], float] | None = None
    groups: tuple[ParamGroup, ...] = ()
    stage: int = 0

    def param_groups(self) -> tuple[ParamGroup, ...]:
        """The groups, or one group over every network of the spec."""
        return self.groups or (ParamGroup(tuple(self.networks)),)

    def layout(self) -> dict[str, Any]:
        """What the Adam optimiser is built from: ``{"stage": int, "groups": [[module, ...], ...]}``."""
        return {"stage": int(self.stage), "groups": [list(g.modules) for g in self.param_groups()]}


@dataclass
class StepContext:
    """What the engine tells the family on each call.

    Attributes:
        step: index of the current step, from 0.
        total_steps: the run's total number of steps.
        device: where networks and batches live.
        generator: the run's CPU random generator for noise and any random choice of the family
            (checkpointed); draw on the CPU, then move: the same numbers on every device.
        rank, world_size: this process's place under DDP (0 and 1 otherwise).
        repeat: index of the current run of a repeated phase.
        amp: whether the loss runs under autocast.
    """

    step: int
    total_steps: int
    device: torch.device
    generator: torch.Generator
    rank: int = 0
    world_size: int = 1
    repeat: int = 0
    amp: bool = False


class GANStep:
    """Base class of a family's step object; override the methods marked *required*.

    Attributes (set in ``__init__`` of the subclass):
        config: the family's resolved config dataclass (written to ``config.yaml``).
        networks: every trainable network by name (also the names in checkpoints).
        optimizers: optimisers by name; the family may replace entries when the trained set changes
            (a new stage or level starts): the engine then builds that optimiser again.
        phases: the phases of one step, in order.
        ema_networks: names of networks whose exponential moving average the engine keeps; the
            averages replace them in :meth:`preview` and in synthesis.
    """

    config: Any
    networks: dict[str, nn.Module]
    optimizers: dict[str, OptimizerSpec]
    phases: tuple[Phase, ...]
    ema_networks: tuple[str, ...] = ()

    def next_batch(self, ctx: StepContext) -> Any:
        """*Required*: this process's next batch (tensors, or dicts/lists/tuples of tensors).

        The family asks its data source for as many samples as it needs now (a progressive GAN's
        batch size changes per resolution); the data position belongs to :meth:`state_dict`.
        The engine moves the batch to ``ctx.device``.
        """
        raise NotImplementedError

    def loss(self, phase: str, batch: Any, ctx: StepContext) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        """*Required*: the scalar loss of ``phase`` on ``batch`` and named statistics to log.

        Statistics are detached scalars (tensors; the engine converts them only when it logs, so a
        GPU never waits for them).
        """
        raise NotImplementedError

    def preview(self, networks: Mapping[str, nn.Module], generator: torch.Generator, n: int) -> torch.Tensor | None:
        """Images for the sample grid, ``(N, C, X, Y[, Z])`` in [-1, 1]; ``None`` for no grid.

        ``networks`` has the EMA copies in place of the trained ones; ``generator`` is freshly
        seeded for every grid, so each grid shows the same noise.
        """
        return None

    def end_step(self, ctx: StepContext) -> None:
        """Called after every phase of a step (advance a fade-in, refill a pool...)."""

    def state_dict(self) -> dict[str, Any]:
        """Extra state to checkpoint: nested dicts/lists of numbers, strings and tensors."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
