"""``medgan train FAMILY ...``: train a GAN family on the shared engine.

Every family registered in :data:`medgan.registry.GAN_FAMILIES` (built in, or a plugin) gets its
own sub-command with the common options below plus its own; this module never names a family.
Multi-GPU (or multi-process CPU) runs: ``torchrun --nproc_per_node N -m medgan train FAMILY ...``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    from medgan.registry import GAN_FAMILIES

    parser = commands.add_parser("train", help="train a GAN family", description=__doc__.split("\n\n")[0])
    families = parser.add_subparsers(dest="family", metavar="FAMILY", required=True)
    for name in GAN_FAMILIES.names():
        spec = GAN_FAMILIES.get(name)
        sub = families.add_parser(name, help=spec.summary, description=spec.summary)
        spec.add_train_arguments(sub)
        sub.add_argument("--out", type=Path, help="run folder (created; required unless --dry-run)")
        sub.add_argument("--config", type=Path, help="YAML config file (unknown keys are an error)")
        sub.add_argument("--steps", type=int, help="total training steps (overrides train.steps)")
        sub.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
        sub.add_argument("--seed", type=int, help="random seed (overrides train.seed)")
        sub.add_argument("--device", choices=["auto", "cpu", "cuda"], help="overrides train.device")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.add_argument("--dry-run", action="store_true",
                         help="build the networks on the data, time one real training step, print parameters, "
                              "peak memory and estimated time, write nothing; refuse a run that does not fit "
                              "(MEDGAN_AVAILABLE_MB overrides the memory available)")
        sub.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from medgan.config import read_yaml
    from medgan.errors import ConfigError
    from medgan.registry import GAN_FAMILIES
    from medgan.training.loop import train
    from medgan.training.run import CONFIG
    from medgan.training.spec import family_config

    spec = GAN_FAMILIES.get(args.family)
    if args.out is None and not args.dry_run:
        raise ConfigError(f"medgan train {args.family}: --out is required (the run folder), or pass --dry-run")
    if args.dry_run and args.resume:
        raise ConfigError(f"medgan train {args.family}: --dry-run measures a new run; drop --resume")
    settings, where = (read_yaml(args.config), str(args.config)) if args.config else ({}, "config")
    if args.config is None and args.resume and (args.out / CONFIG).is_file():
        settings, where = read_yaml(args.out / CONFIG), str(args.out / CONFIG)
        if settings.pop("family", args.family) != args.family:
            raise ConfigError(f"{args.out} is a run of another family; resume it with that family's command")
    # the file's settings override the family's defaults key by key (train.steps keeps the other train defaults)
    config = family_config(spec, settings, where=where, preset=False)
    config = spec.apply_train_arguments(args, config)
    if args.steps is not None:
        config.train.steps = args.steps
    if args.seed is not None:
        config.train.seed = args.seed
    if args.device is not None:
        config.train.device = args.device
    if args.no_progress:
        config.train.progress = False
    if args.dry_run:
        from medgan.training.cost import measure

        cost = measure(args.family, config)
        print("\n".join(cost.lines()))
        cost.check()
        return 0
    trainer = train(args.family, config, args.out, resume=args.resume)
    if trainer.rank == 0:
        print(f"trained {args.family} for {trainer.start} steps; run folder {args.out}")
    return 0
