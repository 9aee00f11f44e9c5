"""Intensity transforms: noise statistics, identity at zero strength, seeds, labels untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from medgan.transforms import (
    RandAnisotropyd,
    RandBiasFieldd,
    RandContrastBrightnessd,
    RandGammad,
    RandGaussianBlurd,
    RandGaussianNoised,
    RandGhostingd,
    RandMotiond,
    RandRicianNoised,
    RandSpiked,
)


def _image(shape: tuple[int, ...] = (32, 32, 32), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    smooth = sum(np.cos((i + 1) * 2 * g) for i, g in enumerate(grids))
    return (smooth + 3 + 0.1 * rng.standard_normal(shape)).astype(np.float32)[None]


def _apply(t, image: np.ndarray, seed: int = 0, label: np.ndarray | None = None) -> dict:
    t.set_random_state(seed)
    data = {"image": image}
    if label is not None:
        data["label"] = label
    return t(data)


def test_gaussian_noise_has_requested_mean_and_std() -> None:
    zeros = np.zeros((1, 64, 64, 64), np.float32)
    out = _apply(RandGaussianNoised(std=(0.2, 0.2), mean=0.5), zeros)["image"]
    assert out.mean() == pytest.approx(0.5, abs=0.005)
    assert out.std() == pytest.approx(0.2, rel=0.01)


def test_relative_gaussian_noise_scales_with_image_std() -> None:
    image = _image() * 100
    out = _apply(RandGaussianNoised(std=(0.1, 0.1), relative=True), image)["image"]
    assert (out - image).std() == pytest.approx(0.1 * image.std(), rel=0.02)


@pytest.mark.parametrize("signal", [0.0, 0.5, 2.0])
def test_rician_noise_bias_matches_rice_distribution(signal: float) -> None:
    sigma = 0.5
    image = np.full((1, 64, 64, 64), signal, np.float32)
    out = _apply(RandRicianNoised(std=(sigma, sigma)), image)["image"]
    expected = stats.rice.mean(signal / sigma, scale=sigma)  # = sigma * sqrt(pi / 2) at zero signal
    assert out.mean() == pytest.approx(expected, rel=0.01)
    assert out.std() == pytest.approx(stats.rice.std(signal / sigma, scale=sigma), rel=0.02)
    assert out.min() >= 0


ZERO_STRENGTH = [
    RandGaussianNoised(std=0.0),
    RandRicianNoised(std=0.0),
    RandGaussianBlurd(sigma_mm=0.0),
    RandGammad(log_gamma=0.0),
    RandBiasFieldd(coefficients=0.0),
    RandContrastBrightnessd(contrast=(1.0, 1.0), brightness=0.0),
]


@pytest.mark.parametrize("transform", ZERO_STRENGTH, ids=lambda t: t.name)
def test_zero_strength_is_identity(transform) -> None:
    image = _image()
    out = _apply(transform, image)
    assert np.array_equal(out["image"], image)
    assert out["meta"]["history"][0]["name"] == transform.name


ALL = [
    RandGaussianNoised(std=0.1), RandRicianNoised(std=0.1), RandGaussianBlurd(sigma_mm=2.0),
    RandGammad(log_gamma=0.4), RandBiasFieldd(coefficients=0.5),
    RandContrastBrightnessd(contrast=(0.5, 1.5), brightness=0.5),
    RandMotiond(degrees=5, translation_mm=5), RandGhostingd(), RandSpiked(),
    RandAnisotropyd(downsampling=(2, 3)),
]


@pytest.mark.parametrize("transform", ALL, ids=lambda t: t.name)
@pytest.mark.parametrize("dims", [2, 3])
def test_seeded_changes_image_only(transform, dims: int) -> None:
    image = _image((24, 20, 16)[:dims])
    label = (image > 3).astype(np.uint8)
    a = _apply(transform, image, 1, label)
    b = _apply(transform, image, 1, label)
    c = _apply(transform, image, 2, label)
    assert a["image"].shape == image.shape and a["image"].dtype == np.float32
    assert np.array_equal(a["image"], b["image"])
    assert not np.array_equal(a["image"], c["image"])
    assert not np.array_equal(a["image"], image)
    assert a["label"] is label


def test_gamma_keeps_intensity_range_and_blur_lowers_variance() -> None:
    image = _image()
    out = _apply(RandGammad(log_gamma=(0.5, 0.5)), image)["image"]
    assert out.min() == pytest.approx(image.min(), abs=1e-5)
    assert out.max() == pytest.approx(image.max(), abs=1e-5)
    blurred = _apply(RandGaussianBlurd(sigma_mm=(1.5, 2.0)), image)["image"]
    assert np.diff(blurred, axis=1).std() < np.diff(image, axis=1).std()


def test_integer_and_torch_inputs_keep_type_and_dtype() -> None:
    image = (_image() * 100).astype(np.int16)
    out = _apply(RandGaussianNoised(std=5.0), image)["image"]
    assert out.dtype == np.int16 and isinstance(out, np.ndarray)
    tensor = _apply(RandBiasFieldd(), torch.from_numpy(_image()))["image"]
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32


def test_out_of_range_parameters_raise() -> None:
    with pytest.raises(ValueError, match="std"):
        RandGaussianNoised(std=-1.0)
    with pytest.raises(ValueError, match="order"):
        RandBiasFieldd(order=9)
    with pytest.raises(ValueError, match="prob"):
        RandGammad(prob=1.5)
