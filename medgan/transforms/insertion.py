"""Put a lesion patch into a scan: choose a plausible place, blend the intensities at the border, and
write its labels into the label map. Array operations only (no run, no file): any family that makes
lesions (a lesion GAN, an inpainting or harmonisation model) inserts them with these.

Both functions are deterministic given their inputs (the place is drawn from the ``rng`` given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from medgan.transforms.lesion_extent import resample_to_spacing


@dataclass(frozen=True)
class Insertion:
    """What :func:`insert_lesion` changed.

    Attributes:
        centre: voxel index of the patch centre in the scan.
        region: ``(X, Y[, Z])`` bool, the voxels whose intensities changed (lesion + blended border).
        lesion: ``(X, Y[, Z])`` bool, the voxels that received lesion labels.
    """

    centre: tuple[int, ...]
    region: np.ndarray
    lesion: np.ndarray


def crop_centred(array: np.ndarray, centre: Sequence[int], shape: Sequence[int], fill: float) -> np.ndarray:
    """The ``shape`` window of ``array``'s last ``len(shape)`` axes centred on ``centre``, padded with
    ``fill`` where it leaves the array."""
    out = np.full(array.shape[:-len(shape)] + tuple(shape), fill, dtype=array.dtype)
    src, dst = _placement(centre, shape, array.shape[-len(shape):])
    lead = (slice(None),) * (array.ndim - len(shape))
    if all(s.stop > s.start for s in src):
        out[lead + dst] = array[lead + src]
    return out


def _placement(centre: Sequence[int], patch_shape: Sequence[int], shape: Sequence[int]
               ) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Slices of the scan and of the patch where a patch centred on ``centre`` overlaps the scan."""
    scan, patch = [], []
    for c, p, n in zip(centre, patch_shape, shape):
        start = int(c) - p // 2
        a, b = max(start, 0), min(start + p, n)
        scan.append(slice(a, b))
        patch.append(slice(a - start, b - start))
    return tuple(scan), tuple(patch)


