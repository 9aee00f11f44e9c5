"""Constants, seeds and grids of the simulated sample data (changing a constant changes the shipped bytes)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPACING_3D = 3.5  # mm, isotropic
SHAPE_3D = (56, 64, 56)
CENTRE_3D = (0.0, -17.0, 12.0)  # world (RAS+, mm) position of the grid centre
SPACING_2D = 3.0
SHAPE_2D = (64, 64)
CENTRE_2D = (0.0, -17.0)
BRAIN_CENTRE = np.array([0.0, -17.0, 5.0])  # centre of the random affine (MNI mm)
FIELD_BOX = (-130.0, 130.0)  # world box (mm) spanned by the control points of smooth fields
GZIP_LEVEL = 9
HEALTHY_ID_OFFSET = 1000  # healthy cases are BraTS-SIM-01000-000, ...; tumour cases start at 0
KIND_TUMOUR, KIND_HEALTHY, KIND_LESION2D = 0, 1, 2
DEFAULT_N_TUMOUR, DEFAULT_N_HEALTHY, DEFAULT_N_SLICES = 16, 4, 96
MR_CONTRASTS = ("t1n", "t1c", "t2w", "t2f")
TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}

# Tissue classes, in the order of the fraction stack used for rendering.
TISSUES = ("gm", "wm", "csf", "skull", "scalp", "air", "necrosis", "enhancing", "oedema")
# Mean MR signal per tissue relative to white matter on T1 (arbitrary units).
MR_MEANS = {
    "t1n": (0.62, 1.00, 0.22, 0.08, 0.85, 0.0, 0.30, 0.58, 0.72),
    "t1c": (0.65, 1.00, 0.22, 0.08, 0.95, 0.0, 0.30, 1.65, 0.74),
    "t2w": (0.70, 0.45, 1.60, 0.05, 0.65, 0.0, 1.40, 0.95, 1.10),
    "t2f": (0.75, 0.55, 0.12, 0.05, 0.70, 0.0, 0.95, 0.90, 1.25),
}
MR_WM_LEVEL = (200.0, 400.0)  # range of the white-matter-on-T1 level in stored integer units
MR_NOISE = (0.02, 0.04)  # Rician sigma as a fraction of that level
CT_MEANS = {
    "gm": 40.0,
    "wm": 28.0,
    "csf": 10.0,
    "scalp": 40.0,
    "air": -1000.0,
    "necrosis": 35.0,
    "enhancing": 45.0,
    "oedema": 20.0,
}
CT_NOISE_HU = (3.0, 6.0)
LESION_CLASSES = {1: "cyst", 2: "metastasis", 3: "haemangioma"}

ICBM152_NOTICE = """\
Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological
Institute, McGill University. Permission to use, copy, modify, and distribute this software and its
documentation for any purpose and without fee is hereby granted, provided that the above copyright
notice appear in all copies. The authors and McGill University make no representations about the
suitability of this software for any purpose. It is provided "as is" without express or implied
warranty. The authors are not responsible for any data loss, equipment damage, property loss, or
injury to subjects or patients resulting from the use or misuse of this software package.
"""




def subject_seed(seed: int, kind: int, index: int) -> int:
    """Return the integer seed of one subject, a pure function of ``(seed, kind, index)``.

    Args:
        seed: global seed given on the command line.
        kind: ``KIND_TUMOUR``, ``KIND_HEALTHY`` or ``KIND_LESION2D``.
        index: subject index within its kind.

    Returns:
        A 63-bit integer for ``numpy.random.default_rng``.
    """
    state = np.random.SeedSequence([seed, kind, index]).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def grid_affine_3d() -> np.ndarray:
    """Return the 4x4 RAS+ voxel-to-world affine shared by every 3D case."""
    affine = np.diag([SPACING_3D, SPACING_3D, SPACING_3D, 1.0])
    affine[:3, 3] = np.asarray(CENTRE_3D) - SPACING_3D * (np.asarray(SHAPE_3D) - 1) / 2.0
    return affine


def slice_affine_2d(z_mm: float) -> np.ndarray:
    """Return the 4x4 RAS+ affine of an axial 2D slice lying at world height ``z_mm``."""
    affine = np.diag([SPACING_2D, SPACING_2D, SPACING_2D, 1.0])
    affine[:2, 3] = np.asarray(CENTRE_2D) - SPACING_2D * (np.asarray(SHAPE_2D) - 1) / 2.0
    affine[2, 3] = z_mm
    return affine


def world_points(affine: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Return the world coordinates (3, N) of every voxel centre of a 2D or 3D grid (C order)."""
    axes = [np.arange(n, dtype=np.float64) for n in shape]
    ijk = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")])
    if len(shape) == 2:
        ijk = np.vstack([ijk, np.zeros((1, ijk.shape[1]))])
    return affine[:3, :3] @ ijk + affine[:3, 3:4]


def to_int16(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Round and clip to int16 (the rounding is deterministic: half to even)."""
    return np.clip(np.rint(values), low, high).astype(np.int16)


