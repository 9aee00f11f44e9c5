"""Progressive GAN networks and growth schedule: shapes at every level, fade-in limits, equalised
learning rate, pixel norm, minibatch standard deviation, gradient checkpointing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from medgan.families.pggan.schedule import GrowthSchedule, choose_base_shape
from medgan.models.pggan import (
    EqualizedConv,
    EqualizedLinear,
    PGDiscriminator,
    PGGenerator,
    level_channels,
    minibatch_stddev,
    pixel_norm,
)
from medgan.training.losses import gradient_penalty


def nets(dims: int, base: tuple[int, ...], levels: int = 2, image: int = 2, classes: int = 3,
         checkpointing: bool = False) -> tuple[PGGenerator, PGDiscriminator]:
    torch.manual_seed(0)
    g = PGGenerator(dims, base, levels, image, classes, latent_dim=8, fmap_base=32, fmap_max=8,
                    use_checkpoint=checkpointing)
    d = PGDiscriminator(dims, base, levels, image + classes, fmap_base=32, fmap_max=8, use_checkpoint=checkpointing)
    return g, d


@pytest.mark.parametrize("dims,base", [(2, (4, 4)), (3, (2, 3, 2))])
def test_output_shape_at_each_stage(dims, base):
    g, d = nets(dims, base)
    z = torch.randn(3, 8)
    for level in range(3):
        for alpha in (0.25, 1.0):
            x = g(z, level, alpha)
            assert x.shape == (3, 5) + tuple(s * 2**level for s in base)
            assert d(x, level, alpha).shape == (3, 1)
            probs = x[:, 2:]
            assert torch.all(probs >= 0) and torch.allclose(probs.sum(1), torch.ones_like(probs[:, 0]), atol=1e-5)
    with pytest.raises(ValueError, match="spatial shape"):
        d(g(z, 1), 2)


def test_generator_fade_in_limits():
    g, _ = nets(3, (2, 2, 2), levels=2)
    z = torch.randn(2, 8)
    with torch.no_grad():
        previous = g(z, 1, 1.0)
        assert torch.equal(g(z, 2, 0.0), F.interpolate(previous, scale_factor=2, mode="nearest"))
        # alpha = 1: the new block alone, i.e. the old output layer plays no part
        new_only = g(z, 2, 1.0)
        g.to_output[1].weight.add_(1.0)
        assert torch.equal(g(z, 2, 1.0), new_only)
        assert not torch.equal(g(z, 2, 0.5), new_only)
        # alpha = 0: the new block plays no part
        g.blocks[1].conv1.weight.add_(1.0)
        assert torch.equal(g(z, 2, 0.0), F.interpolate(g(z, 1, 1.0), scale_factor=2, mode="nearest"))


def test_discriminator_fade_in_limits():
    _, d = nets(2, (4, 4), levels=2, image=1, classes=0)
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(d(x, 2, 0.0), d(F.avg_pool2d(x, 2), 1, 1.0))
        full = d(x, 2, 1.0)
        d.from_input[1].weight.add_(1.0)
        assert torch.equal(d(x, 2, 1.0), full)
        assert not torch.equal(d(x, 2, 0.5), full)


def test_equalised_learning_rate_scaling():
    torch.manual_seed(0)
    conv = EqualizedConv(3, 16, 32, kernel_size=3)
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(16 * 27))
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.05)  # raw weights ~ N(0, 1)
    assert torch.all(conv.bias == 0)
    x = torch.randn(2, 16, 5, 5, 5)
    assert torch.allclose(conv(x), F.conv3d(x, conv.weight * conv.scale, conv.bias, padding=1), atol=1e-6)
    # the runtime scale keeps the output's second moment about gain^2 times the input's (He)
    big = torch.randn(8, 16, 12, 12, 12)
    ratio = (conv(big)[..., 1:-1, 1:-1, 1:-1].pow(2).mean() / big.pow(2).mean()).item()
    assert ratio == pytest.approx(2.0, rel=0.2)
    # the gradient reaching the raw weight is scaled by the same constant
    conv(x).sum().backward()
    w = (conv.weight.detach() * conv.scale).requires_grad_(True)
    F.conv3d(x, w, conv.bias.detach(), padding=1).sum().backward()
    assert torch.allclose(conv.weight.grad, w.grad * conv.scale, rtol=1e-4, atol=1e-6)
    linear = EqualizedLinear(64, 10, gain=1.0)
    assert linear.scale == pytest.approx(1 / 8)
    v = torch.randn(3, 64)
    assert torch.allclose(linear(v), v @ (linear.weight * linear.scale).T, atol=1e-6)


def test_pixel_norm_unit_mean_square():
    x = torch.randn(2, 7, 4, 5) * 9
    y = pixel_norm(x)
    assert torch.allclose(y.pow(2).mean(1), torch.ones(2, 4, 5), atol=1e-4)


@pytest.mark.parametrize("n,group", [(8, 4), (6, 4), (1, 4), (5, 4)])
def test_minibatch_stddev_shape_and_value(n, group):
    x = torch.randn(n, 3, 4, 5, 2)
    y = minibatch_stddev(x, group)
    assert y.shape == (n, 4, 4, 5, 2)
    assert torch.equal(y[:, :3], x)
    extra = y[:, 3]
    assert torch.all(extra == extra[:, :1, :1, :1])  # one constant per sample
    g = max(d for d in range(1, min(group, n) + 1) if n % d == 0)
    m = n // g
    for i in range(n):  # sample i shares its group with samples i % m, i % m + m, ...
        members = x[[j for j in range(n) if j % m == i % m]]
        expected = (members.var(0, unbiased=False) + 1e-8).sqrt().mean()
        assert extra[i, 0, 0, 0].item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)


def test_gradient_checkpointing_same_gradients_with_penalty():
    grads = []
    for checkpointing in (False, True):
        g, d = nets(2, (4, 4), levels=2, checkpointing=checkpointing)
        z = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
        real = torch.rand(4, 5, 16, 16, generator=torch.Generator().manual_seed(2))
        fake = g(z, 2, 0.5)
        penalty = gradient_penalty(lambda x, d=d: d(x, 2, 0.5), real, fake, torch.Generator().manual_seed(3))
        (d(fake, 2, 0.5).mean() + penalty).backward()
        grads.append([p.grad.clone() for p in list(g.parameters()) + list(d.parameters()) if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_channels_per_level_follow_karras():
    assert [level_channels(k, 8192, 512) for k in range(9)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]


def test_growth_schedule_positions():
    s = GrowthSchedule(levels=2, fade_images=100, stable_images=50, batch_sizes=(10, 5))
    assert s.position(0) == (0, 1.0) and s.position(49) == (0, 1.0)
    assert s.position(50) == (1, 0.0) and s.position(100) == (1, 0.5) and s.position(150) == (1, 1.0)
    assert s.position(200) == (2, 0.0) and s.position(299) == (2, 0.99) and s.position(10**9) == (2, 1.0)
    assert s.batch_size(0) == 10 and s.batch_size(2) == 5
    assert s.images_to_final() == 350
    assert s.steps_to_final() == 5 + 30 + 30  # 50/10, then 150/5 per level


def test_choose_base_shape():
    assert choose_base_shape((56, 64, 56), 64) == ((7, 8, 7), 3)
    assert choose_base_shape((56, 64, 56), 16) == ((7, 8, 7), 1)
    assert choose_base_shape((160, 192, 160), 192) == ((5, 6, 5), 5)
    assert choose_base_shape((64, 64), 64) == ((4, 4), 4)
    assert choose_base_shape((155, 240, 240), 64) == ((3, 4, 4), 4)  # no exact base: longest side 4, rounded
    with pytest.raises(ValueError):
        choose_base_shape((155, 240, 240), 100)
