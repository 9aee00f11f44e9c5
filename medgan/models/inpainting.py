"""Label-conditioned lesion inpainting networks (the approach of GliGAN, Ferreira et al. 2024), 2D or 3D.

The generator sees a region of a scan with a *hole* cut out (the lesion and a margin around it, set
to 0), the hole as a mask channel, and the lesion's label map as one-hot channels (one per label
value, background included); it produces every modality of the whole region, and only the hole is
kept (:func:`composite`), so the surroundings stay the real scan's and the labels are exactly the
map it was given. It is pix2pix's U-Net (:class:`~medgan.models.translation.UNetGenerator`) with
these inputs; the discriminator is pix2pix's PatchGAN
(:class:`~medgan.models.translation.PatchDiscriminator`) on ``[context, hole, labels, image]``.

Example:
    >>> g = InpaintingGenerator(spatial_dims=2, image_channels=2, label_channels=3, base_channels=8, depth=3)
    >>> context, hole = torch.zeros(1, 2, 32, 32), torch.zeros(1, 1, 32, 32)
    >>> labels = torch.zeros(1, 3, 32, 32)
    >>> g(context, hole, labels).shape
    torch.Size([1, 2, 32, 32])
"""

from __future__ import annotations

import torch
from torch import nn

from medgan.models.translation import Norm, PatchDiscriminator, UNetGenerator


def composite(output: torch.Tensor, context: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The generated image inside the hole, the real context outside it.

    Shapes: ``output``, ``context`` ``(N, C, *S)``; ``hole`` ``(N, 1, *S)`` in {0, 1}.
    """
    return hole * output + (1.0 - hole) * context


def masked_context(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """``image`` with the hole set to 0 (the middle of the [-1, 1] range)."""
    return image * (1.0 - hole)


class InpaintingGenerator(nn.Module):
    """U-Net from ``[masked context, hole, one-hot labels]`` to all image channels of the region.

    Args:
        spatial_dims: 2 or 3.
        image_channels: modalities (in and out).
        label_channels: one-hot channels of the label map (label values, 0 included).
        base_channels: U-Net filters of the outermost level.
        depth: U-Net downsamplings; region sizes must be multiples of ``2 ** depth``.
        norm: ``instance`` (default: the same in training and sampling, whatever the batch),
            ``batch`` (pix2pix) or ``none``.
        dropout: dropout in the inner 8x-wide up levels (pix2pix's noise; 0 here by default).

    Shapes:
        ``context`` ``(N, image_channels, *S)`` in [-1, 1] (hole already 0), ``hole`` ``(N, 1, *S)``,
        ``labels`` ``(N, label_channels, *S)``; output ``(N, image_channels, *S)`` in [-1, 1].
    """

    def __init__(self, spatial_dims: int, image_channels: int, label_channels: int, base_channels: int = 32,
                 depth: int = 4, norm: Norm = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        self.spatial_dims, self.image_channels, self.label_channels = spatial_dims, image_channels, label_channels
        inputs = image_channels + 1 + label_channels
        self.unet = UNetGenerator(spatial_dims, inputs, base_channels, base_channels, depth, norm, dropout)
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        # full-resolution head: the U-Net's last layer sees only half-resolution features, so a thin
        # enhancing rim would blur; per voxel, the head sees the label map and context again
        self.head = nn.Sequential(conv(base_channels + inputs, base_channels, 1), nn.LeakyReLU(0.2, True),
                                  conv(base_channels, image_channels, 1), nn.Tanh())
        self.divisor = self.unet.divisor

    def forward(self, context: torch.Tensor, hole: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if any(s % self.divisor for s in context.shape[2:]):
            raise ValueError(f"region {tuple(context.shape[2:])} is not a multiple of {self.divisor} on every axis")
        x = torch.cat([context, hole.to(context.dtype), labels.to(context.dtype)], 1)
        return self.head(torch.cat([self.unet(x), x], 1))


class InpaintingDiscriminator(nn.Module):
    """PatchGAN on ``[masked context, hole, one-hot labels, image]`` (the image real or composited).

    Args:
        spatial_dims: 2 or 3.
        image_channels, label_channels: as the generator's.
        base_channels, n_layers, norm: of the :class:`PatchDiscriminator`.
    """

    def __init__(self, spatial_dims: int, image_channels: int, label_channels: int, base_channels: int = 32,
                 n_layers: int = 3, norm: Norm = "instance") -> None:
        super().__init__()
        self.patch = PatchDiscriminator(spatial_dims, 2 * image_channels + 1 + label_channels, base_channels,
                                        n_layers, norm)

    def forward(self, context: torch.Tensor, hole: torch.Tensor, labels: torch.Tensor, image: torch.Tensor
                ) -> torch.Tensor:
        return self.patch(torch.cat([context, hole.to(image.dtype), labels.to(image.dtype), image], 1))
