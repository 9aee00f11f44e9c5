"""Base of the random intensity transforms: draw parameters once, apply per image key in torch."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import torch

from medgan.transforms.base import RandomDictTransform, as_tensor, like, record, restore_dtype, spacing_of
from medgan.transforms.keys import is_label_key, warn_if_label_like


def uniform_range(value: float | Sequence[float], name: str, low: float = -np.inf, high: float = np.inf,
                  symmetric: bool = False) -> tuple[float, float]:
    """``(lo, hi)`` from a number (``(0, v)`` or ``(-v, v)`` when symmetric) or a pair, range-checked."""
    if isinstance(value, (int, float)):
        pair = (-float(value), float(value)) if symmetric else (float(value), float(value))
    else:
        items = [float(v) for v in value]
        if len(items) != 2:
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {list(value)}")
        pair = (items[0], items[1])
    if not pair[0] <= pair[1] or pair[0] < low or pair[1] > high or not np.all(np.isfinite(pair)):
        raise ValueError(f"{name} must satisfy {low} <= low <= high <= {high}, got {pair}")
    return pair


class IntensityTransform(RandomDictTransform):
    """A random intensity transform applied to image keys (never to labels).

    Keys named like labels (``seg``, ``mask``, ``gt`` ..., see :mod:`medgan.transforms.keys`) are
    skipped even when listed in ``keys``; an image key holding a label-like array gets one warning.

    Subclasses implement :meth:`draw` (parameters from ``self.R``; ``None`` means identity) and
    :meth:`apply` (a float tensor in, a new float tensor out; input never modified in place).
    Integer images come back rounded to their dtype; numpy stays numpy, tensors keep their device.
    """

    #: words that make a key a label (``None``: :data:`medgan.transforms.keys.LABEL_NAMES`)
    label_names: Sequence[str] | None = None

    def __init__(self, keys: Sequence[Hashable] | Hashable = ("image",), prob: float = 1.0,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)

    def draw(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: dict[str, Any], spacing: tuple[float, ...], index: int
              ) -> torch.Tensor:
        """Transform ``x`` ``(C, *spatial)`` float; ``index`` numbers the key (for distinct noise)."""
        raise NotImplementedError

    def __call__(self, data: Any) -> dict[Hashable, Any]:
        d = dict(data)
        params = self.draw() if self.apply_now() else None
        record(d, self.name, params is not None, **(params or {}))
        images = [k for k in self.key_iterator(d) if not is_label_key(k, (), self.label_names)]
        for key in images:
            warn_if_label_like(key, d[key])
        if params is None:
            return d
        for index, key in enumerate(images):
            value = d[key]
            tensor = as_tensor(value)
            dims = tensor.ndim - 1
            x = tensor if tensor.is_floating_point() else tensor.float()
            out = self.apply(x, params, spacing_of(d, key, dims), index)
            out = restore_dtype(out, tensor.dtype)
            d[key] = like(out if isinstance(value, torch.Tensor) else out.numpy(), value)
        return d


def generator_for(x: torch.Tensor, seed: int) -> torch.Generator:
    """A torch generator on ``x``'s device seeded with ``seed``."""
    g = torch.Generator(device=x.device)
    g.manual_seed(int(seed))
    return g
