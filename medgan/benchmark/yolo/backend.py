"""The ``yolo`` benchmark backend: export, train from the model YAML, select on validation slices,
predict every test slice and score it with :mod:`medgan.metrics.detection`."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medgan.benchmark.arms import BackendResult
from medgan.benchmark.yolo.export import ExportedSlice, YoloExporter, channel_index, n_slices, take_slice
from medgan.benchmark.yolo.options import MISSING_ULTRALYTICS, YoloOptions, class_map
from medgan.benchmark.yolo.sandbox import offline_ultralytics, ultralytics_available
from medgan.errors import ConfigError
from medgan.metrics.detection import SliceDetections, box_mask, detection_metrics
from medgan.registry import BACKENDS

#: ultralytics' own training augmentations, all switched off unless ``builtin_augmentation: true``,
#: so that the ``none`` arm is really unaugmented and ``classic`` means medgan's augmentation only
NO_BUILTIN_AUGMENTATION = {"hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "degrees": 0.0, "translate": 0.0, "scale": 0.0,
                           "shear": 0.0, "perspective": 0.0, "flipud": 0.0, "fliplr": 0.0, "mosaic": 0.0,
                           "mixup": 0.0, "cutmix": 0.0, "copy_paste": 0.0}


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
