"""Declarative benchmark pipelines: YAML files under ``pipelines/`` loaded into typed dataclasses.

Unknown keys are an error. ``quick:`` holds overrides applied by ``--quick`` (a CI-sized run).
Relative data paths are resolved against the pipeline file's folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgan.benchmark.classification import ClassifierOptions
from medgan.benchmark.unet import UNetOptions
from medgan.benchmark.yolo import YoloOptions
from medgan.config import load_config, read_yaml
from medgan.errors import ConfigError

#: the task each backend does (``task`` and ``backend`` must agree)
TASK_OF_BACKEND = {"unet": "segmentation", "yolo": "detection", "classifier": "classification"}


@dataclass
class DataSpec:
    """Which dataset, and which of its modalities feed the model."""

    path: str = ""
    format: str = "auto"
    modalities: list[str] | None = None


@dataclass
class SplitSpec:
    """The held-out split, drawn once from ``seed`` before anything else."""

    test_fraction: float = 0.25
    val_fraction: float = 0.15
    seed: int = 0
    stratify_empty_labels: bool = True


@dataclass
class GridSpec:
    """data fraction x arm x synthetic ratio x seed."""

    fractions: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.1])
    arms: list[str] = field(default_factory=lambda: ["none", "classic", "gan", "gan+classic"])
    ratios: list[float] = field(default_factory=lambda: [1.0])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])


@dataclass
class SynthesisSpec:
    """The GAN stage used by the ``gan`` arms: a name from the synthesis-stage registry and its options."""

    stage: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


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
    quick: dict[str, Any] = field(default_factory=dict)
    base_dir: str = "."


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_pipeline(path: str | Path, quick: bool = False, overrides: dict[str, Any] | None = None) -> Pipeline:
    """Read a pipeline YAML; with ``quick`` apply its ``quick:`` overrides.

    Raises:
        ConfigError: unknown keys, wrong types, or a data path that does not exist.
    """
    path = Path(path)
    raw = read_yaml(path)
    if quick:
        raw = _merge(raw, raw.get("quick", {}))
    if overrides:
        raw = _merge(raw, overrides)
    raw.setdefault("base_dir", str(path.resolve().parent))
    pipeline = load_config(raw, Pipeline, where=str(path))
    if pipeline.spatial_dims not in (2, 3):
        raise ConfigError(f"{path}: spatial_dims must be 2 or 3")
    if not pipeline.data.path:
        raise ConfigError(f"{path}: data.path is required")
    if TASK_OF_BACKEND[pipeline.backend] != pipeline.task:
        raise ConfigError(f"{path}: backend {pipeline.backend!r} does {TASK_OF_BACKEND[pipeline.backend]}, "
                          f"but task is {pipeline.task!r}")
    return pipeline


def data_path(pipeline: Pipeline) -> Path:
    """The pipeline's dataset folder, resolved against the pipeline file's folder."""
    path = Path(pipeline.data.path)
    return path if path.is_absolute() else (Path(pipeline.base_dir) / path).resolve()
