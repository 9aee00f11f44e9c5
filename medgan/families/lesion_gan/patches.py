"""Lesion-centred patches (image + mask + lesion class) cut from a labelled dataset.

Each connected component of the lesion labels (label > 0) of each training case gives one patch
centred on the component: the image scaled per case to [-1, 1] (see
:mod:`medgan.transforms.scaling`), the component's labels, and its class (the most frequent label
value in it). Patches are cut ``jitter`` voxels larger than the model's size on each side so that
training can crop them at random offsets. For a 2D model on 3D data, the axial slice where the
component is largest is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from medgan.errors import DataError
from medgan.families._cases import check_window
from medgan.io.datasets import Dataset
from medgan.transforms.insertion import crop_centred
from medgan.transforms.scaling import foreground_mask, percentile_range, to_unit_range


@dataclass
class LesionPatches:
    """Patches of one dataset, all of one shape.

    Attributes:
        images: ``(N, C, *shape)`` float32 in [-1, 1].
        labels: ``(N, *shape)`` int16 label values of the patch's own component (0 elsewhere).
        classes: ``(N,)`` the component's class (its most frequent label value).
        sources: ``(case_id, centre voxel)`` of each patch.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: np.ndarray
    sources: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.classes)


def extract_lesion_patches(dataset: Dataset, case_ids: Sequence[str], spatial_dims: int, size: int,
                           jitter: int = 0, min_voxels: int = 5) -> LesionPatches:
    """Cut one patch per lesion component of the given cases.

    Args:
        dataset: a labelled dataset.
        case_ids: the cases to use (the caller has already removed test cases).
        spatial_dims: 2 or 3; 2D on 3D data takes the component's largest axial slice.
        size: patch edge length; the patches are ``size + 2 * jitter`` wide.
        jitter: margin for random crops during training.
        min_voxels: smaller components are ignored.

    Returns:
        :class:`LesionPatches`.

    Raises:
        DataError: no case has a lesion of at least ``min_voxels`` voxels.
    """
    shape = (size + 2 * jitter,) * spatial_dims
    images, labels, classes, sources = [], [], [], []
    for case_id in case_ids:
        case = dataset.load(case_id)
        if "label" not in case:
            continue
        image, label = np.asarray(case["image"], np.float32), np.asarray(case["label"][0])
        if image.ndim - 1 < spatial_dims:
            raise DataError(dataset.root, f"case {case_id} is {image.ndim - 1}D; a {spatial_dims}D model needs "
                                          f"{spatial_dims}D data")
        check_window("data.patch_size", (size,) * spatial_dims, image.shape[1:1 + spatial_dims], case_id)
        body = foreground_mask(image)
        lo, hi = percentile_range(image, body, body)
        unit = to_unit_range(image, lo, hi)
        components, n = ndimage.label(label > 0)
        for index in range(1, n + 1):
            component = components == index
            if component.sum() < min_voxels:
                continue
            values = label[component]
            lesion_class = int(np.bincount(values.astype(np.int64)).argmax())
            own = np.where(component, label, 0).astype(np.int16)
            source_image, source_label = unit, own
            if spatial_dims == 2 and component.ndim == 3:
                z = int(component.sum(axis=(0, 1)).argmax())
                source_image, source_label, component = unit[..., z], own[..., z], component[..., z]
            centre = tuple(int(round(c)) for c in ndimage.center_of_mass(component))
            images.append(crop_centred(source_image, centre, shape, -1.0))
            labels.append(crop_centred(source_label, centre, shape, 0))
            classes.append(lesion_class)
            sources.append((case_id, centre))
    if not images:
        raise DataError(dataset.root, f"no lesion of at least {min_voxels} voxels in the {len(case_ids)} training "
                                      "case(s); the lesion GAN needs labelled lesions")
    return LesionPatches(np.stack(images), np.stack(labels), np.asarray(classes, np.int64), sources)
