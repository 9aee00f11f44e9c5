"""Benchmark report from a run folder's files alone (``results.csv``, ``cells.csv``, ``curves.csv``,
``grid.csv``, ``split.json``, ``config.yaml``); ``medgan report RUN_DIR [RUN_DIR ...]`` rebuilds it,
merging shards.

Two files: ``summary.md`` (the headline: every arm's paired effect next to the controls', with CIs,
p-values and the minimum detectable effect) and ``report.md`` (everything: setup, one table per metric
with regions as columns, healthy cases apart, effects per region, training curves, predictions).

The unit of analysis is (test case, seed); every arm is compared with ``none`` on the same case and
seed (:mod:`medgan.reports.stats`). Test cases without any foreground (healthy) are reported apart;
a region a case lacks is not applicable to it; every cell shows n, the not-applicable count and the
count of results missing from the grid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medgan.errors import DataError
from medgan.io import write_text_atomic
from medgan.metrics.segmentation import HD95_CONVENTION
from medgan.reports.stats import PairedEffect, paired_effect

UNIT = ["case", "seed"]
GROUP = ["cases", "arm", "ratio"]
KEYS = ["fold", "cases", "arm", "ratio", "seed", "case", "region", "metric"]


@dataclass(frozen=True)
class MetricInfo:
    title: str
    unit: str = ""
    fmt: str = ".3f"
    higher_is_better: bool = True


METRICS: dict[str, MetricInfo] = {
    "dice": MetricInfo("Dice"),
    "hd95": MetricInfo("HD95", "mm", ".1f", False),
    "sensitivity": MetricInfo("Voxel sensitivity"),
    "lesion_sensitivity": MetricInfo("Lesion-wise sensitivity"),
    "specificity": MetricInfo("Voxel specificity", "", ".4f"),
    "false_positive_ml": MetricInfo("False-positive volume", "mL", ".2f", False),
    "map50": MetricInfo("mAP50"),
    "ap50": MetricInfo("AP50"),
    "precision": MetricInfo("Precision"),
    "centre_distance_mm": MetricInfo("Centre distance", "mm", ".1f", False),
    "false_positives": MetricInfo("False positives per case", "", ".2f", False),
}
#: metrics of the tables on cases with a lesion, in this order (others found in the results follow)
LESION_METRICS = ("dice", "hd95", "sensitivity", "lesion_sensitivity", "map50", "ap50", "precision",
                  "centre_distance_mm")
HEADLINE_METRICS = ("dice", "map50", "sensitivity")
ARM_ORDER = ("none", "real-cases", "wrong-labels", "classic")
CONTROL_NOTE = {"real-cases": "positive control", "wrong-labels": "negative control"}
ALPHA = 0.05


def info(metric: str) -> MetricInfo:
    return METRICS.get(metric, MetricInfo(metric))


# ----------------------------------------------------------------------------------------------- reading
@dataclass
class Run:
    """Everything a report is built from."""

    results: pd.DataFrame
    cells: pd.DataFrame
    curves: pd.DataFrame
    grid: pd.DataFrame
    split: dict[str, Any]
    config: dict[str, Any]
    examples: list[Path]
    cache: dict[Any, Any] = field(default_factory=dict)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def read_results(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate the per-case ``results.csv`` of run folders (shards), dropping duplicate rows."""
    return read_run(run_dirs).results


