"""Benchmark report from ``results.csv`` alone: mean ± std tables in the shape of Bowles et al. 2018
(Table 3: arms as rows, data fractions as columns), a paired comparison of every arm against
``none`` across seeds, and plots. ``medgan report RUN_DIR [RUN_DIR ...]`` rebuilds it (merging shards).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medgan.errors import DataError
from medgan.io import write_text_atomic

HEADLINE_METRICS = ("dice", "sensitivity", "specificity", "hd95", "lesion_sensitivity",
                    "map50", "ap50", "precision", "centre_distance_mm", "false_positives")  # 2nd line: detection


def read_results(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate the ``results.csv`` of one or more run folders (shards), dropping duplicate cells."""
    frames = []
    for run in run_dirs:
        path = Path(run) / "results.csv"
        if not path.is_file():
            raise DataError(path, "no results.csv here; is this a benchmark run folder?")
        frames.append(pd.read_csv(path))
    results = pd.concat(frames, ignore_index=True)
    keys = ["fraction", "arm", "ratio", "seed", "region", "metric"]
    return results.drop_duplicates(subset=keys, keep="last").sort_values(keys).reset_index(drop=True)


def _arm_label(arm: str, ratio: float) -> str:
    return arm if ratio == 0 else f"{arm} (x{ratio:g})"


