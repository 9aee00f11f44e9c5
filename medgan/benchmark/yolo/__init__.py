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

Modules: :mod:`~medgan.benchmark.yolo.options` (settings), :mod:`~medgan.benchmark.yolo.export`
(slices in YOLO format), :mod:`~medgan.benchmark.yolo.sandbox` (ultralytics offline),
:mod:`~medgan.benchmark.yolo.backend` (the registered backend).
"""

from medgan.benchmark.yolo.backend import NO_BUILTIN_AUGMENTATION, YoloDetection
from medgan.benchmark.yolo.export import (
    ExportedSlice,
    YoloExporter,
    channel_index,
    intensity_window,
    n_slices,
    read_yolo_labels,
    slice_spacing,
    take_slice,
    to_uint8,
    yolo_label_lines,
)
from medgan.benchmark.yolo.options import MISSING_ULTRALYTICS, YoloOptions, class_map
from medgan.benchmark.yolo.sandbox import offline_ultralytics, ultralytics_available

__all__ = [
    "MISSING_ULTRALYTICS", "NO_BUILTIN_AUGMENTATION", "ExportedSlice", "YoloDetection", "YoloExporter",
    "YoloOptions", "channel_index", "class_map", "intensity_window", "n_slices", "offline_ultralytics",
    "read_yolo_labels", "slice_spacing", "take_slice", "to_uint8", "ultralytics_available",
    "yolo_label_lines",
]
