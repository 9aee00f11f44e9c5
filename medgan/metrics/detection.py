"""Detection metrics on 2D slices: boxes from label masks, box IoU, matching at IoU >= 0.5, sensitivity
(recall), precision, AP50 / mAP50 and the mean distance between matched box centres in mm
(Hammami et al. 2020).

Conventions:
    A box is ``(x0, y0, x1, y1)`` in pixels of the 2D array it was drawn on, ``x`` along the second
    array axis (image columns) and ``y`` along the first (image rows), with pixel edges: pixel
    ``(row r, column c)`` covers ``[c, c + 1) x [r, r + 1)``, so a one-pixel object has a 1 x 1 box.
    Arrays of boxes have shape ``(N, 4)``; class ids are 0-based integers, as in YOLO label files.

Matching (per slice and class) is greedy in order of decreasing score: each prediction takes the
still-unmatched ground-truth box with the highest IoU, if that IoU is >= the threshold (COCO style).
Because matching is greedy by score, thresholding the matched predictions at a confidence gives the
same result as matching only the predictions above it, so one matching serves AP and the
thresholded metrics.

AP is the area under the precision envelope with all-point interpolation (PASCAL VOC 2010-2012 style,
not the 11-point VOC 2007 nor the 101-point COCO sampling).

Example:
    >>> import numpy as np
    >>> mask = np.zeros((6, 8), int)
    >>> mask[1:3, 2:5] = 1
    >>> boxes, classes = boxes_from_mask(mask)
    >>> boxes.tolist(), classes.tolist()
    ([[2.0, 1.0, 5.0, 3.0]], [0])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

#: metric names of one class (region) in benchmark rows
CLASS_METRICS = ("sensitivity", "precision", "ap50", "centre_distance_mm", "false_positives")


def boxes_from_mask(mask: np.ndarray, classes: Mapping[int, Sequence[int]] | None = None,
                    connectivity: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Bounding boxes of the connected components of each class in a 2D label mask.

    Args:
        mask: ``(H, W)`` integer label map.
        classes: class id -> the label values that make up that class (a union, so classes may
            overlap, e.g. BraTS whole tumour ``[1, 2, 3]`` and enhancing tumour ``[3]``). Default:
            class ``v - 1`` for every label value ``v > 0`` present.
        connectivity: 1 (4-neighbours) or 2 (8-neighbours, default) for connected components.

    Returns:
        ``(boxes (N, 4) float64, class_ids (N,) int64)``, ordered by class id, then by component
        (scan order of each component's first pixel).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"boxes_from_mask expects a 2D mask, got shape {mask.shape}")
    if classes is None:
        classes = {int(v) - 1: (int(v),) for v in np.unique(mask) if v > 0}
    structure = ndimage.generate_binary_structure(2, connectivity)
    boxes: list[list[float]] = []
    ids: list[int] = []
    for class_id in sorted(classes):
        components, _ = ndimage.label(np.isin(mask, list(classes[class_id])), structure=structure)
        for found in ndimage.find_objects(components):
            if found is None:
                continue
            rows, cols = found
            boxes.append([cols.start, rows.start, cols.stop, rows.stop])
            ids.append(int(class_id))
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(ids, np.int64)


def box_mask(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The union of filled boxes as a boolean ``(H, W)`` mask (the inverse of :func:`boxes_from_mask`
    for rectangular objects). Fractional edges are widened to whole pixels."""
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in np.asarray(boxes, np.float64).reshape(-1, 4):
        r0, r1 = max(0, math.floor(y0)), min(shape[0], math.ceil(y1))
        c0, c1 = max(0, math.floor(x0)), min(shape[1], math.ceil(x1))
        mask[r0:r1, c0:c1] = True
    return mask


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    Args:
        a: ``(N, 4)`` boxes; b: ``(M, 4)`` boxes.

    Returns:
        ``(N, M)`` IoU in [0, 1]; 0 for pairs whose union is empty.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    intersection = width * height
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def match_boxes(predicted: np.ndarray, scores: np.ndarray, truth: np.ndarray,
                iou_threshold: float = 0.5) -> np.ndarray:
    """Greedy matching of one slice's predictions of one class to its ground-truth boxes.

    Args:
        predicted: ``(N, 4)`` predicted boxes; scores: ``(N,)`` their confidences.
        truth: ``(M, 4)`` ground-truth boxes.
        iou_threshold: a match needs IoU >= this.

    Returns:
        ``(N,)`` index of the matched ground-truth box for each prediction, -1 for a false positive.
    """
    matched = np.full(len(predicted), -1, np.int64)
    if len(predicted) == 0 or len(truth) == 0:
        return matched
    iou = box_iou(predicted, truth)
    free = np.ones(len(truth), bool)
    for index in np.argsort(-np.asarray(scores, np.float64), kind="stable"):
        candidates = np.where(free, iou[index], -1.0)
        best = int(np.argmax(candidates))
        if candidates[best] >= iou_threshold:
            matched[index] = best
            free[best] = False
    return matched


