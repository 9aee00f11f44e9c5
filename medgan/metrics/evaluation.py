"""Run a set of registered metrics on real / synthetic (/ training) datasets and write the results.

Example:
    >>> from medgan.metrics.evaluation import evaluate_datasets
    >>> results = evaluate_datasets("real/", "synthetic/", out="eval/")  # doctest: +SKIP
    >>> results["metrics"]["fid"]["value"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medgan import __version__
from medgan.config import config_to_dict
from medgan.errors import ConfigError, DataError
from medgan.metrics.casesets import CaseSet, load_case_set
from medgan.metrics.context import EvaluateOptions, EvaluationContext, NotApplicable
from medgan.metrics.suite import METRIC_ORDER
from medgan.registry import METRICS


def requested_metrics(names: Sequence[str] | None) -> tuple[list[str], bool]:
    """The metric names to run and whether they were asked for explicitly (unknown names: ConfigError)."""
    if not names:
        return list(METRIC_ORDER), False
    for name in names:
        METRICS.get(name)
    return list(dict.fromkeys(names)), True


def evaluate(real: CaseSet, synthetic: CaseSet, train: CaseSet | None = None,
             options: EvaluateOptions | None = None, out: Path | None = None) -> dict[str, Any]:
    """Compute the requested metrics.

    Args:
        real: reference real cases.
        synthetic: generated cases.
        train: the generator's training cases (default: ``real`` plays that role).
        options: settings; ``options.metrics`` empty means every metric that applies.
        out: folder for figures (``None``: none written).

    Returns:
        ``{"metrics": {name: result}, "skipped": {name: reason}, "flags": [...], "notes": [...]}``.

    Raises:
        ConfigError: a metric asked for by name does not apply to the inputs.
    """
    options = options or EvaluateOptions()
    names, explicit = requested_metrics(options.metrics)
    context = EvaluationContext(real, synthetic, train, options, out)
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    flags: list[str] = []
    for name in names:
        try:
            result = METRICS.get(name)(context)
        except NotApplicable as reason:
            if explicit:
                raise ConfigError(f"metric {name!r} does not apply to these inputs: {reason}") from None
            skipped[name] = str(reason)
            continue
        flags.extend(f"{name}: {flag}" for flag in result.pop("flags", []))
        results[name] = result
    return {"metrics": results, "skipped": skipped, "flags": flags, "notes": context.notes}


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
                      format: str = "auto", modalities: Sequence[str] | None = None) -> dict[str, Any]:
    """Load the datasets, evaluate, and (with ``out``) write ``metrics.json``, ``report.md`` and figures.

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
    results = evaluate(sets["real"], sets["synthetic"], sets.get("train"), options, out_path)
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
