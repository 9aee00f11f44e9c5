"""The shipped benchmark pipelines run end to end in --quick mode on CPU; a grid resumes with
bit-identical cells whatever ran before them; every arm gets the same budget; a test case planted in
the training data stops the run."""

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
from medgan.reports.benchmark import effect_rows, read_run
from tests.conftest import REPO, SAMPLE_DATA

PIPELINES = REPO / "pipelines"
LESIONS = PIPELINES / "lesion_2d_frid_adar.yaml"


def _tiny(**grid: object) -> dict:
    """Overrides that make the 2D lesion pipeline a few-second run."""
    return {"grid": {"fractions": [0.1], "ratios": [1.0], "seeds": [0], "folds": [0], **grid},
            "unet": {"steps": 4, "val_every": 2, "channels": [4, 8], "strides": [2]},
            "synthesis": {"options": {"train": {"steps": 2, "batch_size": 4}}, "allow_failed_gate": True}}


@pytest.mark.parametrize("name", ["brain_tumor_bowles", "brain_tumor_dual_gan", "lesion_2d_frid_adar",
                                  "mr2ct_yolo"])  # demo.yaml: tests/test_cli_inspect.py runs `medgan demo --quick`
def test_pipeline_quick_end_to_end(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / name
    assert main(["benchmark", str(PIPELINES / f"{name}.yaml"), "--quick", "--out", str(out)]) == 0
    assert f"report: {out / 'summary.md'}" in capsys.readouterr().out
    pipeline = load_pipeline(PIPELINES / f"{name}.yaml", quick=True)
    results = pd.read_csv(out / "results.csv")
    assert set(results["arm"]) == set(pipeline.grid.arms)
    assert results["value"].notna().any()
    split = json.loads((out / "split.json").read_text())
    tested = {c for f in split["folds"] for c in f["test"] if f["index"] in (pipeline.grid.folds or [0])}
    assert {c.split("#")[0] for c in results["case"]} == tested  # every test case (lesion: case#n) and nothing else
    for fold in split["folds"]:
        assert not set(fold["test"]) & (set(fold["train"]) | set(fold["val"]))
    summary, report = (out / "summary.md").read_text(), (out / "report.md").read_text()
    assert summary != report and pipeline.name in summary and "n cases / pairs" in summary
    budgets = {json.loads(p.read_text())["budget"].__repr__() for p in (out / "cells").glob("*.json")}
    assert len(budgets) == 1  # the same training budget for every arm


def test_controls_add_the_same_number_of_cases_as_the_gan_arm(tmp_path: Path) -> None:
    pipeline = load_pipeline(LESIONS, overrides=_tiny(arms=["none", "real-cases", "wrong-labels", "gan"]))
    out = tmp_path / "run"
    run_benchmark(pipeline, out, progress=False)
    records = {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    n = records["k0_n7_none_r0_s0"]["n_train_real"]
    for arm in ("real-cases", "wrong-labels", "gan"):
        record = records[f"k0_n7_{arm}_r1_s0"]
        assert record["n_added"] == n == 7 and record["n_train_total"] == 2 * n, arm
        assert record["budget"] == records["k0_n7_none_r0_s0"]["budget"]
    split = json.loads((out / "split.json").read_text())
    synthetic = pd.read_csv(out / "synthetic" / "k0_n7_s0" / "manifest.csv")
    assert set(synthetic["source"]) <= set(split["folds"][0]["train"])  # lesions went only into training cases
    data = BenchmarkData(pipeline)
    subset = data.cv.training_subset(0, 7, 0)
    assert set(synthetic["source"]) <= set(subset)  # ... of this training set only


def test_a_cell_gives_identical_results_alone_after_others_and_in_a_worker(tmp_path: Path) -> None:
    """Issue 16.6: a cell's numbers do not depend on which cells ran before it, nor on the process."""
    pipeline = load_pipeline(LESIONS, overrides=_tiny(arms=["none", "classic", "wrong-labels"]))
    together = tmp_path / "together"
    run_benchmark(pipeline, together, progress=False)  # classic runs after none, in this process
    target = "k0_n7_classic_r0_s0"
    rows = json.loads((together / "cells" / f"{target}.json").read_text())["rows"]
    worker = tmp_path / "worker"
    run_benchmark(load_pipeline(LESIONS, overrides=_tiny(arms=["wrong-labels", "classic", "none"])), worker, workers=2,
                  progress=False)  # now in a worker process, alone or after another cell
    assert json.loads((worker / "cells" / f"{target}.json").read_text())["rows"] == rows
    (together / "cells" / f"{target}.json").unlink()  # as if the run died during this cell
    run_benchmark(pipeline, together, progress=False)  # resumed: runs after nothing in this process
    assert json.loads((together / "cells" / f"{target}.json").read_text())["rows"] == rows


def test_interrupted_grid_resumes_and_other_settings_are_refused(tmp_path: Path) -> None:
    pipeline = load_pipeline(LESIONS, overrides=_tiny(arms=["none", "classic"]))
    out = tmp_path / "run"
    run_benchmark(pipeline, out, progress=False)
    first = pd.read_csv(out / "results.csv")
    kept = out / "cells" / "k0_n7_none_r0_s0.json"
    kept_bytes = kept.read_bytes()
    (out / "cells" / "k0_n7_classic_r0_s0.json").unlink()
    (out / "results.csv").unlink()
    run_benchmark(pipeline, out, progress=False)
    assert kept.read_bytes() == kept_bytes  # finished cells are not retrained
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), first)
    other = load_pipeline(LESIONS, overrides={**_tiny(arms=["none"]), "split": {"seed": 5}})
    with pytest.raises(ConfigError, match="holds a different split"):
        run_benchmark(other, out, progress=False)
    longer = load_pipeline(LESIONS, overrides={**_tiny(arms=["none"]), "unet": {"steps": 8}})
    with pytest.raises(ConfigError, match="other settings.*unet"):
        run_benchmark(longer, out, progress=False)
    more_seeds = load_pipeline(LESIONS, overrides=_tiny(arms=["none"], seeds=[0, 1]))
    run_benchmark(more_seeds, out, progress=False)  # growing the grid is a resume, not a new protocol
    assert set(pd.read_csv(out / "results.csv")["seed"]) == {0, 1}