def lesion_to_spacing(patch_image: np.ndarray, patch_label: np.ndarray, spacing: Sequence[float] | None,
                      target_spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Resample a lesion patch made at ``spacing`` (mm) to the ``target_spacing`` of the scan it goes into.

    The image is interpolated linearly, the labels by one-hot linear interpolation and argmax (no new
    label values, borders that follow the interpolated image); the
    patch keeps its physical size, so a lesion learnt on 1 mm voxels is as large in mm in a
    3 x 3 x 6 mm scan. ``spacing=None`` (a run that did not record it) returns the patch unchanged.

    Args:
        patch_image: ``(C, *patch)``.
        patch_label: ``(*patch)`` integer labels.
        spacing, target_spacing: voxel sizes in mm, one per spatial axis.

    Returns:
        ``(image, label)`` on the target grid.
    """
    if spacing is None:
        return patch_image, patch_label
    image = resample_to_spacing(patch_image, spacing, target_spacing)
    label = resample_to_spacing(patch_label[None], spacing, target_spacing, labels="linear")[0]
    return image, label


def blend_weights(lesion: np.ndarray, border: float, spacing: Sequence[float] | None = None) -> np.ndarray:
    """Blending weight of the patch: 1 on the lesion, falling smoothly (cosine) to 0 at ``border``
    outside it, and exactly 0 beyond.

    ``border`` is in voxels, or in mm when the voxel ``spacing`` (mm) is given.
    """
    if border <= 0:
        return lesion.astype(np.float32)
    distance = ndimage.distance_transform_edt(~lesion, sampling=spacing)
    ramp = 0.5 * (1.0 + np.cos(np.pi * np.clip(distance / border, 0.0, 1.0)))
    return np.where(distance >= border, 0.0, ramp).astype(np.float32)


def insert_lesion(image: np.ndarray, label: np.ndarray, patch_image: np.ndarray, patch_label: np.ndarray,
                  centre: Sequence[int], border: float = 2.0, spacing: Sequence[float] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, Insertion]:
    """Blend a lesion patch into a scan and add its labels.

    Args:
        image: ``(C, X, Y[, Z])`` scan, in its own intensities.
        label: ``(1, X, Y[, Z])`` label map.
        patch_image: ``(C, *patch)`` lesion patch already in the scan's intensity scale.
        patch_label: ``(*patch)`` integer labels of the lesion (0 outside it).
        centre: voxel of the scan where the patch centre goes.
        border: width of the smooth transition around the lesion: voxels, or mm with ``spacing``.
        spacing: voxel size in mm (then ``border`` is in mm).

    Returns:
        ``(new_image, new_label, insertion)``: copies; outside ``insertion.region`` the image is
        bit-for-bit unchanged, and the label map differs only on ``insertion.lesion``, where it holds
        the patch's labels. The image keeps its dtype (rounded for integer types).
    """
    spatial = image.shape[1:]
    scan_sl, patch_sl = _placement(centre, patch_label.shape, spatial)
    lesion_patch = patch_label[patch_sl] > 0
    weights = blend_weights(patch_label > 0, border, spacing)[patch_sl]
    new_image, new_label = image.copy(), label.copy()
    region = np.zeros(spatial, bool)
    lesion = np.zeros(spatial, bool)
    changed = weights > 0
    region[scan_sl] = changed
    lesion[scan_sl] = lesion_patch
    before = image[(slice(None),) + scan_sl].astype(np.float32)
    blended = (1.0 - weights) * before + weights * patch_image[(slice(None),) + patch_sl].astype(np.float32)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        blended = np.clip(np.rint(blended), info.min, info.max)
    target = new_image[(slice(None),) + scan_sl]
    target[:, changed] = blended[:, changed].astype(image.dtype)
    labels_here = new_label[(0,) + scan_sl]
    labels_here[lesion_patch] = patch_label[patch_sl][lesion_patch].astype(label.dtype)
    return new_image, new_label, Insertion(tuple(int(c) for c in centre), region, lesion)


def choose_location(organ: np.ndarray, existing: np.ndarray, patch_label: np.ndarray, rng: np.random.Generator,
                    margin: int = 3, min_inside: float = 1.0, tries: int = 200) -> tuple[int, ...] | None:
    """A centre for ``patch_label`` whose lesion lies inside ``organ`` and at least ``margin`` voxels
    from every ``existing`` lesion voxel.

    Args:
        organ: ``(X, Y[, Z])`` bool, where lesions may go (brain, liver...).
        existing: ``(X, Y[, Z])`` bool, lesions already there.
        patch_label: the lesion's ``(*patch)`` labels.
        rng: random generator (the only source of randomness).
        margin: minimum distance to existing lesions, in voxels.
        min_inside: fraction of the lesion that must fall inside ``organ``.
        tries: candidate centres to test.

    Returns:
        The centre voxel, or ``None`` when no place fits.
    """
    forbidden = ndimage.binary_dilation(existing, iterations=margin) if margin > 0 and existing.any() else existing
    found = candidate_locations(organ, forbidden, patch_label, rng, 1, min_inside, tries)
    return found[0] if found else None


def candidate_locations(organ: np.ndarray, forbidden: np.ndarray, patch_label: np.ndarray, rng: np.random.Generator,
                        count: int, min_inside: float = 1.0, tries: int = 200) -> list[tuple[int, ...]]:
    """Up to ``count`` centres for ``patch_label`` whose lesion lies inside ``organ``, off ``forbidden``.

    Args:
        organ: ``(X, Y[, Z])`` bool, where lesions may go.
        forbidden: ``(X, Y[, Z])`` bool, where no lesion voxel may fall (existing lesions and their margin).
        patch_label: the lesion's ``(*patch)`` labels, centred on the patch centre.
        rng: the only source of randomness.
        count: centres wanted.
        min_inside: fraction of the lesion that must fall inside ``organ``.
        tries: random centres tested in all.

    Returns:
        The centres found (possibly fewer than ``count``, possibly none), in the order drawn.
    """
    lesion = patch_label > 0
    if not lesion.any():
        return []
    offsets = np.argwhere(lesion) - np.asarray(patch_label.shape) // 2
    candidates = np.argwhere(organ & ~forbidden)
    if len(candidates) == 0:
        return []
    shape = np.asarray(organ.shape)
    found: list[tuple[int, ...]] = []
    for _ in range(tries):
        centre = candidates[rng.integers(len(candidates))]
        voxels = offsets + centre
        if not np.all((voxels >= 0) & (voxels < shape)):
            continue
        index = tuple(voxels.T)
        if forbidden[index].any():
            continue
        if organ[index].mean() >= min_inside:
            found.append(tuple(int(c) for c in centre))
            if len(found) == count:
                break
    return found
