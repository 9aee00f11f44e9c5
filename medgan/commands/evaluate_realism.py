"""``medgan evaluate realism REAL SYNTHETIC``: the realism gate of a synthetic set of lesions against the
real training cases: pass/fail per criterion with its numbers; exit status 1 when the gate fails.

Only the lesions a synthetic case gained over its source are measured: sources are looked up by the
``source_case`` (or ``source``) column of ``SYNTHETIC/manifest.csv`` in ``--sources`` (default: REAL).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(modes: argparse._SubParsersAction) -> None:
    """Add ``realism`` to the modes of ``medgan evaluate``."""
    parser = modes.add_parser("realism", help="realism gate: synthetic lesions against real training lesions",
                              description=__doc__.split("\n\n")[0])
    parser.add_argument("real", type=Path, metavar="REAL", help="the real training cases (labelled dataset)")
    parser.add_argument("synthetic", type=Path, metavar="SYNTHETIC", help="the synthetic cases (labelled dataset)")
    parser.add_argument("--sources", type=Path, help="dataset the synthetic cases were made from (default: REAL)")
    parser.add_argument("--allow-copies", action="store_true",
                        help="do not fail on near-copies of real lesions (copy-paste sets copy by definition)")
    parser.add_argument("--modalities", help="comma-separated modalities to use (default: all of REAL)")
    parser.add_argument("--out", type=Path, help="also write realism.json and realism.md to this folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from medgan.errors import DataError
    from medgan.io import load_dataset, write_text_atomic
    from medgan.metrics.realism import RealismOptions, realism_gate, realism_markdown

    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()] if args.modalities else None
    real_data = load_dataset(args.real, modalities=modalities)
    synthetic_data = load_dataset(args.synthetic, modalities=list(real_data.modalities))
    real = [real_data.load(ref) for ref in real_data.cases if ref.label is not None]
    synthetic = [synthetic_data.load(ref) for ref in synthetic_data.cases if ref.label is not None]
    if not synthetic:
        raise DataError(args.synthetic, "holds no labelled case")
    sources = {}
    manifest = args.synthetic / "manifest.csv"
    if manifest.is_file():
        rows = pd.read_csv(manifest, dtype=str)
        column = next((c for c in ("source_case", "source") if c in rows), None)
        if column and "case_id" in rows:
            source_data = load_dataset(args.sources or args.real, modalities=list(real_data.modalities))
            known = {ref.id for ref in source_data.cases}
            for case_id, source in zip(rows["case_id"], rows[column]):
                if isinstance(source, str) and source in known:
                    sources[str(case_id)] = source_data.load(source)
    try:
        result = realism_gate(synthetic, real, sources, RealismOptions(allow_copies=args.allow_copies))
    except ValueError as error:
        raise DataError(args.real, str(error)) from None
    for name, criterion in result.criteria.items():
        print(f"{name}: {'pass' if criterion.passed else 'FAIL'}: {criterion.summary}")
    print(f"realism gate: {'PASSED' if result.passed else 'FAILED (' + ', '.join(result.failed()) + ')'} "
          f"({result.n_synthetic} synthetic vs {result.n_real} real lesions; {len(sources)} synthetic case(s) "
          "measured against their source)")
    if args.out:
        write_text_atomic(args.out / "realism.json", json.dumps(result.to_dict(), indent=1))
        write_text_atomic(args.out / "realism.md", realism_markdown(result))
        print(f"written to {args.out / 'realism.md'} and {args.out / 'realism.json'}")
    return 0 if result.passed else 1
