"""Copy-paste lesions (TumorCP / CarveMix style): real lesions of training cases, with their labels
and every modality, transformed and pasted into other cases. No learning: the baseline every lesion
GAN has to beat.

For each new lesion:

1. **Source.** A real lesion (connected component of label > 0) of a training case, cut with a
   context margin around it, its labels (this component only) and the statistics of its case:
   per modality, the mean of a shell of surrounding tissue (``shell_mm`` outside the lesion,
   inside the body/brain foreground, unlabelled) and the standard deviation of the case's normal
   tissue (foreground without labels).
2. **Transform** with medgan's own spatial transforms in mm, resampled once: rotation, isotropic
   scaling, elastic deformation, flips (image cubic B-spline, labels one-hot linear + argmax: no new
   label values, and label borders that follow the interpolated image, so a thin enhancing rim
   keeps its contrast), then resampled to the target case's spacing (the same way).
3. **Place.** ``candidates`` random centres where the whole lesion lies inside the target's
   foreground eroded by ``inset_mm`` and at least ``margin_mm`` from every existing lesion; the one
   whose surrounding tissue (same shell, in the target's normal-tissue z) is closest to the
   source lesion's wins, so a lesion of white matter goes into white matter.
4. **Match intensities**: ``x -> target shell mean + (x - source shell mean) x target normal std /
   source normal std`` per modality, which keeps the lesion-to-surroundings contrast in units of
   normal tissue (the realism gate's contrast).
5. **Blend** over a cosine ramp ``border_mm`` wide outside the lesion (wide enough to carry the
   source's own partial-volume fall-off: a narrow ramp leaves a step sharper than real borders);
   write the lesion's labels exactly (the target's labels elsewhere are unchanged, and the image
   is bit-for-bit unchanged outside the ramp).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from medgan.errors import DataError
from medgan.transforms.insertion import candidate_locations, insert_lesion, lesion_to_spacing
from medgan.transforms.lesion_extent import case_spacing
from medgan.transforms.scaling import foreground_mask


@dataclass
class CopyPasteOptions:
    """Settings of copy-paste.

    Attributes:
        lesions_per_case: lesions pasted into each new case.
        min_voxels: smaller components of the training labels are not used as sources.
        context_mm: tissue kept around each source lesion (it is blended in over ``border_mm``).
        rotate: largest rotation (degrees, about every axis in 3D).
        scale: ``(low, high)`` isotropic zoom range.
        elastic_mm: largest elastic displacement (mm); 0 for none.
        flips: flip every axis with probability 1/2.
        interpolation: of the image under the transform, ``bspline`` (cubic: thin structures such
            as an enhancing rim keep their contrast) or ``linear``; labels are one-hot linear + argmax.
        border_mm: width of the blending ramp outside the lesion.
        margin_mm: least distance between a new lesion and any existing one.
        inset_mm: least distance between a new lesion and the edge of the foreground (keeps brain
            tumours off the skull and scalp of unstripped heads).
        shell_mm: width of the surrounding-tissue shell for intensity matching and placement.
        candidates: places compared for the best-matching surroundings (1: the first that fits).
        tries: random centres tested per lesion.
    """

    lesions_per_case: int = 1
    min_voxels: int = 20
    context_mm: float = 8.0
    rotate: float = 15.0
    scale: tuple[float, float] = (0.9, 1.1)
    elastic_mm: float = 2.0
    flips: bool = True
    interpolation: Literal["bspline", "linear"] = "bspline"
    border_mm: float = 8.0
    margin_mm: float = 5.0
    inset_mm: float = 10.0
    shell_mm: float = 5.0
    candidates: int = 12
    tries: int = 400


@dataclass
class SourceLesion:
    """One real lesion ready to be pasted.

    Attributes:
        case: id of the case it comes from.
        image: ``(C, *box)`` float32 intensities of the lesion and its context.
        label: ``(*box)`` int16 labels of this lesion only.
        spacing: voxel size in mm.
        shell_mean: ``(C,)`` mean of the surrounding-tissue shell in its case.
        normal_mean, normal_std: ``(C,)`` of its case's normal tissue.
    """

    case: str
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, ...]
    shell_mean: np.ndarray
    normal_mean: np.ndarray
    normal_std: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def _ball(spacing: Sequence[float], radius_mm: float) -> np.ndarray:
    radius = [max(1, int(np.ceil(radius_mm / s))) for s in spacing]
    grids = np.meshgrid(*[np.arange(-r, r + 1) * s for r, s in zip(radius, spacing)], indexing="ij")
    return sum(g ** 2 for g in grids) <= max(radius_mm, max(spacing)) ** 2


def normal_tissue(image: np.ndarray, label: np.ndarray, foreground: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-modality mean and standard deviation of the foreground without labels."""
    normal = foreground & (label == 0)
    values = image[:, normal] if normal.any() else image.reshape(len(image), -1)
    return values.mean(1).astype(np.float32), np.maximum(values.std(1), 1e-6).astype(np.float32)


