"""YOLO detection backend: export in YOLO format, the fixed training budget, options, the optional
dependency, a tiny real ultralytics training, and the mr2ct pipeline end to end (``none`` arm)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medgan.benchmark.pipeline import load_pipeline
from medgan.benchmark.run import check_pipeline, run_benchmark
from medgan.benchmark.yolo import (
    MISSING_ULTRALYTICS,
    YoloDetection,
    YoloExporter,
    YoloOptions,
    offline_ultralytics,
    read_yolo_labels,
    yolo_label_lines,
)
from medgan.errors import ConfigError
from medgan.metrics.detection import box_mask, boxes_from_mask

REPO = Path(__file__).resolve().parents[1]
MR2CT = REPO / "pipelines" / "mr2ct_yolo.yaml"


def make_case(case_id: str, rng: np.random.Generator, shape: tuple[int, int, int] = (48, 40, 6),
              objects: tuple[int, ...] | None = None) -> dict[str, Any]:
    """A 3D case whose objects are bright rectangles (label 1 or 2) in the slices ``objects``."""
    image = rng.normal(0, 0.2, (1, *shape)).astype(np.float32)
    label = np.zeros((1, *shape), np.uint8)
    for z in range(shape[2]) if objects is None else objects:
        for value, left in ((1, 2), (2, 22)):
            r, c = int(rng.integers(2, shape[0] - 18)), left + int(rng.integers(0, 4))
            h, w = int(rng.integers(6, 14)), int(rng.integers(6, 12))
            label[0, r:r + h, c:c + w, z] = value
            image[0, r:r + h, c:c + w, z] += 1.5 * value
    return {"image": image, "label": label, "id": case_id,
            "meta": {"spacing": (0.8, 0.9, 3.0), "modalities": ["ct"]}}


def test_yolo_label_lines_hand_values(tmp_path: Path) -> None:
    lines = yolo_label_lines(np.array([[2, 4, 6, 8]]), np.array([1]), (10, 20))
    assert lines == ["1 0.200000 0.600000 0.200000 0.400000"]
    (tmp_path / "a.txt").write_text("\n".join(lines) + "\n")
    boxes, classes = read_yolo_labels(tmp_path / "a.txt", (10, 20))
    assert np.allclose(boxes, [[2, 4, 6, 8]]) and classes.tolist() == [1]


def test_export_round_trip_mask_boxes_label_files(tmp_path: Path) -> None:
    case = make_case("c0", np.random.default_rng(0), objects=(1, 2, 4))
    exporter = YoloExporter(tmp_path, {"1": [1], "2": [2]}, YoloOptions(window=(-1.0, 4.0)))
    exported = exporter.export_cases("test", [case], [range(6)], "ct")
    assert [e.index for e in exported] == list(range(6))
    for item in exported:
        mask = case["label"][0, :, :, item.index]
        png = np.asarray(Image.open(item.image))
        assert png.dtype == np.uint8 and png.shape == mask.shape
        label_file = tmp_path / "labels" / "test" / (item.image.stem + ".txt")
        boxes, classes = read_yolo_labels(label_file, mask.shape)
        expected_boxes, expected_classes = boxes_from_mask(mask)
        assert np.allclose(boxes, expected_boxes, atol=1e-4) and classes.tolist() == expected_classes.tolist()
        for class_id, value in ((0, 1), (1, 2)):  # rectangles come back exactly as masks
            assert np.array_equal(box_mask(np.round(boxes[classes == class_id]), mask.shape), mask == value)
        assert (label_file.read_text() == "") == (item.index not in (1, 2, 4))
        assert item.spacing == (0.8, 0.9)


def test_candidates_keep_object_slices_and_a_fraction_of_empty_ones() -> None:
    case = make_case("c0", np.random.default_rng(1), shape=(48, 40, 10), objects=(2, 3))
    rng = np.random.default_rng(0)
    pick = {f: YoloExporter(Path("."), {"1": [1]}, YoloOptions(empty_fraction=f)).candidates(case, rng)
            for f in (0.0, 0.5, 1.0)}
    assert pick[0.0] == [2, 3]
    assert pick[1.0] == list(range(10))
    assert len(pick[0.5]) == 2 + 4 and {2, 3} <= set(pick[0.5])


@pytest.mark.parametrize("count", [5, 23])
def test_training_export_has_a_fixed_size_and_augments_each_copy(tmp_path: Path, count: int) -> None:
    rng = np.random.default_rng(2)
    cases = [make_case(f"c{i}", rng, objects=(1, 2, 3)) for i in range(2)]  # 6 candidate slices
    calls: list[tuple[str, int]] = []

    def flip(case: dict[str, Any], seed: int) -> dict[str, Any]:
        calls.append((case["id"], seed))
        return {**case, "image": case["image"][:, ::-1].copy(), "label": case["label"][:, ::-1].copy()}

    exporter = YoloExporter(tmp_path / "a", {"1": [1], "2": [2]}, YoloOptions(empty_fraction=0.0))
    exported = exporter.export_training(cases, count, seed=7, augment=flip)
    assert len(exported) == count == len(list((tmp_path / "a" / "images" / "train").glob("*.png")))
    uses = Counter((e.case, e.index) for e in exported)
    assert set(uses.values()) <= {count // 6, -(-count // 6)}  # every candidate equally often (+-1)
    assert len(calls) == len(set(calls))  # one augmented copy per case and repeat, each its own seed
    flipped = exported[0]
    mask = np.asarray(cases[int(flipped.image.name[:5])]["label"])[0, ::-1, :, flipped.index]
    boxes, _ = read_yolo_labels(tmp_path / "a" / "labels" / "train" / (flipped.image.stem + ".txt"), mask.shape)
    assert np.allclose(boxes, boxes_from_mask(mask)[0], atol=1e-4)  # labels follow the augmentation
    again = YoloExporter(tmp_path / "b", {"1": [1], "2": [2]}, YoloOptions(empty_fraction=0.0))
    assert [e.image.name for e in again.export_training(cases, count, seed=7, augment=None)] == \
        [e.image.name for e in exported]  # the same slices are drawn for every arm with this seed


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="multiple of 32"):
        YoloOptions(imgsz=50)
    with pytest.raises(ConfigError, match="reserved"):
        YoloOptions(classes={"all": [1]})
    with pytest.raises(ConfigError, match="list of label values"):
        YoloOptions(classes={"WT": ["1"]})
    with pytest.raises(ConfigError, match="'epoch'"):
        load_pipeline(MR2CT, overrides={"yolo": {"epoch": 3}})
    assert load_pipeline(MR2CT, quick=True).yolo.images_seen == 16


def test_missing_ultralytics_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # as if the optional extra were not installed
    with pytest.raises(ConfigError) as error:
        YoloDetection.check(load_pipeline(MR2CT))
    assert str(error.value) == MISSING_ULTRALYTICS
    with pytest.raises(ConfigError, match=r"medgan\[yolo\]"), offline_ultralytics(tmp_path):
        pass


def test_mr2ct_pipeline_checks_and_a_missing_stage_is_named() -> None:
    check_pipeline(load_pipeline(MR2CT))  # the cyclegan stage and the yolo backend are available
    missing = load_pipeline(MR2CT, overrides={"synthesis": {"stage": "diffusion-gan"}})
    with pytest.raises(ConfigError, match="needs the synthesis stage 'diffusion-gan'"):
        check_pipeline(missing)


def test_backend_trains_ultralytics_and_returns_detection_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    cases = [make_case(f"case{i}", rng, objects=(0, 2, 4)) for i in range(5)]
    seeds: list[int] = []

    def flip(case: dict[str, Any], seed: int) -> dict[str, Any]:
        seeds.append(seed)
        return {**case, "image": case["image"][:, :, ::-1].copy(), "label": case["label"][:, :, ::-1].copy()}

    options = YoloOptions(imgsz=64, epochs=1, train_slices=8, batch=8, empty_fraction=0.0, window=(-1.0, 4.0))
    backend = YoloDetection(SimpleNamespace(yolo=options, spatial_dims=3), 1, 3, "cpu")
    result = backend.run(cases[:3], cases[3:4], cases[4:], seed=0, augment=flip, workdir=tmp_path)
    rows = pd.DataFrame(result.rows)
    assert set(rows["case"]) == {"case4"}
    assert set(rows["region"]) == {"1", "2", "all"}
    assert set(rows.loc[rows["region"] == "1", "metric"]) == {"sensitivity", "precision", "ap50",
                                                               "centre_distance_mm", "false_positives"}
    assert "map50" in set(rows.loc[rows["region"] == "all", "metric"])
    sensitivity = rows.query("region == 'all' and metric == 'sensitivity'")["value"].item()
    assert 0.0 <= sensitivity <= 1.0  # 2 objects in each of 3 slices: defined
    assert result.budget["images_seen"] == 8 and result.budget["optimiser_steps"] == 1 and len(result.log) == 1
    assert len(seeds) == len(set(seeds)) >= 1
    assert len(list((tmp_path / "dataset" / "images" / "train").glob("*.png"))) == 8
    assert len(list((tmp_path / "dataset" / "images" / "test").glob("*.png"))) == 6  # every test slice
    assert (tmp_path / "train" / "weights" / "best.pt").is_file()
    assert result.example["prediction"].shape == result.example["label"].shape == (48, 40)


def test_mr2ct_quick_none_arm_end_to_end(tmp_path: Path) -> None:
    pipeline = load_pipeline(MR2CT, quick=True, overrides={"grid": {"arms": ["none"]}})
    results = pd.read_csv(run_benchmark(pipeline, tmp_path / "run", device="cpu", progress=False))
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert set(results["arm"]) == {"none"}
    assert set(results["region"]) == {"WT", "TC", "all"}
    assert {"sensitivity", "precision", "ap50", "centre_distance_mm"} <= set(results["metric"])
    assert set(results["case"]) == set(split["folds"][0]["test"])  # evaluated on the held-out cases only
    cell = json.loads(next((tmp_path / "run" / "cells").glob("*.json")).read_text())
    assert cell["budget"]["images_seen"] == 16
    report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "## mAP50: cases with a lesion" in report
