"""``medgan report RUN_DIR [RUN_DIR ...]``: rebuild a benchmark report from results.csv (merging shards)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("report", help="rebuild a benchmark report from its results.csv (merges shards)")
    parser.add_argument("runs", type=Path, nargs="+", help="benchmark run folder(s); shards are merged")
    parser.add_argument("--out", type=Path, help="where to write the merged report (default: the first run folder)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from medgan.io import write_text_atomic
    from medgan.reports.benchmark import read_results, write_report

    out = args.out or args.runs[0]
    out.mkdir(parents=True, exist_ok=True)
    if len(args.runs) > 1 or out != args.runs[0]:
        merged: pd.DataFrame = read_results(args.runs)
        write_text_atomic(out / "results.csv", merged.to_csv(index=False))
    summary = write_report(out)
    print(f"report: {summary}")
    return 0
