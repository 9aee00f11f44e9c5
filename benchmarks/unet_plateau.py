"""Has the ``none`` arm's U-Net converged within a pipeline's budget? Learning curves to check it.

Runs the pipeline's ``none`` arm (first seed, the chosen folds, every training size) for ``--factor``
times its ``unet.steps`` without early stopping, then replays the pipeline's own stopping rule
(``unet.steps`` maximum, ``unet.patience`` validations without a better score) on each curve and
reports, per training size, the validation Dice the rule selects against the best the long run ever
reached. A gap near 0 means the budget and stopping rule leave nothing on the table.

Writes ``plateau.png`` (validation Dice against step, one panel per size; the dotted line is the
pipeline's budget, crosses mark where its rule stops) and ``plateau.md`` (the table) into ``--out``,
next to the benchmark run folder it trained (``--out``/run, resumable).

Usage:
    OMP_NUM_THREADS=1 python benchmarks/unet_plateau.py pipelines/brain_tumor_bowles.yaml \
        --out runs/plateau --folds 0 1 --factor 3 --workers 2
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd


def stop_point(curve: pd.DataFrame, max_steps: int, patience: int | None) -> tuple[int, float]:
    """(step where the pipeline's rule stops, validation Dice it keeps) on one long learning curve."""
    best, since, last = -math.inf, 0, 0
    for step, score in zip(curve["step"], curve["val_dice"]):
        if step > max_steps:
            break
        if score > best:
            best, since = score, 0
        else:
            since += 1
            if patience is not None and since >= patience:
                return int(step), best
        last = int(step)
    return last, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/plateau"))
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--cases", type=int, nargs="+", help="training sizes (default: the pipeline's)")
    parser.add_argument("--factor", type=float, default=3.0, help="long run = factor x unet.steps")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    from medgan.benchmark.pipeline import load_pipeline
    from medgan.benchmark.run import run_benchmark

    pipeline = load_pipeline(args.pipeline)
    budget, patience = pipeline.unet.steps, pipeline.unet.patience
    grid = {"arms": ["none"], "seeds": pipeline.grid.seeds[:1], "folds": args.folds}
    if args.cases:
        grid.update({"cases": args.cases, "fractions": None})
    long_run = load_pipeline(args.pipeline, overrides={
        "name": f"{pipeline.name}-plateau", "grid": grid,
        "unet": {"steps": int(args.factor * budget), "patience": None}})
    run_dir = args.out / "run"
    run_benchmark(long_run, run_dir, workers=args.workers)
    curves = pd.read_csv(run_dir / "curves.csv")
    rows = []
    for (cases, fold), curve in curves.groupby(["cases", "fold"]):
        curve = curve.sort_values("step")
        step, kept = stop_point(curve, budget, patience)
        rows.append({"cases": int(cases), "fold": int(fold), "best_long_run": curve["val_dice"].max(),
                     "step_of_best": int(curve.loc[curve["val_dice"].idxmax(), "step"]),
                     "rule_stops_at": step, "rule_keeps": kept, "gap": curve["val_dice"].max() - kept})
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [f"Pipeline {pipeline.name}: budget {budget} steps, validation every {pipeline.unet.val_every}, "
             f"patience {patience}; long run {int(args.factor * budget)} steps without stopping.", "",
             "| training cases | fold | best validation Dice (long run) | at step | rule stops at | rule keeps | gap |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.cases} | {r.fold} | {r.best_long_run:.3f} | {r.step_of_best} | {r.rule_stops_at} | "
              f"{r.rule_keeps:.3f} | {r.gap:.3f} |" for r in table.itertuples()]
    (args.out / "plateau.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(table["cases"].unique())
    fig, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 3.2), squeeze=False, sharey=True)
    for ax, cases in zip(axes[0], sizes):
        for fold, curve in curves[curves["cases"] == cases].groupby("fold"):
            curve = curve.sort_values("step")
            line, = ax.plot(curve["step"], curve["val_dice"], lw=1.2, label=f"fold {fold}")
            row = table[(table["cases"] == cases) & (table["fold"] == fold)].iloc[0]
            ax.plot(row["rule_stops_at"], row["rule_keeps"], "x", color=line.get_color(), ms=9, mew=2)
        ax.axvline(budget, color="black", ls=":", lw=1)
        ax.set_title(f"none arm, {cases} training cases", fontsize=9)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation Dice")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "plateau.png", dpi=100)
    print(f"wrote {args.out / 'plateau.png'} and {args.out / 'plateau.md'}")


if __name__ == "__main__":
    main()
