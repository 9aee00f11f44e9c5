"""``medgan augment DATASET OUT --copies N``: augmented copies of every labelled case, same layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from medgan.config import seed_value
from medgan.io.layouts import add_format_option


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "augment", help="write augmented copies of a dataset",
        description="Write N augmented copies of every labelled case of DATASET into OUT, in the same "
                    "layout (OUT is itself a dataset). Re-running the same command resumes.")
    parser.add_argument("dataset", type=Path, help="input dataset folder (never modified)")
    parser.add_argument("out", type=Path, help="output folder (outside the input)")
    parser.add_argument("--copies", type=int, default=1, help="augmented copies per case (default: 1)")
    parser.add_argument("--config", type=Path, help="augmentation YAML (default: the default preset)")
    parser.add_argument("--seed", type=seed_value, default=0,
                        help="base seed, a whole number in [0, 2**63 - 1] (default: 0)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--include-original", action="store_true", help="also copy the original cases")
    parser.add_argument("--preview", action="store_true", help="write OUT/preview.png montage")
    add_format_option(parser, help="input layout (default: detect)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from medgan.augment import augment_dataset

    summary = augment_dataset(args.dataset, args.out, args.copies, config=args.config, seed=args.seed,
                              workers=args.workers, include_original=args.include_original,
                              preview=args.preview, format=args.format, progress=not args.no_progress)
    print(f"{summary.cases} labelled cases: {summary.written} cases written, {summary.skipped} already done "
          f"(resumed) -> {summary.out}")
    if summary.unlabelled:
        print(f"note: {summary.unlabelled} unlabelled case(s) left out (only labelled cases are augmented)")
    print(f"manifest: {summary.manifest}")
    if summary.preview:
        print(f"preview: {summary.preview}")
    return 0
