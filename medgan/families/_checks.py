"""Checks of a family's training config against its data, shared by every family's ``build``: each
raises :class:`~medgan.errors.ConfigError` naming the config key, before the run folder is created.

Example:
    >>> check_size("data.patch_size", 16, (24, 24))
    [16, 16]
    >>> check_values("data.classes", [1, 9], [1, 2], "lesion class")
    Traceback (most recent call last):
    medgan.errors.ConfigError: data.classes: 9 is not a lesion class of the training data (it has 1, 2)
"""

from __future__ import annotations

from collections.abc import Sequence

from medgan.errors import ConfigError

#: most voxels of one training crop, patch or region (a 512^3 volume); larger sizes are a typo
MAX_CROP_VOXELS = 512 ** 3


def _text(values: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in values)


def check_size(key: str, size: int | Sequence[int], shape: Sequence[int], minimum: int = 1) -> list[int]:
    """``size`` per axis of data of spatial ``shape``: one value per axis (or one for all), each at
    least ``minimum``, none larger than the data, and at most :data:`MAX_CROP_VOXELS` in all.

    Args:
        key: the config key, named in the error (e.g. ``data.patch_size``).
        size: one edge for every axis, or one per axis.
        shape: spatial shape of the smallest training case (voxels at the grid the family trains on).
        minimum: the smallest edge the family's networks accept.

    Returns:
        The size per axis.
    """
    sizes = [int(size)] * len(shape) if isinstance(size, int) else [int(s) for s in size]
    if len(sizes) != len(shape):
        raise ConfigError(f"{key}: {list(size)} has {len(sizes)} values; the data is {len(shape)}D "  # type: ignore[arg-type]
                          f"({_text(shape)} voxels), give one value or {len(shape)}")
    if min(sizes) < minimum:
        raise ConfigError(f"{key}: {_text(sizes)} must be at least {minimum} on every axis")
    voxels = 1
    for s in sizes:
        voxels *= s
    if voxels > MAX_CROP_VOXELS:
        raise ConfigError(f"{key}: {_text(sizes)} is {voxels:.3g} voxels, more than the {MAX_CROP_VOXELS:.3g} "
                          "medgan accepts for one crop")
    if any(s > n for s, n in zip(sizes, shape)):
        raise ConfigError(f"{key}: {_text(sizes)} is larger than the data ({_text(shape)} voxels); give at most "
                          f"{_text(shape)}")
    return sizes


def check_dims(key: str, dims: int | None, data_dims: int) -> int:
    """``dims`` (``None``/0: the data's) must equal the data's number of spatial dimensions; returns it."""
    if dims and int(dims) != data_dims:
        raise ConfigError(f"{key}: {dims} but the data is {data_dims}D")
    return data_dims


def check_values(key: str, given: Sequence[int] | None, found: Sequence[int], what: str = "label value",
                 exact: bool = False) -> None:
    """Values the config names (``None``: not given) must occur in the data; with ``exact`` the data
    may hold no other value either (a label encoding that would drop one of the data's values)."""
    if given is None:
        return
    have = sorted({int(v) for v in found})
    listed = ", ".join(str(v) for v in have)
    missing = [int(v) for v in given if int(v) not in have]
    if missing:
        raise ConfigError(f"{key}: {missing[0]} is not a {what} of the training data (it has {listed})")
    extra = [v for v in have if v not in {int(g) for g in given}]
    if exact and extra:
        raise ConfigError(f"{key}: the training data also holds {what} {extra[0]}, which {list(given)} leaves out "
                          f"(it has {listed})")

