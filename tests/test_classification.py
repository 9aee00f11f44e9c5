"""Per-lesion classification metrics and the lesion-ROI classifier backend (Frid-Adar protocol)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medgan.benchmark.classification import case_lesions, training_lesions
from medgan.benchmark.pipeline import load_pipeline
from medgan.cli import main
from medgan.errors import ConfigError
from medgan.metrics.classification import accuracy, confusion_matrix, lesion_rows, sensitivity_specificity
from tests.conftest import REPO

PIPELINE = REPO / "pipelines" / "lesion_2d_frid_adar.yaml"
NAMES = {1: "cyst", 2: "metastasis", 3: "haemangioma"}


def test_hand_made_case() -> None:
    true = [1, 1, 1, 2, 2, 3]
    pred = [1, 1, 2, 2, 3, 3]
    assert confusion_matrix(true, pred, [1, 2, 3]).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    per_class = sensitivity_specificity(true, pred, [1, 2, 3])
    assert per_class[1] == {"sensitivity": 2 / 3, "specificity": 1.0}
    assert per_class[2] == {"sensitivity": 0.5, "specificity": 3 / 4}
    assert per_class[3] == {"sensitivity": 1.0, "specificity": 4 / 5}
    assert accuracy(true, pred) == 4 / 6


def test_undefined_values_are_nan_and_bad_input_raises() -> None:
    per_class = sensitivity_specificity([1, 1], [1, 2], [1, 2])
    assert np.isnan(per_class[1]["specificity"]) and np.isnan(per_class[2]["sensitivity"])
    assert np.isnan(accuracy([], []))
    with pytest.raises(ValueError, match="not among the classes"):
        confusion_matrix([1, 4], [1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([1, 2], [1], [1, 2])


def test_agrees_with_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    true, pred = rng.integers(1, 4, 200), rng.integers(1, 4, 200)
    per_class = sensitivity_specificity(true, pred, [1, 2, 3])
    recall = metrics.recall_score(true, pred, labels=[1, 2, 3], average=None)
    matrices = metrics.multilabel_confusion_matrix(true, pred, labels=[1, 2, 3])
    for i, c in enumerate([1, 2, 3]):
        (tn, fp), _ = matrices[i]
        assert per_class[c]["sensitivity"] == pytest.approx(recall[i], abs=1e-12)
        assert per_class[c]["specificity"] == pytest.approx(tn / (tn + fp), abs=1e-12)
    assert confusion_matrix(true, pred, [1, 2, 3]).tolist() == metrics.confusion_matrix(true, pred).tolist()
    assert accuracy(true, pred) == pytest.approx(metrics.accuracy_score(true, pred))


def test_row_means_are_the_metrics() -> None:
    rng = np.random.default_rng(1)
    true, pred = rng.integers(1, 4, 50), rng.integers(1, 4, 50)
    rows = pd.DataFrame(lesion_rows([f"l{i}" for i in range(50)], true, pred, NAMES))
    means = rows.groupby(["region", "metric"])["value"].mean()
    per_class = sensitivity_specificity(true, pred, [1, 2, 3])
    for c, name in NAMES.items():
        assert means[(name, "sensitivity")] == pytest.approx(per_class[c]["sensitivity"])
        assert means[(name, "specificity")] == pytest.approx(per_class[c]["specificity"])
    assert means[("all", "accuracy")] == pytest.approx(accuracy(true, pred))
    assert len(rows) == 50 * 4  # per lesion: 3 one-vs-rest rows and 1 accuracy row


def _case(case_id: str, lesions: list[tuple[int, int, int]], synthetic: int = 0) -> dict:
    image = np.zeros((1, 40, 40), np.float32)
    label = np.zeros((1, 40, 40), np.uint8)
    for x, y, value in lesions:
        label[0, x - 2:x + 3, y - 2:y + 3] = value
        image[0, x - 2:x + 3, y - 2:y + 3] = float(value)
    return {"id": case_id, "image": image, "label": label, "synthetic": synthetic}


def test_lesion_rois_and_only_inserted_lesions_of_synthetic_cases() -> None:
    real = _case("a", [(10, 10, 1), (30, 30, 3)])
    lesions = case_lesions(real, 16)
    assert [(lesion.id, lesion.lesion_class) for lesion in lesions] == [("a#1", 1), ("a#2", 3)]
    assert lesions[0].image.shape == (1, 16, 16) and lesions[0].image[0, 8, 8] == 1.0
    edge = case_lesions(_case("b", [(2, 2, 2)]), 16)[0]  # near the border: zero padded, still centred
    assert edge.image.shape == (1, 16, 16) and edge.image[0, 8, 8] == 2.0 and edge.image[0, 0, 0] == 0.0
    synthetic = _case("s", [(10, 10, 1), (30, 30, 3), (10, 30, 2)], synthetic=1)  # a's lesions + one inserted
    chosen = training_lesions([real, synthetic], 16)
    assert [(lesion.id, lesion.lesion_class) for lesion in chosen] == [("a#1", 1), ("a#2", 3), ("s#2", 2)]


def test_task_and_backend_must_agree(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(PIPELINE.read_text().replace("task: classification", "task: segmentation")
                   .replace("../sample_data", str(REPO / "sample_data")))
    with pytest.raises(ConfigError, match="backend: 'classifier' does classification, but task is 'segmentation'"):
        load_pipeline(bad)


def test_frid_adar_quick_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["benchmark", str(PIPELINE), "--quick", "--out", str(out)]) == 0
    cases = pd.read_csv(out / "results.csv")
    assert set(cases["arm"]) == {"none", "classic", "gan"}
    assert set(cases["region"]) == {"cyst", "metastasis", "haemangioma", "all"}
    assert set(cases["metric"]) == {"sensitivity", "specificity", "accuracy"}
    assert set(cases["value"].dropna()) <= {0.0, 1.0}
    split = json.loads((out / "split.json").read_text())
    lesions = set(cases["case"])
    test = set(split["folds"][0]["test"])  # --quick runs fold 0 only
    assert {name.split("#")[0] for name in lesions} == test  # every test slice, lesion by lesion
    records = {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    (none_key,) = [k for k in records if "_none_" in k]
    (gan_key,) = [k for k in records if "_gan_" in k]
    none, gan = records[none_key]["log"][-1], records[gan_key]["log"][-1]
    n_synthetic = records[gan_key]["n_train_total"] - records[gan_key]["n_train_real"]
    assert gan["n_train_lesions"] == none["n_train_lesions"] + n_synthetic  # one inserted lesion per case
    assert none["n_test_lesions"] == len(lesions)
