"""The ``cyclegan`` benchmark synthesis stage on tiny data."""

from __future__ import annotations

import numpy as np
import pytest

from medgan.errors import ConfigError
from medgan.io.datasets import load_dataset
from medgan.registry import SYNTHESIS_STAGES
from tests.translation_data import make_paired_brats

OPTIONS = {"data": {"a": {"modality": "t1n"}, "b": {"modality": "ct"}, "patch_size": 24}, "train": {"steps": 2},
           "model": {"g_channels": 4, "n_blocks": 1, "d_channels": 4}}


def normalised(case: dict) -> dict:
    """What the benchmark hands over: channels z-scored over the body."""
    image = case["image"].astype(np.float32)
    mean, std = image.mean(axis=(1, 2, 3), keepdims=True), image.std(axis=(1, 2, 3), keepdims=True)
    return {**case, "image": (image - mean) / std}


def test_stage_fits_and_translates_the_target_channel(tmp_path):
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
    from medgan.families._translation.translator import CaseChannels

    root = make_paired_brats(tmp_path / "data", n=2)
    ct_only = load_dataset(root, modalities=["ct"])
    cases = [ct_only.load(ref) for ref in ct_only.cases]
    full = load_dataset(root)
    expected = full.load("TR-000")["image"][list(full.modalities).index("t1n")]
    assert np.array_equal(CaseChannels()(cases[0], "t1n"), expected)


def test_stage_rejects_unknown_options():
    with pytest.raises(ConfigError, match="unknown setting 'stepz'"):
        SYNTHESIS_STAGES.get("cyclegan")({"train": {"stepz": 3}}, 3, "cpu")
    with pytest.raises(ConfigError, match="unknown setting 'steps'"):
        SYNTHESIS_STAGES.get("cyclegan")({"steps": 3}, 3, "cpu")  # the family config's names, nested


def test_pix2pix_is_a_stage_too(tmp_path):
    """The generic stage serves any translating family with a preset: pix2pix on co-registered pairs."""
    dataset = load_dataset(make_paired_brats(tmp_path / "data", n=2), modalities=["ct", "t1n"])
    cases = [normalised(dataset.load(ref)) for ref in dataset.cases]
    stage = SYNTHESIS_STAGES.get("pix2pix")({"data": {"patch_size": 16}, "train": {"steps": 2},
                                             "model": {"g_channels": 4, "depth": 3, "d_channels": 4, "d_layers": 2}},
                                            3, "cpu")
    stage.fit(cases, tmp_path / "work", seed=0)
    out = stage.sample(2, seed=3, context=cases)
    assert [c["id"].endswith("_pix2pix") for c in out] == [True, True]
    for new in out:
        source = next(c for c in cases if c["id"] == new["meta"]["source_case"])
        assert np.array_equal(new["image"][1], source["image"][1]) and np.array_equal(new["label"], source["label"])
        assert not np.allclose(new["image"][0], source["image"][0])
    assert stage.run.config.model.depth == 3 and (tmp_path / "work" / "pix2pix" / "config.yaml").is_file()
