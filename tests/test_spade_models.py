"""SPADE networks: modulation by the label map (and its locality), shapes in 2D and 3D, noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.nn.utils import parametrize

from medgan.models.spade import (
    SPADE,
    MultiScaleDiscriminator,
    SPADEEncoder,
    SPADEGenerator,
    SPADEResBlock,
    one_hot_labels,
)


def _labels(shape: tuple[int, ...], seed: int = 0, n_values: int = 3) -> torch.Tensor:
    """Random piecewise-constant label map (1, 1, *shape) with values 0..n_values-1."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, n_values, size=tuple(max(1, s // 4) for s in shape))
    fine = np.kron(coarse, np.ones((4,) * len(shape), dtype=np.int64))
    return torch.from_numpy(fine)[None, None]


def _changed(label: torch.Tensor, where: tuple[int, ...], value: int) -> torch.Tensor:
    other = label.clone()
    other[(0, 0) + where] = value
    assert not torch.equal(other, label)
    return other


def _near(shape: tuple[int, ...], where: tuple[int, ...], radius: int) -> np.ndarray:
    """Voxels within Chebyshev distance ``radius`` of ``where``."""
    mask = np.zeros(shape, bool)
    mask[where] = True
    return ndimage.binary_dilation(mask, structure=np.ones((3,) * len(shape)), iterations=radius)


def test_spade_layer_changes_output_only_within_its_receptive_field():
    # SPADE = norm(x) * (1 + gamma(m)) + beta(m): the normalisation does not see the mask, and gamma,
    # beta come from two 3-kernel convolutions, so a one-voxel change of the mask changes the output
    # at that voxel and at no voxel farther than 2 (Chebyshev) from it - exactly zero difference there.
    torch.manual_seed(0)
    layer = SPADE(2, channels=3, label_channels=3, hidden_channels=8, norm="instance").eval()
    label = _labels((32, 32))
    where = (10, 21)
    other = _changed(label, where, (int(label[0, 0, 10, 21]) + 1) % 3)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        diff = (layer(x, one_hot_labels(label, [0, 1, 2])) - layer(x, one_hot_labels(other, [0, 1, 2]))).abs()
    diff = diff.amax(1)[0].numpy()
    assert diff[where] > 1e-4
    assert diff[~_near((32, 32), where, 2)].max() <= 1e-6


def test_spade_resblock_is_local_in_eval_mode_and_nearly_local_in_training_mode():
    # One SPADE residual block (spectral norm, batch norm as in the paper) after random init.
    # Its receptive field is 6 voxels: SPADE (2) + 3-conv (1) + SPADE (2) + 3-conv (1).
    # Eval mode: batch norm uses its running statistics, a per-voxel affine map, so the output differs
    # (a) at the changed voxel and (b) nowhere beyond 6 voxels from it (difference <= 1e-6).
    # Training mode: batch statistics are global, so far voxels change too, but only through the
    # changed mean/variance: we assert the largest far change is under 5% of the largest near change.
    torch.manual_seed(0)
    block = SPADEResBlock(3, in_channels=4, out_channels=2, label_channels=3, hidden_channels=8)
    label = _labels((24, 24, 24), seed=1)
    where = (12, 5, 17)
    other = _changed(label, where, (int(label[(0, 0) + where]) + 1) % 3)
    x = torch.randn(2, 4, 24, 24, 24)
    near = _near((24, 24, 24), where, 6)
    for mode, bound in (("eval", 1e-6), ("train", None)):
        block.train(mode == "train")
        with torch.no_grad():
            a = block(x, one_hot_labels(label.expand(2, -1, -1, -1, -1), [0, 1, 2]))
            b = block(x, one_hot_labels(other.expand(2, -1, -1, -1, -1), [0, 1, 2]))
        diff = (a - b).abs().amax(dim=(0, 1)).numpy()
        assert diff[where] > 1e-4, mode
        if bound is not None:
            assert diff[~near].max() <= bound
        else:
            assert diff[~near].max() < 0.05 * diff[near].max()


