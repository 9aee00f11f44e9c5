"""The lesion GAN's patch size from the training lesions' extents in mm (recorded in the run config)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from medgan.families._lesion_sizes import dcgan_patch_size, training_lesion_sizes


def resolve_patch_size(data: Any, dataset: Any, case_ids: Sequence[str]) -> int:
    """Fill ``data.spacing``, ``data.lesion_extent_mm`` and, when not given, ``data.patch_size`` (and
    the ``jitter`` it leaves room for) of a :class:`~medgan.families.lesion_gan.LesionDataConfig`.

    A ``patch_size`` given smaller than the largest training lesion is kept, with a warning.

    Returns:
        The default patch size from the data.
    """
    sizes = training_lesion_sizes(dataset, case_ids, data.spatial_dims, data.min_voxels)
    data.spacing = [round(s, 4) for s in sizes.spacing]
    data.lesion_extent_mm = sizes.percentile_mm(100.0)
    size, jitter = dcgan_patch_size(sizes, data.jitter)
    if not data.patch_size:
        data.patch_size, data.jitter = size, jitter
    elif data.patch_size < size:
        warnings.warn(f"lesion-gan: patch_size {data.patch_size} cuts the largest training lesions "
                      f"({data.lesion_extent_mm} mm at {data.spacing} mm voxels); the default from the data is "
                      f"{size}", stacklevel=2)
    return size
