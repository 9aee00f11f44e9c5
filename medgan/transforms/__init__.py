"""Classic augmentation for image + label cases, 2D and 3D, as MONAI dictionary transforms.

Spatial transforms (:class:`RandAffined`, :class:`RandElasticd`, :class:`RandFlipd`) compose into one
sampling grid and resample once (:class:`RandSpatiald`, :func:`fuse`); intensity transforms change
image keys only. Keys named like labels (``seg``, ``mask``, ``gt`` ...) are label maps
(:mod:`medgan.transforms.keys`). Every transform is a MONAI ``Randomizable`` drawing from its own ``self.R``, records
what it drew in ``data["meta"]["history"]``, and is registered by name in
:data:`medgan.registry.TRANSFORMS` for augmentation configs (:func:`build_pipeline`).

Example:
    >>> from medgan.transforms import presets
    >>> pipeline = presets.default(keys=("image", "label"), spatial_dims=3)
    >>> pipeline.set_random_state(0)  # doctest: +ELLIPSIS
    <monai.transforms.compose.Compose object at ...>
"""

from medgan.transforms.base import RandomDictTransform, record
from medgan.transforms.config import AugmentConfig, build_pipeline, load_augment_config
from medgan.transforms.intensity import (
    IntensityTransform,
    RandAnisotropyd,
    RandBiasFieldd,
    RandContrastBrightnessd,
    RandGammad,
    RandGaussianBlurd,
    RandGaussianNoised,
    RandGhostingd,
    RandMotiond,
    RandRicianNoised,
    RandSpiked,
)
from medgan.transforms.keys import LABEL_NAMES, is_label_key
from medgan.transforms.spatial import (
    RandAffined,
    RandElasticd,
    RandFlipd,
    RandSpatiald,
    SamplingPlan,
    SpatialTransform,
    fuse,
    resample,
)

__all__ = [
    "LABEL_NAMES", "AugmentConfig", "IntensityTransform", "RandAffined", "RandAnisotropyd", "RandBiasFieldd",
    "RandContrastBrightnessd", "RandElasticd", "RandFlipd", "RandGammad", "RandGaussianBlurd",
    "RandGaussianNoised", "RandGhostingd", "RandMotiond", "RandRicianNoised", "RandSpatiald", "RandSpiked",
    "RandomDictTransform", "SamplingPlan", "SpatialTransform", "build_pipeline", "fuse", "is_label_key",
    "load_augment_config", "record", "resample",
]
