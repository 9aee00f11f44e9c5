"""``medgan benchmark PIPELINE.yaml``: does augmentation help downstream segmentation or detection?"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "benchmark", help="train downstream models with and without each augmentation and report the gain",
        description="Run a pipeline's grid (data fraction x arm x synthetic ratio x seed) on the same held-out "
                    "test cases and write results.csv, summary.md and plots. Re-running resumes.")
    parser.add_argument("pipeline", type=Path, help="pipeline YAML (see pipelines/)")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/<pipeline name>[-quick])")
    parser.add_argument("--quick", action="store_true", help="apply the pipeline's quick: overrides (CI-sized run)")
    parser.add_argument("--workers", type=int, default=1, help="cells trained in parallel processes")
    parser.add_argument("--shard", help="run only shard i of n (i/n, e.g. a SLURM array index)")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from medgan.benchmark import run_pipeline_file

    summary = run_pipeline_file(args.pipeline, out=args.out, quick=args.quick, workers=args.workers,
                                shard=args.shard, device=args.device)
    print(f"report: {summary}")
    return 0
