"""Synthesis with a trained inpainting model: new label maps from real ones, placed in a case and
filled by the generator; the labels written are exactly the map the model was given.

Per lesion:

1. **Label map**: a training lesion's label map (kept in the run's checkpoint), deformed and
   rescaled with medgan's spatial transforms (rotation, zoom, elastic, flips; labels one-hot
   linear + argmax, so no new values), or a map given by the caller (another mask source, checked
   against the model's label values). It is resampled to the target case's spacing (one-hot
   linear + argmax).
2. **Place**: a centre where the lesion lies inside the foreground (or organ labels) at least
   ``inset_mm`` from its edge and at least ``margin_mm`` from every existing lesion.
3. **Fill**: the region around it (the model's region size in mm) is scaled to [-1, 1] with the
   case's own percentiles, resampled to the model's spacing if needed, the hole (the lesion grown
   by the run's hole margin) is cut out and filled by the generator, resampled back, and written
   into the hole only; outside the hole the image is bit-for-bit unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from medgan.errors import ConfigError, DataError
from medgan.families.lesion_inpaint import FAMILY, LesionInpaintConfig
from medgan.families.lesion_inpaint.regions import bbox_crop, grow, scale_case
from medgan.models.inpainting import InpaintingGenerator, composite, masked_context
from medgan.models.spade import one_hot_labels
from medgan.transforms.insertion import candidate_locations, crop_centred
from medgan.transforms.lesion_extent import case_spacing, resample_to_spacing
from medgan.transforms.scaling import foreground_mask, from_unit_range, percentile_range


def resize(array: np.ndarray, shape: Sequence[int], labels: bool = False) -> np.ndarray:
    """Resample ``(C, *spatial)`` to exactly ``shape`` over the same field of view (grid-aligned
    voxel centres; linear for images, nearest for labels)."""
    spatial = array.shape[1:]
    if tuple(spatial) == tuple(shape):
        return array
    axes = [(np.arange(n) + 0.5) * (m / n) - 0.5 for n, m in zip(shape, spatial)]
    coords = np.stack(np.meshgrid(*axes, indexing="ij"))
    order = 0 if labels else 1
    out = np.stack([ndimage.map_coordinates(ch, coords, order=order, mode="nearest") for ch in array])
    return out.astype(array.dtype if labels else np.float32)


def load_inpaint_run(run_dir: str | Path) -> tuple[LesionInpaintConfig, Path]:
    """The resolved config and newest checkpoint of a lesion-inpaint run folder.

    Raises:
        DataError: not a run folder, a run of another family, or no checkpoint yet.
    """
    from medgan.training.checkpoint import list_checkpoints
    from medgan.training.run import CHECKPOINTS, CONFIG, read_run_config

    run_dir = Path(run_dir)
    family, config = read_run_config(run_dir)
    if family != FAMILY:
        raise DataError(run_dir / CONFIG, f"is a {family} run, not a {FAMILY} run")
    checkpoints = list_checkpoints(run_dir / CHECKPOINTS)
    if not checkpoints:
        raise DataError(run_dir, "run has no checkpoint yet")
    return config, checkpoints[-1]


class LesionInpainter:
    """A trained inpainting generator with the run's label maps, ready to put lesions into cases.

    Args:
        config: the run's resolved config.
        generator: the (EMA) generator with trained weights.
        label_maps: training label maps at the run's spacing (bounding-box crops).
        device: where the generator runs.
    """

    def __init__(self, config: LesionInpaintConfig, generator: InpaintingGenerator, label_maps: Sequence[np.ndarray],
                 device: str | torch.device = "cpu") -> None:
        check_config(config)
        self.config = config
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.label_maps = [np.asarray(m) for m in label_maps]
        if not self.label_maps:
            raise DataError("lesion-inpaint run", "holds no training label map")
        self.label_values = [int(v) for v in config.data.label_values or [0]]

    @classmethod
    def from_networks(cls, config: LesionInpaintConfig, networks: dict[str, torch.nn.Module],
                      label_maps: Sequence[np.ndarray], device: str | torch.device = "cpu") -> LesionInpainter:
        """From a config and its networks (e.g. a trainer's, EMA copies in place)."""
        return cls(config, copy.deepcopy(networks["G"]), label_maps, device)

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | torch.device = "cpu", use_ema: bool = True
                 ) -> LesionInpainter:
        """Load the newest checkpoint of the run at ``run_dir`` (the EMA generator)."""
        from medgan.training.run import load_run

        load_inpaint_run(run_dir)  # another family's run: one line naming its config
        return cls.from_loaded(load_run(run_dir, device, use_ema))

    @classmethod
    def from_loaded(cls, run: Any) -> LesionInpainter:
        """The inpainter of a loaded :class:`~medgan.training.run.Run` (label maps from its checkpoint state)."""
        from medgan.training.run import CONFIG

        if run.family != FAMILY:
            raise DataError(run.path / CONFIG, f"is a {run.family} run, not a {FAMILY} run")
        maps = [np.asarray(t.cpu().numpy() if hasattr(t, "cpu") else t) for t in run.state.get("label_maps") or []]
        if not maps:
            raise DataError(run.checkpoint, "holds no training label map")
        return cls(run.config, run.networks["G"], maps, next(run.networks["G"].parameters()).device)

    @property
    def spatial_dims(self) -> int:
        return int(self.config.data.spatial_dims or 3)

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(float(s) for s in self.config.data.spacing or [1.0] * self.spatial_dims)

    def sample_label_map(self, rng: np.random.Generator, index: int | None = None) -> np.ndarray:
        """A training label map (``index``, default a random one), deformed and rescaled (at the run's
        spacing, cropped to its box)."""
        from medgan.transforms import RandAffined, RandElasticd, RandFlipd, RandSpatiald

        pick = int(rng.integers(len(self.label_maps)))
        base = self.label_maps[pick if index is None else int(index) % len(self.label_maps)]
        m = self.config.masks
        pad = [max(2, int(np.ceil(0.3 * n))) for n in base.shape]
        padded = np.pad(base, [(p, p) for p in pad])[None]
        ops: list[Any] = [RandAffined(keys=("label",), rotate=m.rotate, scale=m.scale, mode="label_linear")]
        if m.elastic_mm > 0:
            ops.append(RandElasticd(keys=("label",), magnitude_mm=m.elastic_mm, control_points=5, mode="label_linear"))
        if m.flips:
            ops.append(RandFlipd(keys=("label",), prob=0.5, axes=tuple(range(base.ndim)), mode="label_linear"))
        spatial = RandSpatiald(ops, keys=("label",), mode=("label_linear",))
        spatial.set_random_state(seed=int(rng.integers(2**31 - 1)))
        out = np.asarray(spatial({"label": padded, "meta": {"spacing": self.spacing}})["label"])[0]
        return bbox_crop(out) if out.any() else base

    @torch.no_grad()
    def fill(self, region: np.ndarray, labels: np.ndarray, hole: np.ndarray,
             rng: np.random.Generator | None = None) -> np.ndarray:
        """Generator output on one region at the run's grid.

        Args:
            region: ``(C, *region_size)`` scaled (:func:`~.regions.scale_case`).
            labels: ``(*region_size)`` integer label map (values among the run's).
            hole: ``(*region_size)`` bool.
            rng: draws the prior's texture noise, if the generator has one (``None``: no texture).

        Returns:
            ``(C, *region_size)`` composite: generated inside the hole, ``region`` elsewhere.
        """
        image = torch.from_numpy(np.ascontiguousarray(region, np.float32))[None].to(self.device)
        hole_t = torch.from_numpy(np.ascontiguousarray(hole, np.float32))[None, None].to(self.device)
        label_t = torch.from_numpy(np.ascontiguousarray(labels, np.int64))[None, None].to(self.device)
        onehot = one_hot_labels(label_t, self.label_values)
        noise = None
        if rng is not None and getattr(self.generator, "use_texture", False):
            noise = torch.from_numpy(rng.standard_normal(image.shape, dtype=np.float32)).to(self.device)
        output = self.generator(masked_context(image, hole_t), hole_t, onehot, noise)
        return composite(output, image, hole_t)[0].float().cpu().numpy()

    def check_case(self, case: dict[str, Any]) -> None:
        """Refuse a case of other dimensionality or channels than the run's (one line, naming it)."""
        image = np.asarray(case["image"])
        name = case.get("id", "case")
        if image.ndim - 1 != self.spatial_dims:
            raise DataError(name, f"is {image.ndim - 1}D but the inpainting model is {self.spatial_dims}D")
        modalities = (case.get("meta") or {}).get("modalities")
        wanted = list(self.config.data.modalities or [])
        if (modalities and list(modalities) != wanted) or image.shape[0] != len(wanted):
            raise DataError(name, f"has channels {list(modalities or [image.shape[0]])}; the inpainting model was "
                                  f"trained on {wanted}")

    def check_label_map(self, label_map: np.ndarray, where: str = "mask source") -> None:
        """Refuse label values the model never saw."""
        unknown = sorted(set(np.unique(label_map).tolist()) - set(self.label_values))
        if unknown:
            raise DataError(where, f"label value {unknown[0]} was never in the inpainting model's training labels "
                                   f"{self.label_values}")


