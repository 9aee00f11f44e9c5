"""``medgan evaluate``: how close, diverse, complete and private is a synthetic dataset?

The default mode compares a synthetic dataset with real data (distribution distance, diversity,
mode coverage, memorisation, segmentation plausibility). Other modes are subcommands
(``medgan evaluate MODE ...``), each a module ``medgan/commands/evaluate_<mode>.py`` with
``register(subparsers)`` and ``run(args)``, listed in :data:`MODES`.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

#: sub-modes of ``medgan evaluate``: module ``medgan.commands.evaluate_<name>`` per entry
MODES: tuple[str, ...] = ("translation", "realism")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="measure synthetic data against real data (offline)",
        description="Compare a synthetic dataset with real data: Fréchet distance and KID in a feature space "
                    "(radiomics by default; Inception-v3 from a local weights file), precision/recall, "
                    "diversity (MS-SSIM/SSIM), class coverage, memorisation of training cases and "
                    "segmentation plausibility. Writes report.md, metrics.json and closest_pairs.png to --out.")
    parser.add_argument("--real", type=Path, help="real reference dataset (ideally not used to train the generator)")
    parser.add_argument("--synthetic", type=Path, help="synthetic dataset")
    parser.add_argument("--train", type=Path,
                        help="the generator's training set (default: --real plays that role, with a leave-one-out "
                             "memorisation yardstick); a --real case with the voxels of a --train case is refused")
    parser.add_argument("--out", type=Path, help="output folder")
    from medgan.metrics.evaluation import default_metrics

    parser.add_argument("--metrics", help="comma-separated metric names (default: every metric that applies): "
                                          + ", ".join(default_metrics()))
    parser.add_argument("--extractor", help="feature extractor: radiomics (default) or inception")
    parser.add_argument("--inception-weights", type=Path, help="local torchvision inception_v3 state dict")
    parser.add_argument("--inception-sha256", help="expected SHA-256 of --inception-weights")
    from medgan.metrics.spatial import SPATIAL_EXTRACTORS

    parser.add_argument("--spatial-extractor",
                        help="per-position feature extractor of single-image metrics: "
                             + ", ".join(SPATIAL_EXTRACTORS.names()) + " (default filterbank: a fixed Gaussian "
                             "filter bank, no weights)")
    parser.add_argument("--modalities", help="comma-separated modalities to use (default: all)")
    parser.add_argument("--format", default="auto", choices=["auto", "folder", "msd", "nnunet", "brats"],
                        help="dataset layout (default: detect)")
    parser.add_argument("--config", type=Path, help="YAML of evaluation settings (EvaluateOptions); "
                                                    "command-line options override it")
    parser.add_argument("--seed", type=int, help="seed of every random choice (default 0)")
    parser.add_argument("--segmenter-steps", type=int, help="training steps of the plausibility U-Net (default 100)")
    parser.add_argument("--memorisation-percentile", type=float,
                        help="percentile of real-to-training distances that marks memorisation (default 1)")
    parser.set_defaults(run=run)
    if MODES:
        modes = parser.add_subparsers(dest="mode", metavar="MODE", required=False)
        for name in MODES:
            importlib.import_module(f"medgan.commands.evaluate_{name}").register(modes)


def _options(args: argparse.Namespace):
    from medgan.config import load_config
    from medgan.metrics.context import EvaluateOptions

    options = load_config(args.config, EvaluateOptions) if args.config else EvaluateOptions()
    if args.metrics:
        options.metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if args.extractor:
        options.extractor = args.extractor
    if args.spatial_extractor:
        options.spatial_extractor = args.spatial_extractor
    for name in ("inception_weights", "inception_sha256", "seed", "memorisation_percentile"):
        if getattr(args, name) is not None:
            setattr(options, name, getattr(args, name))
    if args.segmenter_steps is not None:
        options.segmenter_steps = args.segmenter_steps
    return options


def run(args: argparse.Namespace) -> int:
    from medgan.errors import ConfigError
    from medgan.metrics.features import EXTRACTORS
    from medgan.metrics.report import summary_line
    from medgan.metrics.spatial import SPATIAL_EXTRACTORS
    from medgan.reports.evaluation import evaluate_datasets

    missing = [f"--{name}" for name in ("real", "synthetic", "out") if getattr(args, name) is None]
    if missing:
        raise ConfigError(f"missing required option(s) {', '.join(missing)}")
    options = _options(args)
    EXTRACTORS.get(options.extractor)
    SPATIAL_EXTRACTORS.get(options.spatial_extractor)
    modalities = [m.strip() for m in args.modalities.split(",")] if args.modalities else None
    document = evaluate_datasets(args.real, args.synthetic, args.train, args.out, options,
                                 format=args.format, modalities=modalities, progress=True)
    for name, result in document["metrics"].items():
        print(f"{name}: {summary_line(name, result)}")
    for name, reason in document["skipped"].items():
        print(f"{name}: not computed ({reason})")
    for note in document["notes"]:
        print(f"note: {note}")
    for flag in document["flags"]:
        print(f"FLAG {flag}")
    print(f"report written to {args.out / 'report.md'} and {args.out / 'metrics.json'}")
    return 0
