"""The benchmark's copy-paste arm and the realism gate on every synthesis stage: the gate's verdict
and a montage in each synthetic folder, a failed stage refused before any training unless allowed,
and then flagged in every table of the report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from medgan.benchmark.pipeline import load_pipeline
from medgan.benchmark.run import BenchmarkData, run_benchmark
from medgan.errors import ConfigError
from medgan.registry import BENCHMARK_ARMS
from medgan.reports.benchmark import write_report
from tests.conftest import REPO

LESIONS = REPO / "pipelines" / "lesion_2d_frid_adar.yaml"


def _tiny(allow: bool = False, **grid: object) -> dict:
    return {"grid": {"fractions": [0.1], "ratios": [1.0], "seeds": [0], "folds": [0], **grid},
            "unet": {"steps": 4, "val_every": 2, "channels": [4, 8], "strides": [2]},
            "synthesis": {"options": {"train": {"steps": 2, "batch_size": 4}}, "allow_failed_gate": allow}}


def test_copy_paste_arm_adds_as_many_cases_from_the_training_set_and_is_gated(tmp_path: Path) -> None:
    assert BENCHMARK_ARMS.get("copy-paste").stage == "copy-paste"
    # 7 pasted lesions rarely include the rare label 3 of this 2D data: allowed, so the verdict shows in the report
    pipeline = load_pipeline(LESIONS, overrides=_tiny(allow=True, arms=["none", "copy-paste"]))
    out = tmp_path / "run"
    run_benchmark(pipeline, out, progress=False)
    records = {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    n = records["k0_n7_none_r0_s0"]["n_train_real"]
    record = records["k0_n7_copy-paste_r1_s0"]
    assert record["n_added"] == n and record["n_train_total"] == 2 * n
    folder = out / "synthetic" / "copy-paste_k0_n7_s0"
    synthetic = pd.read_csv(folder / "manifest.csv")
    subset = BenchmarkData(pipeline).cv.training_subset(0, 7, 0)
    assert len(synthetic) == n and set(synthetic["source"]) <= set(subset)  # fitted on the cell's cases only
    gate = json.loads((folder / "realism.json").read_text())
    assert gate["stage"] == "copy-paste" and gate["status"] in ("passed", "failed")
    assert set(gate["criteria"]) >= {"label_values", "volume", "contrast", "memorisation"}
    assert record["gate"] == gate["status"]
    assert (folder / "realism.md").read_text().startswith("### Realism gate (copy-paste)")
    assert (folder / "montage.png").stat().st_size > 10_000
    write_report(out)
    report = (out / "report.md").read_text()
    assert "## Gates of the synthesis stages" in report and "copy-paste_k0_n7_s0/montage.png" in report


def test_failed_stage_is_refused_before_training_unless_allowed_then_flagged(tmp_path: Path) -> None:
    out = tmp_path / "run"
    pipeline = load_pipeline(LESIONS, overrides=_tiny(arms=["none", "gan"]))  # 2 GAN steps: fails the gate
    refused = r"synthesis stage 'lesion-gan' failed the realism gate \(.*contrast"
    with pytest.raises(ConfigError, match=refused) as error:
        run_benchmark(pipeline, out, progress=False)
    assert len(str(error.value).splitlines()) == 1 and "allow_failed_gate" in str(error.value)
    folder = out / "synthetic" / "k0_n7_s0"
    assert json.loads((folder / "realism.json").read_text())["status"] == "failed"
    assert not list((out / "cells").glob("*.json"))  # nothing trained on it
    with pytest.raises(ConfigError, match="failed the realism gate"):  # also refused on resume
        run_benchmark(pipeline, out, progress=False)
    allowed = load_pipeline(LESIONS, overrides=_tiny(allow=True, arms=["none", "gan"]))
    run_benchmark(allowed, out, progress=False)  # the same run folder: allowing it changes no result
    write_report(out)
    summary, report = (out / "summary.md").read_text(), (out / "report.md").read_text()
    flagged = [line for line in report.splitlines() if line.startswith("| ") and "| gan" in line]
    assert flagged and all("⚠ failed synthesis gate" in line for line in flagged)
    assert "gan ×1 ⚠ failed synthesis gate" in summary
