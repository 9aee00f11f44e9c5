"""A simulated subject's anatomy: smooth random fields, a random affine and warp of the atlas, tissue fractions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medgan.sample_data.atlas import Template
from medgan.sample_data.geometry import BRAIN_CENTRE, FIELD_BOX


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


