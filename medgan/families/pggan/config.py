"""Typed settings of a progressive-GAN run (``config.yaml`` of the run folder).

Fields marked *resolved* are filled in when the run is built (from the data) and written with the
run, so synthesis needs nothing but the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.losses import LossConfig

LABEL = "label"


@dataclass
class PGGANDataConfig:
    """What the model learns from.

    Attributes:
        path: the dataset (``--data``); empty when cases are given in memory (benchmark stage).
        channels: image modalities to generate, in order, plus ``label`` to generate the label map
            too (``["t1n", "t2f", "label"]``; ``["label"]`` alone learns label maps only). Default:
            every modality, plus ``label`` when every training case is labelled.
        cases, exclude_cases: case selection (``exclude_cases``: e.g. the benchmark's test split).
        mirror: random left-right flips (first spatial axis) of the training volumes.
        modalities, label_values, data_shape, affine, spacing, intensity_lo, intensity_hi, layout,
            n_cases: *resolved*: image channels, label value per class, the data's spatial shape,
            affine and spacing (of the first training case), median intensity range per channel
            (maps outputs in [-1, 1] back to intensities), dataset layout, number of cases.
    """

    path: str = ""
    channels: list[str] | None = None
    cases: list[str] | None = None
    exclude_cases: list[str] = field(default_factory=list)
    mirror: bool = False
    modalities: list[str] | None = None
    label_values: list[int] | None = None
    data_shape: list[int] | None = None
    affine: list[list[float]] | None = None
    spacing: list[float] | None = None
    intensity_lo: list[float] | None = None
    intensity_hi: list[float] | None = None
    layout: str | None = None
    n_cases: int | None = None


@dataclass
class PGGANModelConfig:
    """Network sizes.

    Attributes:
        resolution: longest side of the last level (``--resolution``).
        base_shape: shape of level 0; default chosen from the data shape (see
            :func:`~medgan.families.pggan.schedule.choose_base_shape`), e.g. 7x8x7 for 56x64x56.
        levels: *resolved*: number of doublings from the base to the last level.
        spatial_dims: *resolved* from the data (2 or 3).
        latent_dim: noise length (Karras: 512).
        fmap_base, fmap_max: feature maps per level ``min(fmap_base / 2**(level+1), fmap_max)``;
            default Karras' 8192/512 in 2D, 2048/256 in 3D (our choice for memory).
        fmap_min: lower bound on feature maps.
        mbstd_group: minibatch standard-deviation group size (0: off).
        gradient_checkpointing: recompute block activations in the backward pass (less memory).
    """

    resolution: int = 64
    base_shape: list[int] | None = None
    levels: int | None = None
    spatial_dims: int | None = None
    latent_dim: int = 512
    fmap_base: int | None = None
    fmap_max: int | None = None
    fmap_min: int = 1
    mbstd_group: int = 4
    gradient_checkpointing: bool = False


@dataclass
class PGGANGrowthConfig:
    """How the resolution grows.

    Attributes:
        fade_images: real images shown while a new level fades in (Karras: 600k).
        stable_images: real images shown while a level is stabilised (Karras: 600k).
        batch_sizes: global batch size per level, coarsest first; the last entry serves every later
            level. Default: 128,128,128,64,32,16,8,4 in 2D; 32,32,16,8,4,2 in 3D. (``train.batch_size``
            is not used by this family.)
        steps_to_final: *resolved*: training steps until the last level is fully stabilised.
    """

    fade_images: int = 600_000
    stable_images: int = 600_000
    batch_sizes: list[int] | None = None
    steps_to_final: int | None = None


def _default_loss() -> LossConfig:
    return LossConfig(kind="wgan-gp", gp_weight=10.0, drift=0.001)


def _default_adam() -> AdamConfig:
    return AdamConfig(lr=1e-3, betas=(0.0, 0.99), eps=1e-8)


@dataclass
class PGGANConfig:
    """Everything a progressive-GAN run is built from."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(ema_decay=0.999))
    data: PGGANDataConfig = field(default_factory=PGGANDataConfig)
    model: PGGANModelConfig = field(default_factory=PGGANModelConfig)
    growth: PGGANGrowthConfig = field(default_factory=PGGANGrowthConfig)
    loss: LossConfig = field(default_factory=_default_loss)
    g_optimizer: AdamConfig = field(default_factory=_default_adam)
    d_optimizer: AdamConfig = field(default_factory=_default_adam)
