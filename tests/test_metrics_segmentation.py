"""Segmentation metrics against values computed by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medgan.metrics.segmentation import (
    BRATS_REGIONS,
    dice,
    hd95,
    lesion_sensitivity,
    segmentation_metrics,
    sensitivity,
    specificity,
)


def square(shape=(8, 8), box=(slice(2, 4), slice(2, 4)), value=1) -> np.ndarray:
    out = np.zeros(shape, np.int64)
    out[box] = value
    return out


def test_dice_sensitivity_specificity_by_hand() -> None:
    ref = square()  # 4 voxels of 64
    pred = square(box=(slice(2, 4), slice(3, 5)))  # 4 voxels, 2 overlap, 2 false positives
    assert dice(pred, ref)["1"] == pytest.approx(2 * 2 / (4 + 4))
    assert sensitivity(pred, ref)["1"] == pytest.approx(2 / 4)
    assert specificity(pred, ref)["1"] == pytest.approx((64 - 4 - 2) / (64 - 4))


def test_channel_first_input_is_accepted() -> None:
    ref, pred = square()[None], square(box=(slice(2, 4), slice(2, 3)))[None]
    assert dice(pred, ref)["1"] == pytest.approx(2 * 2 / (4 + 2))


def test_brats_region_unions() -> None:
    ref = np.zeros((6, 6, 6), np.int64)
    ref[0:2, 0:2, 0:2] = 1  # 8 necrosis
    ref[2:4, 2:4, 2:4] = 2  # 8 oedema
    ref[4:6, 4:6, 4:6] = 3  # 8 enhancing
    pred = np.where(ref > 0, 2, 0)  # the whole tumour found, but all called oedema
    scores = dice(pred, ref, BRATS_REGIONS)
    assert scores == pytest.approx({"WT": 1.0, "TC": 0.0, "ET": 0.0})
    pred2 = ref.copy()
    pred2[pred2 == 3] = 1  # enhancing called necrosis: the core is still right
    assert dice(pred2, ref, BRATS_REGIONS) == pytest.approx({"WT": 1.0, "TC": 1.0, "ET": 0.0})
    assert sensitivity(pred2, ref, {"core": (1, 3)})["core"] == pytest.approx(1.0)


def test_per_class_default_regions() -> None:
    ref = square(value=2)
    ref[5, 5] = 1
    scores = dice(ref, ref)
    assert set(scores) == {"1", "2"} and scores == pytest.approx({"1": 1.0, "2": 1.0})


def test_hd95_by_hand_with_spacing() -> None:
    a = np.zeros((10, 10), np.int64)
    b = np.zeros((10, 10), np.int64)
    a[0, 0] = 1
    b[3, 0] = 1  # 3 voxels along an axis of spacing 2 mm
    assert hd95(a, b, spacing=(2.0, 1.0))["1"] == pytest.approx(6.0)
    assert hd95(a, b)["1"] == pytest.approx(3.0)


def test_empty_mask_conventions() -> None:
    empty = np.zeros((8, 8), np.int64)
    ref = square()
    both = segmentation_metrics(empty, empty, {"x": (1,)})["x"]
    assert both["dice"] == 1.0 and both["hd95"] == 0.0
    assert math.isnan(both["sensitivity"]) and math.isnan(both["lesion_sensitivity"])
    missed = segmentation_metrics(empty, ref, {"x": (1,)})["x"]
    assert missed["dice"] == 0.0 and missed["sensitivity"] == 0.0 and math.isnan(missed["hd95"])
    assert missed["lesion_sensitivity"] == 0.0


def test_lesion_wise_sensitivity() -> None:
    ref = np.zeros((12, 12), np.int64)
    ref[1:3, 1:3] = 1
    ref[8:11, 8:11] = 1
    pred = np.zeros_like(ref)
    pred[9, 9] = 1  # one voxel inside the second lesion only
    assert lesion_sensitivity(pred, ref)["1"] == pytest.approx(0.5)
    assert lesion_sensitivity(pred, ref, min_overlap=0.5)["1"] == pytest.approx(0.0)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        dice(np.zeros((4, 4), int), np.zeros((4, 5), int))
