"""The benchmark's paired statistics on simulated data with a known effect: interval coverage, type-I
error, power at the stated minimum detectable effect, and the handling of missing pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medgan.reports.stats import (
    bootstrap_ci,
    case_means,
    minimum_detectable_effect,
    paired_effect,
    sign_flip_p,
)

CASE_SD, SEED_SD = 0.05, 0.03  # between-case spread of the effect, and seed-to-seed noise within a case


def simulate(rng: np.random.Generator, effect: float, n_cases: int, n_seeds: int = 3) -> np.ndarray:
    """Paired differences (cases, seeds) = effect + case effect + seed noise."""
    return (effect + rng.normal(0, CASE_SD, (n_cases, 1)) + rng.normal(0, SEED_SD, (n_cases, n_seeds)))


def test_nested_bootstrap_covers_the_true_effect() -> None:
    rng = np.random.default_rng(0)
    hits = []
    for trial in range(200):
        low, high = bootstrap_ci(simulate(rng, 0.03, n_cases=30), n_boot=400, seed=trial)
        hits.append(low <= 0.03 <= high)
    assert 0.89 <= np.mean(hits) <= 0.99


def test_resampling_seeds_alone_would_be_overconfident() -> None:
    """The interval must reflect case-to-case spread: it is wider than seed noise alone implies."""
    diff = simulate(np.random.default_rng(1), 0.0, n_cases=20)
    low, high = bootstrap_ci(diff, seed=0)
    naive = 2 * 1.96 * diff.std(ddof=1) / math.sqrt(diff.size)  # pairs treated as independent
    assert high - low > 1.2 * naive


def test_sign_flip_type_one_error_is_nominal() -> None:
    rng = np.random.default_rng(2)
    exact = [sign_flip_p(case_means(simulate(rng, 0.0, n_cases=12))) < 0.05 for _ in range(400)]
    assert 0.02 <= np.mean(exact) <= 0.08
    sampled = [sign_flip_p(case_means(simulate(rng, 0.0, n_cases=30)), n_perm=2000, seed=i) < 0.05
               for i in range(300)]
    assert 0.02 <= np.mean(sampled) <= 0.09


def test_power_at_the_minimum_detectable_effect_is_about_80_percent() -> None:
    rng = np.random.default_rng(3)
    n_cases = 12
    sd_means = math.sqrt(CASE_SD**2 + SEED_SD**2 / 3)
    # the MDE of a sample whose per-case means have exactly the true spread
    unit = rng.normal(size=n_cases)
    mde = minimum_detectable_effect((unit - unit.mean()) / unit.std(ddof=1) * sd_means)
    detected = [sign_flip_p(case_means(simulate(rng, mde, n_cases))) < 0.05 for _ in range(400)]
    assert 0.68 <= np.mean(detected) <= 0.9
    detected_big = [sign_flip_p(case_means(simulate(rng, 2 * mde, n_cases))) < 0.05 for _ in range(100)]
    assert np.mean(detected_big) > 0.95


def test_exact_sign_flip_by_hand() -> None:
    assert sign_flip_p(np.array([1.0, 1.0, 1.0, 1.0])) == pytest.approx(2 / 16)  # all + or all -
    assert sign_flip_p(np.array([1.0, -1.0])) == 1.0
    assert math.isnan(sign_flip_p(np.array([])))


def test_missing_pairs_and_cases_are_dropped_not_zeroed() -> None:
    diff = np.array([[0.1, np.nan, 0.3], [np.nan, np.nan, np.nan], [0.0, 0.2, np.nan]])
    assert np.allclose(case_means(diff), [0.2, 0.1])
    effect = paired_effect(diff)
    assert effect.n_cases == 2 and effect.n_pairs == 4 and effect.mean == pytest.approx(0.15)
    low, high = bootstrap_ci(diff, seed=0)
    assert 0.0 <= low <= 0.15 <= high <= 0.3  # only observed values are ever drawn
    assert bootstrap_ci(diff, seed=0) == (low, high)  # reproducible
    none = paired_effect(np.full((3, 2), np.nan))
    assert none.n_cases == 0 and math.isnan(none.mean)
    single = paired_effect(np.array([[0.1, 0.2]]))
    assert single.n_cases == 1 and math.isnan(single.ci_low) and math.isnan(single.mde)


def test_paired_effect_detects_a_planted_effect_and_not_a_null_one() -> None:
    rng = np.random.default_rng(4)
    planted = paired_effect(simulate(rng, 0.05, n_cases=20))
    assert planted.ci_low > 0 and planted.p_value < 0.01 and planted.mde < 0.05
    null = paired_effect(simulate(rng, 0.0, n_cases=20))
    assert null.ci_low < 0 < null.ci_high
