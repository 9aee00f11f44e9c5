"""pix2pix (Isola et al. 2017): paired translation of co-registered scans, e.g. MR -> CT of the
same heads, 2D (slices) or 3D (patches): U-Net generator, PatchGAN on the concatenated input and
output, adversarial + 100 x L1.

``medgan train pix2pix --data DATASET --source t1n --target ct --out RUN`` trains it;
``medgan translate RUN INPUT OUT`` translates whole volumes. See ``docs/translation.md``.
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
    translation_data_sources,
)
from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.losses import LossConfig
from medgan.training.spec import FamilySpec, register_family


@dataclass
class Pix2PixModelConfig:
    """Network sizes (defaults: the paper's ``unet_256`` and 70x70 PatchGAN, batch norm).

    Attributes:
        g_channels: U-Net base filters (64).
        depth: U-Net downsamplings (default: log2 of the patch size, at most 8 as ``unet_256``).
        g_norm, d_norm: normalisation (batch norm in the paper).
        dropout: dropout in the inner up-path levels (0.5).
        d_channels, d_layers: PatchGAN base filters (64) and stride-2 layers (3: 70x70).
    """

    g_channels: int = 64
    depth: int | None = None
    g_norm: Literal["instance", "batch", "none"] = "batch"
    dropout: float = 0.5
    d_channels: int = 64
    d_layers: int = 3
    d_norm: Literal["instance", "batch", "none"] = "batch"


@dataclass
class Pix2PixConfig:
    """Everything a pix2pix run is built from (``data.a`` is the source, ``data.b`` the target).

    Attributes:
        loss: adversarial loss (``bce``, the paper's vanilla GAN loss).
        l1_weight: weight of the L1 distance to the real target (100).
    """

    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=10000, batch_size=1, ema_decay=0.0,
                                                                      sample_every=1000, checkpoint_every=1000,
                                                                      n_samples=4))
    data: TranslationDataConfig = field(default_factory=TranslationDataConfig)
    model: Pix2PixModelConfig = field(default_factory=Pix2PixModelConfig)
    loss: LossConfig = field(default_factory=lambda: LossConfig(kind="bce"))
    l1_weight: float = 100.0
    g_optimizer: AdamConfig = field(default_factory=paper_adam)
    d_optimizer: AdamConfig = field(default_factory=paper_adam)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="dataset with both modalities, co-registered")
    parser.add_argument("--source", required=True, help="input modality (e.g. t1n)")
    parser.add_argument("--target", required=True, help="output modality (e.g. ct)")
    add_common_arguments(parser)


def apply_train_arguments(args: argparse.Namespace, config: Pix2PixConfig) -> Pix2PixConfig:
    data = config.data
    data.a.path = data.b.path = str(args.data)
    data.a.modality, data.b.modality = args.source, args.target
    apply_common_arguments(args, data)
    return config


def build(config: Pix2PixConfig, rank: int, world_size: int, cases: list[dict[str, Any]] | None = None) -> Any:
    """The step object: trained on the dataset's co-registered pairs, or on those of in-memory ``cases``."""
    from medgan.families.pix2pix.step import Pix2PixStep

    if config.data.disjoint:
        raise ConfigError("pix2pix: data.disjoint is for CycleGAN; pix2pix learns from paired cases")
    if cases is not None:
        import numpy as np

        from medgan.families._translation.translator import network_volumes

        sources, targets = network_volumes(config.data, cases)
        return Pix2PixStep(config, rank, world_size, pairs=[np.concatenate(p) for p in zip(sources, targets)])
    if not config.data.a.path or not config.data.a.modality or not config.data.b.modality:
        raise ConfigError("pix2pix: give --data DATASET --source MODALITY --target MODALITY")
    if config.data.b.path != config.data.a.path:
        raise ConfigError("pix2pix: source and target must come from the same (co-registered) dataset")
    return Pix2PixStep(config, rank, world_size)


def networks(config: Pix2PixConfig) -> dict[str, Any]:
    """The U-Net generator of a resolved config."""
    from medgan.families.pix2pix.step import build_generator

    return {"G": build_generator(config)}


def translator(run: Any, direction: str = "a2b") -> Any:
    """The run's source -> target translator (pix2pix learns one direction only)."""
    from medgan.families._translation.translator import make_translator

    if direction != "a2b":
        raise ConfigError("a pix2pix run translates only source -> target (a2b)")
    return make_translator(run, "G", 2 ** int(run.config.model.depth), direction)


def sampler(run: Any) -> Any:
    """The benchmark sampler: context cases with their target channel translated from their source."""
    from medgan.families._translation.translator import TranslationSampler

    return TranslationSampler(translator(run), run.family)


#: the benchmark budget: the cyclegan stage's, for co-registered pairs (small U-Net, 2D slices); a
#: batch of 4 (batch norm at the U-Net's
#: innermost 1x1 level needs more than one value per channel)
PRESET = {
    "train": {"steps": 300, "batch_size": 4, "n_samples": 4},
    "data": {"a": {"modality": "t1n", "intensity": {"kind": "generic"}},
             "b": {"modality": "ct", "intensity": {"kind": "generic"}}, "spatial_dims": 2},
    "model": {"g_channels": 16, "d_channels": 32},
}

register_family(FamilySpec(
    name="pix2pix",
    summary="paired translation of co-registered scans (pix2pix, e.g. MR -> CT), 2D or 3D",
    config_type=Pix2PixConfig,
    build=build,
    add_train_arguments=add_train_arguments,
    apply_train_arguments=apply_train_arguments,
    networks=networks,
    sampler=sampler,
    preset=PRESET,
    translator=translator,
    data_sources=translation_data_sources,
))
