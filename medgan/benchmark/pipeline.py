"""Declarative benchmark pipelines: YAML files under ``pipelines/`` loaded into typed dataclasses.

Unknown keys are an error. ``quick:`` holds overrides applied by ``--quick`` (a CI-sized run).
Relative data paths are resolved against the pipeline file's folder. Every setting is checked here,
before anything is written: :func:`load_pipeline` checks what the file alone can tell, and
:func:`check_against_data` what needs the dataset (dimensions, label values, case counts).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from medgan.benchmark.arms import Arm
from medgan.benchmark.classification import ClassifierOptions
from medgan.benchmark.unet import UNetOptions
from medgan.benchmark.yolo import YoloOptions
from medgan.config import load_config, read_yaml
from medgan.errors import ConfigError
from medgan.registry import BACKENDS, BENCHMARK_ARMS

#: synthetic (or control) cases per real training case: more asks for absurd numbers of cases
MAX_RATIO = 50.0
#: seeds must be usable by numpy's legacy and torch's generators alike, without wrapping
MAX_SEED = 2**32 - 1
#: training sets smaller than this are refused unless ``grid.allow_small: true``
MIN_TRAINING_CASES = 3
#: the task each known backend serves (a backend class may also say so with a ``task`` attribute)
BACKEND_TASKS = {"unet": "segmentation", "yolo": "detection", "classifier": "classification"}


@dataclass
class DataSpec:
    """Which dataset, and which of its modalities feed the model."""

    path: str = ""
    format: str = "auto"
    modalities: list[str] | None = None


@dataclass
class SplitSpec:
    """Patient-level k-fold cross-validation, drawn once from ``seed`` before anything else.

    Attributes:
        folds: k; every case is a test case in exactly one fold.
        val_fraction: share of each fold's non-test cases used for model selection.
        seed: the seed of the folds (independent of the grid's seeds).
        stratify_empty_labels: keep the healthy / lesion mix in every fold and training subset.
    """

    folds: int = 5
    val_fraction: float = 0.15
    seed: int = 0
    stratify_empty_labels: bool = True


@dataclass
class GridSpec:
    """training-set size x arm x added-case ratio x seed, run in every fold.

    Attributes:
        fractions: training-set sizes as fractions of the smallest fold's training pool ...
        cases: ... or as absolute numbers of real training cases (give exactly one of the two).
        arms: arm names (``medgan.registry.BENCHMARK_ARMS``), ``none`` first or anywhere.
        ratios: cases added per real training case by the arms that add cases (GAN arms, controls).
        seeds: training seeds; every test case is evaluated once per seed.
        folds: run only these folds (default: all; a subset tests only some cases: quick checks).
        allow_small: accept training sets of fewer than 3 cases.
    """

    fractions: list[float] | None = None
    cases: list[int] | None = None
    arms: list[str] = field(default_factory=lambda: ["none", "classic", "gan", "gan+classic"])
    ratios: list[float] = field(default_factory=lambda: [1.0])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    folds: list[int] | None = None
    allow_small: bool = False


@dataclass
class SynthesisSpec:
    """The GAN stage used by the ``gan`` arms: a name from the synthesis-stage registry and its options.

    Attributes:
        allow_failed_gate: use a stage whose output fails the realism gate anyway (its arm is
            flagged in every table); by default such a stage is refused before any training.
    """

    stage: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    allow_failed_gate: bool = False


@dataclass
class AugmentationSpec:
    """Classic augmentation used by the ``classic`` arms: a preset name or a config file."""

    preset: str = "default"
    config: str | None = None


@dataclass
class Pipeline:
    """One benchmark experiment."""

    name: str
    protocol: str = ""
    task: Literal["segmentation", "detection", "classification"] = "segmentation"
    backend: Literal["unet", "yolo", "classifier"] = "unet"
    spatial_dims: int = 3
    data: DataSpec = field(default_factory=DataSpec)
    split: SplitSpec = field(default_factory=SplitSpec)
    grid: GridSpec = field(default_factory=GridSpec)
    unet: UNetOptions = field(default_factory=UNetOptions)
    yolo: YoloOptions = field(default_factory=YoloOptions)
    classifier: ClassifierOptions = field(default_factory=ClassifierOptions)
    synthesis: SynthesisSpec = field(default_factory=SynthesisSpec)
    augmentation: AugmentationSpec = field(default_factory=AugmentationSpec)
    regions: dict[str, list[int]] = field(default_factory=dict)
    label_names: dict[int, str] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    base_dir: str = "."
    source: str = ""


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_RENAMED = {"test_fraction": "split.test_fraction was replaced by split.folds (k-fold cross-validation: "
                             "every case is tested once); remove it"}


def load_pipeline(path: str | Path, quick: bool = False, overrides: dict[str, Any] | None = None) -> Pipeline:
    """Read a pipeline YAML; with ``quick`` apply its ``quick:`` overrides; check every setting.

    Raises:
        ConfigError: unknown keys, wrong types or values, naming the key and the problem.
    """
    path = Path(path)
    raw = read_yaml(path)
    if not isinstance(raw.get("quick", {}), dict):
        raise ConfigError(f"{path}: quick: expected a mapping of overrides, found {raw['quick']!r}")
    if quick:
        raw = _merge(raw, raw.get("quick", {}))
    if overrides:
        raw = _merge(raw, overrides)
    split = raw.get("split")
    if isinstance(split, dict) and "test_fraction" in split:
        raise ConfigError(f"{path}: {_RENAMED['test_fraction']}")
    raw.setdefault("base_dir", str(path.resolve().parent))
    raw.setdefault("source", str(path))
    try:
        pipeline = load_config(raw, Pipeline, where=str(path))
    except ConfigError as error:  # e.g. raised by an options dataclass, which does not know the file
        text = str(error)
        raise ConfigError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    check_pipeline_settings(pipeline, where=str(path))
    return pipeline


def _fail(where: str, key: str, problem: str) -> NoReturn:
    raise ConfigError(f"{where}: {key}: {problem}")


def _unique(where: str, key: str, values: list[Any]) -> None:
    seen = set()
    for value in values:
        if value in seen:
            _fail(where, key, f"{value!r} is listed twice")
        seen.add(value)


def arms_of(pipeline: Pipeline) -> list[Arm]:
    return [BENCHMARK_ARMS.get(name) for name in pipeline.grid.arms]


def check_pipeline_settings(pipeline: Pipeline, where: str = "pipeline") -> None:
    """Every check that needs only the pipeline (not the data); raises a one-line :class:`ConfigError`."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", pipeline.name) or ".." in pipeline.name:
        _fail(where, "name", f"{pipeline.name!r} is not a plain name (letters, digits, '.', '_', '-'; it names "
                             "the run folder under runs/)")
    if pipeline.spatial_dims not in (2, 3):
        _fail(where, "spatial_dims", f"must be 2 or 3, got {pipeline.spatial_dims}")
    if not pipeline.data.path:
        _fail(where, "data.path", "is required")
    backend_type = BACKENDS.get(pipeline.backend) if pipeline.backend in BACKENDS else None
    task = getattr(backend_type, "task", BACKEND_TASKS.get(pipeline.backend))
    if task is not None and task != pipeline.task:
        _fail(where, "backend", f"{pipeline.backend!r} does {task}, but task is {pipeline.task!r}")
    s, g = pipeline.split, pipeline.grid
    if s.folds < 2:
        _fail(where, "split.folds", f"must be at least 2, got {s.folds}")
    if not 0 <= s.val_fraction < 1:
        _fail(where, "split.val_fraction", f"must be in [0, 1), got {s.val_fraction}")
    if not 0 <= s.seed <= MAX_SEED:
        _fail(where, "split.seed", f"must be in 0..{MAX_SEED}, got {s.seed}")
    if (g.fractions is None) == (g.cases is None):
        _fail(where, "grid", "give either fractions (of the training pool) or cases (numbers of training cases)")
    if g.fractions is not None:
        if not g.fractions:
            _fail(where, "grid.fractions", "is empty")
        _unique(where, "grid.fractions", g.fractions)
        for f in g.fractions:
            if not 0 < f <= 1:
                _fail(where, "grid.fractions", f"{f} is not in (0, 1]")
    if g.cases is not None:
        if not g.cases:
            _fail(where, "grid.cases", "is empty")
        _unique(where, "grid.cases", g.cases)
        for n in g.cases:
            if n < 1:
                _fail(where, "grid.cases", f"{n}: a training set needs at least 1 case")
    if not g.arms:
        _fail(where, "grid.arms", "is empty")
    _unique(where, "grid.arms", g.arms)
    for name in g.arms:
        if name not in BENCHMARK_ARMS:
            _fail(where, "grid.arms", f"unknown arm {name!r} (known: {', '.join(BENCHMARK_ARMS.names())})")
    if "none" not in g.arms:
        _fail(where, "grid.arms", "must include 'none', the baseline every arm is compared with")
    if not g.seeds:
        _fail(where, "grid.seeds", "is empty")
    _unique(where, "grid.seeds", g.seeds)
    for seed in g.seeds:
        if not 0 <= seed <= MAX_SEED:
            _fail(where, "grid.seeds", f"{seed} is outside 0..{MAX_SEED}")
    if not g.ratios:
        _fail(where, "grid.ratios", "is empty")
    _unique(where, "grid.ratios", g.ratios)
    for ratio in g.ratios:
        if not math.isfinite(ratio) or not 0 <= ratio <= MAX_RATIO:
            _fail(where, "grid.ratios", f"{ratio} is outside 0..{MAX_RATIO:g} (cases added per real training case)")
    adding = [a.name for a in arms_of(pipeline) if a.adds_cases]
    if adding and not any(r > 0 for r in g.ratios):
        _fail(where, "grid.ratios", f"no ratio > 0, so the arms {', '.join(adding)} would add nothing")
    if g.folds is not None:
        if not g.folds:
            _fail(where, "grid.folds", "is empty (omit it to run every fold)")
        _unique(where, "grid.folds", g.folds)
        for fold in g.folds:
            if not 0 <= fold < s.folds:
                _fail(where, "grid.folds", f"fold {fold} does not exist (split.folds is {s.folds})")
    if pipeline.backend == "unet":
        roi = pipeline.unet.roi_size
        if roi is not None and len(roi) != pipeline.spatial_dims:
            _fail(where, "unet.roi_size", f"needs {pipeline.spatial_dims} values (spatial_dims), got {list(roi)}")
    for name, values in pipeline.regions.items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _+-]*", str(name)):
            _fail(where, "regions", f"{name!r} is not a plain name")
        if not isinstance(values, list) or not values or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
            _fail(where, f"regions.{name}", f"expected a list of label values > 0, found {values!r}")
    for value in pipeline.label_names:
        if not str(value).isdigit():
            _fail(where, "label_names", f"keys are label values (integers), found {value!r}")
    _check_positive_counts(where, "synthesis.options", pipeline.synthesis.options)


