"""Settings of the ``yolo`` backend (the ``yolo:`` block of a pipeline) and its class map."""

from __future__ import annotations

from dataclasses import dataclass, field

from medgan.errors import ConfigError

MISSING_ULTRALYTICS = "the yolo backend needs the optional extra: pip install 'medgan[yolo]' (ultralytics, AGPL-3.0)"


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