def _mean_std(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "n/a"
    if len(values) == 1:
        return f"{values.iloc[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def summary_table(results: pd.DataFrame, metric: str, region: str) -> pd.DataFrame:
    """Arms (with ratio) as rows, data fractions as columns, ``mean ± std`` over seeds."""
    subset = results[(results["metric"] == metric) & (results["region"].astype(str) == region)]
    if subset.empty:
        return pd.DataFrame()
    subset = subset.assign(arm_label=[_arm_label(a, r) for a, r in zip(subset["arm"], subset["ratio"])])
    table = subset.groupby(["arm_label", "fraction"])["value"].apply(_mean_std).unstack("fraction")
    table = table[sorted(table.columns, reverse=True)]
    table.columns = [f"{100 * c:g} % data" for c in table.columns]
    order = {"none": 0, "classic": 1, "gan": 2, "gan+classic": 3, "synthetic-only": 4}
    table = table.loc[sorted(table.index, key=lambda s: (order.get(s.split(" ")[0], 9), s))]
    table.index.name = "arm"
    return table


def paired_comparison(results: pd.DataFrame, metric: str, region: str) -> pd.DataFrame:
    """Each arm minus ``none`` on the same seed: mean difference, 95 % t interval, Wilcoxon p-value."""
    from scipy import stats

    subset = results[(results["metric"] == metric) & (results["region"].astype(str) == region)]
    base = subset[subset["arm"] == "none"].set_index(["fraction", "seed"])["value"]
    rows = []
    for (fraction, arm, ratio), group in subset[subset["arm"] != "none"].groupby(["fraction", "arm", "ratio"]):
        paired = group.set_index(["fraction", "seed"])["value"].to_frame("arm").join(base.rename("none"),
                                                                                      how="inner").dropna()
        diff = (paired["arm"] - paired["none"]).to_numpy()
        n = len(diff)
        row: dict[str, Any] = {"fraction": fraction, "arm": _arm_label(arm, ratio), "n_seeds": n,
                               "mean_difference": float(diff.mean()) if n else math.nan}
        if n >= 2:
            half = stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n)
            row["ci95_low"], row["ci95_high"] = row["mean_difference"] - half, row["mean_difference"] + half
            row["wilcoxon_p"] = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
        else:
            row["ci95_low"] = row["ci95_high"] = row["wilcoxon_p"] = math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured Markdown table, index included."""
    if table.empty:
        return "_no rows_\n"

    def cell(value: Any, fmt: str = floatfmt) -> str:
        if isinstance(value, (float, np.floating)):
            return "n/a" if math.isnan(value) else format(value, fmt)
        return str(value)

    names = [n or "" for n in table.index.names]
    header = names + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in zip(table.index, table.astype(object).itertuples(index=False)):
        keys = index if isinstance(index, tuple) else (index,)
        lines.append("| " + " | ".join([cell(k, "g") for k in keys] + [cell(v) for v in row]) + " |")
    return "\n".join(lines) + "\n"


def _headline_region(results: pd.DataFrame) -> str:
    regions = [str(r) for r in results["region"].astype(str).unique()]
    for preferred in ("all", "WT", "foreground", "1"):  # "all": detection metrics pooled over classes
        if preferred in regions:
            return preferred
    return sorted(regions)[0]


def write_report(run_dir: str | Path, run_dirs: Sequence[str | Path] | None = None,
                 pipeline: dict[str, Any] | None = None, split: dict[str, Any] | None = None) -> Path:
    """Write ``summary.md`` and plots into ``run_dir`` from the results of ``run_dirs`` (default: itself)."""
    run_dir = Path(run_dir)
    results = read_results(run_dirs or [run_dir])
    if split is None and (run_dir / "split.json").is_file():
        split = json.loads((run_dir / "split.json").read_text())
    if pipeline is None and (run_dir / "config.yaml").is_file():
        import yaml

        pipeline = yaml.safe_load((run_dir / "config.yaml").read_text())
    lines = [f"# Benchmark report: {pipeline.get('name', run_dir.name) if pipeline else run_dir.name}", ""]
    if pipeline and pipeline.get("protocol"):
        lines += [f"Protocol: {pipeline['protocol']}", ""]
    if split:
        lines += [f"Split (seed {split['seed']}, fixed before any augmentation or GAN training): "
                  f"{len(split['train'])} training, {len(split['val'])} validation, {len(split['test'])} test cases.",
                  f"Test cases: {', '.join(split['test'])}.", ""]
    seeds = sorted(results["seed"].unique())
    lines += [f"Values are the mean over test cases of each run, then mean ± std over {len(seeds)} seed(s) "
              f"({', '.join(map(str, seeds))}). Every arm trains the same network for the same number of steps.", ""]
    if "seconds" in results:
        per_cell = results.drop_duplicates(["fraction", "arm", "ratio", "seed"])
        minutes = per_cell["seconds"].sum() / 60
        lines += [f"Training + evaluation time: {minutes:.1f} min over {len(per_cell)} runs.", ""]
    headline = _headline_region(results)
    for metric in HEADLINE_METRICS:
        regions = sorted(results.loc[results["metric"] == metric, "region"].astype(str).unique())
        for region in regions:
            table = summary_table(results, metric, region)
            if not table.empty:
                lines += [f"## {metric} — region {region}", "", _markdown(table)]
    for metric in ("dice", "sensitivity", "map50"):
        comparison = paired_comparison(results, metric, headline)
        if not comparison.empty:
            lines += [f"## Paired comparison against `none`: {metric}, region {headline}", "",
                      "Difference (arm − none) on the same seed and data; 95 % t interval over seeds and the "
                      "Wilcoxon signed-rank p-value (with 3 seeds the smallest possible p is 0.25: "
                      "treat these as descriptive).", "",
                      _markdown(comparison.set_index(["fraction", "arm"]), ".4f")]
    plots = _plots(run_dir, results, headline)
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    path = run_dir / "summary.md"
    write_text_atomic(path, "\n".join(lines))
    write_text_atomic(run_dir / "report.md", "\n".join(lines))
    return path


def _plots(run_dir: Path, results: pd.DataFrame, region: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for metric in ("dice", "sensitivity"):
        subset = results[(results["metric"] == metric) & (results["region"].astype(str) == region)]
        if subset.empty:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for (arm, ratio), group in subset.groupby(["arm", "ratio"]):
            stats_ = group.groupby("fraction")["value"].agg(["mean", "std"]).reset_index()
            ax.errorbar(100 * stats_["fraction"], stats_["mean"], yerr=stats_["std"].fillna(0), marker="o",
                        capsize=3, label=_arm_label(arm, ratio))
        ax.set_xlabel("training data used (%)")
        ax.set_ylabel(f"{metric} ({region})")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = run_dir / f"{metric}_vs_fraction.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    examples = sorted((run_dir / "examples").glob("*.npz")) if (run_dir / "examples").is_dir() else []
    first_seed = min(results["seed"]) if len(results) else 0
    examples = [p for p in examples if p.stem.endswith(f"_s{first_seed}")][:8]
    if examples:
        fig, axes = plt.subplots(len(examples), 3, figsize=(6, 2 * len(examples)), squeeze=False)
        for row, path in zip(axes, examples):
            data = np.load(path)
            for ax, key in zip(row, ("image", "label", "prediction")):
                ax.imshow(data["image"].T, cmap="gray", origin="lower")
                if key != "image":
                    ax.imshow(np.ma.masked_equal(data[key].T, 0), cmap="autumn", alpha=0.6, origin="lower",
                              vmin=0, vmax=max(3, int(data["label"].max())))
                ax.set_axis_off()
            row[0].set_title(path.stem, fontsize=6, loc="left")
        fig.tight_layout()
        path = run_dir / "example_predictions.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths
