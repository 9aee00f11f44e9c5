"""Bad benchmark pipelines are refused before anything runs: one line naming the key and the problem,
a non-zero exit, and no run folder written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medgan.benchmark.pipeline import MAX_RATIO, load_pipeline
from medgan.cli import main
from tests.conftest import SAMPLE_DATA

BASE = {
    "name": "probe",
    "task": "segmentation",
    "backend": "unet",
    "spatial_dims": 2,
    "data": {"path": str(SAMPLE_DATA / "lesions2d")},
    "split": {"folds": 5, "val_fraction": 0.1, "seed": 0, "stratify_empty_labels": False},
    "regions": {"lesion": [1, 2, 3]},
    "grid": {"cases": [10], "arms": ["none", "gan"], "ratios": [1.0], "seeds": [0]},
    "unet": {"steps": 4, "val_every": 2, "channels": [4, 8], "strides": [2]},
    "synthesis": {"stage": "lesion-gan", "options": {"steps": 2}},
}


def _with(change: dict) -> dict:
    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
                else value
        return out

    return merge(BASE, change)


BAD = {
    # found from the file alone
    "empty cases": ({"grid": {"cases": []}}, "grid.cases: is empty"),
    "empty fractions": ({"grid": {"cases": None, "fractions": []}}, "grid.fractions: is empty"),
    "no sizes at all": ({"grid": {"cases": None}}, "grid: give either fractions"),
    "empty arms": ({"grid": {"arms": []}}, "grid.arms: is empty"),
    "unknown arm": ({"grid": {"arms": ["none", "magic"]}}, "unknown arm 'magic'"),
    "no baseline": ({"grid": {"arms": ["gan"]}}, "must include 'none'"),
    "empty seeds": ({"grid": {"seeds": []}}, "grid.seeds: is empty"),
    "negative seed": ({"grid": {"seeds": [-1]}}, "grid.seeds: -1 is outside"),
    "huge seed": ({"grid": {"seeds": [2**70]}}, "is outside 0..4294967295"),
    "duplicate seeds": ({"grid": {"seeds": [0, 0]}}, "grid.seeds: 0 is listed twice"),
    "duplicate arms": ({"grid": {"arms": ["none", "gan", "gan"]}}, "grid.arms: 'gan' is listed twice"),
    "ratio 0 with GAN arms only": ({"grid": {"ratios": [0]}}, "grid.ratios: no ratio > 0, so the arms gan"),
    "absurd ratio": ({"grid": {"ratios": [1e6]}}, f"outside 0..{MAX_RATIO:g}"),
    "fraction above 1": ({"grid": {"cases": None, "fractions": [1.5]}}, "grid.fractions: 1.5 is not in (0, 1]"),
    "missing fold": ({"grid": {"folds": [7]}}, "grid.folds: fold 7 does not exist"),
    "one fold": ({"split": {"folds": 1}}, "split.folds: must be at least 2"),
    "negative steps": ({"unet": {"steps": -1}}, "unet.steps must be >= 1"),
    "negative GAN steps": ({"synthesis": {"options": {"steps": -1}}}, "synthesis.options.steps: must be an integer"),
    "zero roi": ({"unet": {"roi_size": [0, 0]}}, "unet.roi_size must be >= 1"),
    "roi of wrong length": ({"unet": {"roi_size": [32, 32, 32]}}, "unet.roi_size: needs 2 values"),
    "quick not a mapping": ({"quick": "notadict"}, "quick: expected a mapping"),
    "task/backend mismatch": ({"task": "detection"}, "backend: 'unet' does segmentation, but task is 'detection'"),
    "name climbing out": ({"name": "../../x"}, "name: '../../x' is not a plain name"),
    "absolute name": ({"name": "/tmp/x"}, "name: '/tmp/x' is not a plain name"),
    "old holdout split": ({"split": {"test_fraction": 0.25}}, "split.test_fraction was replaced by split.folds"),
    "region of no labels": ({"regions": {"x": []}}, "regions.x: expected a list of label values"),
    # found against the data, still before anything is written
    "3D on 2D data": ({"spatial_dims": 3}, "spatial_dims: is 3, but the images"),
    "roi larger than the images": ({"unet": {"roi_size": [128, 128]}}, "larger than the smallest volume [64, 64]"),
    "region naming an absent label": ({"regions": {"lesion": [1, 7]}}, "regions.lesion: label 7 never occurs"),
    "fraction giving no case": ({"grid": {"cases": None, "fractions": [0.001]}}, "gives 0 cases"),
    "two training cases": ({"grid": {"cases": [2]}}, "grid.cases: 2 cases gives 2 training case(s), fewer than 3"),
    "more cases than the pool": ({"grid": {"cases": [500]}}, "500 training cases asked"),
    "positive control without reserve": ({"grid": {"cases": [60], "arms": ["none", "real-cases"]}},
                                         "the real-cases control has no reserve at any size"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_pipeline_is_one_line_and_writes_nothing(name: str, tmp_path: Path, capsys: pytest.CaptureFixture
                                                     ) -> None:
    change, message = BAD[name]
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(_with(change)))
    out = tmp_path / "run"
    assert main(["benchmark", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert message in err, err
    assert not out.exists()


def test_explicit_opt_in_allows_small_training_sets(tmp_path: Path) -> None:
    from medgan.benchmark.pipeline import check_against_data
    from medgan.benchmark.run import BenchmarkData

    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(_with({"grid": {"cases": [2], "allow_small": True}})))
    pipeline = load_pipeline(path)
    check_against_data(pipeline, BenchmarkData(pipeline).facts)  # no error


def test_shipped_pipelines_load(tmp_path: Path) -> None:
    for path in sorted((Path(__file__).resolve().parents[1] / "pipelines").glob("*.yaml")):
        if path.name in ("augment_default.yaml", "lesion-gan-2d.yaml"):
            continue  # not benchmark pipelines
        for quick in (False, True):
            assert load_pipeline(path, quick=quick).name


def test_data_option_replaces_the_pipeline_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert main(["benchmark", str(path), "--out", str(tmp_path / "run"), "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere: dataset folder does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
