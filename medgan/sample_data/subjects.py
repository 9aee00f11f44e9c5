"""One simulated subject, written to disk: a BraTS-layout 3D case or a 2D lesion slice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from medgan.sample_data.anatomy import draw_anatomy, head_fields, partial_inside, sample_tissues
from medgan.sample_data.atlas import Template
from medgan.sample_data.files import write_nifti_gz
from medgan.sample_data.geometry import (
    CT_MEANS,
    HEALTHY_ID_OFFSET,
    KIND_HEALTHY,
    KIND_LESION2D,
    KIND_TUMOUR,
    MR_CONTRASTS,
    MR_MEANS,
    SHAPE_2D,
    SHAPE_3D,
    SPACING_2D,
    SPACING_3D,
    grid_affine_3d,
    slice_affine_2d,
    subject_seed,
    world_points,
)
from medgan.sample_data.lesions import lesion_mask_2d, plan_tumour, tumour_labels
from medgan.sample_data.render import fraction_stack, head_support, render_ct, render_mr


@dataclass(frozen=True)
class CaseRecord:
    """One row of ``brats/cases.csv``."""

    case_id: str
    healthy: bool
    tumour_voxels: int
    seed: int


def case_id(kind: int, index: int) -> str:
    """BraTS 2023 style identifier; healthy cases are numbered from ``HEALTHY_ID_OFFSET``."""
    number = index + (HEALTHY_ID_OFFSET if kind == KIND_HEALTHY else 0)
    return f"BraTS-SIM-{number:05d}-000"


def make_brats_case(template: Template, out: Path, seed: int, kind: int, index: int) -> CaseRecord:
    """Simulate one 3D head (with a tumour unless ``kind`` is healthy) and write its six files."""
    sseed = subject_seed(seed, kind, index)
    rng = np.random.default_rng(sseed)
    affine = grid_affine_3d()
    points = world_points(affine, SHAPE_3D)
    anatomy = draw_anatomy(rng)
    fields = head_fields(anatomy, points)
    tissues = sample_tissues(template, anatomy, points, fields, SPACING_3D)
    labels = np.zeros(points.shape[1], dtype=np.uint8)
    lesion = None
    if kind == KIND_TUMOUR:
        for _ in range(50):
            plan = plan_tumour(rng, tissues, points)
            push = (plan.centre, plan.mass_effect, plan.radius_enhancing + plan.oedema_margin)
            pushed = sample_tissues(template, anatomy, points, fields, SPACING_3D, push=push)
            labels = tumour_labels(rng, plan, pushed, points, SHAPE_3D)
            counts = np.bincount(labels, minlength=4)
            if counts[1] >= 4 and counts[3] >= 8 and counts[2] >= 20:
                tissues = pushed
                break
        else:
            raise RuntimeError(f"could not place a tumour for {case_id(kind, index)}")
        one_hot = np.stack([labels == value for value in (1, 3, 2)]).astype(np.float64)
        lesion = np.stack([ndimage.gaussian_filter(c.reshape(SHAPE_3D), 0.6).ravel() for c in one_hot])
    fractions = fraction_stack(tissues, lesion)
    support = head_support(tissues, SHAPE_3D)
    name = case_id(kind, index)
    folder = out / "brats" / name
    for contrast in MR_CONTRASTS:
        image = render_mr(rng, MR_MEANS[contrast], fractions, tissues["texture"], points)
        image[~support] = 0
        write_nifti_gz(folder / f"{name}-{contrast}.nii.gz", image.reshape(SHAPE_3D), affine)
    ct = render_ct(rng, fractions, tissues["skull_hu"])
    ct[~support] = int(CT_MEANS["air"])
    write_nifti_gz(folder / f"{name}-ct.nii.gz", ct.reshape(SHAPE_3D), affine)
    write_nifti_gz(folder / f"{name}-seg.nii.gz", labels.reshape(SHAPE_3D), affine)
    return CaseRecord(name, kind == KIND_HEALTHY, int(np.count_nonzero(labels)), sseed)


def make_lesion_slice(template: Template, out: Path, seed: int, index: int) -> tuple[str, int, int]:
    """Simulate one axial T1c-like slice with one or two lesions of a single class and write it.

    Returns:
        ``(name, class_id, subject seed)``.
    """
    sseed = subject_seed(seed, KIND_LESION2D, index)
    rng = np.random.default_rng(sseed)
    class_id = 1 + index % 3  # balanced classes; everything else is random
    z_mm = float(rng.uniform(0.0, 45.0))
    affine = slice_affine_2d(z_mm)
    points = world_points(affine, SHAPE_2D)
    anatomy = draw_anatomy(rng)
    tissues = sample_tissues(template, anatomy, points, head_fields(anatomy, points), SPACING_2D)
    allowed = np.flatnonzero((tissues["gm"] + tissues["wm"] > 0.8) & (tissues["signed_mm"] < -14.0))
    if allowed.size == 0:
        raise RuntimeError(f"no brain tissue on the slice of lesion subject {index}")
    n_lesions = 1 + int(rng.uniform() < 0.4)
    label = np.zeros(points.shape[1], dtype=np.uint8)
    compartments = np.zeros((2, points.shape[1]))
    compartment_means = np.zeros(2)
    centres: list[tuple[np.ndarray, float]] = []
    for _ in range(60):
        if len(centres) == n_lesions:
            break
        centre = points[:2, allowed[rng.integers(allowed.size)]]
        fractions, means, radius = lesion_mask_2d(rng, class_id, points[:2] - centre[:, None])
        if any(np.hypot(*(centre - c)) < radius + r + 6.0 for c, r in centres):
            continue
        centres.append((centre, radius))
        compartments = np.maximum(compartments, fractions)
        compartment_means = means
        label[fractions.sum(axis=0) >= 0.5] = class_id
    # metastases come with a thin rim of oedema, dark on T1c
    halo = np.zeros(points.shape[1])
    if class_id == 2:
        for centre, radius in centres:
            distance = np.hypot(*(points[:2] - centre[:, None]))
            halo = np.maximum(halo, partial_inside(distance, radius + rng.uniform(3.0, 7.0), SPACING_2D))
        halo = np.clip(halo - compartments.sum(axis=0), 0.0, 1.0)
    tissue_mask = tissues["gm"] + tissues["wm"]
    # lesions and halo sit in brain tissue only (never in CSF or skull)
    compartments = compartments * np.clip(tissue_mask + tissues["csf"], 0.0, 1.0)
    halo = halo * np.clip(tissue_mask, 0.0, 1.0)
    label[tissue_mask + tissues["csf"] < 0.5] = 0
    if not label.any():
        raise RuntimeError(f"lesion subject {index} ended with an empty label")
    lesion = np.stack([compartments[0], compartments[1], halo])
    fractions = fraction_stack(tissues, lesion)
    means = np.asarray(MR_MEANS["t1c"], dtype=np.float64).copy()
    means[6:8] = compartment_means  # the lesion's two compartments take the class's means
    means[8] = 0.8  # oedema halo of metastases
    image = render_mr(rng, means, fractions, tissues["texture"], points)
    image[~head_support(tissues, SHAPE_2D)] = 0
    name = f"lesion-{index:04d}"
    write_nifti_gz(out / "lesions2d" / "images" / f"{name}.nii.gz", image.reshape(SHAPE_2D), affine)
    write_nifti_gz(out / "lesions2d" / "labels" / f"{name}.nii.gz", label.reshape(SHAPE_2D), affine)
    return name, class_id, sseed


