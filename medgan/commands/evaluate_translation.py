"""``medgan evaluate translation RUN DATASET``: MAE (HU for CT), PSNR and SSIM inside the body mask of
a CycleGAN/pix2pix run on paired held-out cases, against the identity and linear-rescaling baselines.

Also a mode of ``medgan evaluate`` (``medgan evaluate translation RUN DATASET``) once that command
registers it: :func:`register` names the sub-command after the parser it is added to.
"""

from __future__ import annotations

import argparse
from pathlib import Path


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
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=4, help="slices or windows per forward pass")
    parser.set_defaults(run=run)


def register_translation(modes: argparse._SubParsersAction) -> None:
    """Add ``translation`` to the modes of ``medgan evaluate`` (``modes`` = its sub-parsers)."""
    parser = modes.add_parser("translation", help="paired MR->CT style evaluation of a translation run",
                              description=__doc__.split("\n\n")[0])
    _add_arguments(parser)


def register(commands: argparse._SubParsersAction) -> None:
    """``medgan evaluate translation``: registered among the modes of ``medgan evaluate``."""
    register_translation(commands)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from medgan.io.atomic import write_text_atomic
    from medgan.io.datasets import load_dataset
    from medgan.metrics.translation import evaluate_translator, summary_table
    from medgan.reports.translation import save_figure
    from medgan.synthesis.translate import load_translator
    from medgan.training.run import held_out_cases

    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    dataset = load_dataset(args.data)
    cases = held_out_cases(args.run_dir, dataset, args.cases)  # training cases are refused
    translator = load_translator(args.run_dir, args.direction, device)
    translator.batch_size = args.batch_size
    example: dict = {}
    rows = evaluate_translator(translator, dataset, cases, args.source, args.target,
                               keep=example if args.figure else None)
    table = summary_table(rows)
    unit = rows[0]["unit"]
    print(f"{args.run_dir} on {args.data}: {table['cases'].iloc[0]} held-out case(s); "
          f"MAE in {unit}, PSNR in dB, SSIM; inside the body mask")
    with pd.option_context("display.width", 200, "display.max_columns", None, "display.precision", 3):
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    if args.csv:
        write_text_atomic(args.csv, pd.DataFrame(rows).to_csv(index=False))
        print(f"per-case rows written to {args.csv}")
    if args.figure:
        window = (-1000.0, 1500.0) if unit == "HU" else None
        save_figure(example, args.figure, window)
        print(f"figure written to {args.figure}")
    return 0
