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

_POOL = {2: nn.functional.max_pool2d, 3: nn.functional.max_pool3d}
_AVG = {2: nn.functional.avg_pool2d, 3: nn.functional.avg_pool3d}


def ring_level(context: torch.Tensor, hole: torch.Tensor, radius: list[int] | tuple[int, ...],
               spread: bool = False) -> torch.Tensor:
    """Mean (``spread``: standard deviation) of ``context`` per sample and channel over the ring of
    ``radius`` voxels (per axis, a box) around the hole: ``(N, C)``; 0 where a sample has no ring."""
    dims = hole.ndim - 2
    kernel = tuple(2 * int(r) + 1 for r in radius)
    ring = _POOL[dims](hole.float(), kernel, stride=1, padding=tuple(int(r) for r in radius)) - hole.float()
    axes = tuple(range(2, hole.ndim))
    count = ring.sum(axes).clamp(min=1.0)
    mean = (context * ring).sum(axes) / count
    if not spread:
        return mean
    deviation = context - mean.reshape(mean.shape + (1,) * dims)
    return ((deviation ** 2 * ring).sum(axes) / count).sqrt()


def smooth_labels(labels: torch.Tensor, width: int) -> torch.Tensor:
    """One-hot labels averaged over a box ``width`` voxels wide (odd; 1: unchanged)."""
    if width <= 1:
        return labels.float()
    dims = labels.ndim - 2
    return _AVG[dims](labels.float(), width, stride=1, padding=width // 2, count_include_pad=False)


def texture(noise: torch.Tensor) -> torch.Tensor:
    """White noise ``(N, C, *S)`` averaged over a 3-voxel box and rescaled to unit variance: the
    neighbour correlation (about 0.6-0.7) of the sample data's tissue texture."""
    dims = noise.ndim - 2
    return _AVG[dims](noise.float(), 3, stride=1, padding=1) * float(3 ** dims) ** 0.5


def contrast_prior(context: torch.Tensor, hole: torch.Tensor, labels: torch.Tensor, offsets: torch.Tensor,
                   radius: list[int] | tuple[int, ...], smooth: int = 1, spread: torch.Tensor | None = None,
                   noise: torch.Tensor | None = None, z_units: bool = False) -> torch.Tensor:
    """Local tissue level plus each label's mean contrast (plus texture): ``(N, C, *S)``.

    Args:
        context: ``(N, C, *S)`` masked context; hole ``(N, 1, *S)``; labels ``(N, L, *S)`` one-hot.
        offsets: ``(L, C)`` mean (label - ring) difference of the training lesions.
        radius: ring width in voxels per axis.
        smooth: box width (voxels) the one-hot labels are averaged over first (1: none).
        spread, noise: ``(L, C)`` standard deviation inside each label and ``(N, C, *S)`` white
            noise: :func:`texture` scaled by the label's spread is added (either ``None``: no texture).
        z_units: ``offsets`` and ``spread`` are in units of the ring's standard deviation.
    """
    level = ring_level(context, hole, radius)
    shape = level.shape + (1,) * (context.ndim - 2)
    unit = ring_level(context, hole, radius, spread=True).reshape(shape) if z_units else 1.0
    soft = smooth_labels(labels, smooth)
    prior = level.reshape(shape) + unit * torch.einsum("nl...,lc->nc...", soft, offsets.to(level.dtype))
    if spread is not None and noise is not None:
        prior = prior + unit * torch.einsum("nl...,lc->nc...", soft, spread.to(level.dtype)) * texture(noise)
    return prior


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
        prior: ``(label_channels, image_channels)`` per-label contrast offsets: the output is
            :func:`contrast_prior` plus the network's residual (whose last layer starts at 0, so an
            untrained generator fills the hole with the prior); ``None``: the network's output alone.
        ring: width in voxels per axis of the ring around the hole that sets the prior's level.
        smooth: box width (voxels) over which the label map is averaged in the prior (1: none).
        spread: ``(label_channels, image_channels)`` texture standard deviation per label (with the
            ``noise`` given to :meth:`forward`); ``None``: no texture.
        high: outputs are clamped to ``[-1, high]`` (the scaled intensities' range).
        z_units: ``prior`` and ``spread`` are in units of the ring's standard deviation.

    Shapes:
        ``context`` ``(N, image_channels, *S)`` scaled (hole already 0), ``hole`` ``(N, 1, *S)``,
        ``labels`` ``(N, label_channels, *S)``; output ``(N, image_channels, *S)`` in ``[-1, high]``.
    """

    def __init__(self, spatial_dims: int, image_channels: int, label_channels: int, base_channels: int = 32,
                 depth: int = 4, norm: Norm = "instance", dropout: float = 0.0,
                 prior: list[list[float]] | None = None, ring: list[int] | None = None, smooth: int = 1,
                 spread: list[list[float]] | None = None, high: float = 1.0, z_units: bool = False) -> None:
        super().__init__()
        self.spatial_dims, self.image_channels, self.label_channels = spatial_dims, image_channels, label_channels
        inputs = image_channels + 1 + label_channels
        self.unet = UNetGenerator(spatial_dims, inputs, base_channels, base_channels, depth, norm, dropout)
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        # full-resolution head: the U-Net's last layer sees only half-resolution features, so a thin
        # enhancing rim would blur; per voxel, the head sees the label map and context again
        self.head = nn.Sequential(conv(base_channels + inputs, base_channels, 1), nn.LeakyReLU(0.2, True),
                                  conv(base_channels, image_channels, 1))
        self.high = float(high)
        self.ring = [int(r) for r in (ring or [1] * spatial_dims)]
        self.smooth = int(smooth)
        self.z_units = bool(z_units)
        self.use_prior = prior is not None
        self.use_texture = prior is not None and spread is not None
        if prior is not None:
            offsets = torch.as_tensor(prior, dtype=torch.float32)
            if tuple(offsets.shape) != (label_channels, image_channels):
                raise ValueError(f"prior must be ({label_channels}, {image_channels}); got {tuple(offsets.shape)}")
            self.register_buffer("prior", offsets)
            self.register_buffer("spread", torch.as_tensor(spread if spread is not None else torch.zeros_like(offsets),
                                                           dtype=torch.float32).reshape(offsets.shape))
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)
        self.divisor = self.unet.divisor

    def forward(self, context: torch.Tensor, hole: torch.Tensor, labels: torch.Tensor,
                noise: torch.Tensor | None = None) -> torch.Tensor:
        """The filled region; ``noise`` ``(N, image_channels, *S)`` white noise for the prior's texture."""
        if any(s % self.divisor for s in context.shape[2:]):
            raise ValueError(f"region {tuple(context.shape[2:])} is not a multiple of {self.divisor} on every axis")
        x = torch.cat([context, hole.to(context.dtype), labels.to(context.dtype)], 1)
        out = self.head(torch.cat([self.unet(x), x], 1))
        if self.use_prior:
            out = out + contrast_prior(context, hole, labels, self.prior, self.ring, self.smooth, self.spread, noise,
                                       self.z_units)
        else:
            out = torch.tanh(out)
        return out.clamp(-1.0, self.high)


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
