"""The benchmark's split, leak guard, real/synthetic mixing, grid and report pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medgan.benchmark.pipeline import GridSpec, Pipeline
from medgan.benchmark.run import Cell, grid_cells, parse_shard
from medgan.benchmark.split import Split, content_key, make_split, refuse_test_leak
from medgan.data import mix
from medgan.errors import ConfigError
from medgan.reports.benchmark import paired_comparison, summary_table, write_report

IDS = [f"case{i:02d}" for i in range(20)]


def test_split_is_disjoint_complete_and_seeded() -> None:
    split = make_split(IDS, test_fraction=0.25, val_fraction=0.15, seed=3)
    assert set(split.train) | set(split.val) | set(split.test) == set(IDS)
    assert not (set(split.train) & set(split.test)) and not (set(split.val) & set(split.test))
    assert len(split.test) == 5 and len(split.val) == 3
    assert make_split(list(reversed(IDS)), 0.25, 0.15, seed=3) == split
    assert make_split(IDS, 0.25, 0.15, seed=4).test != split.test


def test_split_is_stratified() -> None:
    healthy = {i: i.endswith(("0", "1", "2", "3")) for i in IDS}  # 8 healthy, 12 lesion cases
    split = make_split(IDS, 0.25, 0.0, seed=0, strata=healthy)
    assert sum(healthy[i] for i in split.test) == 2 and sum(not healthy[i] for i in split.test) == 3


def test_training_subsets_are_nested_and_same_for_every_arm() -> None:
    split = make_split(IDS, 0.25, 0.15, seed=0)
    full, half, tenth = (split.training_subset(f, seed=1) for f in (1.0, 0.5, 0.1))
    assert set(tenth) <= set(half) <= set(full) == set(split.train)
    assert len(tenth) == 1 and len(half) == 6
    assert split.training_subset(0.5, seed=1) == half
    with pytest.raises(ConfigError):
        split.training_subset(0.0, seed=1)


def test_overlapping_split_is_refused() -> None:
    with pytest.raises(ConfigError, match="not disjoint"):
        Split(("a", "b"), ("c",), ("b",), 0)


def test_leak_guard_catches_test_cases_by_id_and_by_content() -> None:
    rng = np.random.default_rng(0)
    cases = {i: {"id": i, "image": rng.random((1, 4, 4, 4)), "label": np.zeros((1, 4, 4, 4), np.uint8)}
             for i in IDS}
    split = make_split(IDS, 0.25, 0.15, seed=0)
    keys = {content_key(cases[i]) for i in split.test}
    refuse_test_leak("GAN training", [cases[i] for i in split.train], split, keys)
    planted = cases[split.test[0]]
    with pytest.raises(ConfigError, match=f"GAN training would see test case '{planted['id']}'"):
        refuse_test_leak("GAN training", [cases[split.train[0]], planted], split, keys)
    renamed = {**planted, "id": "innocent_looking_case"}
    with pytest.raises(ConfigError, match="identical to a test case"):
        refuse_test_leak("GAN training", [renamed], split, keys)


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
    assert len(mix(real, fake, 0, seed=0)) == 4
    with pytest.raises(ConfigError, match="only 10 are available"):
        mix(real, fake, 3, seed=0)


def test_grid_cells_and_shards() -> None:
    pipeline = Pipeline(name="t", grid=GridSpec(fractions=[1.0, 0.5], arms=["none", "gan"], ratios=[0, 1, 2],
                                                seeds=[0, 1]))
    cells = grid_cells(pipeline)
    assert Cell(1.0, "none", 0.0, 0) in cells and Cell(1.0, "gan", 2.0, 1) in cells
    assert not any(c.arm == "gan" and c.ratio == 0 for c in cells)
    assert len(cells) == 2 * (1 + 2) * 2
    assert parse_shard("1/4") == (1, 4) and parse_shard(None) == (0, 1)
    with pytest.raises(ConfigError):
        parse_shard("4/4")


def _fake_results() -> pd.DataFrame:
    rows = []
    for fraction in (1.0, 0.5):
        for arm, gain in (("none", 0.0), ("classic", 0.05)):
            for seed, noise in zip((0, 1, 2), (0.0, 0.01, -0.01)):
                value = 0.6 + 0.1 * fraction + gain + noise
                rows.append({"fraction": fraction, "arm": arm, "ratio": 0.0, "seed": seed, "region": "WT",
                             "metric": "dice", "value": value, "seconds": 1.0})
    return pd.DataFrame(rows)


def test_summary_table_shape_and_paired_comparison(tmp_path: Path) -> None:
    results = _fake_results()
    table = summary_table(results, "dice", "WT")
    assert list(table.index) == ["none", "classic"] and list(table.columns) == ["100 % data", "50 % data"]
    assert table.loc["none", "100 % data"] == "0.700 ± 0.010"
    comparison = paired_comparison(results, "dice", "WT")
    assert np.allclose(comparison["mean_difference"], 0.05)
    assert (comparison["ci95_low"] <= 0.05 + 1e-9).all() and (comparison["ci95_high"] >= 0.05 - 1e-9).all()
    results.to_csv(tmp_path / "results.csv", index=False)
    summary = write_report(tmp_path).read_text()
    assert "0.700 ± 0.010" in summary and "Paired comparison" in summary
    assert (tmp_path / "dice_vs_fraction.png").is_file()
