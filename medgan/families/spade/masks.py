"""Where SPADE's label maps come from: a small registry of mask sources.

A mask source is built from an options mapping ``{"source": NAME, ...}`` and has one method,
``masks(n, seed, context_cases) -> list[(label, meta)]``: ``n`` label maps ``(1, *S)`` of integer
values, each with a case ``meta`` (affine and grid of the case it came from, ``source_case``, and the
random operations in ``history``). Same seed, same masks.

Sources:
- ``real``: the context cases' label maps as they are, in turn.
- ``augment``: real label maps through classic spatial augmentation (rotation, scaling, elastic
  deformation, optional flips), nearest-neighbour so the label values stay integers. The transform is
  pluggable (``AugmentedMasks(options, transform=...)``); the default uses MONAI's ``RandAffined``
  and ``Rand3DElasticd``/``Rand2DElasticd`` until medgan's own transforms (``medgan.transforms``) are
  wired in.
- ``lesion-move``: real label maps with one connected lesion component moved (and resized) to
  another place inside the brain/organ mask; the vacated voxels take the nearest non-lesion label.
- ``pggan``: label maps drawn from a label-map generator run (``{source: pggan, run: PATH}``); the
  run's family must be registered in :data:`medgan.registry.LABEL_MAP_SAMPLERS`.

Example:
    >>> source = build_mask_source({"source": "augment", "rotate_degrees": 10})  # doctest: +SKIP
    >>> masks = source.masks(4, seed=0, context_cases=cases)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy import ndimage

from medgan.config import load_config, read_yaml
from medgan.errors import ConfigError, DataError
from medgan.registry import LABEL_MAP_SAMPLERS, Registry

#: one label map ``(1, *S)`` and its case meta
Mask = tuple[np.ndarray, dict[str, Any]]
#: ``transform({"label": (1, *S) array}, rng) -> {"label": ..., "history": [records]}``
MaskTransform = Callable[[dict[str, Any], np.random.Generator], dict[str, Any]]

MASK_SOURCES = Registry("mask source")


class MaskSource(Protocol):
    """What every mask source provides."""

    def masks(self, n: int, seed: int, context_cases: Sequence[dict[str, Any]]) -> list[Mask]:
        """``n`` label maps with their meta; ``context_cases`` are real cases to start from."""
        ...


def mask_source_options(value: str | dict[str, Any] | None) -> dict[str, Any]:
    """Options mapping from a source name, a YAML file path or a mapping (``None`` -> ``real``)."""
    if value is None:
        return {"source": "real"}
    if isinstance(value, dict):
        return dict(value)
    if value.endswith((".yaml", ".yml")) or Path(value).is_file():
        options = read_yaml(value)
        if not isinstance(options, dict) or "source" not in options:
            raise ConfigError(f"{value}: a mask-source file needs a 'source' entry")
        return options
    return {"source": value}


def build_mask_source(options: dict[str, Any] | str | None, transform: MaskTransform | None = None) -> MaskSource:
    """The mask source named by ``options["source"]`` with the rest of ``options`` as its settings.

    Args:
        options: ``{"source": NAME, ...settings}`` (or just the name).
        transform: for ``augment``: replaces the default MONAI transform.

    Raises:
        ConfigError: unknown source name or setting.
    """
    options = mask_source_options(options)
    name = options.pop("source")
    factory = MASK_SOURCES.get(name)
    return factory(options, transform) if name == "augment" else factory(options)


def _context_with_labels(context_cases: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    cases = [c for c in context_cases if c.get("label") is not None]
    if not cases:
        raise DataError("mask source", "needs at least one labelled context case")
    return cases


def _mask_meta(case: dict[str, Any], record: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = copy.deepcopy(case.get("meta", {}))
    meta["source_case"] = case.get("id")
    if record is not None:
        meta.setdefault("history", []).append(record)
    return meta


def _seed(seed: int, index: int) -> int:
    return int(np.random.default_rng([seed, index]).integers(2**31 - 1))


# ----------------------------------------------------------------------------------------- real


@dataclass
class RealMasksOptions:
    """``real`` has no settings."""


@MASK_SOURCES.register("real")
class RealMasks:
    """The context cases' label maps unchanged, in turn (``n`` may exceed the number of cases)."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = load_config(options or {}, RealMasksOptions, where="mask source real")

    def masks(self, n: int, seed: int, context_cases: Sequence[dict[str, Any]]) -> list[Mask]:
        cases = _context_with_labels(context_cases)
        return [(np.asarray(cases[i % len(cases)]["label"]).copy(), _mask_meta(cases[i % len(cases)]))
                for i in range(n)]


