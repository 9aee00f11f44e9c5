"""Per-lesion classification metrics: confusion matrix, one-vs-rest sensitivity and specificity, accuracy.

Each lesion (a region of interest) has one true class and one predicted class. For a class ``c``:
sensitivity = lesions of class ``c`` predicted ``c`` / lesions of class ``c``; specificity = lesions of
other classes not predicted ``c`` / lesions of other classes (one-vs-rest, as Frid-Adar et al. 2018
report per class). Sensitivity is NaN when no lesion has class ``c``, specificity when every lesion
has it.

:func:`lesion_rows` writes these as one 0/1 row per lesion, so that the mean of a (region, metric)
group over any set of lesions is exactly the metric on that set: a benchmark can average rows,
bootstrap over lesions or pair arms lesion by lesion without recomputing anything.

Example:
    >>> per_class = sensitivity_specificity([1, 1, 2, 3], [1, 2, 2, 3], classes=[1, 2, 3])
    >>> per_class[1]["sensitivity"], per_class[2]["specificity"]
    (0.5, 0.6666666666666666)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def confusion_matrix(true: Sequence[int], pred: Sequence[int], classes: Sequence[int]) -> np.ndarray:
    """``(k, k)`` counts: row = true class, column = predicted class, in the order of ``classes``.

    Raises:
        ValueError: lengths differ or a value is not in ``classes``.
    """
    true, pred = np.asarray(true, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    if true.shape != pred.shape or true.ndim != 1:
        raise ValueError(f"true and pred must be 1D of the same length, got {true.shape} and {pred.shape}")
    index = {int(c): i for i, c in enumerate(classes)}
    unknown = sorted({int(v) for v in np.concatenate([true, pred])} - set(index))
    if unknown:
        raise ValueError(f"values {unknown} are not among the classes {list(classes)}")
    matrix = np.zeros((len(index), len(index)), dtype=np.int64)
    np.add.at(matrix, ([index[int(t)] for t in true], [index[int(p)] for p in pred]), 1)
    return matrix


def sensitivity_specificity(true: Sequence[int], pred: Sequence[int], classes: Sequence[int]
                            ) -> dict[int, dict[str, float]]:
    """One-vs-rest ``{"sensitivity", "specificity"}`` per class (NaN where undefined, see the module)."""
    matrix = confusion_matrix(true, pred, classes)
    total = matrix.sum()
    out = {}
    for i, c in enumerate(classes):
        tp = matrix[i, i]
        fn = matrix[i].sum() - tp
        fp = matrix[:, i].sum() - tp
        tn = total - tp - fn - fp
        out[int(c)] = {"sensitivity": float(tp / (tp + fn)) if tp + fn else float("nan"),
                       "specificity": float(tn / (tn + fp)) if tn + fp else float("nan")}
    return out


def accuracy(true: Sequence[int], pred: Sequence[int]) -> float:
    """Share of lesions whose predicted class is the true class (NaN for no lesion)."""
    true, pred = np.asarray(true), np.asarray(pred)
    return float(np.mean(true == pred)) if true.size else float("nan")


def lesion_rows(ids: Sequence[str], true: Sequence[int], pred: Sequence[int], names: Mapping[int, str]
                ) -> list[dict[str, Any]]:
    """One row per lesion and metric, ``{"case", "region", "metric", "value"}``, values 0 or 1.

    For each class ``c`` (``region`` = ``names[c]``): a lesion of class ``c`` gives a ``sensitivity`` row
    (1 when predicted ``c``), any other lesion a ``specificity`` row (1 when not predicted ``c``).
    Every lesion also gives an ``accuracy`` row in region ``all``. The mean of each (region, metric)
    group equals :func:`sensitivity_specificity` and :func:`accuracy` on the same lesions.

    Args:
        ids: one identifier per lesion (e.g. ``"<case>#<n>"``).
        true, pred: true and predicted class per lesion.
        names: class value -> region name, for every class.
    """
    if not len(ids) == len(true) == len(pred):
        raise ValueError(f"ids, true and pred differ in length: {len(ids)}, {len(true)}, {len(pred)}")
    rows: list[dict[str, Any]] = []
    for lesion, t, p in zip(ids, true, pred):
        t, p = int(t), int(p)
        for c, name in names.items():
            if t == int(c):
                rows.append({"case": lesion, "region": name, "metric": "sensitivity", "value": float(p == t)})
            else:
                rows.append({"case": lesion, "region": name, "metric": "specificity", "value": float(p != int(c))})
        rows.append({"case": lesion, "region": "all", "metric": "accuracy", "value": float(p == t)})
    return rows
