"""MR -> CT translation on the sample data: pix2pix (paired) and CycleGAN (unpaired: MR and CT from
disjoint halves of the training cases), 2D and 3D, each trained with its CPU preset for a fixed
wall-time budget, then scored on the held-out cases against the baselines fitted on the training
cases (global linear, per-tissue) and the per-case oracle, with the lesion preservation and HU
plausibility checks (:mod:`medgan.metrics.translation_checks`).

    OMP_NUM_THREADS=1 python benchmarks/bench_translation.py --out runs/bench-translation           # 4 x ~16 min
    OMP_NUM_THREADS=1 python benchmarks/bench_translation.py --out /tmp/bt --minutes 0.3 --quick    # proves it runs

The budget sets the step count: a short throwaway calibration run measures the seconds per step and
the start-up time, then the model is trained from scratch for the number of steps that fills the
budget (so its learning-rate schedule is the one planned for that length). Writes ``OUT/results.md`` (the
table and every check), ``OUT/results.json`` and ``OUT/figure.png`` (per model: MR, the per-tissue
baseline, the translation and the real CT of one held-out slice, lesion labels outlined in red).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medgan.cli import main as medgan  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEST_CASES = ["BraTS-SIM-00013-000", "BraTS-SIM-00014-000", "BraTS-SIM-00015-000", "BraTS-SIM-01003-000"]
PRESETS = {("pix2pix", 2): "pix2pix-sample-cpu.yaml", ("pix2pix", 3): "pix2pix-3d-sample-cpu.yaml",
           ("cyclegan", 2): "cyclegan-sample-cpu.yaml", ("cyclegan", 3): "cyclegan-3d-sample-cpu.yaml"}
CALIBRATION_STEPS = 30  # steps of the throwaway calibration run


def train(family: str, dims: int, args: argparse.Namespace, run: Path) -> dict[str, Any]:
    """Train one model for the budget; returns steps and wall/CPU seconds (calibration excluded)."""
    preset = REPO / "pipelines" / "translation" / PRESETS[(family, dims)]
    domains = (["--source", "t1n", "--target", "ct"] if family == "pix2pix"
               else ["--domain-a", "t1n", "--domain-b", "ct", "--disjoint-domains"])
    common = ["train", family, "--data", str(args.data), *domains, "--spatial-dims", str(dims),
              "--exclude-cases", ",".join(args.test_cases), "--config", str(preset),
              "--device", "cpu", "--seed", str(args.seed), "--no-progress"]
    budget = args.minutes * 60.0
    calibration = min(CALIBRATION_STEPS, args.max_steps)
    probe = run.with_name(run.name + "-calibration")  # a throwaway run: its schedule is not the real one's
    started = time.perf_counter()
    if medgan([*common, "--out", str(probe), "--steps", str(calibration)]) != 0:
        raise SystemExit(f"training {family} {dims}D failed")
    wall = time.perf_counter() - started
    logged = [json.loads(line).get("sec_per_step") for line in (probe / "stats.jsonl").read_text().splitlines()]
    logged = [v for v in logged if v]
    per_step = float(np.median(logged[-5:])) if logged else wall / calibration
    overhead = max(0.0, wall - calibration * per_step)  # loading and start-up
    steps = int(min(args.max_steps, max(calibration, (budget - overhead) / per_step)))
    started, cpu = time.perf_counter(), time.process_time()
    if medgan([*common, "--out", str(run), "--steps", str(steps)]) != 0:
        raise SystemExit(f"training {family} {dims}D failed")
    return {"steps": steps, "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
            "preset": str(preset.relative_to(REPO))}


def evaluate(run: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Rows, summary and checks of one run on the held-out cases (as ``medgan evaluate translation``)."""
    from medgan.io import load_dataset
    from medgan.metrics.translation import (
        evaluate_translator,
        fit_translation_baselines,
        summary_table,
        training_pairs,
        unit_of,
    )
    from medgan.metrics.translation_checks import check_case, fit_tissue_ranges, translation_gate
    from medgan.synthesis.translate import load_translator
    from medgan.training.run import held_out_cases, training_cases

    dataset = load_dataset(args.data)
    cases = held_out_cases(run, dataset, args.test_cases)
    translator = load_translator(run, "a2b", "cpu")
    train_ids = sorted(training_cases(run, dataset))
    baselines = fit_translation_baselines(translator, dataset, train_ids)
    ranges = fit_tissue_ranges([r for _, r, _ in training_pairs(translator, dataset, train_ids)], unit_of(translator))
    checks: list[dict[str, Any]] = []
    keep: dict[str, Any] = {}

    def inspect(arrays: dict[str, Any]) -> None:
        checks.append(check_case(arrays["id"], arrays["prediction"], arrays["reference"], arrays["label"],
                                 arrays["mask"], arrays["spacing"], ranges))
        label = arrays["label"]
        if not keep or (label is not None and np.asarray(label).any() and keep.get("label") is None):
            keep.clear()
            keep.update(arrays, baseline=baselines.per_tissue(translator.source.to_network(arrays["source"])))

    rows = evaluate_translator(translator, dataset, cases, baselines=baselines, inspect=inspect)
    table = summary_table(rows)
    return {"rows": rows, "summary": {m: {k: float(v) for k, v in table.loc[m].items()} for m in table.index},
            "gate": translation_gate(checks), "n_train": len(train_ids), "example": keep}


