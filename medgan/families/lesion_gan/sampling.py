"""Synthetic lesions from a trained lesion-GAN run, inserted into the cases of a dataset (``medgan
synthesize --into``), into given cases (the benchmark's sampler) or on the fly
(:class:`medgan.synthesis.transform.RandLesionInsertiond`).

Example:
    >>> lesions = LesionGenerator.from_run("runs/lesions")  # doctest: +SKIP
    >>> new_case, records = insert_synthetic_lesions(case, lesions, n=1, rng=np.random.default_rng(0))  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from medgan.errors import ConfigError, DataError
from medgan.families.lesion_gan.codec import MaskCodec
from medgan.transforms.insertion import choose_location, insert_lesion, lesion_to_spacing
from medgan.transforms.lesion_extent import case_spacing
from medgan.transforms.scaling import foreground_mask, from_unit_range, percentile_range


@dataclass
class LesionSample:
    """One generated lesion: ``image`` ``(C, *patch)`` in [-1, 1], ``label`` ``(*patch)`` int, ``lesion_class``."""

    image: np.ndarray
    label: np.ndarray
    lesion_class: int


class LesionGenerator:
    """The (EMA) generator of a lesion-GAN run, ready to sample lesions with their labels.

    Args:
        config: the run's resolved :class:`~medgan.families.lesion_gan.LesionGANConfig`.
        generator: the generator network with trained weights.
        device: where it runs.
    """

    def __init__(self, config: Any, generator: torch.nn.Module, device: str | torch.device = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.classes: list[int] = list(config.data.classes or [1])
        if config.data.mask == "labels" and not config.data.label_values:
            raise DataError("lesion-gan run", "the run records no label encoding (data.label_values); it was "
                                              "trained by a medgan version whose label decoding was wrong: retrain it")
        self.codec = MaskCodec(config.data.mask, config.data.label_values or (0, 1))

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | torch.device = "cpu", use_ema: bool = True) -> LesionGenerator:
        """Load the newest checkpoint of the lesion-GAN run at ``run_dir`` (the EMA generator)."""
        from medgan.training.run import load_run

        return cls.from_loaded(load_run(run_dir, device, use_ema))

    @classmethod
    def from_loaded(cls, run: Any) -> LesionGenerator:
        """The generator of a loaded lesion-GAN :class:`~medgan.training.run.Run`."""
        from medgan.training.run import CONFIG

        if run.family != "lesion-gan":
            raise DataError(run.path, f"is a {run.family} run, not a lesion-gan run")
        if run.config.data.mask == "labels" and not run.config.data.label_values:
            raise DataError(run.path / CONFIG, "the run records no label encoding (data.label_values); it was "
                                               "trained by a medgan version whose label decoding was wrong: retrain it")
        return cls(run.config, run.networks["G"], next(run.networks["G"].parameters()).device)

    @property
    def spatial_dims(self) -> int:
        return int(self.config.data.spatial_dims)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, classes: Sequence[int] | None = None) -> list[LesionSample]:
        """``n`` lesions; classes drawn uniformly from ``classes`` (label values; default: the run's)."""
        wanted = list(classes) if classes else self.classes
        unknown = [c for c in wanted if c not in self.classes]
        if unknown:
            raise ConfigError(f"lesion class {unknown[0]} was not in the training data (classes {self.classes})")
        picks = torch.randint(len(wanted), (n,), generator=generator)
        values = [wanted[int(i)] for i in picks]
        z = torch.randn(n, self.config.model.latent_dim, generator=generator).to(self.device)
        index = torch.tensor([self.classes.index(v) for v in values], device=self.device)
        out = self.generator(z, index if self.generator.num_classes > 0 else None).float().cpu().numpy()
        return [self._decode(out[i], values[i]) for i in range(n)]

    def _decode(self, output: np.ndarray, lesion_class: int) -> LesionSample:
        image, mask = output[:-1], output[-1]
        label = self.codec.decode(mask, lesion_class)
        # keep the component nearest the centre: a lesion is one blob
        components, count = ndimage.label(label > 0)
        if count > 1:
            sizes = np.bincount(components.ravel())[1:]
            label = np.where(components == 1 + int(np.argmax(sizes)), label, 0).astype(np.int16)
        return LesionSample(image, label, lesion_class)

    def insert(self, case: dict[str, Any], n: int, rng: np.random.Generator, classes: Sequence[int] | None = None,
               organ_labels: Sequence[int] | None = None, margin: int = 3, border: float = 2.0
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """:func:`insert_synthetic_lesions` with this generator."""
        return insert_synthetic_lesions(case, self, n, rng, classes, organ_labels, margin, border)


def at_spacing(sample: LesionSample, spacing: Sequence[float] | None, target: Sequence[float] | None
               ) -> LesionSample:
    """``sample`` resampled from the run's training spacing to the ``target`` scan's (labels one-hot
    linear); unchanged when either is unknown."""
    if spacing is None or target is None:
        return sample
    image, label = lesion_to_spacing(sample.image, sample.label, spacing, target)
    return LesionSample(image, label, sample.lesion_class)


def organ_mask(case: dict[str, Any], organ_labels: Sequence[int] | None = None) -> np.ndarray:
    """Where lesions may go: the given organ labels, else the body/brain mask from intensity."""
    if organ_labels:
        if "label" not in case:
            raise DataError(case.get("id", "case"), "organ labels were given but the case has no label map")
        return np.isin(np.asarray(case["label"][0]), list(organ_labels))
    return foreground_mask(np.asarray(case["image"]))


def insert_synthetic_lesions(case: dict[str, Any], lesions: LesionGenerator, n: int, rng: np.random.Generator,
                             classes: Sequence[int] | None = None, organ_labels: Sequence[int] | None = None,
                             margin: int = 3, border: float = 2.0, attempts: int = 20
                             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Insert ``n`` generated lesions into a copy of ``case``.

    The organ mask comes from ``organ_labels`` or from intensity; existing lesions are the non-organ,
    non-zero labels. Each lesion is scaled to the case's intensities (the same per-case percentiles
    as during training), placed inside the organ at least ``margin`` voxels from any lesion, blended
    over ``border`` voxels, and its labels written. ``meta["history"]`` records every insertion.

    Args:
        case: a case dictionary of the run's dimensionality and channels.
        lesions: the trained generator.
        n: lesions to insert.
        rng: the only source of randomness.
        classes: lesion classes (label values) to draw from.
        organ_labels, margin, border: see above.
        attempts: generated lesions tried per insertion before giving up.

    Returns:
        ``(new_case, records)``: one record per lesion (centre, class, voxels).

    Raises:
        DataError: a lesion found no place after ``attempts`` tries.
    """
    image = np.asarray(case["image"])
    if image.ndim - 1 != lesions.spatial_dims:
        raise DataError(case.get("id", "case"), f"is {image.ndim - 1}D but the lesion GAN is {lesions.spatial_dims}D")
    if image.shape[0] != len(lesions.config.data.modalities or [None]):
        raise DataError(case.get("id", "case"), f"has {image.shape[0]} channels; the lesion GAN was trained on "
                                                f"{lesions.config.data.modalities}")
    label = np.asarray(case["label"]) if "label" in case else np.zeros((1,) + image.shape[1:], np.uint8)
    organ = organ_mask(case, organ_labels)
    body = foreground_mask(image)
    lo, hi = percentile_range(image, body, body)
    # without a recorded spacing the case is taken to share the training data's
    spacing = case_spacing(case) if (case.get("meta") or {}).get("spacing") is not None else None
    torch_rng = torch.Generator().manual_seed(int(rng.integers(2**62)))
    records = []
    for _ in range(n):
        existing = (label[0] > 0) & ~np.isin(label[0], list(organ_labels or []))
        placed = None
        for _attempt in range(attempts):
            sample = at_spacing(lesions.sample(1, torch_rng, classes)[0], lesions.config.data.spacing, spacing)
            centre = choose_location(organ, existing, sample.label, rng, margin)
            if centre is not None:
                placed = (sample, centre)
                break
        if placed is None:
            raise DataError(case.get("id", "case"), f"no place found for a lesion after {attempts} tries (organ too "
                                                    "small or full of lesions)")
        sample, centre = placed
        patch = from_unit_range(sample.image, lo, hi)
        image, label, insertion = insert_lesion(image, label, patch, sample.label, centre, border)
        records.append({"centre": list(centre), "lesion_class": sample.lesion_class,
                        "voxels": int(insertion.lesion.sum())})
    new_case = {**case, "image": image, "label": label, "meta": copy.deepcopy(case.get("meta", {}))}
    new_case["meta"].setdefault("history", []).append(
        {"name": "insert_synthetic_lesions", "lesions": records, "margin": margin, "border": border,
         "classes": list(classes) if classes else None})
    if "label_dtype" not in new_case["meta"]:
        new_case["meta"]["label_dtype"] = "uint8"
    new_case["meta"]["labelled"] = True
    return new_case, records


class LesionSampler:
    """A lesion-GAN run as a :class:`~medgan.training.spec.Sampler`: lesions inserted into given cases.

    Args:
        lesions: the trained generator.
        settings: the run's ``insert`` settings (:class:`~medgan.families.lesion_gan.LesionInsertConfig`).
    """

    def __init__(self, lesions: LesionGenerator, settings: Any) -> None:
        self.lesions, self.settings = lesions, settings

    def insert(self, case: dict[str, Any], n: int, rng: np.random.Generator, classes: Sequence[int] | None = None,
               organ_labels: Sequence[int] | None = None, margin: int | None = None, border: float | None = None
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """:func:`insert_synthetic_lesions`, unset settings taken from the run's ``insert`` config."""
        s = self.settings
        return insert_synthetic_lesions(case, self.lesions, n, rng, classes or s.classes,
                                        organ_labels or s.organ_labels, s.margin if margin is None else margin,
                                        s.border if border is None else border)

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` new cases: ``lesions_per_case`` lesions inserted into the context cases, healthy cases
        first, in turn (Bowles et al. 2018); a case too full of lesions is skipped."""
        rng = np.random.default_rng(seed)
        healthy = [c for c in context if not np.any(c["label"])]
        others = [c for c in context if np.any(c["label"])]
        order = [healthy[i] for i in rng.permutation(len(healthy))] + [others[i] for i in rng.permutation(len(others))]
        if not order:
            raise ConfigError("lesion-gan sampler: no context cases to insert lesions into")
        out: list[dict[str, Any]] = []
        failures: list[str] = []
        index = 0
        while len(out) < n:
            if len(failures) > 2 * n + len(order):
                raise DataError(failures[-1].split(":")[0], f"lesion-gan: could place only {len(out)} of {n} "
                                                           f"lesions; last problem: {failures[-1]}")
            case = order[index % len(order)]
            index += 1
            try:
                new_case, _ = self.insert(case, self.settings.lesions_per_case, rng)
            except DataError as error:  # a case too full of lesions: try the next one
                failures.append(str(error))
                continue
            new_case["meta"]["source_case"] = case["id"]
            out.append(new_case)
        return out


def synthesize_into(run_dir: str | Path, out: str | Path, data: str | Path, n: int,
                    lesions_per_case: int | None = None, classes: Sequence[int] | None = None,
                    organ_labels: Sequence[int] | None = None, margin: int | None = None, border: float | None = None,
                    seed: int = 0, cases: Sequence[str] | None = None, exclude_cases: Sequence[str] = (),
                    allow_excluded: bool = False, device: str = "cpu") -> Path:
    """Write ``n`` new cases to ``out``, each a case of ``data`` with synthetic lesions inserted.

    Source cases are taken in turn from ``cases`` (default: all cases of ``data``) minus
    ``exclude_cases`` and, when ``data`` is the run's training dataset, minus the cases the run
    excluded from training (its test cases; ``allow_excluded`` keeps them, with a warning). New
    case ``i`` is ``<source>_synles<i>`` with seed ``(seed, i)``. Unset insertion settings come
    from the run's ``insert`` config. The output is written in ``data``'s layout with the source
    affines, and ``manifest.csv`` records source case, seed, centres and classes. Finished cases are
    skipped when re-run (resumable).

    Returns:
        The manifest path.
    """
    from medgan.families._cases import without_excluded
    from medgan.io import DatasetWriter, load_dataset
    from medgan.training.run import load_run

    if n < 1:
        raise ConfigError("--n must be at least 1")
    run = load_run(run_dir, device)
    sampler = LesionSampler(LesionGenerator.from_loaded(run), run.config.insert)
    s = run.config.insert
    lesions_per_case = s.lesions_per_case if lesions_per_case is None else lesions_per_case
    dataset = load_dataset(data, modalities=run.config.data.modalities)
    known = {ref.id for ref in dataset.cases}
    for case_id in list(cases or []) + list(exclude_cases):
        if case_id not in known:
            raise DataError(dataset.root, f"no case named {case_id!r}")
    banned = set(exclude_cases)
    sources = [c for c in (cases or [ref.id for ref in dataset.cases]) if c not in banned]
    sources = without_excluded(run_dir, dataset.root, sources, given=bool(cases), allow=allow_excluded)
    if not sources:
        raise DataError(dataset.root, "no source case left after exclusions")
    with DatasetWriter(dataset, out) as writer:  # a failure before the first case leaves no folder
        for i in range(n):
            source = sources[i % len(sources)]
            new_id = f"{source}_synles{i:04d}"
            if writer.done(new_id):
                continue
            case = dataset.load(source)
            rng = np.random.default_rng([seed, i])
            new_case, records = sampler.insert(case, lesions_per_case, rng, classes, organ_labels, margin, border)
            writer.write(new_case, new_id, {"source_case": source, "seed": seed, "index": i, "run": str(run_dir),
                                            "centres": ";".join(" ".join(map(str, r["centre"])) for r in records),
                                            "lesion_classes": ";".join(str(r["lesion_class"]) for r in records),
                                            "lesion_voxels": ";".join(str(r["voxels"]) for r in records)})
        return writer.finish()
