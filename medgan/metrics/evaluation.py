"""Run a set of registered metrics on real / synthetic (/ training) case sets. Computes only: reading
the datasets and writing ``metrics.json``, ``report.md`` and figures is
:func:`medgan.reports.evaluation.evaluate_datasets`.

Example:
    >>> from medgan.metrics.evaluation import evaluate
    >>> results = evaluate(real, synthetic, train)  # doctest: +SKIP
    >>> results["metrics"]["fid"]["value"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from medgan.errors import ConfigError
from medgan.metrics.casesets import CaseSet, shared_cases
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


def check_held_out(real: CaseSet, train: CaseSet | None) -> list[str]:
    """Refuse a real set that repeats training cases; return notes on shared names.

    The memorisation yardstick is the distance from real cases to their nearest training case; a real
    case that *is* a training case has distance 0, so the threshold collapses to "identical" and
    every copy passes as new. Identical voxels are therefore an error; a case id found in both sets
    with different voxels only a note (ids such as ``case_000`` recur across datasets).

    Raises:
        ConfigError: a real case has the voxels of a training case.
    """
    if train is None or train.root.resolve() == real.root.resolve():
        return []
    overlap = shared_cases(real, train)
    if overlap.content:
        real_id, train_id = overlap.content[0]
        raise ConfigError(f"{len(overlap.content)} of {len(real)} --real case(s) are also in --train (identical "
                          f"voxels: {real_id} = {train_id}); the memorisation yardstick needs real cases the "
                          "generator never saw. Give held-out real cases, or leave --train out to use the real set "
                          "as its own (leave-one-out) yardstick")
    if overlap.ids:
        return [f"{len(overlap.ids)} case id(s) appear in both the real and the training set (e.g. "
                f"{overlap.ids[0]}) with different voxels; check that the real set is held out"]
    return []


def evaluate(real: CaseSet, synthetic: CaseSet, train: CaseSet | None = None,
             options: EvaluateOptions | None = None, context: EvaluationContext | None = None,
             on_metric: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Compute the requested metrics.

    Args:
        real: reference real cases (held out from the generator's training).
        synthetic: generated cases.
        train: the generator's training cases (default: ``real`` plays that role).
        options: settings; ``options.metrics`` empty means every metric that applies.
        context: an :class:`EvaluationContext` of these sets to reuse (its cached arrays serve the
            figures afterwards); built here when not given.
        on_metric: called as ``on_metric(index, total, name)`` before each metric is computed
            (``index`` from 1), so a caller can show progress.

    Returns:
        ``{"metrics": {name: result}, "skipped": {name: reason}, "flags": [...], "notes": [...]}``.

    Raises:
        ConfigError: a metric asked for by name does not apply to the inputs, or a real case is a
            training case (:func:`check_held_out`).
    """
    options = options or EvaluateOptions()
    names, explicit = requested_metrics(options.metrics)
    notes = check_held_out(real, train)
    context = context or EvaluationContext(real, synthetic, train, options)
    context.notes.extend(notes)
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    flags: list[str] = []
    for index, name in enumerate(names, start=1):
        if on_metric is not None:
            on_metric(index, len(names), name)
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
