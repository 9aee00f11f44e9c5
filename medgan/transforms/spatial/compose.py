"""Spatial transforms that compose into one resampling: the base class and :class:`RandSpatiald`.

Each spatial transform (affine, elastic, flip) only *draws* its part of a
:class:`~medgan.transforms.spatial.sampling.SamplingPlan`; the resampling happens once per call.
Called on its own, a spatial transform resamples once; inside :class:`RandSpatiald` (or after
:func:`fuse`) several of them share one plan and one interpolation. Within one plan the elastic
displacement is taken in the output frame and the affine parts compose in the listed order.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from monai.transforms import Randomizable
from monai.utils import ensure_tuple, ensure_tuple_rep

from medgan.transforms.base import RandomDictTransform, like, record, spacing_of
from medgan.transforms.keys import default_modes, warn_if_label_like
from medgan.transforms.spatial.sampling import SamplingPlan, resample_pair

IMAGE_MODES = ("linear", "bspline")
LABEL_MODES = ("nearest", "label_linear")
MODES = IMAGE_MODES + LABEL_MODES
PADDINGS = ("zeros", "border")
BACKENDS = ("auto", "numba", "torch")


class SpatialTransform(RandomDictTransform):
    """A random spatial transform: draws its part of a sampling plan; resamples when called alone.

    Args:
        keys: keys to resample together (all with the same spatial shape).
        prob: probability of applying.
        mode: per key (or one for all): ``linear``/``bspline`` for images, ``nearest``/``label_linear``
            (one-hot linear + argmax) for integer labels. Default (``None``): ``nearest`` for keys named
            like labels (``label``, ``seg``, ``mask``, ``gt`` ..., see :mod:`medgan.transforms.keys`),
            ``linear`` for the others.
        padding: ``zeros`` or ``border`` outside the input.
        backend: ``auto`` (numba on CPU, torch ``grid_sample`` on CUDA), ``numba`` or ``torch``.
    """

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image", "label"), prob: float = 1.0,
                 mode: str | Sequence[str] | None = None, padding: str = "zeros",
                 backend: str = "auto", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        modes = default_modes(self.keys) if mode is None else ensure_tuple(mode)
        if len(modes) != len(self.keys):
            modes = ensure_tuple_rep(modes[0], len(self.keys)) if len(modes) == 1 else modes[: len(self.keys)]
        if len(modes) != len(self.keys):
            raise ValueError(f"mode needs one entry per key {list(self.keys)}, "
                             f"got {list(ensure_tuple(mode))}")
        for m in modes:
            if m not in MODES:
                raise ValueError(f"mode {m!r} is not one of {', '.join(MODES)}")
        if padding not in PADDINGS:
            raise ValueError(f"padding {padding!r} is not one of {', '.join(PADDINGS)}")
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
        self.mode, self.padding, self.backend = tuple(modes), padding, backend

    def draw(self, plan: SamplingPlan) -> dict[str, Any] | None:
        """Draw this transform's parameters from ``self.R``, fold them into ``plan``; return them
        (``None`` when not applied this call)."""
        raise NotImplementedError

    def __call__(self, data: Any) -> dict[Hashable, Any]:
        return apply_spatial(dict(data), [self], self.keys, self.mode, self.padding, self.backend,
                             self.allow_missing_keys)


def apply_spatial(data: dict[Hashable, Any], ops: Sequence[SpatialTransform], keys: Sequence[Hashable],
                  modes: Sequence[str], padding: str, backend: str, allow_missing: bool = False
                  ) -> dict[Hashable, Any]:
    """Draw every op into one plan, then resample each key once. Records each op in the history."""
    present = [(k, m) for k, m in zip(keys, modes, strict=False) if k in data or not allow_missing]
    if not present:
        return data
    first = data[present[0][0]]
    dims = len(first.shape) - 1
    if dims not in (2, 3):
        raise ValueError(f"{present[0][0]!r}: expected (C, X, Y) or (C, X, Y, Z), "
                         f"found shape {tuple(first.shape)}")
    spatial = tuple(int(n) for n in first.shape[1:])
    for k, _ in present:
        if tuple(int(n) for n in data[k].shape[1:]) != spatial:
            raise ValueError(f"{k!r} has spatial shape {tuple(data[k].shape[1:])}, expected {spatial}")
    for k, m in present:
        if m in IMAGE_MODES:
            warn_if_label_like(k, data[k])
    plan = SamplingPlan.identity(spatial, spacing_of(data, present[0][0], dims))
    for op in ops:
        params = op.draw(plan)
        record(data, op.name, params is not None, **(params or {}))
    if plan.is_identity() and not plan.label_swap:
        return data
    images = [k for k, m in present if m in IMAGE_MODES]
    labels = [k for k, m in present if m in LABEL_MODES]
    mode_of = dict(present)
    for i in range(max(len(images), len(labels))):
        ik = images[i] if i < len(images) else None
        lk = labels[i] if i < len(labels) else None
        out_i, out_l = resample_pair(None if ik is None else data[ik], None if lk is None else data[lk], plan,
                                     mode_of.get(ik, "linear"), mode_of.get(lk, "nearest"), padding, backend)
        if ik is not None:
            data[ik] = like(out_i, data[ik])
        if lk is not None:
            data[lk] = like(out_l, data[lk])
    return data


class RandSpatiald(Randomizable):
    """Several spatial transforms drawn into one plan and resampled once (one interpolation).

    Args:
        transforms: spatial transforms, in order; each keeps its own ``self.R`` and probability.
        keys, mode, padding, backend: as in :class:`SpatialTransform` (these override the members';
            ``keys`` without ``mode`` resample label-named keys as labels).

    Example:
        >>> from medgan.transforms import RandAffined, RandElasticd, RandFlipd
        >>> t = RandSpatiald([RandAffined(rotate=15), RandElasticd(magnitude_mm=4), RandFlipd(axes=0)])
        >>> t.set_random_state(0)  # doctest: +ELLIPSIS
        <...RandSpatiald object at ...>
    """

    def __init__(self, transforms: Sequence[SpatialTransform], keys: Sequence[Hashable] | None = None,
                 mode: str | Sequence[str] | None = None, padding: str | None = None,
                 backend: str | None = None) -> None:
        if not transforms:
            raise ValueError("RandSpatiald needs at least one spatial transform")
        first = transforms[0]
        self.transforms = list(transforms)
        self.keys = tuple(ensure_tuple(keys)) if keys is not None else first.keys
        if mode is not None:
            modes = ensure_tuple(mode)
        else:
            modes = first.mode if keys is None else default_modes(self.keys)
        self.mode = ensure_tuple_rep(modes[0], len(self.keys)) if len(modes) == 1 else tuple(modes)
        self.padding = padding or first.padding
        self.backend = backend or first.backend

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None
                         ) -> RandSpatiald:
        super().set_random_state(seed, state)
        for t in self.transforms:
            t.set_random_state(seed=int(self.R.randint(0, 2**32 - 1)))
        return self

    def randomize(self, data: Any = None) -> None:
        return None

    def __call__(self, data: Any) -> dict[Hashable, Any]:
        return apply_spatial(dict(data), self.transforms, self.keys, self.mode, self.padding, self.backend)


def fuse(transforms: Sequence[Any]) -> list[Any]:
    """Merge runs of consecutive spatial transforms on the same keys into :class:`RandSpatiald`.

    A run holds at most one elastic transform (a second one starts a new resampling).
    """
    from medgan.transforms.spatial.elastic import RandElasticd

    out: list[Any] = []
    run: list[SpatialTransform] = []

    def flush() -> None:
        if run:
            out.append(run[0] if len(run) == 1 else RandSpatiald(list(run)))
            run.clear()

    for t in transforms:
        if isinstance(t, SpatialTransform):
            same = not run or (t.keys == run[0].keys and t.mode == run[0].mode and t.padding == run[0].padding
                               and t.backend == run[0].backend)
            two_elastic = isinstance(t, RandElasticd) and any(isinstance(r, RandElasticd) for r in run)
            if not same or two_elastic:
                flush()
            run.append(t)
        else:
            flush()
            out.append(t)
    flush()
    return out
