"""``medgan sample-data --cases N --out DIR``: simulate a BraTS-layout cohort of any size, like the shipped one."""

from __future__ import annotations

import argparse
from pathlib import Path

#: the shipped cases the generated cohort is compared with, when the repository is at hand
SHIPPED = Path(__file__).resolve().parents[2] / "sample_data" / "brats"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sample-data", help="simulate a larger BraTS-layout cohort like the shipped sample data",
        description="Simulate N brain MR/CT cases in the BraTS 2023 layout (t1n, t1c, t2w, t2f, ct, seg with "
                    "labels 1 NCR, 2 ED, 3 ET; 56x64x56 voxels of 3.5 mm) with the simulation of the shipped "
                    "sample data, from the ICBM152 atlas copy medgan ships: no download, no nilearn. Same options, "
                    "same bytes; an interrupted run resumes. Seed 0 reproduces the shipped cases as the first "
                    "members; other seeds give new subjects. Prints the cohort's tumour statistics next to the "
                    "shipped cases'. About 1-3 s per case and core.")
    parser.add_argument("--cases", type=int, required=True, help="number of 3D cases (healthy ones included)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder: missing, empty, or left by an earlier run with the same options")
    parser.add_argument("--seed", type=int, default=0, help="global seed, >= 0 (default 0)")
    parser.add_argument("--healthy-share", type=float, default=0.2,
                        help="share of healthy cases in [0, 1], rounded half up (default 0.2, as shipped)")
    parser.add_argument("--slices", type=int, default=0,
                        help="also simulate this many 2D lesion slices into OUT/lesions2d (default 0)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes making cases in parallel; the output is the same for any number (default 1)")
    parser.add_argument("--preview", action="store_true", help="also write OUT/preview.png, a montage of a few cases")
    parser.add_argument("--compare", type=Path, default=None,
                        help="BraTS-layout folder to compare tumour statistics with (default: the shipped "
                             "sample_data/brats when present)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import csv

    from medgan.errors import ConfigError
    from medgan.sample_data.cohort import CohortOptions, generate_cohort
    from medgan.sample_data.preview import write_montage
    from medgan.sample_data.stats import case_stats, compare, format_table

    CohortOptions(args.cases, args.seed, args.healthy_share, args.slices).check()
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    reference = args.compare if args.compare is not None else (SHIPPED if SHIPPED.is_dir() else None)
    if reference is not None and not (reference / "cases.csv").is_file():
        raise ConfigError(f"--compare {reference}: no cases.csv (expected a medgan sample-data brats/ folder)")
    summary = generate_cohort(args.out, args.cases, seed=args.seed, healthy_share=args.healthy_share,
                              slices=args.slices, workers=args.workers, log=lambda line: print(line, flush=True))
    healthy = sum(c.healthy for c in summary.cases)
    print(f"wrote {len(summary.cases)} cases ({healthy} healthy) and {len(summary.slices)} 2D slices to "
          f"{args.out} in {summary.seconds:.0f} s ({summary.resumed} already there)")
    if reference is not None:
        with (reference / "cases.csv").open(newline="") as handle:
            ids = [row["case_id"] for row in csv.DictReader(handle)]
        rows = compare(summary.stats, [case_stats(reference, case) for case in ids])
        print(f"\ntumour statistics, median [25th, 75th percentile] over tumour cases: {reference} vs {args.out}")
        print(format_table(rows, reference="reference", generated="generated"))
        failed = [r.quantity for r in rows if not r.ok]
        if failed:
            print(f"warning: not within tolerance: {', '.join(failed)}")
    if args.preview:
        tumour = [c.case_id for c in summary.cases if not c.healthy][:3]
        shown = tumour + [c.case_id for c in summary.cases if c.healthy][:4 - len(tumour)]
        write_montage(args.out / "brats", shown, args.out / "preview.png",
                      title=f"SIMULATED cohort {args.out.name} (seed {args.seed}): {', '.join(shown)}")
        print(f"preview: {args.out / 'preview.png'}")
    return 0