def figure(results: dict[str, dict[str, Any]], path: Path) -> None:
    """One row per model: MR, per-tissue baseline, translation, real CT; lesion labels outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medgan.reports.translation import _lesions, draw_outline, figure_slice

    fig, axes = plt.subplots(len(results), 4, figsize=(9.0, 2.4 * len(results)), dpi=100, squeeze=False)
    for row, (name, result) in zip(axes, results.items()):
        example = result["example"]
        z = figure_slice(example)
        outline = _lesions(example)
        outline = outline[..., z] if outline is not None else None
        mae = result["summary"]
        panels = [(example["source"][..., z], "MR t1n (input)", None),
                  (example["baseline"][..., z], f"per-tissue baseline\n{mae['per-tissue']['mae_mean']:.0f} HU", 1),
                  (example["prediction"][..., z], f"{name}\n{mae['model']['mae_mean']:.0f} HU", 1),
                  (example["reference"][..., z], "real CT", 1)]
        for ax, (image, title, hu) in zip(row, panels):
            ax.imshow(np.asarray(image).T[::-1], cmap="gray", vmin=-1000 if hu else None, vmax=1500 if hu else None)
            draw_outline(ax, outline)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        row[0].text(0, -0.08, example["id"], transform=row[0].transAxes, fontsize=7, va="top")
    fig.suptitle("held-out slice; MAE in HU over the held-out cases; red: lesion labels", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """The results table (means ± sd over held-out cases) and the checks per model, as Markdown."""
    from medgan.metrics.translation import METHODS
    from medgan.metrics.translation_checks import gate_markdown

    lines = [f"Held-out cases: {', '.join(args.test_cases)}; budget {args.minutes:g} min per model; seed {args.seed}.",
             "", "| model | steps | wall (min) | CPU (min) | MAE model (HU) | MAE global-linear | MAE per-tissue | "
             "MAE oracle | beats both baselines | vanished | spurious | HU implausible |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        s, g = r["summary"], r["gate"]

        def cell(method: str, s: dict = s) -> str:
            return f"{s[method]['mae_mean']:.1f} ± {s[method]['mae_std']:.1f}"

        beats = s["model"]["mae_mean"] < min(s["global-linear"]["mae_mean"], s["per-tissue"]["mae_mean"])
        lines.append(f"| {name} | {r['steps']} | {r['wall_s'] / 60:.1f} | {r['cpu_s'] / 60:.1f} | {cell('model')} | "
                     f"{cell('global-linear')} | {cell('per-tissue')} | {cell('oracle-linear')} | "
                     f"{'yes' if beats else 'no'} | {g['vanished']} / {g['judged']} | {g['spurious']} | "
                     f"{g['implausible']} / {g['cases']} |")
    lines += ["", "Methods: " + "; ".join(f"`{k}`: {v}" for k, v in METHODS.items()) + ".", ""]
    for name, r in results.items():
        lines.append(gate_markdown(r["gate"], title=f"{name}: lesion preservation and HU plausibility"))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO / "sample_data" / "brats")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-time budget per model")
    parser.add_argument("--max-steps", type=int, default=100000, help="cap on the steps of a model")
    parser.add_argument("--models", default="pix2pix-2d,pix2pix-3d,cyclegan-2d,cyclegan-3d")
    parser.add_argument("--test-cases", type=lambda v: v.split(","), default=TEST_CASES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 steps per model (proves the script runs)")
    args = parser.parse_args()
    if args.quick:
        args.max_steps = 2
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for model in args.models.split(","):
        family, dims = model.split("-")
        run = args.out / model
        if run.exists() or run.with_name(run.name + "-calibration").exists():
            raise SystemExit(f"{run} exists; give a new --out")
        timing = train(family, int(dims[0]), args, run)
        results[model] = {**timing, **evaluate(run, args)}
        print(f"{model}: {timing['steps']} steps in {timing['wall_s'] / 60:.1f} min; MAE "
              f"{results[model]['summary']['model']['mae_mean']:.1f} HU", flush=True)
    (args.out / "results.md").write_text(report(results, args))
    figure(results, args.out / "figure.png")
    slim = {k: {kk: vv for kk, vv in v.items() if kk != "example"} for k, v in results.items()}
    (args.out / "results.json").write_text(json.dumps(slim, indent=1, default=float))
    print(f"wrote {args.out / 'results.md'}, {args.out / 'results.json'} and {args.out / 'figure.png'}")


if __name__ == "__main__":
    main()
