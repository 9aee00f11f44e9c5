"""Training regions of the inpainting model: real lesions with their context, and healthy tissue.

Every case is resampled to the working spacing when its own differs (image linear, labels
nearest) and scaled to [-1, 1] per modality between the 0.5th and 99.5th percentiles of its
foreground (the same scaling synthesis applies to the case it inserts into). Each lesion component
gives a region centred on its bounding box; ``jitter`` extra voxels on each side let training shift
the region. Healthy regions are centred on random foreground voxels whose central half (where the
hole goes) holds no label; their hole is borrowed from a random lesion at batch time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from medgan.errors import DataError
from medgan.families._cases import check_window
from medgan.transforms.insertion import crop_centred
from medgan.transforms.lesion_extent import case_spacing, resample_to_spacing
from medgan.transforms.scaling import foreground_mask, percentile_range


@dataclass
class InpaintRegions:
    """Regions of one training set, all of shape ``region + 2 * jitter``.

    Attributes:
        images: ``(N, C, *shape)`` float16 in [-1, 1].
        labels: ``(N, *shape)`` int16: the lesion's own labels (0 elsewhere; all 0 for healthy regions).
        holes: ``(N, *shape)`` bool: the lesion grown by the hole margin (healthy: all False).
        healthy: ``(N,)`` bool.
        sources: ``(case id, centre voxel)`` of each region.
    """

    images: np.ndarray
    labels: np.ndarray
    holes: np.ndarray
    healthy: np.ndarray
    sources: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.healthy)

    @property
    def lesion_indices(self) -> np.ndarray:
        return np.flatnonzero(~self.healthy)


def grow(mask: np.ndarray, margin_mm: float, spacing: Sequence[float]) -> np.ndarray:
    """``mask`` grown by ``margin_mm`` (Euclidean distance in mm)."""
    if margin_mm <= 0 or not mask.any():
        return mask.copy()
    return ndimage.distance_transform_edt(~mask, sampling=spacing) <= margin_mm


def scale_case(image: np.ndarray, lo: np.ndarray, hi: np.ndarray, clip_high: float) -> np.ndarray:
    """``lo -> -1``, ``hi -> 1`` per channel, clipped to ``[-1, clip_high]`` (room above the 99.5th
    percentile, where enhancing tumour lies)."""
    shape = (-1,) + (1,) * (image.ndim - 1)
    low, high = np.asarray(lo, np.float32).reshape(shape), np.asarray(hi, np.float32).reshape(shape)
    return np.clip(2.0 * (np.asarray(image, np.float32) - low) / (high - low) - 1.0, -1.0, clip_high)


def prepare_case(case: dict[str, Any], spacing: Sequence[float], clip_high: float = 1.0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scaled image, label map, foreground)`` of a case at the working ``spacing`` (see :func:`scale_case`)."""
    image = np.asarray(case["image"], np.float32)
    label = np.asarray(case["label"]) if case.get("label") is not None else np.zeros((1,) + image.shape[1:], np.int16)
    own = case_spacing(case)
    if not np.allclose(own, spacing, rtol=1e-2):
        image = resample_to_spacing(image, own, spacing)
        label = resample_to_spacing(label, own, spacing, labels=True)
    foreground = foreground_mask(image)
    lo, hi = percentile_range(image, foreground, foreground)
    return scale_case(image, lo, hi, clip_high), label[0].astype(np.int16), foreground


def extract_regions(cases: Iterable[dict[str, Any]], spacing: Sequence[float], region: Sequence[int], jitter: int,
                    hole_margin_mm: float, min_voxels: int, healthy_fraction: float, seed: int,
                    clip_high: float = 1.0) -> InpaintRegions:
    """Cut lesion and healthy regions from training cases.

    Args:
        cases: the training cases (read one at a time; test cases already removed).
        spacing: working voxel size (mm).
        region: region size per axis at ``spacing``.
        jitter: extra voxels per side for random shifts.
        hole_margin_mm: growth of each lesion into its hole.
        min_voxels: smaller components are ignored.
        healthy_fraction: share of healthy regions among all regions.
        seed: seeds where healthy regions are taken.
        clip_high: scaled intensities are clipped to ``[-1, clip_high]``.

    Raises:
        DataError: no lesion in the cases.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(int(r) + 2 * jitter for r in region)
    images, labels, holes, healthy, sources = [], [], [], [], []
    stash: list[tuple[np.ndarray, str, tuple[int, ...]]] = []  # healthy candidates, one per case
    for case in cases:
        image, label, foreground = prepare_case(case, spacing, clip_high)
        check_window("data.region_size", region, label.shape, str(case.get("id")))
        components, n = ndimage.label(label > 0, structure=np.ones((3,) * label.ndim))
        sizes = np.bincount(components.ravel(), minlength=n + 1)
        for index, box in enumerate(ndimage.find_objects(components), start=1):
            if box is None or sizes[index] < min_voxels:
                continue
            centre = tuple((s.start + s.stop) // 2 for s in box)
            own = np.where(components == index, label, 0).astype(np.int16)
            region_labels = crop_centred(own, centre, shape, 0)
            images.append(crop_centred(image, centre, shape, -1.0).astype(np.float16))
            labels.append(region_labels)
            holes.append(grow(region_labels > 0, hole_margin_mm, spacing))
            healthy.append(False)
            sources.append((str(case.get("id")), centre))
        for centre in _healthy_centres(label, foreground, shape, rng, count=2):
            stash.append((crop_centred(image, centre, shape, -1.0).astype(np.float16), str(case.get("id")), centre))
    if not images:
        raise DataError("training cases", f"no lesion of at least {min_voxels} voxels to learn from")
    wanted = int(round(len(images) * healthy_fraction / max(1e-9, 1.0 - healthy_fraction)))
    for i in rng.permutation(len(stash))[:wanted]:
        region_image, case_id, centre = stash[int(i)]
        images.append(region_image)
        labels.append(np.zeros(shape, np.int16))
        holes.append(np.zeros(shape, bool))
        healthy.append(True)
        sources.append((case_id, centre))
    return InpaintRegions(np.stack(images), np.stack(labels), np.stack(holes), np.asarray(healthy), sources)


def _healthy_centres(label: np.ndarray, foreground: np.ndarray, shape: Sequence[int], rng: np.random.Generator,
                     count: int, tries: int = 50) -> list[tuple[int, ...]]:
    """Up to ``count`` centres inside the foreground whose central half window (where holes go)
    holds no label and lies at least 90 % in the foreground."""
    candidates = np.argwhere(foreground)
    found: list[tuple[int, ...]] = []
    if len(candidates) == 0:
        return found
    inner = tuple(max(1, s // 2) for s in shape)
    for _ in range(tries):
        centre = tuple(int(c) for c in candidates[rng.integers(len(candidates))])
        if crop_centred(label, centre, inner, 0).any() or crop_centred(foreground, centre, inner, False).mean() < 0.9:
            continue
        found.append(centre)
        if len(found) == count:
            break
    return found


def bbox_crop(labels: np.ndarray) -> np.ndarray:
    """A label map cropped to the bounding box of its non-zero voxels."""
    where = np.argwhere(labels > 0)
    if len(where) == 0:
        return labels
    low, high = where.min(0), where.max(0) + 1
    return labels[tuple(slice(a, b) for a, b in zip(low, high))]
