"""Training volumes of a progressive GAN: whole cases resampled once to the final level's grid,
scaled to [-1, 1], label maps one-hot encoded, and kept in memory as a pyramid (one average-pooled
copy per level, float16), so a batch at any level is a slice.

Memory: ``cases x (image channels + label classes) x voxels x 2 bytes x 8/7`` (3D), e.g. 300 cases
of 4 contrasts + 4 classes at 128^3 take about 11 GB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from medgan.transforms.scaling import percentile_range, to_unit_range


def volume_range(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel intensities at the 0.5th and 99.5th percentiles of the whole volume (MR background
    is the low end).

    Args:
        image: ``(C, *S)``.

    Returns:
        ``(lo, hi)``, each ``(C,)`` float32, with ``hi > lo``.
    """
    return percentile_range(image)


def resize_image(image: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``(C, *S)`` -> ``(C, *shape)``, linear interpolation (anti-aliased when shrinking)."""
    from skimage.transform import resize

    if tuple(image.shape[1:]) == tuple(shape) or image.shape[0] == 0:
        return np.zeros((0,) + tuple(shape), np.float32) if image.shape[0] == 0 else np.asarray(image, np.float32)
    shrink = any(t < s for t, s in zip(shape, image.shape[1:]))
    return np.stack([resize(np.asarray(c, np.float32), tuple(shape), order=1, mode="edge", anti_aliasing=shrink,
                            preserve_range=True) for c in image]).astype(np.float32)


def resize_label(label: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``(1, *S)`` or ``(*S)`` integer label map -> same rank at ``shape``, nearest neighbour."""
    from skimage.transform import resize

    squeeze = label.ndim == len(shape)
    array = label if squeeze else label[0]
    if tuple(array.shape) != tuple(shape):
        array = resize(array, tuple(shape), order=0, mode="edge", anti_aliasing=False, preserve_range=True)
    array = np.asarray(np.rint(array), dtype=np.int64)
    return array if squeeze else array[None]


@dataclass
class TrainingVolumes:
    """The training pyramid.

    Attributes:
        levels: ``levels[k]`` is ``(N, C_img + K, *level_shape(k))`` float16 (images in [-1, 1],
            labels as one-hot, average-pooled at coarser levels into class fractions).
        image_channels: ``C_img``.
        label_values: the label value of each one-hot class (``K`` values), empty without labels.
        lo, hi: per-channel median of the cases' intensity ranges (maps outputs back to intensities).
    """

    levels: list[np.ndarray]
    image_channels: int
    label_values: list[int]
    lo: list[float]
    hi: list[float]

    def __len__(self) -> int:
        return int(self.levels[0].shape[0])

    def batch(self, indices: Sequence[int], level: int, alpha: float, flips: Sequence[bool] | None = None
              ) -> torch.Tensor:
        """Real samples of ``level``, faded as the networks are: ``lerp(upsample(level-1), level, alpha)``.

        Args:
            indices: sample indices.
            level: resolution level.
            alpha: fade-in weight of ``level`` (Karras fade the real images too).
            flips: per sample, mirror along the first spatial axis.

        Returns:
            ``(len(indices), C, *shape)`` float32.
        """
        idx = np.asarray(indices, dtype=np.int64)
        x = torch.from_numpy(self.levels[level][idx].astype(np.float32))
        if level > 0 and alpha < 1.0:
            low = torch.from_numpy(self.levels[level - 1][idx].astype(np.float32))
            x = torch.lerp(F.interpolate(low, scale_factor=2, mode="nearest"), x, float(alpha))
        if flips is not None:
            for i, flip in enumerate(flips):
                if flip:
                    x[i] = x[i].flip(1)
        return x


def one_hot(label: np.ndarray, values: Sequence[int]) -> np.ndarray:
    """``(*S)`` label map -> ``(K, *S)`` float32 one-hot over ``values`` (unknown values: all zero)."""
    return np.stack([(label == v) for v in values]).astype(np.float32)


def build_volumes(cases: Sequence[dict[str, Any]], shape: Sequence[int], levels: int, with_label: bool,
                  label_values: Sequence[int] | None = None) -> TrainingVolumes:
    """Resample, scale and pool ``cases`` into a :class:`TrainingVolumes`.

    Args:
        cases: case dicts (``image`` ``(C, *S)``; ``label`` ``(1, *S)`` when ``with_label``); the
            image may have zero channels when only label maps are learnt.
        shape: spatial shape of the last level.
        levels: index of the last level (level ``k`` has ``shape / 2**(levels - k)``).
        with_label: add the one-hot label channels.
        label_values: label values to encode (default: every value found, sorted).

    Returns:
        The pyramid, coarse levels first.
    """
    if with_label and label_values is None:
        label_values = sorted({int(v) for c in cases for v in np.unique(c["label"])} | {0})
    values = list(label_values or []) if with_label else []
    per_case: list[list[np.ndarray]] = []
    los, his = [], []
    for case in cases:
        image = np.asarray(case["image"], np.float32)
        parts = []
        if image.shape[0]:
            lo, hi = volume_range(image)
            los.append(lo)
            his.append(hi)
            parts.append(to_unit_range(resize_image(image, shape), lo, hi))
        if with_label:
            parts.append(one_hot(resize_label(np.asarray(case["label"]), shape)[0], values))
        fine = torch.from_numpy(np.concatenate(parts, axis=0)[None])
        pyramid = [fine]
        for _ in range(levels):
            pyramid.insert(0, F.avg_pool2d(pyramid[0], 2) if fine.dim() == 4 else F.avg_pool3d(pyramid[0], 2))
        per_case.append([p[0].numpy().astype(np.float16) for p in pyramid])
    stacked = [np.stack([c[k] for c in per_case]) for k in range(levels + 1)]
    lo = np.median(np.stack(los), axis=0).tolist() if los else []
    hi = np.median(np.stack(his), axis=0).tolist() if his else []
    return TrainingVolumes(stacked, int(image.shape[0]), values, [float(v) for v in lo], [float(v) for v in hi])
