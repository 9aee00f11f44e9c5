"""``medgan demo``: the main job on the shipped sample data, end to end: inspect the dataset, augment
it, synthesise lesions (copy-paste and a GAN, each checked by the realism gate, with a montage of the
new cases beside their sources), and benchmark a U-Net with and without each augmentation
(``pipelines/demo.yaml``). Outputs go to ``--out``; re-running resumes."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="run the main job on the shipped sample data (a few minutes on CPU)",
                                 description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default: demo_output)")
    parser.add_argument("--quick", action="store_true", help="a few training steps only (seconds; for tests)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from medgan.benchmark.gate import read_gate
    from medgan.commands import augment, inspect
    from medgan.commands.benchmark import run_pipeline_file
    from medgan.errors import ConfigError

    data, pipeline = REPO / "sample_data" / "brats", REPO / "pipelines" / "demo.yaml"
    if not data.is_dir() or not pipeline.is_file():
        raise ConfigError(f"medgan demo needs the repository's sample_data/ and pipelines/ (looked in {REPO})")
    started = time.perf_counter()
    print(f"== 1/3 inspect {data}")
    if inspect.run(argparse.Namespace(dataset=data, format="auto", csv=args.out / "inspect.csv")) != 0:
        return 1
    print(f"\n== 2/3 augment: one augmented copy of every case, with a preview montage -> {args.out / 'augmented'}")
    augment.run(argparse.Namespace(dataset=data, out=args.out / "augmented", copies=1, config=None, seed=0,
                                   workers=1, include_original=False, preview=True, format="auto",
                                   no_progress=False))
    print(f"\n== 3/3 benchmark {pipeline.name}: U-Net with and without classic augmentation, copy-paste and "
          "GAN lesion synthesis (realism-gated), same held-out test cases")
    workers = 1 if args.quick else min(2, os.cpu_count() or 1)  # cells are single-threaded: one per core
    summary = run_pipeline_file(pipeline, out=args.out / "benchmark", quick=args.quick, workers=workers)
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} min")
    synthetic = args.out / "benchmark" / "synthetic"
    shown: set[str] = set()
    for folder in sorted(synthetic.glob("*k*_n*_s*")):  # the first fold of each stage
        stage = folder.name[:folder.name.rfind("k", 0, folder.name.rfind("_n"))]
        if stage in shown or not (folder / "montage.png").is_file():
            continue
        shown.add(stage)
        print(f"montage ({folder.name}, realism gate {read_gate(folder).get('status', 'not run')}): "
              f"{folder / 'montage.png'}")
    print(f"report: {summary}")
    return 0
