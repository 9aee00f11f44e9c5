"""Lesion inpainting: a generator that fills a hole in real tissue with a lesion whose labels it is
given (the approach of GliGAN, Ferreira et al. 2024, behind the BraTS 2023 adult-glioma winner).

Training: every real lesion of the training cases gives a region (the lesion's box plus a context
margin, sized in mm from the data); the lesion and a margin around it are cut out (the *hole*), and
the model learns to fill the hole from the surrounding tissue and the lesion's label map, all
modalities at once, with pix2pix's L1 + PatchGAN losses. Regions of healthy tissue with a
lesion-shaped hole and an empty label map teach it to fill plain tissue too.

Synthesis: a real training lesion's label map, deformed and rescaled with medgan's spatial
transforms, is placed in a case (healthy first); the model fills the hole around it; the labels
written are exactly that label map. See ``docs/lesion-inpainting.md``.

``medgan train lesion-inpaint --data DATASET --out RUN`` trains it; ``medgan synthesize RUN OUT
--into DATASET --n N`` inpaints its lesions into the cases of a dataset; as a benchmark stage it is
``synthesis: {stage: lesion-inpaint, options: {train: {steps: 400}}}``.

This module holds the config, the command-line options and the family's registration (no torch);
:mod:`.regions` the training data, :mod:`.step` the engine step, :mod:`.sampler` synthesis,
:mod:`.synthesize` ``medgan synthesize``.
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

FAMILY = "lesion-inpaint"


@dataclass
class InpaintDataConfig:
    """Where the lesions come from and how regions are cut.

    Attributes:
        path: the labelled dataset.
        modalities: image channels, in order (default: all of the dataset's).
        cases, exclude_cases: training case selection (exclude the test split).
        spatial_dims: 2 or 3 (that of the data; a 2D model needs 2D data).
        region_size: region in voxels per axis at ``spacing`` (default, resolved: the
            ``percentile`` lesion extent plus ``context_mm + hole_margin_mm`` on each side, rounded
            up to a multiple of ``2 ** model.depth``).
        percentile: of the training lesions' extents (100: no training lesion truncated).
        context_mm: tissue kept around the hole of the largest lesion on each side.
        hole_margin_mm: the hole is the lesion grown by this much (the model also fills this rim
            of tissue, so the lesion blends into its surroundings).
        healthy_fraction: share of training samples that are healthy regions with an empty label map.
        clip_high: intensities are scaled per case so the foreground's 0.5th and 99.5th percentiles
            become -1 and 1, then clipped to ``[-1, clip_high]``: real enhancing tumour lies above the
            99.5th percentile in T1c (60-97 % of its voxels in the sample tumours), so clipping at 1
            would cap its contrast.
        jitter: random shift of the region around the lesion during training (voxels).
        flips: random flips along every axis during training.
        min_voxels: smaller lesion components are ignored.
        max_label_maps: training label maps kept in the run for synthesis.
        spacing: working voxel size in mm (resolved: the training cases' median; cases of another
            spacing are resampled to it).
        label_values: label values of the training lesions, 0 included (resolved): the one-hot
            channels, in this order.
        lesion_extent_mm: per-axis extent of the ``percentile`` lesion (resolved).
        n_lesions, n_healthy: training samples found (resolved).
    """

    path: str = ""
    modalities: list[str] | None = None
    cases: list[str] | None = None
    exclude_cases: list[str] = field(default_factory=list)
    spatial_dims: int | None = None
    region_size: list[int] | None = None
    percentile: float = 100.0
    context_mm: float = 7.0
    hole_margin_mm: float = 3.5
    healthy_fraction: float = 0.25
    clip_high: float = 3.0
    jitter: int = 2
    flips: bool = True
    min_voxels: int = 20
    max_label_maps: int = 512
    spacing: list[float] | None = None
    label_values: list[int] | None = None
    lesion_extent_mm: list[float] | None = None
    n_lesions: int | None = None
    n_healthy: int | None = None


@dataclass
class InpaintModelConfig:
    """Network sizes (pix2pix's U-Net and PatchGAN, narrower and shallower for CPU budgets).

    Attributes:
        g_channels, depth, g_norm, dropout: U-Net base width, downsamplings, normalisation, dropout.
        d_channels, d_layers, d_norm: PatchGAN base width, stride-2 layers, normalisation.
    """

    g_channels: int = 16
    depth: int = 3
    g_norm: Literal["instance", "batch", "none"] = "instance"
    dropout: float = 0.0
    d_channels: int = 16
    d_layers: int = 2
    d_norm: Literal["instance", "batch", "none"] = "instance"


@dataclass
class InpaintPriorConfig:
    """The contrast prior the generator's output is a residual on (``kind: contrast``).

    Inside the hole the generator starts from ``local tissue level + offset[label]``: the level is
    the mean of the context in a ring of ``ring_mm`` around the hole, per modality; the offset of
    each label value the mean, over the training lesions, of (mean inside that label - ring mean), in
    scaled units (label 0: the unlabelled rim of the hole, which gives the border a one-step ramp).
    With ``texture``, white noise averaged over a 3-voxel box (neighbour correlation about 0.6, as
    the sample data's tissue) scaled by each label's mean standard deviation in the training
    lesions is added, so lesion interiors are not smoother than real ones. The network learns
    what the prior misses (structure from the context, deviations from the mean).

    Attributes:
        kind: ``contrast`` (default) or ``none`` (the generator predicts intensities directly).
        ring_mm: width of the ring of context around the hole that sets the local level.
        smooth: box width in voxels over which the one-hot label map is averaged in the prior (1:
            none; 3 dilutes a one-voxel enhancing rim to about a third of its contrast).
        texture: add the seeded texture noise (training: from the batch's generator; synthesis: from
            the caller's seed).
        units: ``scaled`` (offsets and spreads in the scaled intensities) or ``z`` (in units of the
            ring's standard deviation, as the realism gate measures contrast; experimental).
        contrast: offset per label value (rows in the order of ``data.label_values``) and modality
            (resolved from the training regions; training cases only).
        spread: standard deviation inside each label value (0: the hole's rim) per modality, the
            texture's amplitude (resolved likewise).
    """

    kind: Literal["contrast", "none"] = "contrast"
    ring_mm: float = 7.0
    smooth: int = 1
    texture: bool = True
    units: Literal["scaled", "z"] = "scaled"
    contrast: list[list[float]] | None = None
    spread: list[list[float]] | None = None


@dataclass
class InpaintMaskConfig:
    """How synthesis turns real training label maps into new ones (medgan's spatial transforms, in mm).

    Attributes:
        rotate: largest rotation in degrees (about every axis in 3D).
        scale: ``(low, high)`` isotropic zoom range (new sizes).
        elastic_mm: largest elastic displacement (new shapes); 0 for none.
        flips: flip each axis with probability 1/2.
    """

    rotate: float = 20.0
    scale: tuple[float, float] = (0.8, 1.2)
    elastic_mm: float = 3.0
    flips: bool = True


@dataclass
class InpaintInsertConfig:
    """Where and how many lesions synthesis puts into a case (``medgan synthesize --into``, the
    benchmark stage); command-line options override it.

    Attributes:
        lesions_per_case: lesions inserted into each new case.
        organ_labels: label values of the organ to insert into (default: the intensity foreground).
        margin_mm: least distance to existing lesions (default: the hole margin plus one voxel).
        inset_mm: least distance of a new lesion to the edge of the foreground / organ.
        mask_source: a labelled dataset whose lesions (connected components of label > 0) are the
            label maps to inpaint, instead of the run's deformed training maps; their label values
            must be among the run's.
    """

    lesions_per_case: int = 1
    organ_labels: list[int] | None = None
    margin_mm: float | None = None
    inset_mm: float = 10.0
    mask_source: str | None = None

    def __post_init__(self) -> None:
        if self.lesions_per_case < 1:
            raise ValueError("lesions_per_case must be at least 1")
        if self.inset_mm < 0 or (self.margin_mm is not None and self.margin_mm < 0):
            raise ValueError("inset_mm and margin_mm must not be negative")


@dataclass
class LesionInpaintConfig:
    """Everything a lesion-inpainting run is built from (written, resolved, to ``config.yaml``).

    Attributes:
        loss: adversarial loss (``lsgan`` default; ``bce`` is pix2pix's).
        l1_weight: weight of the L1 distance to the real region inside the hole (100, as pix2pix).
        g_optimizer, d_optimizer: Adam; the generator's rate is 1e-3 (pix2pix: 2e-4) because CPU
            budgets allow hundreds of steps, not pix2pix's hundreds of thousands.
        prior: the per-label contrast prior the generator adds its output to.
        masks: label-map deformation used by synthesis.
        insert: where and how many lesions synthesis inserts.
    """

    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=600, batch_size=4, ema_decay=0.99, sample_every=200, checkpoint_every=200, n_samples=4))
    data: InpaintDataConfig = field(default_factory=InpaintDataConfig)
    model: InpaintModelConfig = field(default_factory=InpaintModelConfig)
    loss: LossConfig = field(default_factory=lambda: LossConfig(kind="lsgan"))
    l1_weight: float = 100.0
    g_optimizer: AdamConfig = field(default_factory=lambda: AdamConfig(lr=1e-3))
    d_optimizer: AdamConfig = field(default_factory=AdamConfig)
    prior: InpaintPriorConfig = field(default_factory=InpaintPriorConfig)
    masks: InpaintMaskConfig = field(default_factory=InpaintMaskConfig)
    insert: InpaintInsertConfig = field(default_factory=InpaintInsertConfig)

    def __post_init__(self) -> None:
        if not 0.0 <= self.data.healthy_fraction < 1.0:
            raise ValueError("data.healthy_fraction must lie in [0, 1)")
        if self.data.clip_high <= 1.0:
            raise ValueError("data.clip_high must be above 1")
        if self.prior.smooth < 1 or self.prior.smooth % 2 == 0:
            raise ValueError("prior.smooth must be an odd number of voxels")
        if self.l1_weight < 0:
            raise ValueError("l1_weight must not be negative")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="labelled dataset to take lesions from")
    parser.add_argument("--modalities", help="comma-separated image channels to use (default: all)")
    parser.add_argument("--spatial-dims", type=int, choices=[2, 3], help="2D or 3D model (default: as the data)")
    parser.add_argument("--region-size", type=lambda v: [int(x) for x in v.split(",")],
                        help="region in voxels per axis, e.g. 40,40,40 (default: from the lesions' extents in mm)")
    add_case_selection(parser)


def apply_train_arguments(args: argparse.Namespace, config: LesionInpaintConfig) -> LesionInpaintConfig:
    config.data.path = str(args.data)
    if args.modalities:
        config.data.modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    if args.spatial_dims:
        config.data.spatial_dims = args.spatial_dims
    if args.region_size:
        config.data.region_size = args.region_size
    apply_case_selection(args, config.data)
    return config


def build(config: LesionInpaintConfig, rank: int, world_size: int, cases: list[dict[str, Any]] | None = None) -> Any:
    """The step object. With in-memory ``cases`` (the benchmark) it trains on exactly those cases, read
    back by id from their dataset (their ``meta["source"]["root"]``)."""
    from medgan.families.lesion_inpaint.step import LesionInpaintStep

    if cases is not None:
        roots = {str(c.get("meta", {}).get("source", {}).get("root", "")) for c in cases}
        if len(roots) != 1 or "" in roots:
            raise ConfigError(f"{FAMILY}: the training cases must come from one dataset folder")
        data = config.data
        data.path, data.cases = roots.pop(), [str(c["id"]) for c in cases]
        data.modalities = list(cases[0]["meta"].get("modalities") or data.modalities or []) or None
        data.spatial_dims = data.spatial_dims or int(cases[0]["image"].ndim) - 1
    if not config.data.path:
        raise ConfigError(f"{FAMILY}: no dataset given (--data or data.path)")
    return LesionInpaintStep(config, rank, world_size)


def networks(config: LesionInpaintConfig) -> dict[str, Any]:
    """The generator of a resolved config."""
    from medgan.families.lesion_inpaint.step import build_networks

    return {"G": build_networks(config)[0]}


def sampler(run: Any) -> Any:
    """A loaded run as a sampler: lesions inpainted into given cases (healthy first) with its ``insert`` settings."""
    from medgan.families.lesion_inpaint.sampler import InpaintSampler, LesionInpainter

    return InpaintSampler(LesionInpainter.from_loaded(run), run.config.insert)


#: the benchmark budget (every fold x size x seed trains one model): the CPU defaults, fewer steps
#: (with the contrast prior the sample data pass the realism gate from 300 steps)
PRESET: dict[str, Any] = {"train": {"steps": 400}}


def add_synthesize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--into", type=Path, required=True, help="dataset whose cases receive the lesions")
    parser.add_argument("--n", type=int, required=True, help="number of new cases to write")
    parser.add_argument("--lesions-per-case", type=int, help="lesions per new case (default: the run's insert "
                                                             "settings, 1)")
    parser.add_argument("--organ-labels", type=lambda v: [int(x) for x in v.split(",")],
                        help="label values of the organ to insert into (default: the intensity foreground)")
    parser.add_argument("--margin-mm", type=float, help="least distance to existing lesions in mm")
    parser.add_argument("--inset-mm", type=float, help="least distance to the foreground's edge in mm (default 10)")
    parser.add_argument("--mask-source", type=Path, help="labelled dataset whose lesions are the label maps "
                                                         "to inpaint (default: the run's deformed training maps)")
    parser.add_argument("--no-montage", action="store_true", help="do not write montage.png")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", default="cpu", help="torch device for the generator")
    add_case_selection(parser, use="insert lesions into")
    add_exclusion_override(parser)


def synthesize(run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    from medgan.families.lesion_inpaint.synthesize import inpaint_into

    manifest = inpaint_into(run_dir, out, args.into, n=args.n, lesions_per_case=args.lesions_per_case,
                            seed=args.seed, cases=args.cases, exclude_cases=args.exclude_cases,
                            allow_excluded=args.allow_excluded, organ_labels=args.organ_labels,
                            margin_mm=args.margin_mm, inset_mm=args.inset_mm, mask_source=args.mask_source,
                            device=args.device)
    print(f"wrote {args.n} case(s) to {out}; manifest {manifest}")
    return 0


register_family(FamilySpec(
    name=FAMILY,
    summary="lesions inpainted into real tissue from a label map (GliGAN-style pix2pix, 2D/3D)",
    config_type=LesionInpaintConfig,
    build=build,
    add_train_arguments=add_train_arguments,
    apply_train_arguments=apply_train_arguments,
    networks=networks,
    sampler=sampler,
    preset=PRESET,
    add_synthesize_arguments=add_synthesize_arguments,
    synthesize=synthesize,
))
