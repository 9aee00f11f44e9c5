"""Detection metrics against values computed by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medgan.metrics.detection import (
    SliceDetections,
    average_precision,
    box_iou,
    box_mask,
    boxes_from_mask,
    centre_distance_mm,
    detection_metrics,
    match_boxes,
)


def two_class_mask() -> np.ndarray:
    mask = np.zeros((8, 10), np.uint8)
    mask[1:3, 1:4] = 1  # class 1: rows 1-2, columns 1-3
    mask[5, 7] = 1  # class 1: a single pixel
    mask[3:7, 2:4] = 2  # class 2, touching the first class-1 object
    return mask


def test_boxes_from_mask_hand_values() -> None:
    boxes, classes = boxes_from_mask(two_class_mask())
    assert boxes.tolist() == [[1, 1, 4, 3], [7, 5, 8, 6], [2, 3, 4, 7]]
    assert classes.tolist() == [0, 0, 1]


def test_boxes_from_mask_connectivity_and_class_unions() -> None:
    mask = np.zeros((5, 5), np.uint8)
    mask[0, 0] = 1
    mask[1, 1] = 1  # touches (0, 0) by a corner only
    assert len(boxes_from_mask(mask, connectivity=2)[0]) == 1
    assert len(boxes_from_mask(mask, connectivity=1)[0]) == 2
    # a class made of label values 1 and 2 joins the touching components of two_class_mask
    boxes, classes = boxes_from_mask(two_class_mask(), {0: (1, 2), 1: (2,)})
    assert boxes.tolist() == [[1, 1, 4, 7], [7, 5, 8, 6], [2, 3, 4, 7]]
    assert classes.tolist() == [0, 0, 1]


def test_empty_mask_gives_no_boxes() -> None:
    boxes, classes = boxes_from_mask(np.zeros((4, 4), np.uint8))
    assert boxes.shape == (0, 4) and classes.shape == (0,)


def test_mask_to_boxes_to_mask_round_trip() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        mask = np.zeros((32, 24), np.uint8)
        for value in (1, 2):  # separated rectangles: their boxes fill them exactly
            r, c = rng.integers(0, 20), rng.integers(0, 3) + (12 if value == 2 else 0)
            mask[r:r + rng.integers(1, 10), c:c + rng.integers(1, 10)] = value
        boxes, classes = boxes_from_mask(mask)
        for class_id, value in ((0, 1), (1, 2)):
            assert np.array_equal(box_mask(boxes[classes == class_id], mask.shape), mask == value)


def test_box_iou_hand_values() -> None:
    iou = box_iou(np.array([[0, 0, 2, 2], [0, 0, 1, 1]]), np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]))
    expected = [[1 / 7, 1.0, 0.0], [0.0, 0.25, 0.0]]
    assert np.allclose(iou, expected)


def test_match_boxes_is_greedy_by_score() -> None:
    truth = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    predicted = np.array([[0, 0, 10, 9], [0, 0, 10, 10], [20, 20, 30, 24], [50, 50, 60, 60]])
    scores = np.array([0.6, 0.9, 0.8, 0.7])
    # the 0.9 box takes truth 0; the 0.6 box finds it taken; IoU of box 2 with truth 1 is 0.4 < 0.5
    assert match_boxes(predicted, scores, truth).tolist() == [-1, 0, -1, -1]
    assert match_boxes(predicted, scores, truth, iou_threshold=0.4).tolist() == [-1, 0, 1, -1]


def test_average_precision_all_point_hand_value() -> None:
    # ranked: TP, FP, TP, FP with 3 ground-truth boxes; recall 1/3 at precision 1, 2/3 at precision 2/3
    ap = average_precision(np.array([0.9, 0.8, 0.7, 0.6]), np.array([True, False, True, False]), 3)
    assert ap == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)
    # the envelope: a later higher precision lifts earlier recall levels
    ap = average_precision(np.array([0.9, 0.8, 0.7]), np.array([False, True, True]), 2)
    assert ap == pytest.approx(2 / 3)
    assert average_precision(np.array([]), np.array([], bool), 2) == 0.0
    assert math.isnan(average_precision(np.array([0.5]), np.array([False]), 0))


def test_centre_distance_uses_row_and_column_spacing() -> None:
    distance = centre_distance_mm(np.array([[1, 2, 11, 12]]), np.array([[0, 0, 10, 10]]), spacing=(2.0, 0.5))
    assert distance[0] == pytest.approx(math.hypot(1 * 0.5, 2 * 2.0))


def test_detection_metrics_hand_values() -> None:
    truth = SliceDetections(
        truth_boxes=np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 20, 6, 26]]),
        truth_classes=np.array([0, 0, 1]),
        boxes=np.array([[1, 2, 11, 12], [40, 40, 45, 45], [0, 20, 6, 26], [0, 0, 3, 3]]),
        classes=np.array([0, 0, 1, 1]),
        scores=np.array([0.9, 0.8, 0.95, 0.1]),
        spacing=(2.0, 0.5),
    )
    empty_slice = SliceDetections(np.zeros((0, 4)), np.zeros(0, np.int64), np.array([[1, 1, 4, 4]]),
                                  np.array([1]), np.array([0.3]))
    result = detection_metrics([truth, empty_slice], ["lesion", "cyst"], conf=0.25)
    lesion, cyst, overall = result["lesion"], result["cyst"], result["all"]
    assert lesion["sensitivity"] == pytest.approx(1 / 2)
    assert lesion["precision"] == pytest.approx(1 / 2)
    assert lesion["false_positives"] == 1
    assert lesion["ap50"] == pytest.approx(1 / 2)  # TP at rank 1 (recall 1/2), then an FP
    assert lesion["centre_distance_mm"] == pytest.approx(math.hypot(0.5, 4.0))
    # cyst: exact TP at 0.95; the 0.1 box is below conf; the 0.3 box on the empty slice is an FP
    assert cyst["sensitivity"] == 1.0
    assert cyst["precision"] == pytest.approx(1 / 2)
    assert cyst["ap50"] == pytest.approx(1.0)
    assert cyst["centre_distance_mm"] == 0.0
    assert overall["sensitivity"] == pytest.approx(2 / 3)
    assert overall["precision"] == pytest.approx(2 / 4)
    assert overall["map50"] == pytest.approx((1 / 2 + 1) / 2)
    assert overall["false_positives"] == 2


def test_detection_metrics_undefined_values_are_nan() -> None:
    healthy = SliceDetections(np.zeros((0, 4)), np.zeros(0, np.int64))
    result = detection_metrics([healthy], ["lesion"])
    assert all(math.isnan(result["lesion"][m]) for m in ("sensitivity", "precision", "ap50", "centre_distance_mm"))
    assert result["lesion"]["false_positives"] == 0
    assert math.isnan(result["all"]["map50"])
