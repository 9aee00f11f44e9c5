"""Intensity mappings: CT in HU survives the round trip exactly; MR is normalised per volume."""

from __future__ import annotations

import numpy as np
import pytest

from medgan.io.image import read_image, write_image
from medgan.transforms.modality import CTWindow, IntensityConfig, MRScale, fit_reference, make_scale


@pytest.mark.parametrize("low,high", [(-1024, 2048), (-1000, 3000), (-160, 240)])
def test_hu_round_trip_is_exact_inside_the_window(low, high):
    window = CTWindow(low, high)
    hu = np.arange(low, high + 1, dtype=np.int16)
    network = window.to_network(hu)
    assert network.dtype == np.float32 and network.min() == -1.0 and network.max() == 1.0
    assert np.array_equal(window.to_units(network).astype(np.int16), hu)


def test_hu_outside_the_window_is_clipped():
    window = CTWindow(-1024, 2048)
    assert np.array_equal(window.to_units(window.to_network(np.array([-3000, 5000]))), [-1024, 2048])


def test_hu_round_trip_through_an_int16_file(tmp_path):
    window = CTWindow()
    hu = np.random.default_rng(0).integers(-1024, 2049, (1, 6, 5, 4)).astype(np.int16)
    affine = np.diag([1.5, 2.0, 3.0, 1.0])
    write_image(tmp_path / "ct.nii.gz", window.to_units(window.to_network(hu)), {"affine": affine, "dtype": "int16"})
    back, meta = read_image(tmp_path / "ct.nii.gz")
    assert back.dtype == np.int16 and np.array_equal(back, hu) and np.allclose(meta["affine"], affine)


def test_mr_scale_is_per_volume():
    rng = np.random.default_rng(0)
    volume = rng.uniform(0, 400, (8, 8, 8)).astype(np.float32)
    scale = MRScale(reference=500.0)
    a, b = scale.to_network(volume), scale.to_network(3 * volume)
    assert np.allclose(a, b, atol=1e-6) and a.min() >= -1 and a.max() == 1.0
    assert scale.to_units(np.array([-1.0, 1.0])).tolist() == [0.0, 500.0]


def test_auto_kind_and_fitted_reference():
    config = IntensityConfig()
    assert isinstance(make_scale(config, "CT"), CTWindow)
    volumes = [np.full((4, 4), v, np.float32) for v in (100, 200, 300)]
    assert fit_reference(config, "t1n", volumes) == (0.0, 200.0)
    assert fit_reference(config, "ct", volumes) is None


def test_bad_window():
    with pytest.raises(ValueError, match="high > low"):
        CTWindow(100, 100)
