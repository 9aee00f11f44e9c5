"""Paired evaluation of a translation run (e.g. MR -> CT on co-registered test cases): MAE, PSNR
and SSIM inside the body mask, for the model and for two baselines that need no training.

- ``identity``: the generator replaced by the identity, i.e. the MR rescaled to the CT range
  through the same intensity mappings (MR background -> air, the MR's 99.5th percentile -> the
  top of the CT window).
- ``linear``: the best linear rescaling ``a * MR + b`` of each test case, fitted by least squares
  on that case's own body voxels (an optimistic bound for any global intensity rescaling).

CT is compared in Hounsfield units inside the CT window (values outside it are clipped, as the
network output is); other targets in the network range [-1, 1].

Example:
    >>> rows = evaluate_run("runs/mr2ct", "sample_data/brats", cases=["BraTS-SIM-00015-000"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from medgan.errors import ConfigError, DataError
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


def training_cases(config: Any, dataset_root: Path) -> set[str]:
    """Case ids of ``dataset_root`` that the run trained on (empty when it trained on other data)."""
    from medgan.families._translation.data import select_cases
    from medgan.io.datasets import load_dataset

    used: set[str] = set()
    root = dataset_root.resolve()
    for domain in (config.data.a, config.data.b):
        if domain.path and Path(domain.path).resolve() == root:
            used |= set(select_cases(load_dataset(root), config.data.cases, config.data.exclude_cases))
    return used


def held_out_cases(config: Any, dataset: Any) -> list[str]:
    """Default evaluation cases: every case of ``dataset`` the run did not train on."""
    used = training_cases(config, dataset.root)
    return [ref.id for ref in dataset.cases if ref.id not in used]


def evaluate_run(run_dir: str | Path, data: str | Path, cases: Sequence[str] | None = None, direction: str = "a2b",
                 device: str = "cpu", batch_size: int = 4, source: str | None = None, target: str | None = None,
                 keep: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Translate each test case and compare it with its real target.

    Args:
        run_dir: a cyclegan or pix2pix run.
        data: a paired dataset holding both modalities.
        cases: case ids (default: every case the run did not train on).
        direction: ``a2b`` or ``b2a``.
        source, target: modality names in ``data`` (default: the run's).
        keep: if given, filled with the arrays of the first case for a figure
            (``source``, ``prediction``, ``reference``, ``id``).

    Returns:
        One row per case and method (``model``, ``identity``, ``linear``):
        ``{"case", "method", "mae", "psnr", "ssim", "unit"}``.

    Raises:
        ConfigError: a requested case was used to train the run (never evaluate on training cases).
    """
    from medgan.families._translation.config import DomainConfig
    from medgan.families._translation.data import domain_modality
    from medgan.io.datasets import load_dataset
    from medgan.synthesis.translate import Translator
    from medgan.training.run import read_run_config

    _, config = read_run_config(run_dir)
    dataset = load_dataset(data)
    chosen = list(cases) if cases is not None else held_out_cases(config, dataset)
    leaked = sorted(set(chosen) & training_cases(config, dataset.root))
    if leaked:
        raise ConfigError(f"case {leaked[0]!r} was used to train {run_dir}; evaluate on held-out cases only "
                          f"({len(leaked)} training case(s) requested)")
    if not chosen:
        raise ConfigError(f"{data}: no held-out case to evaluate (the run trained on every case); pass --cases")
    translator = Translator.from_run(run_dir, direction, device)
    translator.batch_size = batch_size
    src = domain_modality(dataset, DomainConfig(modality=source or translator.source_modality))
    dst = domain_modality(dataset, DomainConfig(modality=target or translator.target_modality))
    ct = isinstance(translator.target, CTWindow)
    rows: list[dict[str, Any]] = []
    for case_id in chosen:
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


def save_figure(example: dict[str, Any], path: str | Path, window: tuple[float, float] | None = None) -> None:
    """PNG of one axial slice (the one with the most body): source, prediction, real target.

    Args:
        example: what :func:`evaluate_run` keeps of its first case.
        path: the PNG to write.
        window: CT display range in HU (default: the reference's range).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medgan.io.atomic import atomic_path

    source, prediction, reference = example["source"], example["prediction"], example["reference"]
    if reference.ndim == 3:
        z = int(np.argmax(example["mask"].sum((0, 1))))  # the axial slice with the most body
        source, prediction, reference = source[..., z], prediction[..., z], reference[..., z]
    vmin, vmax = window if window else (float(reference.min()), float(reference.max()))
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 3.0), dpi=100)
    panels = [(source, f"{example['source_modality']} (input)", None, None),
              (prediction, f"synthetic {example['target_modality']}", vmin, vmax),
              (reference, f"real {example['target_modality']}", vmin, vmax)]
    for ax, (image, title, lo, hi) in zip(axes, panels):
        ax.imshow(np.asarray(image).T[::-1], cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{example['id']}, axial slice", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
