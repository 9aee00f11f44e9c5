"""The inpainting model's step object: phase ``D`` (PatchGAN on real vs. composited regions, loss
halved as pix2pix), then phase ``G`` on the same batch (adversarial + ``l1_weight`` x L1 inside the
hole)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from medgan.errors import ConfigError, DataError
from medgan.families._cases import select_case_ids
from medgan.families._checks import check_size, check_values
from medgan.families._lesion_sizes import training_lesion_sizes
from medgan.families.lesion_inpaint import LesionInpaintConfig
from medgan.families.lesion_inpaint.regions import InpaintRegions, bbox_crop, extract_regions
from medgan.models.inpainting import InpaintingDiscriminator, InpaintingGenerator, composite, masked_context, ring_level
from medgan.models.spade import one_hot_labels
from medgan.training.data import IndexSampler
from medgan.training.losses import AdversarialLoss
from medgan.training.step import GANStep, OptimizerSpec, Phase, StepContext
from medgan.transforms.lesion_extent import case_spacing, region_shape

PREVIEW_SEED = 1234


def ring_radius(config: LesionInpaintConfig) -> list[int]:
    """The prior's ring width in voxels per axis at the working spacing."""
    dims = int(config.data.spatial_dims or 3)
    spacing = config.data.spacing or [1.0] * dims
    return [max(1, int(np.ceil(config.prior.ring_mm / float(s) - 1e-6))) for s in spacing[:dims]]


def build_networks(config: LesionInpaintConfig) -> tuple[InpaintingGenerator, InpaintingDiscriminator]:
    """Generator and discriminator of a resolved config."""
    data, m = config.data, config.model
    channels, labels = len(data.modalities or []), len(data.label_values or [])
    prior = None
    if config.prior.kind == "contrast":
        if config.prior.contrast is None:
            raise ConfigError("lesion-inpaint: prior.contrast is not resolved (a run made before the contrast "
                              "prior: set prior.kind: none, or train again)")
        prior = config.prior.contrast
    spread = config.prior.spread if config.prior.texture and prior is not None else None
    if spread is None and config.prior.texture and prior is not None:
        raise ConfigError("lesion-inpaint: prior.spread is not resolved (set prior.texture: false, or train again)")
    g = InpaintingGenerator(int(data.spatial_dims), channels, labels, m.g_channels, m.depth, m.g_norm, m.dropout,
                            prior=prior, ring=ring_radius(config), smooth=config.prior.smooth, spread=spread,
                            high=data.clip_high, z_units=config.prior.units == "z")
    d = InpaintingDiscriminator(int(data.spatial_dims), channels, labels, m.d_channels, m.d_layers, m.d_norm)
    return g, d


def load_regions(config: LesionInpaintConfig) -> InpaintRegions:
    """Read the training cases of ``config.data`` and resolve its data fields (dims, spacing, region
    size from the lesions' extents in mm); return the training regions."""
    from medgan.io.datasets import load_dataset

    data = config.data
    if not data.path:
        raise ConfigError("lesion-inpaint: no dataset given (data.path)")
    dataset = load_dataset(data.path, modalities=data.modalities)
    data.modalities = list(dataset.modalities)
    ids = select_case_ids(dataset, data.cases, data.exclude_cases)
    if not ids:
        raise DataError(dataset.root, "no labelled training case left after exclusions")
    dims = dataset.load(ids[0])["image"].ndim - 1
    data.spatial_dims = data.spatial_dims or dims
    if data.spatial_dims != dims:
        raise ConfigError(f"lesion-inpaint: a {data.spatial_dims}D model needs {data.spatial_dims}D cases; "
                          f"{dataset.root} holds {dims}D cases")
    sizes = training_lesion_sizes(dataset, ids, dims, data.min_voxels)
    data.spacing = [round(s, 4) for s in sizes.spacing]
    data.lesion_extent_mm = sizes.percentile_mm(data.percentile)
    default = list(region_shape(sizes.extents_mm, data.spacing, data.percentile,
                                data.context_mm + data.hole_margin_mm, 2 ** config.model.depth))
    if data.region_size and list(data.region_size) != default:  # given: one edge per axis, within the data
        first = dataset.load(ids[0])
        extent = np.asarray(first["image"].shape[1:]) * np.asarray(case_spacing(first)) / np.asarray(data.spacing)
        data.region_size = check_size("data.region_size", data.region_size, [int(round(n)) for n in extent],
                                      minimum=2 ** config.model.depth)
    data.region_size = data.region_size or default
    return extract_regions((dataset.load(i) for i in ids), data.spacing, data.region_size, data.jitter,
                           data.hole_margin_mm, data.min_voxels, data.healthy_fraction, config.train.seed,
                           data.clip_high)


