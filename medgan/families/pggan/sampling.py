"""Whole volumes (and label maps) from a trained progressive-GAN run.

The generator runs at the level (and fade-in weight) its checkpoint reached. Outputs go onto one of
two grids:

- ``model``: the generator's own grid, with an affine that covers the training data's field of
  view (spacing = data spacing x data shape / model shape), or a chosen spacing;
- ``data`` (default): resampled to the training data's shape and affine (image linear, label
  nearest), so the volumes line up with the data they imitate.

Example:
    >>> volumes = PGGANSampler.from_run("runs/pggan")  # doctest: +SKIP
    >>> case = volumes.cases(volumes.noise(4, seed=0))[0]  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medgan.errors import ConfigError, DataError
from medgan.families.pggan.volumes import resize_image, resize_label, volume_range
from medgan.transforms.scaling import from_unit_range

GRIDS = ("data", "model")


def model_grid_affine(affine: np.ndarray, data_shape: Sequence[int], model_shape: Sequence[int],
                      spacing: Sequence[float] | None = None) -> np.ndarray:
    """Affine of the model grid covering the data's field of view (or of the given ``spacing``,
    centred on the data's field of view), with the data's orientation.

    Args:
        affine: 4x4 voxel-to-world affine of the data grid.
        data_shape, model_shape: spatial shapes (2D shapes use the first two axes).
        spacing: wanted voxel size in mm per model axis (default: the field of view is kept).
    """
    affine = np.asarray(affine, float)
    d = len(model_shape)
    old = np.linalg.norm(affine[:3, :3], axis=0)[:d]
    scale = np.asarray(data_shape, float) / np.asarray(model_shape, float)
    if spacing is not None:
        scale = np.asarray(spacing, float) / np.maximum(old, 1e-12)
    out = affine.copy()
    out[:3, :d] = affine[:3, :d] * scale
    # keep the centre of the field of view where it was
    centre_old = (np.asarray(data_shape, float) - 1) / 2
    centre_new = (np.asarray(model_shape, float) - 1) / 2
    out[:3, 3] = affine[:3, :d] @ centre_old + affine[:3, 3] - out[:3, :d] @ centre_new
    return out


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between two latent vectors (White 2016), linear when they are parallel."""
    cos = torch.clamp((a / a.norm()) @ (b / b.norm()), -1.0, 1.0)
    omega = torch.arccos(cos)
    if float(omega) < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


