"""Patient-level k-fold cross-validation, fixed by seed before anything else, the nested training
subsets and reserve cases drawn from each fold's training pool, and the guard that keeps test cases
out of augmentation, GAN training and model selection."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from medgan.errors import ConfigError


@dataclass(frozen=True)
class Fold:
    """One fold of the cross-validation: disjoint case ids for the training pool, validation (model
    selection) and testing.

    Attributes:
        index: fold number, from 0.
        train: sorted ids of the training pool; every arm's training subset and the positive
            control's reserve cases are drawn from it.
        val: sorted ids of the validation cases (never augmented, never seen by a GAN).
        test: sorted ids of the test cases (only predicted).
    """

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            common = set(getattr(self, a)) & set(getattr(self, b))
            if common:
                raise ConfigError(f"fold {self.index} is not disjoint: {sorted(common)[:3]} in both {a} and {b}")

    def to_dict(self) -> dict[str, object]:
        return {"index": self.index, "train": list(self.train), "val": list(self.val), "test": list(self.test)}


@dataclass(frozen=True)
class CrossValidation:
    """Patient-level k-fold cross-validation, drawn once from ``seed`` before anything else.

    Every case is a test case in exactly one fold. Within a fold, the training pool is put in an order
    drawn from the grid seed (stratified by ``strata``); a training set of ``n`` cases is the first ``n``
    of that order (so smaller sets lie inside larger ones and every arm gets the same cases), and the
    positive control's reserve cases are the next ones.

    Attributes:
        folds: the folds, by index.
        seed: the seed that drew them.
        strata: ``(case id, group)`` pairs (e.g. healthy / lesion), kept in every split and subset.
    """

    folds: tuple[Fold, ...]
    seed: int
    strata: tuple[tuple[str, str], ...] = ()

    def fold(self, index: int) -> Fold:
        if not 0 <= index < len(self.folds):
            raise ConfigError(f"fold {index} does not exist (the split has folds 0..{len(self.folds) - 1})")
        return self.folds[index]

    @property
    def min_pool(self) -> int:
        """Size of the smallest fold's training pool."""
        return min(len(f.train) for f in self.folds)

    def training_order(self, fold: int, seed: int) -> tuple[str, ...]:
        """The fold's training pool in the order drawn from (grid ``seed``, ``fold``), strata interleaved."""
        pool = self.fold(fold).train
        groups = _groups(pool, dict(self.strata))
        return tuple(_interleave(groups, np.random.default_rng([seed, fold, 0])))

    def training_subset(self, fold: int, n: int, seed: int) -> tuple[str, ...]:
        """The first ``n`` cases of :meth:`training_order`, sorted."""
        order = self.training_order(fold, seed)
        if not 1 <= n <= len(order):
            raise ConfigError(f"fold {fold} has {len(order)} training cases; cannot train on {n}")
        return tuple(sorted(order[:n]))

    def reserve(self, fold: int, n: int, extra: int, seed: int) -> tuple[str, ...]:
        """The ``extra`` real cases after the first ``n`` (the positive control's added cases), sorted."""
        order = self.training_order(fold, seed)
        if n + extra > len(order):
            raise ConfigError(f"fold {fold}: the real-cases control needs {extra} cases beyond the {n} training "
                              f"cases, but the training pool holds only {len(order)}")
        return tuple(sorted(order[n:n + extra]))

    def to_dict(self) -> dict[str, object]:
        return {"seed": self.seed, "folds": [f.to_dict() for f in self.folds],
                "strata": {case: group for case, group in self.strata}}


def _groups(ids: Sequence[str], strata: Mapping[str, object]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for case_id in sorted(ids):
        groups.setdefault(str(strata.get(case_id, "")), []).append(case_id)
    return groups


def _interleave(groups: Mapping[str, list[str]], rng: np.random.Generator) -> list[str]:
    """Each group shuffled by ``rng``, then merged so that every prefix keeps the groups' proportions."""
    shuffled = {name: [members[i] for i in rng.permutation(len(members))] for name, members in sorted(groups.items())}
    total = sum(len(m) for m in shuffled.values())
    taken = dict.fromkeys(shuffled, 0)
    order = []
    for position in range(total):
        deficit = {n: (position + 1) * len(m) / total - taken[n] for n, m in shuffled.items() if taken[n] < len(m)}
        name = max(deficit, key=deficit.__getitem__)  # ties: the first group by name
        order.append(shuffled[name][taken[name]])
        taken[name] += 1
    return order


def make_folds(
    case_ids: Sequence[str],
    folds: int = 5,
    val_fraction: float = 0.15,
    seed: int = 0,
    strata: Mapping[str, object] | None = None,
) -> CrossValidation:
    """Draw a patient-level k-fold split of ``case_ids`` from ``seed`` alone.

    Args:
        case_ids: every labelled case (one id per patient).
        folds: number of folds k (each case is tested once); at least 2.
        val_fraction: share of each fold's non-test cases kept for model selection (at least one
            case when > 0), drawn from ``seed`` and the fold.
        seed: the split depends on this and the sorted ids only, never on the arm, size or run.
        strata: optional case id -> group (e.g. healthy / lesion); every fold's test, validation and
            training sets keep the groups' proportions.

    Returns:
        A :class:`CrossValidation`.
    """
    ids = sorted(set(case_ids))
    if len(ids) != len(case_ids):
        raise ConfigError("case ids must be unique to split them")
    if folds < 2:
        raise ConfigError(f"split.folds must be at least 2, got {folds}")
    if len(ids) < folds + 2:
        raise ConfigError(f"split.folds {folds}: need at least {folds + 2} labelled cases, found {len(ids)}")
    strata = dict(strata or {})
    rng = np.random.default_rng(seed)
    order = _interleave(_groups(ids, strata), rng)
    members = [sorted(order[i::folds]) for i in range(folds)]
    result = []
    for index, test in enumerate(members):
        rest = [c for c in ids if c not in set(test)]
        n_val = max(1, int(round(val_fraction * len(rest)))) if val_fraction > 0 else 0
        if len(rest) - n_val < 1:
            raise ConfigError(f"split.val_fraction {val_fraction} leaves no training case in fold {index}")
        ranked = _interleave(_groups(rest, strata), np.random.default_rng([seed, index, 1]))
        result.append(Fold(index, tuple(sorted(ranked[n_val:])), tuple(sorted(ranked[:n_val])), tuple(test)))
    return CrossValidation(tuple(result), seed, tuple((c, str(strata[c])) for c in ids if c in strata))


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


def refuse_test_leak(stage: str, cases: Iterable[Mapping[str, object]], fold: Fold,
                     test_keys: set[str]) -> None:
    """Raise if any case about to reach ``stage`` is a test case of ``fold``, by id or by content.

    Args:
        stage: what the cases are for, e.g. ``"GAN training"``.
        cases: the cases the stage would see.
        fold: the fold being run (anything with a ``test`` sequence of ids).
        test_keys: :func:`content_key` of every test case of the fold.
    """
    test_ids = set(fold.test)
    for case in cases:
        case_id = str(case.get("id", ""))
        if case_id in test_ids:
            raise ConfigError(f"refusing to run: {stage} would see test case {case_id!r}; the test split "
                              "must never reach augmentation, GAN training or model selection")
        if content_key(case) in test_keys:
            raise ConfigError(f"refusing to run: {stage} would see case {case_id!r}, whose voxels are "
                              "identical to a test case")
