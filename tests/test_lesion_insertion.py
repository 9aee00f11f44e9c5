"""Insertion of lesions into scans, the MONAI transform, and train -> synthesize end to end."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from medgan.cli import main
from medgan.errors import DataError
from medgan.families.lesion_gan.sampling import LesionGenerator, insert_synthetic_lesions
from medgan.io import load_dataset
from medgan.synthesis.transform import RandLesionInsertiond
from medgan.transforms.insertion import blend_weights, choose_location, insert_lesion
from medgan.transforms.scaling import foreground_mask, from_unit_range, percentile_range, to_unit_range
from tests.conftest import tree_digest
from tests.lesion_data import make_lesion_dataset

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def test_insertion_changes_only_the_blended_region_and_adds_exactly_the_label():
    rng = np.random.default_rng(0)
    image = rng.normal(100, 10, (2, 20, 20, 20)).astype(np.float32)
    label = np.zeros((1, 20, 20, 20), np.uint8)
    label[0, 2:4, 2:4, 2:4] = 1
    patch_label = np.zeros((8, 8, 8), np.int16)
    patch_label[3:6, 3:6, 3:6] = 3
    patch_image = np.full((2, 8, 8, 8), 500.0, np.float32)
    new_image, new_label, ins = insert_lesion(image, label, patch_image, patch_label, (12, 11, 10), border=2)
    assert np.array_equal(new_image[:, ~ins.region], image[:, ~ins.region])
    assert ins.region[ins.lesion].all() and ins.region.sum() > ins.lesion.sum()
    assert np.all(new_image[:, ins.lesion] == 500.0)
    changed = new_label[0] != label[0]
    assert np.array_equal(changed, ins.lesion) and np.all(new_label[0][ins.lesion] == 3)
    assert ins.lesion.sum() == 27 and ins.lesion[11:14, 10:13, 9:12].all()
    # border values lie between the scan and the lesion: smooth, not a step
    ring = ins.region & ~ins.lesion
    assert np.all(new_image[:, ring] > image[:, ring] - 1e-3) and np.all(new_image[:, ring] < 500.0)
    assert image.dtype == new_image.dtype and label.dtype == new_label.dtype


def test_insertion_at_the_edge_and_into_integer_images():
    image = np.zeros((1, 10, 10), np.int16)
    label = np.zeros((1, 10, 10), np.uint8)
    patch_label = np.zeros((6, 6), np.int16)
    patch_label[2:5, 2:5] = 1
    new_image, new_label, ins = insert_lesion(image, label, np.full((1, 6, 6), 40.4), patch_label, (0, 9), border=1)
    assert new_image.dtype == np.int16 and new_image[0, 0, 9] == 40
    assert new_label.sum() == ins.lesion.sum() == 4


def test_blend_weights_are_one_inside_and_zero_beyond_the_border():
    lesion = np.zeros((15, 15), bool)
    lesion[6:9, 6:9] = True
    w = blend_weights(lesion, 3.0)
    assert np.all(w[lesion] == 1.0) and w[0, 0] == 0.0 and 0 < w[7, 10] < 1


def test_locations_are_inside_the_organ_and_away_from_lesions():
    organ = np.zeros((30, 30), bool)
    organ[5:25, 5:25] = True
    existing = np.zeros_like(organ)
    existing[5:15, 5:25] = True
    patch = np.zeros((6, 6), np.int16)
    patch[2:4, 2:4] = 1
    for seed in range(20):
        centre = choose_location(organ, existing, patch, np.random.default_rng(seed), margin=3)
        assert centre is not None
        voxels = np.argwhere(patch > 0) - 3 + np.asarray(centre)
        assert organ[tuple(voxels.T)].all() and voxels[:, 0].min() >= 15 + 3
    assert choose_location(organ, organ, patch, np.random.default_rng(0)) is None


def test_foreground_mask_and_intensity_round_trip():
    image = np.zeros((1, 20, 20), np.float32)
    image[0, 4:16, 4:16] = 100.0
    image[0, 8:10, 8:10] = 0.0  # a hole inside the body is filled
    mask = foreground_mask(image)
    assert mask.sum() == 144
    lo, hi = percentile_range(image, mask, mask)
    values = np.array([[[lo[0], hi[0]]]], np.float32)
    assert np.allclose(from_unit_range(to_unit_range(values, lo, hi), lo, hi), values)


@pytest.fixture(scope="module")
def trained_3d(tmp_path_factory):
    root = tmp_path_factory.mktemp("lesion3d")
    data = make_lesion_dataset(root / "data", spatial_dims=3, n=3, size=32)
    config = root / "config.yaml"
    config.write_text("train: {steps: 2, batch_size: 4, checkpoint_every: 2, sample_every: 2, n_samples: 2}\n"
                      "data: {patch_size: 8, jitter: 1}\n"
                      "model: {latent_dim: 8, g_channels: 4, d_channels: 4}\n")
    status = main(["train", "lesion-gan", "--data", str(data), "--out", str(root / "run"), "--config", str(config),
                   "--no-progress", "--exclude-cases", "case02"])
    assert status == 0
    return data, root / "run"


def test_synthesize_into_writes_the_input_layout_with_manifest(trained_3d, tmp_path):
    data, run = trained_3d
    before = tree_digest(data)
    assert main(["synthesize", str(run), str(tmp_path / "out"), "--into", str(data), "--n", "3",
                 "--exclude-cases", "case01", "--lesions-per-case", "2", "--seed", "5"]) == 0
    assert tree_digest(data) == before
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    # case01 excluded here, case02 by the run (its test case): the sources alternate case00, case03
    assert manifest["source_case"].tolist() == ["case00", "case00", "case03"]
    assert all(len(str(c).split(";")) == 2 for c in manifest["lesion_classes"])
    source, out = load_dataset(data), load_dataset(tmp_path / "out")
    for row in manifest.itertuples():
        original, new = source.load(row.source_case), out.load(row.case_id)
        assert np.allclose(original["meta"]["affine"], new["meta"]["affine"])
        added = new["label"][0] != original["label"][0]
        assert added.sum() == sum(int(v) for v in str(row.lesion_voxels).split(";")) > 0
        assert set(np.unique(new["label"][0][added])) <= {1, 2}
        assert np.all(original["label"][0][added] == 0)
    # re-running resumes: finished cases are kept
    stamp = (tmp_path / "out" / "images" / "case00_synles0000.nii.gz").stat().st_mtime_ns
    assert main(["synthesize", str(run), str(tmp_path / "out"), "--into", str(data), "--n", "3",
                 "--exclude-cases", "case01", "--lesions-per-case", "2", "--seed", "5"]) == 0
    assert (tmp_path / "out" / "images" / "case00_synles0000.nii.gz").stat().st_mtime_ns == stamp


def test_synthesize_into_keeps_the_runs_excluded_cases_out(trained_3d, tmp_path, capsys):
    data, run = trained_3d  # the run excluded case02 from its training
    assert main(["synthesize", str(run), str(tmp_path / "a"), "--into", str(data), "--n", "4"]) == 0
    assert "case02" not in set(pd.read_csv(tmp_path / "a" / "manifest.csv")["source_case"])
    assert "excluded from its training" in capsys.readouterr().err
    assert main(["synthesize", str(run), str(tmp_path / "b"), "--into", str(data), "--n", "1",
                 "--cases", "case02"]) == 2  # asked for by name: refused, naming the case
    assert "'case02' was excluded" in capsys.readouterr().err
    assert main(["synthesize", str(run), str(tmp_path / "c"), "--into", str(data), "--n", "4",
                 "--allow-excluded"]) == 0
    assert "case02" in set(pd.read_csv(tmp_path / "c" / "manifest.csv")["source_case"])
    assert "WARNING: --allow-excluded" in capsys.readouterr().err


def test_monai_transform_is_seeded_and_records_history(trained_3d):
    data, run = trained_3d
    case = load_dataset(data).load("case03")
    transform = RandLesionInsertiond(run, prob=1.0, n_lesions=(1, 2))
    outputs = []
    for _ in range(2):
        transform.set_random_state(seed=11)
        outputs.append(transform({"image": torch.as_tensor(case["image"]), "label": torch.as_tensor(case["label"]),
                                  "meta": case["meta"]}))
    assert torch.equal(outputs[0]["image"], outputs[1]["image"]) and torch.equal(outputs[0]["label"],
                                                                                 outputs[1]["label"])
    assert outputs[0]["label"].sum() > 0 and case["meta"]["history"] == []
    assert outputs[0]["meta"]["history"][-1]["name"] == "insert_synthetic_lesions"
    skipped = RandLesionInsertiond(LesionGenerator.from_run(run), prob=0.0)({"image": case["image"],
                                                                             "label": case["label"]})
    assert skipped["image"] is case["image"]


def test_insertion_refuses_mismatched_cases(trained_3d):
    data, run = trained_3d
    lesions = LesionGenerator.from_run(run)
    flat = {"image": np.zeros((1, 16, 16)), "id": "flat"}
    with pytest.raises(DataError, match="2D"):
        insert_synthetic_lesions(flat, lesions, 1, np.random.default_rng(0))


def test_train_then_synthesize_on_the_sample_data(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("train: {steps: 3, batch_size: 8, checkpoint_every: 3, sample_every: 3, n_samples: 3}\n"
                      "data: {patch_size: 16, jitter: 2}\n"
                      "model: {latent_dim: 16, g_channels: 8, d_channels: 8}\n")
    data = SAMPLE / "lesions2d"
    test_ids = "lesion-0000,lesion-0001,lesion-0002"
    assert main(["train", "lesion-gan", "--data", str(data), "--out", str(tmp_path / "run"), "--config", str(config),
                 "--no-progress", "--exclude-cases", test_ids]) == 0
    assert main(["synthesize", str(tmp_path / "run"), str(tmp_path / "out"), "--into", str(data), "--n", "2",
                 "--exclude-cases", test_ids]) == 0
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    assert manifest["source_case"].tolist() == ["lesion-0003", "lesion-0004"]
    written = nib.load(str(tmp_path / "out" / "images" / "lesion-0003_synles0000.nii.gz"))
    original = nib.load(str(data / "images" / "lesion-0003.nii.gz"))
    assert np.array_equal(written.affine, original.affine) and written.get_data_dtype() == original.get_data_dtype()
