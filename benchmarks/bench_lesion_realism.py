"""Lesion realism side by side: copy-paste, lesion inpainting and the DCGAN lesion GAN, each fitted on
the training cases of a fold and judged by the realism gate (:mod:`medgan.metrics.realism`) against
the real training lesions; held-out real tumours of the fold are the reference row (real vs real).
Synthetic cases go into the training cases, healthy ones first, and optionally into the healthy
cases resampled to anisotropic voxels (3 x 3 x 6 mm and 1 x 1 x 2 mm).

    python benchmarks/bench_lesion_realism.py --out runs/lesion-realism            # full (CPU: long)
    python benchmarks/bench_lesion_realism.py --out /tmp/realism --quick           # proves it runs

Writes ``OUT/report.md`` (one table, then every gate in full), ``OUT/results.json`` and a montage
per method and fold (``OUT/fold<k>/<method>/montage.png``).
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

from medgan.errors import DataError  # noqa: E402
from medgan.io import load_dataset  # noqa: E402
from medgan.metrics.realism import RealismOptions, realism_gate, realism_markdown  # noqa: E402
from medgan.transforms.lesion_extent import resample_to_spacing  # noqa: E402

METHODS = ("copy-paste", "lesion-inpaint", "lesion-gan")


def build_stage(method: str, args: argparse.Namespace) -> Any:
    """The synthesis stage of ``method`` with this script's budget."""
    from medgan.registry import SYNTHESIS_STAGES

    if method == "lesion-inpaint":
        return SYNTHESIS_STAGES.get("lesion-inpaint")(
            {"train": {"steps": args.inpaint_steps, "batch_size": args.batch_size}}, 3, args.device)
    if method == "lesion-gan":
        return SYNTHESIS_STAGES.get("lesion-gan")({"train": {"steps": args.gan_steps}, "data": {"mask": "labels"}},
                                                  3, args.device)
    return SYNTHESIS_STAGES.get(method)({}, 3, args.device)


def anisotropic(case: dict[str, Any], spacing: tuple[float, ...]) -> dict[str, Any]:
    """``case`` resampled to ``spacing`` (labels nearest), with its metadata updated."""
    own = tuple(float(s) for s in case["meta"]["spacing"])
    affine = np.array(case["meta"]["affine"], float)
    affine[:3, :3] = affine[:3, :3] @ np.diag([b / a for a, b in zip(own, spacing)])
    image = resample_to_spacing(case["image"], own, spacing).astype(case["image"].dtype)
    label = resample_to_spacing(case["label"], own, spacing, labels=True)
    tag = "x".join(f"{s:g}" for s in spacing)
    return {**case, "image": image, "label": label, "id": f"{case['id']}@{tag}",
            "meta": {**case["meta"], "spacing": spacing, "affine": affine}}


