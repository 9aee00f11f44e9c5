"""``medgan synthesize RUN OUT [family options]``: new cases from a trained GAN run.

The family is read from the run folder's ``config.yaml``; its options follow ``OUT`` (e.g. the lesion
GAN's ``--into DATASET --n N``). ``medgan synthesize RUN OUT --help`` lists them for that run.
``medgan synthesize copy-paste OUT --data TRAIN --into DATASET --n N`` pastes real lesions instead
(no run). Cases inserted ``--into`` a dataset (or ``--paste-from`` one) come with ``OUT/montage.png``:
the first new cases beside their sources.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("synthesize", help="make new cases with a trained GAN run",
                                 description=__doc__.split("\n\n")[0], add_help=False)
    parser.add_argument("-h", "--help", action="help",  # after RUN OUT, --help goes to the family's options
                        help="show this help; RUN OUT --help lists the options of that run's family")
    parser.add_argument("run_dir", type=Path, metavar="RUN",
                        help="training run folder, or copy-paste (real lesions pasted, no run)")
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the family's options (see RUN OUT --help)")
    parser.set_defaults(run=run)


def _montage(out: Path, options: argparse.Namespace, title: str) -> None:
    """Write and announce ``OUT/montage.png`` for cases inserted ``--into`` a dataset (or pasted
    ``--paste-from`` one into a harmonization run's scan)."""
    from medgan.synthesis.montage import montage_of_dataset

    into = getattr(options, "into", None) or getattr(options, "paste_from", None)
    if into is None or getattr(options, "no_montage", False) or not (out / "manifest.csv").is_file():
        return
    print(f"montage: {montage_of_dataset(out, into, title=title)}")


def add_copy_paste_arguments(parser: argparse.ArgumentParser) -> None:
    from medgan.training.run import read_ids

    parser.add_argument("--data", type=Path, required=True, help="labelled dataset whose lesions are pasted")
    parser.add_argument("--into", type=Path, required=True, help="dataset whose cases receive the lesions")
    parser.add_argument("--n", type=int, required=True, help="number of new cases to write")
    parser.add_argument("--cases", type=read_ids, metavar="IDS_OR_FILE", help="take lesions only from these cases")
    parser.add_argument("--exclude-cases", type=read_ids, metavar="IDS_OR_FILE", default=[],
                        help="never use these cases (lesion sources or targets), e.g. the test split")
    parser.add_argument("--target-cases", type=read_ids, metavar="IDS_OR_FILE",
                        help="paste only into these cases of --into (default: all)")
    parser.add_argument("--modalities", help="comma-separated image channels (default: all of --data)")
    parser.add_argument("--lesions-per-case", type=int, help="lesions pasted into each new case (default 1)")
    parser.add_argument("--config", type=Path, help="YAML of copy-paste settings (CopyPasteOptions)")
    parser.add_argument("--no-montage", action="store_true", help="do not write montage.png")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def run_copy_paste(out: Path, argv: list[str]) -> int:
    from medgan.config import read_yaml
    from medgan.synthesis.copypaste_stage import copy_paste_into

    parser = argparse.ArgumentParser(prog=f"medgan synthesize copy-paste {out}",
                                     description="real lesions transformed and pasted into other cases (no run)")
    add_copy_paste_arguments(parser)
    options = parser.parse_args(argv)
    settings = dict(read_yaml(options.config) or {}) if options.config else {}
    if options.lesions_per_case is not None:
        settings["lesions_per_case"] = options.lesions_per_case
    modalities = [m.strip() for m in options.modalities.split(",") if m.strip()] if options.modalities else None
    manifest = copy_paste_into(options.data, options.into, out, options.n, options.seed, options.cases,
                               options.exclude_cases, options.target_cases, modalities, settings)
    print(f"wrote {options.n} case(s) to {out}; manifest {manifest}")
    _montage(out, options, f"copy-paste from {options.data.name} into {options.into.name} (seed {options.seed})")
    return 0


def run(args: argparse.Namespace) -> int:
    from medgan.errors import ConfigError
    from medgan.registry import GAN_FAMILIES
    from medgan.training.run import read_run_config

    if str(args.run_dir) == "copy-paste" and not args.run_dir.is_dir():
        return run_copy_paste(args.out, args.options)
    family, _ = read_run_config(args.run_dir)
    spec = GAN_FAMILIES.get(family)
    parser = argparse.ArgumentParser(prog=f"medgan synthesize {args.run_dir} {args.out}",
                                     description=f"options of the {family} family")
    if spec.synthesize is not None and spec.add_synthesize_arguments is not None:
        spec.add_synthesize_arguments(parser)
        options = parser.parse_args(args.options)
        status = int(spec.synthesize(args.run_dir, args.out, options) or 0)
        if status == 0:
            into = Path(getattr(options, "into", None) or getattr(options, "paste_from", None) or "").name
            _montage(args.out, options, f"{family} run {args.run_dir.name} into {into} "
                                        f"(seed {getattr(options, 'seed', '')})")
        return status
    if spec.translator is not None:  # a translating family: OUT is the translation of --input
        from medgan.commands.translate import add_translate_options, translate_options
        from medgan.synthesis.translate import translate_path

        parser.add_argument("--input", type=Path, required=True, help="image file or dataset to translate")
        add_translate_options(parser)
        options = parser.parse_args(args.options)
        print(translate_path(args.run_dir, options.input, args.out, **translate_options(options)))
        return 0
    raise ConfigError(f"GAN family {family!r} has no synthesis")
