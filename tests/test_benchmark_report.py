"""The benchmark report on a planted run folder (no training): controls read correctly, healthy cases
apart, n / not-applicable / missing counted, regions named, units stated, figures written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from medgan.reports.benchmark import cell_summary, effect_rows, read_run, write_report

LESION = [f"les{i:02d}" for i in range(16)]
HEALTHY = ["hea0", "hea1", "hea2", "hea3"]
REGIONS = ["NCR", "ED", "WT", "TC", "ET"]
EFFECT = {"none": 0.0, "real-cases": 0.06, "wrong-labels": -0.08, "gan": 0.0}


def _plant(run: Path, drop: int = 0) -> None:
    """A finished 4-fold, 2-seed, 1-size grid with known effects; ``drop`` removes one cell's rows."""
    rng = np.random.default_rng(0)
    cases = LESION + HEALTHY
    folds = [{"index": k, "test": sorted(cases[k::4]), "val": [], "train": sorted(set(cases) - set(cases[k::4]))}
             for k in range(4)]
    run.mkdir(parents=True)
    (run / "split.json").write_text(json.dumps({"seed": 0, "folds": folds, "strata": {}, "healthy": HEALTHY}))
    (run / "config.yaml").write_text(yaml.safe_dump({
        "name": "planted", "regions": {"WT": [1, 2, 3], "TC": [1, 3], "ET": [3]},
        "label_names": {1: "NCR", 2: "ED", 3: "ET"}, "grid": {"arms": list(EFFECT), "ratios": [1.0]}}))
    grid, results, cells, curves = [], [], [], []
    skill = {c: rng.normal(0.7, 0.08) for c in cases}
    for seed in (0, 1):
        for fold in folds:
            for arm, gain in EFFECT.items():
                ratio = 0.0 if arm == "none" else 1.0
                cell = {"fold": fold["index"], "cases": 3, "fraction": math.nan, "arm": arm, "ratio": ratio,
                        "seed": seed}
                grid.append({**cell, "key": f"k{fold['index']}_n3_{arm}_r{ratio:g}_s{seed}", "status": "planned"})
                if drop and arm == "gan" and fold["index"] == 0 and seed == 1:
                    continue  # a cell not (yet) run
                cells.append({**cell, "seconds": 10.0, "n_train_real": 3, "n_added": 0 if arm == "none" else 3,
                              "n_train_total": 3 if arm == "none" else 6, "steps_run": 100, "best_step": 75,
                              "stopped_early": True, "gate": "pass" if arm == "gan" else None,
                              "budget": json.dumps({"max_steps": 100})})
                curves += [{**cell, "step": s, "val_dice": 0.5 + gain + s / 1000} for s in (25, 50, 75, 100)]
                for case in fold["test"]:
                    healthy = case in HEALTHY
                    for region in REGIONS:
                        dice = math.nan if healthy or (region == "NCR" and case == "les00") else \
                            float(np.clip(skill[case] + gain + rng.normal(0, 0.01), 0, 1))
                        results.append({**cell, "case": case, "healthy": healthy, "region": region,
                                        "metric": "dice", "value": dice})
                        results.append({**cell, "case": case, "healthy": healthy, "region": region,
                                        "metric": "hd95", "value": math.nan if healthy else 373.13 * (case == "les01")
                                        + 5.0})
                        results.append({**cell, "case": case, "healthy": healthy, "region": region,
                                        "metric": "false_positive_ml",
                                        "value": 0.0 if case != "hea0" else 1.5})
                        results.append({**cell, "case": case, "healthy": healthy, "region": region,
                                        "metric": "specificity", "value": 0.999})
    for name, rows in (("grid", grid), ("results", results), ("cells", cells), ("curves", curves)):
        pd.DataFrame(rows).to_csv(run / f"{name}.csv", index=False)
    examples = run / "examples"
    examples.mkdir()
    for arm in EFFECT:
        ratio = 0 if arm == "none" else 1
        label = np.zeros((20, 20), np.uint8)
        label[5:12, 6:14] = 2
        label[7:10, 8:11] = 3
        np.savez(examples / f"k0_n3_{arm}_r{ratio}_s0.npz", image=rng.random((20, 20)), label=label,
                 prediction=np.roll(label, 1, axis=0), case=folds[0]["test"][0])


