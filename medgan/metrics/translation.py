"""Paired evaluation of a translation run (e.g. MR -> CT on co-registered test cases): MAE, PSNR
and SSIM inside the body mask, for the model and for baselines.

- ``global-linear`` and ``per-tissue``: maps a user could run, fitted on the run's *training* pairs
  only (:mod:`medgan.metrics.translation_baselines`); present when ``train_cases`` are given.
- ``identity``: the generator replaced by the identity, i.e. the MR rescaled to the CT range
  through the same intensity mappings (MR background -> air, the MR's 99.5th percentile -> the
  top of the CT window).
- ``oracle-linear``: the best linear rescaling ``a * MR + b`` of each test case, fitted by least
  squares on that case's own body voxels *and its own CT*: an oracle no user can run, an upper
  bound for any linear map.

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

from collections.abc import Callable, Iterator, Sequence
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


#: method names in report order, with the label printed next to them
METHODS = {"model": "the model", "global-linear": "global linear map (fitted on training cases)",
           "per-tissue": "per-tissue intensity map (fitted on training cases)",
           "identity": "identity (MR rescaled)",
           "oracle-linear": "oracle (linear, fitted on the test case's own CT)"}


def _pair(translator: Any, case: dict[str, Any], src: str, dst: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(source network range, reference in target units, body mask)`` of one paired case."""
    from medgan.transforms.modality_checks import check_ct_window, check_input

    names = list(case["meta"]["modalities"])
    for name in (src, dst):
        if name not in names:
            raise DataError(case["id"], f"has no channel {name!r} (channels: {names})")
    check_input(translator.source, case["image"][names.index(src)], case["id"], src)
    x = translator.source.to_network(case["image"][names.index(src)])
    real = case["image"][names.index(dst)]
    check_ct_window(translator.target, real, case["id"])
    if isinstance(translator.target, CTWindow):
        reference = np.clip(real.astype(np.float64), translator.target.low, translator.target.high)
        return x, reference, body_mask(reference, BODY_HU)
    reference = translator.target.to_network(real).astype(np.float64)
    return x, reference, body_mask(reference, BODY_NETWORK)


def unit_of(translator: Any) -> str:
    """``"HU"`` when the translator's target is a CT window, else ``"network range"``."""
    return "HU" if isinstance(translator.target, CTWindow) else "network range"


def training_pairs(translator: Any, dataset: Any, train_cases: Sequence[str], source: str | None = None,
                   target: str | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(source network range, reference in target units, body mask)`` of each training case."""
    src = _modality(dataset, source or translator.source_modality)
    dst = _modality(dataset, target or translator.target_modality)
    for case_id in train_cases:
        yield _pair(translator, dataset.load(case_id), src, dst)


def fit_translation_baselines(translator: Any, dataset: Any, train_cases: Sequence[str], source: str | None = None,
                              target: str | None = None) -> Any:
    """The global-linear and per-tissue maps fitted on ``train_cases`` of ``dataset`` only.

    Returns:
        :class:`medgan.metrics.translation_baselines.IntensityBaselines`.
    """
    from medgan.metrics.translation_baselines import fit_baselines

    window = translator.target
    clip = (window.low, window.high) if isinstance(window, CTWindow) else (-1.0, 1.0)
    return fit_baselines(training_pairs(translator, dataset, train_cases, source, target), clip=clip)


def evaluate_translator(translator: Any, dataset: Any, cases: Sequence[str], source: str | None = None,
                        target: str | None = None, keep: dict[str, Any] | None = None,
                        baselines: Any = None, inspect: Callable[[dict[str, Any]], None] | None = None
                        ) -> list[dict[str, Any]]:
    """Translate each case and compare it with its real target.

    Args:
        translator: a loaded translator (see :mod:`medgan.synthesis.translate`).
        dataset: a paired dataset holding both modalities.
        cases: the case ids to evaluate (held-out cases: the caller checks that).
        source, target: modality names in ``dataset`` (default: the translator's).
        keep: if given, filled with the arrays of the first case for a figure
            (``source``, ``prediction``, ``reference``, ``id``, ``label``, ``mask``).
        baselines: maps fitted on training cases (:func:`fit_translation_baselines`); their rows
            are added when given.
        inspect: called with each case's arrays (those of ``keep``), e.g. for the lesion checks.

    Returns:
        One row per case and method (:data:`METHODS`: ``model``, [``global-linear``,
        ``per-tissue``], ``identity``, ``oracle-linear``):
        ``{"case", "method", "mae", "psnr", "ssim", "unit"}``.
    """
    src = _modality(dataset, source or translator.source_modality)
    dst = _modality(dataset, target or translator.target_modality)
    ct = isinstance(translator.target, CTWindow)
    rows: list[dict[str, Any]] = []
    for case_id in cases:
        case = dataset.load(case_id)
        names = list(case["meta"]["modalities"])
        mr = case["image"][names.index(src)]
        x, reference, mask = _pair(translator, case, src, dst)
        predicted = translator.translate_network(x[None])[0]
        if ct:
            window: CTWindow = translator.target
            outputs = {"model": window.to_units(predicted)}
            data_range, unit, low, high = window.high - window.low, "HU", window.low, window.high
        else:
            outputs = {"model": predicted}
            data_range, unit, low, high = 2.0, "network range", -1.0, 1.0
        if baselines is not None:
            outputs["global-linear"] = baselines.global_linear(x)
            outputs["per-tissue"] = baselines.per_tissue(x)
        outputs["identity"] = window.to_units(x) if ct else x
        outputs["oracle-linear"] = np.clip(linear_fit(mr, reference, mask), low, high)
        for method, prediction in outputs.items():
            rows.append({"case": case_id, "method": method, **masked_metrics(prediction, reference, mask, data_range),
                         "unit": unit})
        arrays = {"source": np.asarray(mr), "prediction": outputs["model"], "reference": reference, "id": case_id,
                  "unit": unit, "source_modality": src, "target_modality": dst, "mask": mask,
                  "label": case.get("label"), "spacing": case["meta"].get("spacing")}
        if inspect is not None:
            inspect(arrays)
        if keep is not None and not keep:
            keep.update(arrays)
    return rows


def summary_table(rows: Sequence[dict[str, Any]]) -> Any:
    """Mean and standard deviation of each metric per method (a pandas DataFrame)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    if frame.empty:
        raise DataError("evaluation", "no rows to summarise")
    order = {m: i for i, m in enumerate(METHODS)}
    stats = frame.groupby("method")[["mae", "psnr", "ssim"]].agg(["mean", "std"])
    stats = stats.loc[sorted(stats.index, key=lambda m: order.get(m, 9))]
    stats.columns = [f"{metric}_{what}" for metric, what in stats.columns]
    stats.insert(0, "cases", frame.groupby("method")["case"].nunique())
    return stats
