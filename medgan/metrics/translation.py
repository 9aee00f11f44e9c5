"""Paired evaluation of a translation run (e.g. MR -> CT on co-registered test cases): MAE, PSNR
and SSIM inside the body mask, for the model and for two baselines that need no training.

- ``identity``: the generator replaced by the identity, i.e. the MR rescaled to the CT range
  through the same intensity mappings (MR background -> air, the MR's 99.5th percentile -> the
  top of the CT window).
- ``linear``: the best linear rescaling ``a * MR + b`` of each test case, fitted by least squares
  on that case's own body voxels (an optimistic bound for any global intensity rescaling).

CT is compared in Hounsfield units inside the CT window (values outside it are clipped, as the
network output is); other targets in the network range [-1, 1].

The translator is loaded by the caller (:func:`medgan.synthesis.translate.load_translator`) and the
held-out cases chosen there too (:func:`medgan.training.run.held_out_cases`); this module computes.

Example:
    >>> translator = load_translator("runs/mr2ct")  # doctest: +SKIP
    >>> data = load_dataset("sample_data/brats")  # doctest: +SKIP
    >>> rows = evaluate_translator(translator, data, ["BraTS-SIM-00015-000"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from medgan.errors import DataError
from medgan.transforms.modality import CTWindow

#: HU above which a CT voxel belongs to the body
BODY_HU = -500.0
#: network value above which an MR voxel belongs to the body (5 % of its 99.5th percentile)
BODY_NETWORK = -0.9


def body_mask(volume: np.ndarray, threshold: float) -> np.ndarray:
    """Largest connected component of ``volume > threshold`` with holes filled (bool, same shape)."""
    mask = np.asarray(volume) > threshold
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, labels, range(1, n + 1))
        mask = labels == (int(np.argmax(sizes)) + 1)
    return ndimage.binary_fill_holes(mask)


def masked_metrics(prediction: np.ndarray, reference: np.ndarray, mask: np.ndarray, data_range: float
                   ) -> dict[str, float]:
    """MAE, PSNR (dB, peak ``data_range``) and mean SSIM (Gaussian window, sigma 1.5) inside ``mask``.

    Args:
        prediction, reference: arrays of one shape (2D or 3D), in the same units.
        mask: bool array of that shape (the body).
        data_range: the intensity range (CT: window width in HU).
    """
    from skimage.metrics import structural_similarity

    if prediction.shape != reference.shape or mask.shape != reference.shape:
        raise ValueError(f"shapes differ: {prediction.shape}, {reference.shape}, {mask.shape}")
    if not mask.any():
        raise ValueError("empty body mask")
    p, r = prediction.astype(np.float64), reference.astype(np.float64)
    error = p[mask] - r[mask]
    mse = float(np.mean(error ** 2))
    psnr = float("inf") if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))
    _, ssim_map = structural_similarity(r, p, data_range=data_range, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, full=True)
    return {"mae": float(np.mean(np.abs(error))), "psnr": psnr, "ssim": float(np.mean(ssim_map[mask]))}


def linear_fit(source: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``a * source + b`` with ``a, b`` the least-squares fit to ``reference`` on ``mask``."""
    x, y = source[mask].astype(np.float64), reference[mask].astype(np.float64)
    a, b = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(y.mean()))
    return a * source.astype(np.float64) + b


def _modality(dataset: Any, name: str) -> str:
    if name not in dataset.modalities:
        raise DataError(dataset.root, f"has no modality {name!r} (found {list(dataset.modalities)})")
    return name


def evaluate_translator(translator: Any, dataset: Any, cases: Sequence[str], source: str | None = None,
                        target: str | None = None, keep: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Translate each case and compare it with its real target.

    Args:
        translator: a loaded translator (see :mod:`medgan.synthesis.translate`).
        dataset: a paired dataset holding both modalities.
        cases: the case ids to evaluate (held-out cases: the caller checks that).
        source, target: modality names in ``dataset`` (default: the translator's).
        keep: if given, filled with the arrays of the first case for a figure
            (``source``, ``prediction``, ``reference``, ``id``).

    Returns:
        One row per case and method (``model``, ``identity``, ``linear``):
        ``{"case", "method", "mae", "psnr", "ssim", "unit"}``.
    """
    src = _modality(dataset, source or translator.source_modality)
    dst = _modality(dataset, target or translator.target_modality)
    ct = isinstance(translator.target, CTWindow)
    rows: list[dict[str, Any]] = []
    for case_id in cases:
        case = dataset.load(case_id)
        names = list(case["meta"]["modalities"])
        mr, real = case["image"][names.index(src)], case["image"][names.index(dst)]
        x = translator.source.to_network(mr)[None]
        predicted = translator.translate_network(x)[0]
        if ct:
            window: CTWindow = translator.target
            reference = np.clip(real.astype(np.float64), window.low, window.high)
            outputs = {"model": window.to_units(predicted), "identity": window.to_units(x[0])}
            mask, data_range, unit = body_mask(reference, BODY_HU), window.high - window.low, "HU"
        else:
            reference = translator.target.to_network(real).astype(np.float64)
            outputs = {"model": predicted, "identity": x[0]}
            mask, data_range, unit = body_mask(reference, BODY_NETWORK), 2.0, "network range"
        outputs["linear"] = linear_fit(mr, reference, mask)
        if ct:
            outputs["linear"] = np.clip(outputs["linear"], translator.target.low, translator.target.high)
        for method, prediction in outputs.items():
            rows.append({"case": case_id, "method": method, **masked_metrics(prediction, reference, mask, data_range),
                         "unit": unit})
        if keep is not None and not keep:
            keep.update(source=np.asarray(mr), prediction=outputs["model"], reference=reference, id=case_id,
                        unit=unit, source_modality=src, target_modality=dst, mask=mask)
    return rows


def summary_table(rows: Sequence[dict[str, Any]]) -> Any:
    """Mean and standard deviation of each metric per method (a pandas DataFrame)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if frame.empty:
        raise DataError("evaluation", "no rows to summarise")
    order = {"model": 0, "identity": 1, "linear": 2}
    stats = frame.groupby("method")[["mae", "psnr", "ssim"]].agg(["mean", "std"])
    stats = stats.loc[sorted(stats.index, key=lambda m: order.get(m, 9))]
    stats.columns = [f"{metric}_{what}" for metric, what in stats.columns]
    stats.insert(0, "cases", frame.groupby("method")["case"].nunique())
    return stats
