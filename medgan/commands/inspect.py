"""``medgan inspect DATASET``: a table of cases and every problem found; exit 0 only when valid."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medgan.io.layouts import add_format_option


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("inspect", help="describe a dataset and list its problems",
                                 description="Describe every case of a dataset and list every problem found. "
                                             "Exits 0 only when the dataset is valid.")
    parser.add_argument("dataset", type=Path, help="dataset folder")
    add_format_option(parser, help="dataset layout (default: detect)")
    parser.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from medgan.io.atomic import write_text_atomic
    from medgan.io.inspect import inspect_dataset

    dataset, table, problems = inspect_dataset(args.dataset, format=args.format)
    print(f"{args.dataset}: {dataset.layout} layout, {len(dataset.cases)} cases, "
          f"modalities {list(dataset.modalities)}")
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.max_colwidth", 60):
        print(table.drop(columns=["notes"]).to_string(index=False))
    if args.csv:
        write_text_atomic(args.csv, table.to_csv(index=False))
        print(f"table written to {args.csv}")
    for note in table["notes"]:
        if note:
            print(f"warning: {note}")
    if problems:
        print(f"{len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print("dataset is valid")
    return 0
