"""Segmentation metrics on integer label maps: Dice, sensitivity, specificity, HD95, lesion-wise
sensitivity and false-positive volume.

Every function compares a predicted label map with a reference label map of the same shape
(``(X, Y[, Z])`` or ``(1, X, Y[, Z])``, integer values) over named *regions*. A region is a set of
label values whose union forms one binary mask, so per-class scores and unions such as the BraTS
whole tumour ``{1, 2, 3}``, tumour core ``{1, 3}`` and enhancing tumour ``{3}`` use the same code.
Overlap scores go through MONAI (``compute_dice``, ``get_confusion_matrix``,
``compute_hausdorff_distance``).

Conventions (stated because papers differ). A region absent from a case's reference is *not
applicable* to that case: its Dice, sensitivity, HD95 and lesion-wise sensitivity are NaN (never 1.0),
and what the prediction put there shows up as false-positive volume and specificity instead, which
are defined for every case. Where the reference holds the region:
- Dice, sensitivity: as MONAI computes them (0.0 when the prediction misses the region entirely).
- HD95: MONAI's ``compute_hausdorff_distance(percentile=95)``, the larger of the two directed 95th
  percentile surface distances, in millimetres; a missed region (empty prediction) gets the BraTS
  worst value :data:`HD95_MISSED_MM` = 373.13 mm instead of disappearing from the average.
- specificity: NaN only when the reference covers the whole image.
- false-positive volume: predicted voxels outside the reference, in mL.

Example:
    >>> import numpy as np
    >>> ref = np.zeros((8, 8), int); ref[2:4, 2:4] = 1
    >>> pred = np.zeros((8, 8), int); pred[2:4, 2:3] = 1
    >>> round(dice(pred, ref)["1"], 4)
    0.6667
    >>> dice(pred, np.zeros((8, 8), int), {"1": (1,)})["1"]  # not applicable: no reference
    nan
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy import ndimage

#: HD95 given to a region the prediction missed entirely (the BraTS challenge convention, in mm)
HD95_MISSED_MM = 373.13

#: how the report names the HD95 convention
HD95_CONVENTION = ("HD95 (mm): MONAI compute_hausdorff_distance, percentile 95, symmetric (the larger of the two "
                   f"directed 95th-percentile surface distances); a region missed entirely gets {HD95_MISSED_MM} mm "
                   "(BraTS convention); a region absent from the reference is not applicable")

#: BraTS evaluation regions: whole tumour, tumour core, enhancing tumour (2021/2023 label values)
BRATS_REGIONS: dict[str, tuple[int, ...]] = {"WT": (1, 2, 3), "TC": (1, 3), "ET": (3,)}

Regions = Mapping[str, Sequence[int]]


def class_regions(labels: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """One region per label value: ``[1, 2] -> {"1": (1,), "2": (2,)}``."""
    return {str(int(v)): (int(v),) for v in labels}


def foreground_regions(*label_maps: np.ndarray) -> dict[str, tuple[int, ...]]:
    """Per-class regions for every non-zero value present in ``label_maps``."""
    values: set[int] = set()
    for label in label_maps:
        values.update(int(v) for v in np.unique(np.asarray(label)) if v != 0)
    return class_regions(sorted(values))


def evaluation_regions(label_values: Sequence[int], label_names: Mapping[int, str] | None = None,
                       regions: Mapping[str, Sequence[int]] | None = None) -> dict[str, tuple[int, ...]]:
    """One region per label value, named by ``label_names``, then the named unions of ``regions``;
    a single-label region that a named union already covers (BraTS ``ET = {3}``) is not repeated.

    Example:
        >>> evaluation_regions([1, 2, 3], {1: "NCR", 2: "ED", 3: "ET"}, BRATS_REGIONS)
        {'NCR': (1,), 'ED': (2,), 'WT': (1, 2, 3), 'TC': (1, 3), 'ET': (3,)}
    """
    names = dict(label_names or {})
    unions = {str(k): tuple(int(v) for v in values) for k, values in (regions or {}).items()}
    covered = {values for values in unions.values() if len(values) == 1}
    out: dict[str, tuple[int, ...]] = {}
    for value in sorted(int(v) for v in label_values if int(v) != 0):
        if (value,) in covered:
            continue
        name = str(names.get(value, value))
        if name in unions:
            raise ValueError(f"label {value} is named {name!r}, which is also the name of region {unions[name]}")
        out[name] = (value,)
    out.update(unions)
    return out


def region_masks(label: np.ndarray, regions: Regions) -> np.ndarray:
    """Binary masks of ``regions`` stacked as channels.

    Args:
        label: integer label map ``(X, Y[, Z])`` or ``(1, X, Y[, Z])``.
        regions: region name -> label values whose union is the region.

    Returns:
        bool array ``(R, X, Y[, Z])`` in the order of ``regions``.
    """
    label = _spatial(label)
    return np.stack([np.isin(label, np.asarray(list(values))) for values in regions.values()])


def _spatial(label: np.ndarray) -> np.ndarray:
    label = np.asarray(label)
    if label.ndim in (3, 4) and label.shape[0] == 1:
        label = label[0]
    if label.ndim not in (2, 3):
        raise ValueError(f"expected a 2D or 3D label map, found shape {label.shape}")
    return label


def _pair(pred: np.ndarray, target: np.ndarray, regions: Regions | None
          ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    pred, target = _spatial(pred), _spatial(target)
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and reference {target.shape} differ in shape")
    regions = foreground_regions(target, pred) if regions is None else regions
    p = torch.from_numpy(region_masks(pred, regions)[None].astype(np.float32))
    t = torch.from_numpy(region_masks(target, regions)[None].astype(np.float32))
    return p, t, list(regions)


def dice(pred: np.ndarray, target: np.ndarray, regions: Regions | None = None) -> dict[str, float]:
    """Dice coefficient per region.

    Args:
        pred: predicted label map ``(X, Y[, Z])`` or ``(1, X, Y[, Z])``.
        target: reference label map, same shape.
        regions: region name -> label values; default one region per non-zero value present.

    Returns:
        region name -> Dice in [0, 1]; NaN (not applicable) where the reference lacks the region.
    """
    from monai.metrics import compute_dice

    p, t, names = _pair(pred, target, regions)
    values = compute_dice(p, t, include_background=True, ignore_empty=True)[0]
    return {name: float(v) for name, v in zip(names, values)}


def overlap_score(pred: np.ndarray, target: np.ndarray, regions: Regions | None = None) -> float:
    """One number for model selection: mean Dice over the regions present in the reference or the
    prediction (a region predicted where the reference has none scores 0); 1.0 when neither holds any.

    Unlike :func:`dice`, which reports a region absent from the reference as not applicable, this
    rewards a clean prediction on a healthy case, so validation on healthy cases still selects.
    """
    from monai.metrics import compute_dice

    p, t, _ = _pair(pred, target, regions)
    values = compute_dice(p, t, include_background=True, ignore_empty=False)[0].numpy()
    present = (p[0].flatten(1).any(1) | t[0].flatten(1).any(1)).numpy()
    return float(values[present].mean()) if present.any() else 1.0


def _confusion(pred: np.ndarray, target: np.ndarray, regions: Regions | None, name: str) -> dict[str, float]:
    from monai.metrics import compute_confusion_matrix_metric, get_confusion_matrix

    p, t, names = _pair(pred, target, regions)
    matrix = get_confusion_matrix(p, t, include_background=True)  # (1, R, 4): tp, fp, tn, fn
    values = compute_confusion_matrix_metric(name, matrix)[0]
    return {n: float(v) for n, v in zip(names, values)}


def sensitivity(pred: np.ndarray, target: np.ndarray, regions: Regions | None = None) -> dict[str, float]:
    """Voxel-wise sensitivity (recall, TP / (TP + FN)) per region; NaN when the reference is empty."""
    return _confusion(pred, target, regions, "sensitivity")


def specificity(pred: np.ndarray, target: np.ndarray, regions: Regions | None = None) -> dict[str, float]:
    """Voxel-wise specificity (TN / (TN + FP)) per region; NaN when the reference fills the image."""
    return _confusion(pred, target, regions, "specificity")


def hd95(pred: np.ndarray, target: np.ndarray, regions: Regions | None = None,
         spacing: Sequence[float] | None = None, missed: float = HD95_MISSED_MM) -> dict[str, float]:
    """95th-percentile symmetric Hausdorff distance per region, in millimetres when ``spacing`` is given.

    Args:
        pred: predicted label map.
        target: reference label map, same shape.
        regions: region name -> label values.
        spacing: voxel size per spatial axis (default 1 voxel).
        missed: value for a region present in the reference but absent from the prediction.

    Returns:
        region name -> HD95 (MONAI's value when both masks hold the region; ``missed`` when only the
        reference does; NaN, not applicable, when the reference lacks it).
    """
    import warnings

    from monai.metrics import compute_hausdorff_distance

    p, t, names = _pair(pred, target, regions)
    result: dict[str, float] = {}
    for i, name in enumerate(names):
        p_empty, t_empty = not bool(p[0, i].any()), not bool(t[0, i].any())
        if t_empty:
            result[name] = float("nan")
        elif p_empty:
            result[name] = float(missed)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = compute_hausdorff_distance(p[:, i:i + 1], t[:, i:i + 1], include_background=True,
                                                   percentile=95, spacing=None if spacing is None
                                                   else [float(s) for s in spacing])
            result[name] = float(value[0, 0])
    return result


def lesion_sensitivity(pred: np.ndarray, target: np.ndarray, regions: Regions | None = None,
                       min_overlap: float = 0.0) -> dict[str, float]:
    """Fraction of reference lesions (connected components, full connectivity) that are detected.

    A reference lesion counts as detected when the predicted region covers more than
    ``min_overlap`` of its voxels (default: at least one voxel).

    Returns:
        region name -> detected lesions / reference lesions (NaN when the reference has none).
    """
    p, t, names = _pair(pred, target, regions)
    result: dict[str, float] = {}
    for i, name in enumerate(names):
        ref = t[0, i].numpy().astype(bool)
        hit = p[0, i].numpy().astype(bool)
        components, n = ndimage.label(ref, structure=np.ones((3,) * ref.ndim))
        if n == 0:
            result[name] = float("nan")
            continue
        sizes = np.bincount(components.ravel(), minlength=n + 1)[1:]
        covered = np.bincount(components[hit].ravel(), minlength=n + 1)[1:]
        result[name] = float(np.mean(covered / sizes > min_overlap))
    return result


def false_positive_ml(pred: np.ndarray, target: np.ndarray, regions: Regions | None = None,
                      spacing: Sequence[float] | None = None) -> dict[str, float]:
    """Predicted volume outside the reference per region, in mL (voxels of ``spacing`` mm; 1 mm default).

    Defined for every case, so it measures false alarms on healthy cases and in regions a case lacks.
    """
    p, t, names = _pair(pred, target, regions)
    voxel_ml = float(np.prod([float(s) for s in spacing])) / 1000.0 if spacing is not None else 1e-3
    false = (p[0].bool() & ~t[0].bool()).flatten(1).sum(1).numpy()
    return {name: float(n) * voxel_ml for name, n in zip(names, false)}


def segmentation_metrics(pred: np.ndarray, target: np.ndarray, regions: Regions | None = None,
                         spacing: Sequence[float] | None = None) -> dict[str, dict[str, float]]:
    """Every segmentation metric of this module for one case (conventions in the module docstring).

    Returns:
        region name -> {"dice", "sensitivity", "specificity", "hd95", "lesion_sensitivity",
        "false_positive_ml"}.

    Example:
        >>> import numpy as np
        >>> ref = np.zeros((6, 6, 6), int); ref[1:3, 1:3, 1:3] = 3; ref[3:5, 3:5, 3:5] = 2
        >>> segmentation_metrics(ref, ref, BRATS_REGIONS)["WT"]["dice"]
        1.0
    """
    regions = foreground_regions(target, pred) if regions is None else dict(regions)
    parts = {
        "dice": dice(pred, target, regions),
        "sensitivity": sensitivity(pred, target, regions),
        "specificity": specificity(pred, target, regions),
        "hd95": hd95(pred, target, regions, spacing),
        "lesion_sensitivity": lesion_sensitivity(pred, target, regions),
        "false_positive_ml": false_positive_ml(pred, target, regions, spacing),
    }
    return {name: {metric: values[name] for metric, values in parts.items()} for name in regions}
