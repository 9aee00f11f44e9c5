"""Figures of a translation run's paired evaluation (``medgan evaluate translation --figure``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def save_figure(example: dict[str, Any], path: str | Path, window: tuple[float, float] | None = None) -> None:
    """PNG of one axial slice (the one with the most body): source, prediction, real target.

    Args:
        example: what :func:`medgan.metrics.translation.evaluate_translator` keeps of its first case.
        path: the PNG to write.
        window: CT display range in HU (default: the reference's range).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medgan.io.atomic import atomic_path

    source, prediction, reference = example["source"], example["prediction"], example["reference"]
    outline = _lesions(example)
    if reference.ndim == 3:
        z = figure_slice(example)
        source, prediction, reference = source[..., z], prediction[..., z], reference[..., z]
        outline = outline[..., z] if outline is not None else None
    vmin, vmax = window if window else (float(reference.min()), float(reference.max()))
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 3.0), dpi=100)
    panels = [(source, f"{example['source_modality']} (input)", None, None),
              (prediction, f"synthetic {example['target_modality']}", vmin, vmax),
              (reference, f"real {example['target_modality']}", vmin, vmax)]
    for ax, (image, title, lo, hi) in zip(axes, panels):
        ax.imshow(np.asarray(image).T[::-1], cmap="gray", vmin=lo, vmax=hi)
        draw_outline(ax, outline)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{example['id']}, axial slice" + (" (red: lesion labels)" if outline is not None else ""),
                 fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _lesions(example: dict[str, Any]) -> np.ndarray | None:
    """The example's lesion mask (label > 0, first channel dropped), or ``None`` when it has none."""
    label = example.get("label")
    if label is None:
        return None
    label = np.asarray(label)
    label = label[0] if label.ndim == np.ndim(example["reference"]) + 1 else label
    return label > 0 if (label > 0).any() else None


def figure_slice(example: dict[str, Any]) -> int:
    """The axial slice to show: the one with the most lesion voxels, else the one with the most body."""
    lesions = _lesions(example)
    if lesions is not None:
        return int(np.argmax(lesions.sum((0, 1))))
    return int(np.argmax(example["mask"].sum((0, 1))))


def draw_outline(ax: Any, outline: np.ndarray | None) -> None:
    """Red contour of a 2D bool mask on an image shown as ``imshow(image.T[::-1])``."""
    if outline is not None and outline.any():
        ax.contour(np.asarray(outline, float).T[::-1], levels=[0.5], colors="red", linewidths=0.8)
