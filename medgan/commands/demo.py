"""``medgan demo``: the main job on the shipped sample data."""

from __future__ import annotations

import argparse
from pathlib import Path

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="run the main job on the shipped sample data")
    parser.add_argument("--data", type=Path, default=SAMPLE_DATA / "brats", help="dataset (default: sample data)")
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from medgan.commands import inspect

    print(f"== inspect {args.data}")
    return inspect.run(argparse.Namespace(dataset=args.data, format="auto", csv=args.out / "inspect.csv"))