# -------------------------------------------------------------------------------------- augment


@dataclass
class AugmentOptions:
    """Settings of the ``augment`` source (every transform applied to every mask).

    Attributes:
        rotate_degrees: rotation angle drawn from [-r, r] about every axis (3D) or the one axis (2D).
        scale: zoom factor drawn from [1 - s, 1 + s] (the same on every axis).
        translate_mm: shift in millimetres drawn from [-t, t] per axis.
        elastic: add an elastic deformation.
        elastic_magnitude_mm: largest displacement of the elastic control points, in millimetres.
        elastic_control_points: control points per axis of the elastic deformation.
        flip_axes: spatial axes flipped with probability 0.5 each (``[0]``: left-right in RAS).
    """

    rotate_degrees: float = 10.0
    scale: float = 0.1
    translate_mm: float = 0.0
    elastic: bool = True
    elastic_magnitude_mm: float = 6.0
    elastic_control_points: int = 6
    flip_axes: list[int] = field(default_factory=list)


def medgan_mask_transform(options: AugmentOptions, spatial_dims: int) -> MaskTransform:
    """The default ``augment`` transform: medgan's affine + elastic + flips in one nearest-neighbour
    resampling (:mod:`medgan.transforms`), in millimetres of the mask's own spacing.

    Returns:
        ``transform({"label": (1, *S), "meta": {"spacing": ...}}, rng)``: draws one seed from ``rng``
        and returns the new label with the applied parameters in ``history``.
    """
    from medgan.transforms.config import build_pipeline
    from medgan.transforms.seeded import seeded

    entries: list[dict[str, Any]] = [{"name": "affine", "rotate": options.rotate_degrees,
                                      "scale": [1.0 - options.scale, 1.0 + options.scale],
                                      "translate": options.translate_mm}]
    if options.elastic:
        entries.append({"name": "elastic", "magnitude_mm": options.elastic_magnitude_mm,
                        "control_points": options.elastic_control_points})
    if options.flip_axes:
        entries.append({"name": "flip", "axes": list(options.flip_axes), "prob": 0.5})
    apply = seeded(build_pipeline({"transforms": entries, "label_mode": "nearest"}, keys=("label",),
                                  label_keys=("label",), spatial_dims=spatial_dims))

    def transform(sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        label = np.asarray(sample["label"])
        seed = int(rng.integers(2**31 - 1))
        out = apply({"label": label, "meta": {"spacing": sample.get("meta", {}).get("spacing"), "history": []}}, seed)
        history = [{"name": "medgan_mask_augment", "seed": seed}] + list(out["meta"]["history"])
        return {"label": np.asarray(out["label"]).astype(label.dtype), "history": history}

    return transform


@MASK_SOURCES.register("augment")
class AugmentedMasks:
    """Real label maps through classic spatial augmentation (see :class:`AugmentOptions`).

    Args:
        options: :class:`AugmentOptions` settings as a mapping.
        transform: ``transform({"label": ..., "meta": ...}, rng) -> {"label": ..., "history": [...]}``;
            it must keep label values integer (nearest resampling). Default: :func:`medgan_mask_transform`.
    """

    def __init__(self, options: dict[str, Any] | None = None, transform: MaskTransform | None = None) -> None:
        self.options = load_config(options or {}, AugmentOptions, where="mask source augment")
        self.transform = transform

    def masks(self, n: int, seed: int, context_cases: Sequence[dict[str, Any]]) -> list[Mask]:
        cases = _context_with_labels(context_cases)
        dims = np.asarray(cases[0]["label"]).ndim - 1
        transform = self.transform or medgan_mask_transform(self.options, dims)
        out = []
        for i in range(n):
            case = cases[i % len(cases)]
            result = transform({"label": np.asarray(case["label"]).copy(),
                                "meta": {"spacing": case.get("meta", {}).get("spacing")}},
                               np.random.default_rng([seed, i]))
            meta = _mask_meta(case)
            meta.setdefault("history", []).extend(result.get("history", []))
            out.append((np.asarray(result["label"]), meta))
        return out


# ---------------------------------------------------------------------------------- lesion-move


@dataclass
class LesionMoveOptions:
    """Settings of the ``lesion-move`` source.

    Attributes:
        scale_range: the moved lesion is zoomed by a factor drawn from this range (same on all axes).
        organ_labels: label values of the organ the lesion must stay in (label maps with anatomy);
            default: the head/body mask from the context case's image intensities.
        lesion_labels: label values that form lesions (default: every non-zero value not in
            ``organ_labels``).
        min_voxels: smaller components are not moved.
        margin: voxels kept between the moved lesion and other lesions.
        attempts: random placements tried before the lesion stays where it was (resized only).
    """

    scale_range: tuple[float, float] = (0.75, 1.25)
    organ_labels: list[int] | None = None
    lesion_labels: list[int] | None = None
    min_voxels: int = 5
    margin: int = 2
    attempts: int = 100


def move_lesion(label: np.ndarray, organ: np.ndarray, rng: np.random.Generator, options: LesionMoveOptions
                ) -> tuple[np.ndarray, dict[str, Any]]:
    """Move and resize one random connected lesion component of ``label`` inside ``organ``.

    Args:
        label: ``(1, *S)`` label map.
        organ: ``(*S)`` bool, where lesions may lie.
        rng: the only source of randomness.
        options: see :class:`LesionMoveOptions`.

    Returns:
        ``(new_label, record)``; the record holds the component's size, the scale, and the old and new
        centres (``moved`` is ``False`` when no placement fitted and only the size changed, or when
        there was no lesion).
    """
    values = np.asarray(label[0])
    if options.lesion_labels is not None:
        lesions = np.isin(values, options.lesion_labels)
    else:
        lesions = (values > 0) & ~np.isin(values, options.organ_labels or [])
    components, count = ndimage.label(lesions, structure=np.ones((3,) * values.ndim))
    sizes = np.bincount(components.ravel())[1:]
    eligible = [i + 1 for i, s in enumerate(sizes) if s >= options.min_voxels]
    if not eligible:
        return label.copy(), {"name": "move_lesion", "moved": False, "reason": "no lesion"}
    chosen = int(eligible[int(rng.integers(len(eligible)))])
    component = components == chosen
    box = ndimage.find_objects(component.astype(np.int32))[0]
    patch = np.where(component[box], values[box], 0)
    scale = float(rng.uniform(*options.scale_range))
    patch = ndimage.zoom(patch, scale, order=0, grid_mode=True, mode="grid-constant", cval=0)
    # vacate: every voxel of the component takes the label of the nearest voxel outside all lesions
    _, nearest = ndimage.distance_transform_edt(lesions, return_indices=True)
    new = values.copy()
    new[component] = values[tuple(n[component] for n in nearest)]
    others = lesions & ~component
    if options.margin > 0 and others.any():
        others = ndimage.binary_dilation(others, iterations=options.margin)
    allowed = organ & ~others
    old_centre = [int(round(float(c))) for c in ndimage.center_of_mass(component)]
    footprint = patch > 0
    half = [s // 2 for s in patch.shape]
    candidates = np.argwhere(allowed)
    for _ in range(options.attempts if len(candidates) else 0):
        centre = candidates[int(rng.integers(len(candidates)))]
        start = [int(c) - h for c, h in zip(centre, half)]
        if any(s < 0 or s + p > n for s, p, n in zip(start, patch.shape, values.shape)):
            continue
        window = tuple(slice(s, s + p) for s, p in zip(start, patch.shape))
        if allowed[window][footprint].all():
            new[window][footprint] = patch[footprint]
            return new[None].astype(label.dtype), {
                "name": "move_lesion", "moved": True, "voxels": int(component.sum()), "scale": scale,
                "from": old_centre, "to": [int(c) for c in centre]}
    # no room found: put the resized lesion back where it was
    start = [max(0, min(c - h, n - p)) for c, h, p, n in zip(old_centre, half, patch.shape, values.shape)]
    window = tuple(slice(s, s + p) for s, p in zip(start, patch.shape))
    fitted = footprint[tuple(slice(0, w.stop - w.start) for w in window)]
    new[window][fitted] = patch[tuple(slice(0, w.stop - w.start) for w in window)][fitted]
    return new[None].astype(label.dtype), {"name": "move_lesion", "moved": False, "voxels": int(component.sum()),
                                           "scale": scale, "from": old_centre, "to": old_centre}


@MASK_SOURCES.register("lesion-move")
class MovedLesionMasks:
    """Real label maps with one lesion component moved and resized inside the organ (see
    :class:`LesionMoveOptions`). Context cases with lesions are used in turn."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = load_config(options or {}, LesionMoveOptions, where="mask source lesion-move")

    def organ(self, case: dict[str, Any]) -> np.ndarray:
        """Where lesions may go in ``case``: its organ labels (plus its lesions), or its head mask."""
        from medgan.transforms.scaling import foreground_mask

        label = np.asarray(case["label"][0])
        if self.options.organ_labels:
            return np.isin(label, self.options.organ_labels) | (label > 0)
        if case.get("image") is None:
            raise DataError(case.get("id", "case"), "lesion-move needs the case's image (for the head mask) or "
                                                    "organ_labels in its settings")
        return foreground_mask(np.asarray(case["image"])) | (label > 0)

    def masks(self, n: int, seed: int, context_cases: Sequence[dict[str, Any]]) -> list[Mask]:
        cases = [c for c in _context_with_labels(context_cases) if np.asarray(c["label"]).any()]
        if not cases:
            raise DataError("mask source lesion-move", "no context case has a lesion to move")
        out = []
        for i in range(n):
            case = cases[i % len(cases)]
            rng = np.random.default_rng([seed, i])
            new, record = move_lesion(np.asarray(case["label"]), self.organ(case), rng, self.options)
            record["seed"] = [seed, i]
            out.append((new, _mask_meta(case, record)))
        return out


# ---------------------------------------------------------------------------------------- pggan


@dataclass
class GeneratedMasksOptions:
    """Settings of a label-map generator source: its run folder and device."""

    run: str = ""
    device: str = "cpu"


class GeneratedMasks:
    """Label maps sampled from a trained label-map generator run (the 3D progressive GAN).

    The run's family (from its ``config.yaml``) must be registered in
    :data:`medgan.registry.LABEL_MAP_SAMPLERS` as ``from_run(run_dir, device) -> sampler`` whose
    ``sample_label_maps(n, seed)`` returns ``[(label (1, *S) int array, meta), ...]``. When the
    sampler's meta has no ``affine``, the meta of a context case on the same grid is used.
    """

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = load_config(options or {}, GeneratedMasksOptions, where="mask source pggan")
        if not self.options.run:
            raise ConfigError("mask source pggan: 'run' (the label-map generator's run folder) is required")
        self._sampler: Any = None

    def sampler(self) -> Any:
        if self._sampler is None:
            from medgan.training.run import read_run_config

            family, _ = read_run_config(self.options.run)
            self._sampler = LABEL_MAP_SAMPLERS.get(family)(Path(self.options.run), self.options.device)
        return self._sampler

    def masks(self, n: int, seed: int, context_cases: Sequence[dict[str, Any]]) -> list[Mask]:
        out = []
        for i, (label, meta) in enumerate(self.sampler().sample_label_maps(n, seed)):
            meta = copy.deepcopy(meta or {})
            if "affine" not in meta:
                same = [c for c in context_cases if np.asarray(c["label"]).shape == np.asarray(label).shape]
                if not same:
                    raise DataError(self.options.run, "generated label maps carry no affine and no context case "
                                                      "shares their grid")
                meta = {**_mask_meta(same[i % len(same)]), **meta}
            meta.setdefault("history", []).append({"name": "label_map_generator", "run": self.options.run,
                                                   "seed": seed, "index": i})
            out.append((np.asarray(label), meta))
        return out


MASK_SOURCES.register("pggan")(GeneratedMasks)
