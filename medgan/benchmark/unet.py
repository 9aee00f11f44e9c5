"""Segmentation backend: a MONAI ``UNet`` trained with Dice + cross-entropy for at most ``steps`` steps,
selected on the validation cases (with optional early stopping), evaluated on the test cases with
sliding-window inference.

Every arm of a benchmark gets the same network, optimiser, maximum number of steps (not epochs, so a
larger augmented training set does not buy more training), validation schedule and stopping rule.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from medgan.benchmark.arms import BackendResult
from medgan.errors import ConfigError
from medgan.registry import BACKENDS


@dataclass
class UNetOptions:
    """Settings of the segmentation backend (the ``unet:`` block of a pipeline).

    Attributes:
        steps: the maximum training budget (batches), the same for every arm.
        val_every: steps between validations (mean Dice over the validation cases).
        patience: stop after this many validations without a better score (``null``: never stop early);
            the weights of the best validation are kept either way.
    """

    steps: int = 300
    batch_size: int = 2
    learning_rate: float = 1e-3
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 1
    roi_size: tuple[int, ...] | None = None
    val_every: int = 50
    patience: int | None = None
    overlap: float = 0.25
    foreground_crop_probability: float = 0.67

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "val_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"unet.{key} must be >= 1, got {getattr(self, key)}")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"unet.patience must be >= 1 validations (or null), got {self.patience}")
        if self.roi_size is not None and any(r < 1 for r in self.roi_size):
            raise ConfigError(f"unet.roi_size must be >= 1 in every axis, got {list(self.roi_size)}")
        if not 0 <= self.overlap < 1:
            raise ConfigError(f"unet.overlap must be in [0, 1), got {self.overlap}")
        if len(self.strides) != len(self.channels) - 1:
            raise ConfigError("unet: strides needs one entry fewer than channels")


def normalise(image: np.ndarray) -> np.ndarray:
    """Z-score each channel over its non-zero voxels (the body), as float32; background stays 0."""
    out = np.zeros(image.shape, np.float32)
    for c in range(image.shape[0]):
        channel = image[c].astype(np.float32)
        mask = channel != 0
        if mask.sum() < 2:
            mask = np.ones_like(mask)
        mean, std = channel[mask].mean(), channel[mask].std()
        out[c] = np.where(mask, (channel - mean) / max(float(std), 1e-6), 0.0)
    return out


def _crop_starts(shape: Sequence[int], roi: Sequence[int], label: np.ndarray, rng: np.random.Generator,
                 p_foreground: float) -> tuple[int, ...]:
    """A random crop corner; with probability ``p_foreground`` the crop contains a foreground voxel."""
    centre = None
    if rng.random() < p_foreground and label.any():
        points = np.argwhere(label[0] > 0)
        centre = points[rng.integers(len(points))]
    starts = []
    for axis, (size, r) in enumerate(zip(shape, roi)):
        high = size - r
        if high <= 0:
            starts.append(0)
        elif centre is not None:
            starts.append(int(np.clip(centre[axis] - r // 2 + rng.integers(-r // 4, r // 4 + 1), 0, high)))
        else:
            starts.append(int(rng.integers(0, high + 1)))
    return tuple(starts)


class UNetBackend:
    """Train and evaluate one U-Net.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        n_classes: label values 0..n_classes-1.
        options: :class:`UNetOptions`.
        device: ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, spatial_dims: int, in_channels: int, n_classes: int, options: UNetOptions,
                 device: str = "cpu") -> None:
        self.spatial_dims, self.in_channels, self.n_classes = spatial_dims, in_channels, n_classes
        self.options, self.device = options, torch.device(device)

    def _network(self) -> torch.nn.Module:
        from monai.networks.nets import UNet

        o = self.options
        return UNet(self.spatial_dims, self.in_channels, self.n_classes, channels=o.channels, strides=o.strides,
                    num_res_units=o.num_res_units).to(self.device)

    def _batch(self, cases: Sequence[dict[str, Any]], rng: np.random.Generator,
               augment: Callable[[dict[str, Any], int], dict[str, Any]] | None) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for index in rng.integers(0, len(cases), self.options.batch_size):
            case = cases[int(index)]
            if augment is not None:
                case = augment(case, int(rng.integers(2**31)))
            image, label = np.asarray(case["image"], np.float32), np.asarray(case["label"])
            roi = self.options.roi_size
            if roi is not None:
                starts = _crop_starts(image.shape[1:], roi, label, rng, self.options.foreground_crop_probability)
                window = (slice(None), *(slice(s, s + r) for s, r in zip(starts, roi)))
                image, label = image[window], label[window]
            images.append(torch.from_numpy(np.ascontiguousarray(image)))
            labels.append(torch.from_numpy(np.ascontiguousarray(label.astype(np.int64))))
        return torch.stack(images).to(self.device), torch.stack(labels).to(self.device)

    def predict(self, network: torch.nn.Module, image: np.ndarray) -> np.ndarray:
        """Label map ``(1, X, Y[, Z])`` of one normalised image ``(C, X, Y[, Z])``."""
        from monai.inferers import sliding_window_inference

        network.eval()
        x = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None].to(self.device)
        roi = self.options.roi_size or tuple(image.shape[1:])
        with torch.no_grad():
            logits = sliding_window_inference(x, roi, sw_batch_size=2, predictor=network,
                                              overlap=self.options.overlap, mode="gaussian")
        return logits.argmax(1).cpu().numpy().astype(np.uint8)

    def fit(self, train: Sequence[dict[str, Any]], val: Sequence[dict[str, Any]], seed: int,
            augment: Callable[[dict[str, Any], int], dict[str, Any]] | None = None,
            progress: Callable[[int, float], None] | None = None) -> tuple[torch.nn.Module, list[dict[str, float]]]:
        """Train for at most ``options.steps`` steps; keep the weights with the best validation score.

        The validation score is the mean over validation cases of
        :func:`medgan.metrics.segmentation.overlap_score` over the label classes; training stops early
        after ``options.patience`` validations without a better score.

        Args:
            train: normalised training cases (``image``, ``label``); real and synthetic alike.
            val: normalised validation cases (never augmented).
            seed: initialisation, batch order, crops and augmentation seeds.
            augment: ``(case, seed) -> case`` applied to each training sample on the fly.
            progress: called with ``(step, loss)``.

        Returns:
            The selected network and the training log (one row per validation: ``step``, ``loss``,
            ``val_dice``, ``best``).
        """
        from monai.losses import DiceCELoss

        from medgan.metrics.segmentation import overlap_score

        if not train:
            raise ConfigError("no training cases left for the U-Net")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = self._network()
        optimiser = torch.optim.Adam(network.parameters(), lr=self.options.learning_rate)
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        rng = np.random.default_rng(seed)
        best_state, best_score, log = copy.deepcopy(network.state_dict()), -math.inf, []
        regions = {str(v): (v,) for v in range(1, self.n_classes)}
        since_best = 0
        for step in range(1, self.options.steps + 1):
            network.train()
            x, y = self._batch(train, rng, augment)
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(network(x), y)
            loss.backward()
            optimiser.step()
            loss_value = loss.item()
            if progress is not None:
                progress(step, loss_value)
            if step % self.options.val_every == 0 or step == self.options.steps:
                scores = [overlap_score(self.predict(network, c["image"]), c["label"], regions)
                          for c in val] if val else [-loss_value]
                score = float(np.mean(scores))
                improved = score > best_score
                log.append({"step": step, "loss": loss_value, "val_dice": score, "best": improved})
                if improved:
                    best_score, best_state, since_best = score, copy.deepcopy(network.state_dict()), 0
                else:
                    since_best += 1
                    if self.options.patience is not None and since_best >= self.options.patience:
                        break
        network.load_state_dict(best_state)
        return network, log