def lesion_contrast(regions: InpaintRegions, label_values: list[int], jitter: int, radius: list[int],
                    z_units: bool = False) -> tuple[list[list[float]], list[list[float]]]:
    """``(contrast, spread)``: means over the training lesions of (mean inside each label - mean of
    the ring around the hole) and of the standard deviation inside each label, per label value (0:
    the hole's unlabelled rim) and modality, in scaled units; 0 for a label no lesion holds. Rounded
    to 4 decimals (as written to the run's config). ``z_units``: each lesion's numbers divided by
    its ring's standard deviation."""
    centre = (slice(None),) + tuple(slice(jitter, n - jitter) for n in regions.images.shape[2:])
    sums = np.zeros((len(label_values), regions.images.shape[1]))
    spreads = np.zeros_like(sums)
    counts = np.zeros(len(label_values))
    for i in regions.lesion_indices:
        image = torch.from_numpy(regions.images[i][centre].astype(np.float32))
        hole = regions.holes[i][centre[1:]]
        label = regions.labels[i][centre[1:]]
        hole_t = torch.from_numpy(hole[None, None].astype(np.float32))
        level = ring_level(image[None], hole_t, radius)[0].numpy()
        unit = ring_level(image[None], hole_t, radius, spread=True)[0].numpy().clip(1e-3) if z_units else 1.0
        for k, value in enumerate(label_values):
            inside = (label == value) & hole
            if inside.any():
                values = image.numpy()[:, inside]
                sums[k] += (values.mean(1) - level) / unit
                spreads[k] += values.std(1) / unit
                counts[k] += 1
    n = np.maximum(counts, 1)[:, None]
    return ([[round(float(v), 4) for v in row] for row in sums / n],
            [[round(float(v), 4) for v in row] for row in spreads / n])


