"""Montages of synthetic cases next to the real cases they were made from, so a user sees at once
what goes into training.

Per synthetic case, two rows: the source case and the synthetic one, every modality as a column,
at the axial slice through the centre of the new lesion, with the label borders drawn over the
image (outlines, so the lesion's own appearance stays visible), and a last column with the labels
filled. Label colours are fixed by label value (the same colour for
the same label in every panel and every montage), a legend names them, and the display axes carry
orientation letters from the case's affine (neurological display: the image's left-right axis as
stored, labelled with the side it points to).

Example:
    >>> write_montage([(synthetic_case, source_case)], "montage.png",  # doctest: +SKIP
    ...               label_names={1: "necrosis", 2: "oedema", 3: "enhancing"})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medgan.transforms.scaling import percentile_range

#: colour of each label value (RGB in [0, 1]); values beyond the table cycle through it
LABEL_COLOURS: dict[int, tuple[float, float, float]] = {
    1: (0.90, 0.10, 0.10),  # red
    2: (0.10, 0.75, 0.20),  # green
    3: (1.00, 0.85, 0.00),  # yellow
    4: (0.15, 0.45, 1.00),  # blue
    5: (0.85, 0.30, 0.90),  # magenta
    6: (0.00, 0.85, 0.85),  # cyan
    7: (1.00, 0.55, 0.00),  # orange
    8: (0.60, 0.40, 0.20),  # brown
}
_OPPOSITE = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}


def label_colour(value: int) -> tuple[float, float, float]:
    """The fixed colour of label ``value``."""
    if value in LABEL_COLOURS:
        return LABEL_COLOURS[value]
    keys = sorted(LABEL_COLOURS)
    return LABEL_COLOURS[keys[(value - 1) % len(keys)]]


def axis_codes(affine: Any, spatial_dims: int) -> list[str]:
    """The world direction (``R``/``L``, ``A``/``P``, ``S``/``I``) each voxel axis points to."""
    import nibabel as nib

    if affine is None:
        return ["?"] * spatial_dims
    matrix = np.asarray(affine, float)
    if matrix.shape == (3, 3):  # a 2D affine
        full = np.eye(4)
        full[:2, :2], full[:2, 3] = matrix[:2, :2], matrix[:2, 2]
        matrix = full
    return list(nib.aff2axcodes(matrix))[:spatial_dims]


def new_lesion_mask(case: Mapping[str, Any], source: Mapping[str, Any] | None) -> np.ndarray:
    """Voxels whose label differs from the source's (all labelled voxels without a source)."""
    label = np.asarray(case["label"])[0]
    if source is None or source.get("label") is None or np.asarray(source["label"]).shape[1:] != label.shape:
        return label > 0
    return (label > 0) & (label != np.asarray(source["label"])[0])


def centre_slice(case: Mapping[str, Any], source: Mapping[str, Any] | None = None) -> int | None:
    """Axial (last-axis) index through the centre of mass of the new lesions; ``None`` in 2D."""
    label = np.asarray(case["label"])[0]
    if label.ndim == 2:
        return None
    mask = new_lesion_mask(case, source)
    if not mask.any():
        mask = label > 0
    if not mask.any():
        return label.shape[-1] // 2
    return int(round(np.argwhere(mask)[:, -1].mean()))


def _plane(array: np.ndarray, index: int | None) -> np.ndarray:
    return array if index is None else array[..., index]