def average_precision(scores: np.ndarray, true_positive: np.ndarray, n_truth: int) -> float:
    """Area under the precision-recall curve, all-point interpolation (VOC 2010-2012).

    Args:
        scores: ``(N,)`` confidences of every prediction of one class (over all slices).
        true_positive: ``(N,)`` whether each prediction matched a ground-truth box.
        n_truth: number of ground-truth boxes of that class.

    Returns:
        AP in [0, 1]; NaN when there is no ground-truth box (undefined), 0 when there are boxes
        but no prediction.
    """
    if n_truth == 0:
        return math.nan
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    hits = np.asarray(true_positive, bool)[order]
    tp = np.cumsum(hits)
    fp = np.cumsum(~hits)
    recall = np.concatenate([[0.0], tp / n_truth, [1.0]])
    precision = np.concatenate([[0.0], tp / (tp + fp), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the envelope: best precision at >= recall
    steps = np.nonzero(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


@dataclass
class SliceDetections:
    """Ground truth and predictions on one 2D slice.

    Attributes:
        truth_boxes: ``(M, 4)``; truth_classes: ``(M,)``.
        boxes: ``(N, 4)`` predictions; classes: ``(N,)``; scores: ``(N,)``.
        spacing: ``(row_mm, column_mm)`` pixel size, for centre distances.
    """

    truth_boxes: np.ndarray
    truth_classes: np.ndarray
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spacing: tuple[float, float] = (1.0, 1.0)


def centre_distance_mm(a: np.ndarray, b: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """Euclidean distance in mm between the centres of paired boxes ``a[i]`` and ``b[i]``.

    Args:
        a, b: ``(N, 4)`` boxes; spacing: ``(row_mm, column_mm)``.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    dx = ((a[:, 0] + a[:, 2]) - (b[:, 0] + b[:, 2])) / 2 * spacing[1]
    dy = ((a[:, 1] + a[:, 3]) - (b[:, 1] + b[:, 3])) / 2 * spacing[0]
    return np.hypot(dx, dy)


def detection_metrics(slices: Sequence[SliceDetections], class_names: Sequence[str], conf: float = 0.25,
                      iou_threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """Per-class detection metrics over a set of slices (e.g. all slices of one test volume).

    Args:
        slices: ground truth and predictions of each slice.
        class_names: name of class id ``i`` at position ``i``.
        conf: predictions below this confidence are ignored for sensitivity, precision, false
            positives and centre distance; AP50 uses every prediction (rank-based).
        iou_threshold: IoU needed for a match (0.5: the "50" in AP50).

    Returns:
        ``{class name: {metric: value}}`` with :data:`CLASS_METRICS` for each class, and
        ``"all"``: sensitivity, precision, false positives and centre distance pooled over classes,
        and ``map50`` (the mean AP50 over classes that have ground truth here). Undefined values
        are NaN: sensitivity and AP without ground truth, precision without predictions, distance
        without a match.
    """
    n_classes = len(class_names)
    truth_count = np.zeros(n_classes, np.int64)
    scores: list[list[float]] = [[] for _ in range(n_classes)]
    hits: list[list[bool]] = [[] for _ in range(n_classes)]
    distances: list[list[float]] = [[] for _ in range(n_classes)]
    for item in slices:
        truth_classes = np.asarray(item.truth_classes, np.int64)
        pred_classes = np.asarray(item.classes, np.int64)
        for c in range(n_classes):
            truth = np.asarray(item.truth_boxes, np.float64).reshape(-1, 4)[truth_classes == c]
            chosen = pred_classes == c
            boxes = np.asarray(item.boxes, np.float64).reshape(-1, 4)[chosen]
            confidences = np.asarray(item.scores, np.float64)[chosen]
            matched = match_boxes(boxes, confidences, truth, iou_threshold)
            truth_count[c] += len(truth)
            scores[c].extend(confidences.tolist())
            hits[c].extend((matched >= 0).tolist())
            kept = (matched >= 0) & (confidences >= conf)
            distances[c].extend(centre_distance_mm(boxes[kept], truth[matched[kept]], item.spacing).tolist())
    result: dict[str, dict[str, float]] = {}
    totals = {"tp": 0, "predicted": 0}
    for c, name in enumerate(class_names):
        confidences, hit = np.asarray(scores[c], np.float64), np.asarray(hits[c], bool)
        above = confidences >= conf
        tp, predicted = int((hit & above).sum()), int(above.sum())
        totals["tp"] += tp
        totals["predicted"] += predicted
        result[name] = {
            "sensitivity": tp / truth_count[c] if truth_count[c] else math.nan,
            "precision": tp / predicted if predicted else math.nan,
            "ap50": average_precision(confidences, hit, int(truth_count[c])),
            "centre_distance_mm": float(np.mean(distances[c])) if distances[c] else math.nan,
            "false_positives": float(predicted - tp),
        }
    all_distances = [d for per_class in distances for d in per_class]
    aps = [result[name]["ap50"] for c, name in enumerate(class_names) if truth_count[c]]
    n_truth = int(truth_count.sum())
    result["all"] = {
        "sensitivity": totals["tp"] / n_truth if n_truth else math.nan,
        "precision": totals["tp"] / totals["predicted"] if totals["predicted"] else math.nan,
        "map50": float(np.mean(aps)) if aps else math.nan,
        "centre_distance_mm": float(np.mean(all_distances)) if all_distances else math.nan,
        "false_positives": float(totals["predicted"] - totals["tp"]),
    }
    return result