def read_run(run_dirs: Sequence[str | Path]) -> Run:
    """Read and merge run folders (shards of one grid)."""
    frames: dict[str, list[pd.DataFrame]] = {"results": [], "cells": [], "curves": [], "grid": []}
    examples: list[Path] = []
    for run in map(Path, run_dirs):
        if not (run / "results.csv").is_file():
            raise DataError(run / "results.csv", "no results.csv here; is this a benchmark run folder?")
        for name in frames:
            frames[name].append(_read_csv(run / f"{name}.csv"))
        results = frames["results"][-1]
        if not results.empty and not {"case", "fold", "cases"} <= set(results.columns):
            raise DataError(run / "results.csv", "has no per-case rows (written by an older medgan, before "
                                                 "cross-validation); rerun the benchmark into a new folder")
        if (run / "examples").is_dir():
            examples += sorted((run / "examples").glob("*.npz"))
    first = Path(run_dirs[0])
    for required in ("split.json", "config.yaml"):
        if not (first / required).is_file():
            raise DataError(first / required, "missing; the report needs the run's split and configuration")
    import yaml

    config = yaml.safe_load((first / "config.yaml").read_text()) or {}
    split = json.loads((first / "split.json").read_text())

    def merged(name: str, keys: list[str]) -> pd.DataFrame:
        frame = pd.concat([f for f in frames[name] if not f.empty], ignore_index=True) \
            if any(not f.empty for f in frames[name]) else pd.DataFrame(columns=keys)
        return frame.drop_duplicates(subset=[k for k in keys if k in frame], keep="last").reset_index(drop=True)

    cell_keys = ["fold", "cases", "arm", "ratio", "seed"]
    return Run(merged("results", KEYS), merged("cells", cell_keys), merged("curves", cell_keys + ["step"]),
               merged("grid", cell_keys), split, config, examples)


# ------------------------------------------------------------------------------------------ bookkeeping
def arm_label(arm: str, ratio: float) -> str:
    return arm if not ratio else f"{arm} ×{ratio:g}"


#: appended to the label of an arm whose synthesis stage failed its gate (the realism gate, or the
#: translation checks for a translation stage) and ran because of allow_failed_gate
GATE_FLAG = " ⚠ failed synthesis gate"


def failed_gate(run: Run, arm: str) -> bool:
    """Whether any cell of ``arm`` trained on a synthesis stage that failed the realism gate."""
    if run.cells.empty or "gate" not in run.cells:
        return False
    return bool((run.cells.loc[run.cells["arm"] == arm, "gate"].astype(str) == "failed").any())


def arm_text(run: Run, arm: str, ratio: float) -> str:
    """The arm's label in a table, flagged when its stage failed the realism gate."""
    return arm_label(arm, ratio) + (GATE_FLAG if failed_gate(run, arm) else "")


def _arm_rank(config: dict[str, Any], arm: str) -> tuple[int, int]:
    listed = list(config.get("grid", {}).get("arms", []))
    if arm in ARM_ORDER:
        return 0, ARM_ORDER.index(arm)
    return 1, listed.index(arm) if arm in listed else len(listed)


def _groups(run: Run) -> list[tuple[int, str, float]]:
    """(cases, arm, ratio) of the grid, in report order: sizes ascending, none, controls, classic, others."""
    source = run.grid if not run.grid.empty else run.results
    groups = {(int(c), str(a), float(r)) for c, a, r in zip(source["cases"], source["arm"], source["ratio"])}
    return sorted(groups, key=lambda g: (g[0], _arm_rank(run.config, g[1]), g[2]))


def _size_label(run: Run, cases: int) -> str:
    grid = run.grid if not run.grid.empty else run.results
    fractions = grid.loc[grid["cases"] == cases, "fraction"].dropna() if "fraction" in grid else pd.Series([])
    return f"{cases} cases ({100 * fractions.iloc[0]:g} %)" if len(fractions) else f"{cases} cases"


def healthy_ids(run: Run) -> set[str]:
    return set(run.split.get("healthy", []))


def test_case(unit: str) -> str:
    """The test case a result row belongs to: ``case`` itself, or ``case`` of a lesion ``case#n``
    (classification rows are per lesion)."""
    return str(unit).split("#")[0]


def expected_units(run: Run, cases: int, arm: str, ratio: float, healthy: bool | None = None) -> set[tuple[str, int]]:
    """The (test case, seed) units the grid plans for a group (cells left out are not expected)."""
    if run.grid.empty:
        return set()
    grid = run.grid[(run.grid["cases"] == cases) & (run.grid["arm"] == arm) & (run.grid["ratio"] == ratio)
                    & (run.grid["status"] == "planned")]
    folds = {f["index"]: f["test"] for f in run.split.get("folds", [])}
    sick = healthy_ids(run)
    units = {(case, int(seed)) for fold, seed in zip(grid["fold"], grid["seed"]) for case in folds.get(int(fold), [])}
    if healthy is not None:
        units = {u for u in units if (u[0] in sick) == healthy}
    return units


