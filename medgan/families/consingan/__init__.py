"""ConSinGAN (Hinz et al. 2021): a GAN learnt from one case, making labelled variations of it.

A generator pyramid is grown stage by stage (about 6 stages from the case's size); the newest
``trained_stages`` stages train together, lower ones at δ = 0.1 times the rate of the one above;
WGAN-GP and a reconstruction loss from fixed noise at the coarsest scale. Image channels and the label
map (one channel per label value) are generated together, in 2D or 3D.

``medgan train consingan --data CASE_OR_DATASET [--case ID] --out RUN`` trains it;
``medgan synthesize RUN OUT --n K`` writes K variations with labels on the case's grid. As a
benchmark stage (``synthesis: {stage: consingan}``) it learns the first training case (or
``options.data.case``). Harmonization (``--mode harmonization``): ``medgan synthesize RUN OUT
--harmonize IMAGE`` or ``--paste-from DATASET`` (copy-paste, then harmonize), and the benchmark stage
``consingan-harmonize`` (:mod:`medgan.families.consingan.harmonize`). See ``docs/consingan.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medgan.families._cases import add_case_selection, apply_case_selection
from medgan.families.consingan import harmonize as _harmonize  # noqa: F401  (registers consingan-harmonize)
from medgan.families.consingan.config import ConSinGANConfig, ConSinGANDataConfig, ConSinGANModelConfig
from medgan.training.spec import FamilySpec, register_family

__all__ = ["ConSinGANConfig", "ConSinGANDataConfig", "ConSinGANModelConfig"]


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The consingan options of ``medgan train consingan``."""
    parser.add_argument("--data", type=Path, required=True,
                        help="a dataset folder holding the case (choose it with --case when it holds several), "
                             "or one image file")
    parser.add_argument("--case", help="id of the case to learn")
    parser.add_argument("--label", type=Path, help="label file when --data is an image file")
    parser.add_argument("--stages", type=int, help="most stages of the pyramid (default 6; fewer for small cases)")
    parser.add_argument("--min-size", type=int, help="shortest side of the coarsest scale (default 25)")
    parser.add_argument("--max-size", type=int, help="longest side of the finest scale (default 250 in 2D, 64 in 3D)")
    parser.add_argument("--width", type=int, help="filters per convolution (default 64)")
    parser.add_argument("--mode", choices=["generation", "harmonization"],
                        help="generation: variations from noise (default); harmonization: learn to refine the scan "
                             "itself, for medgan synthesize --harmonize (paper: --stages 3 --min-size 120)")
    parser.add_argument("--trained-stages", type=int, help="stages trained concurrently (default 3)")
    parser.add_argument("--lr-scale", type=float, help="learning-rate factor per lower stage, δ (default 0.1)")
    add_case_selection(parser)


def apply_train_arguments(args: argparse.Namespace, config: ConSinGANConfig) -> ConSinGANConfig:
    """Apply the parsed ``medgan train consingan`` options to ``config``."""
    config.data.path = str(args.data)
    if args.case:
        config.data.case = args.case
    if args.label:
        config.data.label = str(args.label)
    if args.mode:
        config.mode = args.mode
    for name, target in (("stages", config.model), ("min_size", config.model), ("max_size", config.model),
                         ("width", config.model), ("trained_stages", config), ("lr_scale", config)):
        if getattr(args, name) is not None:
            setattr(target, name, getattr(args, name))
    apply_case_selection(args, config.data)
    return config


def build(config: ConSinGANConfig, rank: int, world_size: int, cases: list[dict[str, Any]] | None = None) -> Any:
    """The step object (reads the case); with in-memory ``cases`` (the benchmark) it learns
    ``data.case``, else the first of them."""
    from medgan.families.consingan.model import count_parameters
    from medgan.families.consingan.step import ConSinGANStep

    step = ConSinGANStep(config, rank, world_size, cases=cases)
    if rank == 0 and cases is None:
        m = config.model
        scales = " -> ".join("x".join(map(str, s)) for s in m.scales)
        params = count_parameters(step.networks["G"])
        print(f"consingan: case {config.data.case_id}, {m.channels} channels "
              f"({len(config.data.label_values or [])} label values), {len(m.scales)} stages {scales}, "
              f"{config.steps_per_stage} steps per stage, generator {params:,} parameters")
    return step


def networks(config: ConSinGANConfig) -> dict[str, Any]:
    """The generator pyramid of a resolved config."""
    from medgan.families.consingan.step import build_networks

    return {"G": build_networks(config)["G"]}


def sampler(run: Any) -> Any:
    """A loaded run as a sampler: labelled variations of its case."""
    from medgan.families.consingan.sampling import ConSinGANSampler

    return ConSinGANSampler.from_loaded(run)


#: the benchmark budget: one small pyramid on the first training case
PRESET = {
    "train": {"steps": 240, "n_samples": 2},
    "model": {"stages": 4, "min_size": 8, "max_size": 32, "width": 16},
}


def _add_synthesize_arguments(parser: argparse.ArgumentParser) -> None:
    from medgan.families.consingan.sampling import add_synthesize_arguments

    add_synthesize_arguments(parser)


def _synthesize(run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    from medgan.families.consingan.sampling import synthesize

    return synthesize(run_dir, out, args)


register_family(FamilySpec(
    name="consingan",
    summary="labelled variations of a single 2D/3D case (ConSinGAN, Hinz et al. 2021)",
    config_type=ConSinGANConfig,
    build=build,
    add_train_arguments=add_train_arguments,
    apply_train_arguments=apply_train_arguments,
    networks=networks,
    sampler=sampler,
    preset=PRESET,
    add_synthesize_arguments=_add_synthesize_arguments,
    synthesize=_synthesize,
))
