"""Run a set of registered metrics on real / synthetic (/ training) case sets. Computes only: reading
the datasets and writing ``metrics.json``, ``report.md`` and figures is
:func:`medgan.reports.evaluation.evaluate_datasets`.

Example:
    >>> from medgan.metrics.evaluation import evaluate
    >>> results = evaluate(real, synthetic, train)  # doctest: +SKIP
    >>> results["metrics"]["fid"]["value"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medgan.errors import ConfigError
from medgan.metrics.casesets import CaseSet
from medgan.metrics.context import EvaluateOptions, EvaluationContext, NotApplicable
from medgan.metrics.suite import METRIC_ORDER
from medgan.registry import METRICS


def default_metrics() -> list[str]:
    """Every registered metric: the built-in ones in report order, then those plugins registered."""
    return list(METRIC_ORDER) + [name for name in METRICS.names() if name not in METRIC_ORDER]


def requested_metrics(names: Sequence[str] | None) -> tuple[list[str], bool]:
    """The metric names to run and whether they were asked for explicitly (unknown names: ConfigError)."""
    if not names:
        return default_metrics(), False
    for name in names:
        METRICS.get(name)
    return list(dict.fromkeys(names)), True


def evaluate(real: CaseSet, synthetic: CaseSet, train: CaseSet | None = None,
             options: EvaluateOptions | None = None, context: EvaluationContext | None = None) -> dict[str, Any]:
    """Compute the requested metrics.

    Args:
        real: reference real cases (ideally not used to train the generator).
        synthetic: generated cases.
        train: the generator's training cases (default: ``real`` plays that role).
        options: settings; ``options.metrics`` empty means every metric that applies.
        context: an :class:`EvaluationContext` of these sets to reuse (its cached arrays serve the
            figures afterwards); built here when not given.

    Returns:
        ``{"metrics": {name: result}, "skipped": {name: reason}, "flags": [...], "notes": [...]}``.

    Raises:
        ConfigError: a metric asked for by name does not apply to the inputs.
    """
    options = options or EvaluateOptions()
    names, explicit = requested_metrics(options.metrics)
    context = context or EvaluationContext(real, synthetic, train, options)
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
