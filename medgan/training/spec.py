"""A GAN family's entry in :data:`medgan.registry.GAN_FAMILIES`: everything the rest of medgan may
know about one family, declared in one place. Imports no torch, so the command line stays quick.

A family is one folder under ``medgan/families/`` (or a module outside medgan registered through
the ``medgan.plugins`` entry point) whose ``__init__`` calls :func:`register_family`. See
``docs/contributing.md`` for the contract.

Example:
    >>> from dataclasses import dataclass, field
    >>> from medgan.training.config import TrainConfig
    >>> @dataclass
    ... class TinyConfig:
    ...     train: TrainConfig = field(default_factory=TrainConfig)
    >>> spec = FamilySpec(name="tiny", summary="a doctest family", config_type=TinyConfig,
    ...                   build=lambda config, rank, world_size: None,
    ...                   preset={"train": {"steps": 5}})
    >>> family_config(spec, {"train": {"batch_size": 2}}).train.steps
    5
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from medgan.config import config_to_dict, load_config
from medgan.errors import ConfigError


class Sampler(Protocol):
    """What a trained run becomes for synthesis (``FamilySpec.sampler``): new cases, given real ones."""

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` new labelled cases; ``context`` are real cases to insert into, take masks from,
        translate or copy the geometry of. Same ``(n, seed, context)``, same cases."""
        ...


@dataclass(frozen=True)
class DataSource:
    """One dataset a run trained on: its folder, the case ids asked for (``None``: all) and those
    excluded (e.g. the test split). Used to keep excluded cases out of synthesis and evaluation."""

    path: str
    cases: list[str] | None = None
    exclude_cases: list[str] = field(default_factory=list)


def config_data_sources(config: Any) -> list[DataSource]:
    """The default :attr:`FamilySpec.data_sources`: ``config.data.path``, ``.cases`` and ``.exclude_cases``."""
    data = getattr(config, "data", None)
    path = str(getattr(data, "path", "") or "")
    if not path:
        return []
    return [DataSource(path, getattr(data, "cases", None), list(getattr(data, "exclude_cases", None) or []))]


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A family without command-line options of its own."""


def _unchanged(args: argparse.Namespace, config: Any) -> Any:
    return config


@dataclass(frozen=True)
class FamilySpec:
    """Everything medgan needs to know about one GAN family.

    Attributes:
        name: the name users type (``medgan train NAME``, ``synthesis.stage: NAME``).
        summary: one line for ``--help``.
        config_type: the family's one config dataclass, used by ``medgan train``, ``medgan
            synthesize`` and the benchmark alike; it has a ``train: TrainConfig`` field.
        build: ``(config, rank, world_size) -> GANStep`` reading the data named in the config, or
            ``(config, rank, world_size, cases=cases)`` training on in-memory case dicts (the
            benchmark; only asked of families with a ``preset``). Heavy imports go inside it.
        add_train_arguments: adds the family's own options to ``medgan train NAME``; the common ones
            (``--out --config --steps --resume --seed --device``) are added by the command.
        apply_train_arguments: ``(args, config) -> config``: the parsed options applied to the config.
        networks: ``(resolved config) -> {name: module}``: the networks a trained run samples with,
            restored by :func:`medgan.training.run.load_run` (EMA weights where the run kept them).
        sampler: ``(run) -> Sampler``: a loaded :class:`~medgan.training.run.Run` as a
            :class:`Sampler`, i.e. how samples become cases (``None``: the family makes no cases,
            e.g. an anomaly detector whose output is a score).
        preset: overrides of ``config_type``'s defaults for a small benchmark budget; the pipeline's
            ``synthesis.options`` are merged onto it (:func:`family_config`). ``None``: no
            benchmark stage.
        add_synthesize_arguments, synthesize: ``medgan synthesize RUN OUT ...``: the family's
            options and ``(run_dir, out, args) -> exit status``.
        translator: ``(run, direction) -> translator`` for families that translate one modality
            into another (``medgan translate``, ``medgan synthesize RUN OUT --input``, ``medgan
            evaluate translation``); see :mod:`medgan.synthesis.translate` for what it provides.
        data_sources: ``(config) -> [DataSource]``: the datasets a run trained on and the cases
            it excluded (default: ``config.data.path/cases/exclude_cases``).
    """

    name: str
    summary: str
    config_type: type
    build: Callable[..., Any]
    add_train_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    apply_train_arguments: Callable[[argparse.Namespace, Any], Any] = _unchanged
    networks: Callable[[Any], dict[str, Any]] | None = None
    sampler: Callable[[Any], Any] | None = None
    preset: Mapping[str, Any] | None = None
    add_synthesize_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    synthesize: Callable[..., int] | None = None
    translator: Callable[[Any, str], Any] | None = None
    data_sources: Callable[[Any], list[DataSource]] = config_data_sources

    @property
    def benchmark_stage(self) -> bool:
        """Whether the family serves as a benchmark synthesis stage (it has a preset and a sampler)."""
        return self.preset is not None and self.sampler is not None and self.networks is not None


def merge_settings(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``: nested mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def family_config(spec: FamilySpec, overrides: Mapping[str, Any] | None = None, where: str = "",
                  preset: bool = True) -> Any:
    """The family's config: its dataclass defaults, then its ``preset`` (the benchmark's budget; skipped
    with ``preset=False``), then ``overrides``, merged key by key at every level (an override of
    ``train.steps`` keeps the family's other ``train`` defaults).

    Raises:
        ConfigError: an unknown or ill-typed setting (named with its place, e.g.
            ``synthesis.options (lesion-gan).train: unknown setting 'stepz'``).
    """
    where = where or f"{spec.name} config"
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"{where}: expected a mapping of settings, found {overrides!r}")
    settings = config_to_dict(spec.config_type())
    if preset:
        settings = merge_settings(settings, spec.preset or {})
    return load_config(merge_settings(settings, overrides or {}), spec.config_type, where=where)


def register_family(spec: FamilySpec) -> FamilySpec:
    """Register ``spec`` in :data:`~medgan.registry.GAN_FAMILIES`, and its benchmark stage in
    :data:`~medgan.registry.SYNTHESIS_STAGES` when it has a preset.

    Registering the same family again (its module imported under a second name) is ignored; another
    family under a taken name is an error.

    Raises:
        ConfigError: the name belongs to another family.
    """
    from medgan.registry import GAN_FAMILIES, SYNTHESIS_STAGES

    existing = GAN_FAMILIES.peek(spec.name)
    if existing is not None:
        if (existing.summary, existing.config_type.__qualname__) != (spec.summary, spec.config_type.__qualname__):
            raise ConfigError(f"GAN family {spec.name!r} is registered twice, by {existing.config_type.__module__} "
                              f"and {spec.config_type.__module__}")
        return existing
    GAN_FAMILIES.register(spec.name)(spec)
    if spec.benchmark_stage:
        from medgan.training.stage import FamilyStage

        SYNTHESIS_STAGES.register(spec.name)(FamilyStage.for_family(spec.name))
    return spec
