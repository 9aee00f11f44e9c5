"""Figures of the benchmark report: forest plot of every arm's paired effect, validation learning curves,
and example predictions titled by case with their Dice. Built from the run folder's files alone."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from medgan.reports.benchmark import Run

#: a fixed colour per label value (1, 2, 3, ...), the same in every panel and every report
LABEL_COLOURS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _arm_colour(arm: str) -> str:
    return {"none": "black", "real-cases": "tab:green", "wrong-labels": "tab:red", "classic": "tab:gray"}.get(
        arm, {"gan": "tab:blue", "gan+classic": "tab:purple"}.get(arm, "tab:orange"))


def forest_plot(run: Run, metric: str, region: str, path: Path) -> Path | None:
    """Each arm's mean difference to ``none`` with its 95 % CI, one row per (training size, arm)."""
    from medgan.reports.benchmark import CONTROL_NOTE, _size_label, arm_label, effect_rows, info

    rows = effect_rows(run, metric, region)
    rows = [r for r in rows if not math.isnan(r["effect"].mean)]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.42 * len(rows) + 1.4))
    labels = []
    for y, row in enumerate(rows):
        e = row["effect"]
        colour = _arm_colour(row["arm"])
        if not math.isnan(e.ci_low):
            ax.plot([e.ci_low, e.ci_high], [y, y], color=colour, lw=2)
        ax.plot(e.mean, y, "o", color=colour)
        if not math.isnan(e.mde):
            ax.plot([-e.mde, e.mde], [y, y], "|", color="0.6", ms=9)
        note = f" ({CONTROL_NOTE[row['arm']]})" if row["arm"] in CONTROL_NOTE else ""
        labels.append(f"{_size_label(run, row['cases'])}: {arm_label(row['arm'], row['ratio'])}{note}")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    m = info(metric)
    ax.set_xlabel(f"{m.title} difference to none, {region}{' (' + m.unit + ')' if m.unit else ''}; "
                  "bars: 95 % CI, grey ticks: ±MDE (80 % power)", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.xaxis.set_major_locator(plt.MaxNLocator(6))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curves(run: Run, path: Path) -> Path | None:
    """Validation score against step, one panel per training size, one colour per arm."""
    from medgan.reports.benchmark import _groups, _size_label, arm_label

    curves = run.curves
    if curves.empty:
        return None
    plt = _pyplot()
    sizes = sorted({int(c) for c in curves["cases"]})
    fig, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 3.2), squeeze=False, sharey=True)
    for ax, cases in zip(axes[0], sizes):
        for _, arm, ratio in [g for g in _groups(run) if g[0] == cases]:
            part = curves[(curves["cases"] == cases) & (curves["arm"] == arm) & (curves["ratio"] == ratio)]
            if part.empty:
                continue
            colour = _arm_colour(arm)
            for _, one in part.groupby(["fold", "seed"]):
                ax.plot(one["step"], one["val_dice"], color=colour, alpha=0.15, lw=0.7)
            mean = part.groupby("step")["val_dice"].mean()
            ax.plot(mean.index, mean.to_numpy(), color=colour, lw=2, label=arm_label(arm, ratio))
        ax.set_title(_size_label(run, cases), fontsize=9)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation Dice")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def example_figure(run: Run, region: str, path: Path) -> Path | None:
    """One row per arm at the smallest training size (first fold and seed): image, reference, prediction,
    the row titled by case, arm and that case's Dice; a legend of the label names."""
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    from medgan.reports.benchmark import _groups, _size_label, arm_label

    if not run.examples:
        return None
    by_key = {p.stem: p for p in run.examples}
    groups = _groups(run)
    if not groups:
        return None
    cases = groups[0][0]
    fold = int(run.grid["fold"].min()) if not run.grid.empty else 0
    seed = min(int(s) for s in run.results["seed"])
    chosen = [(arm, ratio, by_key[f"k{fold}_n{cases}_{arm}_r{ratio:g}_s{seed}"]) for c, arm, ratio in groups
              if c == cases and f"k{fold}_n{cases}_{arm}_r{ratio:g}_s{seed}" in by_key]
    if not chosen:
        return None
    names = {int(k): str(v) for k, v in (run.config.get("label_names") or {}).items()}
    n_labels = max([len(LABEL_COLOURS)] + list(names))
    colours = [LABEL_COLOURS[i % len(LABEL_COLOURS)] for i in range(n_labels)]
    cmap, norm = ListedColormap(colours), BoundaryNorm(np.arange(0.5, n_labels + 1), n_labels)
    plt = _pyplot()
    fig, axes = plt.subplots(len(chosen), 3, figsize=(7.5, 2.6 * len(chosen) + 0.6), squeeze=False)
    dice = run.results[(run.results["metric"] == "dice") & (run.results["region"].astype(str) == region)]
    for row, (arm, ratio, file) in zip(axes, chosen):
        data = np.load(file)
        case = str(data["case"])
        value = dice[(dice["case"] == case) & (dice["arm"] == arm) & (dice["ratio"] == ratio)
                     & (dice["cases"] == cases) & (dice["seed"] == seed)]["value"]
        score = f"Dice {region} {value.iloc[0]:.3f}" if len(value) and not math.isnan(value.iloc[0]) else \
            f"Dice {region} n/a"
        for ax, key in zip(row, ("image", "label", "prediction")):
            ax.imshow(data["image"].T, cmap="gray", origin="lower")
            if key != "image":
                labels = data[key].T.astype(int)
                ax.imshow(np.ma.masked_equal(labels, 0), cmap=cmap, norm=norm, alpha=0.6,
                          origin="lower", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(arm_label(arm, ratio), fontsize=8)
        row[1].set_title(f"case {case}", fontsize=8)
        row[2].set_title(f"{arm_label(arm, ratio)}: {score}", fontsize=8)
    for ax, title in zip(axes[0], ("image (first channel)", "reference", "prediction")):
        ax.set_title(f"{title}\n{ax.get_title()}".strip(), fontsize=8)
    present = sorted({int(v) for f in chosen for key in ("label", "prediction")
                      for v in np.unique(np.load(f[2])[key]) if v})
    handles = [Patch(color=LABEL_COLOURS[(v - 1) % len(LABEL_COLOURS)], label=names.get(v, str(v))) for v in present]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.suptitle(f"{_size_label(run, cases)}, fold {fold}, seed {seed}: axial slice with the most reference "
                 "foreground", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
