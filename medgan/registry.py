"""One registry of named components: GAN families, transforms, metrics, benchmark arms and backends.

A component registers itself by name with a decorator; configs and the command line refer to it by
that name, and an unknown name is a :class:`~medgan.errors.ConfigError` that lists the known ones.

Registries fill themselves on first use: a lookup imports the registry's built-in modules, then
every plugin once (:func:`load_plugins`): the GAN families under ``medgan/families/`` (imported by
name) and the Python entry points of the group ``medgan.plugins`` (a family, metric, mask source...
defined outside the package registers the same way). Nothing here imports those modules statically,
so the registry sits below every package that uses it.

Example:
    >>> from medgan.registry import Registry
    >>> LOSSES = Registry("loss")
    >>> @LOSSES.register("hinge")
    ... def hinge(): ...
    >>> LOSSES.get("hinge") is hinge
    True
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from medgan.errors import ConfigError

T = TypeVar("T")

#: entry-point group of plugins: a module (registers its components when imported) or a function
#: without arguments that registers them, e.g. ``[medgan.plugins]`` ``my_family = my_pkg.family``
PLUGIN_GROUP = "medgan.plugins"
#: package whose subpackages (names not starting with ``_``) are the built-in GAN families
BUILTIN_FAMILIES = "medgan.families"

_plugins_loaded = False


def load_plugins() -> None:
    """Import the built-in GAN families and every ``medgan.plugins`` entry point, once per process.

    A plugin that fails to import is skipped with a warning naming it (a broken third-party package
    must not stop medgan); a built-in family that fails to import is a bug and raises.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    try:
        package = importlib.import_module(BUILTIN_FAMILIES)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{BUILTIN_FAMILIES}.{module.name}")
    except BaseException:
        _plugins_loaded = False
        raise
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            loaded = entry.load()
            if callable(loaded) and not isinstance(loaded, type):
                loaded()
        except Exception as error:  # any failure of foreign code
            warnings.warn(f"medgan plugin {entry.name!r} ({entry.value}) was not loaded: {error}", stacklevel=2)


class Registry:
    """Name -> component mapping for one kind of component.

    Args:
        kind: what the entries are, for error messages (``"metric"``).
        builtins: modules imported on the first lookup (they register the built-in entries).
    """

    def __init__(self, kind: str, builtins: Sequence[str] = ()) -> None:
        self.kind = kind
        self._items: dict[str, Any] = {}
        self._builtins = tuple(builtins)
        self._loaded = False

    def load(self) -> None:
        """Import the built-in modules and the plugins (once; lookups call it)."""
        if self._loaded:
            return
        self._loaded = True
        try:
            for module in self._builtins:
                importlib.import_module(module)
            load_plugins()
        except BaseException:
            self._loaded = False
            raise

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering a class or function under ``name``."""

        def add(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def peek(self, name: str) -> Any:
        """The entry registered so far under ``name``, or ``None``; loads nothing (for registration code)."""
        return self._items.get(name)

    def get(self, name: str) -> Any:
        """The component named ``name``; a :class:`ConfigError` listing the known names otherwise."""
        self.load()
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {known})")
        return self._items[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self.load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


#: GAN families (lesion-gan, cyclegan, pix2pix, spade, pggan): each entry is a
#: :class:`medgan.training.spec.FamilySpec` saying how to build, train, load and sample one family
GAN_FAMILIES = Registry("GAN family")
#: classic augmentation transforms, by the name used in augmentation configs
TRANSFORMS = Registry("transform", builtins=("medgan.transforms",))
#: evaluation metrics, by the name a pipeline or `medgan evaluate` asks for
METRICS = Registry("metric", builtins=("medgan.metrics.suite",))
#: benchmark arms and downstream backends
BENCHMARK_ARMS = Registry("benchmark arm", builtins=("medgan.benchmark.arms",))
BACKENDS = Registry("benchmark backend", builtins=("medgan.benchmark.unet", "medgan.benchmark.yolo"))
#: synthesis stages of the benchmark: ``Stage(options, spatial_dims, device)`` with ``fit`` and ``sample``;
#: every family with a benchmark preset gets one under its own name
#: (:class:`medgan.training.stage.FamilyStage`), families may add composite ones (``pggan+spade``);
#: ``copy-paste`` (no learning) is built in
SYNTHESIS_STAGES = Registry("synthesis stage", builtins=("medgan.synthesis.copypaste_stage",))
#: label-map generators by GAN family (e.g. ``pggan``): ``from_run(run_dir, device) -> sampler`` with
#: ``sample_label_maps(n, seed) -> list[(label (1, ...) int array, meta dict)]``; SPADE's mask source
#: ``{source: pggan, run: PATH}`` finds them here
LABEL_MAP_SAMPLERS = Registry("label-map sampler")
