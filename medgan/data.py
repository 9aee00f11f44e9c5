"""Mix real and synthetic cases for training, the way the benchmark does: public API for MONAI
training scripts.

Example:
    >>> real = [{"image": f"r{i}.nii.gz", "label": f"r{i}_seg.nii.gz"} for i in range(4)]
    >>> fake = [{"image": f"s{i}.nii.gz", "label": f"s{i}_seg.nii.gz"} for i in range(10)]
    >>> mixed = mix(real, fake, ratio=0.5, seed=0)
    >>> len(mixed), sum(item["synthetic"] for item in mixed)
    (6, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medgan.errors import ConfigError


def mix(real: Sequence[dict[str, Any]], synthetic: Sequence[dict[str, Any]], ratio: float, seed: int,
        synthetic_only: bool = False) -> list[dict[str, Any]]:
    """Training list of all real cases plus ``round(ratio * len(real))`` synthetic ones.

    Args:
        real: real training data dictionaries (MONAI style: paths or arrays under ``"image"``/``"label"``).
            Validation and test lists are never passed here and stay untouched.
        synthetic: pool of synthetic data dictionaries to draw from (without replacement).
        ratio: synthetic cases added per real case (0, 0.5, 1, 2, ...).
        seed: which synthetic cases are drawn.
        synthetic_only: return only the drawn synthetic cases (the ``synthetic-only`` arm).

    Returns:
        New dictionaries (the inputs are not modified) with ``"synthetic": 0`` or ``1`` added, real
        cases first.
    """
    if ratio < 0:
        raise ConfigError(f"synthetic ratio must be >= 0, got {ratio}")
    n = int(round(ratio * len(real)))
    if n > len(synthetic):
        raise ConfigError(f"ratio {ratio} needs {n} synthetic cases but only {len(synthetic)} are available")
    if synthetic_only and n == 0:
        raise ConfigError("the synthetic-only arm needs a ratio > 0")
    drawn = np.random.default_rng(seed).choice(len(synthetic), size=n, replace=False) if n else []
    chosen = [{**synthetic[int(i)], "synthetic": 1} for i in sorted(drawn)]
    if synthetic_only:
        return chosen
    return [{**item, "synthetic": 0} for item in real] + chosen
