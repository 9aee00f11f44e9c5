"""The benchmark's folds, nested training sets, reserve cases, controls, leak guard, mixing and grid."""

from __future__ import annotations

import numpy as np
import pytest

from medgan.benchmark.controls import fit_shape, wrong_label_cases
from medgan.benchmark.pipeline import GridSpec, Pipeline
from medgan.benchmark.run import Cell, grid_cells, parse_shard, shard_cells
from medgan.benchmark.split import Fold, content_key, make_folds, refuse_test_leak
from medgan.data import mix
from medgan.errors import ConfigError

IDS = [f"case{i:02d}" for i in range(20)]
HEALTHY = {i: "healthy" if i.endswith(("0", "1", "2", "3")) else "lesion" for i in IDS}  # 8 healthy, 12 lesion


def test_every_case_is_tested_exactly_once_and_folds_are_seeded() -> None:
    cv = make_folds(IDS, folds=5, val_fraction=0.15, seed=3)
    tested = [c for f in cv.folds for c in f.test]
    assert sorted(tested) == IDS  # each case in exactly one test fold
    for fold in cv.folds:
        assert len(fold.test) == 4 and len(fold.val) == 2 and len(fold.train) == 14
        assert set(fold.train) | set(fold.val) | set(fold.test) == set(IDS)
    assert make_folds(list(reversed(IDS)), 5, 0.15, seed=3) == cv
    assert make_folds(IDS, 5, 0.15, seed=4).folds[0].test != cv.folds[0].test
    with pytest.raises(ConfigError, match="at least 2"):
        make_folds(IDS, folds=1)
    with pytest.raises(ConfigError, match="need at least"):
        make_folds(IDS[:4], folds=3)


def test_folds_validation_and_training_sets_keep_the_healthy_share() -> None:
    cv = make_folds(IDS, folds=4, val_fraction=0.2, seed=0, strata=HEALTHY)
    for fold in cv.folds:
        assert sum(HEALTHY[c] == "healthy" for c in fold.test) == 2  # 8 healthy over 4 folds
        assert sum(HEALTHY[c] == "healthy" for c in fold.val) == 1  # 6 of 15 healthy, 3 validation cases
        subset = cv.training_subset(fold.index, 5, seed=7)
        assert sum(HEALTHY[c] == "healthy" for c in subset) == 2  # 5 of 12 pool cases, 5 healthy in the pool


def test_training_sets_are_nested_identical_for_every_arm_and_reserve_follows() -> None:
    cv = make_folds(IDS, folds=5, val_fraction=0.15, seed=0)
    small, large, full = (cv.training_subset(1, n, seed=2) for n in (3, 6, 14))
    assert set(small) <= set(large) <= set(full) == set(cv.folds[1].train)
    assert cv.training_subset(1, 3, seed=2) == small  # the same for every arm
    assert cv.training_subset(1, 3, seed=3) != small  # the seed draws the order
    reserve = cv.reserve(1, 3, 3, seed=2)
    assert len(reserve) == 3 and not set(reserve) & set(small)
    assert set(reserve) | set(small) == set(large)  # the reserve is what a larger set would add
    assert not set(reserve) & (set(cv.folds[1].val) | set(cv.folds[1].test))
    with pytest.raises(ConfigError, match="needs 12 cases beyond the 12"):
        cv.reserve(1, 12, 12, seed=2)
    with pytest.raises(ConfigError, match="cannot train on 0"):
        cv.training_subset(1, 0, seed=2)


def test_overlapping_fold_is_refused() -> None:
    with pytest.raises(ConfigError, match="not disjoint"):
        Fold(0, ("a", "b"), ("c",), ("b",))


def test_leak_guard_catches_test_cases_by_id_and_by_content() -> None:
    rng = np.random.default_rng(0)
    cases = {i: {"id": i, "image": rng.random((1, 4, 4, 4)), "label": np.zeros((1, 4, 4, 4), np.uint8)}
             for i in IDS}
    fold = make_folds(IDS, 5, 0.15, seed=0).folds[0]
    keys = {content_key(cases[i]) for i in fold.test}
    refuse_test_leak("GAN training", [cases[i] for i in fold.train], fold, keys)
    planted = cases[fold.test[0]]
    with pytest.raises(ConfigError, match=f"GAN training would see test case '{planted['id']}'"):
        refuse_test_leak("GAN training", [cases[fold.train[0]], planted], fold, keys)
    renamed = {**planted, "id": "innocent_looking_case"}
    with pytest.raises(ConfigError, match="identical to a test case"):
        refuse_test_leak("GAN training", [renamed], fold, keys)