class PGGANSampler:
    """The EMA generator of a pggan run with what is needed to turn its outputs into cases.

    Args:
        config: the run's resolved :class:`~medgan.families.pggan.config.PGGANConfig`.
        generator: the generator with trained weights.
        level, alpha: growth state reached by the checkpoint.
        device: where the generator runs.
        checkpoint: path of the checkpoint (recorded in the outputs' history).
    """

    def __init__(self, config: Any, generator: torch.nn.Module, level: int, alpha: float,
                 device: str | torch.device = "cpu", checkpoint: str = "") -> None:
        self.config, self.level, self.alpha, self.checkpoint = config, level, alpha, checkpoint
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | torch.device = "cpu", use_ema: bool = True) -> PGGANSampler:
        """Load the newest checkpoint of the pggan run at ``run_dir``."""
        from medgan.training.run import load_run

        return cls.from_loaded(load_run(run_dir, device, use_ema))

    @classmethod
    def from_loaded(cls, run: Any) -> PGGANSampler:
        """The sampler of a loaded pggan :class:`~medgan.training.run.Run` (at the level and fade-in
        its checkpoint reached)."""
        if run.family != "pggan":
            raise DataError(run.path, f"is a {run.family} run, not a pggan run")
        generator = run.networks["G"]
        return cls(run.config, generator, int(run.state["level"]), float(run.state["alpha"]),
                   next(generator.parameters()).device, str(run.checkpoint))

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` labelled cases (the benchmark's sampler): case ``i`` takes the grid, affine and
        intensity range of ``context[i % len(context)]``."""
        if not context:
            raise ConfigError("pggan sampler: needs context cases for their grid and affine")
        outputs = self.generate(self.noise(n, seed))
        cases = []
        for index, output in enumerate(outputs):
            ref = context[index % len(context)]
            lo, hi = volume_range(ref["image"])
            case = self.to_case(output, grid="data", reference=ref, intensity=(lo.tolist(), hi.tolist()))
            meta = case["meta"]
            meta["source_case"] = ref.get("id", "")
            meta["history"][-1].update({"seed": seed, "index": index,
                                        "note": "whole volume generated; geometry from the source case"})
            meta["modalities"] = copy.deepcopy(ref["meta"].get("modalities", meta["modalities"]))
            if "dtype" in ref["meta"]:
                meta["dtype"] = "float32"
            case["id"] = f"pggan-{seed}-{index:04d}"
            cases.append(case)
        return cases

    @property
    def image_channels(self) -> int:
        return len(self.config.data.modalities or [])

    @property
    def model_shape(self) -> tuple[int, ...]:
        return tuple(int(s) * 2**self.level for s in self.config.model.base_shape)

    def noise(self, n: int, seed: int) -> torch.Tensor:
        """``(n, latent_dim)`` standard normal noise from ``seed``."""
        return torch.randn(n, self.config.model.latent_dim, generator=torch.Generator().manual_seed(seed))

    def interpolation_noise(self, n: int, seed: int) -> torch.Tensor:
        """``n`` latent vectors on the great circle between two random ones (endpoints included)."""
        ends = self.noise(2, seed)
        steps = [0.0] if n == 1 else [i / (n - 1) for i in range(n)]
        return torch.stack([slerp(ends[0], ends[1], t) for t in steps])

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch_size: int = 4) -> np.ndarray:
        """Raw outputs ``(N, C_img + K, *model_shape)``: images in about [-1, 1], class probabilities."""
        outs = []
        for start in range(0, len(z), batch_size):
            chunk = z[start:start + batch_size].to(self.device)
            outs.append(self.generator(chunk, self.level, self.alpha).float().cpu().numpy())
        return np.concatenate(outs)

    def to_case(self, output: np.ndarray, grid: str = "data", spacing: Sequence[float] | None = None,
                reference: dict[str, Any] | None = None,
                intensity: tuple[Sequence[float], Sequence[float]] | None = None) -> dict[str, Any]:
        """One raw output ``(C_img + K, *model_shape)`` -> a case dict.

        Args:
            output: one generator output.
            grid: ``data`` (resample to the training data's grid, or to ``reference``'s) or ``model``.
            spacing: voxel size on the model grid (``grid="model"`` only).
            reference: a case whose ``meta`` (affine, shape, ...) the output takes (``grid="data"``).
            intensity: ``(lo, hi)`` per channel that -1 and 1 map to (default: the training median).

        Returns:
            ``{"image": (C_img, *S) float32, "label": (1, *S) int (when generated), "meta": {...}}``.
        """
        if grid not in GRIDS:
            raise ConfigError(f"grid must be one of {', '.join(GRIDS)}, found {grid!r}")
        data = self.config.data
        c = self.image_channels
        lo, hi = intensity or (data.intensity_lo or [-1.0] * c, data.intensity_hi or [1.0] * c)
        image = from_unit_range(np.clip(output[:c], -1.0, 1.0), np.asarray(lo[:c]), np.asarray(hi[:c]))
        values = np.asarray(data.label_values or [], np.int64)
        label = values[output[c:].argmax(0)][None] if len(values) else None
        if reference is not None:
            meta = copy.deepcopy(reference["meta"])
            shape = tuple(np.asarray(reference["image"]).shape[1:])
            affine = np.asarray(meta["affine"], float)
        else:
            meta = {}
            shape = tuple(data.data_shape)
            affine = np.asarray(data.affine, float)
        resampled = False
        if grid == "data":
            if tuple(self.model_shape) != shape:
                image, resampled = resize_image(image, shape), True
                label = resize_label(label, shape) if label is not None else None
        else:
            fov_shape = shape
            shape = self.model_shape
            affine = model_grid_affine(affine, fov_shape, shape, spacing)
        d = len(shape)
        meta.update({"affine": affine, "spatial_shape": list(shape),
                     "spacing": [float(s) for s in np.linalg.norm(affine[:3, :3], axis=0)[:d]],
                     "modalities": list(data.modalities or []), "dtype": "float32", "labelled": label is not None,
                     "label_dtype": "uint8" if label is None or int(label.max(initial=0)) <= 255 else "int32"})
        meta.pop("source", None)
        meta["history"] = list(meta.get("history", [])) + [{
            "name": "pggan", "checkpoint": self.checkpoint, "level": self.level, "alpha": self.alpha,
            "model_shape": list(self.model_shape), "grid": grid, "resampled_to_data_grid": resampled}]
        case: dict[str, Any] = {"image": image.astype(np.float32), "meta": meta}
        if label is not None:
            case["label"] = label.astype(np.int64)
        return case


def sample_label_maps(run_dir: str | Path, n: int, seed: int, *, grid: str = "data",
                      device: str | torch.device = "cpu") -> list[tuple[np.ndarray, dict[str, Any]]]:
    """``n`` synthetic label maps from a pggan run that generates labels (the SPADE mask source).

    The run may learn label maps alone (``--channels label``) or with images (the images are
    generated too and dropped here). Same ``(run, n, seed)``, same maps.

    Args:
        run_dir: a pggan run folder whose config has ``label`` among its channels.
        n: number of maps.
        seed: seeds the latent vectors.
        grid: ``data`` (default: the training data's shape and affine, nearest-neighbour resampled)
            or ``model`` (the generator's grid).
        device: torch device of the generator.

    Returns:
        ``[(label, meta), ...]``: ``label`` ``(1, X, Y[, Z])`` int64 with the training label values;
        ``meta`` with ``affine``, ``spacing``, ``spatial_shape``, ``label_values`` and ``history``
        (run, checkpoint, seed, index).

    Example:
        >>> maps = sample_label_maps("runs/pggan-labels", n=8, seed=0)  # doctest: +SKIP
        >>> label, meta = maps[0]; label.shape, meta["affine"].shape  # doctest: +SKIP
        ((1, 56, 64, 56), (4, 4))
    """
    sampler = PGGANSampler.from_run(run_dir, device)
    if not sampler.config.data.label_values:
        raise ConfigError(f"{run_dir}: this pggan run does not generate label maps (train it with 'label' in "
                          "--channels)")
    outputs = sampler.generate(sampler.noise(n, seed))
    maps = []
    for index, output in enumerate(outputs):
        case = sampler.to_case(output, grid=grid)
        meta = case["meta"]
        meta["label_values"] = list(sampler.config.data.label_values)
        meta["history"][-1].update({"run": str(run_dir), "seed": seed, "index": index})
        maps.append((case["label"], meta))
    return maps