def write_montage(pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any] | None]], path: str | Path,
                  label_names: Mapping[int, str] | None = None, title: str | None = None,
                  max_cases: int = 8, alpha: float = 0.0) -> Path:
    """Write a PNG montage of synthetic cases beside their source cases.

    Args:
        pairs: ``(synthetic case, source case or None)``; cases are dicts with ``image`` ``(C, ...)``,
            ``label`` ``(1, ...)``, ``meta`` (``modalities``, ``affine``) and ``id``.
        path: the PNG to write (atomically).
        label_names: names for the legend (e.g. a dataset's ``label_names``); default ``label N``.
        title: figure title.
        max_cases: at most this many pairs are drawn.
        alpha: opacity of the label fill on the image panels (0: outlines only; the last column
            always shows the labels filled).

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from medgan.io.atomic import atomic_path

    pairs = list(pairs)[:max_cases]
    if not pairs:
        raise ValueError("no case to draw")
    first = pairs[0][0]
    channels = int(np.asarray(first["image"]).shape[0])
    modalities = list((first.get("meta") or {}).get("modalities") or [f"channel {i}" for i in range(channels)])
    rows = sum(2 if source is not None else 1 for _, source in pairs)
    figure, axes = plt.subplots(rows, channels + 1, figsize=(2.1 * (channels + 1), 2.25 * rows + 0.9),
                                squeeze=False)
    values: set[int] = set()
    row = 0
    for synthetic, source in pairs:
        index = centre_slice(synthetic, source)
        shown = [(source, "source"), (synthetic, "synthetic")] if source is not None else [(synthetic, "synthetic")]
        reference = np.asarray((source if source is not None else synthetic)["image"], np.float32)
        for case, role in shown:
            image = np.asarray(case["image"], np.float32)
            label = np.asarray(case["label"])[0]
            codes = axis_codes((case.get("meta") or {}).get("affine"), label.ndim)
            labels_here = _plane(label, index)
            values |= {int(v) for v in np.unique(labels_here) if v}
            for c in range(channels):
                ax = axes[row, c]
                above = reference[c] != reference[c].min()
                lo, hi = (float(v[0]) for v in percentile_range(reference[c:c + 1], above, above))
                ax.imshow(_plane(image[c], index).T, origin="lower", cmap="gray", vmin=lo, vmax=max(hi, lo + 1e-6))
                _overlay(ax, labels_here, alpha)
                ax.set_xticks([])
                ax.set_yticks([])
                _orientation(ax, codes)
                if row == 0:
                    ax.set_title(modalities[c] if c < len(modalities) else f"channel {c}", fontsize=9)
                if c == 0:
                    where = f", z={index}" if index is not None else ""
                    ax.set_ylabel(f"{role}\n{case.get('id', '')}{where}", fontsize=6.5)
            ax = axes[row, channels]
            ax.set_facecolor("black")
            ax.imshow(_plane(image[0], index).T, origin="lower", cmap="gray", alpha=0.5)
            _overlay(ax, labels_here, 0.9)
            ax.set_xticks([])
            ax.set_yticks([])
            _orientation(ax, codes)
            if row == 0:
                ax.set_title("labels", fontsize=9)
            row += 1
    names = dict(label_names or {})
    handles = [Patch(facecolor=label_colour(v), edgecolor=label_colour(v), label=f"{v}: {names.get(v, f'label {v}')}")
               for v in sorted(values)]
    if handles:
        figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)
    top = 1.0
    if title:
        import textwrap

        wrapped = textwrap.fill(title, max(24, 18 * (channels + 1)))
        figure.suptitle(wrapped, fontsize=9)
        top = 1.0 - (0.2 + 0.18 * (wrapped.count("\n") + 1)) / figure.get_figheight()
    figure.tight_layout(rect=(0, 0.04 if handles else 0, 1, top))
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)
    return path


def _overlay(ax: Any, labels: np.ndarray, alpha: float) -> None:
    present = [int(v) for v in np.unique(labels) if v]
    if not present:
        return
    if alpha > 0:
        rgba = np.zeros(labels.T.shape + (4,), np.float32)
        for value in present:
            rgba[labels.T == value] = (*label_colour(value), alpha)
        ax.imshow(rgba, origin="lower", interpolation="nearest")
    for value in present:
        ax.contour((labels == value).T.astype(float), levels=[0.5], colors=[label_colour(value)], linewidths=0.7,
                   origin="lower")


def _orientation(ax: Any, codes: Sequence[str]) -> None:
    """Letters at the edges: the display's x axis is voxel axis 0, its y axis voxel axis 1."""
    style = {"color": "white", "fontsize": 7, "fontweight": "bold", "transform": ax.transAxes}
    x, y = codes[0], codes[1] if len(codes) > 1 else "?"
    ax.text(0.02, 0.5, _OPPOSITE.get(x, "?"), ha="left", va="center", **style)
    ax.text(0.98, 0.5, x, ha="right", va="center", **style)
    ax.text(0.5, 0.98, y, ha="center", va="top", **style)
    ax.text(0.5, 0.02, _OPPOSITE.get(y, "?"), ha="center", va="bottom", **style)


def montage_of_dataset(folder: str | Path, sources: str | Path, title: str | None = None, max_cases: int = 6,
                       path: str | Path | None = None) -> Path:
    """``montage.png`` in ``folder`` (a written synthetic dataset): its first cases beside the cases of
    ``sources`` they were made from (``source_case`` / ``source`` column of its ``manifest.csv``).

    Returns:
        The PNG's path.
    """
    import pandas as pd

    from medgan.io import load_dataset

    folder = Path(folder)
    written = load_dataset(folder)
    source_data = load_dataset(sources, modalities=list(written.modalities))
    rows = pd.read_csv(folder / "manifest.csv", dtype=str)
    column = next((c for c in ("source_case", "source") if c in rows), None)
    known = {ref.id for ref in source_data.cases}
    pairs = []
    for _, row in rows.head(max_cases).iterrows():
        source = row[column] if column else None
        pairs.append((written.load(str(row["case_id"])),
                      source_data.load(source) if isinstance(source, str) and source in known else None))
    names = dict(source_data.label_names) or None
    return write_montage(pairs, path or folder / "montage.png", names, title=title, max_cases=max_cases)
