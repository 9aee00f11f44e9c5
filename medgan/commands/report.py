"""``medgan report RUN_DIR [RUN_DIR ...]``: rebuild a benchmark report from its files (merging shards)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "report", help="rebuild a benchmark report from its run folder(s); merges shards",
        description="Rebuild summary.md, report.md and the figures of a benchmark from the files of its run "
                    "folder (results.csv, cells.csv, curves.csv, grid.csv, split.json, config.yaml) without "
                    "training anything. Several folders (the shards of one grid, from --shard i/n) are merged.")
    parser.add_argument("runs", type=Path, nargs="+", help="benchmark run folder(s); shards of one grid are merged")
    parser.add_argument("--out", type=Path, help="where to write the merged report (default: the first run folder)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import shutil

    from medgan.errors import DataError
    from medgan.io import write_text_atomic
    from medgan.reports.benchmark import read_run, write_report

    out = args.out or args.runs[0]
    first = args.runs[0]
    merging = len(args.runs) > 1 or out.resolve() != first.resolve()
    if merging:
        for other in args.runs[1:]:
            for name in ("split.json", "config.yaml"):
                if (other / name).is_file() and (first / name).is_file() and \
                        (other / name).read_bytes() != (first / name).read_bytes():
                    what = "split" if name == "split.json" else "settings"
                    raise DataError(other / name, f"differs from {first / name}: these runs are not shards of "
                                                  f"one grid (other {what}); merge only shards of one run")
        merged = read_run(args.runs)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("results", "cells", "curves", "grid"):
            write_text_atomic(out / f"{name}.csv", getattr(merged, name).to_csv(index=False))
        write_text_atomic(out / "split.json", json.dumps(merged.split, indent=2))
        shutil.copyfile(first / "config.yaml", out / "config.tmp.yaml")
        (out / "config.tmp.yaml").replace(out / "config.yaml")
    summary = write_report(out, run_dirs=args.runs)
    print(f"report: {summary} (full report: {summary.with_name('report.md')})")
    return 0
