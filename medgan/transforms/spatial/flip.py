"""Random flips per axis, with an optional left/right label swap."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from medgan.registry import TRANSFORMS
from medgan.transforms.spatial.compose import SpatialTransform
from medgan.transforms.spatial.sampling import SamplingPlan


@TRANSFORMS.register("flip")
class RandFlipd(SpatialTransform):
    """Flip each axis in ``axes`` independently with probability ``prob``.

    Args:
        keys, mode, padding, backend: see :class:`SpatialTransform`.
        prob: probability of flipping each axis.
        axes: voxel axes (0 = x, 1 = y, 2 = z) that may flip.
        swap_labels: label values exchanged when the *first* axis in ``axes`` flips, e.g.
            ``{1: 2, 2: 1}`` for left and right structures (list the left/right axis first).
    """

    name = "flip"

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image", "label"), prob: float = 0.5,
                 axes: int | Sequence[int] = (0,), swap_labels: Mapping[int, int] | None = None,
                 mode: str | Sequence[str] | None = None, padding: str = "zeros",
                 backend: str = "auto", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, mode, padding, backend, allow_missing_keys)
        self.axes = tuple(int(a) for a in np.atleast_1d(axes))
        distinct = len(set(self.axes)) == len(self.axes)
        if not self.axes or any(a not in (0, 1, 2) for a in self.axes) or not distinct:
            raise ValueError(f"axes must be distinct values among 0, 1, 2, got {list(self.axes)}")
        self.swap_labels = {int(k): int(v) for k, v in (swap_labels or {}).items()}

    def draw(self, plan: SamplingPlan) -> dict[str, Any] | None:
        flips = [bool(self.R.random_sample() < self.prob) for _ in self.axes]
        if any(a >= plan.spatial_dims for a in self.axes):
            raise ValueError(f"flip axes {list(self.axes)} do not exist in a {plan.spatial_dims}D image")
        if not any(flips):
            return None
        diag = np.ones(3)
        for axis, flip in zip(self.axes, flips, strict=False):
            if flip:
                diag[axis] = -1.0
        plan.then_affine(np.diag(diag), np.zeros(3))
        swapped = bool(flips[0] and self.swap_labels)
        if swapped:
            before = dict(plan.label_swap)
            values = set(before) | set(before.values()) | set(self.swap_labels)
            composed = {v: self.swap_labels.get(before.get(v, v), before.get(v, v)) for v in values}
            plan.label_swap = {k: v for k, v in composed.items() if k != v}
        return {"axes": [a for a, f in zip(self.axes, flips, strict=False) if f], "labels_swapped": swapped}
