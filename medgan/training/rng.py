"""Random states of a training run: seeds derived from ``train.seed``, and every global random
state the run may touch (torch, CUDA, numpy, Python's ``random``) captured for checkpoints and
restored on resume, so a run's result depends neither on what ran before it in the same process nor
on being interrupted.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def stream_seed(seed: int, rank: int = 0, step: int = 0) -> int:
    """The seed of one process's random streams: distinct per rank (and per resume step when a run
    continues with another number of processes), in torch's range ``0 .. 2**64 - 1``.

    For a fixed rank and step the map from ``seed`` is one-to-one (1_000_003 is odd, so the
    multiplication modulo 2**64 is invertible): no two accepted seeds share a stream.
    """
    return (int(seed) * 1_000_003 + rank + 7919 * step) % 2**64


def seed_all(seed: int) -> None:
    """Seed the global generators of torch (CPU and every CUDA device), numpy and Python."""
    torch.manual_seed(seed)
    np.random.seed([seed & 0xFFFFFFFF, seed >> 32])
    random.seed(seed)


def get_state(device: torch.device) -> dict[str, Any]:
    """The global random states (torch, CUDA of ``device``, numpy, Python), as tensors and numbers."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, python, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "gauss": float(gauss)},
        "python": {"version": int(version), "state": torch.tensor(python, dtype=torch.int64), "gauss": gauss_next},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`get_state` returned (older checkpoints hold only ``torch``)."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "python" in state:
        p = state["python"]
        random.setstate((p["version"], tuple(int(x) for x in p["state"].tolist()), p["gauss"]))