def _labelled(n: int, healthy: int = 1) -> list[dict]:
    rng = np.random.default_rng(1)
    cases = []
    for i in range(n):
        label = np.zeros((1, 8, 8, 4), np.uint8)
        if i >= healthy:
            label[0, i % 6:i % 6 + 2, 2:5, 1:3] = 1 + i % 3
        cases.append({"id": f"c{i}", "image": rng.random((2, 8, 8, 4)), "label": label, "meta": {"spacing": (1,) * 3}})
    return cases


def test_wrong_label_cases_pair_training_images_with_another_label() -> None:
    cases = _labelled(4)
    added = wrong_label_cases(cases, 6, seed=0)
    assert len(added) == 6
    by_id = {c["id"]: c for c in cases}
    for case in added:
        source, donor = case["id"].split("+labels-of-")
        assert source != donor and donor == case["meta"]["wrong_label_from"]
        assert case["image"] is by_id[source]["image"]  # a training image, unchanged
        assert np.array_equal(case["label"], by_id[donor]["label"])
        assert not np.array_equal(case["label"], by_id[source]["label"])  # really wrong
    assert [c["id"] for c in wrong_label_cases(cases, 6, seed=0)] == [c["id"] for c in added]
    assert [c["id"] for c in wrong_label_cases(cases, 6, seed=1)] != [c["id"] for c in added]
    assert all("+labels-of-" not in c["id"] for c in cases)  # inputs untouched
    assert wrong_label_cases(cases, 0, seed=0) == []
    with pytest.raises(ConfigError, match="different label maps"):
        wrong_label_cases(_labelled(3, healthy=3), 2, seed=0)  # all healthy: nothing to swap


def test_fit_shape_crops_and_pads_without_new_values() -> None:
    label = np.arange(1, 13, dtype=np.uint8).reshape(1, 3, 4)
    assert fit_shape(label, (3, 4)).tolist() == label.tolist()
    assert fit_shape(label, (1, 2)).tolist() == [[[6, 7]]]
    padded = fit_shape(label, (5, 4))
    assert padded.shape == (1, 5, 4) and set(np.unique(padded)) <= set(np.unique(label)) | {0}


def test_mix_adds_ratio_times_real_and_leaves_inputs_alone() -> None:
    real = [{"image": f"r{i}"} for i in range(4)]
    fake = [{"image": f"s{i}"} for i in range(10)]
    mixed = mix(real, fake, ratio=2, seed=0)
    assert len(mixed) == 12 and sum(m["synthetic"] for m in mixed) == 8
    assert [m["image"] for m in mixed[:4]] == ["r0", "r1", "r2", "r3"]
    assert mix(real, fake, 2, seed=0) == mixed and mix(real, fake, 2, seed=1) != mixed
    assert "synthetic" not in real[0] and "synthetic" not in fake[0]
    only = mix(real, fake, 1, seed=0, synthetic_only=True)
    assert len(only) == 4 and all(m["synthetic"] for m in only)
    with pytest.raises(ConfigError, match="only 10 are available"):
        mix(real, fake, 3, seed=0)


def test_grid_cells_controls_and_shards() -> None:
    cv = make_folds(IDS, folds=5, val_fraction=0.15, seed=0)  # pools of 14 cases
    pipeline = Pipeline(name="t", grid=GridSpec(cases=[3, 12], arms=["none", "real-cases", "gan"], ratios=[0, 1],
                                                seeds=[0, 1]))
    cells, skipped = grid_cells(pipeline, cv)
    assert Cell(0, 3, "none", 0.0, 0) in cells and Cell(4, 12, "gan", 1.0, 1) in cells
    assert not any(c.arm == "gan" and c.ratio == 0 for c in cells)
    assert Cell(0, 3, "real-cases", 1.0, 0) in cells
    assert not any(c.arm == "real-cases" and c.cases == 12 for c in cells)  # 12 + 12 > 14: no reserve
    assert len(skipped) == 5 * 2 and "needs 12 reserve cases" in skipped[0][1]
    assert len(cells) == 5 * 2 * 2 * 2 + 5 * 2  # folds x seeds x sizes x (none, gan) + real-cases at 3 only
    assert parse_shard("1/4") == (1, 4) and parse_shard(None) == (0, 1)
    with pytest.raises(ConfigError):
        parse_shard("4/4")
    shards = [shard_cells(cells, f"{i}/3") for i in range(3)]
    assert sorted(c.key for s in shards for c in s) == sorted(c.key for c in cells)
    for shard in shards:  # a GAN stage (fold, size, seed) lives in one shard only
        others = {c.stage_key for s in shards if s is not shard for c in s}
        assert not {c.stage_key for c in shard} & others