def _select(results: pd.DataFrame, metric: str, region: str, healthy: bool | None) -> pd.DataFrame:
    frame = results[(results["metric"] == metric) & (results["region"].astype(str) == region)]
    if healthy is not None and "healthy" in frame:
        frame = frame[frame["healthy"].astype(str).str.lower() == str(healthy).lower()]
    return frame


def _fmt(value: float, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _signed(value: float, fmt: str) -> str:
    return "n/a" if math.isnan(value) else format(value, "+" + fmt)


def cell_summary(run: Run, metric: str, region: str, cases: int, arm: str, ratio: float,
                 healthy: bool | None = False) -> dict[str, Any]:
    """Mean, SD, n, not-applicable and missing counts of one metric in one group."""
    frame = _select(run.results, metric, region, healthy)
    frame = frame[(frame["cases"] == cases) & (frame["arm"] == arm) & (frame["ratio"] == ratio)]
    values = frame["value"].astype(float)
    present = {(test_case(c), int(s)) for c, s in zip(frame["case"], frame["seed"])}
    missing = len(expected_units(run, cases, arm, ratio, healthy) - present)
    return {"mean": float(values.mean()) if values.notna().any() else math.nan,
            "sd": float(values.std(ddof=1)) if values.notna().sum() > 1 else math.nan,
            "n": int(values.notna().sum()), "na": int(values.isna().sum()), "missing": missing}


def _cell_text(summary: dict[str, Any], fmt: str) -> str:
    value = _fmt(summary["mean"], fmt)
    if not math.isnan(summary["sd"]):
        value += f" ± {format(summary['sd'], fmt)}"
    return f"{value} (n {summary['n']}; n/a {summary['na']}; missing {summary['missing']})"


def paired(run: Run, metric: str, region: str, cases: int, arm: str, ratio: float,
           healthy: bool | None = False) -> tuple[PairedEffect, int, int]:
    """Paired effect of a group vs ``none`` at the same size, with its not-applicable and missing counts."""
    frame = _select(run.results, metric, region, healthy)
    base = frame[(frame["cases"] == cases) & (frame["arm"] == "none")].set_index(UNIT)["value"]
    arm_rows = frame[(frame["cases"] == cases) & (frame["arm"] == arm) & (frame["ratio"] == ratio)]
    values = arm_rows.set_index(UNIT)["value"]
    joined = values.to_frame("arm").join(base.rename("none"), how="inner")
    diff = (joined["arm"] - joined["none"]).astype(float)
    na = int(diff.isna().sum())
    expected = expected_units(run, cases, arm, ratio, healthy) & expected_units(run, cases, "none", 0.0, healthy)
    missing = len(expected - {(test_case(c), int(s)) for c, s in joined.index})
    matrix = diff.unstack("seed").to_numpy(dtype=float) if len(diff) else np.empty((0, 1))
    return paired_effect(matrix), na, missing


# ----------------------------------------------------------------------------------------------- tables
def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return "_no rows_\n"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def regions_of(run: Run, metric: str) -> list[str]:
    """Regions of a metric in the order the backend wrote them."""
    frame = run.results[run.results["metric"] == metric]
    return list(dict.fromkeys(frame["region"].astype(str)))


def metric_table(run: Run, metric: str, healthy: bool | None = False) -> str:
    """One table: rows (training cases, arm), regions as columns, ``mean ± SD (n; n/a; missing)``."""
    regions = regions_of(run, metric)
    rows = []
    for cases, arm, ratio in _groups(run):
        cells = [_cell_text(cell_summary(run, metric, r, cases, arm, ratio, healthy), info(metric).fmt)
                 for r in regions]
        rows.append([_size_label(run, cases), arm_text(run, arm, ratio), *cells])
    return _markdown(["training", "arm", *regions], rows)


def effect_rows(run: Run, metric: str, region: str, healthy: bool | None = False) -> list[dict[str, Any]]:
    """Every arm vs ``none`` per training size, controls first: the paired statistics as a list of dicts."""
    key = ("effects", metric, region, healthy)
    if key not in run.cache:
        run.cache[key] = _effect_rows(run, metric, region, healthy)
    return run.cache[key]


def _effect_rows(run: Run, metric: str, region: str, healthy: bool | None) -> list[dict[str, Any]]:
    out = []
    for cases, arm, ratio in _groups(run):
        if arm == "none":
            continue
        effect, na, missing = paired(run, metric, region, cases, arm, ratio, healthy)
        cells = run.cells[(run.cells["cases"] == cases) & (run.cells["arm"] == arm) & (run.cells["ratio"] == ratio)] \
            if not run.cells.empty else run.cells
        added = int(cells["n_added"].iloc[0]) if len(cells) and "n_added" in cells else 0
        gates = [str(g) for g in cells["gate"] if isinstance(g, str)] if len(cells) and "gate" in cells else []
        gate = ", ".join(f"{g} {gates.count(g)}/{len(gates)}" for g in sorted(set(gates)) if g) or "—"
        out.append({"cases": cases, "arm": arm, "ratio": ratio, "added": added, "effect": effect, "na": na,
                    "missing": missing, "gate": gate, "verdict": verdict(arm, effect, info(metric))})
    return out


def verdict(arm: str, effect: PairedEffect, metric: MetricInfo) -> str:
    """What the interval says, in words (controls say whether they behaved as a control must).

    A difference counts only when the 95 % CI excludes 0 *and* the paired test gives p < 0.05: with few
    cases the percentile bootstrap is too narrow, and the exact test then keeps the claim honest.
    """
    if math.isnan(effect.ci_low):
        return "too few cases"
    significant = effect.p_value < ALPHA
    if metric.higher_is_better:
        better, worse, not_better = effect.ci_low > 0, effect.ci_high < 0, effect.mean <= 0
    else:
        better, worse, not_better = effect.ci_high < 0, effect.ci_low > 0, effect.mean >= 0
    better, worse = better and significant, worse and significant
    if arm == "real-cases":
        return "detected (CI excludes 0)" if better else "NOT detected: the grid cannot see an effect this size"
    if arm == "wrong-labels":
        return "worse than none" if worse else "≤ none" if not_better else "NOT ≤ none: check the grid"
    return "better" if better else "worse" if worse else "no difference detected"


def effect_table(run: Run, metric: str, region: str, healthy: bool | None = False) -> str:
    m = info(metric)
    rows = []
    for row in effect_rows(run, metric, region, healthy):
        e = row["effect"]
        label = arm_text(run, row["arm"], row["ratio"])
        if row["arm"] in CONTROL_NOTE:
            label += f" ({CONTROL_NOTE[row['arm']]})"
        rows.append([_size_label(run, row["cases"]), label, str(row["added"]), _signed(e.mean, m.fmt),
                     f"[{_signed(e.ci_low, m.fmt)}, {_signed(e.ci_high, m.fmt)}]", _fmt(e.p_value, ".3f"),
                     _fmt(e.mde, m.fmt), f"{e.n_cases} / {e.n_pairs}", str(row["na"]), str(row["missing"]),
                     row["verdict"], row["gate"]])
    return _markdown(["training", "arm vs none", "added cases", "Δ mean", "95 % CI", "p", "MDE (80 %)",
                      "n cases / pairs", "n/a", "missing", "reading", "gate"], rows)


def effect_by_region_table(run: Run, metric: str) -> str:
    """Δ vs none ``[95 % CI]`` per region (columns) for every arm (rows)."""
    m = info(metric)
    regions = regions_of(run, metric)
    per_region = {r: {(x["cases"], x["arm"], x["ratio"]): x for x in effect_rows(run, metric, r)} for r in regions}
    rows = []
    for cases, arm, ratio in _groups(run):
        if arm == "none":
            continue
        cells = []
        for region in regions:
            x = per_region[region].get((cases, arm, ratio))
            e = x["effect"] if x else None
            counts = f"(n {e.n_pairs}; n/a {x['na']}; missing {x['missing']})" if x else ""
            cells.append(f"n/a {counts}" if e is None or math.isnan(e.mean) else
                         f"{_signed(e.mean, m.fmt)} [{_signed(e.ci_low, m.fmt)}, {_signed(e.ci_high, m.fmt)}] {counts}")
        rows.append([_size_label(run, cases), arm_text(run, arm, ratio), *cells])
    return _markdown(["training", "arm vs none", *regions], rows)


def healthy_table(run: Run, region: str) -> str:
    """Healthy test cases: false-positive volume, share of cases with any false positive, voxel specificity."""
    rows = []
    for cases, arm, ratio in _groups(run):
        fp = _select(run.results, "false_positive_ml", region, True)
        fp = fp[(fp["cases"] == cases) & (fp["arm"] == arm) & (fp["ratio"] == ratio)]["value"].astype(float)
        volume = cell_summary(run, "false_positive_ml", region, cases, arm, ratio, True)
        spec = cell_summary(run, "specificity", region, cases, arm, ratio, True)
        clean = int((fp == 0).sum())
        rows.append([_size_label(run, cases), arm_text(run, arm, ratio), _cell_text(volume, ".2f"),
                     f"{len(fp) - clean} of {len(fp)}", _fmt(spec["mean"], ".5f"),
                     f"{clean / len(fp):.2f}" if len(fp) else "n/a"])
    return _markdown(["training", "arm", f"false-positive volume {region} (mL)", "cases with any false positive",
                      "voxel specificity", "case-level specificity"], rows)


def training_table(run: Run) -> str:
    if run.cells.empty:
        return "_no finished cells_\n"
    rows = []
    for cases, arm, ratio in _groups(run):
        c = run.cells[(run.cells["cases"] == cases) & (run.cells["arm"] == arm) & (run.cells["ratio"] == ratio)]
        if c.empty:
            continue
        stopped = c["stopped_early"].astype(str).str.lower().eq("true").sum() if "stopped_early" in c else 0
        rows.append([_size_label(run, cases), arm_text(run, arm, ratio), str(len(c)),
                     f"{int(c['n_train_total'].iloc[0])}",
                     _fmt(float(c["best_step"].median()), ".0f") if "best_step" in c else "n/a",
                     _fmt(float(c["steps_run"].median()), ".0f") if "steps_run" in c else "n/a",
                     f"{stopped} of {len(c)}", f"{c['seconds'].mean():.0f}"])
    return _markdown(["training", "arm", "runs", "training cases (real + added)", "median best step",
                      "median steps run", "stopped early", "seconds per run"], rows)


# ---------------------------------------------------------------------------------------------- writing
def _headline(run: Run) -> tuple[str, str]:
    """Headline metric (Dice, else mAP50, ...) and region: the named region with the most labels (the
    whole lesion, e.g. BraTS WT), else ``all`` (detection), else the last region."""
    metrics = set(run.results["metric"]) if not run.results.empty else set()
    metric = next((m for m in HEADLINE_METRICS if m in metrics), sorted(metrics)[0] if metrics else "dice")
    regions = regions_of(run, metric)
    named = {str(k): len(v) for k, v in (run.config.get("regions") or {}).items() if str(k) in regions}
    if named:
        return metric, max(named, key=lambda k: (named[k], -list(named).index(k)))
    if "all" in regions:
        return metric, "all"
    return metric, regions[-1] if regions else ""


def _budget_line(run: Run) -> str:
    if run.cells.empty or "budget" not in run.cells:
        return ""
    budgets = set(run.cells["budget"].astype(str))
    if len(budgets) == 1:
        return f"Every run had the same budget: {', '.join(f'{k} {v}' for k, v in json.loads(budgets.pop()).items())}."
    return f"WARNING: the runs had {len(budgets)} different budgets: {sorted(budgets)}."


def _setup(run: Run) -> list[str]:
    cfg, split = run.config, run.split
    folds = split.get("folds", [])
    all_cases = sorted({c for f in folds for c in f["test"]})
    healthy = healthy_ids(run)
    tested = sorted(set(run.results["case"])) if not run.results.empty else []
    seeds = sorted(int(s) for s in set(run.results["seed"])) if not run.results.empty else []
    grid = cfg.get("grid", {})
    sizes = sorted({int(c) for c in run.grid["cases"]}) if not run.grid.empty else []
    n_healthy = len(healthy & set(all_cases))
    lines = [f"Protocol: {cfg['protocol']}" if cfg.get("protocol") else "",
             f"Data: {len(all_cases)} labelled cases ({len(all_cases) - n_healthy} with a lesion, {n_healthy} "
             f"healthy) in {len(folds)} patient-level folds (seed {split.get('seed')}); "
             f"per fold {', '.join(str(len(f['train'])) for f in folds)} training-pool, "
             f"{', '.join(str(len(f['val'])) for f in folds)} validation (model selection) and "
             f"{', '.join(str(len(f['test'])) for f in folds)} test cases.",
             f"Tested: {len(tested)} cases x {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); every test case "
             "is predicted once per seed by a model that never saw it, its GAN or its validation.",
             f"Training sets of {', '.join(_size_label(run, n) for n in sizes)}; arms "
             f"{', '.join(grid.get('arms', []))}; added cases per real case {grid.get('ratios', [])}.",
             _budget_line(run),
             "Statistics: unit = (test case, seed); each arm minus `none` on the same case and seed; mean of "
             "per-case means; 95 % CI by nested bootstrap (cases, then seeds; 2000 draws); p from a sign-flip "
             "permutation test on per-case means; MDE = smallest true difference a paired t-test would detect "
             "with 80 % power at alpha 0.05 given the observed spread of per-case differences. A difference is "
             "read as real only when the CI excludes 0 and p < 0.05 (the sign-flip test needs at least 6 "
             "cases to reach that).",
             "Not applicable (n/a): a region the case's reference lacks (e.g. no necrosis); healthy test cases "
             "(no foreground) are reported apart and never enter lesion metrics. Missing: planned (case, seed) "
             "results not (yet) in the run folder.",
             HD95_CONVENTION + "."]
    left = run.grid[run.grid["status"] != "planned"] if not run.grid.empty else run.grid
    if len(left):
        reasons = sorted(set(left["status"]))
        lines.append(f"Left out of the grid: {len(left)} cells ({'; '.join(reasons[:3])}).")
    return [line for line in lines if line]


def _control_sentences(run: Run, metric: str, region: str) -> list[str]:
    lines = []
    m = info(metric)
    for row in effect_rows(run, metric, region):
        if row["arm"] in CONTROL_NOTE:
            e = row["effect"]
            lines.append(f"- {CONTROL_NOTE[row['arm']]} `{arm_label(row['arm'], row['ratio'])}` at "
                         f"{_size_label(run, row['cases'])}: Δ {_signed(e.mean, m.fmt)} "
                         f"[{_signed(e.ci_low, m.fmt)}, {_signed(e.ci_high, m.fmt)}], {row['verdict']}; "
                         f"MDE {_fmt(e.mde, m.fmt)}.")
    return lines


def realism_section(run_dir: Path) -> list[str]:
    """Report lines: the realism gate of every synthesis stage in ``run_dir/synthetic`` and its montage."""
    folders = sorted(p.parent for p in (run_dir / "synthetic").glob("*/realism.md"))
    if not folders:
        return []
    lines = ["## Gates of the synthesis stages", "",
             "Each stage's synthetic cases against the real training cases it was fitted on, before any "
             "downstream training: the realism gate (`medgan.metrics.realism`) for lesion synthesis, the "
             "lesion-preservation and HU checks (`medgan.metrics.translation_checks`) for translation. "
             "A failed stage is refused unless the pipeline "
             f"sets `synthesis: {{allow_failed_gate: true}}`; its arm is then marked \"{GATE_FLAG.strip()}\" "
             "in every table.", ""]
    for folder in folders:
        text = (folder / "realism.md").read_text().replace("### ", f"### {folder.name}: ", 1)
        lines += [text, ""]
        if (folder / "montage.png").is_file():
            lines += [f"![synthetic cases of {folder.name} beside their sources]"
                      f"({(folder / 'montage.png').relative_to(run_dir)})", ""]
    return lines


def write_report(run_dir: str | Path, run_dirs: Sequence[str | Path] | None = None,
                 pipeline: dict[str, Any] | None = None, split: dict[str, Any] | None = None) -> Path:
    """Write ``summary.md``, ``report.md`` and figures into ``run_dir`` from ``run_dirs`` (default: itself).

    Returns:
        The path of ``summary.md``.
    """
    from medgan.reports.figures import example_figure, forest_plot, learning_curves

    run_dir = Path(run_dir)
    run = read_run(run_dirs or [run_dir])
    if pipeline:
        run.config = pipeline
    if split:
        run.split = split
    name = run.config.get("name", run_dir.name)
    metric, region = _headline(run)
    m = info(metric)
    unit = f" ({m.unit})" if m.unit else ""
    setup = _setup(run)
    figures = {}
    if not run.results.empty:
        figures["forest"] = forest_plot(run, metric, region, run_dir / "forest.png")
        figures["curves"] = learning_curves(run, run_dir / "learning_curves.png")
        figures["examples"] = example_figure(run, region, run_dir / "example_predictions.png")
    headline = [f"## Effect of each arm vs `none`: {m.title}{unit}, region {region}, cases with a lesion", "",
                effect_table(run, metric, region) if not run.results.empty else "_no results yet_\n"]
    controls = _control_sentences(run, metric, region) if not run.results.empty else []
    summary = [f"# Benchmark summary: {name}", "", *setup[:4], "", *headline]
    if controls:
        summary += ["Controls:", "", *controls, ""]
    if figures.get("forest"):
        summary += [f"![every arm's effect with its 95 % CI]({figures['forest'].name})", ""]
    summary += ["Full tables (every metric and region, healthy cases, training curves): [report.md](report.md).", ""]
    report = [f"# Benchmark report: {name}", "", "## Setup", "", *[f"- {line}" for line in setup], "", *headline]
    if controls:
        report += ["Controls:", "", *controls, ""]
    if figures.get("forest"):
        report += [f"![forest plot]({figures['forest'].name})", ""]
    if not run.results.empty:
        for metric_name in [x for x in LESION_METRICS if x in set(run.results["metric"])] + sorted(
                set(run.results["metric"]) - set(LESION_METRICS) - {"false_positive_ml", "specificity"}):
            mi = info(metric_name)
            u = f" ({mi.unit})" if mi.unit else ""
            report += [f"## {mi.title}{u}: cases with a lesion", "",
                       "mean ± SD over (test case, seed); n = values, n/a = region absent from the case's "
                       "reference, missing = planned results not in the run.", "",
                       metric_table(run, metric_name), "",
                       "Difference to `none` [95 % CI] (n pairs; n/a pairs; missing pairs):", "",
                       effect_by_region_table(run, metric_name), ""]
        if healthy_ids(run) & set(run.results["case"]) and "false_positive_ml" in set(run.results["metric"]):
            report += ["## Healthy test cases (no foreground in the reference)", "",
                       "Every predicted voxel is a false positive; these cases never enter the lesion tables.", "",
                       healthy_table(run, region), ""]
    report += realism_section(run_dir)
    report += ["## Training", "", training_table(run), ""]
    if figures.get("curves"):
        report += ["Validation score (mean Dice over the validation cases) against training step, per arm; "
                   "thin lines are single runs, thick lines their mean.", "",
                   f"![learning curves]({figures['curves'].name})", ""]
    if figures.get("examples"):
        report += [f"![example predictions]({figures['examples'].name})", ""]
    if not run.cells.empty:
        report += [f"Training + evaluation time: {run.cells['seconds'].sum() / 60:.1f} CPU-min over "
                   f"{len(run.cells)} runs.", ""]
    path = run_dir / "summary.md"
    write_text_atomic(path, "\n".join(summary))
    write_text_atomic(run_dir / "report.md", "\n".join(report))
    return path