@BACKENDS.register("unet")
class UNetSegmentation:
    """The ``unet`` benchmark backend: :class:`UNetBackend` plus evaluation with
    :func:`medgan.metrics.segmentation.segmentation_metrics` on each test case, per label class (named
    by ``pipeline.label_names``) and per ``pipeline.regions``."""

    task = "segmentation"

    def __init__(self, pipeline: Any, in_channels: int, n_classes: int, device: str) -> None:
        self.pipeline = pipeline
        self.model = UNetBackend(pipeline.spatial_dims, in_channels, n_classes, pipeline.unet, device)
        from medgan.metrics.segmentation import evaluation_regions

        classes = sorted(int(v) for v in pipeline.label_names) or list(range(1, n_classes))
        self.regions = evaluation_regions(classes, pipeline.label_names, pipeline.regions)

    def run(self, train: Sequence[dict[str, Any]], val: Sequence[dict[str, Any]], test: Sequence[dict[str, Any]],
            seed: int, augment: Callable[[dict[str, Any], int], dict[str, Any]] | None, workdir: Any = None
            ) -> BackendResult:
        from medgan.metrics.segmentation import segmentation_metrics

        network, log = self.model.fit(train, val, seed, augment)
        rows: list[dict[str, Any]] = []
        example: dict[str, Any] = {}
        # the example is the test case with the most foreground, so every arm shows the same case
        shown = max(test, key=lambda c: (int(np.count_nonzero(c["label"])), c["id"]))["id"] if test else None
        for case in test:
            prediction = self.model.predict(network, case["image"])
            if case["id"] == shown:
                example = {"image": case["image"][0], "label": case["label"][0], "prediction": prediction[0],
                           "case": case["id"]}
            scores = segmentation_metrics(prediction, case["label"], self.regions, case["meta"]["spacing"])
            for region, values in scores.items():
                rows.extend({"case": case["id"], "region": region, "metric": metric, "value": value}
                            for metric, value in values.items())
        o = self.pipeline.unet
        budget = {"max_steps": o.steps, "batch_size": o.batch_size, "learning_rate": o.learning_rate,
                  "val_every": o.val_every, "patience": o.patience}
        best = max((row for row in log), key=lambda row: row["val_dice"], default={"step": 0})
        training = {"steps_run": int(log[-1]["step"]) if log else 0, "best_step": int(best["step"]),
                    "stopped_early": bool(log) and int(log[-1]["step"]) < o.steps}
        return BackendResult(rows, log, example, budget, training)
