"""The cases the two control arms add, so a reader can tell whether the grid could detect an effect.

- ``real-cases`` (positive control): real training cases held in reserve (the fold's training pool
  beyond the ``n`` training cases, in the seed's order; see
  :meth:`medgan.benchmark.split.CrossValidation.reserve`), as many as a GAN arm adds synthetic ones.
  If the grid cannot see *these* help at low data, it cannot see a GAN's effect either.
- ``wrong-labels`` (negative control): copies of the ``n`` training images, each paired with the label
  map of another training case whose labels differ. It must not come out better than ``none``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medgan.errors import ConfigError


def fit_shape(label: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Centre-crop or zero-pad a label map ``(1, ...)`` to the spatial ``shape`` (no interpolation)."""
    out = np.zeros((label.shape[0], *shape), label.dtype)
    src, dst = [slice(None)], [slice(None)]
    for have, want in zip(label.shape[1:], shape):
        if have >= want:
            start = (have - want) // 2
            src.append(slice(start, start + want))
            dst.append(slice(None))
        else:
            start = (want - have) // 2
            src.append(slice(None))
            dst.append(slice(start, start + have))
    out[tuple(dst)] = label[tuple(src)]
    return out


def wrong_label_cases(cases: Sequence[dict[str, Any]], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` cases: training images paired with another training case's (different) label map.

    Images are taken in turn (a new random order each round); each gets the label map of a randomly
    drawn other case whose label map differs from its own (cropped or padded to its grid).

    Args:
        cases: the real training cases of the cell.
        count: cases to make.
        seed: the draw of images and label donors.

    Raises:
        ConfigError: when no two training cases have different label maps.
    """
    if count <= 0:
        return []
    labels = [np.asarray(c["label"]) for c in cases]
    rng = np.random.default_rng([seed, 1])
    out: list[dict[str, Any]] = []
    order: list[int] = []
    while len(out) < count:
        if not order:
            order = [int(i) for i in rng.permutation(len(cases))]
        i = order.pop(0)
        donors = [k for k in range(len(cases)) if k != i and not _same(labels[k], labels[i])]
        if not donors:
            if not any(not _same(labels[a], labels[b]) for a in range(len(cases)) for b in range(a)):
                raise ConfigError("the wrong-labels control needs training cases with different label maps; "
                                  f"all {len(cases)} training cases have the same one")
            continue
        k = donors[int(rng.integers(len(donors)))]
        case, donor = cases[i], cases[k]
        meta = {**case.get("meta", {}), "wrong_label_from": donor["id"]}
        out.append({**case, "id": f"{case['id']}+labels-of-{donor['id']}", "meta": meta,
                    "label": fit_shape(labels[k], labels[i].shape[1:])})
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))
