"""Segmentation-based plausibility: does a segmenter trained on real data find the synthetic lesion?

A small MONAI U-Net is trained on real image + label pairs for a few steps (CPU-friendly, seeded),
then applied to synthetic images; its Dice against the synthetic labels is compared with its Dice
on real cases. A synthetic image that does not match its mask scores low.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medgan.metrics.segmentation import Regions, dice


@dataclass(frozen=True)
class SegmenterSettings:
    """Training settings of the plausibility U-Net."""

    steps: int = 100
    batch_size: int = 8
    learning_rate: float = 1e-2
    channels: tuple[int, ...] = (16, 32, 64)
    #: training patch side (64 in 2D, 32 in 3D, capped at the image); half the patches centre on foreground
    patch_2d: int = 64
    patch_3d: int = 32


def _pad_to(images: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[slice, ...]]:
    spatial = images.shape[2:]
    padded = [int(np.ceil(n / multiple) * multiple) for n in spatial]
    widths = [(0, 0), (0, 0)] + [(0, p - n) for p, n in zip(padded, spatial)]
    return np.pad(images, widths), tuple(slice(0, n) for n in spatial)


def _crop(shape: tuple[int, ...], patch: tuple[int, ...], foreground: np.ndarray,
          rng: np.random.Generator) -> tuple[slice, ...]:
    """A patch window: centred on a random foreground voxel half of the time, else anywhere."""
    if len(foreground) and rng.random() < 0.5:
        centre = foreground[rng.integers(len(foreground))]
        starts = [int(np.clip(c - p // 2, 0, n - p)) for c, p, n in zip(centre, patch, shape)]
    else:
        starts = [int(rng.integers(0, n - p + 1)) for p, n in zip(patch, shape)]
    return tuple(slice(s, s + p) for s, p in zip(starts, patch))


def train_segmenter(images: np.ndarray, labels: np.ndarray, n_classes: int, seed: int,
                    settings: SegmenterSettings = SegmenterSettings()):
    """Train a small U-Net; returns a function mapping images ``(N, C, ...)`` to label maps ``(N, ...)``.

    Args:
        images: ``(N, C, X, Y[, Z])`` on the reference scale.
        labels: ``(N, 1, X, Y[, Z])`` integer maps with values below ``n_classes``.
        n_classes: output classes including background.
        seed: seeds weight initialisation (inside a forked torch RNG) and batch sampling.
    """
    import torch
    from monai.losses import DiceCELoss
    from monai.networks.nets import UNet

    spatial_dims = images.ndim - 2
    multiple = 2 ** (len(settings.channels) - 1)
    x_all, _ = _pad_to(images.astype(np.float32), multiple)
    y_all, _ = _pad_to(labels.astype(np.int64), multiple)
    rng = np.random.default_rng(seed)
    side = settings.patch_2d if spatial_dims == 2 else settings.patch_3d
    patch = tuple(min(n, max(multiple, side // multiple * multiple)) for n in x_all.shape[2:])
    foreground = [np.argwhere(y[0] > 0) for y in y_all]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UNet(spatial_dims=spatial_dims, in_channels=images.shape[1], out_channels=n_classes,
                     channels=settings.channels, strides=(2,) * (len(settings.channels) - 1), num_res_units=1)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    model.train()
    for _ in range(settings.steps):
        batch = rng.choice(len(x_all), size=min(settings.batch_size, len(x_all)), replace=False)
        crops = [_crop(x_all.shape[2:], patch, foreground[i], rng) for i in batch]
        x = np.stack([x_all[i][(slice(None), *c)] for i, c in zip(batch, crops)])
        y = np.stack([y_all[i][(slice(None), *c)] for i, c in zip(batch, crops)])
        optimiser.zero_grad()
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimiser.step()
    model.eval()

    def predict(batch_images: np.ndarray) -> np.ndarray:
        padded, crop = _pad_to(batch_images.astype(np.float32), multiple)
        out = []
        with torch.inference_mode():
            for start in range(0, len(padded), 8):
                logits = model(torch.from_numpy(padded[start:start + 8]))
                out.append(logits.argmax(dim=1).numpy())
        return np.concatenate(out)[(slice(None), *crop)]

    return predict


def mean_dice(predictions: np.ndarray, labels: np.ndarray, regions: Regions) -> dict[str, float]:
    """Mean Dice over the cases whose reference contains the region (NaN if none does).

    Args:
        predictions: ``(N, X, Y[, Z])`` label maps.
        labels: ``(N, 1, X, Y[, Z])`` reference label maps.
        regions: region name -> label values.
    """
    per_case = [dice(p, t, regions) for p, t in zip(predictions, labels)]
    out = {}
    for name, values in regions.items():
        present = [d[name] for d, t in zip(per_case, labels) if np.isin(t, list(values)).any()]
        out[name] = float(np.mean(present)) if present else float("nan")
    return out


def plausibility_regions(label_values: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """``foreground`` (every non-zero value) plus one region per class value."""
    values = sorted(int(v) for v in label_values if v != 0)
    regions = {"foreground": tuple(values)}
    if len(values) > 1:
        regions.update({str(v): (v,) for v in values})
    return regions