def collect_lesions(cases: Sequence[dict[str, Any]], options: CopyPasteOptions | None = None) -> list[SourceLesion]:
    """Every lesion of at least ``min_voxels`` voxels of ``cases`` (the training cases).

    Raises:
        DataError: the cases hold no such lesion.
    """
    options = options or CopyPasteOptions()
    lesions: list[SourceLesion] = []
    for case in cases:
        if case.get("label") is None or not np.any(case["label"]):
            continue
        image = np.asarray(case["image"], np.float32)
        label = np.asarray(case["label"])[0]
        spacing = case_spacing(case)
        foreground = foreground_mask(image)
        normal_mean, normal_std = normal_tissue(image, label, foreground)
        components, n = ndimage.label(label > 0, structure=np.ones((3,) * label.ndim))
        sizes = np.bincount(components.ravel(), minlength=n + 1)
        for index, box in enumerate(ndimage.find_objects(components), start=1):
            if box is None or sizes[index] < options.min_voxels:
                continue
            # room for the context, the rotation and the enlargement of the transform
            extent = max((s.stop - s.start) * sp for s, sp in zip(box, spacing))
            pad_mm = options.context_mm + 0.25 * extent
            crop = tuple(slice(s.start - int(np.ceil(pad_mm / sp)), s.stop + int(np.ceil(pad_mm / sp)))
                         for s, sp in zip(box, spacing))
            own = components == index
            shell = ndimage.binary_dilation(own, _ball(spacing, options.shell_mm)) & ~own & foreground & (label == 0)
            shell_mean = image[:, shell].mean(1) if shell.any() else normal_mean
            lesions.append(SourceLesion(
                case=str(case.get("id", "case")),
                image=_crop(image, crop, edge=True),
                label=_crop(np.where(own, label, 0).astype(np.int16)[None], crop, edge=False)[0],
                spacing=spacing, shell_mean=shell_mean.astype(np.float32), normal_mean=normal_mean,
                normal_std=normal_std, meta={"voxels": int(sizes[index])}))
    if not lesions:
        raise DataError("training cases", f"no lesion of at least {options.min_voxels} voxels to copy")
    return lesions


def _crop(array: np.ndarray, box: Sequence[slice], edge: bool) -> np.ndarray:
    """``array[:, box]`` with the parts outside the array padded (edge values, or 0)."""
    spatial = array.shape[1:]
    pads = [(max(0, -s.start), max(0, s.stop - n)) for s, n in zip(box, spatial)]
    inner = tuple(slice(max(s.start, 0), min(s.stop, n)) for s, n in zip(box, spatial))
    out = array[(slice(None),) + inner]
    if any(a or b for a, b in pads):
        out = np.pad(out, [(0, 0), *pads], mode="edge" if edge else "constant")
    return np.ascontiguousarray(out)


