"""Training volumes of a translation run: loading one modality of a dataset into the network
range, and sampling random crops (axial slices in 2D, patches in 3D) centred on the body.

The volumes of a run are held in memory as float32 (the sample data: 20 cases of 56x64x56 take
14 MB per modality); crops outside a volume are filled with -1, the network value of air.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medgan.errors import ConfigError, DataError
from medgan.families._translation.config import DomainConfig
from medgan.io.datasets import Dataset, load_dataset
from medgan.transforms.modality import Scale, fit_reference, make_scale
from medgan.transforms.modality_checks import check_ct_window

#: network values above this count as body when crops are centred (air and MR background are -1)
BODY_THRESHOLD = -0.9
#: body coordinates kept per volume to draw crop centres from
MAX_CENTRES = 20000


def select_cases(dataset: Dataset, cases: Sequence[str] | None, exclude: Sequence[str]) -> list[str]:
    """Case ids to train on: ``cases`` (or all) minus ``exclude``; unknown ``cases`` ids are an error."""
    known = {ref.id for ref in dataset.cases}
    for case_id in cases or []:
        if case_id not in known:
            raise DataError(dataset.root, f"no case named {case_id!r} (given in cases)")
    chosen = list(cases) if cases is not None else [ref.id for ref in dataset.cases]
    banned = set(exclude)
    return [c for c in chosen if c not in banned]


def domain_modality(dataset: Dataset, domain: DomainConfig) -> str:
    """The domain's modality, checked against the dataset (its only one when not given)."""
    if domain.modality is None:
        if len(dataset.modalities) != 1:
            raise DataError(dataset.root, f"has modalities {list(dataset.modalities)}; name the one to use "
                                          "(FOLDER:MODALITY or --data FOLDER with a modality name)")
        return dataset.modalities[0]
    if domain.modality not in dataset.modalities:
        raise DataError(dataset.root, f"has no modality {domain.modality!r} (found {list(dataset.modalities)})")
    return domain.modality


def load_raw_volumes(dataset: Dataset, modalities: Sequence[str], case_ids: Sequence[str]) -> list[np.ndarray]:
    """The given channels of each case, ``(len(modalities), X, Y[, Z])``, as stored (no scaling)."""
    out = []
    for case_id in case_ids:
        case = dataset.load(case_id)
        names = list(case["meta"]["modalities"])
        out.append(np.stack([case["image"][names.index(m)] for m in modalities]))
    return out


def load_domain(domain: DomainConfig, cases: Sequence[str] | None, exclude: Sequence[str]
                ) -> tuple[list[np.ndarray], str, list[str]]:
    """One domain's training volumes in the network range.

    Resolves ``domain.modality`` and the intensity reference (MR output scale) in place.

    Returns:
        ``(volumes, modality, case_ids)``; each volume ``(1, X, Y[, Z])`` float32 in [-1, 1].
    """
    dataset = load_dataset(domain.path)
    modality = domain_modality(dataset, domain)
    domain.modality = modality
    ids = select_cases(dataset, cases, exclude)
    if not ids:
        raise DataError(dataset.root, "no training case left after the case selection")
    raw = load_raw_volumes(dataset, [modality], ids)
    if domain.intensity.reference is None:
        domain.intensity.reference = fit_reference(domain.intensity, modality, [v[0] for v in raw])
    scale = make_scale(domain.intensity, modality)
    for case_id, volume in zip(ids, raw):
        check_ct_window(scale, volume[0], dataset.root / case_id)
    return [scale.to_network(v) for v in raw], modality, ids


