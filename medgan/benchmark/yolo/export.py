"""Cases -> 2D slices in YOLO format: 8-bit PNGs, label files with one box per object, ``data.yaml``.
The exported training set has the same number of slices for every arm (see :mod:`medgan.benchmark.yolo`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medgan.benchmark.yolo.options import YoloOptions
from medgan.errors import ConfigError
from medgan.metrics.detection import boxes_from_mask


def channel_index(case: Mapping[str, Any], channel: int | str) -> int:
    """The image channel named by an index or a modality name."""
    n = int(np.asarray(case["image"]).shape[0])
    if isinstance(channel, str):
        modalities = [str(m) for m in case.get("meta", {}).get("modalities", [])]
        if channel not in modalities:
            raise ConfigError(f"yolo.channel: case {case.get('id')!r} has no modality {channel!r} "
                              f"(has: {', '.join(modalities) or 'no names'})")
        return modalities.index(channel)
    if not 0 <= channel < n:
        raise ConfigError(f"yolo.channel {channel} is out of range for {n} image channel(s)")
    return channel


def n_slices(case: Mapping[str, Any], axis: int) -> int:
    """Number of 2D slices of a case (1 for a 2D case)."""
    shape = np.asarray(case["image"]).shape[1:]
    return 1 if len(shape) == 2 else int(shape[axis])


def take_slice(array: np.ndarray, axis: int, index: int) -> np.ndarray:
    """Slice ``index`` of a channels-first array ``(C, X, Y[, Z])`` along spatial ``axis`` -> ``(C, A, B)``."""
    array = np.asarray(array)
    return array if array.ndim == 3 else np.take(array, index, axis=axis + 1)


def slice_spacing(case: Mapping[str, Any], axis: int) -> tuple[float, float]:
    """``(row_mm, column_mm)`` of a case's slices (rows: first remaining axis)."""
    spatial = np.asarray(case["image"]).ndim - 1
    spacing = [float(s) for s in case.get("meta", {}).get("spacing", (1.0,) * spatial)][:spatial]
    if spatial == 3:
        del spacing[axis]
    return spacing[0], spacing[1]


