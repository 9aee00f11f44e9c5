"""``medgan benchmark PIPELINE.yaml``: does augmentation help downstream segmentation or detection?"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "benchmark", help="train downstream models with and without each augmentation and report the gain",
        description="Run a pipeline's grid (k patient-level folds x training-set size x arm x added-case ratio x "
                    "seed; the arms include a positive control that adds real cases and a negative control with "
                    "wrong labels) and write results.csv (one row per test case, seed, region and metric), "
                    "summary.md, report.md and figures. Every setting is checked against the data before "
                    "anything is written. Re-running the same command resumes.")
    parser.add_argument("pipeline", type=Path, help="pipeline YAML (see pipelines/ and docs/benchmark.md)")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/<pipeline name>[-quick])")
    parser.add_argument("--quick", action="store_true",
                        help="apply the pipeline's quick: overrides (a smoke run of seconds to a minute)")
    parser.add_argument("--workers", type=int, default=1,
                        help="cells and GAN stages trained in parallel processes, one CPU thread each "
                             "(default 1; use the number of cores)")
    parser.add_argument("--shard", help="run only shard i of n (i/n, e.g. 0/8 for a SLURM array index); "
                                        "merge the shards with medgan report")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--data", type=Path, help="dataset folder to use instead of the pipeline's data.path "
                                                  "(same modalities and labels, e.g. a larger simulated cohort)")
    parser.add_argument("--dry-run", action="store_true",
                        help="measure one real step of the U-Net and of each synthesis stage's GAN on the data, "
                             "print parameters, peak memory, s/step and the estimated total, write nothing; "
                             "refuse a grid that does not fit (MEDGAN_AVAILABLE_MB overrides the memory available)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from medgan.errors import ConfigError

    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.dry_run:
        from medgan.benchmark.cost import benchmark_costs, cost_lines
        from medgan.benchmark.pipeline import load_pipeline

        overrides = {"data": {"path": str(Path(args.data).resolve())}} if args.data else None
        pipeline = load_pipeline(args.pipeline, quick=args.quick, overrides=overrides)
        costs, budget, source = benchmark_costs(pipeline, args.device, args.shard)
        print("\n".join(cost_lines(costs, budget, source, args.workers)))
        return 0
    summary = run_pipeline_file(args.pipeline, out=args.out, quick=args.quick, workers=args.workers,
                                shard=args.shard, device=args.device, data=args.data)
    print(f"report: {summary} (full report: {summary.with_name('report.md')})")
    return 0


def run_pipeline_file(pipeline_file: str | Path, out: str | Path | None = None, quick: bool = False,
                      workers: int = 1, shard: str | None = None, device: str | None = None,
                      data: str | Path | None = None) -> Path:
    """Load a pipeline YAML, run its grid and write its report; returns the path of ``summary.md``.

    Backends (U-Net segmentation, YOLO detection) are entries of ``medgan.registry.BACKENDS``.
    ``data`` replaces the pipeline's ``data.path`` (e.g. a larger simulated cohort).
    """
    from medgan.benchmark.pipeline import load_pipeline
    from medgan.benchmark.run import run_benchmark
    from medgan.reports.benchmark import write_report

    overrides = {"data": {"path": str(Path(data).resolve())}} if data else None
    pipeline = load_pipeline(pipeline_file, quick=quick, overrides=overrides)
    out = Path(out) if out else Path("runs") / (pipeline.name + ("-quick" if quick else ""))
    run_benchmark(pipeline, out, workers=workers, shard=shard, device=device)
    return write_report(out)
