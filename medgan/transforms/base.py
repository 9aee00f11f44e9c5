"""Shared machinery of medgan's random dictionary transforms.

Every transform here is a MONAI ``Randomizable`` ``MapTransform``: it draws its parameters only from
its own ``self.R`` (reset by ``set_random_state``), works on numpy arrays, torch tensors and MONAI
``MetaTensor`` values (metadata and ``applied_operations`` kept), and appends what it drew to the
case's history, ``data["meta"]["history"]`` (created when absent).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import MapTransform, Randomizable

#: key of the case metadata dictionary in a case (see :mod:`medgan.io`)
META_KEY = "meta"


class RandomDictTransform(Randomizable, MapTransform):
    """Base of medgan's random dict transforms: probability, history, array round trips.

    Args:
        keys: the dictionary keys the transform changes.
        prob: probability of applying the transform to a sample (drawn from ``self.R``).
        allow_missing_keys: skip keys absent from a sample instead of raising.
    """

    #: the name the transform is registered under (and recorded in the history)
    name = "transform"

    def __init__(self, keys: Sequence[Hashable] | Hashable, prob: float = 1.0,
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"prob must lie in [0, 1], got {prob}")
        self.prob = float(prob)

    def randomize(self, data: Any = None) -> None:  # MONAI API; medgan draws inside __call__
        return None

    def apply_now(self) -> bool:
        """Draw whether this call applies the transform (always one draw, so streams stay aligned)."""
        return bool(self.R.random_sample() < self.prob)

    def draw_seed(self) -> int:
        """A seed for bulk random arrays (noise fields), drawn from ``self.R``."""
        return int(self.R.randint(0, 2**31 - 1))


def record(data: dict[Hashable, Any], name: str, applied: bool, **params: Any) -> None:
    """Append ``{"name", "applied", "params"}`` to ``data["meta"]["history"]``.

    ``params`` is a JSON string (sorted keys): every entry has the same three fields whatever the
    transform, so batches of histories collate in a ``DataLoader``; ``json.loads`` reads it back.
    """
    meta = data.get(META_KEY)
    if not isinstance(meta, dict):
        meta = {}
    history = meta.get("history")
    if not isinstance(history, list):
        history = []
    entry = {"name": name, "applied": bool(applied), "params": json.dumps(_plain(params), sort_keys=True)}
    # fresh containers: a cached dataset shares the source sample's meta between epochs
    data[META_KEY] = {**meta, "history": [*history, entry]}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value


def spacing_of(data: Mapping[Hashable, Any], key: Hashable, spatial_dims: int) -> tuple[float, ...]:
    """Voxel spacing in mm of ``data[key]``: from a MetaTensor's affine, else ``data["meta"]``, else 1."""
    value = data[key]
    affine = getattr(value, "affine", None)
    if affine is not None:
        matrix = np.asarray(torch.as_tensor(affine).detach().cpu(), dtype=np.float64)
        spacing = np.linalg.norm(matrix[:spatial_dims, :spatial_dims], axis=0)
        if np.all(spacing > 0):
            return tuple(float(s) for s in spacing)
    meta = data.get(META_KEY)
    if isinstance(meta, Mapping) and meta.get("spacing") is not None:
        spacing = tuple(float(s) for s in meta["spacing"])[:spatial_dims]
        if len(spacing) == spatial_dims:
            return spacing
    return (1.0,) * spatial_dims


def as_numpy(value: Any) -> np.ndarray:
    """A numpy view of an array, tensor or MetaTensor on the CPU (no copy when possible)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().as_subclass(torch.Tensor).numpy()
    return np.asarray(value)


def as_tensor(value: Any) -> torch.Tensor:
    """A plain torch tensor view of an array, tensor or MetaTensor (same device)."""
    if isinstance(value, torch.Tensor):
        return value.detach().as_subclass(torch.Tensor)
    return torch.from_numpy(np.ascontiguousarray(value))


def like(result: np.ndarray | torch.Tensor, original: Any) -> Any:
    """``result`` in the container type of ``original`` (numpy, tensor, or MetaTensor with its meta)."""
    if isinstance(original, torch.Tensor):
        tensor = result if isinstance(result, torch.Tensor) else torch.from_numpy(result)
        tensor = tensor.to(original.device)
        if hasattr(original, "meta") and hasattr(original, "applied_operations"):
            from monai.data import MetaTensor

            return MetaTensor(tensor, meta=dict(original.meta),
                              applied_operations=list(original.applied_operations))
        return tensor
    if isinstance(result, torch.Tensor):
        return result.detach().cpu().numpy()
    return result


def is_cuda(value: Any) -> bool:
    """True for a tensor that lives on a CUDA device."""
    return isinstance(value, torch.Tensor) and value.device.type == "cuda"


def restore_dtype(result: np.ndarray | torch.Tensor, dtype: Any) -> np.ndarray | torch.Tensor:
    """Cast a float ``result`` back to the input's ``dtype``, rounding and clipping for integers."""
    if isinstance(result, torch.Tensor):
        if result.dtype == dtype:
            return result
        if not dtype.is_floating_point and dtype != torch.bool:
            info = torch.iinfo(dtype)
            return torch.round(result).clamp_(info.min, info.max).to(dtype)
        return result.to(dtype)
    dtype = np.dtype(dtype)
    if result.dtype == dtype:
        return result
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(result), info.min, info.max).astype(dtype)
    return result.astype(dtype)
