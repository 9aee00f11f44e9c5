"""Configs and command-line options shared by the translation families."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgan.errors import ConfigError
from medgan.families._cases import add_case_selection, apply_case_selection
from medgan.training.config import AdamConfig, ScheduleConfig, TrainConfig
from medgan.training.spec import DataSource
from medgan.transforms.modality import IntensityConfig

#: ``decay_start`` value meaning "half the run" (the papers: 100 epochs constant, 100 decaying)
HALF_THE_RUN = -1


def paper_adam() -> AdamConfig:
    """Adam 2e-4, betas (0.5, 0.999); constant for half the run, then linearly down to zero."""
    return AdamConfig(lr=2e-4, betas=(0.5, 0.999),
                      schedule=ScheduleConfig(kind="linear-decay", decay_start=HALF_THE_RUN, decay_end=0))


def half_run_schedule(adam: AdamConfig, train: TrainConfig) -> Callable[[int], float] | None:
    """The learning-rate multiplier of ``adam`` when its decay starts at half the run (``decay_start:
    -1``), computed from ``train.steps`` at each call, so a run resumed with more steps decays over
    its new length; ``None`` (the engine's own schedule) otherwise."""
    schedule = adam.schedule
    if schedule.kind != "linear-decay" or schedule.decay_start != HALF_THE_RUN:
        return None

    def factor(step: int) -> float:
        total = train.steps
        start, end = total // 2, schedule.decay_end or total
        if step < start:
            return 1.0
        if end <= start:
            return schedule.final_factor
        return 1.0 + (schedule.final_factor - 1.0) * min(1.0, (step - start) / (end - start))

    return factor


@dataclass
class DomainConfig:
    """One image domain: a modality of a dataset.

    Attributes:
        path: the dataset folder.
        modality: its channel (default: the dataset's only modality).
        intensity: how the intensities map to the network range (CT window, MR normalisation).
    """

    path: str = ""
    modality: str | None = None
    intensity: IntensityConfig = field(default_factory=IntensityConfig)


@dataclass
class TranslationDataConfig:
    """Training data of a translation run.

    Attributes:
        a, b: the two domains (CycleGAN: unpaired; pix2pix: ``a`` the source and ``b`` the target
            modality of the same, co-registered cases).
        cases: train only on these case ids (default: all).
        exclude_cases: never train on these case ids (the test cases); recorded in the run, so
            ``medgan evaluate translation`` can refuse training cases.
        spatial_dims: 2 (axial slices, the papers' setting) or 3 (patches).
        patch_size: edge of the training crops (default: the in-plane size rounded up to what the
            generator needs, at most 256 in 2D and 64 in 3D).
        flip: random left-right flips (the papers' only augmentation besides the crop).
        disjoint: CycleGAN only: domain A is read from one half of the training cases and domain B
            from the other half (:func:`disjoint_halves`), so no case's anatomy is seen in both
            domains (the unpaired setting of Hammami et al. 2020); both domains must come from one
            dataset (or one list of in-memory cases).
        n_cases_a, n_cases_b: number of training volumes found (resolved).
        cases_a, cases_b: with ``disjoint``, the case ids of each domain (resolved).
    """

    a: DomainConfig = field(default_factory=DomainConfig)
    b: DomainConfig = field(default_factory=DomainConfig)
    cases: list[str] | None = None
    exclude_cases: list[str] = field(default_factory=list)
    spatial_dims: Literal[2, 3] = 2
    patch_size: int | None = None
    flip: bool = True
    disjoint: bool = False
    n_cases_a: int | None = None
    n_cases_b: int | None = None
    cases_a: list[str] | None = None
    cases_b: list[str] | None = None


def disjoint_halves(case_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Two disjoint halves of ``case_ids``: sorted, then alternately to A and B (A gets the extra one).

    Raises:
        ConfigError: fewer than two cases.
    """
    ordered = sorted(case_ids)
    if len(ordered) < 2:
        raise ConfigError(f"data.disjoint needs at least 2 training cases, found {len(ordered)}")
    return ordered[0::2], ordered[1::2]


def parse_window(value: str) -> tuple[float, float]:
    """``"-1024,2048"`` -> ``(-1024.0, 2048.0)``."""
    try:
        low, high = (float(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH in HU, found {value!r}") from None
    return low, high


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options both families take: dims, patch size, CT window and case selection."""
    parser.add_argument("--spatial-dims", type=int, choices=[2, 3], help="2D slices (default) or 3D patches")
    parser.add_argument("--patch-size", type=int, help="edge of the training crops")
    parser.add_argument("--ct-window", type=parse_window, metavar="LOW,HIGH",
                        help="HU window mapped to [-1, 1] for CT (default -1024,2048)")
    add_case_selection(parser)


def apply_common_arguments(args: argparse.Namespace, data: TranslationDataConfig) -> None:
    """Write the common options into ``data``."""
    if args.spatial_dims:
        data.spatial_dims = args.spatial_dims
    if args.patch_size:
        data.patch_size = args.patch_size
    if args.ct_window:
        data.a.intensity.window = data.b.intensity.window = args.ct_window
    apply_case_selection(args, data)


def parse_domain(value: str, data: Path | None, which: str) -> DomainConfig:
    """``--domain-a``/``--domain-b``: a modality of ``--data``, a dataset folder, or ``FOLDER:MODALITY``.

    Raises:
        ConfigError: neither an existing folder nor a modality with ``--data`` given.
    """
    if Path(value).is_dir():
        return DomainConfig(path=str(value))
    head, sep, tail = value.rpartition(":")
    if sep and head and Path(head).is_dir():
        return DomainConfig(path=head, modality=tail)
    if data is not None:
        return DomainConfig(path=str(data), modality=value)
    raise ConfigError(f"--domain-{which} {value!r} is not a dataset folder; give a folder, FOLDER:MODALITY, "
                      "or a modality name together with --data DATASET")


def translation_data_sources(config: Any) -> list[DataSource]:
    """The datasets of both domains with the run's case selection (``FamilySpec.data_sources``)."""
    data = config.data
    paths = dict.fromkeys(d.path for d in (data.a, data.b) if d.path)
    return [DataSource(path, data.cases, list(data.exclude_cases)) for path in paths]
