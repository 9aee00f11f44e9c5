"""Paired statistics of a benchmark arm against its baseline, with (test case, seed) as the unit.

The input is a matrix of paired differences ``arm - baseline``: one row per test case, one column per
seed, NaN where a pair is missing or not applicable. Cases are the independent units (seeds of one
case share its image), so:

- the effect is the mean over cases of each case's mean over its seeds;
- its 95 % interval is a nested percentile bootstrap: resample cases with replacement, then the seeds
  of each drawn case with replacement;
- the paired test is a sign-flip permutation test on the per-case means (exact up to 16 cases,
  Monte Carlo beyond), valid when the differences are symmetric about 0 under the null;
- the minimum detectable effect is the true mean difference a two-sided paired t-test at alpha 0.05
  detects with 80 % power, given the observed spread of the per-case means.

Every random draw comes from the ``seed`` argument, so a report is reproducible.

Example:
    >>> import numpy as np
    >>> diff = np.array([[0.05, 0.03], [0.02, 0.04], [0.06, 0.01], [0.03, 0.05]])
    >>> effect = paired_effect(diff)
    >>> round(effect.mean, 3), effect.n_cases, effect.n_pairs
    (0.036, 4, 8)
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np

#: above this many cases the sign-flip test draws random flips instead of enumerating all 2^n
EXACT_CASES = 16


@dataclass(frozen=True)
class PairedEffect:
    """Summary of paired differences.

    Attributes:
        n_cases: cases with at least one pair.
        n_pairs: (case, seed) pairs used.
        mean: mean over cases of the per-case mean difference.
        ci_low, ci_high: nested bootstrap 95 % interval of ``mean``.
        p_value: two-sided sign-flip permutation p-value on the per-case means.
        mde: minimum detectable effect at 80 % power (absolute, same unit as the metric).
        sd_cases: standard deviation of the per-case mean differences.
    """

    n_cases: int
    n_pairs: int
    mean: float
    ci_low: float
    ci_high: float
    p_value: float
    mde: float
    sd_cases: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def case_means(diff: np.ndarray) -> np.ndarray:
    """Per-case mean over seeds of a ``(cases, seeds)`` matrix, dropping cases without any pair."""
    diff = np.asarray(diff, np.float64)
    if diff.ndim == 1:
        diff = diff[:, None]
    valid = ~np.isnan(diff)
    keep = valid.any(axis=1)
    counts = valid[keep].sum(axis=1)
    return np.where(valid[keep], diff[keep], 0.0).sum(axis=1) / counts


def bootstrap_ci(diff: np.ndarray, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Nested percentile bootstrap interval of the mean difference: cases, then seeds within each case.

    Args:
        diff: ``(cases, seeds)`` paired differences, NaN where missing.
        level: coverage of the interval.
        n_boot: bootstrap replicates.
        seed: seed of the resampling.

    Returns:
        ``(low, high)``; NaNs when fewer than 2 cases have a pair.
    """
    diff = np.asarray(diff, np.float64)
    if diff.ndim == 1:
        diff = diff[:, None]
    diff = diff[~np.isnan(diff).all(axis=1)]
    n_cases = len(diff)
    if n_cases < 2:
        return math.nan, math.nan
    # each case's valid seeds moved to the front, so "draw one of its k valid seeds" is an index < k
    order = np.argsort(np.isnan(diff), axis=1, kind="stable")
    packed = np.take_along_axis(diff, order, axis=1)
    counts = (~np.isnan(diff)).sum(axis=1)
    rng = np.random.default_rng(seed)
    cases = rng.integers(0, n_cases, size=(n_boot, n_cases))
    seeds = (rng.random((n_boot, n_cases, packed.shape[1])) * counts[cases][..., None]).astype(np.int64)
    drawn = packed[cases[..., None], seeds]  # (boot, cases, seeds): every draw is a valid value
    stats = drawn.mean(axis=2).mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return float(low), float(high)


def sign_flip_p(means: np.ndarray, n_perm: int = 20000, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p-value of ``mean(means) == 0`` (exact up to 16 values).

    Args:
        means: per-case mean differences.
        n_perm: random sign patterns drawn when there are more than :data:`EXACT_CASES` values.
        seed: seed of those draws.
    """
    means = np.asarray(means, np.float64)
    n = len(means)
    if n == 0:
        return math.nan
    observed = abs(means.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(means).max()))
    if n <= EXACT_CASES:
        null = np.abs(_all_signs(n) @ means) / n
        return float(np.mean(null >= observed - tolerance))
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(n_perm, n))
    null = np.abs(signs @ means) / n
    return float((1 + np.sum(null >= observed - tolerance)) / (1 + n_perm))


@functools.lru_cache(maxsize=4)
def _all_signs(n: int) -> np.ndarray:
    """Every pattern of n signs, ``(2**n, n)``."""
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    return (1 - 2 * bits).astype(np.float64)


def minimum_detectable_effect(means: np.ndarray, power: float = 0.8, alpha: float = 0.05) -> float:
    """Smallest true mean difference a two-sided paired t-test detects with ``power``, given the
    standard deviation of the per-case means: ``(t_{1-alpha/2} + t_{power}) * sd / sqrt(n)``."""
    from scipy import stats

    means = np.asarray(means, np.float64)
    n = len(means)
    if n < 2:
        return math.nan
    sd = float(means.std(ddof=1))
    return float((stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n))


def paired_effect(diff: np.ndarray, n_boot: int = 2000, seed: int = 0) -> PairedEffect:
    """Mean difference, nested bootstrap 95 % interval, sign-flip p-value and minimum detectable effect.

    Args:
        diff: ``(cases, seeds)`` paired differences ``arm - baseline`` (NaN where missing).
        n_boot: bootstrap replicates.
        seed: seed of the bootstrap and of the Monte Carlo test.
    """
    diff = np.asarray(diff, np.float64)
    if diff.ndim == 1:
        diff = diff[:, None]
    means = case_means(diff)
    n_pairs = int((~np.isnan(diff)).sum())
    if len(means) == 0:
        return PairedEffect(0, 0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    low, high = bootstrap_ci(diff, n_boot=n_boot, seed=seed)
    sd = float(means.std(ddof=1)) if len(means) > 1 else math.nan
    return PairedEffect(len(means), n_pairs, float(means.mean()), low, high, sign_flip_p(means, seed=seed),
                        minimum_detectable_effect(means), sd)
