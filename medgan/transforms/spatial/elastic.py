"""Random elastic deformation: a smooth displacement from a coarse grid of control points, in mm."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from medgan.registry import TRANSFORMS
from medgan.transforms.spatial.compose import SpatialTransform
from medgan.transforms.spatial.sampling import SamplingPlan


@TRANSFORMS.register("elastic")
class RandElasticd(SpatialTransform):
    """Elastic deformation: cubic B-spline displacement from ``control_points`` coefficients per axis.

    Each coefficient is drawn uniformly in ``[-magnitude_mm, magnitude_mm]`` per component; a B-spline
    is a weighted average of its coefficients, so no voxel moves by more than ``magnitude_mm`` along
    an axis. The displacement is evaluated on the fly during resampling (never stored densely).

    Args:
        keys, prob, mode, padding, backend: see :class:`SpatialTransform`.
        magnitude_mm: largest displacement in mm, one value or one per axis. ``0`` is the identity.
        control_points: coefficients per axis (>= 4), one value or one per axis; fewer = smoother.
    """

    name = "elastic"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image", "label"), prob: float = 1.0,
                 magnitude_mm: float | Sequence[float] = 0.0, control_points: int | Sequence[int] = 7,
                 mode: str | Sequence[str] | None = None, padding: str = "zeros",
                 backend: str = "auto", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, mode, padding, backend, allow_missing_keys)
        mag = np.atleast_1d(np.asarray(magnitude_mm, float))
        if mag.size not in (1, 2, 3) or np.any(mag < 0) or not np.all(np.isfinite(mag)):
            raise ValueError(f"magnitude_mm must be one or one-per-axis values >= 0, got {mag.tolist()}")
        points = np.atleast_1d(np.asarray(control_points))
        if points.size not in (1, 2, 3) or np.any(points < 4) or np.any(points > 64):
            raise ValueError(f"control_points must lie in [4, 64], got {points.tolist()}")
        self.magnitude = np.resize(mag, 3)
        self.control_points = np.resize(points.astype(int), 3)

    def draw(self, plan: SamplingPlan) -> dict[str, Any] | None:
        if not self.apply_now():
            return None
        dims = plan.spatial_dims
        k = tuple(int(v) for v in self.control_points[:dims])
        mag = self.magnitude[:dims]
        coef = self.R.uniform(-1.0, 1.0, (*k, dims)) * mag
        full = np.zeros((*k, *([4] if dims == 2 else []), 3))
        full[..., :dims] = coef[:, :, None, :] if dims == 2 else coef
        plan.coefficients = full if plan.coefficients is None else plan.coefficients + full
        return {"magnitude_mm": mag, "control_points": list(k),
                "max_coefficient_mm": np.abs(coef).max(axis=tuple(range(dims))) if coef.size else mag * 0}
