"""Intensity baselines for paired translation (e.g. MR -> CT) that a user could run: fitted on the
training pairs only, then applied to any new source volume.

- ``global-linear``: one least-squares map ``a * x + b`` from the source (in the translator's
  network range, i.e. after the per-volume MR normalisation) to the target units (HU for CT),
  fitted on the body voxels of all training pairs together.
- ``per-tissue``: intensity clusters: the source range is cut into ``bins`` quantile bins of the
  training body voxels, and each bin predicts the median target value of its training voxels
  (the median minimises the absolute error). It can map one MR intensity to one tissue's HU but,
  like any intensity-only map, not tell dark bone from dark air.

Both maps predict inside the source's own body mask (the largest component of source > -0.9 in
the network range, holes filled, which a user can compute) and the training cases' median target
value outside their body (air) elsewhere.

The per-case least-squares fit (:func:`medgan.metrics.translation.linear_fit`) is the *oracle*: it is
fitted on the test case's own CT, so no user can run it; it is an upper bound for any linear map.

Example:
    >>> maps = fit_baselines([(mr_network, ct_hu, body)], clip=(-1024, 2048))  # doctest: +SKIP
    >>> hu = maps.per_tissue(new_mr_network)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: quantile bins of the per-tissue map
DEFAULT_BINS = 32
#: at most this many body voxels per training case enter the fit (a fixed, evenly spaced subset)
MAX_VOXELS_PER_CASE = 200_000


@dataclass
class IntensityBaselines:
    """The two fitted maps (see the module docstring).

    Attributes:
        slope, intercept: the global linear map.
        edges: inner bin edges of the per-tissue map (ascending, source network units).
        values: the median target value of each of the ``len(edges) + 1`` bins.
        clip: the target range predictions are clipped to (CT window), or ``None``.
        n_cases: training pairs the maps were fitted on.
        outside: the median target value outside the training bodies (air).
    """

    slope: float
    intercept: float
    edges: np.ndarray
    values: np.ndarray
    clip: tuple[float, float] | None
    n_cases: int
    outside: float

    def _finish(self, source: np.ndarray, values: np.ndarray) -> np.ndarray:
        from medgan.metrics.translation import BODY_NETWORK, body_mask

        values = np.where(body_mask(source, BODY_NETWORK), values, self.outside)
        return np.clip(values, *self.clip) if self.clip else values

    def global_linear(self, source: np.ndarray) -> np.ndarray:
        """The global linear map applied to ``source`` (network range), float64, same shape."""
        return self._finish(source, self.slope * np.asarray(source, np.float64) + self.intercept)

    def per_tissue(self, source: np.ndarray) -> np.ndarray:
        """The per-tissue (intensity cluster) map applied to ``source``, float64, same shape."""
        return self._finish(source, self.values[np.searchsorted(self.edges, np.asarray(source), side="right")])


def fit_baselines(pairs: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], clip: tuple[float, float] | None = None,
                  bins: int = DEFAULT_BINS) -> IntensityBaselines:
    """Fit both maps on training pairs.

    Args:
        pairs: ``(source, target, body)`` per training case: the source in the network range, the
            target in its units (clipped to ``clip``), and the bool body mask the fit uses.
        clip: range of the target (predictions are clipped to it).
        bins: quantile bins of the per-tissue map.

    Returns:
        The fitted maps.

    Raises:
        ValueError: no pair, or no body voxel.
    """
    xs, ys, outside, n = [], [], [], 0
    for source, target, body in pairs:
        outside.append(float(np.median(np.asarray(target)[~body])) if (~body).any() else np.nan)
        x, y = np.asarray(source)[body].astype(np.float64), np.asarray(target)[body].astype(np.float64)
        if len(x) > MAX_VOXELS_PER_CASE:
            keep = np.linspace(0, len(x) - 1, MAX_VOXELS_PER_CASE).astype(int)
            x, y = x[keep], y[keep]
        xs.append(x)
        ys.append(y)
        n += 1
    if not n or not sum(len(x) for x in xs):
        raise ValueError("no training body voxels to fit the baselines on")
    x, y = np.concatenate(xs), np.concatenate(ys)
    slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(np.median(y)))
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
    index = np.searchsorted(edges, x, side="right")
    values = np.full(len(edges) + 1, float(np.median(y)))
    for k in np.unique(index):
        values[k] = float(np.median(y[index == k]))
    air = float(np.nanmedian(outside)) if np.isfinite(outside).any() else float(y.min())
    return IntensityBaselines(float(slope), float(intercept), edges, values, clip, n, air)
