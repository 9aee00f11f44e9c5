"""Typed settings of a ConSinGAN run (``config.yaml`` of the run folder), and the scale pyramid.

Fields marked *resolved* are filled in from the training case when the run is built and written with
the run, so synthesis needs nothing but the run folder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.losses import LossConfig


@dataclass
class ConSinGANDataConfig:
    """The one training case.

    Attributes:
        path: a dataset folder (``--data``), or one image file with ``label`` its label file;
            empty when the case is given in memory (benchmark stage).
        case: id of the case to learn when the dataset holds several (benchmark: default the first).
        label: label file when ``path`` is an image file.
        cases, exclude_cases: case selection; the case must be selected and not excluded.
        case_id, modalities, label_values, label_dtype, image_dtype, data_shape, affine,
            intensity_lo, intensity_hi: *resolved* from the case: its id, channel names, the label
            values present (each generated voxel gets one of them), storage dtypes, spatial shape,
            affine, and the intensity range mapped to [-1, 1].
    """

    path: str = ""
    case: str = ""
    label: str = ""
    cases: list[str] | None = None
    exclude_cases: list[str] = field(default_factory=list)
    case_id: str = ""
    modalities: list[str] | None = None
    label_values: list[int] | None = None
    label_dtype: str = ""
    image_dtype: str = ""
    data_shape: list[int] | None = None
    affine: list[list[float]] | None = None
    intensity_lo: list[float] | None = None
    intensity_hi: list[float] | None = None


@dataclass
class ConSinGANModelConfig:
    """The pyramid and the networks (Hinz et al. 2021 defaults: 6 stages, 25 to 250 pixels, 64 filters).

    Attributes:
        stages: most stages; fewer when the case is small (each stage at least 4/3 of the one below).
        min_size: shortest side of the coarsest scale (voxels).
        max_size: longest side of the finest scale; 0: 250 in 2D, 64 in 3D (the case is downscaled
            to it, and the samples are resampled back to the case's grid).
        width: filters of every convolution (``nfc``).
        layers: convolutions per generator stage and in the discriminator (``num_layer``).
        spatial_dims, channels, scales: *resolved*: 2 or 3, generated channels (image channels plus
            one per label value), the spatial shape of each stage, coarse first.
    """

    stages: int = 6
    min_size: int = 25
    max_size: int = 0
    width: int = 64
    layers: int = 3
    spatial_dims: int = 0
    channels: int = 0
    scales: list[list[int]] | None = None


@dataclass
class ConSinGANConfig:
    """A ConSinGAN run.

    Attributes:
        mode: ``generation`` (variations from noise, image and label channels) or ``harmonization``
            (image channels only; the first stage gets the case itself, intensity-augmented, instead
            of noise, so that a naively pasted lesion given there comes out harmonized; paper
            settings: 3 stages, coarsest side 120).
        augment_scale, augment_shift, augment_noise: harmonization's augmentation of the first
            stage's input, per channel in [-1, 1] units: contrast factor in ``1 ± scale``, shift in
            ``± shift``, additive Gaussian noise of standard deviation ``noise``.
        trained_stages: how many of the newest stages train concurrently (``N``, paper: 3).
        lr_scale: δ, the learning-rate factor per stage below the newest (paper: 0.1).
        steps_per_stage: iterations per stage (0: ``train.steps`` split evenly among the stages).
        n_critic, g_repeats: critic and generator updates per iteration (paper: 3 and 3).
        reconstruction_weight: α of the reconstruction loss (paper: 10).
        noise_amp: noise amplitude factor of the stages above the first, times the RMSE of the
            reconstruction at that stage's start (paper: 0.1).
        lr_drop: fraction of a stage after which the rate drops by 10x (paper: 0.8).
    """

    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=6000, batch_size=1, ema_decay=0.0,
                                                                      sample_every=1000, n_samples=4,
                                                                      checkpoint_every=1000))
    data: ConSinGANDataConfig = field(default_factory=ConSinGANDataConfig)
    model: ConSinGANModelConfig = field(default_factory=ConSinGANModelConfig)
    loss: LossConfig = field(default_factory=lambda: LossConfig(kind="wgan-gp", gp_weight=0.1))
    g: AdamConfig = field(default_factory=lambda: AdamConfig(lr=5e-4, betas=(0.5, 0.999)))
    d: AdamConfig = field(default_factory=lambda: AdamConfig(lr=5e-4, betas=(0.5, 0.999)))
    mode: Literal["generation", "harmonization"] = "generation"
    augment_scale: float = 0.2
    augment_shift: float = 0.2
    augment_noise: float = 0.05
    trained_stages: int = 3
    lr_scale: float = 0.1
    steps_per_stage: int = 0
    n_critic: int = 3
    g_repeats: int = 3
    reconstruction_weight: float = 10.0
    noise_amp: float = 0.1
    lr_drop: float = 0.8


def pyramid_scales(shape: Sequence[int], stages: int, min_size: int, max_size: int) -> list[list[int]]:
    """Spatial shape of each stage, coarse first, as ConSinGAN spaces them (more scales near the coarse end).

    The finest scale is ``shape`` shrunk so its longest side is at most ``max_size``; the coarsest has
    ``min_size`` on its shortest side; the scale of stage ``i < S-1`` is
    ``r ** ((S-2) / ln(S-1) * ln(S-1-i) + 1)`` with ``r = (min_size / shortest) ** (1 / (S-1))``
    (Hinz et al. 2021, ``create_reals_pyramid``). The number of stages ``S`` is ``stages`` or fewer,
    so that no stage is less than 4/3 of the one below on average.

    Args:
        shape: the case's spatial shape.
        stages: most stages.
        min_size, max_size: coarsest shortest side, finest longest side.

    Returns:
        ``S`` shapes, each a list of ints.

    Example:
        >>> pyramid_scales([256, 256], 6, 25, 250)[0], pyramid_scales([16, 16], 6, 8, 250)
        ([25, 25], [[8, 8], [9, 9], [13, 13], [16, 16]])
    """
    shrink = min(1.0, max_size / max(shape))
    fine = [max(1, round(s * shrink)) for s in shape]
    shortest = min(fine)
    if shortest <= min_size or stages <= 1:
        return [fine]
    most = 1 + math.ceil(math.log(shortest / min_size) / math.log(4 / 3))
    count = max(2, min(stages, most))
    stop = count - 1
    ratio = (min_size / shortest) ** (1 / stop)
    scales = []
    for i in range(stop):
        exponent = stop if stop == 1 else (stop - 1) / math.log(stop) * math.log(stop - i) + 1
        factor = ratio ** exponent
        scales.append([max(1, round(s * factor)) for s in fine])
    return scales + [fine]
