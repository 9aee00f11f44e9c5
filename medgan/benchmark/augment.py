"""Classic augmentation for the benchmark's ``classic`` arms: medgan's transforms, applied on the fly
to each training sample with a seed drawn by the backend (so every arm's randomness is reproducible)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def classic_augmenter(pipeline: Any) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    """``augment(case, seed) -> case`` from the pipeline's ``augmentation:`` block.

    ``preset: default`` uses :func:`medgan.transforms.presets.default_config`; ``config: FILE``
    (relative to the pipeline file) names an augmentation YAML as used by ``medgan augment``.
    The input case is not modified; the returned case carries the applied parameters in
    ``meta["history"]``.
    """
    from medgan.errors import ConfigError
    from medgan.transforms.config import build_pipeline
    from medgan.transforms.presets import default_config
    from medgan.transforms.seeded import seeded

    spec = pipeline.augmentation
    if spec.config:
        path = Path(spec.config)
        source: Any = path if path.is_absolute() else Path(pipeline.base_dir) / path
    elif spec.preset == "default":
        source = default_config(pipeline.spatial_dims)
    else:
        raise ConfigError(f"augmentation: unknown preset {spec.preset!r} (known: default), or give config: FILE")
    apply = seeded(build_pipeline(source, keys=("image", "label"), label_keys=("label",),
                                  spatial_dims=pipeline.spatial_dims))

    def augment(case: dict[str, Any], seed: int) -> dict[str, Any]:
        # the spacing lets millimetre settings (elastic magnitude, translation) mean millimetres
        out = apply({"image": case["image"], "label": case["label"],
                     "meta": {"spacing": case.get("meta", {}).get("spacing"), "history": []}}, seed)
        history = list(case.get("meta", {}).get("history", [])) + list(out.get("meta", {}).get("history", []))
        return {**case, "image": np.asarray(out["image"]), "label": np.asarray(out["label"]),
                "meta": {**case.get("meta", {}), "history": history}}

    return augment