def domain_scale(domain: DomainConfig) -> Scale:
    """The resolved intensity mapping of a domain."""
    return make_scale(domain.intensity, domain.modality or "")


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``value``."""
    return -(-int(value) // multiple) * multiple


def default_patch_size(volumes: Sequence[np.ndarray], spatial_dims: int, divisor: int, power_of_two: bool,
                       capped: bool = True) -> int:
    """Crop edge: the largest in-plane (2D) or spatial (3D) extent, rounded up for the generator,
    capped at 256 (2D) / 64 (3D) unless ``capped`` is false."""
    extent = max(max(v.shape[1:3] if spatial_dims == 2 else v.shape[1:]) for v in volumes)
    cap = (256 if spatial_dims == 2 else 64) if capped else extent * 2 + divisor
    if power_of_two:
        size = 1 << max(0, int(extent - 1).bit_length())
    else:
        size = round_up(extent, divisor)
    return int(min(cap, max(size, divisor)))


def check_patch_size(family: str, volumes: Sequence[np.ndarray], spatial_dims: int, patch_size: int,
                     divisor: int, power_of_two: bool) -> None:
    """A given ``data.patch_size``: positive, a multiple of ``divisor``, and no larger than the data's
    largest extent rounded up to what the generator takes or to a power of two (a larger crop would
    be padding only).

    Raises:
        ConfigError: naming ``data.patch_size``.
    """
    if patch_size < 1 or patch_size % divisor:
        raise ConfigError(f"data.patch_size: {patch_size} must be a positive multiple of {divisor} for {family}")
    extent = max(max(v.shape[1:3] if spatial_dims == 2 else v.shape[1:]) for v in volumes)
    limit = max(default_patch_size(volumes, spatial_dims, divisor, power_of_two, capped=False),
                1 << max(0, int(extent - 1).bit_length()))
    if patch_size > limit:
        raise ConfigError(f"data.patch_size: {patch_size} is larger than the data (largest {spatial_dims}D extent "
                          f"{extent} voxels); give at most {limit}")


def crop_padded(volume: np.ndarray, starts: Sequence[int], size: Sequence[int], fill: float = -1.0) -> np.ndarray:
    """The window ``[start, start + size)`` of ``volume`` ``(C, *S)``, filled with ``fill`` outside it."""
    out = np.full((volume.shape[0], *size), fill, dtype=volume.dtype)
    src, dst = [slice(None)], [slice(None)]
    for start, length, extent in zip(starts, size, volume.shape[1:]):
        lo, hi = max(start, 0), min(start + length, extent)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - start, hi - start))
    out[tuple(dst)] = volume[tuple(src)]
    return out


@dataclass
class CropSampler:
    """Random crops from a list of volumes in the network range.

    Args:
        volumes: ``(C, X, Y[, Z])`` float32 arrays (several channels stay aligned: pix2pix pairs).
        spatial_dims: 2 (crops of axial slices, the last axis of 3D volumes) or 3.
        patch_size: crop edge.
        flip: random flips of the first axis (left-right in RAS).
    """

    volumes: list[np.ndarray]
    spatial_dims: int
    patch_size: int
    flip: bool = True

    def __post_init__(self) -> None:
        if not self.volumes:
            raise ValueError("no volumes to sample from")
        rng = np.random.default_rng(0)
        self.centres = []
        for volume in self.volumes:
            body = np.argwhere(volume.max(0) > BODY_THRESHOLD)
            if len(body) == 0:
                body = np.argwhere(np.ones(volume.shape[1:], bool))
            if len(body) > MAX_CENTRES:
                body = body[np.sort(rng.choice(len(body), MAX_CENTRES, replace=False))]
            self.centres.append(body)

    def crop(self, rng: np.random.Generator) -> np.ndarray:
        """One crop ``(C, *[patch_size] * spatial_dims)``."""
        index = int(rng.integers(len(self.volumes)))
        volume, centre = self.volumes[index], self.centres[index][int(rng.integers(len(self.centres[index])))]
        if self.spatial_dims == 2 and volume.ndim == 4:
            volume, centre = volume[..., int(centre[-1])], centre[:-1]
        size = [self.patch_size] * self.spatial_dims
        starts = []
        for c, p, extent in zip(centre, size, volume.shape[1:]):
            starts.append(int(np.clip(int(c) - p // 2, 0, extent - p)) if extent >= p else -((p - extent) // 2))
        sample = crop_padded(volume, starts, size)
        if self.flip and rng.random() < 0.5:
            sample = sample[:, ::-1]
        return np.ascontiguousarray(sample, dtype=np.float32)

    def batch(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` crops stacked ``(n, C, *patch)``."""
        return np.stack([self.crop(rng) for _ in range(n)])


def local_batch_size(batch_size: int, world_size: int) -> int:
    """This process's share of the global batch (it must divide evenly)."""
    if batch_size % world_size or batch_size < world_size:
        raise ValueError(f"batch size {batch_size} does not divide among {world_size} processes")
    return batch_size // world_size