def _check_positive_counts(where: str, key: str, options: Any) -> None:
    """Budget counts in stage options (``steps``, ``batch_size``, ``epochs``) must be integers >= 1."""
    if not isinstance(options, dict):
        return
    for name, value in options.items():
        if isinstance(value, dict):
            _check_positive_counts(where, f"{key}.{name}", value)
        elif name in ("steps", "batch_size", "epochs") and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1):
            _fail(where, f"{key}.{name}", f"must be an integer >= 1, got {value!r}")


@dataclass(frozen=True)
class TrainingSize:
    """One training-set size of the grid: ``cases`` real cases, given as ``fraction`` of the pool or not."""

    cases: int
    fraction: float | None


def training_sizes(pipeline: Pipeline, min_pool: int) -> list[TrainingSize]:
    """The grid's training-set sizes in cases; fractions are of the smallest fold's training pool, so
    every fold trains on the same number of cases."""
    g = pipeline.grid
    if g.cases is not None:
        return [TrainingSize(int(n), None) for n in g.cases]
    return [TrainingSize(int(round(f * min_pool)), float(f)) for f in g.fractions or []]


def added_cases(ratio: float, n_cases: int) -> int:
    """Cases an adding arm (GAN, controls) puts next to ``n_cases`` real ones at ``ratio``."""
    return int(round(ratio * n_cases))


