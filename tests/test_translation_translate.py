"""Whole-volume translation: slice-wise 2D, sliding-window 3D without seams, cases and datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medgan.families._translation.translator import Translator
from medgan.io.datasets import load_dataset
from medgan.models.inference import translate_tensor
from medgan.synthesis.translate import translate_case, translate_dataset
from medgan.transforms.modality import CTWindow, MRScale
from tests.translation_data import make_paired_brats


class Pointwise(nn.Module):
    """An identity-like network without spatial context: any tiling must give the whole-volume result."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 1)
        nn.init.constant_(self.conv.weight, 0.9)
        nn.init.constant_(self.conv.bias, 0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))


class Pointwise2d(Pointwise):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        nn.init.constant_(self.conv.weight, 0.9)
        nn.init.constant_(self.conv.bias, 0.05)


@pytest.mark.parametrize("shape", [(37, 29, 23), (9, 40, 17)])
def test_sliding_window_covers_the_volume_without_seams(shape):
    volume = torch.rand(1, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    network = Pointwise().eval()
    out = translate_tensor(network, volume, spatial_dims=3, roi_size=16, divisor=4, overlap=0.5, batch_size=3)
    assert out.shape == (1, *shape)
    with torch.no_grad():
        whole = network(volume[None])[0]
    assert torch.allclose(out, whole, atol=1e-5)  # blending leaves no seams at window borders
    # smoothness check: no jump at the window borders beyond the one in the whole-volume result
    assert torch.allclose(out.diff(dim=1), whole.diff(dim=1), atol=1e-5)


def test_slice_wise_2d_pads_each_slice_and_crops_back():
    volume = torch.rand(1, 13, 18, 7, generator=torch.Generator().manual_seed(1)) * 2 - 1
    network = Pointwise2d().eval()
    out = translate_tensor(network, volume, spatial_dims=2, roi_size=16, divisor=4, batch_size=3)
    with torch.no_grad():
        expected = torch.stack([network(volume[None, ..., z])[0] for z in range(7)], -1)
    assert out.shape == volume.shape and torch.allclose(out, expected, atol=1e-6)
    image = volume[..., 0]
    assert torch.allclose(translate_tensor(network, image, 2, 16, 4), expected[..., 0], atol=1e-6)


def test_resnet_generator_translates_any_size_in_3d():
    from medgan.models.translation import ResnetGenerator

    g = ResnetGenerator(3, 1, 1, base_channels=2, n_blocks=1).eval()
    out = translate_tensor(g, torch.zeros(1, 21, 18, 11), 3, roi_size=8, divisor=4)
    assert out.shape == (1, 21, 18, 11) and torch.isfinite(out).all()


def identity_translator(dims: int = 2) -> Translator:
    network = (Pointwise2d() if dims == 2 else Pointwise()).eval()
    nn.init.constant_(network.conv.weight, 1.0)
    nn.init.constant_(network.conv.bias, 0.0)
    network.forward = lambda x: network.conv(x)  # exact identity
    return Translator(network, dims, 8, 4, MRScale(reference=300.0), CTWindow(), "t1n", "ct",
                      {"family": "test", "run": "none", "direction": "a2b"})


def test_translate_case_writes_hu_with_the_source_geometry(tmp_path):
    dataset = load_dataset(make_paired_brats(tmp_path / "in", n=1))
    case = dataset.load(dataset.cases[0])
    out = translate_case(case, identity_translator())
    assert out["meta"]["modalities"] == ["ct"] and out["meta"]["source"]["storage"][0]["dtype"] == "int16"
    assert np.array_equal(out["label"], case["label"])
    assert out["image"].shape == (1, *case["image"].shape[1:])
    mr = case["image"][case["meta"]["modalities"].index("t1n")]
    # the identity network maps the MR's [0, p99.5] onto the CT window, in whole HU
    assert out["image"][0][mr == 0].max() == -1024 and np.all(out["image"] == np.rint(out["image"]))
    assert out["meta"]["history"][-1]["name"] == "translate"
    kept = translate_case(case, identity_translator(), keep_channels=True)
    assert kept["meta"]["modalities"] == case["meta"]["modalities"]
    t1n = case["meta"]["modalities"].index("t1n")
    assert np.array_equal(kept["image"][t1n], case["image"][t1n])


def test_translate_dataset_keeps_layout_labels_and_affine(tmp_path):
    source = load_dataset(make_paired_brats(tmp_path / "in", n=2))
    manifest = translate_dataset(identity_translator(), source, tmp_path / "out", progress=False)
    assert manifest.is_file()
    out = load_dataset(tmp_path / "out")
    assert out.layout == "brats" and out.modalities == ("ct",) and [r.id for r in out.cases] == ["TR-000", "TR-001"]
    for ref in out.cases:
        new, old = out.load(ref), source.load(ref.id)
        assert new["meta"]["dtype"] == "int16"
        assert np.allclose(new["meta"]["affine"], old["meta"]["affine"])
        assert np.array_equal(new["label"], old["label"])
    # resumable: a second run skips finished cases and gives the same manifest
    assert translate_dataset(identity_translator(), source, tmp_path / "out", progress=False).read_text() == \
        manifest.read_text()
