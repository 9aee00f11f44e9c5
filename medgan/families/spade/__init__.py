"""The SPADE family: label map in, multi-channel scan out (Park et al. 2019), so every synthetic image
comes with an exact segmentation.

``medgan train spade --data DATASET --out RUN`` trains it on image + label cases;
``medgan synthesize RUN OUT --masks DIR_OR_DATASET [--per-mask K]`` turns label maps (as given, or
transformed by a mask source) into new image + label cases. The benchmark's ``spade`` synthesis
stage lives in :mod:`medgan.families.spade.stage`. See ``docs/spade.md``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgan.errors import ConfigError
from medgan.families._cases import add_case_selection, apply_case_selection
from medgan.registry import GAN_FAMILIES
from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.spec import FamilySpec


@dataclass
class SpadeDataConfig:
    """Where the training pairs come from; the ``resolved`` fields are filled from the data.

    Attributes:
        path: the labelled dataset (set by ``--data``).
        modalities: image channels to generate, in order (default: all of the dataset's).
        cases: train only on these case ids (default: every labelled case not excluded).
        exclude_cases: never train on these case ids (the benchmark's test cases).
        flip_axes: spatial axes randomly flipped (p = 0.5 each) during training; none by default
            (the paper flips left-right: ``[0]`` for RAS volumes).
        cache_mb: keep pre-processed cases in memory up to this size; larger datasets are read
            from disk for every batch.
        spatial_dims: resolved, 2 or 3.
        spatial_shape: resolved grid of the training cases (all must share it).
        padded_shape: resolved grid the networks run on (a multiple of ``2**n_upsamples``).
        label_values: resolved label values found in the training labels (one one-hot channel each).
        intensity_low, intensity_high: resolved per-channel intensities mapped to -1 and 1 (medians
            over the training cases of the 0.5th percentile of the image and the 99.5th of the
            foreground); synthetic images are mapped back with them.
        image_dtype: resolved on-disk dtype of the training images (written images use it).
        n_cases: resolved number of training cases.
    """

    path: str = ""
    modalities: list[str] | None = None
    cases: list[str] | None = None
    exclude_cases: list[str] = field(default_factory=list)
    flip_axes: list[int] = field(default_factory=list)
    cache_mb: int = 2048
    spatial_dims: int | None = None
    spatial_shape: list[int] | None = None
    padded_shape: list[int] | None = None
    label_values: list[int] | None = None
    intensity_low: list[float] | None = None
    intensity_high: list[float] | None = None
    image_dtype: str | None = None
    n_cases: int | None = None


@dataclass
class SpadeModelConfig:
    """Network sizes; the defaults are the paper's.

    Attributes:
        base_channels: generator width ``ngf`` (64); the first blocks have 16 times as many.
        n_upsamples: generator up-samplings (5, the paper's "normal").
        z_dim: noise length (256); 0 = deterministic generator fed by the down-sampled label map.
        hidden_channels: width of the SPADE MLP (128).
        norm: parameter-free normalisation inside SPADE, ``batch`` (paper) or ``instance``.
        spectral: spectral norm in generator and discriminator.
        d_channels, d_layers, d_scales: PatchGAN width ``ndf`` (64), convolutions (4), scales (2).
        use_encoder: the paper's VAE mode: an encoder maps the real image to the noise during
            training (KL weight ``loss.kld``); sampling still draws ``z`` from N(0, I).
        encoder_channels, encoder_downsamples: encoder width (64) and stride-2 layers (6, fewer on
            small grids).
    """

    base_channels: int = 64
    n_upsamples: int = 5
    z_dim: int = 256
    hidden_channels: int = 128
    norm: Literal["batch", "instance"] = "batch"
    spectral: bool = True
    d_channels: int = 64
    d_layers: int = 4
    d_scales: int = 2
    use_encoder: bool = False
    encoder_channels: int = 64
    encoder_downsamples: int = 6

    def __post_init__(self) -> None:
        if self.n_upsamples < 1 or self.d_scales < 1 or self.d_layers < 1:
            raise ValueError("n_upsamples, d_scales and d_layers must be at least 1")
        if self.use_encoder and self.z_dim < 1:
            raise ValueError("use_encoder needs z_dim > 0")


@dataclass
class SpadeLossConfig:
    """Loss weights; the defaults are the paper's.

    Attributes:
        adversarial: ``hinge`` (paper), ``lsgan`` or ``bce``.
        feature_matching: weight of the discriminator feature-matching L1 loss (10).
        kld: weight of the KL term in encoder mode (0.05).

    The paper's optional VGG perceptual loss is not provided (it needs ImageNet weights, and medgan
    never downloads); see ``docs/spade.md``.
    """

    adversarial: Literal["hinge", "lsgan", "bce"] = "hinge"
    feature_matching: float = 10.0
    kld: float = 0.05


def _default_train() -> TrainConfig:
    return TrainConfig(steps=20000, batch_size=4, amp_dtype="bfloat16", sample_every=1000,
                       checkpoint_every=1000, n_samples=4)


@dataclass
class SpadeConfig:
    """Everything a SPADE run is built from (written, resolved, to the run's ``config.yaml``).

    ``g_optimizer``/``d_optimizer`` default to the authors' TTUR setting: Adam, lr 1e-4 (G, with the
    encoder) and 4e-4 (D), betas (0, 0.9). ``ema`` keeps an average generator for sampling (off in
    the paper).
    """

    train: TrainConfig = field(default_factory=_default_train)
    data: SpadeDataConfig = field(default_factory=SpadeDataConfig)
    model: SpadeModelConfig = field(default_factory=SpadeModelConfig)
    loss: SpadeLossConfig = field(default_factory=SpadeLossConfig)
    g_optimizer: AdamConfig = field(default_factory=lambda: AdamConfig(lr=1e-4, betas=(0.0, 0.9)))
    d_optimizer: AdamConfig = field(default_factory=lambda: AdamConfig(lr=4e-4, betas=(0.0, 0.9)))
    ema: bool = False


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="labelled dataset (images + label maps)")
    parser.add_argument("--modalities", help="comma-separated image channels to generate (default: all)")
    add_case_selection(parser)


def apply_train_arguments(args: argparse.Namespace, config: SpadeConfig) -> SpadeConfig:
    config.data.path = str(args.data)
    if args.modalities:
        config.data.modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    apply_case_selection(args, config.data)
    return config


def build(config: SpadeConfig, rank: int, world_size: int) -> Any:
    from medgan.families.spade.step import SpadeStep

    if not config.data.path:
        raise ConfigError("spade: no dataset given (--data or data.path)")
    return SpadeStep(config, rank, world_size)


def add_synthesize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--masks", type=Path, required=True,
                        help="label maps: a dataset (any layout) or a folder of label files")
    parser.add_argument("--per-mask", type=int, default=1, help="images generated per label map (default 1)")
    parser.add_argument("--mask-source", default="real",
                        help="where the label maps come from: 'real' (as given, the default), 'augment', "
                             "'lesion-move', or a YAML file {source: NAME, ...options}")
    parser.add_argument("--n", type=int, help="label maps drawn from the mask source (default: one per input mask)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="cpu", help="torch device for the generator")


def synthesize(run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    from medgan.families.spade.masks import mask_source_options
    from medgan.families.spade.synthesis import synthesize_from_masks

    manifest, n = synthesize_from_masks(run_dir, out, args.masks, per_mask=args.per_mask,
                                        mask_source=mask_source_options(args.mask_source), n=args.n,
                                        seed=args.seed, device=args.device)
    print(f"wrote {n} case(s) to {out}; manifest {manifest}")
    return 0


if "spade" not in GAN_FAMILIES:
    GAN_FAMILIES.register("spade")(FamilySpec(
        name="spade",
        summary="label map -> multi-channel scan (SPADE, 2D/3D); synthetic image + label pairs",
        config_type=SpadeConfig,
        add_train_arguments=add_train_arguments,
        apply_train_arguments=apply_train_arguments,
        build=build,
        add_synthesize_arguments=add_synthesize_arguments,
        synthesize=synthesize,
    ))

from medgan.families.spade import dual as _dual  # noqa: E402,F401  (registers the pggan+spade stage)
from medgan.families.spade import stage as _stage  # noqa: E402,F401  (registers the benchmark stage)
