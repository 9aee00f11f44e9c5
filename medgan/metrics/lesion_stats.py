"""Per-lesion statistics of a set of cases: what the realism gate (:mod:`medgan.metrics.realism`)
compares between synthetic and real lesions.

A *lesion* is a connected component (full connectivity) of label > 0 with at least ``min_voxels``
voxels. In a synthetic case made from a source case, only the voxels whose label differs from the
source's are the new lesions (a lesion pasted into a case that had one already is judged alone).

For every lesion:

- **size**: volume in mL (voxels x voxel volume / 1000) in 3D, area in cm^2 in 2D, and **voxels
  per label value**;
- **contrast** per label value and modality, in units of the surrounding normal tissue:
  ``z = (mean inside the label - mean of the shell) / std of nearby normal tissue``, where the
  *shell* is the voxels within ``shell_mm`` (5) of the lesion (and beyond ``shell_gap_mm``, 0),
  inside the body/brain foreground and not labelled, and *nearby normal tissue* the same voxels
  within ``normal_mm`` (20). The
  wider neighbourhood's spread is steadier than a thin shell's, and unlike the whole case's it is
  not dominated by distant structures (the skull of a CT);
- **sharpness** per modality: mean gradient magnitude (per mm) on the boundary band (one voxel
  either side of the lesion border) divided by the mean gradient magnitude inside the lesion
  (eroded by one voxel). A hard-edged constant cube scores far above real lesions, an invisible
  lesion (image untouched) scores about 1;
- **patch**: the image around the lesion centre of mass on a fixed ``patch_mm`` physical grid
  (so cases of any spacing compare), each channel standardised, for nearest-neighbour NCC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from medgan.transforms.scaling import foreground_mask


@dataclass
class LesionOptions:
    """How lesions are found and measured.

    Attributes:
        min_voxels: smaller components are not lesions (stray voxels).
        min_label_voxels: a label value of a lesion counts for contrast from this many voxels.
        shell_gap_mm, shell_mm: the surrounding-tissue shell lies between these distances from the
            lesion (a gap skips a rim, e.g. the margin an inpainting model fills; 0 by default, as a
            gap makes the comparison of real lesions noisier).
        normal_mm: the normal tissue whose standard deviation is the contrast unit lies within this
            distance of the lesion.
        patch_mm: edge of the physical box (mm) sampled around each lesion for memorisation.
        patch_voxels: grid points per axis of that box.
    """

    min_voxels: int = 5
    min_label_voxels: int = 3
    shell_gap_mm: float = 0.0
    shell_mm: float = 5.0
    normal_mm: float = 20.0
    patch_mm: float = 64.0
    patch_voxels: int = 16


@dataclass
class LesionRecord:
    """Measurements of one lesion (see the module docstring).

    Attributes:
        case: case id.
        size: lesion volume in mL (3D) or area in cm^2 (2D).
        label_voxels: voxels per label value.
        contrast: ``{label: [z per modality]}`` (labels with too few voxels absent).
        sharpness: per modality (``nan`` when the lesion has no interior).
        patch: ``(C, *grid)`` float32 standardised image patch.
    """

    case: str
    size: float
    label_voxels: dict[int, int]
    contrast: dict[int, list[float]]
    sharpness: list[float]
    patch: np.ndarray = field(repr=False)


def size_unit(spatial_dims: int) -> str:
    """Unit of :attr:`LesionRecord.size`: ``mL`` in 3D, ``cm^2`` in 2D."""
    return "mL" if spatial_dims == 3 else "cm^2"


def case_spacing(case: Mapping[str, Any]) -> tuple[float, ...]:
    """Voxel size of a case in mm (``meta["spacing"]``; 1 mm per axis when absent)."""
    dims = np.asarray(case["image"]).ndim - 1
    spacing = (case.get("meta") or {}).get("spacing")
    if spacing is None or len(spacing) < dims:
        return (1.0,) * dims
    return tuple(float(s) for s in spacing[:dims])


def new_lesion_mask(case: Mapping[str, Any], source: Mapping[str, Any] | None = None) -> np.ndarray:
    """Voxels of ``case``'s lesions: label > 0, or where the label differs from ``source``'s."""
    label = np.asarray(case["label"])[0]
    if source is None:
        return label > 0
    before = np.asarray(source["label"])[0]
    if before.shape != label.shape:
        return label > 0
    return (label > 0) & (label != before)


def _sample_patch(image: np.ndarray, centre: np.ndarray, spacing: Sequence[float], options: LesionOptions
                  ) -> np.ndarray:
    dims = image.ndim - 1
    half = options.patch_mm / 2.0
    offsets = np.linspace(-half, half, options.patch_voxels)
    grids = np.meshgrid(*[centre[a] + offsets / spacing[a] for a in range(dims)], indexing="ij")
    coords = np.stack(grids)
    out = np.stack([ndimage.map_coordinates(ch.astype(np.float32), coords, order=1, mode="nearest")
                    for ch in image])
    mean = out.reshape(len(out), -1).mean(1).reshape((-1,) + (1,) * dims)
    std = out.reshape(len(out), -1).std(1).reshape((-1,) + (1,) * dims)
    return np.where(std > 1e-6, (out - mean) / np.maximum(std, 1e-6), 0.0).astype(np.float32)


def case_lesions(case: Mapping[str, Any], source: Mapping[str, Any] | None = None,
                 options: LesionOptions | None = None) -> list[LesionRecord]:
    """Measure every lesion of one case (see the module docstring).

    Args:
        case: a case dictionary with ``image`` ``(C, ...)``, ``label`` ``(1, ...)`` and ``meta["spacing"]``.
        source: the real case it was made from (its lesions are not counted), or ``None``.
        options: measurement settings.

    Returns:
        One record per lesion, in component order.
    """
    options = options or LesionOptions()
    image = np.asarray(case["image"], np.float32)
    label = np.asarray(case["label"])[0]
    spacing = case_spacing(case)
    lesions = new_lesion_mask(case, source)
    components, n = ndimage.label(lesions, structure=np.ones((3,) * lesions.ndim))
    if n == 0:
        return []
    foreground = foreground_mask(image)
    normal = foreground & (label == 0)
    case_std = image[:, normal].std(1) if normal.any() else image.reshape(len(image), -1).std(1)
    reach = max(options.shell_mm, options.normal_mm)
    pad = [int(np.ceil(reach / s)) + 2 for s in spacing]
    records = []
    sizes = np.bincount(components.ravel(), minlength=n + 1)
    boxes = ndimage.find_objects(components)
    voxel_size = float(np.prod(spacing)) / (1000.0 if len(spacing) == 3 else 100.0)  # mL or cm^2
    for index, box in enumerate(boxes, start=1):
        if box is None or sizes[index] < options.min_voxels:
            continue
        crop = tuple(slice(max(s.start - p, 0), min(s.stop + p, n_)) for s, p, n_ in zip(box, pad, label.shape))
        lesion = components[crop] == index
        sub_image, sub_label = image[(slice(None),) + crop], label[crop]
        distance = ndimage.distance_transform_edt(~lesion, sampling=spacing)
        tissue = foreground[crop] & (sub_label == 0)
        shell = (distance > options.shell_gap_mm) & (distance <= options.shell_mm) & tissue
        shell_mean = sub_image[:, shell].mean(1) if shell.any() else sub_image[:, ~lesion].mean(1)
        nearby = (distance <= options.normal_mm) & tissue
        normal_std = sub_image[:, nearby].std(1) if nearby.sum() >= 50 else case_std
        normal_std = np.maximum(normal_std, 1e-6)
        values = sub_label[lesion]
        label_voxels = {int(v): int(c) for v, c in zip(*np.unique(values, return_counts=True))}
        contrast = {}
        for value, count in label_voxels.items():
            if count >= options.min_label_voxels:
                inside = sub_image[:, lesion & (sub_label == value)].mean(1)
                contrast[value] = ((inside - shell_mean) / normal_std).astype(float).tolist()
        records.append(LesionRecord(
            case=str(case.get("id", "case")), size=float(sizes[index]) * voxel_size, label_voxels=label_voxels,
            contrast=contrast, sharpness=_sharpness(sub_image, lesion, spacing),
            patch=_sample_patch(image, np.asarray(ndimage.center_of_mass(components == index)), spacing, options)))
    return records


def _sharpness(image: np.ndarray, lesion: np.ndarray, spacing: Sequence[float]) -> list[float]:
    interior = ndimage.binary_erosion(lesion)
    band = ndimage.binary_dilation(lesion) & ~interior
    if not interior.any() or not band.any():
        return [float("nan")] * len(image)
    out = []
    for channel in image:
        gradient = np.sqrt(sum(g ** 2 for g in np.gradient(channel, *spacing)))
        inside = float(gradient[interior].mean())
        out.append(float(gradient[band].mean()) / max(inside, 1e-6 * max(float(gradient[band].mean()), 1e-12)))
    return out


def set_lesions(cases: Sequence[Mapping[str, Any]], sources: Mapping[str, Mapping[str, Any]] | None = None,
                options: LesionOptions | None = None) -> list[LesionRecord]:
    """Every lesion of every case; ``sources[case id]`` is the case a synthetic case was made from."""
    sources = sources or {}
    records: list[LesionRecord] = []
    for case in cases:
        records.extend(case_lesions(case, sources.get(str(case.get("id"))), options))
    return records
