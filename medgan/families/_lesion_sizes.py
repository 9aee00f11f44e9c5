"""Sizes of the training lesions of a dataset, in mm, read from the label files alone (shared by the
lesion families; the leading underscore keeps :func:`medgan.families.discover` from treating this as
a family)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medgan.errors import DataError
from medgan.transforms.lesion_extent import component_extents_mm, extent_percentile, round_up


@dataclass
class TrainingLesionSizes:
    """Lesion extents of the training cases.

    Attributes:
        spacing: the training cases' voxel size in mm (per axis, the median over cases).
        extents_mm: ``(N, dims)`` extent of every lesion component along each voxel axis.
        spacings: each case's spacing (to tell whether they agree).
    """

    spacing: tuple[float, ...]
    extents_mm: np.ndarray
    spacings: list[tuple[float, ...]]

    def percentile_mm(self, percentile: float = 100.0) -> list[float]:
        """Per-axis ``percentile`` of the extents, rounded to 0.1 mm (for the run config)."""
        return [round(float(v), 1) for v in extent_percentile(self.extents_mm, percentile)]


def training_lesion_sizes(dataset: object, case_ids: Sequence[str], spatial_dims: int,
                          min_voxels: int = 1) -> TrainingLesionSizes:
    """Extents of the lesions of ``case_ids``, reading only their label files.

    Args:
        dataset: a :class:`medgan.io.datasets.Dataset`.
        case_ids: training cases (test cases already removed).
        spatial_dims: 2 or 3; a 2D model on 3D data uses the in-plane (first two) axes.
        min_voxels: smaller components are ignored.

    Raises:
        DataError: no lesion in the training cases.
    """
    from medgan.io.image import read_image

    extents, spacings = [], []
    for case_id in case_ids:
        ref = dataset.ref(case_id)  # type: ignore[attr-defined]
        if ref.label is None:
            continue
        label, meta = read_image(ref.label)
        spacing = tuple(float(s) for s in meta["spacing"])
        spacings.append(spacing[:spatial_dims])
        rows = component_extents_mm(label[0], spacing, min_voxels)
        extents.append(rows[:, :spatial_dims])
    found = np.concatenate(extents) if extents else np.zeros((0, spatial_dims))
    if len(found) == 0:
        raise DataError(dataset.root, f"no lesion of at least {min_voxels} voxels in the {len(case_ids)} "  # type: ignore[attr-defined]
                                      "training case(s)")
    spacing = tuple(float(v) for v in np.median(np.asarray(spacings), axis=0))
    return TrainingLesionSizes(spacing, found, spacings)


def dcgan_patch_size(sizes: TrainingLesionSizes, jitter: int, percentile: float = 100.0) -> tuple[int, int]:
    """Default cubic patch of the lesion GAN and the jitter that keeps the lesion whole.

    The patch is the smallest power of two (at least 8) that holds the ``percentile`` lesion (in
    voxels of the training spacing) plus one voxel on each side; the random crop offset ``jitter``
    is lowered to what the patch leaves around that lesion.

    Returns:
        ``(patch_size, jitter)``.
    """
    extent = extent_percentile(sizes.extents_mm, percentile)
    voxels = max(int(np.ceil(e / s - 1e-9)) for e, s in zip(extent, sizes.spacing))
    size = round_up(voxels + 2, power_of_two=True, minimum=8)
    return size, max(0, min(int(jitter), (size - voxels) // 2))