@dataclass(frozen=True)
class DataFacts:
    """What the checks need to know about the dataset."""

    root: str
    image_ndim: int
    min_shape: tuple[int, ...]
    label_values: frozenset[int]
    min_pool: int


def check_against_data(pipeline: Pipeline, facts: DataFacts) -> None:
    """Checks that need the dataset; a one-line :class:`ConfigError` naming the key and the problem."""
    where = pipeline.source or pipeline.name
    dims = facts.image_ndim - 1
    if dims != pipeline.spatial_dims:
        _fail(where, "spatial_dims", f"is {pipeline.spatial_dims}, but the images in {facts.root} are {dims}D")
    roi = pipeline.unet.roi_size if pipeline.backend == "unet" else None
    if roi is not None:
        if any(r < 1 for r in roi):
            _fail(where, "unet.roi_size", f"{list(roi)}: every size must be >= 1")
        if any(r > s for r, s in zip(roi, facts.min_shape)):
            _fail(where, "unet.roi_size", f"{list(roi)} is larger than the smallest volume {list(facts.min_shape)}")
    for name, values in pipeline.regions.items():
        missing = [v for v in values if v not in facts.label_values]
        if missing:
            _fail(where, f"regions.{name}", f"label {missing[0]} never occurs in the data "
                                            f"(labels present: {sorted(facts.label_values)})")
    sizes = training_sizes(pipeline, facts.min_pool)
    seen: dict[int, TrainingSize] = {}
    for size in sizes:
        given = f"fraction {size.fraction:g}" if size.fraction is not None else f"{size.cases} cases"
        if size.cases < 1:
            _fail(where, "grid.fractions", f"{given} of a {facts.min_pool}-case training pool gives 0 cases")
        if size.cases > facts.min_pool:
            _fail(where, "grid.cases", f"{size.cases} training cases asked, but the smallest fold's training "
                                       f"pool holds {facts.min_pool}")
        if size.cases < MIN_TRAINING_CASES and not pipeline.grid.allow_small:
            key = "grid.fractions" if size.fraction is not None else "grid.cases"
            _fail(where, key, f"{given} gives {size.cases} training case(s), fewer than {MIN_TRAINING_CASES}; "
                              "set grid.allow_small: true to run it anyway")
        if size.cases in seen:
            _fail(where, "grid.fractions", f"fractions {seen[size.cases].fraction:g} and {size.fraction:g} both give "
                                           f"{size.cases} cases")
        seen[size.cases] = size
    if any(a.control == "positive" for a in arms_of(pipeline)):
        possible = [(s.cases, r) for s in sizes for r in pipeline.grid.ratios
                    if r > 0 and s.cases + added_cases(r, s.cases) <= facts.min_pool]
        if not possible:
            _fail(where, "grid.arms", f"the real-cases control has no reserve at any size: it adds ratio x n real "
                                      f"cases beyond the n training cases, and the smallest training pool holds "
                                      f"{facts.min_pool}; add a smaller size")


def data_path(pipeline: Pipeline) -> Path:
    """The pipeline's dataset folder, resolved against the pipeline file's folder."""
    path = Path(pipeline.data.path)
    return path if path.is_absolute() else (Path(pipeline.base_dir) / path).resolve()
