"""ConSinGAN's networks (Hinz et al. 2021) in 2D and 3D: a generator pyramid whose stages are all
built up front and run up to the current one, and a fully convolutional critic.

Generator: ``head`` maps the coarsest noise to features; stage ``s`` upsamples the features of the
stage below to its scale, adds noise (``width`` channels) times the stage's amplitude, and adds a
residual of ``layers`` convolutions; ``tail`` maps the features to the generated channels (tanh).
Stage 0 is ``body[0](head(noise))``, its noise having the generated channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _conv(spatial_dims: int, cin: int, cout: int) -> nn.Module:
    return (nn.Conv2d if spatial_dims == 2 else nn.Conv3d)(cin, cout, 3, padding=1)


def _block(spatial_dims: int, cin: int, cout: int) -> nn.Sequential:
    """Convolution and LeakyReLU(0.05) (ConSinGAN's ``ConvBlock`` without batch norm)."""
    return nn.Sequential(_conv(spatial_dims, cin, cout), nn.LeakyReLU(0.05))


class StagedGenerator(nn.Module):
    """The generator pyramid.

    Args:
        spatial_dims: 2 or 3.
        channels: generated channels (image channels plus one-hot label channels).
        width: filters of every convolution.
        layers: convolutions per stage.
        stages: number of stages (all built now; ``forward`` runs the first ``stage + 1``).
    """

    def __init__(self, spatial_dims: int, channels: int, width: int, layers: int, stages: int) -> None:
        super().__init__()
        self.spatial_dims, self.channels, self.width = spatial_dims, channels, width
        self.head = _block(spatial_dims, channels, width)
        self.body = nn.ModuleList([nn.Sequential(*[_block(spatial_dims, width, width) for _ in range(layers)])
                                   for _ in range(stages)])
        self.tail = nn.Sequential(_conv(spatial_dims, width, channels), nn.Tanh())

    def forward(self, noise: Sequence[torch.Tensor], amplitudes: Sequence[float], scales: Sequence[Sequence[int]],
                stage: int) -> torch.Tensor:
        """Generate at ``scales[stage]``.

        Args:
            noise: ``noise[0]`` ``(N, channels, *scales[0])``, ``noise[s]`` ``(N, width, *scales[s])``.
            amplitudes: noise amplitude per stage.
            scales: spatial shape per stage.
            stage: the last stage to run.

        Returns:
            ``(N, channels, *scales[stage])`` in [-1, 1].
        """
        mode = "bilinear" if self.spatial_dims == 2 else "trilinear"
        x = self.body[0](self.head(noise[0] * amplitudes[0]))
        for s in range(1, stage + 1):
            up = F.interpolate(x, size=tuple(scales[s]), mode=mode, align_corners=True)
            x = up + self.body[s](up + noise[s] * amplitudes[s])
        return self.tail(x)


class Critic(nn.Module):
    """Fully convolutional patch critic: ``layers`` blocks, then one convolution to a score map."""

    def __init__(self, spatial_dims: int, channels: int, width: int, layers: int) -> None:
        super().__init__()
        blocks = [_block(spatial_dims, channels, width)] + [_block(spatial_dims, width, width)
                                                             for _ in range(max(0, layers - 2))]
        self.body = nn.Sequential(*blocks)
        self.tail = _conv(spatial_dims, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(x))


def count_parameters(module: nn.Module, stages: int | None = None) -> int:
    """Parameters of ``module``; for a :class:`StagedGenerator`, of its first ``stages`` stages only."""
    if stages is None or not isinstance(module, StagedGenerator):
        return sum(p.numel() for p in module.parameters())
    parts = [module.head, module.tail, *module.body[:stages]]
    return sum(p.numel() for part in parts for p in part.parameters())
