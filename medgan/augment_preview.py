"""A PNG montage of augmented cases: mid slices, original beside augmented, labels overlaid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medgan.io import Dataset, atomic_path, load_dataset


def _mid_slice(array: np.ndarray) -> np.ndarray:
    """Channel 0, middle of the last axis for 3D; the image itself for 2D."""
    data = np.asarray(array)[0]
    return data[..., data.shape[-1] // 2] if data.ndim == 3 else data


def write_preview(source: Dataset, out: Path, case_ids: list[str], path: Path, copy: int = 0) -> Path:
    """Write a montage (one row per case: original | augmented copy ``copy``) to ``path``.

    Args:
        source: the input dataset.
        out: the augmented dataset folder (already finished).
        case_ids: source cases to show.
        path: PNG file to write (atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medgan.augment import copy_id

    augmented = load_dataset(out, format=source.layout)
    fig, axes = plt.subplots(len(case_ids), 2, figsize=(6, 3 * len(case_ids)), squeeze=False)
    for row, case_id in enumerate(case_ids):
        for col, case in enumerate((source.load(case_id), augmented.load(copy_id(case_id, copy)))):
            ax = axes[row, col]
            ax.imshow(_mid_slice(case["image"]).T, cmap="gray", origin="lower")
            if "label" in case:
                label = _mid_slice(case["label"]).T
                ax.imshow(np.ma.masked_equal(label, 0), cmap="autumn", alpha=0.5, origin="lower",
                          interpolation="nearest")
            ax.set_title(f"{case_id}\n{'original' if col == 0 else f'augmented copy {copy}'}", fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
    return path
