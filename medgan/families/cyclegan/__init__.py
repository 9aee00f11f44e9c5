"""CycleGAN (Zhu et al. 2017): unpaired translation between two image domains, e.g. MR -> CT,
2D (slices) or 3D (patches), with the paper's defaults.

``medgan train cyclegan --data DATASET --domain-a t1n --domain-b ct --out RUN`` trains it;
``medgan translate RUN INPUT OUT [--direction a2b|b2a]`` translates whole volumes. See
``docs/translation.md``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgan.errors import ConfigError
from medgan.families._translation.config import (
    TranslationDataConfig,
    add_common_arguments,
    apply_common_arguments,
    parse_domain,
)
from medgan.registry import GAN_FAMILIES
from medgan.training.config import AdamConfig, ScheduleConfig, TrainConfig
from medgan.training.losses import LossConfig
from medgan.training.spec import FamilySpec

#: ``decay_start`` value meaning "half the run" (the paper: 100 epochs constant, 100 decaying)
HALF_THE_RUN = -1


def paper_adam() -> AdamConfig:
    """Adam 2e-4, betas (0.5, 0.999); constant for half the run, then linearly down to zero."""
    return AdamConfig(lr=2e-4, betas=(0.5, 0.999),
                      schedule=ScheduleConfig(kind="linear-decay", decay_start=HALF_THE_RUN, decay_end=0))


@dataclass
class CycleGANModelConfig:
    """Network sizes (defaults: the paper's ``resnet_9blocks`` and 70x70 PatchGAN).

    Attributes:
        g_channels: generator base filters (64).
        n_blocks: residual blocks (9).
        g_norm, d_norm: normalisation (instance norm).
        dropout: dropout in the residual blocks (0).
        d_channels: discriminator base filters (64).
        d_layers: discriminator stride-2 layers (3: 70x70 receptive field).
    """

    g_channels: int = 64
    n_blocks: int = 9
    g_norm: Literal["instance", "batch", "none"] = "instance"
    dropout: float = 0.0
    d_channels: int = 64
    d_layers: int = 3
    d_norm: Literal["instance", "batch", "none"] = "instance"


@dataclass
class CycleGANConfig:
    """Everything a CycleGAN run is built from (written, resolved, to the run's ``config.yaml``).

    Attributes:
        loss: adversarial loss (LSGAN in the paper).
        cycle_weight: lambda of the cycle-consistency L1 terms (10).
        identity_weight: identity L1 weight as a fraction of ``cycle_weight`` (0.5).
        pool_size: image-pool capacity per discriminator (50).
        g_optimizer, d_optimizer: Adam settings; ``decay_start: -1`` means half of ``train.steps``.
    """

    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=10000, batch_size=1, ema_decay=0.0,
                                                                      sample_every=1000, checkpoint_every=1000,
                                                                      n_samples=4))
    data: TranslationDataConfig = field(default_factory=TranslationDataConfig)
    model: CycleGANModelConfig = field(default_factory=CycleGANModelConfig)
    loss: LossConfig = field(default_factory=lambda: LossConfig(kind="lsgan"))
    cycle_weight: float = 10.0
    identity_weight: float = 0.5
    pool_size: int = 50
    g_optimizer: AdamConfig = field(default_factory=paper_adam)
    d_optimizer: AdamConfig = field(default_factory=paper_adam)

    def __post_init__(self) -> None:
        if self.cycle_weight < 0 or self.identity_weight < 0:
            raise ValueError("cycle_weight and identity_weight must not be negative")
        if self.pool_size < 0:
            raise ValueError("pool_size must not be negative")


def half_run_schedule(adam: AdamConfig, train: TrainConfig) -> Callable[[int], float] | None:
    """The learning-rate multiplier of ``adam`` when its decay starts at half the run (``decay_start:
    -1``), computed from ``train.steps`` at each call, so a run resumed with more steps decays over
    its new length; ``None`` (the engine's own schedule) otherwise."""
    schedule = adam.schedule
    if schedule.kind != "linear-decay" or schedule.decay_start != HALF_THE_RUN:
        return None

    def factor(step: int) -> float:
        total = train.steps
        start, end = total // 2, schedule.decay_end or total
        if step < start:
            return 1.0
        if end <= start:
            return schedule.final_factor
        return 1.0 + (schedule.final_factor - 1.0) * min(1.0, (step - start) / (end - start))

    return factor


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain-a", required=True, metavar="DATASET_OR_MODALITY",
                        help="domain A (e.g. MR): a dataset folder, FOLDER:MODALITY, or a modality of --data")
    parser.add_argument("--domain-b", required=True, metavar="DATASET_OR_MODALITY",
                        help="domain B (e.g. CT), likewise")
    parser.add_argument("--data", type=Path, help="dataset holding both domains as modalities")
    add_common_arguments(parser)


def apply_train_arguments(args: argparse.Namespace, config: CycleGANConfig) -> CycleGANConfig:
    data = config.data
    for which in ("a", "b"):
        parsed = parse_domain(getattr(args, f"domain_{which}"), args.data, which)
        domain = getattr(data, which)
        domain.path, domain.modality = parsed.path, parsed.modality
    apply_common_arguments(args, data)
    return config


def build(config: CycleGANConfig, rank: int, world_size: int) -> Any:
    from medgan.families.cyclegan.step import CycleGANStep

    if not config.data.a.path or not config.data.b.path:
        raise ConfigError("cyclegan: both domains need a dataset (--domain-a/--domain-b, data.a.path/data.b.path)")
    return CycleGANStep(config, rank, world_size)


def add_synthesize_arguments(parser: argparse.ArgumentParser) -> None:
    from medgan.commands.translate import add_translate_options

    parser.add_argument("--input", type=Path, required=True, help="image file or dataset to translate")
    add_translate_options(parser)


def synthesize(run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    from medgan.commands.translate import translate_path

    return translate_path(run_dir, args.input, out, args)


if "cyclegan" not in GAN_FAMILIES:
    GAN_FAMILIES.register("cyclegan")(FamilySpec(
        name="cyclegan",
        summary="unpaired translation between two domains (CycleGAN, e.g. MR -> CT), 2D or 3D",
        config_type=CycleGANConfig,
        add_train_arguments=add_train_arguments,
        apply_train_arguments=apply_train_arguments,
        build=build,
        add_synthesize_arguments=add_synthesize_arguments,
        synthesize=synthesize,
    ))

from medgan.families.cyclegan.stage import CycleGANStage  # noqa: E402  (no torch at import)
from medgan.registry import SYNTHESIS_STAGES  # noqa: E402

if "cyclegan" not in SYNTHESIS_STAGES:
    SYNTHESIS_STAGES.register("cyclegan")(CycleGANStage)
