"""Random affine: rotation (per-axis ranges), scaling (isotropic or per axis), translation, shear."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from medgan.registry import TRANSFORMS
from medgan.transforms.spatial.compose import SpatialTransform
from medgan.transforms.spatial.sampling import SamplingPlan


def rotation_matrix(angles_deg: Sequence[float], dims: int) -> np.ndarray:
    """3x3 rotation (3D: ``Rz @ Ry @ Rx`` about the voxel axes; 2D: in the x-y plane by ``angles[0]``)."""
    a = np.deg2rad(np.asarray(angles_deg, float))
    if dims == 2:
        c, s = np.cos(a[0]), np.sin(a[0])
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    (cx, cy, cz), (sx, sy, sz) = np.cos(a[:3]), np.sin(a[:3])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _per_axis(value: float | Sequence[float], n: int, name: str) -> np.ndarray:
    values = np.atleast_1d(np.asarray(value, float))
    if values.size == 1:
        values = np.repeat(values, n)
    if values.size < n:
        raise ValueError(f"{name} needs 1 or {n} values, got {values.tolist()}")
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be non-negative, got {values.tolist()}")
    return values


@TRANSFORMS.register("affine")
class RandAffined(SpatialTransform):
    """Random rotation, scaling, shear and translation, in physical (mm) space.

    The content is moved by ``x -> R @ Sh @ diag(s) @ x + t`` about the volume centre.

    Args:
        keys, prob, mode, padding, backend: see :class:`SpatialTransform`.
        rotate: largest rotation in degrees, one value or one per axis (x, y, z); 2D uses the first.
        scale: ``(low, high)`` zoom factor range (``> 1`` enlarges); ``(1, 1)`` is no scaling.
        isotropic: one zoom factor for all axes (``True``) or one per axis.
        translate: largest shift in mm, one value or one per axis.
        shear: largest off-diagonal shear factor.

    Zero strength (``rotate=0, scale=(1, 1), translate=0, shear=0``) is the identity.
    """

    name = "affine"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image", "label"), prob: float = 1.0,
                 rotate: float | Sequence[float] = 0.0, scale: tuple[float, float] = (1.0, 1.0),
                 isotropic: bool = True, translate: float | Sequence[float] = 0.0, shear: float = 0.0,
                 mode: str | Sequence[str] | None = None, padding: str = "zeros",
                 backend: str = "auto", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, mode, padding, backend, allow_missing_keys)
        self.rotate = _per_axis(rotate, 3, "rotate")
        if np.any(self.rotate > 180):
            raise ValueError(f"rotate must lie in [0, 180] degrees, got {self.rotate.tolist()}")
        lo, hi = (float(v) for v in scale)
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {tuple(scale)}")
        self.scale, self.isotropic = (lo, hi), bool(isotropic)
        self.translate = _per_axis(translate, 3, "translate")
        if not 0 <= float(shear) < 1:
            raise ValueError(f"shear must lie in [0, 1), got {shear}")
        self.shear = float(shear)

    def draw(self, plan: SamplingPlan) -> dict[str, Any] | None:
        if not self.apply_now():
            return None
        dims = plan.spatial_dims
        angles = self.R.uniform(-self.rotate[:3], self.rotate[:3]) if dims == 3 else np.array(
            [self.R.uniform(-self.rotate[0], self.rotate[0]), 0.0, 0.0])
        zoom = np.repeat(self.R.uniform(*self.scale), dims) if self.isotropic else self.R.uniform(
            self.scale[0], self.scale[1], dims)
        zoom3 = np.ones(3)
        zoom3[:dims] = zoom
        shear = np.eye(3)
        off = self.R.uniform(-self.shear, self.shear, (dims, dims))
        shear[:dims, :dims] += off - np.diag(np.diag(off))
        shift = np.zeros(3)
        shift[:dims] = self.R.uniform(-self.translate[:dims], self.translate[:dims])
        forward = rotation_matrix(angles, dims) @ shear @ np.diag(zoom3)
        pull = np.linalg.inv(forward)
        plan.then_affine(pull, -pull @ shift)
        return {"rotate_deg": angles[: 3 if dims == 3 else 1], "scale": zoom, "shear": shear[:dims, :dims],
                "translate_mm": shift[:dims]}
