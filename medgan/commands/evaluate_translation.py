"""``medgan evaluate translation RUN DATASET``: MAE (HU for CT), PSNR and SSIM inside the body mask of
a CycleGAN/pix2pix run on paired held-out cases, against baselines fitted on the run's training cases
(global linear, per-tissue), the identity and the per-case oracle; then the lesion preservation and
HU plausibility checks (:mod:`medgan.metrics.translation_checks`) per case and in total.

Also a mode of ``medgan evaluate`` (``medgan evaluate translation RUN DATASET``) once that command
registers it: :func:`register` names the sub-command after the parser it is added to.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = ("MAE (HU for CT), PSNR and SSIM inside the body mask of a CycleGAN/pix2pix run on paired held-out "
               "cases, against baselines fitted on the run's training cases (global linear, per-tissue), the "
               "identity and the per-case oracle; then the lesion preservation and HU plausibility checks per case "
               "and in total.")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from medgan.training.run import read_ids

    parser.add_argument("run_dir", type=Path, metavar="RUN",
                        help="run folder of a family that translates (cyclegan, pix2pix)")
    parser.add_argument("data", type=Path, metavar="DATASET", help="paired dataset holding both modalities")
    parser.add_argument("--cases", type=read_ids, metavar="IDS_OR_FILE",
                        help="test case ids (default: every case of DATASET the run did not train on); "
                             "training cases are refused")
    parser.add_argument("--direction", choices=["a2b", "b2a"], default="a2b", help="a2b (default) or b2a")
    parser.add_argument("--source", help="input modality in DATASET (default: the run's)")
    parser.add_argument("--target", help="reference modality in DATASET (default: the run's)")
    parser.add_argument("--csv", type=Path, help="write the per-case rows to this CSV file")
    parser.add_argument("--figure", type=Path, help="write a PNG of one test slice: input, synthetic, real")
    parser.add_argument("--checks", type=Path, metavar="JSON",
                        help="write the lesion/HU checks (per case, per lesion, the verdict) to this JSON file")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=4, help="slices or windows per forward pass")
    parser.set_defaults(run=run)


def register_translation(modes: argparse._SubParsersAction) -> None:
    """Add ``translation`` to the modes of ``medgan evaluate`` (``modes`` = its sub-parsers)."""
    parser = modes.add_parser("translation", help="paired MR->CT style evaluation of a translation run",
                              description=DESCRIPTION)
    _add_arguments(parser)


def register(commands: argparse._SubParsersAction) -> None:
    """``medgan evaluate translation``: registered among the modes of ``medgan evaluate``."""
    register_translation(commands)


def run(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from medgan.io.atomic import write_text_atomic
    from medgan.io.datasets import load_dataset
    from medgan.metrics.translation import (
        METHODS,
        evaluate_translator,
        fit_translation_baselines,
        summary_table,
        training_pairs,
        unit_of,
    )
    from medgan.metrics.translation_checks import check_case, fit_tissue_ranges, gate_markdown, translation_gate
    from medgan.reports.translation import save_figure
    from medgan.synthesis.translate import load_translator
    from medgan.training.run import held_out_cases, training_cases

    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    dataset = load_dataset(args.data)
    cases = held_out_cases(args.run_dir, dataset, args.cases)  # training cases are refused
    translator = load_translator(args.run_dir, args.direction, device)
    translator.batch_size = args.batch_size
    train = sorted(training_cases(args.run_dir, dataset))
    baselines = ranges = None
    if train:
        baselines = fit_translation_baselines(translator, dataset, train, args.source, args.target)
        ranges = fit_tissue_ranges([ref for _, ref, _ in training_pairs(translator, dataset, train, args.source,
                                                                        args.target)], unit_of(translator))
    checks: list[dict] = []

    def inspect(arrays: dict) -> None:
        checks.append(check_case(arrays["id"], arrays["prediction"], arrays["reference"], arrays["label"],
                                 arrays["mask"], arrays["spacing"], ranges))

    example: dict = {}
    rows = evaluate_translator(translator, dataset, cases, args.source, args.target,
                               keep=example if args.figure else None, baselines=baselines, inspect=inspect)
    table = summary_table(rows)
    unit = rows[0]["unit"]
    print(f"{args.run_dir} on {args.data}: {table['cases'].iloc[0]} held-out case(s); "
          f"MAE in {unit}, PSNR in dB, SSIM; inside the body mask")
    table.insert(0, "what", [METHODS.get(m, m) for m in table.index])
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.precision", 3,
                           "display.max_colwidth", 60):
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    if baselines is None:
        print("global-linear and per-tissue baselines: not fitted (the run trained on no case of this dataset)")
    else:
        print(f"global-linear and per-tissue baselines fitted on the run's {len(train)} training case(s) only")
    gate = translation_gate(checks)
    print()
    print(gate_markdown(gate, ranges, title="Lesion preservation and HU plausibility"))
    if args.csv:
        write_text_atomic(args.csv, pd.DataFrame(rows).to_csv(index=False))
        print(f"per-case rows written to {args.csv}")
    if args.checks:
        record = {**gate, "ranges": ranges.to_dict() if ranges else None,
                  "cases_detail": [{k: v for k, v in c.items()} for c in checks]}
        write_text_atomic(args.checks, json.dumps(record, indent=1))
        print(f"checks written to {args.checks}")
    if args.figure:
        window = (-1000.0, 1500.0) if unit == "HU" else None
        save_figure(example, args.figure, window)
        print(f"figure written to {args.figure}")
    return 0