def test_report_rebuilds_and_merges_shards(tmp_path: Path) -> None:
    overrides = _tiny(arms=["none", "classic"], seeds=[0, 1])
    for shard in ("0/2", "1/2"):
        run_benchmark(load_pipeline(LESIONS, overrides=overrides), tmp_path / shard[0], shard=shard, progress=False)
    parts = [pd.read_csv(tmp_path / s / "results.csv") for s in "01"]
    assert len(parts[0]) and len(parts[1]) and set(parts[0]["seed"]) != set(parts[1]["seed"])
    assert main(["report", str(tmp_path / "0"), str(tmp_path / "1"), "--out", str(tmp_path / "merged")]) == 0
    merged = pd.read_csv(tmp_path / "merged" / "results.csv")
    assert len(merged) == len(parts[0]) + len(parts[1])
    assert "| classic |" in (tmp_path / "merged" / "summary.md").read_text()
    n_test = parts[0]["case"].nunique()  # test lesions (this pipeline classifies lesions: case#n)
    (effect,) = effect_rows(read_run([tmp_path / "merged"]), "accuracy", "all")
    assert effect["arm"] == "classic" and effect["missing"] == 0 and effect["effect"].n_pairs == 2 * n_test
    (half,) = effect_rows(read_run([tmp_path / "0"]), "accuracy", "all")
    slices = len(json.loads((tmp_path / "0" / "split.json").read_text())["folds"][0]["test"])
    assert half["effect"].n_pairs == n_test and half["missing"] == slices  # one shard alone: the other seed's
    # results are missing, counted in test cases (slices), not lesions


def test_planted_test_case_stops_gan_training(tmp_path: Path) -> None:
    data = tmp_path / "lesions2d"
    shutil.copytree(SAMPLE_DATA / "lesions2d", data)
    pipeline_file = tmp_path / "pipeline.yaml"
    pipeline_file.write_text(LESIONS.read_text().replace("../sample_data/lesions2d", str(data)))
    overrides = _tiny(arms=["none", "gan"], fractions=[1.0])
    cv = BenchmarkData(load_pipeline(pipeline_file, overrides=overrides)).cv
    victim = cv.folds[0].test[0]
    for index in range(0, 96, 3):  # plant a renamed copy of a test case until the copy lands in training
        name = f"lesion-{index:04d}-planted"
        for folder in ("images", "labels"):
            shutil.copy(data / folder / f"{victim}.nii.gz", data / folder / f"{name}.nii.gz")
        planted = BenchmarkData(load_pipeline(pipeline_file, overrides=overrides)).cv.folds[0]
        if {victim, name} & set(planted.test) and {victim, name} & set(planted.train):
            break  # one copy is tested on, the other would train the GAN
        for folder in ("images", "labels"):
            (data / folder / f"{name}.nii.gz").unlink()
    else:
        pytest.fail("could not plant a copy of a test case into a training pool")
    with pytest.raises(ConfigError, match="identical to a test case"):
        run_benchmark(load_pipeline(pipeline_file, overrides=overrides), tmp_path / "run", progress=False)
    assert not list((tmp_path / "run" / "synthetic").glob("*/manifest.csv"))
