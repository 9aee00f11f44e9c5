"""Per-case tumour statistics of a BraTS-layout cohort and a side-by-side check against a reference cohort.

For every case: tumour volume (mL), the share of each label (NCR 1, ED 2, ET 3) in the tumour, and
each label's contrast to the tissue around the tumour per MR modality, in z units:
``(mean inside the label - mean of the shell) / std of the shell``, the shell being the head voxels
within 3 voxels of the tumour and outside it. The check compares medians with the tolerances of
the lesion-realism targets: label shares within 10 points, median volume within a factor 1.5,
contrasts within 0.5 z.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

LABELS = {1: "NCR", 2: "ED", 3: "ET"}
MODALITIES = ("t1n", "t1c", "t2w", "t2f")
#: tolerances of :func:`compare` (the lesion-realism targets)
SHARE_POINTS, VOLUME_FACTOR, CONTRAST_Z = 10.0, 1.5, 0.5


def case_stats(folder: str | Path, case_id: str) -> dict[str, float | str | bool]:
    """Statistics of one case folder ``folder/<case_id>/<case_id>-{seg,t1n,...}.nii.gz``.

    Returns:
        ``{"case", "healthy", "volume_ml"}``, and for tumour cases ``share_<label>`` (percent of the
        tumour) and ``z_<label>_<modality>``.
    """
    case = Path(folder) / case_id
    seg_img = nib.load(case / f"{case_id}-seg.nii.gz")
    seg = np.asarray(seg_img.dataobj)
    voxel_ml = float(np.prod(seg_img.header.get_zooms()[:3])) / 1000.0
    tumour = seg > 0
    stats: dict[str, float | str | bool] = {"case": case_id, "healthy": not tumour.any(),
                                            "volume_ml": float(tumour.sum()) * voxel_ml}
    if not tumour.any():
        return stats
    for value, name in LABELS.items():
        stats[f"share_{name}"] = 100.0 * float(np.count_nonzero(seg == value)) / float(tumour.sum())
    near = ndimage.binary_dilation(tumour, iterations=3) & ~tumour
    for modality in MODALITIES:
        image = np.asarray(nib.load(case / f"{case_id}-{modality}.nii.gz").dataobj, dtype=np.float64)
        shell = image[near & (image > 0)]
        spread = float(shell.std()) or 1.0
        for value, name in LABELS.items():
            inside = image[seg == value]
            stats[f"z_{name}_{modality}"] = (float(inside.mean()) - float(shell.mean())) / spread \
                if inside.size else float("nan")
    return stats


@dataclass(frozen=True)
class Row:
    """One line of the comparison table."""

    quantity: str
    reference: str
    generated: str
    tolerance: str
    ok: bool


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    q1, median, q3 = np.nanpercentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(median), float(q1), float(q3)


def _describe(values: Sequence[float], digits: int) -> str:
    if not len(values):
        return "-"
    median, q1, q3 = _quartiles(values)
    return f"{median:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


def compare(generated: Iterable[dict], reference: Iterable[dict]) -> list[Row]:
    """Medians (and quartiles) of ``generated`` next to ``reference``, each with its tolerance and verdict."""
    gen, ref = list(generated), list(reference)
    rows = []
    share = [100.0 * np.mean([s["healthy"] for s in c]) if c else float("nan") for c in (ref, gen)]
    rows.append(Row("healthy cases (%)", f"{share[0]:.0f} (n={len(ref)})", f"{share[1]:.0f} (n={len(gen)})",
                    "+-10 points", bool(abs(share[0] - share[1]) <= 10.0)))
    gen_t, ref_t = [s for s in gen if not s["healthy"]], [s for s in ref if not s["healthy"]]
    volumes = [[s["volume_ml"] for s in c] for c in (ref_t, gen_t)]
    ratio = _quartiles(volumes[1])[0] / _quartiles(volumes[0])[0] if all(volumes) else float("nan")
    rows.append(Row("tumour volume (mL)", _describe(volumes[0], 1), _describe(volumes[1], 1),
                    f"x{1 / VOLUME_FACTOR:.2f}-{VOLUME_FACTOR:.2f}", bool(1 / VOLUME_FACTOR <= ratio <= VOLUME_FACTOR)))
    for name in LABELS.values():
        values = [[s[f"share_{name}"] for s in c] for c in (ref_t, gen_t)]
        gap = abs(_quartiles(values[1])[0] - _quartiles(values[0])[0]) if all(values) else float("nan")
        rows.append(Row(f"{name} share of tumour (%)", _describe(values[0], 1), _describe(values[1], 1),
                        f"+-{SHARE_POINTS:.0f} points", bool(gap <= SHARE_POINTS)))
    for name in LABELS.values():
        for modality in MODALITIES:
            key = f"z_{name}_{modality}"
            values = [[s[key] for s in c] for c in (ref_t, gen_t)]
            gap = abs(_quartiles(values[1])[0] - _quartiles(values[0])[0]) if all(values) else float("nan")
            rows.append(Row(f"{name} contrast {modality} (z)", _describe(values[0], 2), _describe(values[1], 2),
                            f"+-{CONTRAST_Z}", bool(gap <= CONTRAST_Z)))
    return rows


def format_table(rows: Sequence[Row], reference: str = "shipped", generated: str = "generated") -> str:
    """The comparison as a Markdown table: median [25th, 75th percentile] per cohort."""
    lines = [f"| quantity | {reference} | {generated} | tolerance | close |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.quantity} | {r.reference} | {r.generated} | {r.tolerance} | {'yes' if r.ok else 'NO'} |"
              for r in rows]
    return "\n".join(lines)