def transform_lesion(lesion: SourceLesion, options: CopyPasteOptions, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The lesion rotated, scaled, deformed and flipped with medgan's spatial transforms (in mm).

    Returns:
        ``(image, label)`` on the lesion's own grid; labels hold only the lesion's values.
    """
    from medgan.transforms import RandAffined, RandElasticd, RandFlipd, RandSpatiald

    dims = lesion.label.ndim
    ops: list[Any] = [RandAffined(rotate=options.rotate, scale=options.scale)]
    if options.elastic_mm > 0:
        ops.append(RandElasticd(magnitude_mm=options.elastic_mm, control_points=5))
    if options.flips:
        ops.append(RandFlipd(prob=0.5, axes=tuple(range(dims))))
    spatial = RandSpatiald(ops, keys=("image", "label"), mode=(options.interpolation, "label_linear"),
                           padding="border")
    spatial.set_random_state(seed=seed)
    out = spatial({"image": lesion.image, "label": lesion.label[None], "meta": {"spacing": lesion.spacing}})
    image, label = np.asarray(out["image"], np.float32), np.asarray(out["label"])[0]
    if not np.any(label):  # a transform can only lose a lesion by scaling it under one voxel
        return lesion.image, lesion.label
    return image, label


@dataclass
class TargetCase:
    """What placement and intensity matching need of the case that receives lesions."""

    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, ...]
    foreground: np.ndarray
    organ: np.ndarray
    normal_mean: np.ndarray
    normal_std: np.ndarray

    @classmethod
    def from_case(cls, case: dict[str, Any], inset_mm: float) -> TargetCase:
        image = np.asarray(case["image"])
        label = np.asarray(case["label"]) if case.get("label") is not None else np.zeros((1,) + image.shape[1:],
                                                                                        np.uint8)
        spacing = case_spacing(case)
        foreground = foreground_mask(image)
        organ = foreground
        if inset_mm > 0:
            organ = ndimage.distance_transform_edt(foreground, sampling=spacing) > inset_mm
        mean, std = normal_tissue(np.asarray(image, np.float32), label[0], foreground)
        return cls(image, label, spacing, foreground, organ, mean, std)


def paste_lesion(target: TargetCase, lesion: SourceLesion, rng: np.random.Generator,
                 options: CopyPasteOptions) -> dict[str, Any] | None:
    """Transform ``lesion`` and paste it into ``target`` (updated in place); ``None`` if it fits nowhere.

    Returns:
        A record: source case, centre, label values and voxels written.
    """
    image, label = transform_lesion(lesion, options, int(rng.integers(2**31 - 1)))
    image, label = lesion_to_spacing(image, label, lesion.spacing, target.spacing)
    existing = target.label[0] > 0
    forbidden = existing
    if existing.any() and options.margin_mm > 0:
        forbidden = ndimage.distance_transform_edt(~existing, sampling=target.spacing) < options.margin_mm
    centres = candidate_locations(target.organ, forbidden, label, rng, max(1, options.candidates),
                                  tries=options.tries)
    if not centres:
        return None
    lesion_mask = label > 0
    shell = ndimage.binary_dilation(lesion_mask, _ball(target.spacing, options.shell_mm)) & ~lesion_mask
    shell_offsets = np.argwhere(shell) - np.asarray(label.shape) // 2
    wanted = (lesion.shell_mean - lesion.normal_mean) / lesion.normal_std
    best, best_distance, best_mean = centres[0], np.inf, None
    for centre in centres:
        mean = _shell_mean(target, shell_offsets + np.asarray(centre))
        distance = float(np.linalg.norm((mean - target.normal_mean) / target.normal_std - wanted))
        if distance < best_distance:
            best, best_distance, best_mean = centre, distance, mean
    assert best_mean is not None
    scale = (target.normal_std / lesion.normal_std).reshape((-1,) + (1,) * label.ndim)
    matched = best_mean.reshape(scale.shape) + (image - lesion.shell_mean.reshape(scale.shape)) * scale
    new_image, new_label, insertion = insert_lesion(target.image, target.label, matched, label, best,
                                                    options.border_mm, target.spacing)
    target.image, target.label = new_image, new_label
    values = sorted(int(v) for v in np.unique(label[lesion_mask]))
    return {"source_case": lesion.case, "centre": list(best), "labels": values,
            "voxels": int(insertion.lesion.sum()), "surroundings_distance_z": round(best_distance, 3)}


def _shell_mean(target: TargetCase, voxels: np.ndarray) -> np.ndarray:
    shape = np.asarray(target.label.shape[1:])
    voxels = voxels[np.all((voxels >= 0) & (voxels < shape), axis=1)]
    index = tuple(voxels.T)
    keep = target.foreground[index] & (target.label[0][index] == 0)
    if not keep.any():
        return target.normal_mean
    picked = tuple(v[keep] for v in index)
    return np.asarray(target.image, np.float32)[(slice(None),) + picked].mean(1)


def copy_paste_case(case: dict[str, Any], bank: Sequence[SourceLesion], rng: np.random.Generator,
                    options: CopyPasteOptions | None = None, prefer: Sequence[int] = ()) -> dict[str, Any]:
    """A copy of ``case`` with ``lesions_per_case`` lesions of ``bank`` (never its own) pasted in.

    Args:
        prefer: bank indices tried first for the 1st, 2nd... lesion (a caller that deals the bank's
            lesions out in turn, so a set of cases follows the bank's distribution of sizes and labels);
            a lesion that is the case's own or does not fit falls back to random others.

    Raises:
        DataError: no lesion of the bank fits into the case.
    """
    options = options or CopyPasteOptions()
    target = TargetCase.from_case(case, options.inset_mm)
    own = str(case.get("id", ""))
    pool = [i for i, lesion in enumerate(bank) if lesion.case != own] or list(range(len(bank)))
    records = []
    for k in range(options.lesions_per_case):
        record = None
        first = [int(prefer[k])] if k < len(prefer) and int(prefer[k]) in pool else []
        for i in first + [int(j) for j in rng.permutation(pool)[:8]]:  # too large for this case: try another
            record = paste_lesion(target, bank[int(i)], rng, options)
            if record is not None:
                break
        if record is None:
            raise DataError(case.get("id", "case"), "no place for a copied lesion (foreground too small or full "
                                                    "of lesions for lesions of this size)")
        records.append(record)
    meta = copy.deepcopy(case.get("meta", {}))
    meta.setdefault("history", []).append({"name": "copy_paste", "lesions": records, "border_mm": options.border_mm,
                                           "margin_mm": options.margin_mm})
    meta["labelled"] = True
    meta.setdefault("label_dtype", "uint8")
    meta["source_case"] = own
    return {**case, "image": target.image, "label": target.label, "meta": meta}
