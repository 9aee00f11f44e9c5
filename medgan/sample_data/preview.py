"""A montage of a few cases of a cohort: every modality and the labels, through the tumour centre."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from medgan.sample_data.files import write_atomic
from medgan.sample_data.geometry import MR_CONTRASTS
from medgan.sample_data.stats import LABELS
from medgan.transforms.scaling import percentile_range

#: one fixed colour per label, the same in every panel
COLOURS = {1: "#e41a1c", 2: "#4daf4a", 3: "#ffd92f"}


def write_montage(folder: str | Path, cases: Sequence[str], png: str | Path, title: str = "") -> None:
    """Axial slices through each case's tumour centroid (the middle slice for healthy cases), one row per case:
    ``t1n, t1c, t2w, t2f`` (each windowed to its 0.5-99.5 percentile), CT (-20..100 HU) and the labels over
    FLAIR, with a legend and L/R markers (RAS+: the subject's right is on the right).

    Args:
        folder: the ``brats/`` folder.
        cases: case ids, one row each.
        png: where to write the image (atomically).
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    folder = Path(folder)
    columns = (*MR_CONTRASTS, "ct", "seg")
    fig, axes = plt.subplots(len(cases), len(columns), figsize=(2.0 * len(columns), 2.3 * len(cases) + 0.6),
                             squeeze=False)
    colours = ListedColormap([COLOURS[v] for v in sorted(LABELS)])
    for row, case in enumerate(cases):
        volumes = {m: np.asarray(nib.load(folder / case / f"{case}-{m}.nii.gz").dataobj) for m in columns}
        seg = volumes["seg"]
        z = int(np.argwhere(seg > 0).mean(axis=0).round()[2]) if seg.any() else seg.shape[2] // 2
        for col, key in enumerate(columns):
            ax = axes[row, col]
            base = volumes["t2f" if key == "seg" else key]
            window = percentile_range(base[None], base > 0, base > 0, 0.5, 99.5)
            low, high = (-20, 100) if key == "ct" else (float(window[0][0]), float(window[1][0]))
            ax.imshow(base[:, :, z].T, origin="lower", cmap="gray", vmin=low, vmax=high)
            if key == "seg":
                overlay = np.ma.masked_equal(seg[:, :, z].T, 0)
                ax.imshow(overlay, origin="lower", cmap=colours, vmin=0.5, vmax=3.5, alpha=0.6,
                          interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("labels on t2f" if key == "seg" else ("ct (-20..100 HU)" if key == "ct" else key),
                             fontsize=9)
            if col == 0:
                ax.set_ylabel(f"{case}\nz={z}", fontsize=8)
                ax.text(0.02, 0.03, "L", color="white", fontsize=8, transform=ax.transAxes)
                ax.text(0.92, 0.03, "R", color="white", fontsize=8, transform=ax.transAxes)
    handles = [Patch(color=COLOURS[v], label=f"{v} {name}") for v, name in LABELS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title or f"SIMULATED cases from {folder}", fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72, metadata={"Software": None})
    plt.close(fig)
    write_atomic(Path(png), buffer.getvalue())
