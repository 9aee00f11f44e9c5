"""Segmentation metrics against values computed by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medgan.metrics.segmentation import (
    BRATS_REGIONS,
    HD95_MISSED_MM,
    dice,
    false_positive_ml,
    hd95,
    lesion_sensitivity,
    overlap_score,
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


def test_region_absent_from_reference_is_not_applicable() -> None:
    empty = np.zeros((8, 8), np.int64)
    both = segmentation_metrics(empty, empty, {"x": (1,)}, spacing=(2.0, 2.0))["x"]
    for metric in ("dice", "sensitivity", "hd95", "lesion_sensitivity"):
        assert math.isnan(both[metric]), metric  # not 1.0, not 0.0: there is nothing to find
    assert both["specificity"] == 1.0 and both["false_positive_ml"] == 0.0
    false_alarm = segmentation_metrics(square(), empty, {"x": (1,)}, spacing=(2.0, 2.0))["x"]
    assert math.isnan(false_alarm["dice"]) and math.isnan(false_alarm["hd95"])
    assert false_alarm["false_positive_ml"] == pytest.approx(4 * 2.0 * 2.0 / 1000)  # 4 pixels of 4 mm^2
    assert false_alarm["specificity"] == pytest.approx(60 / 64)
    # a region listing a label that never occurs is not applicable, never a perfect 1.0 / 0.0 mm
    never = segmentation_metrics(square(), square(), {"seven": (7,)})["seven"]
    assert math.isnan(never["dice"]) and math.isnan(never["hd95"])


def test_missed_region_gets_the_brats_hd95() -> None:
    empty = np.zeros((8, 8), np.int64)
    missed = segmentation_metrics(empty, square(), {"x": (1,)})["x"]
    assert missed["dice"] == 0.0 and missed["sensitivity"] == 0.0 and missed["lesion_sensitivity"] == 0.0
    assert missed["hd95"] == HD95_MISSED_MM == 373.13
    assert hd95(empty, square(), missed=99.0)["1"] == 99.0


def test_agrees_with_monai_where_monai_is_defined() -> None:
    from monai.metrics import DiceMetric, HausdorffDistanceMetric

    rng = np.random.default_rng(0)
    for _ in range(5):
        ref = (ndimage_blob(rng) * rng.integers(1, 4)).astype(np.int64)
        pred = np.roll(ref, int(rng.integers(-2, 3)), axis=int(rng.integers(0, 3)))
        pred[rng.random(pred.shape) < 0.01] = 2
        spacing = (1.0, 1.5, 2.0)
        ours = segmentation_metrics(pred, ref, BRATS_REGIONS, spacing)
        for name, values in BRATS_REGIONS.items():
            t = torch_mask(ref, values)
            p = torch_mask(pred, values)
            if not t.any():
                assert math.isnan(ours[name]["dice"])
                continue
            expected_dice = DiceMetric(include_background=True)(p, t).item()
            assert ours[name]["dice"] == pytest.approx(expected_dice, abs=1e-6)
            if p.any():
                expected_hd = HausdorffDistanceMetric(include_background=True, percentile=95)(
                    p, t, spacing=list(spacing)).item()
                assert ours[name]["hd95"] == pytest.approx(expected_hd, abs=1e-6)


def ndimage_blob(rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    noise = ndimage.gaussian_filter(rng.normal(size=(12, 12, 10)), 1.5)
    return noise > np.quantile(noise, 0.8)


def torch_mask(label: np.ndarray, values: tuple[int, ...]):
    import torch

    return torch.from_numpy(np.isin(label, values)[None, None].astype(np.float32))


def test_false_positive_volume_and_overlap_score() -> None:
    ref = square()
    pred = square(box=(slice(2, 4), slice(3, 5)))  # 2 of 4 voxels outside the reference
    assert false_positive_ml(pred, ref, spacing=(10.0, 10.0))["1"] == pytest.approx(2 * 100 / 1000)
    assert false_positive_ml(pred, ref)["1"] == pytest.approx(2e-3)  # 1 mm voxels by default
    empty = np.zeros((8, 8), np.int64)
    assert overlap_score(empty, empty, {"x": (1,)}) == 1.0  # a clean healthy case selects well
    assert overlap_score(pred, empty, {"x": (1,)}) == 0.0  # a false alarm does not
    assert overlap_score(pred, ref, {"a": (1,), "b": (2,)}) == pytest.approx(0.5)  # b in neither: skipped


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
