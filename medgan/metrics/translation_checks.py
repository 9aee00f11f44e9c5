"""Checks that a translation (e.g. MR -> CT) keeps every lesion, invents none, and has plausible
intensities per tissue: what ``medgan evaluate translation`` reports and the benchmark's
translation stages are gated on (:func:`translation_gate`).

**Lesion preservation.** A *lesion* is a connected component (full connectivity) of label > 0 with
at least ``min_voxels`` voxels; each of its label values with at least ``min_voxels`` voxels is a
*region*. Its contrast in an image is a robust z-score against the surrounding normal tissue:
``z = (median inside - median of the shell) / (1.4826 * MAD of the shell)``, the *shell* being
the unlabelled body voxels within ``shell_mm`` (5 mm) of the lesion. The *reference* is the image
whose lesions the translation must keep: the real target when there is one (paired evaluation,
the benchmark's training cases), else the source. When reference and translation share units
(real CT and translated CT), both are divided by the reference shell's spread.

- A region is *judged* when it is visible in the reference: ``|z_ref| >= visible_z`` (1).
- It *vanishes* when the translation keeps less than ``keep_fraction`` (0.25) of that contrast
  with the same sign: ``z_tr * sign(z_ref) < keep_fraction * |z_ref|``.

**Spurious lesion-like blobs.** The local contrast of an image is ``(image - median filter of
edge blob_mm) / s``, with ``s`` the robust spread (1.4826 MAD) of the reference's local contrast
in the search region (the translation's own when units differ). The *search region* is the soft
tissue (reference tissue class ``soft``, else the body) eroded by ``margin_mm`` (7 mm) and farther
than ``margin_mm`` from any label. A *blob* is a connected component of ``|local contrast| >=
blob_z`` (4) in the translation inside the search region, of at least ``min_voxels`` voxels; it is
*spurious* when fewer than half its voxels have ``|local contrast| >= blob_z / 2`` in the
reference (no counterpart there).

**HU plausibility.** Tissues are classes of the reference: in HU, air < -500 <= soft tissue/brain
< 300 <= bone; in other units, the two multi-Otsu thresholds of the training references. A
translated case is plausible when, for every tissue present, its median inside that tissue's
reference mask lies within the range of the training cases' real medians, widened on each side by
``range_margin`` (2 %) of the training intensity range (0.5th to 99.5th percentile).

Pure functions: they read and write no files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

#: HU thresholds of the tissue classes (air | soft tissue/brain | bone)
HU_THRESHOLDS = (-500.0, 300.0)
TISSUES = ("air", "soft", "bone")


@dataclass
class CheckOptions:
    """Definitions and tolerances of the checks (see the module docstring).

    Attributes:
        min_voxels: smallest lesion region and smallest blob (voxels).
        shell_mm: width of the surrounding-tissue shell.
        visible_z: a region is judged when its reference contrast is at least this.
        keep_fraction: a judged region vanishes below this fraction of its reference contrast.
        blob_mm: edge of the median filter of the local contrast.
        blob_z: local contrast of a blob.
        margin_mm: blobs are searched this far inside the soft tissue and from the labels.
        range_margin: widening of the real per-tissue median range, as a fraction of the range.
        max_vanished, max_spurious, max_implausible: the gate's tolerances (total over cases).
    """

    min_voxels: int = 5
    shell_mm: float = 5.0
    visible_z: float = 1.0
    keep_fraction: float = 0.25
    blob_mm: float = 15.0
    blob_z: float = 4.0
    margin_mm: float = 7.0
    range_margin: float = 0.02
    max_vanished: int = 0
    max_spurious: int = 0
    max_implausible: int = 0


def robust_sd(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation (the standard deviation for normal data)."""
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    if spacing is None or len(spacing) < ndim:
        return (1.0,) * ndim
    return tuple(float(s) for s in spacing[:ndim])


def _floor(image: np.ndarray, body: np.ndarray) -> float:
    """Smallest spread used as a unit: 1e-3 of the body's 1st-99th percentile range (a noise-free image)."""
    values = image[body] if body.any() else image.ravel()
    return max(1e-3 * float(np.ptp(np.percentile(values, [1, 99]))), 1e-6)


