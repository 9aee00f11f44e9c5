"""Networks of the image-to-image translation families (CycleGAN, pix2pix), 2D or 3D.

Faithful to the reference implementation of Zhu et al. 2017 / Isola et al. 2017
(``pytorch-CycleGAN-and-pix2pix``): the ResNet generator (``resnet_9blocks``), the U-Net generator
(``unet_256``, skip connections at every level) and the 70x70 PatchGAN discriminator (``basic``,
``n_layers=3``). Weights start from N(0, 0.02) as there.

Example:
    >>> g = ResnetGenerator(spatial_dims=2, in_channels=1, out_channels=1, base_channels=8, n_blocks=2)
    >>> g(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 1, 32, 32])
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Norm = Literal["instance", "batch", "none"]


def conv(spatial_dims: int) -> type[nn.Module]:
    """``nn.Conv2d`` or ``nn.Conv3d``."""
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


def conv_transpose(spatial_dims: int) -> type[nn.Module]:
    """``nn.ConvTranspose2d`` or ``nn.ConvTranspose3d``."""
    return nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d


def reflection_pad(spatial_dims: int, size: int) -> nn.Module:
    """Reflection padding of ``size`` on every side."""
    return nn.ReflectionPad2d(size) if spatial_dims == 2 else nn.ReflectionPad3d(size)


def norm_layer(spatial_dims: int, norm: Norm, channels: int) -> nn.Module:
    """Instance norm (no affine, no running statistics, as the reference), batch norm or nothing."""
    if norm == "instance":
        return (nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d)(channels)
    if norm == "batch":
        return (nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d)(channels)
    return nn.Identity()


def _check(spatial_dims: int, norm: str) -> None:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, found {spatial_dims}")
    if norm not in ("instance", "batch", "none"):
        raise ValueError(f"norm must be instance, batch or none, found {norm!r}")


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """The reference ``init_type='normal'``: conv weights N(0, gain), norm weights N(1, gain), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with normalisation and a residual connection."""

    def __init__(self, spatial_dims: int, channels: int, norm: Norm = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [reflection_pad(spatial_dims, 1),
                                   conv(spatial_dims)(channels, channels, 3, bias=bias),
                                   norm_layer(spatial_dims, norm, channels), nn.ReLU(True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [reflection_pad(spatial_dims, 1), conv(spatial_dims)(channels, channels, 3, bias=bias),
                   norm_layer(spatial_dims, norm, channels)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: 7x7 conv, two stride-2 downsamplings, ``n_blocks`` residual blocks,
    two transposed-conv upsamplings, 7x7 conv and tanh.

    Args:
        spatial_dims: 2 or 3.
        in_channels, out_channels: image channels in and out.
        base_channels: filters of the first layer (64 in the paper); doubled at each downsampling.
        n_blocks: residual blocks (9 in the paper for 256x256 images).
        norm: ``instance`` (paper), ``batch`` or ``none``.
        dropout: dropout inside the residual blocks (0 in the paper).

    Shapes:
        ``(N, in_channels, *S) -> (N, out_channels, *S)`` in [-1, 1]; every size in ``S`` must be a
        multiple of 4.
    """

    def __init__(self, spatial_dims: int, in_channels: int = 1, out_channels: int = 1, base_channels: int = 64,
                 n_blocks: int = 9, norm: Norm = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        _check(spatial_dims, norm)
        self.spatial_dims, self.divisor = spatial_dims, 4
        c, bias, d = base_channels, norm != "batch", spatial_dims
        layers: list[nn.Module] = [reflection_pad(d, 3), conv(d)(in_channels, c, 7, bias=bias),
                                   norm_layer(d, norm, c), nn.ReLU(True)]
        for i in range(2):
            k = 2 ** i
            layers += [conv(d)(c * k, c * k * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(d, norm, c * k * 2), nn.ReLU(True)]
        layers += [ResnetBlock(d, c * 4, norm, dropout) for _ in range(n_blocks)]
        for i in range(2):
            k = 2 ** (2 - i)
            layers += [conv_transpose(d)(c * k, c * k // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       norm_layer(d, norm, c * k // 2), nn.ReLU(True)]
        layers += [reflection_pad(d, 3), conv(d)(c, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class _UNetLevel(nn.Module):
    """One level of the U-Net: down, the inner levels, up, and the skip connection (not outermost)."""

    def __init__(self, spatial_dims: int, outer: int, inner: int, in_channels: int | None, submodule: nn.Module | None,
                 outermost: bool, innermost: bool, norm: Norm, dropout: float) -> None:
        super().__init__()
        d, bias = spatial_dims, norm != "batch"
        self.outermost = outermost
        in_channels = in_channels or outer
        down_conv = conv(d)(in_channels, inner, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = [nn.ReLU(True), conv_transpose(d)(inner * 2, outer, 4, stride=2, padding=1), nn.Tanh()]
            layers = [down_conv, submodule, *up]
        elif innermost:
            up = [nn.ReLU(True), conv_transpose(d)(inner, outer, 4, stride=2, padding=1, bias=bias),
                  norm_layer(d, norm, outer)]
            layers = [nn.LeakyReLU(0.2, True), down_conv, *up]
        else:
            up = [nn.ReLU(True), conv_transpose(d)(inner * 2, outer, 4, stride=2, padding=1, bias=bias),
                  norm_layer(d, norm, outer)]
            layers = [nn.LeakyReLU(0.2, True), down_conv, norm_layer(d, norm, inner), submodule, *up]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UNetGenerator(nn.Module):
    """pix2pix's generator: a U-Net of ``depth`` stride-2 levels with skip connections.

    Args:
        spatial_dims: 2 or 3.
        in_channels, out_channels: image channels in and out.
        base_channels: filters of the outermost level (64 in the paper); doubled per level up to 8x.
        depth: number of downsamplings (8 for 256x256 images in the paper: ``unet_256``).
        norm: ``batch`` (paper), ``instance`` or ``none``.
        dropout: dropout in the up path of the inner 8x-wide levels (0.5 in the paper).

    Shapes:
        ``(N, in_channels, *S) -> (N, out_channels, *S)`` in [-1, 1]; every size in ``S`` must be a
        multiple of ``2 ** depth``.
    """

    def __init__(self, spatial_dims: int, in_channels: int = 1, out_channels: int = 1, base_channels: int = 64,
                 depth: int = 8, norm: Norm = "batch", dropout: float = 0.5) -> None:
        super().__init__()
        _check(spatial_dims, norm)
        if depth < 2:
            raise ValueError(f"depth must be at least 2, found {depth}")
        self.spatial_dims, self.divisor = spatial_dims, 2 ** depth
        c, d = base_channels, spatial_dims
        widths = [c * min(2 ** i, 8) for i in range(depth)]  # inner width of level i
        block = _UNetLevel(d, widths[-2], widths[-1], None, None, False, True, norm, 0.0)
        for level in range(depth - 2, 0, -1):
            wide = widths[level - 1] == widths[level] == c * 8
            block = _UNetLevel(d, widths[level - 1], widths[level], None, block, False, False, norm,
                               dropout if wide else 0.0)
        self.model = _UNetLevel(d, out_channels, widths[0], in_channels, block, True, False, norm, 0.0)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: one realness score per overlapping patch (70x70 with ``n_layers=3``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels (pix2pix: input and output channels concatenated).
        base_channels: filters of the first layer (64 in the paper).
        n_layers: stride-2 layers after the first (3 gives the 70x70 receptive field).
        norm: ``instance`` (CycleGAN), ``batch`` (pix2pix) or ``none``.

    Shapes:
        ``(N, in_channels, *S) -> (N, 1, *S')`` raw scores (logits for BCE, targets 1/0 for LSGAN).
    """

    def __init__(self, spatial_dims: int, in_channels: int = 1, base_channels: int = 64, n_layers: int = 3,
                 norm: Norm = "instance") -> None:
        super().__init__()
        _check(spatial_dims, norm)
        d, c, bias = spatial_dims, base_channels, norm != "batch"
        layers: list[nn.Module] = [conv(d)(in_channels, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = c
        for n in range(1, n_layers + 1):
            previous, width = width, c * min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [conv(d)(previous, width, 4, stride=stride, padding=1, bias=bias),
                       norm_layer(d, norm, width), nn.LeakyReLU(0.2, True)]
        layers.append(conv(d)(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def receptive_field(n_layers: int = 3) -> int:
    """Receptive field (pixels) of a :class:`PatchDiscriminator` score: 70 for ``n_layers=3``."""
    field, jump = 1, 1
    kernels = [(4, 2)] + [(4, 2 if n < n_layers else 1) for n in range(1, n_layers + 1)] + [(4, 1)]
    for kernel, stride in kernels:
        field += (kernel - 1) * jump
        jump *= stride
    return field
