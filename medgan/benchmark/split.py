"""The held-out test split, fixed by seed before anything else, and the guard that keeps it out of
augmentation, GAN training and model selection."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from medgan.errors import ConfigError


@dataclass(frozen=True)
class Split:
    """Disjoint case ids for training, validation (model selection) and testing.

    Attributes:
        train, val, test: sorted case ids.
        seed: the seed that drew the split.
    """

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    seed: int

    def __post_init__(self) -> None:
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            common = set(getattr(self, a)) & set(getattr(self, b))
            if common:
                raise ConfigError(f"split is not disjoint: {sorted(common)[:3]} in both {a} and {b}")

    def training_subset(self, fraction: float, seed: int) -> tuple[str, ...]:
        """The first ``fraction`` of the training ids in an order drawn from ``seed``.

        Subsets are nested (10 % is inside 50 %, inside 100 %) and identical for every arm, so arms
        differ only by their augmentation.
        """
        if not 0 < fraction <= 1:
            raise ConfigError(f"data fraction must be in (0, 1], got {fraction}")
        order = np.random.default_rng(seed).permutation(len(self.train))
        n = max(1, int(round(fraction * len(self.train))))
        return tuple(sorted(self.train[i] for i in order[:n]))

    def to_dict(self) -> dict[str, object]:
        return {"seed": self.seed, "train": list(self.train), "val": list(self.val), "test": list(self.test)}


def make_split(
    case_ids: Sequence[str],
    test_fraction: float = 0.25,
    val_fraction: float = 0.1,
    seed: int = 0,
    strata: Mapping[str, object] | None = None,
) -> Split:
    """Draw a train/val/test split of ``case_ids`` from ``seed`` alone.

    Args:
        case_ids: every labelled case available.
        test_fraction: share of cases held out for testing (at least one case).
        val_fraction: share of cases used for model selection (at least one case when > 0).
        seed: the split depends on this and the sorted ids only, never on the arm or the run.
        strata: optional case id -> group (e.g. healthy / tumour); each group is split in the same
            proportions so the test set keeps the mix.

    Returns:
        A :class:`Split`.
    """
    ids = sorted(set(case_ids))
    if len(ids) != len(case_ids):
        raise ConfigError("case ids must be unique to split them")
    if len(ids) < 3:
        raise ConfigError(f"need at least 3 labelled cases to split into train/val/test, found {len(ids)}")
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = {}
    for case_id in ids:
        groups.setdefault(str(strata.get(case_id, "")) if strata else "", []).append(case_id)
    train: list[str] = []
    val: list[str] = []
    test: list[str] = []
    for _, members in sorted(groups.items()):
        order = [members[i] for i in rng.permutation(len(members))]
        n_test = max(1, int(round(test_fraction * len(order)))) if test_fraction > 0 else 0
        n_val = max(1, int(round(val_fraction * len(order)))) if val_fraction > 0 else 0
        if len(order) - n_test - n_val < 1:
            n_val = max(0, len(order) - n_test - 1)
        test += order[:n_test]
        val += order[n_test:n_test + n_val]
        train += order[n_test + n_val:]
    if not train or not test:
        raise ConfigError(f"split of {len(ids)} cases leaves no training or no test case")
    return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)), seed)


def content_key(case: Mapping[str, object]) -> str:
    """A hash of a case's voxels: catches a test case copied under another name."""
    digest = hashlib.sha256()
    for key in ("image", "label"):
        value = case.get(key)
        if value is not None:
            array = np.ascontiguousarray(np.asarray(value))
            digest.update(str(array.shape).encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def refuse_test_leak(stage: str, cases: Iterable[Mapping[str, object]], split: Split,
                     test_keys: set[str]) -> None:
    """Raise if any case about to reach ``stage`` is a test case, by id or by content.

    Args:
        stage: what the cases are for, e.g. ``"GAN training"``.
        cases: the cases the stage would see.
        split: the benchmark's split.
        test_keys: :func:`content_key` of every test case.
    """
    test_ids = set(split.test)
    for case in cases:
        case_id = str(case.get("id", ""))
        if case_id in test_ids:
            raise ConfigError(f"refusing to run: {stage} would see test case {case_id!r}; the test split "
                              "must never reach augmentation, GAN training or model selection")
        if content_key(case) in test_keys:
            raise ConfigError(f"refusing to run: {stage} would see case {case_id!r}, whose voxels are "
                              "identical to a test case")
