"""Sets of cases held in memory for evaluation, on one grid and one intensity scale.

Evaluation compares whole sets (real, synthetic, training), so each set is read once into arrays.
Two choices make the sets comparable:
- **one grid**: every image is resampled (linear; labels nearest) to the spatial shape of the
  first real case, when its shape differs;
- **one intensity scale**: per channel, the 0.5th and 99.5th percentiles of the *real* set map to
  0 and 1, and the same linear map is applied to every set. A per-case normalisation would hide
  exactly the intensity shifts a metric must see.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medgan.errors import DataError


@dataclass
class CaseSet:
    """The cases of one dataset, loaded.

    Attributes:
        name: role in the evaluation (``"real"``, ``"synthetic"``, ``"train"``).
        root: dataset folder.
        ids: case ids.
        images: float32 arrays ``(C, X, Y[, Z])`` in stored intensities.
        labels: int arrays ``(1, X, Y[, Z])``, or ``None`` per unlabelled case.
        modalities: channel names.
    """

    name: str
    root: Path
    ids: list[str]
    images: list[np.ndarray]
    labels: list[np.ndarray | None]
    modalities: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def spatial_dims(self) -> int:
        return self.images[0].ndim - 1

    @property
    def channels(self) -> int:
        return int(self.images[0].shape[0])

    @property
    def labelled(self) -> bool:
        """True when every case has a label map."""
        return all(label is not None for label in self.labels)


def load_case_set(path: str | Path, name: str, format: str = "auto",
                  modalities: Sequence[str] | None = None) -> CaseSet:
    """Read every case of the dataset at ``path`` into a :class:`CaseSet`.

    Raises:
        DataError: the dataset is empty or its cases differ in channels or dimensionality.
    """
    from medgan.io import load_dataset

    dataset = load_dataset(path, format=format, modalities=modalities)
    if not dataset.cases:
        raise DataError(path, "dataset has no cases")
    ids, images, labels = [], [], []
    for case in dataset:
        image = np.asarray(case["image"], dtype=np.float32)
        if images and (image.ndim != images[0].ndim or image.shape[0] != images[0].shape[0]):
            raise DataError(path, f"case {case['id']} has shape {image.shape}, unlike {ids[0]} {images[0].shape}")
        ids.append(case["id"])
        images.append(image)
        label = case.get("label")
        labels.append(None if label is None else np.asarray(label, dtype=np.int64))
    return CaseSet(name, Path(path), ids, images, labels, tuple(dataset.modalities))


def check_compatible(reference: CaseSet, other: CaseSet) -> None:
    """Raise :class:`DataError` unless ``other`` has the channels and dimensionality of ``reference``."""
    if other.spatial_dims != reference.spatial_dims:
        raise DataError(other.root, f"{other.name} cases are {other.spatial_dims}D but {reference.name} cases "
                                    f"are {reference.spatial_dims}D")
    if other.channels != reference.channels:
        raise DataError(other.root, f"{other.name} cases have {other.channels} channels but {reference.name} "
                                    f"cases have {reference.channels}; select the same modalities")


def voxel_key(image: np.ndarray) -> str:
    """A hash of an image's voxels (shape and values): the same scan under another name or folder
    has the same key."""
    array = np.ascontiguousarray(np.asarray(image))
    digest = hashlib.sha256(str((array.shape, array.dtype.str)).encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Overlap:
    """Cases two sets share: ``ids`` by name, ``content`` as ``(id in a, id in b)`` by identical voxels."""

    ids: list[str]
    content: list[tuple[str, str]]


def shared_cases(a: CaseSet, b: CaseSet) -> Overlap:
    """The cases of ``a`` that are also in ``b``, by case id and by voxel hash (a renamed copy counts)."""
    keys = {voxel_key(image): case_id for case_id, image in zip(b.ids, b.images)}
    content = [(case_id, keys[key]) for case_id, image in zip(a.ids, a.images) if (key := voxel_key(image)) in keys]
    return Overlap(sorted(set(a.ids) & set(b.ids)), content)


@dataclass(frozen=True)
class IntensityReference:
    """Per-channel linear map fitted on the real set: ``(x - low) / (high - low)``."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, images: Sequence[np.ndarray], lower: float = 0.5, upper: float = 99.5,
            max_values: int = 2_000_000, seed: int = 0) -> IntensityReference:
        """Fit on ``images`` (each ``(C, ...)``), using at most ``max_values`` voxels per channel."""
        rng = np.random.default_rng(seed)
        channels = images[0].shape[0]
        per_case = max(1, max_values // len(images))
        low, high = np.zeros(channels), np.ones(channels)
        for c in range(channels):
            values = []
            for image in images:
                flat = image[c].ravel()
                values.append(flat if flat.size <= per_case else rng.choice(flat, per_case, replace=False))
            joined = np.concatenate(values)
            low[c], high[c] = np.percentile(joined, [lower, upper])
            if high[c] - low[c] <= 1e-8 * max(1.0, abs(high[c])):
                high[c] = low[c] + 1.0
        return cls(low, high)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` ``(C, ...)`` mapped to the reference scale (float32, not clipped)."""
        shape = (-1,) + (1,) * (image.ndim - 1)
        scaled = (image - self.low.reshape(shape)) / (self.high - self.low).reshape(shape)
        return scaled.astype(np.float32)


def to_grid(array: np.ndarray, shape: Sequence[int], is_label: bool = False) -> np.ndarray:
    """``array`` ``(C, *spatial)`` resampled to ``(C, *shape)`` (linear, or nearest for labels)."""
    if tuple(array.shape[1:]) == tuple(shape):
        return array
    from skimage.transform import resize

    order = 0 if is_label else 1
    out = [resize(channel, tuple(shape), order=order, preserve_range=True, anti_aliasing=False, mode="edge")
           for channel in array]
    return np.stack(out).astype(array.dtype)


def case_class(label: np.ndarray | None) -> int:
    """The class of a case from its label map: the most frequent non-zero value (0 when empty)."""
    if label is None:
        raise ValueError("an unlabelled case has no class")
    values, counts = np.unique(label[label != 0], return_counts=True)
    return int(values[np.argmax(counts)]) if values.size else 0


def mid_planes(volume: np.ndarray) -> list[np.ndarray]:
    """The three orthogonal planes through the centre of a 3D array ``(X, Y, Z)``; a 2D array as is."""
    if volume.ndim == 2:
        return [volume]
    x, y, z = (n // 2 for n in volume.shape)
    return [volume[x, :, :], volume[:, y, :], volume[:, :, z]]
