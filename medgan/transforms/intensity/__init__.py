"""Random intensity transforms (applied to image keys only)."""

from medgan.transforms.intensity.artefacts import RandAnisotropyd, RandGhostingd, RandMotiond, RandSpiked
from medgan.transforms.intensity.base import IntensityTransform
from medgan.transforms.intensity.bias_field import RandBiasFieldd
from medgan.transforms.intensity.filters import RandContrastBrightnessd, RandGammad, RandGaussianBlurd
from medgan.transforms.intensity.noise import RandGaussianNoised, RandRicianNoised

__all__ = ["IntensityTransform", "RandAnisotropyd", "RandBiasFieldd", "RandContrastBrightnessd", "RandGammad",
           "RandGaussianBlurd", "RandGaussianNoised", "RandGhostingd", "RandMotiond", "RandRicianNoised",
           "RandSpiked"]
