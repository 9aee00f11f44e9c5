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
    if reference.ndim == 3:
        z = int(np.argmax(example["mask"].sum((0, 1))))  # the axial slice with the most body
        source, prediction, reference = source[..., z], prediction[..., z], reference[..., z]
    vmin, vmax = window if window else (float(reference.min()), float(reference.max()))
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 3.0), dpi=100)
    panels = [(source, f"{example['source_modality']} (input)", None, None),
              (prediction, f"synthetic {example['target_modality']}", vmin, vmax),
              (reference, f"real {example['target_modality']}", vmin, vmax)]
    for ax, (image, title, lo, hi) in zip(axes, panels):
        ax.imshow(np.asarray(image).T[::-1], cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{example['id']}, axial slice", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
