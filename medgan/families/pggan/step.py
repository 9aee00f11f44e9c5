"""The progressive GAN's step object: phases ``D`` then ``G`` (same batch size), the growth state
(images seen, hence level and fade-in weight) advanced after every step and checkpointed.

The optimisers train exactly the blocks in use at the current level and fade-in state; when that set
changes (a fade-in starts or ends) the engine builds them again with fresh Adam moments, which is
where Karras et al. reset the moments (``reset_opt_for_new_lod``: whenever the floor or the ceiling
of the level of detail changes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from medgan.errors import ConfigError, DataError
from medgan.families._cases import select_case_ids
from medgan.families._checks import check_values
from medgan.families.pggan.config import LABEL, PGGANConfig
from medgan.families.pggan.schedule import GrowthSchedule, choose_base_shape, default_batch_sizes
from medgan.families.pggan.volumes import TrainingVolumes, build_volumes
from medgan.models.pggan import PGDiscriminator, PGGenerator, level_shape
from medgan.training.data import IndexSampler
from medgan.training.losses import AdversarialLoss, discriminator_loss
from medgan.training.step import GANStep, OptimizerSpec, ParamGroup, Phase, StepContext


def resolve_model(config: PGGANConfig, data_shape: Sequence[int]) -> None:
    """Fill in ``model.spatial_dims/base_shape/levels/fmap_*`` and ``growth.batch_sizes/steps_to_final``."""
    model, growth = config.model, config.growth
    dims = len(data_shape)
    if model.spatial_dims not in (None, dims):
        raise ConfigError(f"pggan: model.spatial_dims is {model.spatial_dims} but the data is {dims}D")
    model.spatial_dims = dims
    if model.base_shape is None:
        try:
            base, levels = choose_base_shape(data_shape, model.resolution)
        except ValueError as exc:
            raise ConfigError(f"pggan: {exc}") from None
        model.base_shape, model.levels = list(base), levels
    else:
        if len(model.base_shape) != dims or min(model.base_shape) < 1:
            raise ConfigError(f"pggan: model.base_shape {model.base_shape} does not fit {dims}D data")
        ratio = model.resolution / max(model.base_shape)
        levels = int(round(math.log2(ratio))) if ratio >= 1 else -1
        if levels < 0 or 2**levels != ratio:
            raise ConfigError(f"pggan: resolution {model.resolution} is not the longest side of base_shape "
                              f"{model.base_shape} times a power of two")
        if model.levels not in (None, levels):
            raise ConfigError(f"pggan: model.levels {model.levels} does not match resolution and base_shape")
        model.levels = levels
    model.fmap_base = model.fmap_base or (8192 if dims == 2 else 2048)
    model.fmap_max = model.fmap_max or (512 if dims == 2 else 256)
    growth.batch_sizes = list(growth.batch_sizes or default_batch_sizes(dims))
    if min(growth.batch_sizes) < 1:
        raise ConfigError("pggan: growth.batch_sizes must be positive")
    growth.steps_to_final = schedule_of(config).steps_to_final()


def schedule_of(config: PGGANConfig) -> GrowthSchedule:
    """The :class:`GrowthSchedule` of a resolved config."""
    g = config.growth
    return GrowthSchedule(int(config.model.levels or 0), g.fade_images, g.stable_images, tuple(g.batch_sizes or (1,)))


def build_networks(config: PGGANConfig) -> tuple[PGGenerator, PGDiscriminator]:
    """Generator and discriminator of a resolved config."""
    m, d = config.model, config.data
    image_channels = len(d.modalities or [])
    classes = len(d.label_values or [])
    g = PGGenerator(int(m.spatial_dims), m.base_shape, int(m.levels), image_channels, classes, m.latent_dim,
                    int(m.fmap_base), int(m.fmap_max), m.fmap_min, m.gradient_checkpointing)
    critic = PGDiscriminator(int(m.spatial_dims), m.base_shape, int(m.levels), image_channels + classes,
                             int(m.fmap_base), int(m.fmap_max), m.fmap_min, m.mbstd_group, m.gradient_checkpointing)
    return g, critic


def split_channels(channels: Sequence[str] | None, available: Sequence[str], labelled: bool
                   ) -> tuple[list[str], bool]:
    """``(image modalities, with label)`` from the ``channels`` setting (default: all, plus label if labelled)."""
    if channels is None:
        return list(available), labelled
    wanted = [c.strip() for c in channels if c.strip()]
    if not wanted:
        raise ConfigError("pggan: data.channels is empty")
    unknown = [c for c in wanted if c != LABEL and c not in available]
    if unknown:
        raise ConfigError(f"pggan: channel {unknown[0]!r} is not a modality of the data "
                          f"(available: {', '.join(available)}, and 'label')")
    if LABEL in wanted and not labelled:
        raise ConfigError("pggan: channel 'label' asked for but not every training case has a label map")
    return [c for c in wanted if c != LABEL], LABEL in wanted


def prepare_training_data(config: PGGANConfig, cases: Iterable[dict[str, Any]] | None = None) -> TrainingVolumes:
    """Resolve ``config`` from the data and build the training pyramid.

    Args:
        config: the run's config; its *resolved* fields are filled in here.
        cases: case dicts in memory (benchmark stage); default: read ``config.data.path``.

    Returns:
        The training volumes.
    """
    data = config.data
    if cases is None:
        from medgan.io.datasets import load_dataset

        if not data.path:
            raise ConfigError("pggan: no dataset given (--data or data.path)")
        dataset = load_dataset(data.path)
        ids = select_case_ids(dataset, data.cases, data.exclude_cases, labelled_only=False)
        if not ids:
            raise DataError(dataset.root, "no training case left after the case selection")
        refs = [dataset.ref(i) for i in ids]
        modalities, with_label = split_channels(data.channels, dataset.modalities,
                                                all(r.label is not None for r in refs))
        if not modalities and not with_label:
            raise ConfigError("pggan: nothing to generate (no image channel and no label)")
        data.layout = dataset.layout
        selected = load_dataset(data.path, modalities=modalities or None).select(ids) if modalities else None
        loaded = [selected.load(i) if selected is not None else _label_only_case(dataset, i) for i in ids]
    else:
        loaded = list(cases)
        if not loaded:
            raise ConfigError("pggan: no training cases")
        first_meta = loaded[0]["meta"]
        available = list(first_meta.get("modalities") or [f"ch{i}" for i in range(loaded[0]["image"].shape[0])])
        labelled = all(c.get("label") is not None for c in loaded)
        modalities, with_label = split_channels(data.channels, available, labelled)
        keep = [available.index(m) for m in modalities]
        loaded = [{**c, "image": np.asarray(c["image"])[keep]} for c in loaded]
    first = loaded[0]
    meta = first["meta"]
    grid = first["label"] if first.get("label") is not None else first["image"]
    spatial = tuple(int(s) for s in grid.shape[1:])
    data.modalities = modalities
    if data.data_shape and list(data.data_shape) != list(spatial):
        raise ConfigError(f"data.data_shape: {list(data.data_shape)} but the training cases are "
                          f"{'x'.join(map(str, spatial))}")
    data.data_shape = list(spatial)
    data.affine = np.asarray(meta["affine"], float).tolist()
    data.spacing = [float(s) for s in meta.get("spacing", np.linalg.norm(np.asarray(meta["affine"])[:3, :3], axis=0))]
    data.n_cases = len(loaded)
    resolve_model(config, spatial)
    if with_label:
        found = sorted({int(v) for c in loaded for v in np.unique(c["label"])} | {0})
        check_values("data.label_values", data.label_values, found, exact=True)
    if with_label and data.label_values is None:
        data.label_values = found
        if len(data.label_values) < 2:
            raise DataError(data.path or "cases", "the label maps hold only background; nothing to learn for 'label'")
    if not with_label:
        data.label_values = None
    shape = level_shape(config.model.base_shape, int(config.model.levels))
    volumes = build_volumes(loaded, shape, int(config.model.levels), with_label, data.label_values)
    if data.intensity_lo is None:
        data.intensity_lo, data.intensity_hi = volumes.lo, volumes.hi
    return volumes


def _label_only_case(dataset: Any, case_id: str) -> dict[str, Any]:
    """A case with its label map and no image channel (label-only runs read no image file)."""
    from medgan.io.image import read_image

    ref = dataset.ref(case_id)
    label, meta = read_image(ref.label)
    return {"image": np.zeros((0,) + label.shape[1:], np.float32), "label": label, "meta": meta, "id": case_id}


class PGGANStep(GANStep):
    """Trains a progressive GAN (WGAN-GP with drift; equalised learning rate; G EMA by the engine).

    The growth state is ``images_seen`` (real images shown to the discriminator); level and fade-in
    weight follow from it through the schedule, are fixed for the whole step, and are checkpointed.

    Args:
        config: the run's config (resolved here).
        rank, world_size: DDP place.
        cases: training cases in memory (default: read ``config.data.path``).
    """

    def __init__(self, config: PGGANConfig, rank: int = 0, world_size: int = 1,
                 cases: Iterable[dict[str, Any]] | None = None) -> None:
        self.config = config
        self.volumes = prepare_training_data(config, cases)
        self.schedule = schedule_of(config)
        for level in range(int(config.model.levels) + 1):
            if self.schedule.batch_size(level) % world_size:
                raise ConfigError(f"pggan: batch size {self.schedule.batch_size(level)} of level {level} does "
                                  f"not divide among {world_size} processes")
        generator, critic = build_networks(config)
        self.networks: dict[str, nn.Module] = {"G": generator, "D": critic}
        # the generator phase reuses the step's batch: it needs only its size and the fade state
        self.phases = (Phase("D", "D"), Phase("G", "G", new_batch=False))
        self.ema_networks = ("G",)
        self.adversarial = AdversarialLoss(config.loss.kind)
        self.sampler = IndexSampler(len(self.volumes), config.train.seed, rank, world_size)
        self.images_seen = 0
        self._update_position()

    # --------------------------------------------------------------------------------- growth

    def _update_position(self) -> None:
        self.level, self.alpha = self.schedule.position(self.images_seen)
        g, d = in_use(self.level, self.alpha)
        self.optimizers = {"G": OptimizerSpec(("G",), self.config.g_optimizer, groups=(ParamGroup(g),)),
                           "D": OptimizerSpec(("D",), self.config.d_optimizer, groups=(ParamGroup(d),))}

    def next_batch(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        global_batch = self.schedule.batch_size(self.level)
        indices = self.sampler.next(global_batch)
        flips = None
        if self.config.data.mirror:
            flips = (torch.rand(len(indices), generator=ctx.generator) < 0.5).tolist()
        real = self.volumes.batch(indices.tolist(), self.level, self.alpha, flips)
        return {"real": real}

    def end_step(self, ctx: StepContext) -> None:
        self.images_seen += self.schedule.batch_size(self.level)
        self._update_position()

    # --------------------------------------------------------------------------------- losses

    def _noise(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randn(n, self.config.model.latent_dim, generator=generator).to(device)

    def loss(self, phase: str, batch: dict[str, torch.Tensor], ctx: StepContext
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real = batch["real"]
        g, d = self.networks["G"], self.networks["D"]
        level, alpha = self.level, self.alpha
        z = self._noise(real.shape[0], ctx.generator, ctx.device)
        if phase == "D":
            with torch.no_grad():
                fake = g(z, level, alpha)
            loss, stats = discriminator_loss(self.config.loss, lambda x: d(x, level, alpha), real, fake,
                                             ctx.generator)
        else:
            loss = self.adversarial.generator(d(g(z, level, alpha), level, alpha))
            stats = {"G_adv": loss.detach()}
        stats = {**stats, "level": torch.tensor(float(level)), "alpha": torch.tensor(float(alpha))}
        return loss, stats

    # ------------------------------------------------------------------------------- outputs

    def preview(self, networks: Mapping[str, nn.Module], generator: torch.Generator, n: int) -> torch.Tensor:
        """Image channels, then the label map scaled to [-1, 1], at the current level."""
        device = next(networks["G"].parameters()).device
        out = networks["G"](self._noise(n, generator, device), self.level, self.alpha).float()
        return to_display(out, len(self.config.data.modalities or []))

    def state_dict(self) -> dict[str, Any]:
        return {"images_seen": self.images_seen, "level": self.level, "alpha": self.alpha,
                "sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images_seen = int(state["images_seen"])
        self.sampler.load_state_dict(state["sampler"])
        self._update_position()
        if self.level != int(state["level"]) or abs(self.alpha - float(state["alpha"])) > 1e-12:
            raise ConfigError("pggan: the checkpoint's level/alpha do not match its images_seen under this "
                              "growth schedule; resume with the run's own config")


def in_use(level: int, alpha: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The modules of generator and critic that ``level`` and fade-in weight ``alpha`` use.

    Returns:
        ``(generator modules, critic modules)`` as paths (``"G.blocks.0"``); during a fade-in the
        previous level's output (input) layer is in use too.
    """
    g = ["G.dense", "G.base_conv", *(f"G.blocks.{k}" for k in range(level)), f"G.to_output.{level}"]
    d = [f"D.from_input.{level}", *(f"D.blocks.{k}" for k in range(level)), "D.final_conv", "D.final_dense",
         "D.score"]
    if level > 0 and alpha < 1.0:
        g.append(f"G.to_output.{level - 1}")
        d.insert(1, f"D.from_input.{level - 1}")
    return tuple(g), tuple(d)


def to_display(out: torch.Tensor, image_channels: int) -> torch.Tensor:
    """``(N, C_img + K, ...)`` generator output -> image channels and one label channel in [-1, 1]."""
    image = out[:, :image_channels].clamp(-1, 1)
    classes = out.shape[1] - image_channels
    if classes == 0:
        return image
    label = out[:, image_channels:].argmax(1, keepdim=True).float() * (2.0 / (classes - 1)) - 1.0
    return torch.cat([image, label], dim=1)
