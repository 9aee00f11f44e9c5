"""The progressive growing GAN family (Karras et al. 2018; 3D as in Eklund 2019): whole 2D images or
3D volumes, several image channels and optionally the label map, grown from a 4^d (or any small,
possibly non-cubic) base up to the configured resolution.

``medgan train pggan --data DATASET --out RUN --resolution 64 [--channels t1n,t2f,label]`` trains it;
``medgan synthesize RUN OUT --n N [--interpolate]`` writes NIfTI volumes; :func:`sample_label_maps`
feeds its label maps to SPADE; its sampler makes labelled cases for the benchmark's ``pggan`` stage.
See ``docs/pggan.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medgan.errors import ConfigError
from medgan.families._cases import add_case_selection, apply_case_selection
from medgan.families.pggan.config import LABEL, PGGANConfig, PGGANDataConfig, PGGANGrowthConfig, PGGANModelConfig
from medgan.registry import LABEL_MAP_SAMPLERS
from medgan.training.spec import FamilySpec, register_family

__all__ = ["PGGANConfig", "PGGANDataConfig", "PGGANGrowthConfig", "PGGANModelConfig", "sample_label_maps"]


def sample_label_maps(run_dir: str | Path, n: int, seed: int, **options: Any) -> list[tuple[Any, dict[str, Any]]]:
    """``n`` label maps ``(1, X, Y[, Z])`` int with their ``meta`` from a pggan run (the SPADE mask source).

    See :func:`medgan.families.pggan.sampling.sample_label_maps` (options ``grid``, ``device``).
    """
    from medgan.families.pggan.sampling import sample_label_maps as _sample

    return _sample(run_dir, n, seed, **options)


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, found {value!r}") from None


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The pggan options of ``medgan train pggan``."""
    parser.add_argument("--data", type=Path, required=True, help="dataset of whole images/volumes")
    parser.add_argument("--resolution", type=int,
                        help="longest side of the final resolution (default 64); the data's proportions are kept")
    parser.add_argument("--channels", help="comma-separated modalities to generate, plus 'label' for the label map "
                                           "(default: all modalities, plus label when every case has one)")
    parser.add_argument("--base-shape", type=_ints, metavar="X,Y[,Z]",
                        help="shape of the first level (default: from the data shape, e.g. 7,8,7 for 56x64x56)")
    parser.add_argument("--fade-images", type=int, help="real images per fade-in (default 600000)")
    parser.add_argument("--stable-images", type=int, help="real images per stabilisation (default 600000)")
    parser.add_argument("--batch-sizes", type=_ints, metavar="B0,B1,...", help="global batch size per level")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations (less memory)")
    add_case_selection(parser)


def apply_train_arguments(args: argparse.Namespace, config: PGGANConfig) -> PGGANConfig:
    """Apply the parsed ``medgan train pggan`` options to ``config``."""
    config.data.path = str(args.data)
    if args.resolution is not None:
        config.model.resolution = args.resolution
    if args.channels:
        config.data.channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    if args.base_shape:
        config.model.base_shape = args.base_shape
    if args.fade_images is not None:
        config.growth.fade_images = args.fade_images
    if args.stable_images is not None:
        config.growth.stable_images = args.stable_images
    if args.batch_sizes:
        config.growth.batch_sizes = args.batch_sizes
    if args.gradient_checkpointing:
        config.model.gradient_checkpointing = True
    apply_case_selection(args, config.data)
    return config


def build(config: PGGANConfig, rank: int, world_size: int, cases: list[dict[str, Any]] | None = None) -> Any:
    """The step object (reads the data); with in-memory ``cases`` (the benchmark) it learns all their
    image channels plus the label map."""
    from medgan.families.pggan.step import PGGANStep

    if cases is not None:
        first = cases[0]
        modalities = list(first["meta"].get("modalities") or [f"ch{i}" for i in range(first["image"].shape[0])])
        config.data.channels = config.data.channels or modalities + [LABEL]
        return PGGANStep(config, rank, world_size, cases=cases)
    if not config.data.path:
        raise ConfigError("pggan: no dataset given (--data or data.path)")
    step = PGGANStep(config, rank, world_size)
    if rank == 0:
        m, g = config.model, config.growth
        shape = "x".join(str(s * 2 ** int(m.levels)) for s in m.base_shape)
        channels = (config.data.modalities or []) + (["label"] if config.data.label_values else [])
        print(f"pggan: {len(step.volumes)} cases, channels {','.join(channels)}, "
              f"base {'x'.join(map(str, m.base_shape))} -> {shape} in {m.levels} doublings; "
              f"{g.steps_to_final} steps until the last level is stabilised (train.steps = {config.train.steps})")
    return step


def networks(config: PGGANConfig) -> dict[str, Any]:
    """The generator of a resolved config."""
    from medgan.families.pggan.step import build_networks

    return {"G": build_networks(config)[0]}


def sampler(run: Any) -> Any:
    """A loaded run as a sampler: whole labelled cases on the grid of given context cases."""
    from medgan.families.pggan.sampling import PGGANSampler

    return PGGANSampler.from_loaded(run)


#: the benchmark budget (one GAN per fraction x seed): 16 voxels on the longest side, a short growth
PRESET = {
    "train": {"steps": 300, "ema_decay": 0.99, "n_samples": 4},
    "model": {"resolution": 16, "latent_dim": 128, "fmap_base": 512, "fmap_max": 64},
    "growth": {"fade_images": 400, "stable_images": 400},
}


def _add_synthesize_arguments(parser: argparse.ArgumentParser) -> None:
    from medgan.families.pggan.synthesize import add_synthesize_arguments

    add_synthesize_arguments(parser)


def _synthesize(run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    from medgan.families.pggan.synthesize import synthesize

    return synthesize(run_dir, out, args)


register_family(FamilySpec(
    name="pggan",
    summary="whole 2D/3D images and label maps from noise (progressive growing GAN)",
    config_type=PGGANConfig,
    build=build,
    add_train_arguments=add_train_arguments,
    apply_train_arguments=apply_train_arguments,
    networks=networks,
    sampler=sampler,
    preset=PRESET,
    add_synthesize_arguments=_add_synthesize_arguments,
    synthesize=_synthesize,
))


class LabelMapSampler:
    """A pggan run as a label-map source for SPADE (``{source: pggan, run: PATH}``)."""

    def __init__(self, run_dir: Path, device: str = "cpu") -> None:
        self.run_dir, self.device = Path(run_dir), device

    def sample_label_maps(self, n: int, seed: int) -> list[tuple[Any, dict[str, Any]]]:
        return sample_label_maps(self.run_dir, n, seed, device=self.device)


LABEL_MAP_SAMPLERS.register("pggan")(LabelMapSampler)
