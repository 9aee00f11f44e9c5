"""PNG grids of sample images: one row per sample, one column per channel; 3D volumes show their
middle slice along the last axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from medgan.io.atomic import atomic_path


def grid_array(images: torch.Tensor | np.ndarray, pad: int = 2) -> np.ndarray:
    """Tile ``(N, C, X, Y[, Z])`` images in [-1, 1] into one ``uint8`` picture.

    Returns:
        ``(rows, cols)`` uint8 array; row ``i`` holds sample ``i``, its channels side by side.
    """
    array = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, float)
    if array.ndim == 5:
        array = array[..., array.shape[-1] // 2]
    if array.ndim != 4:
        raise ValueError(f"expected (N, C, X, Y[, Z]) images, found shape {array.shape}")
    n, c, h, w = array.shape
    # image axes are (x, y): show x downwards after a transpose so that y runs left to right
    tiles = np.clip((array + 1.0) * 127.5, 0, 255).astype(np.uint8)
    out = np.zeros((n * (w + pad) + pad, c * (h + pad) + pad), np.uint8)
    for i in range(n):
        for j in range(c):
            top, left = pad + i * (w + pad), pad + j * (h + pad)
            out[top:top + w, left:left + h] = tiles[i, j].T[::-1]
    return out


def save_grid(images: torch.Tensor | np.ndarray, path: str | Path) -> None:
    """Write :func:`grid_array` of ``images`` as a PNG, atomically."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(grid_array(images)).save(tmp, format="PNG", optimize=True)
