"""The ``cyclegan`` benchmark synthesis stage on tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from medgan.errors import ConfigError
from medgan.io.datasets import load_dataset
from medgan.registry import SYNTHESIS_STAGES
from tests.translation_data import make_paired_brats

OPTIONS = {"source_modality": "t1n", "target_modality": "ct", "steps": 2, "g_channels": 4, "n_blocks": 1,
           "d_channels": 4, "patch_size": 24}


def normalised(case: dict) -> dict:
    """What the benchmark hands over: channels z-scored over the body."""
    image = case["image"].astype(np.float32)
    mean, std = image.mean(axis=(1, 2, 3), keepdims=True), image.std(axis=(1, 2, 3), keepdims=True)
    return {**case, "image": (image - mean) / std}


def test_stage_fits_and_translates_the_target_channel(tmp_path):
    import medgan.families  # noqa: F401

    medgan.families.discover()
    stage_type = SYNTHESIS_STAGES.get("cyclegan")
    dataset = load_dataset(make_paired_brats(tmp_path / "data", n=3), modalities=["ct", "t1n"])
    cases = [normalised(dataset.load(ref)) for ref in dataset.cases]
    stage = stage_type(OPTIONS, 3, "cpu")
    stage.fit(cases, tmp_path / "work", seed=0)
    out = stage.sample(4, seed=1, context=cases)
    assert len(out) == 4
    for new in out:
        source = next(c for c in cases if c["id"] == new["meta"]["source_case"])
        assert new["image"].shape == source["image"].shape and new["meta"]["modalities"] == ["ct", "t1n"]
        assert np.array_equal(new["label"], source["label"])
        assert np.array_equal(new["image"][1], source["image"][1])  # the MR channel stays
        assert not np.allclose(new["image"][0], source["image"][0])  # the CT channel is the translation
        assert np.allclose(new["meta"]["affine"], source["meta"]["affine"])
        assert new["meta"]["source"]["storage"][0]["dtype"] == "float32"
    again = stage.sample(4, seed=1, context=cases)
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(out, again))


def test_stage_reads_a_missing_source_channel_from_the_case_folder(tmp_path):
    from medgan.families.cyclegan.stage import CycleGANStage

    root = make_paired_brats(tmp_path / "data", n=2)
    ct_only = load_dataset(root, modalities=["ct"])
    cases = [ct_only.load(ref) for ref in ct_only.cases]
    stage = CycleGANStage(OPTIONS, 3, "cpu")
    full = load_dataset(root)
    expected = full.load("TR-000")["image"][list(full.modalities).index("t1n")]
    assert np.array_equal(stage.channel(cases[0], "t1n"), expected)


def test_stage_rejects_unknown_options():
    from medgan.families.cyclegan.stage import CycleGANStage

    with pytest.raises(ConfigError, match="unknown setting 'stepz'"):
        CycleGANStage({"stepz": 3}, 3, "cpu")
