"""Harmonized copy-paste (ConSinGAN harmonization of a naively pasted lesion): the benchmark stage
``consingan-harmonize`` and ``medgan synthesize RUN OUT --paste-from``. Labels are the paste's, the
target's grid and dtype are kept, and the image differs from the naive paste only near the lesion."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from medgan.cli import main
from medgan.errors import ConfigError
from medgan.io import load_dataset
from medgan.registry import SYNTHESIS_STAGES

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "lesions2d"
#: a tiny harmonization budget (the stage's preset is 60 steps at width 16)
TINY = {"train": {"steps": 6}, "model": {"width": 4, "min_size": 24, "max_size": 32}}


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    dataset = load_dataset(SAMPLE)
    return [dataset.load(ref) for ref in dataset.cases[:6]]


def test_stage_harmonizes_only_near_the_pasted_lesion(cases: list[dict], tmp_path: Path) -> None:
    stage = SYNTHESIS_STAGES.get("consingan-harmonize")({"consingan": TINY, "blend_voxels": 3}, 2, "cpu")
    stage.fit(cases, tmp_path, seed=0)
    target = stage.targets[0]
    assert (tmp_path / f"harmonize-{target['id']}" / "consingan" / "config.yaml").is_file()
    made = stage.sample(3, seed=0, context=cases)
    naive = stage.copy_paste.sample(3, 0, stage.targets)  # the same seed pastes the same lesions
    source_labels = set().union(*(np.unique(c["label"]).tolist() for c in cases))
    for case, paste in zip(made, naive):
        assert case["meta"]["source_case"] == target["id"] and case["id"] == target["id"]
        assert case["image"].shape == target["image"].shape and case["image"].dtype == target["image"].dtype
        assert np.allclose(case["meta"]["affine"], target["meta"]["affine"])
        assert set(np.unique(case["label"]).tolist()) <= source_labels
        assert np.array_equal(case["label"], paste["label"])
        changed = np.any(paste["image"] != target["image"], axis=0) | (paste["label"][0] != target["label"][0])
        near = ndimage.distance_transform_edt(~changed) < 4     # the ramp: weight 1 - distance / 4
        difference = np.abs(case["image"][0] - paste["image"][0])
        lesion = paste["label"][0] != target["label"][0]
        assert difference[~near].max() == 0                     # bit-for-bit the naive paste away from it
        assert difference[lesion].mean() > 0                    # and harmonized inside the lesion
        record = case["meta"]["history"][-1]
        assert record["name"] == "consingan_harmonize" and record["harmonized_voxels"] == int(near.sum())
    assert target["meta"]["history"] == []  # inputs untouched
    again = SYNTHESIS_STAGES.get("consingan-harmonize")({"consingan": TINY}, 2, "cpu")
    again.fit(cases, tmp_path, seed=0)                         # resumes the finished run: same model
    assert np.array_equal(again.sample(1, seed=0, context=cases)[0]["image"], made[0]["image"])


def test_stage_refuses_bad_options() -> None:
    with pytest.raises(ConfigError, match="stepz"):
        SYNTHESIS_STAGES.get("consingan-harmonize")({"consingan": {"train": {"stepz": 1}}}, 2, "cpu")
    with pytest.raises(ConfigError, match="rotation"):
        SYNTHESIS_STAGES.get("consingan-harmonize")({"copy_paste": {"rotation": 1}}, 2, "cpu")
    with pytest.raises(ConfigError, match="targets"):
        SYNTHESIS_STAGES.get("consingan-harmonize")({"targets": 0}, 2, "cpu")
    with pytest.raises(ConfigError, match="mode must be harmonization"):
        SYNTHESIS_STAGES.get("consingan-harmonize")({"consingan": {"mode": "generation"}}, 2, "cpu")


def test_paste_from_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    image = SAMPLE / "images" / "lesion-0001.nii.gz"
    run = tmp_path / "run"
    assert main(["train", "consingan", "--mode", "harmonization", "--data", str(image), "--out", str(run),
                 "--steps", "3", "--stages", "2", "--min-size", "24", "--max-size", "32", "--width", "4",
                 "--no-progress"]) == 0
    out = tmp_path / "out"
    assert main(["synthesize", str(run), str(out), "--n", "2", "--paste-from", str(SAMPLE),
                 "--paste-cases", "lesion-0002,lesion-0003"]) == 0
    assert "scan has no label map" in capsys.readouterr().err  # trained on the image alone: said once
    scan = nib.load(image)
    written = nib.load(out / "images" / "harmonized-0001.nii.gz")
    assert np.allclose(written.affine, scan.affine) and written.shape == scan.shape
    assert written.get_data_dtype() == scan.get_data_dtype()
    label = np.asarray(nib.load(out / "labels" / "harmonized-0001.nii.gz").dataobj)
    sources = set().union(*(np.unique(np.asarray(nib.load(SAMPLE / "labels" / f"lesion-000{i}.nii.gz").dataobj))
                            .tolist() for i in (1, 2, 3)))
    assert label.any() and set(np.unique(label).tolist()) <= sources
    manifest = (out / "manifest.csv").read_text()
    assert "copy-paste+consingan-harmonize" in manifest and "lesion-000" in manifest
    assert (out / "montage.png").is_file()
    capsys.readouterr()
    assert main(["synthesize", str(run), str(tmp_path / "x"), "--n", "1", "--paste-from", str(SAMPLE),
                 "--paste-cases", "nope"]) != 0
    assert "no case named 'nope'" in capsys.readouterr().err
