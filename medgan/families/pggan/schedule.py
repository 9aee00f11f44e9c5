"""The growth schedule of a progressive GAN: which level is trained, with which fade-in weight and
batch size, after a given number of real images shown to the discriminator; and the choice of the
base shape that reaches a target resolution. Pure Python (no torch), so it is cheap to test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GrowthSchedule:
    """Level 0 is stabilised for ``stable_images``; every later level is faded in linearly over
    ``fade_images`` and then stabilised for ``stable_images`` (Karras et al. 2018: 600k + 600k);
    training continues at the last level after that.

    Args:
        levels: index of the last level.
        fade_images: real images shown during one fade-in.
        stable_images: real images shown during one stabilisation.
        batch_sizes: global batch size per level; the last entry serves every later level.

    Example:
        >>> s = GrowthSchedule(levels=2, fade_images=100, stable_images=100, batch_sizes=(10,))
        >>> s.position(150)
        (1, 0.5)
    """

    levels: int
    fade_images: int
    stable_images: int
    batch_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.levels < 0 or self.fade_images < 0 or self.stable_images < 0:
            raise ValueError("levels, fade_images and stable_images must not be negative")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("batch_sizes needs at least one positive entry")

    def position(self, images_seen: int) -> tuple[int, float]:
        """``(level, alpha)`` after ``images_seen`` real images; ``alpha`` in (0, 1] is the fade-in weight."""
        if images_seen < self.stable_images or self.levels == 0:
            return 0, 1.0
        period = self.fade_images + self.stable_images
        t = images_seen - self.stable_images
        level = 1 + t // period if period > 0 else self.levels
        if level > self.levels:
            return self.levels, 1.0
        into = t - (level - 1) * period
        alpha = into / self.fade_images if self.fade_images > 0 and into < self.fade_images else 1.0
        return int(level), float(alpha)

    def batch_size(self, level: int) -> int:
        """Global batch size of ``level``."""
        return int(self.batch_sizes[min(level, len(self.batch_sizes) - 1)])

    def images_to_final(self) -> int:
        """Real images shown until the last level's stabilisation ends."""
        return self.stable_images + self.levels * (self.fade_images + self.stable_images)

    def steps_to_final(self) -> int:
        """Training steps (one discriminator batch each) until the last level's stabilisation ends."""
        steps, seen, end = 0, 0, self.images_to_final()
        while seen < end:
            seen += self.batch_size(self.position(seen)[0])
            steps += 1
        return steps


def default_batch_sizes(spatial_dims: int) -> tuple[int, ...]:
    """Per-level batch sizes: Karras' 2D schedule (128 at 4..16, then halving), in 3D 32 halving to 2."""
    if spatial_dims == 2:
        return (128, 128, 128, 64, 32, 16, 8, 4)
    return (32, 32, 16, 8, 4, 2)


def choose_base_shape(data_shape: Sequence[int], resolution: int) -> tuple[tuple[int, ...], int]:
    """Base shape and number of doublings that reach ``resolution`` along the data's longest axis.

    The data shape is scaled so its longest side is ``resolution``; when that shape halves exactly
    down to a base whose longest side is 4 to 8 (56x64x56 at 64 -> base 7x8x7, three doublings),
    that base is used and the model keeps the data's proportions exactly. Otherwise the longest
    side of the base is 4 and the others are rounded (the model grid then differs slightly from
    the data's proportions and outputs are resampled to the data grid).

    Args:
        data_shape: spatial shape of the training data.
        resolution: wanted longest side of the final level, ``4 * 2**k`` or ``b * 2**k`` with b in 5..8.

    Returns:
        ``(base_shape, levels)``.
    """
    longest = max(data_shape)
    if resolution < 4:
        raise ValueError(f"resolution must be at least 4, found {resolution}")
    target = [s * resolution / longest for s in data_shape]
    for k in range(int(math.log2(resolution)), -1, -1):
        base = [t / 2**k for t in target]
        if all(abs(b - round(b)) < 1e-6 and round(b) >= 1 for b in base) and 4 <= max(base) <= 8:
            return tuple(int(round(b)) for b in base), k
    k = int(math.floor(math.log2(resolution / 4)))
    if 4 * 2**k != resolution:
        raise ValueError(f"resolution {resolution} is not 4 * 2**k and the data shape {tuple(data_shape)} gives no "
                         "exact base; give model.base_shape explicitly")
    return tuple(max(1, int(math.floor(t / 2**k + 0.5))) for t in target), k
