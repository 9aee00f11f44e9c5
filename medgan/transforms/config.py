"""Augmentation configs: a YAML list of named transforms -> one MONAI ``Compose``.

Example (``pipelines/augment_default.yaml``)::

    label_mode: nearest
    transforms:
      - {name: affine, rotate: 15, scale: [0.9, 1.1]}
      - {name: elastic, magnitude_mm: 4, prob: 0.5}
      - {name: flip, axes: [0]}
      - {name: gaussian_noise, std: 0.05, relative: true}

Every entry is checked against the transform's signature: an unknown transform or setting, a value
of the wrong type, or an out-of-range value is a :class:`~medgan.errors.ConfigError` naming the
entry and the setting.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgan.config import load_config
from medgan.errors import ConfigError
from medgan.registry import TRANSFORMS
from medgan.transforms.keys import split_keys

#: constructor arguments set by the pipeline, not by an entry
_PIPELINE_ARGS = {"self", "keys", "mode", "padding", "backend", "allow_missing_keys"}


@dataclass
class AugmentConfig:
    """An augmentation pipeline.

    Attributes:
        transforms: entries ``{name: <registered transform>, <setting>: <value>, ...}``, in order;
            consecutive spatial entries share one resampling.
        image_mode: interpolation of images, ``linear`` or ``bspline``.
        label_mode: ``nearest`` or ``label_linear`` (one-hot linear + argmax).
        padding: outside the input: ``zeros`` or ``border``.
    """

    transforms: list[dict[str, Any]] = field(default_factory=list)
    image_mode: Literal["linear", "bspline"] = "linear"
    label_mode: Literal["nearest", "label_linear"] = "nearest"
    padding: Literal["zeros", "border"] = "zeros"


def load_augment_config(source: str | Path | dict[str, Any] | AugmentConfig | None) -> AugmentConfig:
    """An :class:`AugmentConfig` from a YAML path, a dict, or ``None`` (the default preset)."""
    if isinstance(source, AugmentConfig):
        config = source
    elif source is None:
        from medgan.transforms.presets import DEFAULT

        config = load_config(DEFAULT, AugmentConfig, "default preset")
    else:
        config = load_config(source, AugmentConfig)
    for i, entry in enumerate(config.transforms):
        _check_entry(entry, _where(source, i, entry))
    return config


def _where(source: Any, index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    prefix = f"{source}: " if isinstance(source, (str, Path)) else ""
    return f"{prefix}transforms[{index}]" + (f" ({name})" if name else "")


def _check_entry(entry: Any, where: str) -> tuple[type, dict[str, Any]]:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with a 'name', found {entry!r}")
    if "name" not in entry:
        raise ConfigError(f"{where}: missing 'name' (known transforms: {', '.join(TRANSFORMS.names())})")
    name = entry["name"]
    try:
        cls = TRANSFORMS.get(str(name))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    settings = {k: v for k, v in entry.items() if k != "name"}
    return cls, _settings(cls, settings, where)


def _settings(cls: type, settings: dict[str, Any], where: str) -> dict[str, Any]:
    """Check ``settings`` against ``cls.__init__`` (names and types) through a generated dataclass."""
    signature = inspect.signature(cls.__init__)
    hints = typing.get_type_hints(cls.__init__)
    fields = [(p.name, hints.get(p.name, Any), dataclasses.field(default=None))
              for p in signature.parameters.values() if p.name not in _PIPELINE_ARGS]
    checker = dataclasses.make_dataclass(f"{cls.__name__}Settings", fields)
    for key in settings:
        if key in _PIPELINE_ARGS - {"self"}:
            raise ConfigError(f"{where}: setting {key!r} is set for the whole pipeline, not per transform")
    for key, value in settings.items():
        hint = hints.get(key, Any)
        if isinstance(value, str) and hint is not Any and str not in _flat_types(hint):
            raise ConfigError(f"{where}.{key}: expected {_describe(hint)}, found {value!r}")
    checked = load_config(settings, checker, where)
    return {k: getattr(checked, k) for k in settings}


def _flat_types(hint: Any) -> set[Any]:
    args = typing.get_args(hint)
    return {hint} if not args else set().union(*(_flat_types(a) for a in args)) | {typing.get_origin(hint)}


def _describe(hint: Any) -> str:
    return str(hint).replace("collections.abc.", "").replace("typing.", "")


def build_pipeline(config: str | Path | dict[str, Any] | AugmentConfig | None = None,
                   keys: Sequence[Hashable] = ("image", "label"), label_keys: Sequence[Hashable] = (),
                   backend: str = "auto", spatial_dims: int | None = None,
                   label_names: Sequence[str] | None = None) -> Any:
    """A MONAI ``Compose`` of the configured transforms, spatial runs fused into one resampling.

    Args:
        config: YAML path, dict, :class:`AugmentConfig`, or ``None`` for the default preset.
        keys: dictionary keys of the images and labels; spatial transforms change all of them.
        label_keys: keys that are label maps whatever their name (resampled with ``label_mode``,
            skipped by intensity transforms).
        backend: spatial resampler, ``auto``, ``numba`` or ``torch``.
        spatial_dims: when given, settings that need more axes (a flip of axis 2 in 2D) are errors.
        label_names: words that make a key a label map (``seg``, ``mask`` ...); ``None`` is
            :data:`medgan.transforms.keys.LABEL_NAMES`, ``()`` recognises labels only by ``label_keys``.

    Raises:
        ConfigError: unknown transform or setting, wrong type, or out-of-range value.
    """
    from monai.transforms import Compose

    from medgan.transforms.spatial.compose import SpatialTransform, fuse

    cfg = load_augment_config(config)
    keys = tuple(keys)
    images, labels = split_keys(keys, label_keys, label_names)
    modes = tuple(cfg.label_mode if k in labels else cfg.image_mode for k in keys)
    built = []
    for i, entry in enumerate(cfg.transforms):
        where = _where(config, i, entry)
        cls, settings = _check_entry(entry, where)
        try:
            if issubclass(cls, SpatialTransform):
                transform = cls(keys=keys, mode=modes, padding=cfg.padding, backend=backend,
                                allow_missing_keys=True, **settings)
            else:
                transform = cls(keys=images, allow_missing_keys=True, **settings)
                transform.label_names = ()  # ``images`` holds exactly the image keys already
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        axes = getattr(transform, "axes", ())
        if spatial_dims is not None and any(int(a) >= spatial_dims for a in axes):
            raise ConfigError(f"{where}: axes {list(axes)} do not exist in {spatial_dims}D images")
        built.append(transform)
    return Compose(fuse(built))