def test_controls_and_arms_read_as_planted(tmp_path: Path) -> None:
    _plant(tmp_path / "run")
    run = read_run([tmp_path / "run"])
    rows = {r["arm"]: r for r in effect_rows(run, "dice", "WT")}
    assert rows["real-cases"]["verdict"] == "detected (CI excludes 0)"
    assert rows["real-cases"]["effect"].mean == pytest.approx(0.06, abs=0.01)
    assert rows["wrong-labels"]["verdict"] == "worse than none"
    assert rows["gan"]["verdict"] == "no difference detected" and rows["gan"]["gate"] == "pass 8/8"
    for row in rows.values():
        assert row["effect"].n_cases == 16 and row["effect"].n_pairs == 32  # lesion cases only, x 2 seeds
        assert row["missing"] == 0 and row["na"] == 0
    hd = {r["arm"]: r for r in effect_rows(run, "hd95", "WT")}
    assert hd["real-cases"]["verdict"].startswith("NOT detected")  # no HD95 effect was planted


def test_counts_healthy_cases_not_applicable_and_missing(tmp_path: Path) -> None:
    _plant(tmp_path / "run", drop=1)
    run = read_run([tmp_path / "run"])
    none = cell_summary(run, "dice", "NCR", 3, "none", 0.0)
    assert none["n"] == 2 * 16 - 2 and none["na"] == 2 and none["missing"] == 0  # les00 lacks necrosis
    gan = cell_summary(run, "dice", "WT", 3, "gan", 1.0)
    assert gan["missing"] == 4 and gan["n"] == 32 - 4  # fold 0 seed 1 never ran: its 4 lesion cases
    healthy = cell_summary(run, "false_positive_ml", "WT", 3, "none", 0.0, healthy=True)
    assert healthy["n"] == 8 and healthy["mean"] == pytest.approx(1.5 / 4)  # 4 healthy cases x 2 seeds
    (gan_effect,) = [r for r in effect_rows(run, "dice", "WT") if r["arm"] == "gan"]
    assert gan_effect["missing"] == 4 and gan_effect["effect"].n_pairs == 28


def test_report_files_tables_and_figures(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _plant(run_dir, drop=1)
    summary_path = write_report(run_dir)
    summary, report = summary_path.read_text(), (run_dir / "report.md").read_text()
    assert summary != report and "report.md" in summary
    assert "| training | arm | NCR | ED | WT | TC | ET |" in report  # one table, regions as columns, named
    headers = [line for line in report.splitlines() if line.startswith("| training | arm")]
    assert headers and not any(f"| {v} |" in h for h in headers for v in (1, 2, 3))  # no bare label values
    assert "## HD95 (mm)" in report and "373.13 mm" in report and "larger of the two directed" in report
    assert "(n 30; n/a 2; missing 0)" in report  # NCR of none: les00 has no necrosis
    assert "missing 4" in report
    assert "## Healthy test cases" in report and "| 2 of 8 |" in report  # hea0 has false positives, both seeds
    assert "real-cases ×1 (positive control)" in summary and "detected (CI excludes 0)" in summary
    assert "MDE (80 %)" in summary and "16 / 32" in summary
    for figure in ("forest.png", "learning_curves.png", "example_predictions.png"):
        assert (run_dir / figure).stat().st_size > 5000, figure


def test_old_per_cell_results_are_refused_with_one_line(tmp_path: Path) -> None:
    from medgan.errors import DataError

    _plant(tmp_path / "run")
    pd.DataFrame([{"fraction": 1.0, "arm": "none", "ratio": 0, "seed": 0, "region": "WT", "metric": "dice",
                   "value": 0.5}]).to_csv(tmp_path / "run" / "results.csv", index=False)
    with pytest.raises(DataError, match="no per-case rows"):
        read_run([tmp_path / "run"])
