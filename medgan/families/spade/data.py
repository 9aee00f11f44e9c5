"""Training pairs for SPADE: label map and image of each case, on one padded grid, intensities scaled
to [-1, 1] per case and channel.

The scale maps the image's 0.5th percentile (the background: 0 for MR, air for CT) to -1 and the
99.5th percentile inside the head/body to 1; the medians of both over the training cases are kept
in the config to map generated images back to scanner units.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from medgan.errors import ConfigError, DataError
from medgan.families._checks import check_dims, check_values
from medgan.families.spade import SpadeConfig
from medgan.transforms.scaling import foreground_mask, percentile_range, to_unit_range


def intensity_scale(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(low, high)`` of ``(C, ...)`` ``image``: background level (whole image) and
    foreground top (inside the body mask)."""
    return percentile_range(image, high_mask=foreground_mask(np.asarray(image, np.float32)))


def padded_shape(shape: Sequence[int], multiple: int) -> list[int]:
    """``shape`` rounded up to a multiple of ``multiple`` on every axis."""
    return [int(-(-s // multiple) * multiple) for s in shape]


def pad_slices(shape: Sequence[int], padded: Sequence[int]) -> tuple[slice, ...]:
    """Where a ``shape`` array sits, centred, inside a ``padded`` one."""
    return tuple(slice((p - s) // 2, (p - s) // 2 + s) for s, p in zip(shape, padded))


def pad_to(array: np.ndarray, padded: Sequence[int], fill: float) -> np.ndarray:
    """``(C, *shape)`` -> ``(C, *padded)``, centred, the margin filled with ``fill``."""
    out = np.full((array.shape[0],) + tuple(padded), fill, dtype=array.dtype)
    out[(slice(None),) + pad_slices(array.shape[1:], padded)] = array
    return out


def crop_from(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`pad_to` for ``(..., *padded)`` arrays."""
    lead = array.ndim - len(shape)
    return array[(slice(None),) * lead + pad_slices(shape, array.shape[lead:])]


def check_labels(case_id: str, label: np.ndarray, known: Sequence[int]) -> None:
    """Raise :class:`DataError` when ``label`` holds a value the model was not trained on."""
    unknown = sorted(set(np.unique(label).tolist()) - set(int(v) for v in known))
    if unknown:
        raise DataError(case_id, f"label map holds value(s) {unknown} that the SPADE run never saw "
                                 f"(it knows {list(known)})")


def resolve_data(config: SpadeConfig, cases: Sequence[dict[str, Any]], n_cases: int | None = None,
                 label_values: set[int] | None = None) -> None:
    """Fill the resolved fields of ``config.data`` from training ``cases`` (in place).

    Args:
        config: the run's config.
        cases: the training cases, or an evenly spaced subset of them (grid, channels, scale).
        n_cases: number of training cases (default ``len(cases)``).
        label_values: label values of all training cases (default: those of ``cases``).

    Raises:
        DataError: no case, an unlabelled case, or cases on different grids / with other channels.
    """
    data = config.data
    if not cases:
        raise DataError(data.path or "cases", "no labelled training case")
    first = cases[0]
    shape = list(np.asarray(first["image"]).shape[1:])
    channels = np.asarray(first["image"]).shape[0]
    values: set[int] = {0}
    for case in cases:
        if case.get("label") is None:
            raise DataError(case.get("id", "case"), "SPADE trains on labelled cases only; this one has no label")
        image = np.asarray(case["image"])
        if list(image.shape[1:]) != shape or image.shape[0] != channels:
            raise DataError(case.get("id", "case"), f"grid {tuple(image.shape)} differs from "
                                                    f"{(channels, *shape)} of {first.get('id')}; SPADE needs one "
                                                    "grid for all cases (resample them first)")
        if label_values is None:
            values |= set(np.unique(np.asarray(case["label"])).astype(int).tolist())
    values |= set(label_values or ())
    check_dims("data.spatial_dims", data.spatial_dims, len(shape))
    if data.spatial_shape and list(data.spatial_shape) != shape:
        raise ConfigError(f"data.spatial_shape: {list(data.spatial_shape)} but the training cases are on a "
                          f"{'x'.join(map(str, shape))} grid")
    check_values("data.label_values", data.label_values, sorted(values), exact=True)
    data.spatial_dims = len(shape)
    data.spatial_shape = shape
    data.padded_shape = padded_shape(shape, 2 ** config.model.n_upsamples)
    data.label_values = sorted(values) if data.label_values is None else data.label_values
    meta = first.get("meta", {})
    data.modalities = list(meta.get("modalities") or data.modalities or [f"ch{i}" for i in range(channels)])
    data.image_dtype = data.image_dtype or str(meta.get("dtype") or "float32")
    step = max(1, len(cases) // 32)  # the scale from at most ~32 cases
    scales = [intensity_scale(np.asarray(c["image"])) for c in cases[::step]]
    data.intensity_low = [float(v) for v in np.median([s[0] for s in scales], axis=0)]
    data.intensity_high = [float(v) for v in np.median([s[1] for s in scales], axis=0)]
    data.n_cases = n_cases or len(cases)


def check_cache(n_cases: int, cache_size: int, per_case: int, cache_mb: int) -> None:
    """The cache rule: ``data.cache_mb`` caps the memory kept for pre-processed cases; a cache that
    would outgrow the memory available is refused, a dataset larger than the cache is read from disk
    for every batch (one warning line says so).

    Raises:
        ConfigError: the cache would fill more memory than is available (``MEDGAN_AVAILABLE_MB``
            overrides the figure).
    """
    from medgan.training.cost import available_mb

    held = min(n_cases, cache_size)
    need_mb = held * per_case / 2**20
    available, source = available_mb("cpu")
    if need_mb > available:
        raise ConfigError(f"data.cache_mb {cache_mb} would keep {held} cases ({need_mb:.0f} MB) in memory but "
                          f"{available:.4g} MB is available ({source}): lower data.cache_mb")
    if held < n_cases:
        warnings.warn(f"data.cache_mb {cache_mb} holds {held} of the {n_cases} training cases "
                      f"({per_case / 2**20:.0f} MB each); the rest are read from disk for every batch (raise "
                      "data.cache_mb to keep them all)", stacklevel=2)


class TrainingPairs:
    """Pre-processed ``(label, image)`` pairs on the padded grid, loaded on demand and cached.

    Args:
        config: a config whose data fields are resolved (:func:`resolve_data`).
        loaders: one callable per training case returning its case dictionary.

    ``pair(i)`` returns ``label`` ``(1, *padded)`` int64 and ``image`` ``(C, *padded)`` float32.
    """

    def __init__(self, config: SpadeConfig, loaders: Sequence[Callable[[], dict[str, Any]]]) -> None:
        self.data = config.data
        self.loaders = list(loaders)
        voxels = int(np.prod(self.data.padded_shape)) * (len(self.data.modalities or [0]) + 1)
        per_case = voxels * 4 + voxels // 2
        self.cache_size = max(0, (self.data.cache_mb * 2**20) // max(1, per_case))
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        check_cache(len(self.loaders), self.cache_size, per_case, self.data.cache_mb)

    def __len__(self) -> int:
        return len(self.loaders)

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index in self.cache:
            return self.cache[index]
        case = self.loaders[index]()
        label = np.asarray(case["label"]).astype(np.int64)
        check_labels(case.get("id", str(index)), label, self.data.label_values or [0])
        image = np.asarray(case["image"], np.float32)
        if list(image.shape[1:]) != list(self.data.spatial_shape or image.shape[1:]):
            raise DataError(case.get("id", str(index)), f"grid {tuple(image.shape[1:])} differs from the training "
                                                        f"grid {tuple(self.data.spatial_shape or ())}; resample first")
        low, high = intensity_scale(image)
        padded = self.data.padded_shape or list(image.shape[1:])
        result = (pad_to(label, padded, 0), pad_to(to_unit_range(image, low, high), padded, -1.0))
        if len(self.cache) < self.cache_size:
            self.cache[index] = result
        return result

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``pair(index)`` with the configured random flips drawn from ``rng``."""
        label, image = self.pair(index)
        for axis in self.data.flip_axes:
            if rng.random() < 0.5:
                label, image = np.flip(label, axis + 1), np.flip(image, axis + 1)
        return np.ascontiguousarray(label), np.ascontiguousarray(image)
