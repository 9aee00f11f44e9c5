"""A random pipeline that takes its seed with each sample, so the same ``(sample, seed)`` always gives
the same output, whatever ran before (workers, process history, resume).

Example:
    >>> import numpy as np
    >>> from medgan.transforms import presets
    >>> augment = seeded(presets.default(keys=("image",), spatial_dims=2))
    >>> case = {"image": np.random.default_rng(0).random((1, 16, 16), dtype=np.float32)}
    >>> bool(np.array_equal(augment(case, 7)["image"], augment(case, 7)["image"]))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: ``apply(sample, seed) -> sample``
Seeded = Callable[[Mapping[str, Any], int], dict[str, Any]]


def seeded(transform: Any) -> Seeded:
    """``apply(sample, seed)``: reset ``transform``'s random state to ``seed``, then apply it to a
    shallow copy of ``sample`` (the input dict is not modified).

    Args:
        transform: a MONAI ``Randomizable`` (a ``Compose`` of medgan or MONAI transforms) with
            ``set_random_state(seed=...)``.

    Returns:
        The seeded pipeline.
    """

    def apply(sample: Mapping[str, Any], seed: int) -> dict[str, Any]:
        transform.set_random_state(seed=int(seed))
        return transform(dict(sample))

    return apply