def lesion_contrasts(translation: np.ndarray, reference: np.ndarray, label: np.ndarray, body: np.ndarray,
                     spacing: Sequence[float] | None = None, same_units: bool = True,
                     options: CheckOptions | None = None) -> list[dict[str, Any]]:
    """Contrast of every lesion region in the reference and the translation, and whether it vanished.

    Args:
        translation, reference: images of one shape (the translated and the reference image).
        label: integer label map of that shape (0 = background).
        body: bool body mask (the shell stays inside it).
        spacing: voxel size in mm.
        same_units: divide the translation's contrast by the reference shell's spread too.
        options: definitions and tolerances.

    Returns:
        One row per region: ``lesion``, ``label``, ``voxels``, ``z_reference``, ``z_translation``,
        ``judged``, ``vanished``.
    """
    options = options or CheckOptions()
    t, r, label = np.asarray(translation, np.float64), np.asarray(reference, np.float64), np.asarray(label)
    spacing = _spacing(spacing, label.ndim)
    components, n = ndimage.label(label > 0, structure=np.ones((3,) * label.ndim))
    floor_r, floor_t = _floor(r, body), _floor(t, body)
    pad = [int(np.ceil(options.shell_mm / s)) + 1 for s in spacing]
    rows = []
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        if box is None:
            continue
        crop = tuple(slice(max(s.start - p, 0), min(s.stop + p, e)) for s, p, e in zip(box, pad, label.shape))
        lesion = components[crop] == index
        if lesion.sum() < options.min_voxels:
            continue
        distance = ndimage.distance_transform_edt(~lesion, sampling=spacing)
        shell = (distance > 0) & (distance <= options.shell_mm) & (label[crop] == 0) & body[crop]
        if shell.sum() < options.min_voxels:
            continue
        rc, tc, lc = r[crop], t[crop], label[crop]
        scale_r = max(robust_sd(rc[shell]), floor_r)
        scale_t = scale_r if same_units else max(robust_sd(tc[shell]), floor_t)
        for value in np.unique(lc[lesion]):
            region = lesion & (lc == value)
            if region.sum() < options.min_voxels:
                continue
            z_ref = (np.median(rc[region]) - np.median(rc[shell])) / scale_r
            z_tr = (np.median(tc[region]) - np.median(tc[shell])) / scale_t
            judged = abs(z_ref) >= options.visible_z
            vanished = bool(judged and z_tr * np.sign(z_ref) < options.keep_fraction * abs(z_ref))
            rows.append({"lesion": index, "label": int(value), "voxels": int(region.sum()),
                         "z_reference": float(z_ref), "z_translation": float(z_tr), "judged": bool(judged),
                         "vanished": vanished})
    return rows


def _local_contrast(image: np.ndarray, size: Sequence[int]) -> np.ndarray:
    return image - ndimage.median_filter(image, size=tuple(size), mode="nearest")


def spurious_blobs(translation: np.ndarray, reference: np.ndarray, label: np.ndarray, body: np.ndarray,
                   spacing: Sequence[float] | None = None, soft: np.ndarray | None = None, same_units: bool = True,
                   options: CheckOptions | None = None) -> list[dict[str, Any]]:
    """Lesion-like blobs of the translation outside the labels with no counterpart in the reference.

    Args:
        translation, reference, label, body, spacing, same_units: as :func:`lesion_contrasts`.
        soft: bool mask of the soft tissue where blobs are searched (default: ``body``).
        options: definitions and tolerances.

    Returns:
        One row per spurious blob: ``voxels``, ``centre`` (voxel indices), ``z`` (its median local
        contrast in the translation) and ``z_reference`` (the same voxels in the reference).
    """
    options = options or CheckOptions()
    t, r, label = np.asarray(translation, np.float64), np.asarray(reference, np.float64), np.asarray(label)
    spacing = _spacing(spacing, label.ndim)
    size = [max(3, int(round(options.blob_mm / s)) | 1) for s in spacing]
    margin = [max(1, int(round(options.margin_mm / s))) for s in spacing]
    box = np.ones([2 * m + 1 for m in margin], bool)
    region = soft if soft is not None else body
    search = ndimage.binary_erosion(region, structure=box) & ~ndimage.binary_dilation(label > 0, structure=box)
    if not search.any():
        return []
    local_r, local_t = _local_contrast(r, size), _local_contrast(t, size)
    scale_r = max(robust_sd(local_r[search]), _floor(r, body))
    scale_t = scale_r if same_units else max(robust_sd(local_t[search]), _floor(t, body))
    z_t, z_r = local_t / scale_t, local_r / scale_r
    strong = (np.abs(z_t) >= options.blob_z) & search
    components, n = ndimage.label(strong, structure=np.ones((3,) * label.ndim))
    rows = []
    for index in range(1, n + 1):
        blob = components == index
        voxels = int(blob.sum())
        if voxels < options.min_voxels:
            continue
        if np.mean(np.abs(z_r[blob]) >= options.blob_z / 2) >= 0.5:
            continue  # the reference has it too
        rows.append({"voxels": voxels, "centre": [int(round(c)) for c in ndimage.center_of_mass(blob)],
                     "z": float(np.median(z_t[blob])), "z_reference": float(np.median(z_r[blob]))})
    return rows


