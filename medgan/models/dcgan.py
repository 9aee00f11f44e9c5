"""DCGAN generator and discriminator in 2D or 3D (Radford et al. 2016), optionally class-conditional.

The lesion family uses them to generate an image patch and its lesion mask together: the generator's
output has ``image_channels + 1`` channels in [-1, 1], the last one the mask. Class conditioning
multiplies the latent vector by a learnt class embedding (generator) and adds a projection term
(Miyato & Koyama 2018) to the discriminator's score.

Example:
    >>> g = DCGANGenerator(spatial_dims=2, out_channels=2, size=64, latent_dim=64)
    >>> g(torch.randn(3, 64)).shape
    torch.Size([3, 2, 64, 64])
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Norm = Literal["batch", "instance", "layer", "none"]


def _blocks(size: int) -> int:
    """Number of factor-2 resolution changes between 4 and ``size`` (a power of two >= 8)."""
    n = math.log2(size / 4) if size > 0 else -1
    if n < 1 or n != int(n):
        raise ValueError(f"patch size must be a power of two of at least 8, found {size}")
    return int(n)


def _conv(spatial_dims: int, transpose: bool = False) -> type[nn.Module]:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, found {spatial_dims}")
    if transpose:
        return nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


def _norm(kind: Norm, spatial_dims: int, channels: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d)(channels)
    if kind == "instance":
        return (nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {kind!r}")


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv and linear weights N(0, 0.02), norm scales N(1, 0.02), biases 0,
    class embeddings N(0, 0.02) (small, so conditioning starts as a mild perturbation)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.InstanceNorm2d, nn.InstanceNorm3d)):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """Latent vector (and class) -> image of ``size`` pixels per axis.

    Args:
        spatial_dims: 2 or 3.
        out_channels: output channels (image channels plus the mask channel for lesions).
        size: output edge length, a power of two >= 8 (64 for 2D patches, 32 for 3D).
        latent_dim: length of the noise vector.
        base_channels: channels of the last hidden layer; doubled at each coarser level, capped at
            ``8 * base_channels``.
        num_classes: 0 for an unconditional generator.

    Shapes:
        ``z``: (N, latent_dim); ``classes``: (N,) int64 in [0, num_classes); output
        (N, out_channels, size, size[, size]) in [-1, 1].
    """

    def __init__(self, spatial_dims: int, out_channels: int, size: int, latent_dim: int = 128,
                 base_channels: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        self.spatial_dims, self.latent_dim, self.num_classes = spatial_dims, latent_dim, num_classes
        n = _blocks(size)
        widths = [min(base_channels * 2 ** (n - 1 - i), base_channels * 8) for i in range(n)]
        self.start_channels = widths[0]
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes > 0 else None
        self.project = nn.Linear(latent_dim, widths[0] * 4 ** spatial_dims)
        self.start_norm = _norm("batch", spatial_dims, widths[0])
        conv_t, conv = _conv(spatial_dims, True), _conv(spatial_dims)
        layers: list[nn.Module] = []
        for i in range(n - 1):
            layers += [conv_t(widths[i], widths[i + 1], 4, 2, 1, bias=False),
                       _norm("batch", spatial_dims, widths[i + 1]), nn.ReLU(inplace=True)]
        layers += [conv_t(widths[-1], widths[-1], 4, 2, 1, bias=False),
                   _norm("batch", spatial_dims, widths[-1]), nn.ReLU(inplace=True),
                   conv(widths[-1], out_channels, 3, 1, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        dcgan_init(self)
        if self.embed is not None:  # multiplicative conditioning: start near the identity
            nn.init.normal_(self.embed.weight, 1.0, 0.02)

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if classes is None:
                raise ValueError("this generator is class-conditional: pass classes")
            z = z * self.embed(classes)
        x = self.project(z).view(z.shape[0], self.start_channels, *(4,) * self.spatial_dims)
        return self.body(torch.relu(self.start_norm(x)))


class DCGANDiscriminator(nn.Module):
    """Image (and class) -> one realness score per sample (a logit, or a critic value for WGAN).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        size: input edge length, a power of two >= 8.
        base_channels: channels of the first layer; doubled per level, capped at ``8 * base_channels``.
        num_classes: 0 for an unconditional discriminator; otherwise a projection term is added.
        norm: normalisation after each strided conv but the first; ``batch`` as in DCGAN, ``layer``
            or ``none`` for WGAN-GP (whose penalty is per sample).

    Shapes:
        ``x``: (N, in_channels, size, size[, size]); output (N,).
    """

    def __init__(self, spatial_dims: int, in_channels: int, size: int, base_channels: int = 64,
                 num_classes: int = 0, norm: Norm = "batch") -> None:
        super().__init__()
        n = _blocks(size)
        conv = _conv(spatial_dims)
        widths = [min(base_channels * 2 ** i, base_channels * 8) for i in range(n)]
        layers: list[nn.Module] = [conv(in_channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for i in range(1, n):
            layers += [conv(widths[i - 1], widths[i], 4, 2, 1, bias=norm == "none"),
                       _norm(norm, spatial_dims, widths[i]), nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*layers)
        features = widths[-1] * 4 ** spatial_dims
        self.score = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if num_classes > 0 else None
        dcgan_init(self)

    def forward(self, x: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        features = self.body(x).flatten(1)
        score = self.score(features).squeeze(1)
        if self.embed is not None:
            if classes is None:
                raise ValueError("this discriminator is class-conditional: pass classes")
            score = score + (self.embed(classes) * features).sum(1)
        return score
