"""``medgan evaluate``'s outputs: read the datasets, run :func:`medgan.metrics.evaluation.evaluate`,
write ``metrics.json``, ``report.md`` and the closest-pairs figure.

Example:
    >>> from medgan.reports.evaluation import evaluate_datasets
    >>> document = evaluate_datasets("real/", "synthetic/", out="eval/")  # doctest: +SKIP
    >>> document["metrics"]["fid"]["value"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medgan import __version__
from medgan.config import config_to_dict
from medgan.errors import DataError
from medgan.metrics.casesets import CaseSet, load_case_set
from medgan.metrics.context import EvaluateOptions, EvaluationContext
from medgan.metrics.evaluation import evaluate, requested_metrics


def write_closest_pairs_png(path: str | Path, synthetic: np.ndarray, training: np.ndarray,
                            pairs: list[tuple[int, int]], titles: list[str]) -> None:
    """A PNG with one row per pair: synthetic case and its nearest training case (first channel, mid-slice).

    Args:
        path: output PNG (written atomically).
        synthetic, training: ``(N, C, X, Y[, Z])`` images on the reference scale.
        pairs: ``(synthetic index, training index)``.
        titles: one caption per pair.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medgan.io.atomic import atomic_path

    def view(image: np.ndarray) -> np.ndarray:
        channel = image[0]
        plane = channel if channel.ndim == 2 else channel[:, :, channel.shape[2] // 2]
        return np.rot90(np.clip(plane, 0, 1))

    rows = max(1, len(pairs))
    figure, axes = plt.subplots(rows, 2, figsize=(4.4, 2.2 * rows), squeeze=False)
    for row, ((i, j), title) in enumerate(zip(pairs, titles)):
        for col, (image, name) in enumerate(((synthetic[i], "synthetic"), (training[j], "nearest training"))):
            axes[row, col].imshow(view(image), cmap="gray", vmin=0, vmax=1)
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
            axes[row, col].set_title(f"{name}\n{title if col == 0 else ''}".strip(), fontsize=7)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)


def evaluate_sets(real: CaseSet, synthetic: CaseSet, train: CaseSet | None = None,
                  options: EvaluateOptions | None = None, out: Path | None = None,
                  progress: bool = False) -> dict[str, Any]:
    """:func:`~medgan.metrics.evaluation.evaluate`, then the figures into ``out`` (when given).

    With ``progress``, one line per metric on stderr (``evaluate: metric 3/9 memorisation, 0:00:41
    so far``), so a long evaluation is visible in a log as well as on a terminal.

    Returns:
        The results of ``evaluate``; the memorisation result names its figure (``"figure"``).
    """
    options = options or EvaluateOptions()
    context = EvaluationContext(real, synthetic, train, options)
    on_metric = _metric_progress(time.monotonic()) if progress else None
    results = evaluate(real, synthetic, train, options, context=context, on_metric=on_metric)
    memo = results["metrics"].get("memorisation")
    if out is not None and memo is not None:
        path = Path(out) / "closest_pairs.png"
        pairs = [(c["synthetic_index"], c["training_index"]) for c in memo["closest_pairs"]]
        titles = [f"{c['synthetic']} ~ {c['training']}  NCC {c['ncc']:.3f}" for c in memo["closest_pairs"]]
        write_closest_pairs_png(path, context.images("synthetic"), context.images(context.training_role), pairs,
                                titles)
        memo["figure"] = path.name
    return results


def _metric_progress(started: float):
    from medgan.training.progress import format_duration

    def show(index: int, total: int, name: str) -> None:
        elapsed = format_duration(time.monotonic() - started)
        print(f"evaluate: metric {index}/{total} {name}, {elapsed} so far", file=sys.stderr, flush=True)

    return show


def _check_out(out: Path, inputs: Sequence[Path]) -> None:
    resolved = out.resolve()
    for path in inputs:
        root = path.resolve()
        if resolved == root or root in resolved.parents:
            raise DataError(out, f"output folder lies inside the input dataset {path}; choose another --out")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _json_safe(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


def evaluate_datasets(real: str | Path, synthetic: str | Path, train: str | Path | None = None,
                      out: str | Path | None = None, options: EvaluateOptions | None = None,
                      format: str = "auto", modalities: Sequence[str] | None = None,
                      progress: bool = False) -> dict[str, Any]:
    """Load the datasets, evaluate, and (with ``out``) write ``metrics.json``, ``report.md`` and figures.

    With ``progress``, plain lines on stderr say what was loaded and which metric is being computed.

    Returns:
        The ``metrics.json`` content as a dict.
    """
    from medgan.io.atomic import write_text_atomic
    from medgan.metrics.report import render_report

    options = options or EvaluateOptions()
    requested_metrics(options.metrics)  # unknown names fail before any data is read
    paths = {"real": Path(real), "synthetic": Path(synthetic)}
    if train is not None:
        paths["train"] = Path(train)
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        _check_out(out_path, list(paths.values()))
    started = time.time()
    sets = {name: load_case_set(path, name, format=format, modalities=modalities) for name, path in paths.items()}
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"evaluate: loaded {len(sets['real'])} real, {len(sets['synthetic'])} synthetic"
              + (f", {len(sets['train'])} training" if "train" in sets else "") + " case(s)",
              file=sys.stderr, flush=True)
    results = evaluate_sets(sets["real"], sets["synthetic"], sets.get("train"), options, out_path, progress)
    document = {
        "medgan_version": __version__,
        "inputs": {name: {"path": str(path), "cases": len(sets[name]), "labelled": sets[name].labelled,
                          "modalities": list(sets[name].modalities), "spatial_dims": sets[name].spatial_dims}
                   for name, path in paths.items()},
        "options": config_to_dict(options),
        **results,
        "seconds": round(time.time() - started, 1),
    }
    document = _json_safe(document)
    if out_path is not None:
        write_text_atomic(out_path / "metrics.json", json.dumps(document, indent=2) + "\n")
        write_text_atomic(out_path / "report.md", render_report(document))
    return document
