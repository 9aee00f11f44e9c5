"""Augmentation configs: registry names, typed settings, clear errors, presets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from medgan.errors import ConfigError
from medgan.registry import TRANSFORMS
from medgan.transforms import RandSpatiald, build_pipeline, presets

ROOT = Path(__file__).resolve().parents[1]


def test_every_transform_is_registered() -> None:
    assert {"affine", "elastic", "flip", "gaussian_noise", "rician_noise", "gaussian_blur", "gamma",
            "bias_field", "contrast_brightness", "motion", "ghosting", "spike",
            "anisotropy"} <= set(TRANSFORMS)


def test_consecutive_spatial_entries_share_one_resampling() -> None:
    pipeline = build_pipeline({"transforms": [{"name": "affine", "rotate": 10}, {"name": "elastic"},
                                              {"name": "flip"}, {"name": "gamma"}, {"name": "flip"}]})
    kinds = [type(t).__name__ for t in pipeline.transforms]
    assert kinds == ["RandSpatiald", "RandGammad", "RandFlipd"]
    assert isinstance(pipeline.transforms[0], RandSpatiald) and len(pipeline.transforms[0].transforms) == 3


@pytest.mark.parametrize("entry, message", [
    ({"name": "rotate_lots"}, "unknown transform 'rotate_lots'"),
    ({"name": "affine", "rotation": 5}, "unknown setting 'rotation'"),
    ({"name": "affine", "rotate": 500}, r"transforms\[0\] \(affine\): rotate must lie in \[0, 180\]"),
    ({"name": "elastic", "control_points": 2}, "control_points"),
    ({"name": "gaussian_noise", "std": "loud"}, "std"),
    ({"name": "flip", "prob": 2}, "prob must lie in"),
    ({"rotate": 3}, "missing 'name'"),
])
def test_bad_entries_are_config_errors_naming_the_problem(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_pipeline({"transforms": [entry]})


def test_unknown_top_level_key_and_yaml_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'transform'"):
        build_pipeline({"transform": []})
    path = tmp_path / "aug.yaml"
    path.write_text("transforms:\n  - {name: gamma, log_gamma: 9}\n")
    with pytest.raises(ConfigError, match=r"aug.yaml: transforms\[0\] \(gamma\): log_gamma"):
        build_pipeline(path)


def test_shipped_example_config_builds_and_matches_default_preset() -> None:
    path = ROOT / "pipelines" / "augment_default.yaml"
    assert yaml.safe_load(path.read_text()) == presets.default_config(3)
    pipeline = build_pipeline(path)
    pipeline.set_random_state(0)
    image = np.random.default_rng(0).random((1, 24, 24, 16)).astype(np.float32)
    label = (image > 0.5).astype(np.uint8)
    out = pipeline({"image": image, "label": label})
    assert out["image"].shape == image.shape and set(np.unique(out["label"])) <= {0, 1}


@pytest.mark.parametrize("dims", [2, 3])
def test_default_preset_runs_2d_and_3d(dims: int) -> None:
    shape = (1, 32, 28, 20)[: dims + 1]
    image = np.random.default_rng(1).random(shape).astype(np.float32)
    label = (image > 0.7).astype(np.uint8) * 2
    pipeline = presets.default(spatial_dims=dims)
    pipeline.set_random_state(4)
    out = pipeline({"image": image, "label": label})
    assert out["image"].shape == shape and out["label"].dtype == np.uint8
    assert len(out["meta"]["history"]) == 8
