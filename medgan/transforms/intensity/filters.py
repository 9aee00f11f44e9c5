"""Gaussian blur, gamma, contrast / brightness."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch

from medgan.registry import TRANSFORMS
from medgan.transforms.intensity.base import IntensityTransform, uniform_range


@TRANSFORMS.register("gaussian_blur")
class RandGaussianBlurd(IntensityTransform):
    """Gaussian blur with a standard deviation in mm drawn per axis from ``(0, sigma_mm)`` or a range.

    Args:
        keys, prob: see :class:`IntensityTransform`.
        sigma_mm: largest sigma in mm, or a ``(low, high)`` range. ``0`` is the identity.
    """

    name = "gaussian_blur"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 sigma_mm: float | Sequence[float] = 1.0, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.sigma = uniform_range(sigma_mm if not isinstance(sigma_mm, (int, float)) else (0.0, sigma_mm),
                                   "sigma_mm", low=0.0, high=50.0)

    def draw(self) -> dict[str, Any] | None:
        return {"sigma_mm": self.R.uniform(self.sigma[0], self.sigma[1], 3).tolist()}

    def apply(self, x: torch.Tensor, params: dict[str, Any], spacing: tuple[float, ...], index: int
              ) -> torch.Tensor:
        out = x.clone()
        for axis, (sigma_mm, size) in enumerate(zip(params["sigma_mm"], spacing, strict=False)):
            sigma = sigma_mm / size
            if sigma < 1e-3:
                continue
            radius = max(1, int(math.ceil(3 * sigma)))
            t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
            kernel = torch.exp(-0.5 * (t / sigma) ** 2)
            out = _convolve_axis(out, kernel / kernel.sum(), axis + 1)
        return out


def _convolve_axis(x: torch.Tensor, kernel: torch.Tensor, dim: int) -> torch.Tensor:
    """1D convolution along ``dim`` with reflect padding (separable Gaussian)."""
    moved = x.movedim(dim, -1)
    shape = moved.shape
    flat = moved.reshape(-1, 1, shape[-1])
    pad = kernel.numel() // 2
    mode = "reflect" if shape[-1] > pad else "replicate"
    flat = torch.nn.functional.pad(flat, (pad, pad), mode=mode)
    out = torch.nn.functional.conv1d(flat, kernel.view(1, 1, -1))
    return out.reshape(shape).movedim(-1, dim).contiguous()


@TRANSFORMS.register("gamma")
class RandGammad(IntensityTransform):
    """Gamma: ``x -> lo + (hi - lo) * ((x - lo) / (hi - lo)) ** gamma`` with ``log(gamma)`` uniform.

    Args:
        keys, prob: see :class:`IntensityTransform`.
        log_gamma: largest ``|log(gamma)|`` or a ``(low, high)`` range of ``log(gamma)``.
            ``0`` is the identity.
    """

    name = "gamma"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 log_gamma: float | Sequence[float] = 0.3, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.log_gamma = uniform_range(log_gamma, "log_gamma", low=-3.0, high=3.0, symmetric=True)

    def draw(self) -> dict[str, Any] | None:
        return {"gamma": float(np.exp(self.R.uniform(*self.log_gamma)))}

    def apply(self, x: torch.Tensor, params: dict[str, Any], spacing: tuple[float, ...], index: int
              ) -> torch.Tensor:
        gamma = params["gamma"]
        lo, hi = x.min(), x.max()
        if gamma == 1.0 or hi <= lo:
            return x.clone()
        return ((x - lo) / (hi - lo)).pow_(gamma).mul_(hi - lo).add_(lo)


@TRANSFORMS.register("contrast_brightness")
class RandContrastBrightnessd(IntensityTransform):
    """Contrast about the mean and a brightness shift: ``x -> (x - m) * c + m + b * s``.

    ``m`` and ``s`` are the image's mean and standard deviation (so ``brightness`` is in image
    standard deviations, whatever the intensity scale).

    Args:
        keys, prob: see :class:`IntensityTransform`.
        contrast: ``(low, high)`` factor range; ``(1, 1)`` keeps the contrast.
        brightness: largest ``|b|``, or a ``(low, high)`` range. Zero strength is the identity.
    """

    name = "contrast_brightness"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 contrast: Sequence[float] = (0.75, 1.25), brightness: float | Sequence[float] = 0.1,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.contrast = uniform_range(contrast, "contrast", low=0.0, high=10.0)
        self.brightness = uniform_range(brightness, "brightness", low=-10.0, high=10.0, symmetric=True)

    def draw(self) -> dict[str, Any] | None:
        return {"contrast": float(self.R.uniform(*self.contrast)),
                "brightness": float(self.R.uniform(*self.brightness))}

    def apply(self, x: torch.Tensor, params: dict[str, Any], spacing: tuple[float, ...], index: int
              ) -> torch.Tensor:
        c, b = params["contrast"], params["brightness"]
        if c == 1.0 and b == 0.0:
            return x.clone()
        mean, std = x.mean(), x.std()
        return (x - mean).mul_(c).add_(mean + b * std)