def inpaint_lesions(case: dict[str, Any], inpainter: LesionInpainter, n: int, rng: np.random.Generator,
                    label_maps: Sequence[np.ndarray] | None = None, organ_labels: Sequence[int] | None = None,
                    margin_mm: float | None = None, inset_mm: float = 10.0, attempts: int = 20,
                    prefer: Sequence[int] = ()) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Insert ``n`` inpainted lesions into a copy of ``case``.

    Args:
        case: a case dictionary of the run's dimensionality and modalities (any spacing).
        inpainter: the trained model.
        n: lesions to insert.
        rng: the only source of randomness.
        label_maps: label maps to use in turn (at the run's spacing), instead of deformed training maps.
        organ_labels: label values of the organ to insert into (default: the intensity foreground).
        margin_mm: least distance to existing lesions (default: the hole margin + one voxel).
        inset_mm: least distance to the edge of the foreground / organ.
        attempts: label maps tried per lesion before giving up.
        prefer: training-map indices deformed for the 1st, 2nd... lesion's first attempt (a caller
            dealing the maps out in turn); later attempts take random maps.

    Returns:
        ``(new_case, records)``; ``new_case["meta"]["history"]`` lists every lesion.

    Raises:
        DataError: a case or label map the model cannot take, or no room for a lesion.
    """
    inpainter.check_case(case)
    for i, given in enumerate(label_maps or []):
        inpainter.check_label_map(given, f"label map {i}")
    image = np.asarray(case["image"])
    label = np.asarray(case["label"]) if case.get("label") is not None else np.zeros((1,) + image.shape[1:], np.uint8)
    spacing = case_spacing(case)
    data = inpainter.config.data
    margin = data.hole_margin_mm + max(spacing) if margin_mm is None else margin_mm
    foreground = foreground_mask(image)
    organ = np.isin(label[0], list(organ_labels)) if organ_labels else foreground
    if inset_mm > 0:
        # the volume's edge counts as the organ's edge (an all-foreground image has one too)
        inner = tuple(slice(1, -1) for _ in organ.shape)
        organ = ndimage.distance_transform_edt(np.pad(organ, 1), sampling=spacing)[inner] > inset_mm
    lo, hi = percentile_range(image, foreground, foreground)
    unit = scale_case(image, lo, hi, data.clip_high)
    region_t = [max(1, int(round(r * w / t))) for r, w, t in zip(data.region_size or [], inpainter.spacing, spacing)]
    new_image = image.copy()
    new_label = label.copy()
    records = []
    for k in range(n):
        placed = None
        for attempt in range(attempts):
            first = prefer[k] if attempt == 0 and k < len(prefer) else None
            base = np.asarray(label_maps[k % len(label_maps)]) if label_maps else inpainter.sample_label_map(rng, first)
            lesion_t = bbox_crop(resample_to_spacing(base[None], inpainter.spacing, spacing, labels="linear")[0])
            if not lesion_t.any():
                continue
            grown = [int(np.ceil(data.hole_margin_mm / s)) for s in spacing]
            if any(n_ + 2 * g + 2 > r for n_, g, r in zip(lesion_t.shape, grown, region_t)):
                continue  # deformed beyond the model's region: another map
            existing = new_label[0] > 0
            forbidden = ndimage.distance_transform_edt(~existing, sampling=spacing) < margin if existing.any() \
                else existing
            centres = candidate_locations(organ, forbidden, lesion_t, rng, 1)
            if centres:
                placed = (lesion_t, centres[0])
                break
        if placed is None:
            raise DataError(case.get("id", "case"), f"no place found for a lesion after {attempts} label maps "
                                                    "(organ too small or full of lesions)")
        lesion_t, centre = placed
        labels_t = np.zeros(region_t, np.int64)
        offset = [r // 2 - s // 2 for r, s in zip(region_t, lesion_t.shape)]
        labels_t[tuple(slice(o, o + s) for o, s in zip(offset, lesion_t.shape))] = lesion_t
        hole_t = grow(labels_t > 0, data.hole_margin_mm, spacing)
        region = crop_centred(unit, centre, region_t, -1.0)
        filled = resize(inpainter.fill(resize(region, data.region_size), resize(labels_t[None], data.region_size,
                                                                                   labels=True)[0],
                                       resize(hole_t[None], data.region_size, labels=True)[0], rng), region_t)
        # write the hole (and labels) back where the region lies inside the case
        lesion_voxels = _paste(new_image, new_label, filled, labels_t, hole_t, centre, lo, hi)
        records.append({"centre": [int(c) for c in centre], "labels": sorted(int(v) for v in np.unique(lesion_t)
                                                                             if v), "voxels": lesion_voxels})
    meta = copy.deepcopy(case.get("meta", {}))
    meta.setdefault("history", []).append({"name": "inpaint_lesions", "lesions": records, "margin_mm": margin,
                                           "inset_mm": inset_mm})
    meta["labelled"] = True
    meta.setdefault("label_dtype", "uint8")
    meta["source_case"] = str(case.get("id", ""))
    return {**case, "image": new_image, "label": new_label, "meta": meta}, records


def _paste(image: np.ndarray, label: np.ndarray, filled: np.ndarray, labels_t: np.ndarray, hole_t: np.ndarray,
           centre: Sequence[int], lo: np.ndarray, hi: np.ndarray) -> int:
    spatial = image.shape[1:]
    src, dst = [], []
    for c, n, size in zip(centre, spatial, labels_t.shape):
        start = int(c) - size // 2
        a, b = max(start, 0), min(start + size, n)
        src.append(slice(a - start, b - start))
        dst.append(slice(a, b))
    src, dst = tuple(src), tuple(dst)
    hole = hole_t[src]
    values = from_unit_range(filled[(slice(None),) + src], lo, hi)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    target = image[(slice(None),) + dst]
    target[:, hole] = values[:, hole].astype(image.dtype)
    lesion = labels_t[src] > 0
    label[(0,) + dst][lesion] = labels_t[src][lesion].astype(label.dtype)
    return int(lesion.sum())


def check_config(config: LesionInpaintConfig) -> None:
    """Refuse a config that cannot sample (unresolved data fields)."""
    if not config.data.region_size or not config.data.spacing or not config.data.label_values:
        raise ConfigError("lesion-inpaint: the run's config is not resolved (region_size, spacing, label_values)")


def mask_source_maps(path: str | Path, inpainter: LesionInpainter) -> list[np.ndarray]:
    """The lesions of a labelled dataset as label maps at the run's spacing (bounding-box crops).

    Raises:
        DataError: no labelled lesion in it, or a label file with a value the model never saw
            (named with the file).
    """
    from medgan.io import load_dataset

    dataset = load_dataset(path)
    maps: list[np.ndarray] = []
    for ref in dataset.cases:
        if ref.label is None:
            continue
        case = dataset.load(ref)
        label = np.asarray(case["label"])[0]
        if label.ndim != inpainter.spatial_dims:
            raise DataError(ref.label, f"is {label.ndim}D but the inpainting model is {inpainter.spatial_dims}D")
        inpainter.check_label_map(label, str(ref.label))
        components, count = ndimage.label(label > 0)
        for k in range(1, count + 1):
            part = np.where(components == k, label, 0)
            if int((part > 0).sum()) < inpainter.config.data.min_voxels:
                continue
            moved = resample_to_spacing(bbox_crop(part)[None], case_spacing(case), inpainter.spacing,
                                        labels="linear")[0]
            if moved.any():
                maps.append(bbox_crop(moved))
    if not maps:
        raise DataError(dataset.root, "mask source holds no labelled lesion")
    return maps


class InpaintSampler:
    """A lesion-inpaint run as a :class:`~medgan.training.spec.Sampler`: lesions inpainted into given cases.

    Args:
        inpainter: the trained model.
        settings: the run's ``insert`` settings (:class:`~medgan.families.lesion_inpaint.InpaintInsertConfig`).
        label_maps: maps to inpaint in turn instead of deformed training maps (default: those of
            ``settings.mask_source``, if set).
    """

    def __init__(self, inpainter: LesionInpainter, settings: Any, label_maps: Sequence[np.ndarray] | None = None
                 ) -> None:
        self.inpainter, self.settings = inpainter, settings
        if label_maps is None and settings.mask_source:
            label_maps = mask_source_maps(settings.mask_source, inpainter)
        self.label_maps = list(label_maps) if label_maps else None

    def insert(self, case: dict[str, Any], n: int, rng: np.random.Generator, classes: Sequence[int] | None = None,
               organ_labels: Sequence[int] | None = None, margin: int | None = None, border: float | None = None
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``n`` lesions into a copy of ``case`` (``classes`` and ``border`` do not apply: the label
        maps decide the labels and the generator the border; ``margin`` is in voxels of the case)."""
        return self._insert(case, n, rng, organ_labels, margin)

    def _insert(self, case: dict[str, Any], n: int, rng: np.random.Generator, organ_labels: Sequence[int] | None,
                margin: int | None, prefer: Sequence[int] = ()) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        s = self.settings
        margin_mm = s.margin_mm if margin is None else float(margin) * max(case_spacing(case))
        maps = None
        if self.label_maps:
            maps = [self.label_maps[int(rng.integers(len(self.label_maps)))] for _ in range(n)]
        return inpaint_lesions(case, self.inpainter, n, rng, maps, organ_labels or s.organ_labels, margin_mm,
                               s.inset_mm, prefer=prefer)

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` new cases: lesions inpainted into the context cases, healthy ones first, in turn; a
        case without room is skipped for the next one.

        Raises:
            DataError: too few cases have room (naming the last problem).
        """
        rng = np.random.default_rng(seed)
        healthy = [c for c in context if c.get("label") is None or not np.any(c["label"])]
        others = [c for c in context if c.get("label") is not None and np.any(c["label"])]
        order = [healthy[i] for i in rng.permutation(len(healthy))] + [others[i] for i in rng.permutation(len(others))]
        if not order:
            raise ConfigError(f"{FAMILY}: no case to insert lesions into")
        # the training maps dealt out in turn (a new random order per round), so n cases follow the
        # training lesions' sizes and labels rather than a random draw's
        per_case, bank = self.settings.lesions_per_case, len(self.inpainter.label_maps)
        deal = [int(i) for _ in range(-(-n * per_case // bank)) for i in rng.permutation(bank)]
        out: list[dict[str, Any]] = []
        failures: list[str] = []
        index = 0
        while len(out) < n:
            if len(failures) > 2 * n + len(order):
                raise DataError(order[0].get("id", "case"), f"{FAMILY}: could insert into only {len(out)} of {n} "
                                                           f"cases; last problem: {failures[-1]}")
            case = order[index % len(order)]
            try:
                out.append(self._insert(case, per_case, np.random.default_rng([seed, index]), None, None,
                                        deal[len(out) * per_case:(len(out) + 1) * per_case])[0])
            except DataError as error:  # a case with no room: the next one
                if "no place found" not in str(error):
                    raise
                failures.append(str(error))
            index += 1
        return out
