"""The SPADE family: label map in, multi-channel scan out (Park et al. 2019), so every synthetic image
comes with an exact segmentation.

``medgan train spade --data DATASET --out RUN`` trains it on image + label cases;
``medgan synthesize RUN OUT --masks DIR_OR_DATASET [--per-mask K]`` turns label maps (as given, or
transformed by a mask source) into new image + label cases; the benchmark's ``spade`` stage
draws label maps from ``sample.mask_source`` (classic augmentation of real masks by default), and
``pggan+spade`` (:mod:`medgan.families.spade.dual`) from a progressive GAN trained alongside. See
``docs/spade.md``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgan.errors import ConfigError
from medgan.families._cases import add_case_selection, add_exclusion_override, apply_case_selection
from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.spec import FamilySpec, register_family


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


@dataclass
class SpadeSampleConfig:
    """Where the label maps of new cases come from.

    Attributes:
        mask_source: ``{source: NAME, ...settings}`` of :mod:`medgan.families.spade.masks`
            (``real``, ``augment``, ``lesion-move``, ``pggan``); ``medgan synthesize --mask-source``
            overrides it.
    """

    mask_source: dict[str, Any] = field(default_factory=lambda: {"source": "real"})

    def __post_init__(self) -> None:
        from medgan.families.spade.masks import build_mask_source

        build_mask_source(dict(self.mask_source))  # unknown sources and settings fail here, before training


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
    sample: SpadeSampleConfig = field(default_factory=SpadeSampleConfig)


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


def build(config: SpadeConfig, rank: int, world_size: int, cases: list[dict[str, Any]] | None = None) -> Any:
    """The step object: trained on the dataset of ``data.path``, or on the labelled in-memory ``cases``."""
    from medgan.errors import DataError
    from medgan.families.spade.step import SpadeStep

    if cases is not None:
        labelled = [c for c in cases if c.get("label") is not None]
        if not labelled:
            raise DataError("spade", "no labelled training case")
        return SpadeStep(config, rank, world_size, cases=labelled)
    if not config.data.path:
        raise ConfigError("spade: no dataset given (--data or data.path)")
    return SpadeStep(config, rank, world_size)


def networks(config: SpadeConfig) -> dict[str, Any]:
    """The generator of a resolved config."""
    from medgan.families.spade.step import build_networks

    return {"G": build_networks(config)["G"]}


def sampler(run: Any) -> Any:
    """A loaded run as a sampler: images for label maps drawn from ``sample.mask_source``."""
    from medgan.families.spade.synthesis import SpadeSynthesizer

    return SpadeSynthesizer.from_loaded(run)


#: the benchmark budget: few steps, batch 1, label maps from classic augmentation of real masks
PRESET = {
    "train": {"steps": 300, "batch_size": 1, "n_samples": 0},
    "sample": {"mask_source": {"source": "augment"}},
}


def add_synthesize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--masks", type=Path, required=True,
                        help="label maps: a dataset (any layout) or a folder of label files")
    parser.add_argument("--per-mask", type=int, default=1, help="images generated per label map (default 1)")
    parser.add_argument("--mask-source",
                        help="where the label maps come from: 'real' (as given), 'augment', 'lesion-move', or a "
                             "YAML file {source: NAME, ...options} (default: the run's sample.mask_source, real)")
    parser.add_argument("--n", type=int, help="label maps drawn from the mask source (default: one per input mask)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="cpu", help="torch device for the generator")
    add_exclusion_override(parser)


def synthesize(run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    from medgan.families.spade.masks import mask_source_options
    from medgan.families.spade.synthesis import synthesize_from_masks

    source = mask_source_options(args.mask_source) if args.mask_source else None
    manifest, n = synthesize_from_masks(run_dir, out, args.masks, per_mask=args.per_mask, mask_source=source,
                                        n=args.n, seed=args.seed, device=args.device,
                                        allow_excluded=args.allow_excluded)
    print(f"wrote {n} case(s) to {out}; manifest {manifest}")
    return 0


register_family(FamilySpec(
    name="spade",
    summary="label map -> multi-channel scan (SPADE, 2D/3D); synthetic image + label pairs",
    config_type=SpadeConfig,
    build=build,
    add_train_arguments=add_train_arguments,
    apply_train_arguments=apply_train_arguments,
    networks=networks,
    sampler=sampler,
    preset=PRESET,
    add_synthesize_arguments=add_synthesize_arguments,
    synthesize=synthesize,
))

from medgan.families.spade import dual as _dual  # noqa: E402,F401  (registers the pggan+spade stage)
