"""The shipped benchmark pipelines run end to end in --quick mode on CPU; a grid resumes; every arm gets
the same budget; a test case planted in the training data stops the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from medgan.benchmark.pipeline import load_pipeline
from medgan.benchmark.run import BenchmarkData, run_benchmark
from medgan.cli import main
from medgan.errors import ConfigError
from tests.conftest import REPO, SAMPLE_DATA

PIPELINES = REPO / "pipelines"


@pytest.mark.parametrize("name", ["brain_tumor_bowles", "brain_tumor_dual_gan", "lesion_2d_frid_adar",
                                  "mr2ct_yolo"])
def test_pipeline_quick_end_to_end(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / name
    assert main(["benchmark", str(PIPELINES / f"{name}.yaml"), "--quick", "--out", str(out)]) == 0
    assert f"report: {out / 'summary.md'}" in capsys.readouterr().out
    pipeline = load_pipeline(PIPELINES / f"{name}.yaml", quick=True)
    results = pd.read_csv(out / "results.csv")
    assert set(results["arm"]) == set(pipeline.grid.arms)
    assert results["value"].notna().any()
    split = json.loads((out / "split.json").read_text())
    assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))
    summary = (out / "summary.md").read_text()
    assert "Test cases:" in summary and pipeline.name in summary
    budgets = {json.loads((p).read_text())["budget"].__repr__() for p in (out / "cells").glob("*.json")}
    assert len(budgets) == 1  # the same training budget for every arm


def test_same_budget_and_more_cases_for_gan_arms(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_benchmark(load_pipeline(PIPELINES / "lesion_2d_frid_adar.yaml", quick=True), out, progress=False)
    records = {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    none, gan = records["f1_none_r0_s0"], records["f1_gan_r1_s0"]
    assert none["budget"] == gan["budget"] == records["f1_classic_r0_s0"]["budget"]
    assert gan["n_train_total"] == 2 * gan["n_train_real"] and none["n_train_total"] == none["n_train_real"]
    synthetic = pd.read_csv(out / "synthetic" / "f1_s0" / "manifest.csv")
    split = json.loads((out / "split.json").read_text())
    assert set(synthetic["source"]) <= set(split["train"])  # lesions went only into training cases


def test_interrupted_grid_resumes(tmp_path: Path) -> None:
    pipeline = load_pipeline(PIPELINES / "lesion_2d_frid_adar.yaml", quick=True,
                             overrides={"grid": {"arms": ["none", "classic"]}})
    out = tmp_path / "run"
    run_benchmark(pipeline, out, progress=False)
    first = pd.read_csv(out / "results.csv")
    kept = out / "cells" / "f1_none_r0_s0.json"
    kept_bytes = kept.read_bytes()
    (out / "cells" / "f1_classic_r0_s0.json").unlink()  # as if the run died during this cell
    (out / "results.csv").unlink()
    run_benchmark(pipeline, out, progress=False)
    assert kept.read_bytes() == kept_bytes  # finished cells are not retrained
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv").drop(columns="seconds"),
                                  first.drop(columns="seconds"))
    other = load_pipeline(PIPELINES / "lesion_2d_frid_adar.yaml", quick=True, overrides={"split": {"seed": 5}})
    with pytest.raises(ConfigError, match="holds a different split"):
        run_benchmark(other, out, progress=False)


def test_report_rebuilds_and_merges_shards(tmp_path: Path) -> None:
    pipeline = PIPELINES / "lesion_2d_frid_adar.yaml"
    for shard in ("0/2", "1/2"):
        assert main(["benchmark", str(pipeline), "--quick", "--out", str(tmp_path / shard[0]), "--shard", shard]) == 0
    parts = [pd.read_csv(tmp_path / s / "results.csv") for s in "01"]
    assert len(parts[0]) and len(parts[1])
    assert main(["report", str(tmp_path / "0"), str(tmp_path / "1"), "--out", str(tmp_path / "merged")]) == 0
    merged = pd.read_csv(tmp_path / "merged" / "results.csv")
    assert len(merged) == len(parts[0]) + len(parts[1])
    assert set(merged["arm"]) == {"none", "classic", "gan"}
    assert "gan (x1)" in (tmp_path / "merged" / "summary.md").read_text()


def test_planted_test_case_stops_gan_training(tmp_path: Path) -> None:
    data = tmp_path / "lesions2d"
    shutil.copytree(SAMPLE_DATA / "lesions2d", data)
    pipeline_file = tmp_path / "pipeline.yaml"
    text = (PIPELINES / "lesion_2d_frid_adar.yaml").read_text().replace("../sample_data/lesions2d", str(data))
    pipeline_file.write_text(text)
    split = BenchmarkData(load_pipeline(pipeline_file, quick=True)).split
    victim = split.test[0]
    for index in range(0, 96, 3):  # plant a renamed copy of a test case until the copy lands in training
        name = f"lesion-{index:04d}-planted"  # names that sort at different places draw different slots
        for folder in ("images", "labels"):
            shutil.copy(data / folder / f"{victim}.nii.gz", data / folder / f"{name}.nii.gz")
        planted = BenchmarkData(load_pipeline(pipeline_file, quick=True)).split
        if {victim, name} & set(planted.test) and {victim, name} & set(planted.train):
            break  # one copy is tested on, the other would train the GAN
        for folder in ("images", "labels"):
            (data / folder / f"{name}.nii.gz").unlink()
    else:
        pytest.fail("could not plant a copy of a test case into the training split")
    with pytest.raises(ConfigError, match="identical to a test case"):
        run_benchmark(load_pipeline(pipeline_file, quick=True), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "synthetic" / "f1_s0" / "manifest.csv").exists()
