"""Progressive growing GAN networks (Karras et al. 2018, "Progressive Growing of GANs"; in 3D as in
Eklund 2019, "Feeding the zombies"), for 2D and 3D, with a base shape that need not be a cube.

Both networks hold every resolution level from the start; ``forward(x, level, alpha)`` runs the
levels up to ``level`` and fades the newest one in with weight ``alpha`` (the growth state lives in
the training step, not in the networks, so an EMA copy of the generator is driven the same way).
Level ``k`` has spatial shape ``base_shape * 2**k``.

Faithful parts: equalised learning rate (weights drawn from N(0, 1) and scaled at run time by
He's constant), pixel-wise feature normalisation after every generator convolution, nearest
upsampling and average-pool downsampling, 1x1 ``toRGB``/``fromRGB`` layers, the minibatch
standard-deviation feature before the discriminator's last block, linear image outputs, leaky ReLU
0.2. Extension: optional label channels produced as class probabilities (softmax).

Example:
    >>> g = PGGenerator(3, (4, 4, 4), levels=2, image_channels=1, label_classes=4, latent_dim=16, fmap_base=64)
    >>> g(torch.randn(2, 16), level=1, alpha=0.5).shape
    torch.Size([2, 5, 8, 8, 8])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

LRELU_SLOPE = 0.2


def level_shape(base_shape: Sequence[int], level: int) -> tuple[int, ...]:
    """Spatial shape of resolution level ``level``: ``base_shape * 2**level``."""
    return tuple(int(s) * 2**level for s in base_shape)


def level_channels(level: int, fmap_base: int, fmap_max: int, fmap_min: int = 1) -> int:
    """Feature maps at ``level`` (Karras: ``min(fmap_base / 2**(level + 1), fmap_max)``; level 0 is the base)."""
    return int(max(fmap_min, min(fmap_base // 2 ** (level + 1), fmap_max)))


class EqualizedConv(nn.Module):
    """Convolution with equalised learning rate: ``w ~ N(0, 1)`` scaled by ``gain / sqrt(fan_in)`` at run time.

    Args:
        spatial_dims: 2 or 3.
        in_channels, out_channels: feature maps.
        kernel_size: odd kernel edge; padding keeps the shape.
        gain: He's gain (``sqrt(2)`` before leaky ReLU, 1 for linear outputs).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int = 3,
                 gain: float = math.sqrt(2.0)) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, found {spatial_dims}")
        shape = (out_channels, in_channels) + (kernel_size,) * spatial_dims
        self.weight = nn.Parameter(torch.randn(shape))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size**spatial_dims)
        self.padding = kernel_size // 2
        self._conv = F.conv2d if spatial_dims == 2 else F.conv3d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in, *S)`` -> ``(N, out, *S)``."""
        return self._conv(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """Fully connected layer with equalised learning rate (see :class:`EqualizedConv`)."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in)`` -> ``(N, out)``."""
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each pixel's feature vector to unit mean square (channel axis 1)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append the minibatch standard-deviation feature map (Karras et al. 2018, section 3).

    The batch is split into groups of ``group_size`` (the largest divisor of ``N`` not above it);
    the standard deviation of every feature over each group, averaged over features and positions,
    becomes one constant extra channel for the group's samples.

    Args:
        x: ``(N, C, *S)``.
        group_size: samples per group.

    Returns:
        ``(N, C + 1, *S)``.
    """
    n = x.shape[0]
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.float().reshape(g, n // g, *x.shape[1:])              # sample i is in group i % (n // g)
    y = (y - y.mean(dim=0, keepdim=True)).pow(2).mean(dim=0)    # (n // g, C, *S) variance over the group
    y = (y + 1e-8).sqrt().flatten(1).mean(dim=1)                # (n // g,)
    y = y.to(x.dtype).repeat(g).reshape(n, 1, *([1] * (x.dim() - 2))).expand(n, 1, *x.shape[2:])
    return torch.cat([x, y], dim=1)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LRELU_SLOPE)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def _downsample(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2) if x.dim() == 4 else F.avg_pool3d(x, 2)


class _GeneratorBlock(nn.Module):
    """Upsample x2, then two 3x3 convolutions, each followed by leaky ReLU and pixel norm."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv(spatial_dims, in_channels, out_channels)
        self.conv2 = EqualizedConv(spatial_dims, out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(_lrelu(self.conv1(_upsample(x))))
        return pixel_norm(_lrelu(self.conv2(x)))


class _DiscriminatorBlock(nn.Module):
    """Two 3x3 convolutions with leaky ReLU, then average-pool x2."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = EqualizedConv(spatial_dims, in_channels, in_channels)
        self.conv2 = EqualizedConv(spatial_dims, in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _downsample(_lrelu(self.conv2(_lrelu(self.conv1(x)))))


def _run(block: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, use_checkpoint: bool) -> torch.Tensor:
    """``block(x)``, recomputed in the backward pass instead of stored when ``use_checkpoint``."""
    if use_checkpoint and torch.is_grad_enabled():
        return checkpoint(block, x, use_reentrant=False)
    return block(x)


class PGGenerator(nn.Module):
    """Progressive generator: latent ``(N, latent_dim)`` -> ``(N, image_channels + label_classes, *shape)``.

    Image channels are linear (targets live in about [-1, 1]); the ``label_classes`` channels are
    softmax class probabilities.

    Args:
        spatial_dims: 2 or 3.
        base_shape: spatial shape of level 0 (e.g. ``(4, 4, 4)`` or ``(5, 6, 5)``).
        levels: index of the last level (the final shape is ``base_shape * 2**levels``).
        image_channels: number of image channels (may be 0 when only a label map is generated).
        label_classes: number of label classes (0: no label output).
        latent_dim: noise length (Karras: 512).
        fmap_base, fmap_max, fmap_min: feature maps per level (:func:`level_channels`).
        use_checkpoint: gradient checkpointing of every block (less memory, about a third more time).
    """

    def __init__(self, spatial_dims: int, base_shape: Sequence[int], levels: int, image_channels: int,
                 label_classes: int = 0, latent_dim: int = 512, fmap_base: int = 8192, fmap_max: int = 512,
                 fmap_min: int = 1, use_checkpoint: bool = False) -> None:
        super().__init__()
        if len(base_shape) != spatial_dims:
            raise ValueError(f"base_shape {tuple(base_shape)} does not have {spatial_dims} dimensions")
        if image_channels + label_classes < 1:
            raise ValueError("the generator needs at least one image or label channel")
        if label_classes == 1:
            raise ValueError("a label output needs at least two classes (background and one more)")
        self.spatial_dims, self.base_shape, self.levels = spatial_dims, tuple(int(s) for s in base_shape), levels
        self.image_channels, self.label_classes, self.latent_dim = image_channels, label_classes, latent_dim
        self.use_checkpoint = use_checkpoint
        channels = [level_channels(k, fmap_base, fmap_max, fmap_min) for k in range(levels + 1)]
        voxels = math.prod(self.base_shape)
        # Karras: a dense layer to the 4x4 base with gain sqrt(2)/4, i.e. sqrt(2)/sqrt(voxels)
        self.dense = EqualizedLinear(latent_dim, channels[0] * voxels, gain=math.sqrt(2.0) / math.sqrt(voxels))
        self.base_conv = EqualizedConv(spatial_dims, channels[0], channels[0])
        self.blocks = nn.ModuleList([_GeneratorBlock(spatial_dims, channels[k - 1], channels[k])
                                     for k in range(1, levels + 1)])
        out = image_channels + label_classes
        self.to_output = nn.ModuleList([EqualizedConv(spatial_dims, c, out, kernel_size=1, gain=1.0) for c in channels])
        self.channels = channels

    def _base(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense(pixel_norm(z)).reshape(z.shape[0], self.channels[0], *self.base_shape)
        x = pixel_norm(_lrelu(x))
        return pixel_norm(_lrelu(self.base_conv(x)))

    def _output(self, x: torch.Tensor, level: int) -> torch.Tensor:
        out = self.to_output[level](x)
        if not self.label_classes:
            return out
        image, logits = out[:, :self.image_channels], out[:, self.image_channels:]
        return torch.cat([image, torch.softmax(logits.float(), dim=1).to(out.dtype)], dim=1)

    def forward(self, z: torch.Tensor, level: int, alpha: float = 1.0) -> torch.Tensor:
        """Images of level ``level``; with ``alpha < 1`` the newest block is faded in.

        Args:
            z: ``(N, latent_dim)`` noise.
            level: 0 .. ``levels``.
            alpha: weight of the newest level; the rest comes from level ``level - 1`` upsampled
                (nearest). ``alpha`` is ignored at level 0.

        Returns:
            ``(N, image_channels + label_classes, *level_shape(base_shape, level))``.
        """
        if not 0 <= level <= self.levels:
            raise ValueError(f"level must lie in 0..{self.levels}, found {level}")
        x = self._base(z)
        previous = x
        for k in range(1, level + 1):
            previous = x
            x = _run(self.blocks[k - 1], x, self.use_checkpoint)
        new = self._output(x, level)
        if level == 0 or alpha >= 1.0:
            return new
        old = _upsample(self._output(previous, level - 1))
        return torch.lerp(old, new, float(alpha))


class PGDiscriminator(nn.Module):
    """Progressive critic: ``(N, in_channels, *level_shape)`` -> ``(N, 1)`` scores (no sigmoid: WGAN).

    Args:
        spatial_dims: 2 or 3.
        base_shape, levels: as for :class:`PGGenerator`.
        in_channels: image channels plus label classes (labels arrive as class probabilities).
        fmap_base, fmap_max, fmap_min: feature maps per level.
        mbstd_group: group size of the minibatch standard deviation (0 disables it).
        use_checkpoint: gradient checkpointing of every block.
    """

    def __init__(self, spatial_dims: int, base_shape: Sequence[int], levels: int, in_channels: int,
                 fmap_base: int = 8192, fmap_max: int = 512, fmap_min: int = 1, mbstd_group: int = 4,
                 use_checkpoint: bool = False) -> None:
        super().__init__()
        if len(base_shape) != spatial_dims:
            raise ValueError(f"base_shape {tuple(base_shape)} does not have {spatial_dims} dimensions")
        self.spatial_dims, self.base_shape, self.levels = spatial_dims, tuple(int(s) for s in base_shape), levels
        self.mbstd_group, self.use_checkpoint = mbstd_group, use_checkpoint
        channels = [level_channels(k, fmap_base, fmap_max, fmap_min) for k in range(levels + 1)]
        self.from_input = nn.ModuleList([EqualizedConv(spatial_dims, in_channels, c, kernel_size=1) for c in channels])
        self.blocks = nn.ModuleList([_DiscriminatorBlock(spatial_dims, channels[k], channels[k - 1])
                                     for k in range(1, levels + 1)])
        extra = 1 if mbstd_group > 0 else 0
        self.final_conv = EqualizedConv(spatial_dims, channels[0] + extra, channels[0])
        self.final_dense = EqualizedLinear(channels[0] * math.prod(self.base_shape), channels[0])
        self.score = EqualizedLinear(channels[0], 1, gain=1.0)
        self.channels = channels

    def forward(self, x: torch.Tensor, level: int, alpha: float = 1.0) -> torch.Tensor:
        """Scores of level-``level`` inputs; with ``alpha < 1`` the newest block is faded in.

        Args:
            x: ``(N, in_channels, *level_shape(base_shape, level))``.
            level: 0 .. ``levels``.
            alpha: weight of the newest block; the rest reads the input average-pooled into the
                previous level's ``fromRGB``.

        Returns:
            ``(N, 1)``.
        """
        if not 0 <= level <= self.levels:
            raise ValueError(f"level must lie in 0..{self.levels}, found {level}")
        expected = tuple(s * 2**level for s in self.base_shape)
        if tuple(x.shape[2:]) != expected:
            raise ValueError(f"level {level} expects spatial shape {expected}, found {tuple(x.shape[2:])}")
        h = _lrelu(self.from_input[level](x))
        if level > 0:
            h = _run(self.blocks[level - 1], h, self.use_checkpoint)
            if alpha < 1.0:
                old = _lrelu(self.from_input[level - 1](_downsample(x)))
                h = torch.lerp(old, h, float(alpha))
        for k in range(level - 1, 0, -1):
            h = _run(self.blocks[k - 1], h, self.use_checkpoint)
        if self.mbstd_group > 0:
            h = minibatch_stddev(h, self.mbstd_group)
        h = _lrelu(self.final_conv(h))
        h = _lrelu(self.final_dense(h.flatten(1)))
        return self.score(h)
