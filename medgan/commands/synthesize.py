"""``medgan synthesize RUN OUT [family options]``: new cases from a trained GAN run.

The family is read from the run folder's ``config.yaml``; its options follow ``OUT`` (e.g. the lesion
GAN's ``--into DATASET --n N``). ``medgan synthesize RUN OUT --help`` lists them for that run.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("synthesize", help="make new cases with a trained GAN run",
                                 description=__doc__.split("\n\n")[0], add_help=False)
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="training run folder")
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the family's options (see RUN OUT --help)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from medgan.errors import ConfigError
    from medgan.registry import GAN_FAMILIES
    from medgan.training.run import read_run_config

    family, _ = read_run_config(args.run_dir)
    spec = GAN_FAMILIES.get(family)
    parser = argparse.ArgumentParser(prog=f"medgan synthesize {args.run_dir} {args.out}",
                                     description=f"options of the {family} family")
    if spec.synthesize is not None and spec.add_synthesize_arguments is not None:
        spec.add_synthesize_arguments(parser)
        options = parser.parse_args(args.options)
        return int(spec.synthesize(args.run_dir, args.out, options) or 0)
    if spec.translator is not None:  # a translating family: OUT is the translation of --input
        from medgan.commands.translate import add_translate_options, translate_options
        from medgan.synthesis.translate import translate_path

        parser.add_argument("--input", type=Path, required=True, help="image file or dataset to translate")
        add_translate_options(parser)
        options = parser.parse_args(args.options)
        print(translate_path(args.run_dir, options.input, args.out, **translate_options(options)))
        return 0
    raise ConfigError(f"GAN family {family!r} has no synthesis")
