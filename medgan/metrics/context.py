"""Shared state of one evaluation: the loaded sets on one grid and scale, and cached features.

Metrics registered in :data:`medgan.registry.METRICS` are functions ``metric(context) -> dict``; they
ask the context for arrays and features, which are computed once and shared (as StyleGAN's metric
code caches real-data features).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medgan.metrics.casesets import CaseSet, IntensityReference, check_compatible, to_grid


class NotApplicable(Exception):
    """A metric cannot be computed on these inputs (e.g. coverage without class labels)."""


@dataclass
class EvaluateOptions:
    """Settings of ``medgan evaluate`` (also loadable from a pipeline YAML with :func:`medgan.config.load_config`).

    Attributes:
        metrics: metric names to compute; empty means every metric that applies to the inputs.
        extractor: feature extractor name (``radiomics`` or ``inception``).
        inception_weights: local Inception-v3 weights file (for ``extractor: inception``).
        inception_sha256: its expected SHA-256.
        spatial_extractor: per-position feature extractor (:mod:`medgan.metrics.spatial`) of metrics
            that compare single images position by position (e.g. SIFID); ``filterbank`` needs no weights.
        seed: seeds every random choice (subsets, pairs, splits, U-Net initialisation).
        kid_subsets: KID subsets averaged.
        kid_subset_size: KID subset size (capped at the smaller set).
        pr_k: neighbourhood size of precision/recall.
        diversity_pairs: most image pairs per set for the diversity score.
        diversity_ratio: flag when synthetic dissimilarity < this times the real one.
        memorisation_percentile: percentile of real-to-training nearest-neighbour distances below
            which a synthetic case counts as memorised.
        memorisation_flag: flag when more than this fraction of synthetic cases counts as memorised.
        closest_pairs: rows of the closest-pairs PNG.
        coverage_ratio: a class is under-covered when its synthetic share < this times its real share.
        segmenter_steps: training steps of the plausibility U-Net.
        plausibility_ratio: flag when synthetic Dice < this times real Dice.
    """

    metrics: list[str] | None = None
    extractor: str = "radiomics"
    inception_weights: Path | None = None
    inception_sha256: str | None = None
    spatial_extractor: str = "filterbank"
    seed: int = 0
    kid_subsets: int = 50
    kid_subset_size: int = 1000
    pr_k: int = 3
    diversity_pairs: int = 200
    diversity_ratio: float = 0.5
    memorisation_percentile: float = 1.0
    memorisation_flag: float = 0.05
    closest_pairs: int = 8
    coverage_ratio: float = 0.5
    segmenter_steps: int = 100
    plausibility_ratio: float = 0.7


class EvaluationContext:
    """The sets of one evaluation with lazily computed, cached arrays and features.

    Args:
        real: reference real cases (ideally not used to train the generator).
        synthetic: generated cases.
        train: the generator's training cases (memorisation, classifier and segmenter training);
            ``None`` uses ``real`` in that role.
        options: evaluation settings.
    """

    def __init__(self, real: CaseSet, synthetic: CaseSet, train: CaseSet | None, options: EvaluateOptions) -> None:
        for other in (synthetic, train):
            if other is not None:
                check_compatible(real, other)
        self.sets: dict[str, CaseSet] = {"real": real, "synthetic": synthetic}
        if train is not None:
            self.sets["train"] = train
        self.options = options
        self.grid = tuple(real.images[0].shape[1:])
        self.reference = IntensityReference.fit(real.images, seed=options.seed)
        self.notes: list[str] = []
        for name, case_set in self.sets.items():
            resized = sum(tuple(i.shape[1:]) != self.grid for i in case_set.images)
            if resized:
                self.notes.append(f"{resized} {name} case(s) resampled to the real grid {self.grid}")
        self._images: dict[str, np.ndarray] = {}
        self._labels: dict[str, np.ndarray] = {}
        self._features: dict[str, np.ndarray] = {}
        self._extractor = None
        self._spatial: dict[str, list[np.ndarray]] = {}
        self._spatial_extractor = None

    # -- roles ------------------------------------------------------------------------------------
    @property
    def training_role(self) -> str:
        """``"train"`` when a training set was given, else ``"real"``."""
        return "train" if "train" in self.sets else "real"

    @property
    def real_is_training(self) -> bool:
        """True when the real set is (or is the same folder as) the training set."""
        train = self.sets.get("train")
        return train is None or train.root.resolve() == self.sets["real"].root.resolve()

    @property
    def spatial_dims(self) -> int:
        return self.sets["real"].spatial_dims

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator seeded by the evaluation seed and ``purpose`` (independent streams per metric)."""
        return np.random.default_rng([self.options.seed, zlib.crc32(purpose.encode())])

    # -- arrays -----------------------------------------------------------------------------------
    def images(self, name: str) -> np.ndarray:
        """Cases of set ``name`` as ``(N, C, *grid)`` float32 on the real intensity scale."""
        if name not in self._images:
            case_set = self.sets[name]
            self._images[name] = np.stack([self.reference.apply(to_grid(i, self.grid)) for i in case_set.images])
        return self._images[name]

    def labels(self, name: str) -> np.ndarray | None:
        """Labels of set ``name`` as ``(N, 1, *grid)`` int64, or ``None`` unless every case has one."""
        case_set = self.sets[name]
        if not case_set.labelled:
            return None
        if name not in self._labels:
            self._labels[name] = np.stack([to_grid(label, self.grid, is_label=True)  # type: ignore[arg-type]
                                           for label in case_set.labels])
        return self._labels[name]

    # -- features ---------------------------------------------------------------------------------
    @property
    def extractor(self):
        """The feature extractor (built on first use; mask features only when every set is labelled)."""
        if self._extractor is None:
            from medgan.metrics.features import build_extractor

            options = self.options
            if options.extractor == "inception":
                self._extractor = build_extractor("inception", weights=options.inception_weights,
                                                  sha256=options.inception_sha256)
            else:
                use_label = all(s.labelled for s in self.sets.values())
                self._extractor = build_extractor(options.extractor, use_label=use_label)
        return self._extractor

    def features(self, name: str) -> np.ndarray:
        """Raw features ``(N, D)`` of set ``name`` (cached)."""
        if name not in self._features:
            labels = self.labels(name)
            images = self.images(name)
            self._features[name] = self.extractor(list(images), None if labels is None else list(labels))
        return self._features[name]

    def standardised_features(self, *names: str) -> list[np.ndarray]:
        """Features of ``names`` z-scored with the mean and standard deviation of the real set."""
        from medgan.metrics.distribution import standardise

        return standardise(self.features("real"), *(self.features(n) for n in names))[1:]

    # -- per-position features --------------------------------------------------------------------
    @property
    def spatial_extractor(self):
        """The per-position feature extractor named by ``options.spatial_extractor`` (built on first use)."""
        if self._spatial_extractor is None:
            from medgan.metrics.spatial import build_spatial_extractor

            self._spatial_extractor = build_spatial_extractor(self.options.spatial_extractor)
        return self._spatial_extractor

    def spatial_features(self, name: str) -> list[np.ndarray]:
        """Per-position features of every case of set ``name``: one ``(P, D)`` matrix per case (cached)."""
        if name not in self._spatial:
            self._spatial[name] = [self.spatial_extractor(image) for image in self.images(name)]
        return self._spatial[name]
