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

This module holds the config (no torch); :mod:`.regions` the training data, :mod:`.step` the
engine step, :mod:`.sampler` synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.losses import LossConfig

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
class LesionInpaintConfig:
    """Everything a lesion-inpainting run is built from (written, resolved, to ``config.yaml``).

    Attributes:
        loss: adversarial loss (``lsgan`` default; ``bce`` is pix2pix's).
        l1_weight: weight of the L1 distance to the real region inside the hole (100, as pix2pix).
        g_optimizer, d_optimizer: Adam; the generator's rate is 1e-3 (pix2pix: 2e-4) because CPU
            budgets allow a thousand steps, not pix2pix's hundreds of thousands.
        masks: label-map deformation used by synthesis.
    """

    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1000, batch_size=4, ema_decay=0.99, sample_every=250, checkpoint_every=250, n_samples=4))
    data: InpaintDataConfig = field(default_factory=InpaintDataConfig)
    model: InpaintModelConfig = field(default_factory=InpaintModelConfig)
    loss: LossConfig = field(default_factory=lambda: LossConfig(kind="lsgan"))
    l1_weight: float = 100.0
    g_optimizer: AdamConfig = field(default_factory=lambda: AdamConfig(lr=1e-3))
    d_optimizer: AdamConfig = field(default_factory=AdamConfig)
    masks: InpaintMaskConfig = field(default_factory=InpaintMaskConfig)

    def __post_init__(self) -> None:
        if not 0.0 <= self.data.healthy_fraction < 1.0:
            raise ValueError("data.healthy_fraction must lie in [0, 1)")
        if self.l1_weight < 0:
            raise ValueError("l1_weight must not be negative")
