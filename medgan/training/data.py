"""A resumable source of sample indices: shuffled epochs, sharded across DDP processes.

The order depends only on ``(seed, epoch)``; the position is two integers, so a checkpoint stores it
exactly and a resumed run sees the same samples in the same order as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class IndexSampler:
    """Yields batches of indices into a dataset of ``n`` samples, epoch after epoch.

    Every process draws the same global permutation and takes its own slice of each global batch,
    so ``world_size`` processes together see the same samples as one process with the global batch.

    Args:
        n: number of samples (at least 1).
        seed: seeds the permutation of every epoch.
        rank, world_size: this process's place under DDP.

    Example:
        >>> sampler = IndexSampler(10, seed=0)
        >>> len(sampler.next(4))
        4
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if n < 1:
            raise ValueError("cannot sample from an empty dataset")
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.epoch, self.position = 0, 0

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def next(self, global_batch: int) -> np.ndarray:
        """This process's indices of the next global batch of ``global_batch`` samples.

        Returns:
            ``global_batch // world_size`` indices (``global_batch`` must divide evenly).
        """
        if global_batch % self.world_size:
            raise ValueError(f"batch size {global_batch} does not divide among {self.world_size} processes")
        picked: list[int] = []
        while len(picked) < global_batch:
            order = self._order(self.epoch)
            take = min(global_batch - len(picked), self.n - self.position)
            picked.extend(order[self.position:self.position + take].tolist())
            self.position += take
            if self.position == self.n:
                self.epoch, self.position = self.epoch + 1, 0
        return np.asarray(picked[self.rank::self.world_size], dtype=np.int64)

    def state_dict(self) -> dict[str, Any]:
        """The position: epoch and offset into it."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a position saved by :meth:`state_dict`."""
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
