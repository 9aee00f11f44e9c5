"""``medgan translate RUN INPUT OUT [--direction a2b|b2a]``: translate whole volumes with a trained
CycleGAN or pix2pix run (e.g. MR -> CT).

INPUT is an image file (OUT is then the output file) or a dataset (OUT is a new dataset in the
same layout, same case ids, labels copied unchanged). 2D runs go slice by slice, 3D runs by
overlapping windows blended with Gaussian weights. CT is written as int16 HU, MR as int16 on the
training scale; every output keeps the input's affine.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_translate_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``medgan translate`` and ``medgan synthesize`` of a translation run."""
    parser.add_argument("--direction", choices=["a2b", "b2a"], default="a2b",
                        help="a2b: domain A -> B (e.g. MR -> CT, default); b2a: the reverse (CycleGAN only)")
    parser.add_argument("--modality", help="input channel to translate (default: the run's source modality)")
    parser.add_argument("--keep-channels", action="store_true",
                        help="dataset input: keep the other channels; the translation replaces the channel of "
                             "the target's name or is appended (default: the translation is the only channel)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=int, default=4, help="slices or windows per forward pass")
    parser.add_argument("--overlap", type=float, default=0.5, help="relative overlap of 3D windows (0 to <1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("translate", help="translate volumes with a CycleGAN/pix2pix run",
                                 description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, metavar="RUN",
                        help="run folder of a family that translates (cyclegan, pix2pix)")
    parser.add_argument("input", type=Path, metavar="INPUT", help="image file or dataset folder")
    parser.add_argument("out", type=Path, metavar="OUT", help="output image file or dataset folder")
    add_translate_options(parser)
    parser.set_defaults(run=run)


def translate_options(args: argparse.Namespace) -> dict:
    """The options of :func:`medgan.synthesis.translate.translate_path` from parsed arguments."""
    return {"direction": args.direction, "modality": args.modality, "keep_channels": args.keep_channels,
            "device": args.device, "batch_size": args.batch_size, "overlap": args.overlap,
            "progress": not args.no_progress}


def run(args: argparse.Namespace) -> int:
    from medgan.synthesis.translate import translate_path

    print(translate_path(args.run_dir, args.input, args.out, **translate_options(args)))
    return 0
