"""Which dictionary keys hold label maps: by name (``seg``, ``mask``, ``gt`` ...) or by being listed.

A key is a label when it is listed in ``label_keys`` or when one of the words of its name is in
:data:`LABEL_NAMES` (case-insensitive; words are split at ``_``, ``-``, ``.``, digits and camelCase):
``label``, ``seg``, ``Mask``, ``seg_mask``, ``gtSeg``, ``label1`` and ``brain-mask`` are labels;
``image``, ``img``, ``t1``, ``brainmask`` and ``masked_image`` are not. Label keys are resampled with a
label mode (nearest, or one-hot linear + argmax) by every medgan spatial transform and skipped by
every intensity transform. An image key that holds a label-like array (integer values, at most
:data:`MAX_LABEL_VALUES` distinct ones) gets one warning per key and process.

To change the rule for a whole program, assign a new tuple to ``medgan.transforms.keys.LABEL_NAMES``
(``()`` turns recognition by name off); :func:`medgan.transforms.config.build_pipeline` and
:func:`medgan.transforms.presets.default` also take ``label_names=`` per pipeline.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

#: words that make a key a label map (matched case-insensitively against the words of the key's name)
LABEL_NAMES: tuple[str, ...] = ("label", "labels", "labelmap", "seg", "segs", "segmentation", "mask", "masks",
                                "gt")
#: an image array with integer values and at most this many distinct values looks like a label map
MAX_LABEL_VALUES = 64
#: voxels looked at by the label-like check (a strided subsample; the check stays cheap on big volumes)
_PROBE = 65536
#: image arrays looked at per key and process (a label map under an image key is one in every sample)
CHECKS_PER_KEY = 8
_warned: set[str] = set()
_checks: dict[str, int] = {}


def words(key: Hashable) -> list[str]:
    """The lower-case words of a key's name: ``"gtSeg_mask2"`` -> ``["gt", "seg", "mask"]``."""
    text = re.sub(r"([a-z])([A-Z])", r"\1_\2", str(key))
    return re.findall(r"[a-z]+", text.lower())


def is_label_key(key: Hashable, label_keys: Iterable[Hashable] = (), names: Sequence[str] | None = None) -> bool:
    """True when ``key`` is in ``label_keys`` or one of its words is in ``names`` (default :data:`LABEL_NAMES`).

    Example:
        >>> is_label_key("seg"), is_label_key("img"), is_label_key("img", label_keys=("img",))
        (True, False, True)
    """
    if key in tuple(label_keys):
        return True
    names = LABEL_NAMES if names is None else names
    allowed = {n.lower() for n in names}
    return any(w in allowed for w in words(key))


def split_keys(keys: Sequence[Hashable], label_keys: Iterable[Hashable] = (), names: Sequence[str] | None = None
               ) -> tuple[tuple[Hashable, ...], tuple[Hashable, ...]]:
    """``(image_keys, label_keys)`` of ``keys`` in their order (see :func:`is_label_key`)."""
    label_keys = tuple(label_keys)
    labels = tuple(k for k in keys if is_label_key(k, label_keys, names))
    return tuple(k for k in keys if k not in labels), labels


def default_modes(keys: Sequence[Hashable], image_mode: str = "linear", label_mode: str = "nearest"
                  ) -> tuple[str, ...]:
    """One resampling mode per key: ``label_mode`` for label keys (by name), ``image_mode`` otherwise."""
    return tuple(label_mode if is_label_key(k) else image_mode for k in keys)


def looks_like_labels(value: Any) -> bool:
    """True for an array of integer values with at most :data:`MAX_LABEL_VALUES` distinct values.

    Looks at a strided subsample of at most 65,536 voxels (on the array's device).
    """
    tensor = value.detach().as_subclass(torch.Tensor) if isinstance(value, torch.Tensor) \
        else torch.as_tensor(np.asarray(value))
    flat = tensor.reshape(-1)
    if flat.numel() == 0:
        return False
    probe = flat[:: max(1, flat.numel() // _PROBE)]
    if probe.dtype == torch.bool:
        return True
    if probe.is_floating_point() or probe.is_complex():
        if probe.is_complex() or not bool(torch.all(probe == torch.round(probe))):
            return False
    return int(torch.unique(probe).numel()) <= MAX_LABEL_VALUES


def warn_if_label_like(key: Hashable, value: Any) -> None:
    """Warn once per key and process when an image key holds what looks like a label map.

    Only the first :data:`CHECKS_PER_KEY` arrays of each key are looked at, so the check costs nothing
    in a long training run.
    """
    name = str(key)
    if name in _warned or _checks.get(name, 0) >= CHECKS_PER_KEY:
        return
    _checks[name] = _checks.get(name, 0) + 1
    if not looks_like_labels(value):
        return
    _warned.add(name)
    warnings.warn(f"key {name!r} holds integer values with few distinct levels but is treated as an image "
                  f"(interpolated, intensity-augmented); if it is a label map, pass label_keys=({name!r},) "
                  f"or name it like a label ({', '.join(LABEL_NAMES)})", UserWarning, stacklevel=3)
