"""SPADE (Park et al. 2019, "Semantic Image Synthesis with Spatially-Adaptive Normalization") in 2D
or 3D: a label map in, a multi-channel image out.

The generator is a stack of SPADE residual blocks: every normalisation is parameter-free (batch norm
by default, as in the paper) and then modulated per voxel by ``gamma`` and ``beta`` that a small
shared convolutional MLP computes from the label map, resized to the layer's resolution. Spectral
norm wraps the block convolutions. The generator starts either from a noise vector ``z`` (so one
label map gives many images; an optional encoder turns it into the paper's VAE mode) or, with
``z_dim=0``, from the down-sampled label map (the authors' deterministic setting). The discriminator
is the multi-scale PatchGAN of pix2pixHD/SPADE: ``n_scales`` PatchGANs, each seeing the label map
concatenated with the image, at full and average-pooled resolution, returning every intermediate
feature map for the feature-matching loss.

Example:
    >>> g = SPADEGenerator(spatial_dims=2, label_channels=4, out_channels=5, spatial_shape=(64, 64),
    ...                    base_channels=8, n_upsamples=3, z_dim=16)
    >>> labels = torch.zeros(2, 4, 64, 64); labels[:, 0] = 1
    >>> g(labels, torch.randn(2, 16)).shape
    torch.Size([2, 5, 64, 64])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

ParamFreeNorm = Literal["batch", "instance"]


def _conv(spatial_dims: int) -> type[nn.Module]:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, found {spatial_dims}")
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


def _maybe_sn(module: nn.Module, spectral: bool) -> nn.Module:
    return spectral_norm(module) if spectral else module


def param_free_norm(kind: ParamFreeNorm, spatial_dims: int, channels: int) -> nn.Module:
    """Normalisation without learnt scale or shift (SPADE supplies them)."""
    if kind == "batch":
        return (nn.BatchNorm2d if spatial_dims == 2 else nn.BatchNorm3d)(channels, affine=False)
    if kind == "instance":
        return (nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d)(channels, affine=False)
    raise ValueError(f"unknown parameter-free normalisation {kind!r} (batch or instance)")


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: ``norm(x) * (1 + gamma(m)) + beta(m)``.

    ``m`` is the label map resized (nearest) to ``x``'s grid; ``gamma`` and ``beta`` come from one
    shared convolution + ReLU followed by one convolution each (the paper's two-layer MLP).

    Args:
        spatial_dims: 2 or 3.
        channels: channels of the normalised activation ``x``.
        label_channels: channels of the (one-hot) label map.
        hidden_channels: width of the shared layer (128 in the paper).
        kernel_size: kernel of the MLP convolutions (3 in the paper).
        norm: parameter-free normalisation, ``batch`` (paper) or ``instance``.

    Shapes:
        ``x``: (N, channels, *S); ``labels``: (N, label_channels, *S') with any S'; output like ``x``.
    """

    def __init__(self, spatial_dims: int, channels: int, label_channels: int, hidden_channels: int = 128,
                 kernel_size: int = 3, norm: ParamFreeNorm = "batch") -> None:
        super().__init__()
        conv = _conv(spatial_dims)
        pad = kernel_size // 2
        self.norm = param_free_norm(norm, spatial_dims, channels)
        self.shared = nn.Sequential(conv(label_channels, hidden_channels, kernel_size, padding=pad), nn.ReLU())
        self.gamma = conv(hidden_channels, channels, kernel_size, padding=pad)
        self.beta = conv(hidden_channels, channels, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        normalised = self.norm(x)
        labels = F.interpolate(labels.to(x.dtype), size=x.shape[2:], mode="nearest")
        hidden = self.shared(labels)
        return normalised * (1 + self.gamma(hidden)) + self.beta(hidden)


class SPADEResBlock(nn.Module):
    """SPADE residual block: two (SPADE, LeakyReLU 0.2, 3-conv) units and a learnt shortcut
    (SPADE, 1-conv without bias) when the channel count changes; spectral norm on the convolutions.

    Args:
        spatial_dims: 2 or 3.
        in_channels, out_channels: block input and output widths; the middle width is the smaller.
        label_channels: channels of the label map.
        hidden_channels, norm: passed to every :class:`SPADE`.
        spectral: wrap the convolutions in spectral norm (paper default).

    Shapes:
        ``x``: (N, in_channels, *S); ``labels``: (N, label_channels, *S'); output (N, out_channels, *S).
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, label_channels: int,
                 hidden_channels: int = 128, norm: ParamFreeNorm = "batch", spectral: bool = True) -> None:
        super().__init__()
        conv = _conv(spatial_dims)
        middle = min(in_channels, out_channels)
        self.learned_shortcut = in_channels != out_channels
        self.conv_0 = _maybe_sn(conv(in_channels, middle, 3, padding=1), spectral)
        self.conv_1 = _maybe_sn(conv(middle, out_channels, 3, padding=1), spectral)
        self.norm_0 = SPADE(spatial_dims, in_channels, label_channels, hidden_channels, norm=norm)
        self.norm_1 = SPADE(spatial_dims, middle, label_channels, hidden_channels, norm=norm)
        if self.learned_shortcut:
            self.conv_s = _maybe_sn(conv(in_channels, out_channels, 1, bias=False), spectral)
            self.norm_s = SPADE(spatial_dims, in_channels, label_channels, hidden_channels, norm=norm)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, labels)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, labels), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, labels), 0.2))
        return shortcut + dx


def bottom_shape(spatial_shape: Sequence[int], n_upsamples: int) -> tuple[int, ...]:
    """Grid of the generator's first block: ``spatial_shape / 2**n_upsamples`` (must divide)."""
    factor = 2 ** n_upsamples
    if any(s % factor or s < factor for s in spatial_shape):
        raise ValueError(f"spatial shape {tuple(spatial_shape)} is not a multiple of 2**{n_upsamples} = {factor} "
                         "on every axis (pad the label maps)")
    return tuple(s // factor for s in spatial_shape)


class SPADEGenerator(nn.Module):
    """Label map (one-hot) and noise -> image with ``out_channels`` channels in [-1, 1].

    Layout of the paper's generator ("normal", 5 up-samplings): a linear layer maps ``z`` to a
    ``16 * base_channels`` grid of ``spatial_shape / 2**n_upsamples``; then SPADE blocks ``head``,
    up-sample, ``middle_0``, ``middle_1``, and ``n_upsamples - 1`` times (up-sample, block) halving
    the width down to ``base_channels``; then LeakyReLU, a 3-conv to the image channels and tanh.
    Widths are capped at ``16 * base_channels`` and shrink for fewer up-samplings.

    Args:
        spatial_dims: 2 or 3.
        label_channels: channels of the one-hot label map (number of label values).
        out_channels: image channels (all MR contrasts at once, or CT).
        spatial_shape: output grid, a multiple of ``2**n_upsamples`` on every axis.
        base_channels: width of the last block (``ngf`` = 64 in the paper).
        n_upsamples: number of factor-2 up-samplings (5 in the paper).
        z_dim: noise length (256 in the paper's multimodal setting); 0 starts from the down-sampled
            label map instead, so the output is a deterministic function of the labels.
        hidden_channels: SPADE MLP width (128).
        norm: parameter-free normalisation in SPADE (``batch`` as in the paper, or ``instance``).
        spectral: spectral norm on the block convolutions.

    Shapes:
        ``labels``: (N, label_channels, *spatial_shape); ``z``: (N, z_dim) or ``None`` when
        ``z_dim == 0``; output (N, out_channels, *spatial_shape).
    """

    def __init__(self, spatial_dims: int, label_channels: int, out_channels: int, spatial_shape: Sequence[int],
                 base_channels: int = 64, n_upsamples: int = 5, z_dim: int = 256, hidden_channels: int = 128,
                 norm: ParamFreeNorm = "batch", spectral: bool = True) -> None:
        super().__init__()
        if len(spatial_shape) != spatial_dims:
            raise ValueError(f"spatial_shape {tuple(spatial_shape)} does not have {spatial_dims} axes")
        if n_upsamples < 1:
            raise ValueError("n_upsamples must be at least 1")
        conv = _conv(spatial_dims)
        self.spatial_dims, self.z_dim, self.n_upsamples = spatial_dims, z_dim, n_upsamples
        self.spatial_shape = tuple(int(s) for s in spatial_shape)
        self.bottom = bottom_shape(self.spatial_shape, n_upsamples)
        top = base_channels * 2 ** min(4, n_upsamples - 1)
        if z_dim > 0:
            self.fc: nn.Module = nn.Linear(z_dim, top * math.prod(self.bottom))
        else:
            self.fc = conv(label_channels, top, 3, padding=1)
        self.top_channels = top

        def block(cin: int, cout: int) -> SPADEResBlock:
            return SPADEResBlock(spatial_dims, cin, cout, label_channels, hidden_channels, norm, spectral)

        self.head = block(top, top)
        self.middle = nn.ModuleList([block(top, top), block(top, top)])
        widths = [top] + [base_channels * 2 ** min(4, n_upsamples - 2 - i) for i in range(n_upsamples - 1)]
        self.up_blocks = nn.ModuleList([block(widths[i], widths[i + 1]) for i in range(n_upsamples - 1)])
        self.to_image = conv(widths[-1], out_channels, 3, padding=1)

    def forward(self, labels: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if tuple(labels.shape[2:]) != self.spatial_shape:
            raise ValueError(f"label map grid {tuple(labels.shape[2:])} differs from the generator's "
                             f"{self.spatial_shape}")
        if self.z_dim > 0:
            if z is None:
                raise ValueError("this generator takes a noise vector z of length z_dim")
            x = self.fc(z.to(labels.dtype)).view(labels.shape[0], self.top_channels, *self.bottom)
        else:
            x = self.fc(F.interpolate(labels, size=self.bottom, mode="nearest"))
        x = self.head(x, labels)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        for block in self.middle:
            x = block(x, labels)
        for block in self.up_blocks:
            x = block(F.interpolate(x, scale_factor=2, mode="nearest"), labels)
        return torch.tanh(self.to_image(F.leaky_relu(x, 0.2)))


class SPADEEncoder(nn.Module):
    """Image -> (mu, logvar) of the style code (the paper's VAE encoder, for ``use_encoder``).

    ``n_downsamples`` stride-2 3-convs (widths ``base_channels * [1, 2, 4, 8, 8, ...]``) with
    spectral norm, instance norm and LeakyReLU 0.2, an adaptive average pool to 4 (2D) or 2 (3D)
    voxels per axis, and two linear heads.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        z_dim: style-code length.
        base_channels: width of the first layer (64 in the paper).
        n_downsamples: number of stride-2 layers (6 in the paper at 256 px).

    Shapes:
        ``image``: (N, in_channels, *S); outputs (N, z_dim) each.
    """

    def __init__(self, spatial_dims: int, in_channels: int, z_dim: int = 256, base_channels: int = 64,
                 n_downsamples: int = 6) -> None:
        super().__init__()
        conv = _conv(spatial_dims)
        norm = nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(n_downsamples):
            cout = base_channels * min(8, 2 ** i)
            layers += [spectral_norm(conv(cin, cout, 3, stride=2, padding=1)), norm(cout, affine=False),
                       nn.LeakyReLU(0.2)]
            cin = cout
        pooled = 4 if spatial_dims == 2 else 2
        pool = nn.AdaptiveAvgPool2d(pooled) if spatial_dims == 2 else nn.AdaptiveAvgPool3d(pooled)
        self.features = nn.Sequential(*layers, pool, nn.Flatten())
        self.mu = nn.Linear(cin * pooled ** spatial_dims, z_dim)
        self.logvar = nn.Linear(cin * pooled ** spatial_dims, z_dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(image)
        return self.mu(h), self.logvar(h)


class PatchDiscriminator(nn.Module):
    """PatchGAN of SPADE/pix2pixHD: 4-convs (stride 2 but for the last two), widths doubling up to
    ``8 * base_channels``, spectral + instance norm in the middle layers, LeakyReLU 0.2.

    Args:
        spatial_dims: 2 or 3.
        in_channels: label channels + image channels.
        base_channels: first width (``ndf`` = 64).
        n_layers: convolutions before the output layer (4 in the paper).
        spectral: spectral norm on the middle convolutions (the paper's ``spectralinstance``).

    Shapes:
        input (N, in_channels, *S); output: the list of every layer's activation, the last being the
        patch scores (N, 1, *S'').
    """

    def __init__(self, spatial_dims: int, in_channels: int, base_channels: int = 64, n_layers: int = 4,
                 spectral: bool = True) -> None:
        super().__init__()
        conv = _conv(spatial_dims)
        norm = nn.InstanceNorm2d if spatial_dims == 2 else nn.InstanceNorm3d
        layers: list[nn.Module] = [nn.Sequential(conv(in_channels, base_channels, 4, stride=2, padding=2),
                                                 nn.LeakyReLU(0.2))]
        width = base_channels
        for n in range(1, n_layers):
            previous, width = width, min(width * 2, base_channels * 8)
            stride = 1 if n == n_layers - 1 else 2
            layers.append(nn.Sequential(_maybe_sn(conv(previous, width, 4, stride=stride, padding=2), spectral),
                                        norm(width, affine=False), nn.LeakyReLU(0.2)))
        layers.append(conv(width, 1, 4, stride=1, padding=2))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features


class MultiScaleDiscriminator(nn.Module):
    """``n_scales`` PatchGANs on the input and on successive average-pooled copies (3-kernel,
    stride 2, padding not counted), as in pix2pixHD/SPADE.

    Args:
        spatial_dims: 2 or 3.
        in_channels: label channels + image channels (the label map is concatenated by the caller).
        n_scales: number of discriminators (2 in the paper).
        base_channels, n_layers, spectral: of each :class:`PatchDiscriminator`.

    Shapes:
        input (N, in_channels, *S); output: one feature list per scale (see :class:`PatchDiscriminator`).
    """

    def __init__(self, spatial_dims: int, in_channels: int, n_scales: int = 2, base_channels: int = 64,
                 n_layers: int = 4, spectral: bool = True) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.scales = nn.ModuleList([PatchDiscriminator(spatial_dims, in_channels, base_channels, n_layers, spectral)
                                     for _ in range(n_scales)])

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        pool = F.avg_pool2d if self.spatial_dims == 2 else F.avg_pool3d
        outputs = []
        for i, scale in enumerate(self.scales):
            if i:
                x = pool(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            outputs.append(scale(x))
        return outputs


def one_hot_labels(labels: torch.Tensor, values: Sequence[int]) -> torch.Tensor:
    """Label map of integer values -> one-hot channels, one per entry of ``values`` (in that order).

    Args:
        labels: (N, 1, *S) integer label values.
        values: the label values the model knows, e.g. ``[0, 1, 2, 3]``.

    Returns:
        (N, len(values), *S) float32; a voxel whose value is not in ``values`` is all zero.
    """
    lookup = torch.as_tensor(list(values), device=labels.device).view(1, -1, *([1] * (labels.dim() - 2)))
    return (labels.long() == lookup).float()
