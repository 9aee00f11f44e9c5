"""The one case ConSinGAN learns: read from a dataset or an image file, resolved into the config,
and turned into the pyramid of real images (image channels in [-1, 1], labels one-hot in [-1, 1])."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from medgan.errors import ConfigError, DataError
from medgan.families._checks import check_values
from medgan.families.consingan.config import ConSinGANConfig, pyramid_scales
from medgan.transforms.scaling import percentile_range, to_unit_range


def check_settings(config: ConSinGANConfig) -> None:
    """Refuse settings that cannot work, before any data is read.

    Raises:
        ConfigError: naming the first bad setting.
    """
    m = config.model
    for name, value, least in (("model.stages", m.stages, 1), ("model.min_size", m.min_size, 1),
                               ("model.max_size", m.max_size, 0), ("model.width", m.width, 1),
                               ("model.layers", m.layers, 2), ("trained_stages", config.trained_stages, 1),
                               ("steps_per_stage", config.steps_per_stage, 0), ("n_critic", config.n_critic, 1),
                               ("g_repeats", config.g_repeats, 1)):
        if value < least:
            raise ConfigError(f"consingan: {name} must be at least {least}, found {value}")
    if not 0 < config.lr_scale <= 1:
        raise ConfigError(f"consingan: lr_scale (δ) must be in (0, 1], found {config.lr_scale}")
    if not 0 < config.lr_drop <= 1:
        raise ConfigError(f"consingan: lr_drop must be in (0, 1], found {config.lr_drop}")


def read_case(config: ConSinGANConfig) -> dict[str, Any]:
    """The training case named by ``config.data``: a dataset folder holding one selected case, or an
    image file (with ``data.label`` its label file).

    Raises:
        ConfigError: no data given. DataError: the dataset holds several cases and none is chosen,
        or the chosen case is missing or excluded.
    """
    from medgan.families._cases import select_case_ids
    from medgan.io.datasets import load_dataset

    data = config.data
    if not data.path:
        raise ConfigError("consingan: no training case given (--data or data.path)")
    path = Path(data.path)
    if path.is_file():
        return _read_file_case(path, Path(data.label) if data.label else None)
    dataset = load_dataset(path)
    ids = select_case_ids(dataset, data.cases, data.exclude_cases, labelled_only=False)
    if data.case:
        if data.case not in ids:
            raise DataError(path, f"case {data.case!r} is not in the dataset or is excluded")
        return dataset.load(data.case)
    if len(ids) != 1:
        raise DataError(path, f"holds {len(ids)} selectable cases; ConSinGAN learns one: choose it with --case ID")
    return dataset.load(ids[0])


def _read_file_case(image_path: Path, label_path: Path | None) -> dict[str, Any]:
    from medgan.io.image import read_image, strip_image_suffix
    from medgan.io.validate import check_finite, check_label, check_same_grid

    image, meta = read_image(image_path)
    check_finite(image_path, image)
    meta = {k: v for k, v in meta.items() if k != "filename"}
    meta["modalities"] = ["image"] if image.shape[0] == 1 else [f"ch{i}" for i in range(image.shape[0])]
    case: dict[str, Any] = {"image": image, "meta": meta, "id": strip_image_suffix(image_path.name)}
    if label_path is not None:
        label, label_meta = read_image(label_path)
        check_same_grid(image_path, meta, label_path, label_meta)
        if label.shape[0] != 1:
            raise DataError(label_path, f"label has {label.shape[0]} channels; expected one label map")
        label, _ = check_label(label_path, label)
        meta["label_dtype"] = label.dtype.name
        case["label"] = label
    return case


def pick_case(config: ConSinGANConfig, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """The benchmark's case: ``data.case`` when set, else the first of ``cases``."""
    if not config.data.case:
        return cases[0]
    for case in cases:
        if case["id"] == config.data.case:
            return case
    raise ConfigError(f"consingan: data.case {config.data.case!r} is not among the {len(cases)} training cases")


def resolve(config: ConSinGANConfig, case: dict[str, Any]) -> None:
    """Write what the run needs to rebuild and decode its samples into ``config`` (*resolved* fields)."""
    data, model = config.data, config.model
    image = np.asarray(case["image"])
    shape = [int(s) for s in image.shape[1:]]
    if len(shape) not in (2, 3):
        raise DataError(case["id"], f"image has {len(shape)} spatial dimensions; ConSinGAN needs 2 or 3")
    meta = case["meta"]
    data.case_id = str(case["id"])
    data.modalities = list(meta.get("modalities") or [f"ch{i}" for i in range(image.shape[0])])
    data.image_dtype = str(meta.get("dtype") or image.dtype.name)
    if data.data_shape and list(data.data_shape) != shape:
        raise ConfigError(f"data.data_shape: {list(data.data_shape)} but the case is {'x'.join(map(str, shape))}")
    data.data_shape = shape
    data.affine = np.asarray(meta["affine"], float).tolist()
    lo, hi = percentile_range(np.asarray(image, np.float32))
    data.intensity_lo, data.intensity_hi = [float(v) for v in lo], [float(v) for v in hi]
    if config.mode == "generation" and "label" in case and case["label"] is not None:
        check_values("data.label_values", data.label_values, np.unique(case["label"]), exact=True)
        data.label_values = sorted(int(v) for v in np.unique(case["label"]))
        data.label_dtype = str(meta.get("label_dtype") or np.asarray(case["label"]).dtype.name)
    else:
        data.label_values, data.label_dtype = None, ""
    model.spatial_dims = len(shape)
    if model.max_size <= 0:
        model.max_size = 250 if len(shape) == 2 else 64
    model.scales = pyramid_scales(shape, model.stages, model.min_size, model.max_size)
    model.channels = image.shape[0] + len(data.label_values or [])
    if config.steps_per_stage <= 0:
        config.steps_per_stage = max(1, config.train.steps // len(model.scales))


def real_pyramid(config: ConSinGANConfig, case: dict[str, Any]) -> list[torch.Tensor]:
    """The real case at every stage's scale, ``(1, channels, *scale)`` float32 in [-1, 1], coarse first."""
    data, scales = config.data, config.model.scales
    image = to_unit_range(np.asarray(case["image"], np.float32), data.intensity_lo, data.intensity_hi)
    parts = [torch.from_numpy(image)]
    if data.label_values:
        label = np.asarray(case["label"])[0]
        parts.append(torch.from_numpy(np.stack([label == v for v in data.label_values]).astype(np.float32)) * 2 - 1)
    full = torch.cat(parts)[None]
    return [_area(full, scale) for scale in scales]


def _area(x: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """Average-resize (class fractions for one-hot channels); exact when the shape is the same."""
    if list(x.shape[2:]) == list(shape):
        return x.clone()
    if all(t <= s for t, s in zip(shape, x.shape[2:])):
        return F.interpolate(x, size=tuple(shape), mode="area")
    mode = "bilinear" if x.dim() == 4 else "trilinear"
    return F.interpolate(x, size=tuple(shape), mode=mode, align_corners=True)
