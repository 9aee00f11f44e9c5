"""Detection backend: ultralytics YOLO trained from a model YAML (no weights download) on 2D slices
exported in YOLO format, selected on the validation cases, evaluated on every slice of the test cases
with :mod:`medgan.metrics.detection`. See ``docs/detection.md``.

Same budget for every arm: the training set of every arm is exported as exactly
``train_slices`` slice images, drawn from the arm's candidate slices (subsampled when there are more,
each repeated equally often when there are fewer), and trained for ``epochs`` epochs with batch size
``batch``. Every arm therefore sees ``epochs x train_slices`` images in the same number of optimiser
steps with the same learning-rate schedule; a larger (augmented) training set buys variety, not
training time.

ultralytics is AGPL-3.0 and an optional extra (``pip install 'medgan[yolo]'``); it is imported only
inside :meth:`YoloDetection.run`, with the network switched off (see :func:`offline_ultralytics`).
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import os
import random
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medgan.benchmark.arms import BackendResult
from medgan.errors import ConfigError
from medgan.metrics.detection import SliceDetections, box_mask, boxes_from_mask, detection_metrics
from medgan.registry import BACKENDS

MISSING_ULTRALYTICS = "the yolo backend needs the optional extra: pip install 'medgan[yolo]' (ultralytics, AGPL-3.0)"

#: ultralytics' own training augmentations, all switched off unless ``builtin_augmentation: true``,
#: so that the ``none`` arm is really unaugmented and ``classic`` means medgan's augmentation only
NO_BUILTIN_AUGMENTATION = {"hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "degrees": 0.0, "translate": 0.0, "scale": 0.0,
                           "shear": 0.0, "perspective": 0.0, "flipud": 0.0, "fliplr": 0.0, "mosaic": 0.0,
                           "mixup": 0.0, "cutmix": 0.0, "copy_paste": 0.0}


@dataclass
class YoloOptions:
    """Settings of the detection backend (the ``yolo:`` block of a pipeline).

    Attributes:
        model: ultralytics model YAML (built from scratch, ``pretrained=False``), e.g. ``yolov8n.yaml``.
        imgsz: training and inference image size (pixels, a multiple of 32).
        epochs: passes over the exported training slices.
        train_slices: training images per epoch, the same for every arm (the budget; see module doc).
        batch: images per batch.
        optimizer, lr0: optimiser and initial learning rate (fixed, not ultralytics' ``auto``).
        channel: image channel exported to the 8-bit PNGs: an index, or a modality name from the
            case's ``meta["modalities"]`` (e.g. ``ct``).
        axis: spatial axis the 3D volumes are sliced along (2: axial for RAS volumes); ignored in 2D.
        classes: detection class name -> label values whose union forms it (e.g. ``WT: [1, 2, 3]``);
            empty: one class per label value ``1..K-1``, named by the value.
        empty_fraction: share of each training / validation case's slices without any object that are
            kept as candidates (negative examples), drawn by seed.
        window: ``[low, high]`` intensities (of the normalised image) mapped to 0..255; ``null``: the
            ``window_percentiles`` of each case's channel.
        window_percentiles: percentiles used when ``window`` is null.
        conf: confidence threshold for sensitivity, precision, false positives and centre distance
            (AP50 ranks every prediction down to confidence 0.001).
        nms_iou: IoU of ultralytics' non-maximum suppression at inference.
        builtin_augmentation: keep ultralytics' own augmentations (mosaic, HSV, flips, scale); off by
            default so arms differ by medgan's augmentation only.
        device_amp: mixed precision on CUDA as ultralytics' ``amp`` (``false``, or ``bf16``; fp16
            AMP is not offered because ultralytics' AMP self-check downloads weights).
        verbose: let ultralytics log its progress.
    """

    model: str = "yolov8n.yaml"
    imgsz: int = 128
    epochs: int = 30
    train_slices: int = 256
    batch: int = 16
    optimizer: str = "AdamW"
    lr0: float = 0.001
    channel: int | str = 0
    axis: int = 2
    classes: dict[str, list[int]] = field(default_factory=dict)
    empty_fraction: float = 0.1
    window: tuple[float, float] | None = None
    window_percentiles: tuple[float, float] = (0.5, 99.5)
    conf: float = 0.25
    nms_iou: float = 0.7
    builtin_augmentation: bool = False
    device_amp: bool | str = False
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.imgsz < 32 or self.imgsz % 32:
            raise ConfigError(f"yolo.imgsz must be a multiple of 32 (>= 32), got {self.imgsz}")
        if min(self.epochs, self.train_slices, self.batch) < 1:
            raise ConfigError("yolo: epochs, train_slices and batch must be >= 1")
        if not 0 <= self.empty_fraction <= 1:
            raise ConfigError(f"yolo.empty_fraction must be in [0, 1], got {self.empty_fraction}")
        if not 0 <= self.conf < 1:
            raise ConfigError(f"yolo.conf must be in [0, 1), got {self.conf}")
        if self.window is not None and not self.window[0] < self.window[1]:
            raise ConfigError(f"yolo.window needs low < high, got {list(self.window)}")
        low, high = self.window_percentiles
        if not 0 <= low < high <= 100:
            raise ConfigError(f"yolo.window_percentiles need 0 <= low < high <= 100, got {[low, high]}")
        for name, values in self.classes.items():
            if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                raise ConfigError(f"yolo.classes.{name}: expected a list of label values, found {values!r}")
        if "all" in self.classes:
            raise ConfigError("yolo.classes: 'all' is reserved for the metrics pooled over classes")
        if self.device_amp not in (False, "bf16"):
            raise ConfigError(f"yolo.device_amp must be false or 'bf16', got {self.device_amp!r}")

    @property
    def images_seen(self) -> int:
        """Training images every arm sees: ``epochs x train_slices``."""
        return self.epochs * self.train_slices

    @property
    def optimiser_steps(self) -> int:
        """Optimiser steps of every arm: one per batch (no gradient accumulation: ``nbs = batch``)."""
        return self.epochs * -(-self.train_slices // self.batch)


# --------------------------------------------------------------------------- export in YOLO format


def class_map(options: YoloOptions, n_classes: int) -> dict[str, tuple[int, ...]]:
    """Detection class name -> label values, in class-id order (``options.classes`` or one class per
    label value ``1..n_classes-1``)."""
    if not options.classes:
        return {str(v): (v,) for v in range(1, n_classes)}
    for name, values in options.classes.items():
        bad = [v for v in values if not 0 < v < n_classes]
        if not values or bad:
            raise ConfigError(f"yolo.classes.{name}: label values must be in 1..{n_classes - 1}, got {values}")
    return {name: tuple(values) for name, values in options.classes.items()}


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


def ultralytics_available() -> bool:
    """Whether the optional ultralytics package can be imported."""
    if "ultralytics" in sys.modules:
        return sys.modules["ultralytics"] is not None
    return importlib.util.find_spec("ultralytics") is not None


@contextlib.contextmanager
def offline_ultralytics(config_dir: Path, verbose: bool = False) -> Iterator[Any]:
    """Import ultralytics with every network path switched off, and undo its global side effects.

    - ``YOLO_OFFLINE=1`` (ultralytics then treats the machine as offline: no pip-update check, no
      analytics), ``YOLO_CONFIG_DIR`` inside the run folder (settings file, fonts), settings
      ``sync: false``; an ``ULTRALYTICS_API_KEY`` is hidden while training (no Platform uploads).
    - ultralytics downloads ``Arial.ttf`` when its dataset check cannot find it, even with plots off:
      a copy of matplotlib's DejaVuSans is put there first (plots are off, so it is never drawn).
    - ultralytics seeds the global RNGs, turns on ``torch.use_deterministic_algorithms`` and resets
      torch's thread count; all three are restored on exit, and it keeps the caller's thread count.

    The environment variables take effect at the first import in a process; later calls reuse it.

    Yields:
        the ``ultralytics`` module.

    Raises:
        ConfigError: ultralytics is not installed.
    """
    import torch

    if not ultralytics_available():
        raise ConfigError(MISSING_ULTRALYTICS)
    if "ultralytics" not in sys.modules:
        config_dir.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir.resolve())
        os.environ["YOLO_VERBOSE"] = str(bool(verbose))
    try:
        import ultralytics
        from ultralytics.utils import SETTINGS, USER_CONFIG_DIR
    except ImportError:
        raise ConfigError(MISSING_ULTRALYTICS) from None
    import ultralytics.utils.events as events
    import ultralytics.utils.torch_utils as torch_utils

    SETTINGS.update({"sync": False})
    events.events.enabled = False
    font = Path(USER_CONFIG_DIR) / "Arial.ttf"
    if not font.is_file():
        import matplotlib

        shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
    threads = torch.get_num_threads()
    torch_utils.NUM_THREADS = threads  # ultralytics would reset torch to min(8, cores - 1) threads
    deterministic = torch.are_deterministic_algorithms_enabled()
    api_key = os.environ.pop("ULTRALYTICS_API_KEY", None)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            yield ultralytics
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
        if api_key is not None:
            os.environ["ULTRALYTICS_API_KEY"] = api_key


# --------------------------------------------------------------------------- the backend


def _read_training_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = []
        for row in csv.DictReader(handle):
            parsed: dict[str, Any] = {}
            for key, value in row.items():
                try:
                    parsed[key.strip()] = float(value)
                except (TypeError, ValueError):
                    parsed[key.strip()] = value
            rows.append(parsed)
    return rows


@BACKENDS.register("yolo")
class YoloDetection:
    """The ``yolo`` benchmark backend (see the module docstring for the budget rule).

    Args:
        pipeline: the benchmark pipeline; reads ``pipeline.yolo`` (:class:`YoloOptions`).
        in_channels: image channels of the cases.
        n_classes: label values ``0..n_classes-1``.
        device: ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, pipeline: Any, in_channels: int, n_classes: int, device: str) -> None:
        self.check(pipeline)
        self.options: YoloOptions = pipeline.yolo
        self.classes = class_map(self.options, n_classes)
        if not self.classes:
            raise ConfigError("the yolo backend needs labels with at least one object class (values > 0)")
        self.names = list(self.classes)
        self.device = device

    @staticmethod
    def check(pipeline: Any) -> None:
        """Fail before any work when the pipeline cannot run with this backend."""
        if not ultralytics_available():
            raise ConfigError(MISSING_ULTRALYTICS)
        if getattr(pipeline, "spatial_dims", 3) == 3 and pipeline.yolo.axis not in (0, 1, 2):
            raise ConfigError(f"yolo.axis must be 0, 1 or 2, got {pipeline.yolo.axis}")

    def _train(self, data_yaml: Path, workdir: Path, seed: int) -> tuple[Any, list[dict[str, Any]]]:
        """Train from the model YAML; returns the model with the weights chosen on the validation slices."""
        o = self.options
        with offline_ultralytics(workdir / "ultralytics_config", o.verbose) as ultralytics:
            from ultralytics.cfg import DEFAULT_CFG_DICT

            model = ultralytics.YOLO(o.model)
            augmentation = {} if o.builtin_augmentation else {  # only the keys this ultralytics version knows
                key: value for key, value in NO_BUILTIN_AUGMENTATION.items() if key in DEFAULT_CFG_DICT}
            model.train(data=str(data_yaml), epochs=o.epochs, imgsz=o.imgsz, batch=o.batch,
                        device="cpu" if self.device == "cpu" else 0, workers=0, seed=seed, deterministic=True,
                        pretrained=False, plots=False, amp=o.device_amp if self.device != "cpu" else False,
                        project=str(workdir.resolve()), name="train", exist_ok=True, optimizer=o.optimizer,
                        lr0=o.lr0, nbs=o.batch, patience=0, close_mosaic=0, cache=False, val=True, verbose=o.verbose,
                        **augmentation)
        return model, _read_training_log(workdir / "train" / "results.csv")

    def _predict(self, model: Any, slices: Sequence[ExportedSlice], workdir: Path) -> list[tuple[np.ndarray, ...]]:
        """Boxes, class ids and scores (down to confidence 0.001, for AP) of every exported test slice."""
        o = self.options
        found = []
        with offline_ultralytics(workdir / "ultralytics_config", o.verbose):
            for start in range(0, len(slices), 64):
                chunk = [str(s.image) for s in slices[start:start + 64]]
                for result in model.predict(chunk, imgsz=o.imgsz, conf=min(0.001, o.conf), iou=o.nms_iou,
                                            device="cpu" if self.device == "cpu" else 0, verbose=False,
                                            stream=True):
                    boxes = result.boxes
                    found.append((boxes.xyxy.cpu().numpy().astype(np.float64),
                                  boxes.cls.cpu().numpy().astype(np.int64),
                                  boxes.conf.cpu().numpy().astype(np.float64)))
        return found

    def run(self, train: Sequence[dict[str, Any]], val: Sequence[dict[str, Any]], test: Sequence[dict[str, Any]],
            seed: int, augment: Callable[[dict[str, Any], int], dict[str, Any]] | None,
            workdir: str | Path | None = None) -> BackendResult:
        """Export, train (same budget for every arm), select on ``val``, evaluate every slice of ``test``.

        Args:
            train: training cases (real, or real + synthetic); val: model-selection cases;
                test: held-out cases (every slice is predicted, empty ones included).
            seed: training seed; also draws the exported slices.
            augment: classic augmentation ``augment(case, seed) -> case`` applied to training cases
                before export, or None.
            workdir: scratch folder for the exported dataset and ultralytics' run (rebuilt each time).

        Returns:
            :class:`BackendResult` with rows ``{"case", "region", "metric", "value"}``: region is a
            class name or ``all``; metrics as in :func:`medgan.metrics.detection.detection_metrics`.
        """
        import tempfile

        if not train:
            raise ConfigError("no training cases left for the yolo backend")
        if not val:
            raise ConfigError("the yolo backend selects its model on validation cases: set split.val_fraction > 0")
        workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="medgan-yolo-"))
        o = self.options
        root = workdir / "dataset"
        shutil.rmtree(root, ignore_errors=True)
        exporter = YoloExporter(root, self.classes, o)
        exporter.export_training(train, o.train_slices, seed, augment)
        val_rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        exporter.export_cases("val", val, [exporter.candidates(c, val_rng) for c in val], o.channel)
        test_slices = exporter.export_cases("test", test, [range(n_slices(c, o.axis)) for c in test], o.channel)
        model, log = self._train(exporter.write_data_yaml(), workdir, seed)
        predictions = self._predict(model, test_slices, workdir)
        rows, example = self._evaluate(test, test_slices, predictions, exporter)
        budget = {"epochs": o.epochs, "train_slices": o.train_slices, "images_seen": o.images_seen,
                  "optimiser_steps": o.optimiser_steps, "batch": o.batch, "imgsz": o.imgsz, "model": o.model,
                  "optimizer": o.optimizer, "lr0": o.lr0}
        return BackendResult(rows, log, example, budget)

    def _evaluate(self, test: Sequence[dict[str, Any]], slices: Sequence[ExportedSlice],
                  predictions: Sequence[tuple[np.ndarray, ...]], exporter: YoloExporter
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        o = self.options
        rows: list[dict[str, Any]] = []
        example: dict[str, Any] = {}
        best_area = -1
        by_case: dict[str, list[SliceDetections]] = {}
        cases = {str(c.get("id", "")): c for c in test}
        for item, (boxes, classes, scores) in zip(slices, predictions):
            case = cases[item.case]
            label = take_slice(case["label"], o.axis, item.index)[0]
            truth_boxes, truth_classes = exporter.slice_boxes(label)
            by_case.setdefault(item.case, []).append(
                SliceDetections(truth_boxes, truth_classes, boxes, classes, scores, item.spacing))
            area = int(box_mask(truth_boxes, label.shape).sum())
            if area > best_area:  # the report's example: the test slice with the largest objects
                best_area = area
                kept = scores >= o.conf
                example = {"image": take_slice(case["image"], o.axis, item.index)[channel_index(case, o.channel)],
                           "label": _paint(truth_boxes, truth_classes, label.shape),
                           "prediction": _paint(boxes[kept], classes[kept], label.shape),
                           "case": f"{item.case} slice {item.index}"}
        for case_id, detections in by_case.items():
            for region, values in detection_metrics(detections, self.names, o.conf).items():
                rows.extend({"case": case_id, "region": region, "metric": metric, "value": value}
                            for metric, value in values.items())
        return rows, example


def _paint(boxes: np.ndarray, classes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A label map of filled boxes (class id + 1), larger boxes first, for the report's example."""
    painted = np.zeros(shape, np.uint8)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) if len(boxes) else np.zeros(0)
    for i in np.argsort(-areas, kind="stable"):
        painted[box_mask(boxes[i:i + 1], shape)] = int(classes[i]) + 1
    return painted
