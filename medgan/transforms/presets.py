"""One-line augmentation pipelines for training scripts.

Example:
    >>> from medgan.transforms import presets
    >>> train_transforms = presets.default(keys=("image", "label"), spatial_dims=3)
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Sequence
from typing import Any

#: the default pipeline (also shipped as ``pipelines/augment_default.yaml``); ranges close to nnU-Net's
DEFAULT: dict[str, Any] = {
    "image_mode": "linear",
    "label_mode": "nearest",
    "padding": "zeros",
    "transforms": [
        {"name": "affine", "prob": 0.5, "rotate": 15.0, "scale": [0.85, 1.15]},
        {"name": "elastic", "prob": 0.3, "magnitude_mm": 4.0, "control_points": 7},
        {"name": "flip", "prob": 0.5, "axes": [0, 1, 2]},
        {"name": "gaussian_noise", "prob": 0.2, "std": 0.1, "relative": True},
        {"name": "gaussian_blur", "prob": 0.2, "sigma_mm": 1.0},
        {"name": "contrast_brightness", "prob": 0.3, "contrast": [0.75, 1.25], "brightness": 0.1},
        {"name": "gamma", "prob": 0.3, "log_gamma": 0.3},
        {"name": "bias_field", "prob": 0.2, "coefficients": 0.3},
    ],
}


def default_config(spatial_dims: int = 3) -> dict[str, Any]:
    """The default pipeline as a config dict (flips restricted to the image's axes)."""
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    config = copy.deepcopy(DEFAULT)
    for entry in config["transforms"]:
        if entry["name"] == "flip":
            entry["axes"] = list(range(spatial_dims))
    return config


def default(keys: Sequence[Hashable] = ("image", "label"), spatial_dims: int = 3,
            label_keys: Sequence[Hashable] = (), label_names: Sequence[str] | None = None) -> Any:
    """The default augmentation as a MONAI ``Compose`` (affine + elastic + flips in one resampling,
    then noise, blur, contrast, gamma, bias field).

    Keys named like labels (``label``, ``labels``, ``seg``, ``mask``, ``gt``, ``seg_mask`` ...; see
    :mod:`medgan.transforms.keys`) and keys in ``label_keys`` are label maps: resampled with nearest
    neighbours, never intensity-augmented.

    Args:
        keys: image and label keys of the samples.
        spatial_dims: 2 or 3.
        label_keys: keys that are label maps whatever their name.
        label_names: words that make a key a label (default :data:`medgan.transforms.keys.LABEL_NAMES`).

    Example:
        >>> pipeline = default(keys=("img", "seg"), spatial_dims=3)  # "seg" is resampled as a label
    """
    from medgan.transforms.config import build_pipeline

    return build_pipeline(default_config(spatial_dims), keys=keys, label_keys=label_keys,
                          label_names=label_names)
