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
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="cyclegan or pix2pix run folder")
    parser.add_argument("input", type=Path, metavar="INPUT", help="image file or dataset folder")
    parser.add_argument("out", type=Path, metavar="OUT", help="output image file or dataset folder")
    add_translate_options(parser)
    parser.set_defaults(run=run)


def translate_path(run_dir: Path, source: Path, out: Path, args: argparse.Namespace) -> int:
    """Translate a file or a dataset; print what was written; return the exit status."""
    import numpy as np

    from medgan.errors import ConfigError, DataError
    from medgan.io.datasets import load_dataset
    from medgan.io.image import image_suffix, read_image, write_image
    from medgan.synthesis.translate import Translator, translate_dataset

    if not 0.0 <= args.overlap < 1.0:
        raise ConfigError(f"--overlap must lie in [0, 1), found {args.overlap}")
    if args.batch_size < 1:
        raise ConfigError("--batch-size must be at least 1")
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    translator = Translator.from_run(run_dir, args.direction, device)
    translator.overlap, translator.batch_size = args.overlap, args.batch_size
    what = f"{translator.source_modality} -> {translator.target_modality}"
    if source.is_file():
        if not image_suffix(out):
            raise ConfigError(f"{out}: INPUT is a file, so OUT must be an image file name (.nii.gz, .mha, ...)")
        if out.resolve() == source.resolve():
            raise ConfigError(f"{out}: refusing to overwrite the input")
        array, meta = read_image(source)
        if array.shape[0] != 1:
            raise DataError(source, f"has {array.shape[0]} channels; translate a single-channel image "
                                    "(or give the dataset and --modality)")
        result = translator.translate_array(array[0])[None]
        write_image(out, result.astype(np.float32), {**meta, "dtype": translator.target.dtype,
                                                    "scl_slope": None, "scl_inter": None})
        print(f"translated {source} ({what}) to {out}")
        return 0
    dataset = load_dataset(source)
    manifest = translate_dataset(translator, dataset, out, args.modality, args.keep_channels,
                                 progress=not args.no_progress)
    print(f"translated {len(dataset.cases)} case(s) of {source} ({what}) to {out}; manifest {manifest}")
    return 0


def run(args: argparse.Namespace) -> int:
    return translate_path(args.run_dir, args.input, args.out, args)
