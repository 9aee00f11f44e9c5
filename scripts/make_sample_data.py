"""Generate medgan's shipped, simulated sample data from the MNI ICBM152 2009a templates.

The anatomy comes from the grey-matter, white-matter and T1 templates that ship inside
nilearn's wheel (nothing is downloaded). Every subject is a random smooth deformation plus a
small random affine of those maps, rendered into MR contrasts (T1, T1c, T2, FLAIR) and a CT,
with simulated tumours (3D, BraTS 2023 layout) or simulated focal lesions (2D slices).

Every random draw comes from ``numpy.random.default_rng`` seeded per subject from
``(seed, kind, index)``, so a subject's files depend only on the global seed and its index, and
one subject can be regenerated alone. Files are gzip-compressed with a zero mtime and no file
name, so two runs give byte-identical output.

Example:
    python scripts/make_sample_data.py --out sample_data --preview
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import hashlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy
from scipy import ndimage

# ---------------------------------------------------------------------------------------------
# Fixed geometry and simulation constants (changing any of these changes the shipped bytes).
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Seeding, geometry and writing helpers
# ---------------------------------------------------------------------------------------------
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


def nifti_bytes(data: np.ndarray, affine: np.ndarray) -> bytes:
    """Serialise an array as uncompressed NIfTI-1 bytes with sform and qform set (code 1)."""
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(data.dtype)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"medgan simulated sample data"
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    return img.to_bytes()


def write_atomic(path: Path, payload: bytes) -> None:
    """Write bytes to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_nifti_gz(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    """Write a reproducible ``.nii.gz``: no file name and a zero mtime in the gzip header."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=GZIP_LEVEL) as gz:
        gz.write(nifti_bytes(data, affine))
    write_atomic(path, buffer.getvalue())


def to_int16(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Round and clip to int16 (the rounding is deterministic: half to even)."""
    return np.clip(np.rint(values), low, high).astype(np.int16)


# ---------------------------------------------------------------------------------------------
# Template
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Template:
    """ICBM152 maps resampled to a padded 2 mm grid.

    Attributes:
        maps: (5, X, Y, Z) float32: grey matter, white matter and CSF fractions, brain fraction,
            and the signed distance (mm, negative inside) to a smooth hull around the brain.
        world_to_voxel: 4x4 affine from MNI world mm to indices of ``maps``.
    """

    maps: np.ndarray
    world_to_voxel: np.ndarray


def template_dir() -> Path:
    """Locate the templates inside the installed nilearn wheel without importing nilearn."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nilearn is not installed; it ships the ICBM152 templates (pip install nilearn)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    missing = [name for name in TEMPLATE_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"nilearn at {folder} lacks the ICBM152 templates {missing}")
    return folder


def load_template(folder: Path | None = None) -> Template:
    """Load the ICBM152 2009a T1/GM/WM maps and derive CSF, brain and head-distance maps.

    The 1 mm maps are block-averaged to 2 mm and padded by 24 mm (the bottom by repeating the
    lowest slice, so the brainstem runs on out of the field of view); a hull of the brain gives
    the signed distance used to build the CSF rim, skull and scalp of each subject.

    Args:
        folder: where the template files lie; default: nilearn's ``datasets/data``.

    Returns:
        The maps on the padded 2 mm grid and the affine from world mm to their indices.
    """
    folder = folder or template_dir()
    loaded = {key: nib.load(folder / name) for key, name in TEMPLATE_FILES.items()}
    affine = loaded["t1"].affine
    volumes = {}
    for key, img in loaded.items():
        raw = np.asarray(img.dataobj)
        # the nilearn T1 template is brain-extracted: every non-zero voxel is brain
        data = (raw > 0).astype(np.float32) if key == "t1" else raw.astype(np.float32) / np.float32(255.0)
        data = np.pad(data, [(0, s % 2) for s in data.shape])  # even shape for 2x2x2 blocks
        data = data[0::2] + data[1::2]  # 2x2x2 block sums, one axis at a time
        data = data[:, 0::2] + data[:, 1::2]
        data = data[:, :, 0::2] + data[:, :, 1::2]
        volumes[key] = data / np.float32(8.0)
    brain = volumes["t1"]
    gm = np.minimum(volumes["gm"], brain)
    wm = np.minimum(volumes["wm"], brain - gm)
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    pad = 12  # 2 mm voxels: 24 mm, more than the thickest CSF rim + skull + scalp
    stack = []
    for volume in (gm, wm, csf, brain):
        padded = np.pad(volume, ((pad, pad), (pad, pad), (0, pad)))
        stack.append(np.pad(padded, ((0, 0), (0, 0), (pad, 0)), mode="edge"))
    stack.append(hull_signed_distance(stack[3]))
    maps = np.stack(stack).astype(np.float32)
    # 2 mm voxel I averages 1 mm voxels 2I and 2I + 1 (after padding by `pad` 2 mm voxels)
    voxel2_to_voxel1 = np.diag([2.0, 2.0, 2.0, 1.0])
    voxel2_to_voxel1[:3, 3] = 0.5 - 2 * pad
    world_to_voxel = np.linalg.inv(affine @ voxel2_to_voxel1)
    return Template(maps=maps, world_to_voxel=world_to_voxel)


def hull_signed_distance(brain: np.ndarray) -> np.ndarray:
    """Signed distance (mm, negative inside) to a smooth hull of a 2 mm brain-fraction map.

    The hull (brain closed by 10 mm, holes filled) and its distance map are computed at 4 mm,
    where distance transforms are cheap, then interpolated back to 2 mm and smoothed.
    """
    even = np.pad(brain, [(0, s % 2) for s in brain.shape])
    coarse = even.reshape(even.shape[0] // 2, 2, even.shape[1] // 2, 2, even.shape[2] // 2, 2).mean(axis=(1, 3, 5))
    radius_vox = 2.5  # 10 mm closing removes sulci and the interhemispheric notch from the hull
    dilated = ndimage.distance_transform_edt(coarse <= 0.5) <= radius_vox
    hull = ndimage.binary_fill_holes(ndimage.distance_transform_edt(dilated) > radius_vox)
    signed = 4.0 * (ndimage.distance_transform_edt(~hull) - ndimage.distance_transform_edt(hull))
    # 4 mm voxel J averages 2 mm voxels 2J and 2J + 1, so 2 mm voxel I sits at J = (I - 0.5) / 2
    fine = np.indices(brain.shape, dtype=np.float32).reshape(3, -1)
    upsampled = ndimage.map_coordinates(signed, (fine - 0.5) / 2.0, order=1, mode="nearest")
    return ndimage.gaussian_filter(upsampled.reshape(brain.shape), 1.0)


@functools.lru_cache(maxsize=1)
def cached_template() -> Template:
    """``load_template()`` once per process (each worker process loads its own copy)."""
    return load_template()


# ---------------------------------------------------------------------------------------------
# Smooth random fields and subject anatomy
# ---------------------------------------------------------------------------------------------
def smooth_field(controls: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Evaluate a cubic B-spline field given on a regular control grid over ``FIELD_BOX``.

    For many points (3D grids) the controls are first upsampled four times by the spline and
    then interpolated linearly, which is several times cheaper and indistinguishable here.

    Args:
        controls: (C, n, n, n) control values.
        points: (3, N) world coordinates in mm.

    Returns:
        (C, N) field values.
    """
    lo, hi = FIELD_BOX
    n = controls.shape[1]
    if points.shape[1] <= 32768:
        coords = (points - lo) / (hi - lo) * (n - 1)
        return np.stack([ndimage.map_coordinates(c, coords, order=3, mode="nearest") for c in controls])
    fine = 4 * (n - 1) + 1
    coords = (points - lo) / (hi - lo) * (fine - 1)
    values = []
    for control in controls:
        upsampled = ndimage.zoom(control, fine / n, order=3, mode="nearest", grid_mode=False)
        values.append(ndimage.map_coordinates(upsampled, coords, order=1, mode="nearest"))
    return np.stack(values)


def rotation_matrix(angles_rad: np.ndarray) -> np.ndarray:
    """Return the rotation R = Rz @ Ry @ Rx for three angles in radians."""
    cx, cy, cz = np.cos(angles_rad)
    sx, sy, sz = np.sin(angles_rad)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Anatomy:
    """Random parameters of one simulated head (all drawn by ``draw_anatomy``)."""

    inverse_linear: np.ndarray  # 3x3, subject world -> template world (about BRAIN_CENTRE)
    translation: np.ndarray  # mm
    deformation: np.ndarray  # (3, n, n, n) control displacements in mm
    head: np.ndarray  # (3, n, n, n) controls: skull thickness, scalp thickness, skull HU
    texture: np.ndarray  # (1, n, n, n) controls of a fine multiplicative tissue texture
    csf_rim_mm: float
    skull_mm: float
    scalp_mm: float
    skull_hu: float


def draw_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one subject's anatomy: scale +-8 %, rotation +-5 deg, shift +-3 mm, smooth warp."""
    scales = 1.0 + rng.uniform(-0.08, 0.08, size=3)
    angles = np.deg2rad(rng.uniform(-5.0, 5.0, size=3))
    translation = rng.uniform(-3.0, 3.0, size=3)
    warp_mm = rng.uniform(2.0, 4.5)
    deformation = rng.standard_normal((3, 7, 7, 7)) * warp_mm
    head = rng.standard_normal((3, 5, 5, 5))
    texture = rng.standard_normal((1, 17, 17, 17))
    linear = rotation_matrix(angles) @ np.diag(scales)
    return Anatomy(
        inverse_linear=np.linalg.inv(linear),
        translation=translation,
        deformation=deformation,
        head=head,
        texture=texture,
        csf_rim_mm=float(rng.uniform(1.5, 3.0)),
        skull_mm=float(rng.uniform(4.5, 7.0)),
        scalp_mm=float(rng.uniform(4.0, 7.0)),
        skull_hu=float(rng.uniform(800.0, 1100.0)),
    )


def partial_inside(distance: np.ndarray, threshold: np.ndarray | float, voxel_mm: float) -> np.ndarray:
    """Fraction of a voxel lying at ``distance < threshold`` (linear ramp one voxel wide)."""
    return np.clip(0.5 - (distance - threshold) / voxel_mm, 0.0, 1.0)


def head_fields(anatomy: Anatomy, points: np.ndarray) -> dict[str, np.ndarray]:
    """Evaluate a subject's skull and scalp thickness, skull density and texture at points."""
    head = smooth_field(anatomy.head, points)
    return {
        "skull_mm": np.clip(anatomy.skull_mm + 1.0 * head[0], 3.5, 9.0),
        "scalp_mm": np.clip(anatomy.scalp_mm + 1.0 * head[1], 2.5, 9.0),
        "skull_hu": np.clip(anatomy.skull_hu + 120.0 * head[2], 650.0, 1300.0),
        "texture": 1.0 + 0.03 * smooth_field(anatomy.texture, points)[0],
    }


def sample_tissues(
    template: Template,
    anatomy: Anatomy,
    points: np.ndarray,
    fields: dict[str, np.ndarray],
    voxel_mm: float,
    push: tuple[np.ndarray, float, float] | None = None,
) -> dict[str, np.ndarray]:
    """Sample one subject's tissue fractions at world points.

    Args:
        template: the loaded ICBM152 maps.
        anatomy: the subject's random anatomy.
        points: (3, N) world coordinates (mm) in the subject's space.
        fields: ``head_fields(anatomy, points)``.
        voxel_mm: output voxel size, for partial-volume edges of the skull and scalp.
        push: optional mass effect ``(centre, amplitude, width_mm)``: the tissue at distance r
            from ``centre`` is moved outwards by ``amplitude * r * exp(-r^2 / (2 width^2))``.

    Returns:
        Fractions ``gm, wm, csf, skull, scalp, air`` (each (N,), summing to one), the signed
        distance ``signed_mm`` to the brain hull, and ``skull_hu`` and ``texture`` from ``fields``.
    """
    source = points
    if push is not None:
        centre, amplitude, width = push
        offset = points - centre[:, None]
        radial = np.exp(-np.sum(offset**2, axis=0) / (2.0 * width**2))
        source = points - amplitude * offset * radial
    warped = (
        anatomy.inverse_linear @ (source - BRAIN_CENTRE[:, None])
        + BRAIN_CENTRE[:, None]
        + anatomy.translation[:, None]
        + smooth_field(anatomy.deformation, source)
    )
    voxels = template.world_to_voxel[:3, :3] @ warped + template.world_to_voxel[:3, 3:4]
    gm, wm, csf, brain = (
        ndimage.map_coordinates(m, voxels, order=1, mode="constant", cval=0.0) for m in template.maps[:4]
    )
    signed = ndimage.map_coordinates(template.maps[4], voxels, order=1, mode="nearest")
    inner = partial_inside(signed, anatomy.csf_rim_mm, voxel_mm)
    outer_skull = partial_inside(signed, anatomy.csf_rim_mm + fields["skull_mm"], voxel_mm)
    outer_head = partial_inside(signed, anatomy.csf_rim_mm + fields["skull_mm"] + fields["scalp_mm"], voxel_mm)
    # keep the brain inside the intracranial volume; the remainder of it is CSF
    scale = np.minimum(1.0, inner / np.maximum(brain, 1e-6))
    gm, wm = gm * scale, wm * scale
    csf = np.clip(inner - gm - wm, 0.0, 1.0)
    return {
        "gm": gm,
        "wm": wm,
        "csf": csf,
        "skull": outer_skull - inner,
        "scalp": outer_head - outer_skull,
        "air": 1.0 - outer_head,
        "signed_mm": signed,
        "skull_hu": fields["skull_hu"],
        "texture": fields["texture"],
    }


# ---------------------------------------------------------------------------------------------
# Tumours (3D)
# ---------------------------------------------------------------------------------------------
def smooth_noise(rng: np.random.Generator, shape: Sequence[int], sigma_vox: float) -> np.ndarray:
    """Gaussian-smoothed white noise, normalised to zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(tuple(shape)), sigma_vox, mode="wrap")
    return (field - field.mean()) / field.std()


@dataclass(frozen=True)
class TumourPlan:
    """Position and sizes of one simulated tumour (mm, world space)."""

    centre: np.ndarray
    radius_enhancing: float
    necrosis_ratio: float
    oedema_margin: float
    axes: np.ndarray  # 3x3, anisotropy and orientation of the blob
    mass_effect: float


def plan_tumour(rng: np.random.Generator, tissues: dict[str, np.ndarray], points: np.ndarray) -> TumourPlan:
    """Pick a tumour centre deep in the white matter of one hemisphere and draw its sizes."""
    hemisphere = 1.0 if rng.uniform() < 0.5 else -1.0
    candidates = np.flatnonzero(
        (tissues["wm"] > 0.6) & (tissues["signed_mm"] < -18.0) & (points[0] * hemisphere > 14.0) & (points[2] > -20.0)
    )
    centre = points[:, candidates[rng.integers(candidates.size)]]
    stretch = np.diag(1.0 / rng.uniform(0.8, 1.25, size=3))
    axes = stretch @ rotation_matrix(rng.uniform(-np.pi, np.pi, size=3))
    return TumourPlan(
        centre=centre,
        radius_enhancing=float(rng.uniform(9.0, 17.0)),
        necrosis_ratio=float(rng.uniform(0.45, 0.7)),
        oedema_margin=float(rng.uniform(6.0, 18.0)),
        axes=axes,
        mass_effect=float(rng.uniform(0.1, 0.3)),
    )


def tumour_labels(
    rng: np.random.Generator,
    plan: TumourPlan,
    tissues: dict[str, np.ndarray],
    points: np.ndarray,
    shape: Sequence[int],
) -> np.ndarray:
    """Draw nested irregular tumour regions: necrosis (1) in enhancing rim (3) in oedema (2).

    Shapes are level sets of ``distance * (1 + smooth noise)``, so the necrotic core sits in
    the enhancing tumour by construction; oedema spreads preferentially along white matter.

    Returns:
        (N,) uint8 labels.
    """
    offset = plan.axes @ (points - plan.centre[:, None])
    distance = np.sqrt(np.sum(offset**2, axis=0))
    core_noise = smooth_noise(rng, shape, 1.2).ravel()
    oedema_noise = smooth_noise(rng, shape, 1.6).ravel()
    shaped = distance * (1.0 + 0.22 * core_noise)
    tissue = tissues["gm"] + tissues["wm"]
    intracranial = tissue + tissues["csf"] > 0.5
    tumour = largest_component((shaped < plan.radius_enhancing) & intracranial, shape)
    necrosis = tumour & (shaped < plan.radius_enhancing * plan.necrosis_ratio)
    oedema_distance = distance + 4.0 * oedema_noise - 8.0 * (tissues["wm"] - 0.5)
    near_tumour = ndimage.binary_dilation(tumour.reshape(shape), iterations=1).ravel() & intracranial
    oedema = ((oedema_distance < plan.radius_enhancing + plan.oedema_margin) & (tissue > 0.45)) | near_tumour
    oedema = components_touching(oedema, tumour, shape)  # no islands away from the tumour
    labels = np.zeros(points.shape[1], dtype=np.uint8)
    labels[oedema] = 2
    labels[tumour] = 3
    labels[necrosis] = 1
    return labels


def largest_component(mask: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Keep the largest 26-connected component of a flat mask laid out on ``shape``."""
    components, count = ndimage.label(mask.reshape(tuple(shape)), structure=np.ones((3, 3, 3)))
    if count <= 1:
        return mask
    sizes = np.bincount(components.ravel())[1:]
    return (components == 1 + int(np.argmax(sizes))).ravel()


def components_touching(mask: np.ndarray, seed: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Keep the 26-connected components of a flat ``mask`` that overlap the flat ``seed``."""
    components, _ = ndimage.label(mask.reshape(tuple(shape)), structure=np.ones((3, 3, 3)))
    flat = components.ravel()
    keep = np.unique(flat[seed & mask])
    return np.isin(flat, keep[keep > 0])


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------
def head_support(tissues: dict[str, np.ndarray], shape: Sequence[int]) -> np.ndarray:
    """Voxels of the head dilated by one voxel; outside it MR is 0 and CT is -1000 HU.

    Registered, masked datasets (BraTS, SynthRAD) ship constant backgrounds too, and constant
    air keeps the shipped files small.
    """
    head = (tissues["air"] < 0.98).reshape(tuple(shape))
    return ndimage.binary_dilation(head, iterations=1).ravel()


def fraction_stack(tissues: dict[str, np.ndarray], lesion: np.ndarray | None) -> np.ndarray:
    """Stack tissue fractions in ``TISSUES`` order; lesion fractions (3, N) displace the rest."""
    normal = np.stack([tissues[name] for name in TISSUES[:6]])
    if lesion is None:
        lesion = np.zeros((3, normal.shape[1]))
    return np.concatenate([normal * (1.0 - lesion.sum(axis=0)), lesion])


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise of standard deviation ``sigma``."""
    real = signal + sigma * rng.standard_normal(signal.shape)
    imaginary = sigma * rng.standard_normal(signal.shape)
    return np.sqrt(real**2 + imaginary**2)


def render_mr(
    rng: np.random.Generator,
    means: Sequence[float],
    fractions: np.ndarray,
    texture: np.ndarray,
    points: np.ndarray,
) -> np.ndarray:
    """Render one MR contrast: tissue means (jittered) x texture x bias field, then Rician noise.

    Args:
        rng: the subject's generator.
        means: mean signal per tissue in ``TISSUES`` order, relative to white matter on T1.
        fractions: (len(TISSUES), N) tissue fractions.
        texture: (N,) multiplicative texture.
        points: (3, N) world coordinates, where the bias field is evaluated.

    Returns:
        The (N,) int16 image (>= 0).
    """
    jittered = np.asarray(means, dtype=np.float64) * (1.0 + rng.uniform(-0.05, 0.05, size=len(TISSUES)))
    level = rng.uniform(*MR_WM_LEVEL)
    bias_strength = rng.uniform(0.08, 0.2)
    bias = np.exp(bias_strength * smooth_field(rng.standard_normal((1, 4, 4, 4)), points)[0])
    noise = rng.uniform(*MR_NOISE)
    signal = level * (jittered @ fractions) * texture * bias
    return to_int16(rician(signal, noise * level, rng), 0, 32767)


def render_ct(rng: np.random.Generator, fractions: np.ndarray, skull_hu: np.ndarray) -> np.ndarray:
    """Render a CT in Hounsfield units with Gaussian noise.

    Args:
        rng: the subject's generator.
        fractions: (len(TISSUES), N) tissue fractions.
        skull_hu: (N,) skull density in HU.

    Returns:
        The (N,) int16 image, clipped to [-1024, 3071].
    """
    means = np.array([CT_MEANS.get(name, 0.0) for name in TISSUES])
    skull = TISSUES.index("skull")
    hu = means @ fractions + fractions[skull] * skull_hu  # CT_MEANS has no skull entry: it varies
    hu += rng.uniform(*CT_NOISE_HU) * rng.standard_normal(fractions.shape[1])
    return to_int16(hu, -1024, 3071)


# ---------------------------------------------------------------------------------------------
# Subjects
# ---------------------------------------------------------------------------------------------
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


def lesion_mask_2d(rng: np.random.Generator, class_id: int, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Draw one 2D lesion around a centre.

    Args:
        rng: the subject's generator.
        class_id: 1 cyst (round, sharp), 2 metastasis (small, ring-enhancing), 3 haemangioma
            (lobulated, bright, blurred border).
        offset: (2, N) in-plane offsets (mm) of the pixels from the lesion centre.

    Returns:
        ``(fractions, means, radius)``: (2, N) fractions of the lesion's two compartments, their
        T1c-like means relative to white matter, and the lesion's outer radius in mm.
    """
    pixel = SPACING_2D
    angle = rng.uniform(0.0, np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    if class_id == 1:
        radius = rng.uniform(6.0, 12.0)
        local = np.diag(1.0 / rng.uniform(0.85, 1.15, size=2)) @ rot @ offset
        inside = partial_inside(np.sqrt(np.sum(local**2, axis=0)), radius, pixel)
        return np.stack([inside, np.zeros_like(inside)]), np.array([0.2, 0.0]), radius
    if class_id == 2:
        radius = rng.uniform(6.0, 10.0)
        rim = rng.uniform(2.5, 3.5)
        local = np.diag(1.0 / rng.uniform(0.85, 1.15, size=2)) @ rot @ offset
        distance = np.sqrt(np.sum(local**2, axis=0))
        whole = partial_inside(distance, radius, pixel)
        centre = partial_inside(distance, radius - rim, pixel)
        return np.stack([centre, whole - centre]), np.array([0.4, 1.7]), radius
    lobes = rng.integers(3, 6)
    field = np.zeros(offset.shape[1])
    extent = 0.0
    for _ in range(lobes):
        shift = rng.uniform(-5.0, 5.0, size=2)
        lobe_radius = rng.uniform(4.0, 7.5)
        distance = np.sqrt(np.sum((offset - shift[:, None]) ** 2, axis=0))
        field = np.maximum(field, partial_inside(distance, lobe_radius, pixel))
        extent = max(extent, float(np.hypot(*shift)) + lobe_radius)
    blurred = ndimage.gaussian_filter(field.reshape(SHAPE_2D), rng.uniform(0.9, 1.5)).ravel()
    return np.stack([blurred, np.zeros_like(blurred)]), np.array([1.45, 0.0]), extent


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


# ---------------------------------------------------------------------------------------------
# Tables, documents and checksums
# ---------------------------------------------------------------------------------------------
def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically with Unix newlines."""
    write_atomic(path, text.encode("utf-8"))


def csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Render rows as CSV with Unix newlines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def regenerate_command(args: argparse.Namespace) -> str:
    """The command line that regenerates this output, naming only non-default options."""
    parts = ["python scripts/make_sample_data.py", f"--out {args.out.as_posix()}"]
    for flag, value, default in (
        ("--seed", args.seed, 0),
        ("--n-tumour", args.n_tumour, DEFAULT_N_TUMOUR),
        ("--n-healthy", args.n_healthy, DEFAULT_N_HEALTHY),
        ("--n-slices", args.n_slices, DEFAULT_N_SLICES),
    ):
        if value != default:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def provenance_text(
    args: argparse.Namespace, cases: Sequence[CaseRecord], slices: Sequence[tuple[str, int, int]]
) -> str:
    """Render PROVENANCE.md from the arguments, the constants and the generated cases."""
    healthy = [c.case_id for c in cases if c.healthy]
    n_tumour = len(cases) - len(healthy)
    per_class = ", ".join(f"{sum(1 for s in slices if s[1] == cid)} {name}" for cid, name in LESION_CLASSES.items())
    origin = ", ".join(f"{v:.2f}" for v in grid_affine_3d()[:3, 3])
    shape = "x".join(str(n) for n in SHAPE_3D)
    header = " | ".join(TISSUES)
    rule = " | ".join("---" for _ in TISSUES)
    mr_rows = "\n".join(f"| {c} | " + " | ".join(f"{v:.2f}" for v in MR_MEANS[c]) + " |" for c in MR_CONTRASTS)
    notice = ICBM152_NOTICE.strip()
    return f"""# medgan sample data: provenance

**THIS DATA IS SIMULATED.** No image here comes from a patient. Every volume and slice was
computed by `scripts/make_sample_data.py` from the MNI ICBM152 2009a non-linear symmetric
templates (an average of 152 healthy adult brains) with random deformations, synthetic
intensities, synthetic noise and synthetic lesions.

## What it can and cannot show
It **can** show that medgan's code paths (reading BraTS-style case folders and plain
image/label folders, augmentation, GAN training and synthesis, MR-to-CT translation,
segmentation and detection benchmarks, reports) run end to end on data with realistic brain
anatomy, sizes, orientations, dtypes and label conventions; and it can show *relative* effects
between augmentation arms **on this simulated task**.

It **cannot** show clinical performance, behaviour under real scanner noise, artefacts, contrast
or pathology, or anything about real patients. Tumours and lesions are smooth random blobs with
hand-chosen intensities, and the CT is computed from the same tissue maps as the MR, so the
MR-to-CT mapping is far easier here than in reality. Numbers measured on this data are not
evidence of medical usefulness.

## Regenerate bit for bit
```
{regenerate_command(args)}
```
(`--preview` additionally draws `preview.png`.) The output depends only on the seed, the
constants in the script and the ICBM152 files in nilearn's wheel; nothing is downloaded. This
copy was generated with Python {sys.version.split()[0]}, numpy {np.__version__}, scipy
{scipy.__version__}, nibabel {nib.__version__} and zlib {zlib.ZLIB_RUNTIME_VERSION}; files are
gzip level {GZIP_LEVEL} with mtime 0 and no file name. Another zlib build may compress to other
`.nii.gz` bytes while the NIfTI bytes inside stay identical. `SHA256SUMS` holds the sha256 of
every file here except `preview.png` (a rendering, not data) and itself;
`tests/test_sample_data.py` checks it and regenerates a subset.

## Contents
- `brats/`: {n_tumour} tumour cases and {len(healthy)} healthy cases in the BraTS 2023 layout,
  `brats/<case>/<case>-{{t1n,t1c,t2w,t2f,ct,seg}}.nii.gz`, listed in `brats/cases.csv`
  (`case_id, healthy, tumour_voxels, seed`).
  **Healthy cases** (segmentation all zero): {", ".join(healthy) if healthy else "none"}.
  - Grid: {shape} voxels of {SPACING_3D} mm, isotropic, RAS+ (affine diag({SPACING_3D}, {SPACING_3D},
    {SPACING_3D}), origin ({origin}) mm, sform and qform code 1), the same for every case, as
    after co-registration to a common atlas.
  - `t1n` T1, `t1c` T1 after contrast, `t2w` T2, `t2f` FLAIR: int16 >= 0, whole head (not
    skull-stripped), 0 outside the head. `ct`: int16 Hounsfield units, -1000 outside the head.
    `seg`: uint8, BraTS 2023 labels 0 background, 1 necrotic core, 2 oedema, 3 enhancing tumour.
- `lesions2d/`: {len(slices)} axial T1c-like slices (`images/`, int16) with masks (`labels/`,
  uint8) of the same name, {SHAPE_2D[0]}x{SHAPE_2D[1]} pixels of {SPACING_2D} mm, each a 2D NIfTI
  whose 4x4 affine carries the slice height. Each slice holds one or two lesions of one class
  and the label value is that class ({", ".join(f"{k} = {v}" for k, v in LESION_CLASSES.items())};
  {per_class}). `classes.csv` (`name, class_id, class_name`) and `class_names.json` map them.
- `LICENSE-ICBM152.txt`: the copyright notice of the templates, which this data derives from.

## How it was made
1. **Templates.** `mni_icbm152_{{t1,gm,wm}}_tal_nlin_sym_09a_converted.nii.gz` from
   `nilearn/datasets/data/` (shipped in the nilearn wheel). Brain = T1 > 0 (that template is
   brain-extracted); GM and WM probabilities capped by it; CSF = brain - GM - WM. The maps are
   block-averaged from 1 mm to 2 mm and padded by 24 mm (below, by repeating the lowest slice so
   the brainstem runs out of the field of view). A hull of the brain (closing by 10 mm, holes
   filled) gives a signed distance map (mm, smoothed by one voxel) from which each subject's
   CSF rim, skull and scalp are cut.
2. **Seeds.** Subject `i` of kind `k` (0 tumour case, 1 healthy case, 2 2D lesion slice) draws
   everything from `numpy.random.default_rng(s)`, `s = SeedSequence([seed, k, i]).generate_state(1,
   uint64)[0] >> 1` (the `seed` column of `cases.csv`), in this order: anatomy, tumour or
   lesions, contrasts, CT. No global random state; any one subject can be regenerated alone.
   Tumour cases are `BraTS-SIM-{{i:05d}}-000`, healthy cases `BraTS-SIM-{{{HEALTHY_ID_OFFSET} + i:05d}}-000`,
   slices `lesion-{{i:04d}}`.
3. **Anatomy.** Output voxel centres are mapped into template space by a random affine about
   ({", ".join(f"{v:.0f}" for v in BRAIN_CENTRE)}) mm (scale 1 +- 0.08 per axis, rotation +- 5 deg per
   axis, shift +- 3 mm) plus a smooth displacement (cubic B-spline through 7x7x7 control points
   over [{FIELD_BOX[0]:.0f}, {FIELD_BOX[1]:.0f}] mm per axis, standard deviation 2-4.5 mm), and the maps are
   sampled there (trilinear). Beyond the hull: CSF rim 1.5-3 mm, skull 4.5-7 mm and scalp 4-7 mm
   thick, each varying smoothly by about +- 1 mm (5x5x5 control points; skull clipped to 3.5-9
   mm), with one-voxel partial-volume ramps. A 3 % multiplicative texture (17x17x17 control
   points) varies tissue signal.
4. **Tumours** (tumour cases). Centre drawn among voxels with WM fraction > 0.6, at least 18 mm
   inside the hull, |x| > 14 mm in a random hemisphere, z > -20 mm. Enhancing-tumour radius
   9-17 mm, necrotic core 45-70 % of it, oedema margin 6-18 mm, random ellipsoid (axes x0.8-1.25)
   and orientation. Tumour = largest piece of `d (1 + 0.22 n1) < R` (d: ellipsoidal distance,
   n1: unit white noise smoothed with sigma 1.2 voxels), necrosis = `d (1 + 0.22 n1) <
   ratio R` inside it (so nested by construction), oedema = the pieces touching the tumour of
   `d + 4 mm n2 - 8 mm (WM - 0.5) < R + margin` where GM + WM > 0.45 (n2: sigma 1.6 voxels), plus
   one voxel around the tumour; all inside the intracranial space. Labels: oedema 2, then
   enhancing 3, then necrosis 1. Mass effect: tissue at distance r from the centre is pushed
   outwards by a r exp(-r^2 / 2 w^2), a 0.1-0.3, w = R + margin (at most 0.6 a w). Redrawn until
   it has at least 4 necrotic, 8 enhancing and 20 oedema voxels. Label fractions smoothed with
   sigma 0.6 voxel give partial volume in the images.
5. **MR.** Signal = level x sum over tissues(fraction x mean) x texture x bias; means relative to
   WM on T1:

| contrast | {header} |
| --- | {rule} |
{mr_rows}

   Each mean is jittered by +- 5 % per case and contrast; level {MR_WM_LEVEL[0]:.0f}-{MR_WM_LEVEL[1]:.0f}
   (stored units); bias = exp(a f), a 0.08-0.2, f a cubic B-spline through 4x4x4 unit normal
   controls; Rician noise = magnitude of (signal + complex Gaussian noise), sigma
   {MR_NOISE[0]:.0%}-{MR_NOISE[1]:.0%} of the level; rounded to int16; 0 outside the head dilated by
   one voxel (masked like registered public data sets, and it keeps the files small).
6. **CT.** HU: air -1000, scalp 40, skull 800-1100 (+- 120 smooth variation, clipped 650-1300),
   CSF 10, GM 40, WM 28, necrosis 35, enhancing 45, oedema 20, mixed by tissue fraction; Gaussian
   noise sigma {CT_NOISE_HU[0]:.0f}-{CT_NOISE_HU[1]:.0f} HU; clipped to [-1024, 3071]; int16; -1000 outside the head.
7. **2D lesions.** A new simulated head per slice (steps 3 and 5) sampled on an axial plane at
   z = 0-45 mm; class = 1 + (i mod 3). One lesion (60 %) or two of that class, centred where GM +
   WM > 0.8 and at least 14 mm inside the hull, at least 6 mm apart. Cyst: ellipse of radius
   6-12 mm, sharp edge, CSF-like (0.2 of WM: dark on T1c). Metastasis: radius 6-10 mm, dark
   centre (0.4) in a bright 2.5-3.5 mm enhancing ring (1.7), in a 3-7 mm oedema halo (0.8,
   unlabelled). Haemangioma: union of 3-5 discs of radius 4-7.5 mm within 5 mm, bright (1.45),
   blurred with sigma 0.9-1.5 pixel. Label = class value where the lesion fraction >= 0.5,
   inside the brain. Rendered with the T1c means, bias and Rician noise of step 5.

## ICBM152 copyright notice
The anatomy derives from the MNI ICBM152 2009a non-linear symmetric template:

{notice}

References: Fonov V. S., Evans A. C., McKinstry R. C., Almli C. R., Collins D. L. Unbiased
nonlinear average age-appropriate brain templates from birth to adulthood. NeuroImage 47
(Suppl. 1), S102 (2009). Fonov V., Evans A. C., Botteron K., Almli C. R., McKinstry R. C.,
Collins D. L. Unbiased average age-appropriate atlases for pediatric studies. NeuroImage 54(1),
313-327 (2011). Collins D. L., Zijdenbos A. P., Baare W. F. C., Evans A. C. ANIMAL+INSECT:
improved cortical structure segmentation. IPMI 1999, LNCS 1613, 210-223.
"""


def write_sha256sums(out: Path) -> None:
    """Write ``SHA256SUMS`` (``sha256sum`` format, sorted relative paths) for every data file."""
    lines = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel in ("SHA256SUMS", "preview.png") or path.name.startswith("."):
            continue
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}")
    write_text(out / "SHA256SUMS", "\n".join(lines) + "\n")


def render_preview(out: Path, png: Path, case: str | None = None, n_lesions: int = 6) -> None:
    """Save a montage: one tumour case (axial and coronal, all contrasts, CT, seg) and 2D lesions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    rows = list(csv.DictReader((out / "brats" / "cases.csv").read_text().splitlines()))
    case = case or next(r["case_id"] for r in rows if r["healthy"] == "False")
    folder = out / "brats" / case
    vols = {m: np.asarray(nib.load(folder / f"{case}-{m}.nii.gz").dataobj) for m in (*MR_CONTRASTS, "ct", "seg")}
    seg = vols["seg"]
    centre = np.argwhere(seg > 0).mean(axis=0).round().astype(int) if seg.any() else np.array(seg.shape) // 2
    names = sorted((out / "lesions2d" / "images").glob("*.nii.gz"))[:n_lesions]
    fig, axes = plt.subplots(3, 6, figsize=(12, 6.6))
    for col, key in enumerate((*MR_CONTRASTS, "ct", "seg")):
        for row, (cut, axis) in enumerate(((centre[2], 2), (centre[1], 1))):
            ax = axes[row, col]
            base = vols["t2f" if key == "seg" else key]
            image = np.take(base, cut, axis=axis).T
            window = (-20, 100) if key == "ct" else (0, np.percentile(base, 99.5))
            ax.imshow(image, origin="lower", cmap="gray", vmin=window[0], vmax=window[1])
            if key == "seg":
                overlay = np.ma.masked_equal(np.take(seg, cut, axis=axis).T, 0)
                colours = ListedColormap(["red", "lime", "yellow"])  # necrosis, oedema, enhancing
                ax.imshow(
                    overlay, origin="lower", cmap=colours, vmin=0.5, vmax=3.5, alpha=0.55, interpolation="nearest"
                )
            label = f"{key} (W -20..100 HU)" if key == "ct" else key
            ax.set_title(f"{label} {'axial' if axis == 2 else 'coronal'}", fontsize=8)
    for col in range(6):
        ax = axes[2, col]
        if col < len(names):
            image = np.asarray(nib.load(names[col]).dataobj)
            label = np.asarray(nib.load(out / "lesions2d" / "labels" / names[col].name).dataobj)
            ax.imshow(image.T, origin="lower", cmap="gray")
            if label.any():
                ax.contour(label.T > 0, levels=[0.5], colors="yellow", linewidths=0.6, origin="lower")
            value = int(label.max())
            ax.set_title(f"{names[col].name[:-7]}: {LESION_CLASSES.get(value, '?')}", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(f"SIMULATED sample data: {case} (BraTS layout) and 2D lesions (T1c-like)", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=70, metadata={"Software": None})
    plt.close(fig)
    write_atomic(png, buffer.getvalue())


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (e.g. sample_data)")
    parser.add_argument("--seed", type=int, default=0, help="global seed (default 0)")
    parser.add_argument("--n-tumour", type=int, default=DEFAULT_N_TUMOUR, help="3D tumour cases")
    parser.add_argument("--n-healthy", type=int, default=DEFAULT_N_HEALTHY, help="3D healthy cases")
    parser.add_argument("--n-slices", type=int, default=DEFAULT_N_SLICES, help="2D lesion slices")
    parser.add_argument("--preview", action="store_true", help="also write OUT/preview.png")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (output is the same)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.n_tumour <= HEALTHY_ID_OFFSET or not 0 <= args.n_healthy <= HEALTHY_ID_OFFSET:
        parser.error(f"--n-tumour and --n-healthy must lie in [0, {HEALTHY_ID_OFFSET}]")
    if args.n_slices < 0 or args.seed < 0 or args.jobs < 1:
        parser.error("--n-slices and --seed must be >= 0 and --jobs >= 1")
    return args


def run_task(task: tuple[str, Path, int, int, int]) -> CaseRecord | tuple[str, int, int]:
    """Generate one subject: ``("brats", out, seed, kind, index)`` or ``("slice", out, seed, 0, index)``."""
    what, out, seed, kind, index = task
    if what == "brats":
        return make_brats_case(cached_template(), out, seed, kind, index)
    return make_lesion_slice(cached_template(), out, seed, index)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the sample data; return the process exit status."""
    args = parse_args(argv)
    start = time.perf_counter()
    out: Path = args.out
    tasks = [("brats", out, args.seed, KIND_TUMOUR, i) for i in range(args.n_tumour)]
    tasks += [("brats", out, args.seed, KIND_HEALTHY, i) for i in range(args.n_healthy)]
    tasks += [("slice", out, args.seed, 0, i) for i in range(args.n_slices)]
    if args.jobs > 1 and len(tasks) > 1:
        # subjects are independent and seeded alone, so the output does not depend on --jobs
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(run_task, tasks))
    else:
        results = [run_task(task) for task in tasks]
    cases = [r for r in results if isinstance(r, CaseRecord)]
    slices = [r for r in results if not isinstance(r, CaseRecord)]
    write_text(
        out / "brats" / "cases.csv",
        csv_text(
            ("case_id", "healthy", "tumour_voxels", "seed"),
            [(c.case_id, c.healthy, c.tumour_voxels, c.seed) for c in cases],
        ),
    )
    write_text(
        out / "lesions2d" / "classes.csv",
        csv_text(("name", "class_id", "class_name"), [(n, c, LESION_CLASSES[c]) for n, c, _ in slices]),
    )
    write_text(
        out / "lesions2d" / "class_names.json",
        json.dumps({str(k): v for k, v in LESION_CLASSES.items()}, indent=2) + "\n",
    )
    write_text(
        out / "LICENSE-ICBM152.txt",
        "The simulated data in this folder derives from the MNI ICBM152 2009a non-linear symmetric\n"
        "template, distributed under the following notice.\n\n" + ICBM152_NOTICE,
    )
    write_text(out / "PROVENANCE.md", provenance_text(args, cases, slices))
    write_sha256sums(out)
    if args.preview and any(not c.healthy for c in cases):
        render_preview(out, out / "preview.png")
    elapsed = time.perf_counter() - start
    print(f"wrote {len(cases)} 3D cases and {len(slices)} 2D slices to {out} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
