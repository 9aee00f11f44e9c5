"""Exponential moving average of a network's weights (the generator that is sampled from)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``average = decay * average + (1 - decay) * weights`` for one network.

    Buffers (batch-norm statistics) are copied, not averaged. The average is a full copy of the
    network in eval mode that never gets gradients.

    Args:
        network: the network being trained.
        decay: weight of the old average, in [0, 1).

    Example:
        >>> ema = EMA(generator, 0.999)  # doctest: +SKIP
        >>> ema.update(generator)  # after each optimiser step  # doctest: +SKIP
        >>> images = ema.module(z)  # doctest: +SKIP
    """

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(network).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, network: nn.Module, decay: float | None = None) -> None:
        """Move the average towards ``network``'s current weights (``decay=0`` copies them)."""
        decay = self.decay if decay is None else decay
        for average, current in zip(self.module.parameters(), network.parameters()):
            average.lerp_(current.detach().to(average.dtype), 1.0 - decay)
        for average, current in zip(self.module.buffers(), network.buffers()):
            average.copy_(current)