def summary_row(name: str, fold: int, result: Any, seconds: float | None) -> dict[str, Any]:
    c = result.criteria
    return {"method": name, "fold": fold, "passed": result.passed, "failed": result.failed(),
            "lesions": result.n_synthetic,
            "label_values": c["label_values"].passed,
            "proportion_points": round(c["label_proportions"].numbers["largest_difference"], 1),
            "volume_ratio": round(c["volume"].numbers.get("ratio", float("nan")), 2),
            "contrast_z": round(c["contrast"].numbers["largest_difference"], 2),
            "visible": c["visible"].passed,
            "sharpness": c["sharpness"].passed,
            "max_ncc": round(c["memorisation"].numbers["max_ncc"] or 0.0, 2),
            "seconds": None if seconds is None else round(seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "sample_data" / "brats")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--folds", type=int, default=2, help="folds of the tumour cases")
    parser.add_argument("--only-fold", type=int, help="run this fold only")
    parser.add_argument("--n", type=int, default=8, help="synthetic cases per method and fold")
    parser.add_argument("--inpaint-steps", type=int, default=600, help="the family's default budget")
    parser.add_argument("--gan-steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--anisotropic", action="store_true", help="also insert into 3x3x6 and 1x1x2 mm healthy cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="2 training steps, 2 cases: proves the script runs")
    args = parser.parse_args()
    if args.quick:
        args.inpaint_steps = args.gan_steps = 2
        args.n, args.only_fold = 2, 0
    from medgan.synthesis.montage import write_montage

    dataset = load_dataset(args.data)
    cases = [dataset.load(ref) for ref in dataset.cases if ref.label is not None]
    tumours = [c for c in cases if c["label"].any()]
    healthy = [c for c in cases if not c["label"].any()]
    order = np.random.default_rng(args.seed).permutation(len(tumours))
    rows, sections, results = [], [], {}
    for fold in range(args.folds):
        if args.only_fold is not None and fold != args.only_fold:
            continue
        held = [tumours[i] for i in order[fold::args.folds]]
        held_ids = {c["id"] for c in held}
        train = [c for c in tumours if c["id"] not in held_ids] + healthy
        real = [c for c in train if c["label"].any()]
        reference = realism_gate(held, real)
        rows.append(summary_row("real (held-out)", fold, reference, None))
        sections.append(realism_markdown(reference, f"fold {fold}: held-out real tumours"))
        targets = {"": train}
        if args.anisotropic:
            targets["@3x3x6"] = [anisotropic(c, (3.0, 3.0, 6.0)) for c in healthy]
            targets["@1x1x2"] = [anisotropic(c, (1.0, 1.0, 2.0)) for c in healthy[:2]]
        for method in args.methods.split(","):
            workdir = args.out / f"fold{fold}" / method
            workdir.mkdir(parents=True, exist_ok=True)
            stage = build_stage(method, args)
            started = time.perf_counter()
            stage.fit(train, workdir, args.seed)
            fitted = time.perf_counter() - started
            options = RealismOptions(allow_copies=method == "copy-paste")
            for tag, context in targets.items():
                started = time.perf_counter()
                try:
                    synthetic = stage.sample(args.n, args.seed, context)
                except DataError as error:  # e.g. an untrained GAN's lesions fit nowhere
                    rows.append({"method": method + tag, "fold": fold, "passed": False,
                                 "failed": [f"no synthetic cases: {error}"]})
                    sections.append(f"### fold {fold}: {method + tag}: FAILED\n\nno synthetic cases: {error}\n")
                    print(f"fold {fold} {method + tag}: no synthetic cases ({error})", flush=True)
                    continue
                seconds = fitted + time.perf_counter() - started
                by_id = {c["id"]: c for c in context}
                result = realism_gate(synthetic, real, sources={s["id"]: by_id[s["meta"]["source_case"]]
                                                               for s in synthetic if s["meta"].get("source_case")
                                                               in by_id}, options=options)
                name = method + tag
                rows.append(summary_row(name, fold, result, seconds))
                sections.append(realism_markdown(result, f"fold {fold}: {name}"))
                results[f"fold{fold}/{name}"] = result.to_dict()
                pairs = [(s, by_id.get(s["meta"].get("source_case"))) for s in synthetic[:4]]
                write_montage(pairs, workdir / f"montage{tag.replace('@', '_')}.png", dataset.label_names,
                              title=f"{name}, fold {fold}")
                print(f"fold {fold} {name}: {'PASS' if result.passed else 'FAIL ' + ','.join(result.failed())} "
                      f"({seconds:.0f} s)", flush=True)
    header = list(rows[0])
    table = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    table += ["| " + " | ".join(str(r.get(h, "")) for h in header) + " |" for r in rows]
    command = " ".join(["python", "benchmarks/bench_lesion_realism.py", *sys.argv[1:]])
    report = (f"# Lesion realism side by side\n\n`{command}`\n\n" + "\n".join(table) + "\n\n"
              + "\n".join(sections))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(report, encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "gates": results}, indent=1, default=str))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
