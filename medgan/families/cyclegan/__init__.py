"""CycleGAN (Zhu et al. 2017): unpaired translation between two image domains, e.g. MR -> CT,
2D (slices) or 3D (patches), with the paper's defaults.

``medgan train cyclegan --data DATASET --domain-a t1n --domain-b ct --out RUN`` trains it;
``medgan translate RUN INPUT OUT [--direction a2b|b2a]`` translates whole volumes. See
``docs/translation.md``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgan.errors import ConfigError
from medgan.families._translation.config import (
    TranslationDataConfig,
    add_common_arguments,
    apply_common_arguments,
    paper_adam,
    parse_domain,
    translation_data_sources,
)
from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.losses import LossConfig
from medgan.training.spec import FamilySpec, register_family


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


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain-a", required=True, metavar="DATASET_OR_MODALITY",
                        help="domain A (e.g. MR): a dataset folder, FOLDER:MODALITY, or a modality of --data")
    parser.add_argument("--domain-b", required=True, metavar="DATASET_OR_MODALITY",
                        help="domain B (e.g. CT), likewise")
    parser.add_argument("--data", type=Path, help="dataset holding both domains as modalities")
    parser.add_argument("--disjoint-domains", action="store_true",
                        help="read domain A from one half of the training cases and B from the other "
                             "(no case in both: the unpaired setting; data.disjoint)")
    add_common_arguments(parser)


def apply_train_arguments(args: argparse.Namespace, config: CycleGANConfig) -> CycleGANConfig:
    data = config.data
    for which in ("a", "b"):
        parsed = parse_domain(getattr(args, f"domain_{which}"), args.data, which)
        domain = getattr(data, which)
        domain.path, domain.modality = parsed.path, parsed.modality
    apply_common_arguments(args, data)
    if getattr(args, "disjoint_domains", False):
        data.disjoint = True
    return config


def build(config: CycleGANConfig, rank: int, world_size: int, cases: list[dict[str, Any]] | None = None) -> Any:
    """The step object: trained on the domains' datasets, or on the channels of in-memory ``cases``."""
    from medgan.families.cyclegan.step import CycleGANStep

    if cases is not None:
        from medgan.families._translation.translator import network_volumes

        return CycleGANStep(config, rank, world_size, volumes=network_volumes(config.data, cases))
    if not config.data.a.path or not config.data.b.path:
        raise ConfigError("cyclegan: both domains need a dataset (--domain-a/--domain-b, data.a.path/data.b.path)")
    return CycleGANStep(config, rank, world_size)


def networks(config: CycleGANConfig) -> dict[str, Any]:
    """Both generators of a resolved config (what a run translates with)."""
    from medgan.families.cyclegan.step import build_generators

    g_ab, g_ba = build_generators(config)
    return {"G_ab": g_ab, "G_ba": g_ba}


def translator(run: Any, direction: str = "a2b") -> Any:
    """The run's translator in ``direction`` (``a2b`` or ``b2a``)."""
    from medgan.families._translation.translator import make_translator

    return make_translator(run, "G_ab" if direction == "a2b" else "G_ba", 4, direction)


def sampler(run: Any) -> Any:
    """The benchmark sampler: context cases with their B channel translated from their A channel."""
    from medgan.families._translation.translator import TranslationSampler

    return TranslationSampler(translator(run, "a2b"), run.family)


#: the benchmark budget (Hammami et al. 2020 translate MR slices into CT): small networks, both
#: domains on the per-volume percentile scale (the benchmark hands over normalised images)
PRESET = {
    "train": {"steps": 300, "batch_size": 1, "n_samples": 4},
    "data": {"a": {"modality": "t1n", "intensity": {"kind": "generic"}},
             "b": {"modality": "ct", "intensity": {"kind": "generic"}}, "spatial_dims": 2},
    "model": {"g_channels": 16, "n_blocks": 4, "d_channels": 32},
}

register_family(FamilySpec(
    name="cyclegan",
    summary="unpaired translation between two domains (CycleGAN, e.g. MR -> CT), 2D or 3D",
    config_type=CycleGANConfig,
    build=build,
    add_train_arguments=add_train_arguments,
    apply_train_arguments=apply_train_arguments,
    networks=networks,
    sampler=sampler,
    preset=PRESET,
    translator=translator,
    data_sources=translation_data_sources,
))
