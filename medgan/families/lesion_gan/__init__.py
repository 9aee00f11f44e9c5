"""The lesion GAN family: DCGAN-style 2D/3D generation of a lesion patch together with its mask,
optionally conditioned on the lesion class (Frid-Adar et al. 2018), for insertion into real scans.

``medgan train lesion-gan --data DATASET --out RUN`` trains it; ``medgan synthesize RUN OUT --into
DATASET --n N`` inserts its lesions into the cases of a dataset. See ``docs/lesion-gan.md``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgan.errors import ConfigError
from medgan.families._cases import add_case_selection, add_exclusion_override, apply_case_selection
from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.losses import LossConfig
from medgan.training.spec import FamilySpec, register_family


@dataclass
class LesionDataConfig:
    """Where the lesions come from.

    Attributes:
        path: the labelled dataset (set by ``--data``).
        modalities: image channels to use, in order (default: all of the dataset's).
        cases: train only on these case ids (default: every labelled case not excluded).
        exclude_cases: never train on these case ids (the benchmark's test cases).
        spatial_dims: 2 or 3 (default: that of the data).
        patch_size: patch edge length, a power of two (default: from the data, the smallest that
            holds the largest training lesion plus a voxel on each side; see
            :func:`medgan.families._lesion_sizes.dcgan_patch_size`).
        jitter: random shift of the crop around the lesion centre during training (voxels); with
            the default patch size it is lowered so the largest lesion stays whole.
        flips: random flips along every axis during training.
        min_voxels: smaller lesion components are ignored.
        mask: ``binary`` (the mask marks the lesion, its label is the class) or ``labels`` (the mask
            channel carries the label values of multi-label lesions such as BraTS tumours).
        classes: label values of the lesion classes found (resolved from the data).
        label_values: label values of the training patches, 0 included (resolved): the mask
            channel's encoding (see :mod:`medgan.families.lesion_gan.codec`), recorded so that
            synthesis decodes exactly what training encoded.
        n_patches: number of training patches found (resolved).
        spacing: voxel size of the training cases in mm (resolved); synthesis resamples lesions
            from it to the spacing of the case they go into.
        lesion_extent_mm: per-axis extent of the largest training lesion in mm (resolved).
        augment: classic augmentation of every training patch before the crop (as Frid-Adar et al.
            enlarged their GAN's training set): ``spatial`` (rotation ±15°, scaling 0.9–1.1 and a
            mild elastic deformation, in voxel units, labels by nearest neighbour) or the path of an
            augmentation YAML as used by ``medgan augment``; ``None``: none.
    """

    path: str = ""
    modalities: list[str] | None = None
    cases: list[str] | None = None
    exclude_cases: list[str] = field(default_factory=list)
    spatial_dims: int | None = None
    patch_size: int | None = None
    jitter: int = 4
    flips: bool = True
    min_voxels: int = 5
    mask: Literal["binary", "labels"] = "binary"
    classes: list[int] | None = None
    label_values: list[int] | None = None
    n_patches: int | None = None
    augment: str | None = None
    spacing: list[float] | None = None
    lesion_extent_mm: list[float] | None = None


@dataclass
class LesionModelConfig:
    """DCGAN sizes.

    Attributes:
        latent_dim: noise vector length.
        g_channels, d_channels: base widths of generator and discriminator.
        conditional: condition on the lesion class (only when the data has more than one class).
        d_norm: discriminator normalisation; ``auto`` is batch norm, or layer norm for WGAN-GP.
    """

    latent_dim: int = 128
    g_channels: int = 64
    d_channels: int = 64
    conditional: bool = True
    d_norm: Literal["auto", "batch", "instance", "layer", "none"] = "auto"


@dataclass
class LesionInsertConfig:
    """How generated lesions go into scans (``medgan synthesize --into``, the benchmark stage,
    ``RandLesionInsertiond``); command-line options override it.

    Attributes:
        lesions_per_case: lesions inserted into each new case.
        classes: lesion classes (label values) to draw from (default: all of the run's).
        organ_labels: label values of the organ to insert into (default: a body/brain mask from the
            image intensities).
        margin: voxels kept between a new and an existing lesion.
        border: width of the blended border (voxels).
    """

    lesions_per_case: int = 1
    classes: list[int] | None = None
    organ_labels: list[int] | None = None
    margin: int = 3
    border: float = 2.0

    def __post_init__(self) -> None:
        if self.lesions_per_case < 1:
            raise ValueError("lesions_per_case must be at least 1")


@dataclass
class LesionGANConfig:
    """Everything a lesion-GAN run is built from (written, resolved, to the run's ``config.yaml``)."""

    train: TrainConfig = field(default_factory=TrainConfig)
    data: LesionDataConfig = field(default_factory=LesionDataConfig)
    model: LesionModelConfig = field(default_factory=LesionModelConfig)
    insert: LesionInsertConfig = field(default_factory=LesionInsertConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    n_critic: int = 1
    g_optimizer: AdamConfig = field(default_factory=AdamConfig)
    d_optimizer: AdamConfig = field(default_factory=AdamConfig)

    def __post_init__(self) -> None:
        if self.n_critic < 1:
            raise ValueError("n_critic must be at least 1")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="labelled dataset to take lesions from")
    parser.add_argument("--modalities", help="comma-separated image channels to use (default: all)")
    parser.add_argument("--spatial-dims", type=int, choices=[2, 3], help="2D or 3D model (default: as the data)")
    parser.add_argument("--patch-size", type=int, help="patch edge length (default: from the largest training lesion)")
    add_case_selection(parser)


def apply_train_arguments(args: argparse.Namespace, config: LesionGANConfig) -> LesionGANConfig:
    config.data.path = str(args.data)
    if args.modalities:
        config.data.modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    if args.spatial_dims:
        config.data.spatial_dims = args.spatial_dims
    if args.patch_size:
        config.data.patch_size = args.patch_size
    apply_case_selection(args, config.data)
    return config


def build(config: LesionGANConfig, rank: int, world_size: int, cases: list[dict[str, Any]] | None = None) -> Any:
    """The step object. With in-memory ``cases`` (the benchmark) it trains on exactly those cases, read
    back by id from their dataset (their ``meta["source"]["root"]``)."""
    from medgan.families.lesion_gan.step import LesionGANStep

    if cases is not None:
        roots = {str(c.get("meta", {}).get("source", {}).get("root", "")) for c in cases}
        if len(roots) != 1 or "" in roots:
            raise ConfigError("lesion-gan: the training cases must come from one dataset folder")
        data = config.data
        data.path, data.cases = roots.pop(), [str(c["id"]) for c in cases]
        data.modalities = list(cases[0]["meta"].get("modalities") or data.modalities or []) or None
        data.spatial_dims = data.spatial_dims or int(cases[0]["image"].ndim) - 1
    if not config.data.path:
        raise ConfigError("lesion-gan: no dataset given (--data or data.path)")
    return LesionGANStep(config, rank, world_size, augment=patch_augmenter(config.data.augment))


def networks(config: LesionGANConfig) -> dict[str, Any]:
    """The generator of a resolved config."""
    from medgan.families.lesion_gan.step import build_networks

    return {"G": build_networks(config, len(config.data.modalities or [1]))[0]}


def sampler(run: Any) -> Any:
    """A loaded run as a sampler: its lesions inserted into given cases with the run's ``insert`` settings."""
    from medgan.families.lesion_gan.sampling import LesionGenerator, LesionSampler

    return LesionSampler(LesionGenerator.from_loaded(run), run.config.insert)


#: the benchmark budget (every data fraction x seed trains one GAN): a small DCGAN, multi-label masks
PRESET = {
    "train": {"steps": 300, "batch_size": 16},
    "data": {"mask": "labels"},
    "model": {"latent_dim": 64, "g_channels": 32, "d_channels": 32},
    "loss": {"kind": "bce"},
}


#: the ``spatial`` patch augmentation: geometric only, since patches are already intensity-scaled
SPATIAL_PATCH_AUGMENT = {"label_mode": "nearest", "transforms": [
    {"name": "affine", "prob": 0.8, "rotate": 15.0, "scale": [0.9, 1.1]},
    {"name": "elastic", "prob": 0.3, "magnitude_mm": 1.5, "control_points": 5},
]}


def patch_augmenter(spec: str | None) -> Any:
    """``augment(sample, rng) -> sample`` for :class:`LesionGANStep` from ``data.augment`` (or ``None``)."""
    if not spec:
        return None
    from medgan.transforms.config import build_pipeline
    from medgan.transforms.seeded import seeded

    apply = seeded(build_pipeline(SPATIAL_PATCH_AUGMENT if spec == "spatial" else Path(spec),
                                  keys=("image", "label"), label_keys=("label",)))

    def augment(sample: dict[str, Any], rng: Any) -> dict[str, Any]:
        return apply(sample, int(rng.integers(2**31 - 1)))

    return augment


def add_synthesize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--into", type=Path, required=True, help="dataset whose cases receive the lesions")
    parser.add_argument("--n", type=int, required=True, help="number of new cases to write")
    parser.add_argument("--lesions-per-case", type=int,
                        help="lesions inserted into each new case (default: the run's insert.lesions_per_case, 1)")
    parser.add_argument("--class", dest="lesion_class", type=int, action="append",
                        help="label value of the lesion class to insert (repeatable; default: as in training)")
    parser.add_argument("--organ-labels", type=lambda v: [int(x) for x in v.split(",")],
                        help="label values of the organ to insert into (default: a body/brain mask "
                             "from image intensity)")
    parser.add_argument("--margin", type=int, help="voxels kept between a new and an existing lesion (default 3)")
    parser.add_argument("--border", type=float, help="width of the blended border in voxels (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="cpu", help="torch device for the generator")
    add_case_selection(parser, use="insert lesions into")
    add_exclusion_override(parser)


def synthesize(run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    from medgan.families.lesion_gan.sampling import synthesize_into

    manifest = synthesize_into(run_dir, out, args.into, n=args.n, lesions_per_case=args.lesions_per_case,
                               classes=args.lesion_class, organ_labels=args.organ_labels, margin=args.margin,
                               border=args.border, seed=args.seed, cases=args.cases,
                               exclude_cases=args.exclude_cases, allow_excluded=args.allow_excluded,
                               device=args.device)
    print(f"wrote {args.n} case(s) to {out}; manifest {manifest}")
    return 0


register_family(FamilySpec(
    name="lesion-gan",
    summary="lesion patches with their masks (2D/3D DCGAN), inserted into real scans",
    config_type=LesionGANConfig,
    build=build,
    add_train_arguments=add_train_arguments,
    apply_train_arguments=apply_train_arguments,
    networks=networks,
    sampler=sampler,
    preset=PRESET,
    add_synthesize_arguments=add_synthesize_arguments,
    synthesize=synthesize,
))
