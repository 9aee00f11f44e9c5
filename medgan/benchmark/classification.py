"""Lesion classification backend (``backend: classifier``, ``task: classification``): Frid-Adar et al. 2018.

Every lesion of a case (a connected component of its label map; its class is the label value it
holds most) becomes one region of interest: a square (cube in 3D) of ``roi_size`` voxels centred on
the lesion, cut from the normalised image. A small MONAI ``DenseNet`` learns the lesion class from the
ROI image alone (the label only says where the ROI is, as the paper's hand-marked ROIs did); every
arm gets the same number of steps, the weights with the best validation balanced accuracy are kept
(ties, frequent on small validation sets, go to the lower validation cross-entropy), and each test
lesion gives per-lesion rows (:func:`medgan.metrics.classification.lesion_rows`): sensitivity and
specificity per class (region = class name), accuracy (region ``all``).

Classic augmentation (``classic`` arms) transforms each ROI on the fly. Synthetic training cases
(``gan`` arms) are real cases with GAN lesions inserted; only the inserted lesions become ROIs (a
lesion that matches one of the real training cases' lesions voxel for voxel is a copy of it and is
skipped), so a ``gan`` arm adds GAN lesions, not duplicates of real ones.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from medgan.benchmark.arms import BackendResult
from medgan.errors import ConfigError
from medgan.registry import BACKENDS
from medgan.transforms.insertion import crop_centred


@dataclass
class ClassifierOptions:
    """Settings of the classification backend (the ``classifier:`` block of a pipeline).

    Attributes:
        steps: training steps (the same for every arm).
        batch_size: ROIs per step.
        learning_rate: Adam learning rate.
        roi_size: ROI edge in voxels (the lesion's centre in the middle).
        init_features, growth_rate, block_config: DenseNet sizes (small enough for a CPU).
        val_every: steps between validations (model selection on balanced accuracy).
    """

    steps: int = 600
    batch_size: int = 32
    learning_rate: float = 1e-3
    roi_size: int = 32
    init_features: int = 16
    growth_rate: int = 8
    block_config: tuple[int, ...] = (2, 4, 4)
    val_every: int = 50

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.val_every < 1:
            raise ConfigError("classifier: steps, batch_size and val_every must be >= 1")
        if self.roi_size < 8:
            raise ConfigError(f"classifier: roi_size must be at least 8 voxels, got {self.roi_size}")
        if not self.block_config or min(self.block_config) < 1:
            raise ConfigError(f"classifier: block_config needs positive layer counts, got {list(self.block_config)}")


@dataclass(frozen=True)
class Lesion:
    """One region of interest: ``image`` ``(C, *roi)``, its ``label`` crop, true class, and where it came from."""

    id: str
    image: np.ndarray
    label: np.ndarray
    lesion_class: int
    key: bytes


def case_lesions(case: dict[str, Any], size: int) -> list[Lesion]:
    """The lesions of one case as ROIs (connected components of ``label > 0``, full connectivity)."""
    label = np.asarray(case["label"])[0]
    components, count = ndimage.label(label > 0, structure=np.ones((3,) * label.ndim))
    lesions = []
    for index, region in enumerate(ndimage.find_objects(components), start=1):
        inside = components[region] == index
        values, counts = np.unique(label[region][inside], return_counts=True)
        lesion_class = int(values[np.argmax(counts)])
        centre = [(s.start + s.stop - 1) // 2 for s in region]
        points = np.argwhere(components == index)
        key = np.int64(lesion_class).tobytes() + points.astype(np.int32).tobytes()
        window = (size,) * (np.ndim(case["image"]) - 1)
        lesions.append(Lesion(f"{case['id']}#{index}",
                              crop_centred(np.asarray(case["image"], np.float32), centre, window, 0),
                              crop_centred(np.asarray(case["label"]), centre, window, 0), lesion_class, key))
    return lesions


def training_lesions(cases: Sequence[dict[str, Any]], size: int) -> list[Lesion]:
    """ROIs of the training cases; of a synthetic case only the lesions no real case has (the inserted ones)."""
    real = [lesion for case in cases if not case.get("synthetic") for lesion in case_lesions(case, size)]
    seen = {lesion.key for lesion in real}
    inserted = [lesion for case in cases if case.get("synthetic") for lesion in case_lesions(case, size)
                if lesion.key not in seen]
    return real + inserted


def class_names(pipeline: Any, n_classes: int) -> dict[int, str]:
    """Class value -> name, from the dataset's ``class_names.json`` when it has one, else the value."""
    from medgan.benchmark.pipeline import data_path

    names = {c: str(c) for c in range(1, n_classes)}
    path = data_path(pipeline) / "class_names.json"
    if path.is_file():
        names.update({int(k): str(v) for k, v in json.loads(path.read_text()).items() if int(k) in names})
    return names


@BACKENDS.register("classifier")
class LesionClassifier:
    """The ``classifier`` benchmark backend (see the module docstring).

    Args:
        pipeline: the loaded pipeline (its ``classifier:`` block, ``spatial_dims`` and data path).
        in_channels: image channels.
        n_classes: label values 0..n_classes-1; the lesion classes are 1..n_classes-1.
        device: ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, pipeline: Any, in_channels: int, n_classes: int, device: str) -> None:
        if n_classes < 3:
            raise ConfigError(f"backend classifier: the labels hold {n_classes - 1} lesion class(es); "
                              "classification needs at least 2")
        self.pipeline, self.options = pipeline, pipeline.classifier
        self.in_channels, self.classes = in_channels, list(range(1, n_classes))
        self.names = class_names(pipeline, n_classes)
        self.device = torch.device(device)

    def _network(self) -> torch.nn.Module:
        from monai.networks.nets import DenseNet

        o = self.options
        return DenseNet(self.pipeline.spatial_dims, self.in_channels, len(self.classes), init_features=o.init_features,
                        growth_rate=o.growth_rate, block_config=tuple(o.block_config)).to(self.device)

    def _batch(self, lesions: Sequence[Lesion], rng: np.random.Generator,
               augment: Callable[[dict[str, Any], int], dict[str, Any]] | None, spacing: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        images, targets = [], []
        for index in rng.integers(0, len(lesions), self.options.batch_size):
            lesion = lesions[int(index)]
            image = lesion.image
            if augment is not None:
                image = augment({"image": image, "label": lesion.label, "meta": {"spacing": spacing}},
                                int(rng.integers(2**31)))["image"]
            images.append(torch.from_numpy(np.ascontiguousarray(image, np.float32)))
            targets.append(self.classes.index(lesion.lesion_class))
        return torch.stack(images).to(self.device), torch.tensor(targets, device=self.device)

    def predict(self, network: torch.nn.Module, lesions: Sequence[Lesion]) -> list[int]:
        """Predicted class value of each lesion."""
        if not lesions:
            return []
        network.eval()
        with torch.no_grad():
            x = torch.from_numpy(np.stack([lesion.image for lesion in lesions]).astype(np.float32)).to(self.device)
            return [self.classes[int(i)] for i in network(x).argmax(1).cpu()]

    def _validate(self, network: torch.nn.Module, lesions: Sequence[Lesion]) -> tuple[float, float]:
        """``(balanced accuracy, cross-entropy)`` on the validation lesions."""
        from medgan.metrics.classification import sensitivity_specificity

        network.eval()
        with torch.no_grad():
            x = torch.from_numpy(np.stack([lesion.image for lesion in lesions]).astype(np.float32)).to(self.device)
            logits = network(x)
        targets = torch.tensor([self.classes.index(lesion.lesion_class) for lesion in lesions], device=self.device)
        predicted = [self.classes[int(i)] for i in logits.argmax(1).cpu()]
        per_class = sensitivity_specificity([lesion.lesion_class for lesion in lesions], predicted, self.classes)
        balanced = float(np.nanmean([v["sensitivity"] for v in per_class.values()]))
        return balanced, float(torch.nn.functional.cross_entropy(logits, targets).item())

    def run(self, train: Sequence[dict[str, Any]], val: Sequence[dict[str, Any]], test: Sequence[dict[str, Any]],
            seed: int, augment: Callable[[dict[str, Any], int], dict[str, Any]] | None, workdir: Any = None
            ) -> BackendResult:
        """Train on the training lesions, select on the validation lesions, one row set per test lesion."""
        from medgan.metrics.classification import lesion_rows

        o = self.options
        train_lesions = training_lesions(train, o.roi_size)
        if not train_lesions:
            raise ConfigError("backend classifier: the training cases hold no lesion")
        val_lesions = [lesion for case in val for lesion in case_lesions(case, o.roi_size)]
        test_lesions = [lesion for case in test for lesion in case_lesions(case, o.roi_size)]
        spacing = train[0].get("meta", {}).get("spacing")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = self._network()
        optimiser = torch.optim.Adam(network.parameters(), lr=o.learning_rate)
        loss_fn = torch.nn.CrossEntropyLoss()
        rng = np.random.default_rng(seed)
        best_state, best_score, log = copy.deepcopy(network.state_dict()), (-1.0, -np.inf), []
        counts = {"n_train_lesions": len(train_lesions), "n_val_lesions": len(val_lesions),
                  "n_test_lesions": len(test_lesions)}
        for step in range(1, o.steps + 1):
            network.train()
            x, y = self._batch(train_lesions, rng, augment, spacing)
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(network(x), y)
            loss.backward()
            optimiser.step()
            if step % o.val_every == 0 or step == o.steps:
                balanced, val_loss = self._validate(network, val_lesions) if val_lesions else (0.0, loss.item())
                log.append({"step": step, "loss": loss.item(), "val_balanced_accuracy": balanced,
                            "val_loss": val_loss, **counts})
                score = (balanced, -val_loss)  # ties (small validation sets) go to the lower loss
                if score > best_score:
                    best_score, best_state = score, copy.deepcopy(network.state_dict())
        network.load_state_dict(best_state)
        predicted = self.predict(network, test_lesions)
        rows = lesion_rows([lesion.id for lesion in test_lesions], [lesion.lesion_class for lesion in test_lesions],
                           predicted, self.names)
        example: dict[str, Any] = {}
        if test_lesions:
            first = test_lesions[0]
            example = {"image": first.image[0], "label": first.label[0],
                       "prediction": np.where(first.label[0] > 0, predicted[0], 0).astype(np.uint8), "case": first.id}
        budget = {"steps": o.steps, "batch_size": o.batch_size, "learning_rate": o.learning_rate,
                  "roi_size": o.roi_size}
        return BackendResult(rows, log, example, budget)
