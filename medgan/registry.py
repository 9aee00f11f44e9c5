"""One registry of named components: GAN families, transforms, metrics, benchmark arms and backends.

A component registers itself by name with a decorator; configs and the command line refer to it by
that name, and an unknown name is a :class:`~medgan.errors.ConfigError` that lists the known ones.

Example:
    >>> from medgan.registry import Registry
    >>> LOSSES = Registry("loss")
    >>> @LOSSES.register("hinge")
    ... def hinge(): ...
    >>> LOSSES.get("hinge") is hinge
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from medgan.errors import ConfigError

T = TypeVar("T")


class Registry:
    """Name -> component mapping for one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering a class or function under ``name``."""

        def add(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> Any:
        """The component named ``name``; a :class:`ConfigError` listing the known names otherwise."""
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {known})")
        return self._items[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


#: GAN families (lesion-gan, cyclegan, pix2pix, spade, pggan): each entry describes how to build,
#: train and sample one family on the shared engine.
GAN_FAMILIES = Registry("GAN family")
#: classic augmentation transforms, by the name used in augmentation configs
TRANSFORMS = Registry("transform")
#: evaluation metrics, by the name a pipeline or `medgan evaluate` asks for
METRICS = Registry("metric")
#: benchmark arms and downstream backends
BENCHMARK_ARMS = Registry("benchmark arm")
BACKENDS = Registry("benchmark backend")
#: synthesis stages of the benchmark: ``Stage(options, spatial_dims, device)`` with ``fit`` and ``sample``
SYNTHESIS_STAGES = Registry("synthesis stage")
#: label-map generators by GAN family (e.g. ``pggan``): ``from_run(run_dir, device) -> sampler`` with
#: ``sample_label_maps(n, seed) -> list[(label (1, ...) int array, meta dict)]``; SPADE's mask source
#: ``{source: pggan, run: PATH}`` finds them here
LABEL_MAP_SAMPLERS = Registry("label-map sampler")
