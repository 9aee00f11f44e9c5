"""Fréchet distance, KID, precision/recall and the feature extractors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy import linalg

from medgan.errors import ConfigError, DataError
from medgan.metrics.casesets import IntensityReference
from medgan.metrics.distribution import frechet_distance, kernel_inception_distance, precision_recall, standardise
from medgan.metrics.features import EXTRACTORS, RadiomicsExtractor, build_extractor
from medgan.metrics.inception import sha256_of, verify_weights
from medgan.metrics.validation import DEGRADATIONS, degradation_curve, degrade, is_monotonic
from tests.metrics_data import lesion_set


def test_frechet_matches_scipy_sqrtm_formula() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 5))
    b = rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5)) + 1.0
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_identical_sets_have_zero_distance() -> None:
    x = np.random.default_rng(1).normal(size=(30, 50))  # fewer samples than features: singular covariance
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    assert kernel_inception_distance(x, x)[0] == pytest.approx(0.0, abs=1e-10)
    assert precision_recall(x, x) == (1.0, 1.0)


def test_kid_grows_with_shift_and_precision_recall_see_collapse() -> None:
    rng = np.random.default_rng(2)
    real = rng.normal(size=(80, 8))
    other = rng.normal(size=(80, 8))
    near = kernel_inception_distance(real, other, rng=np.random.default_rng(0))[0]
    far = kernel_inception_distance(real, other + 2.0, rng=np.random.default_rng(0))[0]
    assert far > 10 * abs(near)
    collapsed = np.repeat(real[:1], 80, axis=0) + rng.normal(scale=1e-3, size=(80, 8))
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.2
    assert precision_recall(real, other + 10.0) == (0.0, 0.0)


def _features(images, labels, extractor):
    return extractor(images, labels)


@pytest.mark.parametrize("dims,size,n", [(2, 32, 40), (3, 20, 16)])
def test_radiomics_real_split_far_closer_than_noise(dims: int, size: int, n: int) -> None:
    images, labels = lesion_set(n, seed=3, size=size, dims=dims)
    half = n // 2
    scale = IntensityReference.fit(images[:half])
    extractor = RadiomicsExtractor()
    norm = [scale.apply(i) for i in images]
    rng = np.random.default_rng(0)
    noise = [scale.apply(rng.uniform(0, 100, i.shape).astype(np.float32)) for i in images[half:]]
    a, b, c = standardise(extractor(norm[:half], labels[:half]), extractor(norm[half:], labels[half:]),
                          extractor(noise, labels[half:]))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(a, c) > 20 * frechet_distance(a, b)
    assert kernel_inception_distance(a, c)[0] > 20 * kernel_inception_distance(a, b)[0]


def test_radiomics_feature_length_with_and_without_label() -> None:
    images, labels = lesion_set(2, seed=0, size=24, dims=3)
    with_label = RadiomicsExtractor()(images, labels)
    without = RadiomicsExtractor(use_label=False)(images, labels)
    assert with_label.shape == (2, 34 + 6) and without.shape == (2, 34)
    assert np.isfinite(with_label).all()


def test_distance_grows_monotonically_with_degradation() -> None:
    images, labels = lesion_set(48, seed=5, size=32)
    rows = degradation_curve(RadiomicsExtractor(), images[:24], labels[:24], images[24:], labels[24:], seed=0)
    for kind in DEGRADATIONS:
        assert is_monotonic(rows, kind, "fid"), [(r.kind, r.strength, r.fid) for r in rows]
    # KID on 24 cases cannot resolve the smallest shift (2 % of the range) from sampling noise;
    # from 5 % on it rises monotonically (docs/evaluation.md states this limit)
    strong = [rows[0]] + [r for r in rows if r.kind != "shift" or r.strength >= 0.05]
    for kind in DEGRADATIONS:
        assert is_monotonic(strong, kind, "kid"), [(r.kind, r.strength, r.kid) for r in strong]


def test_degrade_is_seeded_and_rejects_unknown_kind() -> None:
    images, _ = lesion_set(1, seed=0)
    scale = IntensityReference.fit(images)
    one = degrade(images[0], "noise", 0.1, scale, np.random.default_rng(4))
    two = degrade(images[0], "noise", 0.1, scale, np.random.default_rng(4))
    assert np.array_equal(one, two) and not np.array_equal(one, images[0])
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(images[0], "warp", 1.0, scale, np.random.default_rng(0))


def test_extractor_registry() -> None:
    assert {"radiomics", "inception"} <= set(EXTRACTORS.names())
    assert isinstance(build_extractor("radiomics"), RadiomicsExtractor)
    with pytest.raises(ConfigError, match="unknown feature extractor"):
        build_extractor("vgg")


def test_inception_weights_are_never_downloaded_and_hash_checked(tmp_path) -> None:
    with pytest.raises(ConfigError, match="never downloads"):
        build_extractor("inception")
    with pytest.raises(DataError, match="does not exist"):
        build_extractor("inception", weights=tmp_path / "missing.pth")
    bogus = tmp_path / "weights.pth"
    bogus.write_bytes(b"not weights")
    with pytest.raises(DataError, match="matches no known"):
        verify_weights(bogus)
    with pytest.raises(DataError, match="SHA-256 is"):
        verify_weights(bogus, "0" * 64)
    assert verify_weights(bogus, sha256_of(bogus).upper()) == sha256_of(bogus)


def test_inception_extractor_on_local_weights(tmp_path) -> None:
    """With torchvision: features from a local (randomly initialised) state dict; without: a clear error."""
    import torch

    path = tmp_path / "inception.pth"
    if importlib.util.find_spec("torchvision") is None:
        torch.save({"w": torch.zeros(1)}, path)
        with pytest.raises(ConfigError, match="needs torchvision"):
            build_extractor("inception", weights=path, sha256=sha256_of(path))
        return
    from torchvision.models import inception_v3

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in inception_v3(weights=None, aux_logits=False, init_weights=False)
                  .state_dict().items()}
    rng = torch.Generator().manual_seed(0)
    torch.save({k: torch.rand(shape, generator=rng) * 0.05 if len(shape) else torch.tensor(1)
                for k, shape in shapes.items()}, path)
    extractor = build_extractor("inception", weights=path, sha256=sha256_of(path))
    images, _ = lesion_set(1, seed=0, size=24, dims=2)
    features = extractor([i / 100.0 for i in images])
    assert features.shape == (1, 2048) and np.isfinite(features).all()
    bad = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(DataError, match="not torchvision inception_v3"):
        build_extractor("inception", weights=bad, sha256=sha256_of(bad))