def tissue_thresholds(references: Sequence[np.ndarray], unit: str) -> tuple[float, float]:
    """The two thresholds air | soft | bone: fixed in HU, else multi-Otsu of the pooled references."""
    if unit == "HU":
        return HU_THRESHOLDS
    from skimage.filters import threshold_multiotsu

    pooled = np.concatenate([np.asarray(r, np.float64).ravel()[:: max(1, np.asarray(r).size // 100_000)]
                             for r in references])
    low, high = threshold_multiotsu(pooled, classes=3)
    return float(low), float(high)


def tissue_masks(reference: np.ndarray, thresholds: tuple[float, float]) -> dict[str, np.ndarray]:
    """Bool masks of air, soft tissue and bone of ``reference`` by ``thresholds``."""
    low, high = thresholds
    return {"air": reference < low, "soft": (reference >= low) & (reference < high), "bone": reference >= high}


def tissue_medians(image: np.ndarray, masks: Mapping[str, np.ndarray], min_voxels: int = 5) -> dict[str, float]:
    """Median of ``image`` inside each tissue mask with at least ``min_voxels`` voxels."""
    return {name: float(np.median(image[mask])) for name, mask in masks.items() if mask.sum() >= min_voxels}


@dataclass
class TissueRanges:
    """What the training references look like per tissue: thresholds and median ranges."""

    thresholds: tuple[float, float]
    ranges: dict[str, tuple[float, float]]
    unit: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_tissue_ranges(references: Sequence[np.ndarray], unit: str, options: CheckOptions | None = None
                      ) -> TissueRanges:
    """Per-tissue range of the real training medians, widened by ``range_margin`` of the intensity range.

    Args:
        references: the real target images of the training cases.
        unit: ``"HU"`` for CT in Hounsfield units (fixed thresholds), anything else for multi-Otsu.
    """
    options = options or CheckOptions()
    if not references:
        raise ValueError("no training references for the tissue ranges")
    thresholds = tissue_thresholds(references, unit)
    medians: dict[str, list[float]] = {}
    for reference in references:
        for name, value in tissue_medians(reference, tissue_masks(reference, thresholds), options.min_voxels).items():
            medians.setdefault(name, []).append(value)
    pooled = np.concatenate([np.asarray(r, np.float64).ravel() for r in references])
    margin = options.range_margin * float(np.ptp(np.percentile(pooled, [0.5, 99.5])))
    ranges = {name: (min(v) - margin, max(v) + margin) for name, v in medians.items()}
    return TissueRanges(thresholds, ranges, unit)


def hu_plausibility(translation: np.ndarray, reference: np.ndarray, ranges: TissueRanges,
                    options: CheckOptions | None = None) -> dict[str, Any]:
    """Per-tissue median of the translation inside the reference's tissue masks, and whether each lies
    in the training range.

    Returns:
        ``{"medians": {tissue: value}, "out_of_range": [tissues], "plausible": bool}``.
    """
    options = options or CheckOptions()
    medians = tissue_medians(np.asarray(translation, np.float64),
                             tissue_masks(np.asarray(reference), ranges.thresholds), options.min_voxels)
    out = [name for name, value in medians.items()
           if name in ranges.ranges and not ranges.ranges[name][0] <= value <= ranges.ranges[name][1]]
    return {"medians": medians, "out_of_range": out, "plausible": not out}


def check_case(case_id: str, translation: np.ndarray, reference: np.ndarray, label: np.ndarray | None,
               body: np.ndarray, spacing: Sequence[float] | None, ranges: TissueRanges | None,
               same_units: bool = True, options: CheckOptions | None = None) -> dict[str, Any]:
    """All three checks of one case.

    Args:
        label: ``(X, Y[, Z])`` or ``(1, X, Y[, Z])`` integer labels, or ``None`` (no lesions).
        ranges: the training tissue ranges (no HU check when ``None``).

    Returns:
        ``{"case", "lesions", "judged", "vanished", "spurious", "blobs", "hu"}``.
    """
    options = options or CheckOptions()
    label = np.zeros(np.shape(reference), np.uint8) if label is None else np.asarray(label)
    if label.ndim == np.ndim(reference) + 1:
        label = label[0]
    lesions = lesion_contrasts(translation, reference, label, body, spacing, same_units, options)
    soft = None
    if ranges is not None:
        soft = tissue_masks(np.asarray(reference), ranges.thresholds)["soft"] & body
    blobs = spurious_blobs(translation, reference, label, body, spacing, soft, same_units, options)
    hu = hu_plausibility(translation, reference, ranges, options) if ranges is not None else None
    return {"case": case_id, "lesions": lesions, "judged": sum(r["judged"] for r in lesions),
            "vanished": sum(r["vanished"] for r in lesions), "spurious": len(blobs), "blobs": blobs, "hu": hu}


def translation_gate(results: Sequence[Mapping[str, Any]], options: CheckOptions | None = None) -> dict[str, Any]:
    """The verdict over cases: vanished lesions, spurious blobs and implausible cases against the tolerances.

    Returns:
        ``{"passed", "failed": [criteria], "cases", "judged", "vanished", "spurious", "implausible",
        "tolerances", "per_case": [...]}`` (per case: the counts and the tissues out of range).
    """
    options = options or CheckOptions()
    vanished = sum(int(r["vanished"]) for r in results)
    spurious = sum(int(r["spurious"]) for r in results)
    implausible = sum(1 for r in results if r.get("hu") and not r["hu"]["plausible"])
    failed = [name for name, value, limit in (("vanished", vanished, options.max_vanished),
                                              ("spurious", spurious, options.max_spurious),
                                              ("hu", implausible, options.max_implausible)) if value > limit]
    per_case = [{"case": r["case"], "judged": r["judged"], "vanished": r["vanished"], "spurious": r["spurious"],
                 "hu_medians": (r.get("hu") or {}).get("medians"), "hu_out_of_range": (r.get("hu") or {}).get(
                     "out_of_range", [])} for r in results]
    return {"passed": not failed, "failed": failed, "cases": len(results),
            "judged": sum(int(r["judged"]) for r in results), "vanished": vanished, "spurious": spurious,
            "implausible": implausible,
            "tolerances": {"max_vanished": options.max_vanished, "max_spurious": options.max_spurious,
                           "max_implausible": options.max_implausible, "keep_fraction": options.keep_fraction,
                           "visible_z": options.visible_z, "blob_z": options.blob_z},
            "per_case": per_case}


def gate_markdown(gate: Mapping[str, Any], ranges: TissueRanges | None = None, title: str = "Translation checks"
                  ) -> str:
    """The verdict and the per-case table as Markdown."""
    status = "passed" if gate["passed"] else f"FAILED ({', '.join(gate['failed'])})"
    tol = gate["tolerances"]
    lines = [f"### {title}: {status}", "",
             f"{gate['cases']} case(s); {gate['judged']} lesion region(s) visible in the reference, "
             f"{gate['vanished']} vanished (tolerance {tol['max_vanished']}); {gate['spurious']} spurious "
             f"lesion-like blob(s) (tolerance {tol['max_spurious']}); {gate['implausible']} case(s) with a tissue "
             f"median outside the training range (tolerance {tol['max_implausible']}).", ""]
    if ranges is not None:
        spans = ", ".join(f"{k} [{lo:.0f}, {hi:.0f}]" for k, (lo, hi) in ranges.ranges.items())
        lines += [f"Training ranges of the per-tissue medians ({ranges.unit}): {spans}.", ""]
    lines += ["| case | lesions judged | vanished | spurious blobs | tissue medians | out of range |",
              "| --- | --- | --- | --- | --- | --- |"]
    for row in gate["per_case"]:
        medians = ", ".join(f"{k} {v:.0f}" for k, v in (row["hu_medians"] or {}).items())
        lines.append(f"| {row['case']} | {row['judged']} | {row['vanished']} | {row['spurious']} | {medians} | "
                     f"{', '.join(row['hu_out_of_range']) or '-'} |")
    return "\n".join(lines) + "\n"