class LesionInpaintStep(GANStep):
    """Trains the inpainting U-Net against its PatchGAN on lesion and healthy regions.

    Args:
        config: the run's config; its data fields are resolved here.
        rank, world_size: DDP place.
        regions: pre-extracted regions (tests, experiments); default: read from ``config.data``.
    """

    def __init__(self, config: LesionInpaintConfig, rank: int = 0, world_size: int = 1,
                 regions: InpaintRegions | None = None) -> None:
        self.config = config
        data = config.data
        if regions is None:
            regions = load_regions(config)
        else:
            data.spatial_dims = data.spatial_dims or regions.images.ndim - 2
            data.region_size = data.region_size or [n - 2 * data.jitter for n in regions.images.shape[2:]]
            data.modalities = data.modalities or [f"ch{i}" for i in range(regions.images.shape[1])]
        if [n - 2 * data.jitter for n in regions.images.shape[2:]] != list(data.region_size):
            raise ConfigError("lesion-inpaint: regions do not match region_size + 2 * jitter")
        divisor = 2 ** config.model.depth
        if any(r % divisor for r in data.region_size):
            raise ConfigError(f"lesion-inpaint: region_size {data.region_size} must be a multiple of 2**depth "
                              f"({divisor}) on every axis")
        self.regions = regions
        check_values("data.label_values", data.label_values, [0, *np.unique(regions.labels)], exact=True)
        data.label_values = sorted({0, *(int(v) for v in np.unique(regions.labels))})
        data.n_lesions, data.n_healthy = int((~regions.healthy).sum()), int(regions.healthy.sum())
        if config.prior.kind == "contrast" and config.prior.contrast is None:
            config.prior.contrast, config.prior.spread = lesion_contrast(regions, data.label_values, data.jitter,
                                                                         ring_radius(config), config.prior.units == "z")
        generator, discriminator = build_networks(config)
        self.networks: dict[str, nn.Module] = {"G": generator, "D": discriminator}
        self.optimizers = {"D": OptimizerSpec(("D",), config.d_optimizer),
                           "G": OptimizerSpec(("G",), config.g_optimizer)}
        self.phases = (Phase("D", "D"), Phase("G", "G", new_batch=False))
        self.ema_networks = ("G",)
        self.adversarial = AdversarialLoss(config.loss.kind)
        self.sampler = IndexSampler(len(regions), config.train.seed, rank, world_size)
        self.label_maps = self._label_bank()
        rng = np.random.default_rng(PREVIEW_SEED)
        lesions = regions.lesion_indices
        picks = lesions[rng.permutation(len(lesions))[:max(1, config.train.n_samples)]]
        self.preview_batch = self._batch(picks, rng)

    def _label_bank(self) -> list[np.ndarray]:
        indices = self.regions.lesion_indices
        rng = np.random.default_rng([self.config.train.seed, 7])
        keep = np.sort(rng.permutation(len(indices))[:self.config.data.max_label_maps])
        return [bbox_crop(self.regions.labels[indices[i]]) for i in keep]

    # --------------------------------------------------------------------------------- data

    def _window(self, rng: np.random.Generator) -> tuple[slice, ...]:
        jitter, size = self.config.data.jitter, self.config.data.region_size
        offsets = rng.integers(0, 2 * jitter + 1, size=len(size))
        return tuple(slice(int(o), int(o) + int(s)) for o, s in zip(offsets, size))

    def _batch(self, indices: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        r, data = self.regions, self.config.data
        lesions = r.lesion_indices
        images, labels, holes = [], [], []
        for i in indices:
            window = self._window(rng)
            image = r.images[i][(slice(None),) + window].astype(np.float32)
            label = r.labels[i][window]
            hole = r.holes[i][window]
            if r.healthy[i]:  # borrow a lesion's hole: the model learns to fill plain tissue
                hole = r.holes[lesions[rng.integers(len(lesions))]][self._window(rng)]
            if data.flips:
                for axis in range(len(window)):
                    if rng.random() < 0.5:
                        image, label, hole = np.flip(image, axis + 1), np.flip(label, axis), np.flip(hole, axis)
            images.append(np.ascontiguousarray(image))
            labels.append(np.ascontiguousarray(label))
            holes.append(np.ascontiguousarray(hole))
        label_tensor = torch.from_numpy(np.stack(labels)[:, None].astype(np.int64))
        batch = np.stack(images)
        return {"image": torch.from_numpy(batch),
                "labels": one_hot_labels(label_tensor, data.label_values or [0]),
                "hole": torch.from_numpy(np.stack(holes)[:, None].astype(np.float32)),
                "noise": torch.from_numpy(rng.standard_normal(batch.shape, dtype=np.float32))}

    def next_batch(self, ctx: StepContext) -> dict[str, torch.Tensor]:
        indices = self.sampler.next(self.config.train.batch_size)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=ctx.generator)))
        return self._batch(indices, rng)

    # ------------------------------------------------------------------------------- losses

    def loss(self, phase: str, batch: dict[str, torch.Tensor], ctx: StepContext
             ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        image, labels, hole, noise = batch["image"], batch["labels"], batch["hole"], batch["noise"]
        context = masked_context(image, hole)
        g, d = self.networks["G"], self.networks["D"]
        if phase == "D":
            with torch.no_grad():
                fake = composite(g(context, hole, labels, noise), image, hole)
            real_scores, fake_scores = d(context, hole, labels, image), d(context, hole, labels, fake)
            loss = 0.5 * self.adversarial.discriminator(real_scores, fake_scores)
            return loss, {"D": loss.detach(), "D_real": real_scores.detach().float().mean(),
                          "D_fake": fake_scores.detach().float().mean()}
        output = g(context, hole, labels, noise)
        fake = composite(output, image, hole)
        adv = self.adversarial.generator(d(context, hole, labels, fake))
        l1 = ((output.float() - image.float()).abs() * hole).sum() / (hole.sum() * image.shape[1]).clamp(min=1.0)
        return adv + self.config.l1_weight * l1, {"G_adv": adv.detach(), "G_L1_hole": l1.detach()}

    def preview(self, networks: Mapping[str, nn.Module], generator: torch.Generator, n: int) -> torch.Tensor:
        """Rows of ``masked context | composite | real`` (all channels each)."""
        device = next(networks["G"].parameters()).device
        batch = {k: v[:max(n, 1)].to(device) for k, v in self.preview_batch.items()}
        context = masked_context(batch["image"], batch["hole"])
        fake = composite(networks["G"](context, batch["hole"], batch["labels"], batch["noise"]), batch["image"],
                         batch["hole"])
        return torch.cat([context, fake, batch["image"]], 1).float()

    def state_dict(self) -> dict[str, Any]:
        """The data position and the training label maps (kept with the run for synthesis)."""
        return {"sampler": self.sampler.state_dict(),
                "label_maps": [torch.from_numpy(np.ascontiguousarray(m)) for m in self.label_maps]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