def test_spade_modulation_is_what_changes_the_output():
    # Same activation, two different label maps -> outputs differ; same label map -> identical.
    torch.manual_seed(0)
    layer = SPADE(3, channels=2, label_channels=2, hidden_channels=4)
    x = torch.randn(1, 2, 8, 8, 8)
    ones = torch.zeros(1, 2, 8, 8, 8)
    ones[:, 0] = 1
    twos = ones.flip(1)
    assert torch.equal(layer(x, ones), layer(x, ones))
    assert not torch.allclose(layer(x, ones), layer(x, twos))


@pytest.mark.parametrize("dims,shape", [(2, (32, 48)), (3, (16, 16, 24))])
def test_generator_and_discriminator_shapes(dims, shape):
    torch.manual_seed(0)
    g = SPADEGenerator(dims, label_channels=4, out_channels=5, spatial_shape=shape, base_channels=4, n_upsamples=3,
                       z_dim=8, hidden_channels=8)
    labels = one_hot_labels(_labels(shape).expand(2, *([-1] * (dims + 1))), [0, 1, 2, 3])
    fake = g(labels, torch.randn(2, 8))
    assert fake.shape == (2, 5) + shape
    assert fake.abs().max() <= 1
    d = MultiScaleDiscriminator(dims, in_channels=4 + 5, n_scales=2, base_channels=4, n_layers=4)
    out = d(torch.cat([labels, fake], 1))
    assert len(out) == 2 and all(len(scale) == 5 for scale in out)
    assert out[0][-1].shape[:2] == (2, 1) and out[1][-1].shape[:2] == (2, 1)
    assert np.prod(out[1][-1].shape[2:]) < np.prod(out[0][-1].shape[2:])
    mu, logvar = SPADEEncoder(dims, 5, z_dim=8, base_channels=4, n_downsamples=3)(fake)
    assert mu.shape == logvar.shape == (2, 8)


def test_generator_defaults_are_the_papers_and_use_spectral_norm():
    g = SPADEGenerator(2, label_channels=3, out_channels=3, spatial_shape=(256, 256))
    assert g.z_dim == 256 and g.n_upsamples == 5 and g.bottom == (8, 8) and g.top_channels == 1024
    assert isinstance(g.head.norm_0.norm, torch.nn.BatchNorm2d) and not g.head.norm_0.norm.affine
    assert g.head.norm_0.shared[0].out_channels == 128
    assert parametrize.is_parametrized(g.head.conv_0, "weight")
    assert [b.conv_1.out_channels for b in g.up_blocks] == [512, 256, 128, 64]
    d = MultiScaleDiscriminator(2, 6)
    assert len(d.scales) == 2 and d.scales[0].layers[0][0].out_channels == 64
    assert parametrize.is_parametrized(d.scales[0].layers[1][0], "weight")


def test_different_noise_gives_different_images_for_one_mask():
    torch.manual_seed(0)
    g = SPADEGenerator(2, 3, 2, (32, 32), base_channels=4, n_upsamples=3, z_dim=8, hidden_channels=8).eval()
    labels = one_hot_labels(_labels((32, 32)), [0, 1, 2]).expand(2, -1, -1, -1)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, 8, generator=gen)
    with torch.no_grad():
        images = g(labels, z)
        again = g(labels, z.clone())
    assert torch.equal(images, again)
    assert (images[0] - images[1]).abs().mean() > 1e-3


def test_deterministic_generator_without_noise():
    torch.manual_seed(0)
    g = SPADEGenerator(3, 3, 1, (16, 16, 16), base_channels=2, n_upsamples=2, z_dim=0, hidden_channels=4).eval()
    labels = one_hot_labels(_labels((16, 16, 16)), [0, 1, 2])
    with torch.no_grad():
        assert torch.equal(g(labels), g(labels))
    with pytest.raises(ValueError, match="multiple"):
        SPADEGenerator(2, 3, 1, (30, 32), n_upsamples=2)


def test_one_hot_labels_follows_the_given_values():
    label = torch.tensor([[[[0, 2], [4, 2]]]])
    onehot = one_hot_labels(label, [0, 2, 4])
    assert onehot.shape == (1, 3, 2, 2)
    assert torch.equal(onehot.argmax(1), torch.tensor([[[0, 1], [2, 1]]]))
    assert torch.equal(onehot.sum(1), torch.ones(1, 2, 2))