def to_uint8(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``[low, high]`` linearly to 0..255 (clipped), as uint8."""
    scaled = (np.asarray(image, np.float64) - low) / max(high - low, 1e-12)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def intensity_window(channel: np.ndarray, options: YoloOptions) -> tuple[float, float]:
    """The ``(low, high)`` intensities mapped to 0 and 255 for one case's channel."""
    if options.window is not None:
        return float(options.window[0]), float(options.window[1])
    low, high = np.percentile(channel, options.window_percentiles)
    return float(low), float(max(high, low + 1e-6))


def yolo_label_lines(boxes: np.ndarray, classes: np.ndarray, shape: tuple[int, int]) -> list[str]:
    """YOLO label lines ``class cx cy w h`` (normalised to the image) of pixel boxes on an ``(H, W)`` slice."""
    height, width = shape
    lines = []
    for (x0, y0, x1, y1), c in zip(np.asarray(boxes, np.float64).reshape(-1, 4), classes):
        lines.append(f"{int(c)} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
                     f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")
    return lines


def read_yolo_labels(path: str | Path, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel boxes ``(N, 4)`` and class ids ``(N,)`` of a YOLO label file for an ``(H, W)`` image."""
    height, width = shape
    rows = [line.split() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    values = np.asarray([[float(v) for v in row[1:5]] for row in rows], np.float64).reshape(-1, 4)
    cx, cy, w, h = values[:, 0] * width, values[:, 1] * height, values[:, 2] * width, values[:, 3] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, np.asarray([int(row[0]) for row in rows], np.int64)


@dataclass(frozen=True)
class ExportedSlice:
    """One exported slice: where its files are and what it shows."""

    image: Path
    case: str
    index: int
    spacing: tuple[float, float]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]


def _write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path)


class YoloExporter:
    """Write 2D slices of cases as 8-bit PNGs and YOLO label files.

    Args:
        root: dataset folder; ``images/<split>/`` and ``labels/<split>/`` are written under it.
        classes: detection class name -> label values (class id = position).
        options: :class:`YoloOptions` (channel, axis, window, empty_fraction).
    """

    def __init__(self, root: Path, classes: Mapping[str, Sequence[int]], options: YoloOptions) -> None:
        self.root, self.options = Path(root), options
        self.class_values = {i: tuple(values) for i, values in enumerate(classes.values())}
        self.names = list(classes)

    def slice_boxes(self, label_slice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes and class ids of one ``(A, B)`` label slice."""
        return boxes_from_mask(label_slice, self.class_values)

    def candidates(self, case: Mapping[str, Any], rng: np.random.Generator) -> list[int]:
        """Slices with any object, plus ``empty_fraction`` of the others drawn from ``rng``, sorted."""
        label = np.asarray(case["label"])[0]
        values = sorted({v for vs in self.class_values.values() for v in vs})
        objects = np.isin(label, values)
        if objects.ndim == 2:
            return [0] if objects.any() or rng.random() < self.options.empty_fraction else []
        other_axes = tuple(a for a in range(3) if a != self.options.axis)
        has_object = objects.any(axis=other_axes)
        empty = np.flatnonzero(~has_object)
        keep = rng.choice(empty, size=int(round(self.options.empty_fraction * len(empty))), replace=False)
        return sorted(np.flatnonzero(has_object).tolist() + keep.tolist())

    def write(self, split: str, name: str, case: Mapping[str, Any], index: int,
              window: tuple[float, float], channel: int) -> ExportedSlice:
        """Export slice ``index`` of ``case`` as ``images/<split>/<name>.png`` + its label file."""
        image = take_slice(case["image"], self.options.axis, index)[channel]
        label = take_slice(case["label"], self.options.axis, index)[0]
        path = self.root / "images" / split / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_png(path, to_uint8(image, *window))
        boxes, classes = self.slice_boxes(label)
        label_path = self.root / "labels" / split / f"{name}.txt"
        label_path.parent.mkdir(parents=True, exist_ok=True)
        lines = yolo_label_lines(boxes, classes, label.shape)
        label_path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
        return ExportedSlice(path, str(case.get("id", "")), index, slice_spacing(case, self.options.axis))

    def export_cases(self, split: str, cases: Sequence[Mapping[str, Any]], slices: Sequence[Sequence[int]],
                     channel: int | str) -> list[ExportedSlice]:
        """Export the given slice indices of each case, each once, without augmentation."""
        exported = []
        for position, (case, indices) in enumerate(zip(cases, slices)):
            c = channel_index(case, channel)
            window = intensity_window(np.asarray(case["image"])[c], self.options)
            for index in indices:
                name = f"{position:05d}_{_safe(str(case.get('id', 'case')))}_s{index:03d}"
                exported.append(self.write(split, name, case, index, window, c))
        return exported

    def export_training(self, cases: Sequence[Mapping[str, Any]], count: int, seed: int,
                        augment: Callable[[dict[str, Any], int], dict[str, Any]] | None) -> list[ExportedSlice]:
        """Export exactly ``count`` training slices drawn from the cases' candidate slices.

        The candidates are shuffled and repeated whole until ``count`` are drawn, so each appears
        ``floor`` or ``ceil(count / n_candidates)`` times. With ``augment``, the r-th draw of a slice
        comes from the r-th augmented copy of its case (``augment(case, seed_r)``, seeds derived from
        ``seed``, the case position and r), so repeats are distinct augmented images.
        """
        rng = np.random.default_rng(seed)
        pool = [(position, index) for position, case in enumerate(cases) for index in self.candidates(case, rng)]
        if not pool:
            raise ConfigError("the yolo backend found no training slice to export (no objects in any training "
                              "case and yolo.empty_fraction = 0)")
        drawn: list[tuple[int, int]] = []
        while len(drawn) < count:
            drawn += [pool[i] for i in rng.permutation(len(pool))]
        drawn = drawn[:count]
        seen: dict[tuple[int, int], int] = {}
        copies: dict[tuple[int, int], list[int]] = {}  # (case position, copy r) -> slice indices
        for key in drawn:
            r = seen.get(key, 0)
            seen[key] = r + 1
            copies.setdefault((key[0], r), []).append(key[1])
        exported = []
        for (position, r), indices in sorted(copies.items()):
            case = cases[position]
            if augment is not None:
                copy_seed = int(np.random.SeedSequence([seed, position, r]).generate_state(1)[0])
                case = augment(dict(case), copy_seed)
            c = channel_index(case, self.options.channel)
            window = intensity_window(np.asarray(case["image"])[c], self.options)
            for index in sorted(indices):
                name = f"{position:05d}_{_safe(str(case.get('id', 'case')))}_s{index:03d}_c{r}"
                exported.append(self.write("train", name, case, index, window, c))
        return exported

    def write_data_yaml(self) -> Path:
        """``data.yaml`` for ultralytics: absolute dataset path, train/val folders, class names."""
        import yaml

        path = self.root / "data.yaml"
        data = {"path": str(self.root.resolve()), "train": "images/train", "val": "images/val",
                "nc": len(self.names), "names": dict(enumerate(self.names))}
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path


# --------------------------------------------------------------------------- ultralytics, offline
