"""Translation networks: shapes in 2D and 3D, the paper's sizes, the 70x70 receptive field."""

from __future__ import annotations

import pytest
import torch

from medgan.models.translation import PatchDiscriminator, ResnetGenerator, UNetGenerator, receptive_field


@pytest.mark.parametrize("dims,size", [(2, (20, 24)), (3, (8, 12, 16))])
def test_resnet_generator_keeps_shape_and_range(dims, size):
    g = ResnetGenerator(dims, 1, 2, base_channels=4, n_blocks=2)
    out = g(torch.randn(2, 1, *size))
    assert out.shape == (2, 2, *size)
    assert out.abs().max() <= 1.0


@pytest.mark.parametrize("dims,size", [(2, (16, 32)), (3, (8, 8, 16))])
def test_unet_generator_keeps_shape(dims, size):
    g = UNetGenerator(dims, 2, 1, base_channels=4, depth=3, norm="instance")
    assert g(torch.randn(1, 2, *size)).shape == (1, 1, *size)


@pytest.mark.parametrize("dims", [2, 3])
def test_patch_discriminator_scores_patches(dims):
    d = PatchDiscriminator(dims, 2, base_channels=4, n_layers=3)
    out = d(torch.randn(2, 2, *([32] * dims)))
    assert out.shape == (2, 1, *([2] * dims))  # 32 -> 16 -> 8 -> 4 -> 3 -> 2


def test_paper_sizes_and_receptive_field():
    """resnet_9blocks / unet_256 / basic PatchGAN of the reference with one channel in and out."""
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ResnetGenerator(2, 1, 1)) == 11_365_633
    assert count(PatchDiscriminator(2, 1)) == 2_762_689
    assert receptive_field(3) == 70
    norms = [m for m in ResnetGenerator(2, 1, 1, 8, 1).modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and not any(n.affine or n.track_running_stats for n in norms)


def test_unet_dropout_only_in_wide_inner_levels():
    g = UNetGenerator(2, 1, 1, base_channels=4, depth=8)
    assert sum(isinstance(m, torch.nn.Dropout) for m in g.modules()) == 3  # as unet_256


def test_bad_arguments():
    with pytest.raises(ValueError, match="spatial_dims"):
        ResnetGenerator(4)
    with pytest.raises(ValueError, match="norm"):
        PatchDiscriminator(2, norm="group")
