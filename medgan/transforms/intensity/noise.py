"""Gaussian noise and Rician noise (the noise of MR magnitude images)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch

from medgan.registry import TRANSFORMS
from medgan.transforms.intensity.base import IntensityTransform, generator_for, uniform_range


@TRANSFORMS.register("gaussian_noise")
class RandGaussianNoised(IntensityTransform):
    """Add Gaussian noise ``N(mean, std^2)``, ``std`` drawn from a range.

    Args:
        keys, prob: see :class:`IntensityTransform`.
        std: largest standard deviation, or a ``(low, high)`` range. ``0`` is the identity.
        mean: mean of the noise.
        relative: ``std`` (and ``mean``) in units of each image's standard deviation.
    """

    name = "gaussian_noise"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 std: float | Sequence[float] = 0.1, mean: float = 0.0, relative: bool = False,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.std = uniform_range(std if not isinstance(std, (int, float)) else (0.0, std), "std", low=0.0)
        self.mean, self.relative = float(mean), bool(relative)

    def draw(self) -> dict[str, Any] | None:
        std = float(self.R.uniform(*self.std))
        return {"std": std, "mean": self.mean, "relative": self.relative, "seed": self.draw_seed()}

    def apply(self, x: torch.Tensor, params: dict[str, Any], spacing: tuple[float, ...], index: int
              ) -> torch.Tensor:
        scale = float(x.std()) if params["relative"] else 1.0
        std, mean = params["std"] * scale, params["mean"] * scale
        if std == 0.0 and mean == 0.0:
            return x.clone()
        out = torch.randn(x.shape, generator=generator_for(x, params["seed"] + index), dtype=x.dtype,
                          device=x.device)
        torch.add(x, out, alpha=std, out=out)  # one pass over the volume
        return out.add_(mean) if mean else out


@TRANSFORMS.register("rician_noise")
class RandRicianNoised(IntensityTransform):
    """Rician noise: ``sqrt((x + n1)^2 + n2^2)``, ``n1, n2 ~ N(0, std^2)`` independent.

    Models the noise of MR magnitude images: zero-mean noise on the real and imaginary channels
    gives a positive bias in dark regions (``std * sqrt(pi / 2)`` where the signal is 0).

    Args:
        keys, prob: see :class:`IntensityTransform`.
        std: largest standard deviation, or a ``(low, high)`` range. ``0`` is the identity.
        relative: ``std`` in units of each image's standard deviation.
    """

    name = "rician_noise"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 std: float | Sequence[float] = 0.05, relative: bool = False,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.std = uniform_range(std if not isinstance(std, (int, float)) else (0.0, std), "std", low=0.0)
        self.relative = bool(relative)

    def draw(self) -> dict[str, Any] | None:
        return {"std": float(self.R.uniform(*self.std)), "relative": self.relative, "seed": self.draw_seed()}

    def apply(self, x: torch.Tensor, params: dict[str, Any], spacing: tuple[float, ...], index: int
              ) -> torch.Tensor:
        std = params["std"] * (float(x.std()) if params["relative"] else 1.0)
        if std == 0.0:
            return x.clone()
        g = generator_for(x, params["seed"] + index)
        real = torch.randn(x.shape, generator=g, dtype=x.dtype, device=x.device).mul_(std).add_(x)
        imag = torch.randn(x.shape, generator=g, dtype=x.dtype, device=x.device).mul_(std)
        return torch.hypot(real, imag)
