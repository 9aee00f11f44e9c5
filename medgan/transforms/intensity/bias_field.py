"""Smooth multiplicative bias field (MR intensity inhomogeneity)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch

from medgan.registry import TRANSFORMS
from medgan.transforms.intensity.base import IntensityTransform, uniform_range


@TRANSFORMS.register("bias_field")
class RandBiasFieldd(IntensityTransform):
    """Multiply by ``exp(P(x, y, z))``, ``P`` a polynomial of degree ``order`` in coordinates scaled to
    ``[-1, 1]`` with coefficients uniform in ``[-coefficients, coefficients]`` (as TorchIO's RandomBiasField).

    Args:
        keys, prob: see :class:`IntensityTransform`.
        coefficients: largest coefficient magnitude, or a ``(low, high)`` range. ``0`` is the identity.
        order: polynomial degree (1-6).
    """

    name = "bias_field"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 coefficients: float | Sequence[float] = 0.5, order: int = 3,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.coefficients = uniform_range(coefficients, "coefficients", low=-5.0, high=5.0, symmetric=True)
        if not 1 <= int(order) <= 6:
            raise ValueError(f"order must lie in [1, 6], got {order}")
        self.order = int(order)

    def draw(self) -> dict[str, Any] | None:
        n_terms = len(_terms(self.order))
        return {"order": self.order, "coefficients": self.R.uniform(*self.coefficients, n_terms).tolist()}

    def apply(self, x: torch.Tensor, params: dict[str, Any], spacing: tuple[float, ...], index: int
              ) -> torch.Tensor:
        dims = x.ndim - 1
        if not any(params["coefficients"]):
            return x.clone()
        axes = []
        for d, n in enumerate(x.shape[1:]):
            shape = [1] * dims
            shape[d] = n
            axes.append(torch.linspace(-1, 1, n, dtype=x.dtype, device=x.device).view(shape))
        log_field = torch.zeros(x.shape[1:], dtype=x.dtype, device=x.device)
        for (i, j, k), c in zip(_terms(params["order"]), params["coefficients"], strict=False):
            if dims == 2 and k:
                continue
            term = axes[0] ** i * axes[1] ** j
            if dims == 3:
                term = term * axes[2] ** k
            log_field += c * term
        return x * torch.exp(log_field)[None]


def _terms(order: int) -> list[tuple[int, int, int]]:
    """Exponents ``(i, j, k)`` with ``i + j + k <= order``, in a fixed order."""
    return [(i, j, k) for i in range(order + 1) for j in range(order + 1 - i)
            for k in range(order + 1 - i - j)]
