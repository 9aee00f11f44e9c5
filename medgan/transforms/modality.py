"""Intensity mappings between a modality's units and the [-1, 1] range of translation networks.

- CT (:class:`CTWindow`): Hounsfield units clipped to a window and scaled linearly to [-1, 1]; the
  inverse gives HU again, so every integer HU inside the window survives the round trip exactly
  once rounded (the written dtype is int16).
- MR (:class:`MRScale`): per-volume normalisation (MR has no absolute unit): voxels divided by a
  high percentile of the body's intensities, clipped to [0, 1], scaled to [-1, 1]. On output (a
  network's MR) the range is mapped back to ``reference``, the typical percentile of the training
  volumes, and written as int16 like most MR files.
- Generic (:class:`PercentileScale`): any other channel (e.g. z-scored benchmark images): the
  0.5-99.5 percentile range of each volume to [-1, 1], back to the training volumes' typical range.

Example:
    >>> window = CTWindow(-1024, 2048)
    >>> hu = np.arange(-1024, 2049, dtype=np.int16)
    >>> bool(np.array_equal(window.to_units(window.to_network(hu)).astype(np.int16), hu))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from medgan.transforms.scaling import percentile_range, to_unit_range

#: modality names treated as CT (case-insensitive) when a mapping is chosen automatically
CT_NAMES = ("ct", "cect", "ncct", "sct", "synthct", "ct_hu")

ModalityKind = Literal["auto", "ct", "mr", "generic"]


def is_ct(modality: str) -> bool:
    """Whether a modality name denotes CT (``ct``, ``CT``, ``ncct`` ...)."""
    return modality.lower() in CT_NAMES


@dataclass(frozen=True)
class CTWindow:
    """Hounsfield units <-> [-1, 1] over the window ``[low, high]``; writes int16 HU."""

    low: float = -1024.0
    high: float = 2048.0
    dtype: str = "int16"

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise ValueError(f"CT window needs high > low, found [{self.low}, {self.high}]")

    def to_network(self, volume: np.ndarray) -> np.ndarray:
        """HU -> [-1, 1] (float32), values outside the window clipped to it."""
        hu = np.clip(np.asarray(volume, dtype=np.float64), self.low, self.high)
        return (2.0 * (hu - self.low) / (self.high - self.low) - 1.0).astype(np.float32)

    def to_units(self, network: np.ndarray) -> np.ndarray:
        """[-1, 1] -> HU (float64, rounded to whole HU for integer output)."""
        x = np.clip(np.asarray(network, dtype=np.float64), -1.0, 1.0)
        hu = (x + 1.0) * 0.5 * (self.high - self.low) + self.low
        return np.rint(hu) if np.issubdtype(np.dtype(self.dtype), np.integer) else hu

    @property
    def background(self) -> float:
        """Network value of air (the window's low end): -1."""
        return -1.0


@dataclass(frozen=True)
class MRScale:
    """Per-volume MR normalisation by the ``percentile`` of voxels above zero.

    Attributes:
        percentile: the intensity percentile (of voxels > 0) mapped to 1.
        reference: intensity that 1 maps back to on output (the median of the training volumes'
            percentiles; see :func:`fit_reference`).
        dtype: on-disk dtype of translated MR.
    """

    percentile: float = 99.5
    reference: float = 1000.0
    dtype: str = "int16"

    def scale_of(self, volume: np.ndarray) -> float:
        """The volume's intensity that maps to 1 (1 for an empty volume)."""
        data = np.asarray(volume, dtype=np.float32)
        body = data[data > 0]
        return float(np.percentile(body, self.percentile)) if body.size else 1.0

    def to_network(self, volume: np.ndarray) -> np.ndarray:
        """Intensities -> [-1, 1] (float32)."""
        data = np.asarray(volume, dtype=np.float32)
        return (2.0 * np.clip(data / max(self.scale_of(data), 1e-6), 0.0, 1.0) - 1.0).astype(np.float32)

    def to_units(self, network: np.ndarray) -> np.ndarray:
        """[-1, 1] -> intensities on the ``reference`` scale (rounded for integer output)."""
        values = (np.clip(np.asarray(network, dtype=np.float64), -1.0, 1.0) + 1.0) * 0.5 * self.reference
        return np.rint(values) if np.issubdtype(np.dtype(self.dtype), np.integer) else values

    @property
    def background(self) -> float:
        return -1.0


@dataclass(frozen=True)
class PercentileScale:
    """Per-volume 0.5-99.5 percentile range -> [-1, 1]; back to ``[low, high]`` (float32)."""

    low: float = 0.0
    high: float = 1.0
    dtype: str = "float32"

    @staticmethod
    def range_of(volume: np.ndarray) -> tuple[float, float]:
        """The volume's 0.5th and 99.5th percentiles."""
        lo, hi = percentile_range(np.asarray(volume, dtype=np.float32)[None], min_width=1e-6)
        return float(lo[0]), float(hi[0])

    def to_network(self, volume: np.ndarray) -> np.ndarray:
        lo, hi = self.range_of(volume)
        return to_unit_range(np.asarray(volume, dtype=np.float32)[None], [lo], [hi])[0]

    def to_units(self, network: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(network, dtype=np.float64), -1.0, 1.0)
        return (x + 1.0) * 0.5 * (self.high - self.low) + self.low

    @property
    def background(self) -> float:
        return -1.0


Scale = CTWindow | MRScale | PercentileScale


@dataclass
class IntensityConfig:
    """How one domain's intensities are mapped (part of a translation family's config).

    Attributes:
        kind: ``ct``, ``mr``, ``generic`` or ``auto`` (CT when the modality name says CT, else MR).
        window: CT window in HU ``[low, high]``.
        percentile: MR percentile mapped to 1.
        reference: MR output scale / generic output range low..high (resolved from the training data).
    """

    kind: ModalityKind = "auto"
    window: tuple[float, float] = (-1024.0, 2048.0)
    percentile: float = 99.5
    reference: tuple[float, float] | None = None


def resolve_kind(config: IntensityConfig, modality: str) -> str:
    """``config.kind`` with ``auto`` replaced by ``ct`` or ``mr`` from the modality name."""
    if config.kind != "auto":
        return config.kind
    return "ct" if is_ct(modality) else "mr"


def make_scale(config: IntensityConfig, modality: str) -> Scale:
    """The mapping object of a resolved :class:`IntensityConfig`."""
    kind = resolve_kind(config, modality)
    if kind == "ct":
        return CTWindow(float(config.window[0]), float(config.window[1]))
    ref = config.reference
    if kind == "mr":
        return MRScale(config.percentile, float(ref[1]) if ref else 1000.0)
    return PercentileScale(*(float(v) for v in ref)) if ref else PercentileScale()


def fit_reference(config: IntensityConfig, modality: str, volumes: list[np.ndarray]) -> tuple[float, float] | None:
    """The output reference of MR / generic domains from training volumes (``None`` for CT).

    MR: ``(0, median percentile)``; generic: medians of the volumes' percentile ranges.
    """
    kind = resolve_kind(config, modality)
    if kind == "ct" or not volumes:
        return None
    if kind == "mr":
        scale = MRScale(config.percentile)
        return 0.0, float(np.median([scale.scale_of(v) for v in volumes]))
    ranges = np.array([PercentileScale.range_of(v) for v in volumes])
    return float(np.median(ranges[:, 0])), float(np.median(ranges[:, 1]))


def output_meta(meta: dict[str, Any], scale: Scale) -> dict[str, Any]:
    """Storage fields of a written translated channel: the scale's dtype, no intensity scaling."""
    return {**meta, "dtype": scale.dtype, "scl_slope": None, "scl_inter": None}
