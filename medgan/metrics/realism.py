"""The realism gate: do synthetic lesions look and are they labelled like the real training lesions?

:func:`realism_gate` compares a synthetic set of cases with the real training set on what matters
for downstream segmentation training, each criterion with a pass/fail and its numbers. Lesions and
their measurements are defined in :mod:`medgan.metrics.lesion_stats` (contrast in units of the
case's normal-tissue standard deviation against a shell of surrounding tissue; sharpness as the
boundary-to-interior gradient ratio).

Criteria (defaults are the targets of issue 12):

- ``label_values``: every label value of the real lesions appears in the synthetic ones, and the
  synthetic values are a subset of the real ones.
- ``label_proportions``: each label value's share of all lesion voxels within ``proportion_points``
  percentage points (10) of the real share.
- ``volume``: median lesion volume (mL; area in cm^2 for 2D cases) within a factor
  ``volume_factor`` (1.5) of the real median.
- ``contrast``: for every label value and modality, the mean contrast of synthetic lesions within
  ``contrast_z`` (0.5) of the real mean.
- ``visible``: for every label value and modality where real lesions are visible (``|mean z| >=
  visible_z``, 0.5), the synthetic mean has the same sign and at least half that magnitude: an
  image left untouched under a new label fails here.
- ``sharpness``: for every modality where real lesions are visible, the median boundary sharpness
  within a factor ``sharpness_factor`` (1.5) of the real median: pasted cubes and blurred blobs fail.
- ``memorisation``: no synthetic lesion is a near-copy of a real one: normalised cross-correlation
  of the standardised patch around it with every real lesion patch (and their flips) below
  ``copy_ncc`` (0.95). ``allow_copies`` exempts copy-paste sets, which copy by definition.

A pure function: it reads no files and writes none (:func:`realism_markdown` formats a result).

Example:
    >>> result = realism_gate(synthetic_cases, real_training_cases)  # doctest: +SKIP
    >>> result.passed, result.failed()  # doctest: +SKIP
    (False, ['visible', 'contrast'])
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medgan.metrics.lesion_stats import LesionOptions, LesionRecord, set_lesions, size_unit
from medgan.metrics.memorisation import ncc_matrix


@dataclass
class RealismOptions:
    """Thresholds of the gate (defaults: issue 12's targets) and how lesions are measured.

    Attributes:
        proportion_points: largest difference of a label's share of lesion voxels, in points.
        volume_factor: largest ratio between synthetic and real median lesion volume.
        contrast_z: largest difference of mean contrast per label and modality (normal-tissue z).
        visible_z: a real (label, modality) contrast at least this large must be visible.
        sharpness_factor: largest ratio of median boundary sharpness per modality.
        copy_ncc: a synthetic lesion this correlated with a real one is a near-copy.
        allow_copies: do not fail on near-copies (copy-paste baselines copy by definition).
        lesions: how lesions are found and measured.
    """

    proportion_points: float = 10.0
    volume_factor: float = 1.5
    contrast_z: float = 0.5
    visible_z: float = 0.5
    sharpness_factor: float = 1.5
    copy_ncc: float = 0.95
    allow_copies: bool = False
    lesions: LesionOptions = field(default_factory=LesionOptions)


@dataclass
class Criterion:
    """One criterion of the gate: whether it passed, a one-line summary, and its numbers."""

    name: str
    passed: bool
    summary: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass
class RealismResult:
    """The gate's verdict.

    Attributes:
        criteria: by name, in the order of the module docstring.
        n_real, n_synthetic: lesions measured in each set.
        modalities: channel names (from the cases' ``meta``).
    """

    criteria: dict[str, Criterion]
    n_real: int
    n_synthetic: int
    modalities: list[str]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria.values())

    def failed(self) -> list[str]:
        """Names of the failed criteria."""
        return [name for name, c in self.criteria.items() if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form."""
        return {"passed": self.passed, "failed": self.failed(), "n_real_lesions": self.n_real,
                "n_synthetic_lesions": self.n_synthetic, "modalities": self.modalities,
                "criteria": {n: {"passed": c.passed, "summary": c.summary, "numbers": _plain(c.numbers)}
                             for n, c in self.criteria.items()}}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _modalities(cases: Sequence[Mapping[str, Any]]) -> list[str]:
    for case in cases:
        names = (case.get("meta") or {}).get("modalities")
        if names:
            return list(names)
    channels = int(np.asarray(cases[0]["image"]).shape[0]) if cases else 0
    return [f"ch{i}" for i in range(channels)]


def _proportions(records: Sequence[LesionRecord]) -> dict[int, float]:
    totals: dict[int, int] = {}
    for r in records:
        for value, count in r.label_voxels.items():
            totals[value] = totals.get(value, 0) + count
    whole = sum(totals.values())
    return {v: 100.0 * c / whole for v, c in sorted(totals.items())} if whole else {}


def mean_contrast(records: Sequence[LesionRecord]) -> dict[int, np.ndarray]:
    """Mean contrast per label value over the lesions holding it: ``{label: (C,) z}``."""
    values: dict[int, list[list[float]]] = {}
    for r in records:
        for value, z in r.contrast.items():
            values.setdefault(value, []).append(z)
    return {v: np.mean(np.asarray(z), axis=0) for v, z in sorted(values.items())}


def median_sharpness(records: Sequence[LesionRecord]) -> np.ndarray:
    """Median boundary sharpness per modality over lesions with an interior (``nan`` if none)."""
    rows = np.asarray([r.sharpness for r in records], float)
    if rows.size == 0:
        return np.asarray([])
    with np.errstate(all="ignore"):
        return np.nanmedian(rows, axis=0) if np.isfinite(rows).any() else np.full(rows.shape[1], np.nan)


def nearest_real_ncc(synthetic: Sequence[LesionRecord], real: Sequence[LesionRecord]) -> tuple[np.ndarray, np.ndarray]:
    """For each synthetic lesion, the highest NCC with any real lesion patch over every axis flip.

    Returns:
        ``(ncc, index)``: best correlation and the real lesion it was found with.
    """
    if not synthetic or not real:
        return np.zeros(len(synthetic)), np.zeros(len(synthetic), int)
    reals = np.stack([r.patch for r in real])
    dims = reals.ndim - 2
    best = np.full(len(synthetic), -np.inf)
    index = np.zeros(len(synthetic), int)
    patches = np.stack([s.patch for s in synthetic])
    for flips in itertools.product((False, True), repeat=dims):
        axes = tuple(a + 2 for a, f in enumerate(flips) if f)
        flipped = np.flip(patches, axes) if axes else patches
        ncc = ncc_matrix(flipped, reals)
        better = ncc.max(1) > best
        best = np.where(better, ncc.max(1), best)
        index = np.where(better, ncc.argmax(1), index)
    return best, index


def realism_gate(synthetic: Sequence[Mapping[str, Any]], real: Sequence[Mapping[str, Any]],
                 sources: Mapping[str, Mapping[str, Any]] | None = None,
                 options: RealismOptions | None = None) -> RealismResult:
    """Compare the lesions of ``synthetic`` cases with those of the ``real`` training cases.

    Args:
        synthetic: case dictionaries (``image``, ``label``, ``meta`` with ``spacing`` and ``modalities``).
        real: the real training cases the synthesis learnt from (never test cases).
        sources: synthetic case id -> the real case it was made from, so only new lesions are
            measured; by default a synthetic case's ``meta["source_case"]`` is looked up among ``real``.
        options: thresholds and measurement settings.

    Returns:
        A :class:`RealismResult` with every criterion's verdict and numbers.

    Raises:
        ValueError: the sets have different channels, or the real set has no lesion.
    """
    options = options or RealismOptions()
    modalities = _modalities(real)
    if _modalities(synthetic) != modalities and synthetic:
        raise ValueError(f"synthetic cases have channels {_modalities(synthetic)}, the real cases {modalities}")
    by_id = {str(c.get("id")): c for c in real}
    if sources is None:
        sources = {str(c.get("id")): by_id[s] for c in synthetic
                   if (s := str((c.get("meta") or {}).get("source_case", ""))) in by_id}
    real_lesions = set_lesions(real, None, options.lesions)
    if not real_lesions:
        raise ValueError("the real cases hold no lesion to compare with")
    synthetic_lesions = set_lesions(synthetic, sources, options.lesions)
    criteria = [
        _label_values(real_lesions, synthetic_lesions),
        _label_proportions(real_lesions, synthetic_lesions, options),
        _volume(real_lesions, synthetic_lesions, options),
        *_contrast_and_visible(real_lesions, synthetic_lesions, modalities, options),
        _sharpness(real_lesions, synthetic_lesions, modalities, options),
        _memorisation(real_lesions, synthetic_lesions, options),
    ]
    return RealismResult({c.name: c for c in criteria}, len(real_lesions), len(synthetic_lesions), modalities)


def _label_values(real: Sequence[LesionRecord], synthetic: Sequence[LesionRecord]) -> Criterion:
    real_values = sorted({v for r in real for v in r.label_voxels})
    synthetic_values = sorted({v for r in synthetic for v in r.label_voxels})
    missing = sorted(set(real_values) - set(synthetic_values))
    unknown = sorted(set(synthetic_values) - set(real_values))
    passed = bool(synthetic) and not missing and not unknown
    parts = [f"synthetic {synthetic_values} vs real {real_values}"]
    if missing:
        parts.append(f"missing {missing}")
    if unknown:
        parts.append(f"never in training {unknown}")
    if not synthetic:
        parts.append("no synthetic lesion found")
    return Criterion("label_values", passed, "; ".join(parts),
                     {"real": real_values, "synthetic": synthetic_values, "missing": missing, "unknown": unknown})


def _label_proportions(real: Sequence[LesionRecord], synthetic: Sequence[LesionRecord],
                       options: RealismOptions) -> Criterion:
    a, b = _proportions(real), _proportions(synthetic)
    values = sorted(set(a) | set(b))
    diff = {v: b.get(v, 0.0) - a.get(v, 0.0) for v in values}
    worst = max((abs(d) for d in diff.values()), default=0.0)
    passed = bool(synthetic) and worst <= options.proportion_points
    shares = ", ".join(f"{v}: {b.get(v, 0.0):.1f} vs {a.get(v, 0.0):.1f}" for v in values)
    return Criterion("label_proportions", passed, f"% of lesion voxels (synthetic vs real) {shares}; largest "
                     f"difference {worst:.1f} points (limit {options.proportion_points:g})",
                     {"real_percent": a, "synthetic_percent": b, "largest_difference": worst})


def _volume(real: Sequence[LesionRecord], synthetic: Sequence[LesionRecord], options: RealismOptions) -> Criterion:
    unit = size_unit(real[0].patch.ndim - 1)
    real_median = float(np.median([r.size for r in real]))
    if not synthetic:
        return Criterion("volume", False, "no synthetic lesion found", {"real_median": real_median, "unit": unit})
    synthetic_median = float(np.median([r.size for r in synthetic]))
    ratio = synthetic_median / real_median
    passed = 1.0 / options.volume_factor <= ratio <= options.volume_factor
    return Criterion("volume", passed, f"median {synthetic_median:.2f} {unit} vs real {real_median:.2f} {unit} "
                     f"(ratio {ratio:.2f}, limit x{options.volume_factor:g})",
                     {"unit": unit, "real_median": real_median, "synthetic_median": synthetic_median, "ratio": ratio,
                      "real_quartiles": np.percentile([r.size for r in real], [25, 75]).tolist(),
                      "synthetic_quartiles": np.percentile([r.size for r in synthetic], [25, 75]).tolist()})


def _contrast_and_visible(real: Sequence[LesionRecord], synthetic: Sequence[LesionRecord], modalities: list[str],
                          options: RealismOptions) -> list[Criterion]:
    a, b = mean_contrast(real), mean_contrast(synthetic)
    table = {}
    worst, faults, invisible = 0.0, [], []
    for value, real_z in a.items():
        synth_z = b.get(value)
        for m, name in enumerate(modalities):
            r = float(real_z[m])
            s = float(synth_z[m]) if synth_z is not None else float("nan")
            table[f"{value}/{name}"] = {"real": r, "synthetic": s}
            difference = abs(s - r) if np.isfinite(s) else float("inf")
            worst = max(worst, difference)
            if difference > options.contrast_z:
                faults.append(f"{value}/{name} {s:+.2f} vs {r:+.2f}")
            if abs(r) >= options.visible_z and not (np.isfinite(s) and np.sign(s) == np.sign(r)
                                                     and abs(s) >= 0.5 * abs(r)):
                invisible.append(f"{value}/{name} {s:+.2f} vs {r:+.2f}")
    contrast = Criterion("contrast", bool(synthetic) and not faults,
                         f"largest difference {worst:.2f} z (limit {options.contrast_z:g})"
                         + (f"; outside: {', '.join(faults)}" if faults else ""),
                         {"by_label_modality": table, "largest_difference": worst})
    visible = Criterion("visible", bool(synthetic) and not invisible,
                        "every real-visible label/modality contrast is visible" if not invisible and synthetic
                        else f"not visible (synthetic vs real z): {', '.join(invisible) or 'no synthetic lesion'}",
                        {"not_visible": invisible})
    return [contrast, visible]


def _sharpness(real: Sequence[LesionRecord], synthetic: Sequence[LesionRecord], modalities: list[str],
               options: RealismOptions) -> Criterion:
    visible = set()
    for z in mean_contrast(real).values():
        visible |= {m for m in range(len(modalities)) if abs(float(z[m])) >= options.visible_z}
    a, b = median_sharpness(real), median_sharpness(synthetic)
    table, faults = {}, []
    for m in sorted(visible):
        r = float(a[m])
        s = float(b[m]) if len(b) else float("nan")
        ratio = s / r if np.isfinite(s) and r > 0 else float("nan")
        table[modalities[m]] = {"real": r, "synthetic": s, "ratio": ratio}
        if not (np.isfinite(ratio) and 1.0 / options.sharpness_factor <= ratio <= options.sharpness_factor):
            faults.append(f"{modalities[m]} {s:.2f} vs {r:.2f}")
    passed = bool(synthetic) and not faults
    summary = (f"boundary/interior gradient within x{options.sharpness_factor:g} of real on "
               f"{', '.join(modalities[m] for m in sorted(visible)) or 'no visible modality'}")
    return Criterion("sharpness", passed, summary + (f"; outside: {', '.join(faults)}" if faults else ""),
                     {"by_modality": table})


def _memorisation(real: Sequence[LesionRecord], synthetic: Sequence[LesionRecord],
                  options: RealismOptions) -> Criterion:
    ncc, index = nearest_real_ncc(synthetic, real)
    copies = [f"{synthetic[i].case} ~ {real[int(index[i])].case} ({ncc[i]:.3f})"
              for i in np.flatnonzero(ncc >= options.copy_ncc)]
    # real lesions against the others (leave-one-out): what "close" means between distinct lesions
    loo = []
    if len(real) > 1:
        reals = np.stack([r.patch for r in real])
        matrix = ncc_matrix(reals, reals)
        np.fill_diagonal(matrix, -np.inf)
        loo = matrix.max(1).tolist()
    numbers = {"max_ncc": float(ncc.max()) if len(ncc) else None, "median_ncc": float(np.median(ncc)) if len(ncc)
               else None, "real_loo_max_ncc": max(loo) if loo else None, "near_copies": copies,
               "allowed": options.allow_copies}
    passed = bool(synthetic) and (options.allow_copies or not copies)
    summary = (f"nearest real lesion NCC median {numbers['median_ncc'] or 0:.2f}, max {numbers['max_ncc'] or 0:.2f} "
               f"(near-copy from {options.copy_ncc:g}; real lesions among themselves up to "
               f"{numbers['real_loo_max_ncc'] or 0:.2f}); {len(copies)} near-cop{'y' if len(copies) == 1 else 'ies'}"
               + (" (allowed: copy-paste)" if options.allow_copies and copies else ""))
    return Criterion("memorisation", passed, summary, numbers)


def realism_markdown(result: RealismResult, title: str = "Realism gate") -> str:
    """A Markdown section: verdict, then one table row per criterion."""
    verdict = "PASSED" if result.passed else f"FAILED ({', '.join(result.failed())})"
    lines = [f"### {title}: {verdict}", "",
             f"{result.n_synthetic} synthetic lesion(s) compared with {result.n_real} real training lesion(s); "
             f"modalities {', '.join(result.modalities)}.", "",
             "| criterion | result | numbers |", "| --- | --- | --- |"]
    for name, c in result.criteria.items():
        lines.append(f"| {name} | {'pass' if c.passed else '**FAIL**'} | {c.summary.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
