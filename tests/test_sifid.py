"""Per-position feature extractors (``medgan.metrics.spatial``) and SIFID."""

from __future__ import annotations

import numpy as np
import pytest

from medgan.errors import ConfigError
from medgan.metrics.spatial import SPATIAL_EXTRACTORS, build_spatial_extractor, grid_stride


@pytest.mark.parametrize("shape", [(2, 24, 20), (1, 12, 14, 10)])
def test_filterbank_gives_nine_features_per_channel_at_every_position(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).random(shape)
    features = build_spatial_extractor("filterbank")(image)
    assert features.shape == (int(np.prod(shape[1:])), 9 * shape[0])
    assert np.isfinite(features).all()
    # channel 0's smoothed intensity at sigma 1 is the first column, position order is C-order
    from scipy import ndimage

    assert np.allclose(features[:, 0], ndimage.gaussian_filter(image[0], 1.0, mode="nearest").ravel())


def test_filterbank_keeps_a_regular_grid_of_at_most_max_positions() -> None:
    assert grid_stride((64, 64), 65536) == 1
    assert grid_stride((56, 64, 56), 65536) == 2
    features = build_spatial_extractor("filterbank", max_positions=100)(np.zeros((1, 40, 40)))
    assert len(features) <= 100 and len(features) == 10 * 10


def test_an_unknown_spatial_extractor_is_a_config_error() -> None:
    assert "filterbank" in SPATIAL_EXTRACTORS.names()
    with pytest.raises(ConfigError, match="unknown spatial feature extractor 'nope'"):
        build_spatial_extractor("nope")
