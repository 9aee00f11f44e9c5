"""Lesion sizes in mm: extents, default region/patch sizes from the data, resampling to a spacing,
and lesion-GAN insertion into anisotropic scans."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from medgan.cli import main
from medgan.families._lesion_sizes import dcgan_patch_size, training_lesion_sizes
from medgan.io import load_dataset
from medgan.transforms.insertion import lesion_to_spacing
from medgan.transforms.lesion_extent import (
    component_extents_mm,
    lesion_extents_mm,
    region_shape,
    resample_to_spacing,
)
from tests.conftest import SAMPLE_DATA, save_nifti, tree_digest
from tests.lesion_data import make_lesion_dataset


def test_extents_are_in_mm_per_axis_on_anisotropic_voxels():
    label = np.zeros((20, 20, 10), np.uint8)
    label[2:8, 3:6, 1:3] = 2   # 6 x 3 x 2 voxels
    label[12:13, 12:13, 5:6] = 1  # one voxel: dropped by min_voxels
    extents = component_extents_mm(label, (1.0, 1.0, 2.0), min_voxels=2)
    assert extents.tolist() == [[6.0, 3.0, 4.0]]
    assert component_extents_mm(np.zeros((4, 4)), (1.0, 1.0)).shape == (0, 2)


def test_region_shape_converts_the_largest_lesion_plus_margin_to_voxels_of_any_spacing():
    extents = np.array([[30.0, 20.0, 10.0], [50.0, 40.0, 36.0]])
    # 50 + 2 x 5 mm = 60 mm: 60 voxels at 1 mm, rounded up to a multiple of 16
    assert region_shape(extents, (1.0, 1.0, 2.0), margin_mm=5.0, multiple=16) == (64, 64, 32)
    assert region_shape(extents, (3.0, 3.0, 6.0), margin_mm=5.0, multiple=4) == (20, 20, 8)
    assert region_shape(extents, (3.0, 3.0, 6.0), margin_mm=5.0, power_of_two=True, cubic=True) == (32, 32, 32)
    # a lower percentile gives a smaller region
    assert region_shape(extents, (1.0, 1.0, 1.0), percentile=0.0 + 1e-9)[0] <= 32
    with pytest.raises(ValueError, match="no lesion"):
        region_shape(np.zeros((0, 3)), (1.0, 1.0, 1.0))


def test_resampling_labels_keeps_their_values_and_physical_size():
    grid = np.indices((40, 40, 40)) - 19.5
    radius = np.sqrt((grid ** 2).sum(0))
    label = np.where(radius < 13, 2, 0).astype(np.uint8)[None]
    label[0][radius < 6] = 3
    for spacing in ((1.0, 1.0, 2.0), (3.0, 3.0, 6.0)):
        out = resample_to_spacing(label, (1.0, 1.0, 1.0), spacing, labels=True)
        assert out.dtype == np.uint8 and set(np.unique(out).tolist()) <= {0, 2, 3}
        volume = (out > 0).sum() * np.prod(spacing)
        assert abs(volume - (label > 0).sum()) / (label > 0).sum() < 0.25
    image = np.random.default_rng(0).normal(size=(2, 12, 12, 12)).astype(np.float32)
    assert resample_to_spacing(image, (1, 1, 1), (1, 1, 1)) is image
    assert resample_to_spacing(image, (1, 1, 1), (0.5, 2, 1)).shape == (2, 24, 6, 12)


def test_lesion_to_spacing_keeps_a_lesion_of_the_same_size_in_mm():
    patch_label = np.zeros((16, 16, 16), np.int16)
    patch_label[4:12, 4:12, 4:12] = 1
    patch_image = np.ones((2, 16, 16, 16), np.float32)
    image, label = lesion_to_spacing(patch_image, patch_label, (1.5, 1.5, 1.5), (1.5, 1.5, 6.0))
    assert image.shape == (2, 16, 16, 4) and label.shape == (16, 16, 4)
    assert component_extents_mm(label, (1.5, 1.5, 6.0)).tolist() == [[12.0, 12.0, 12.0]]
    same = lesion_to_spacing(patch_image, patch_label, None, (3.0, 3.0, 6.0))
    assert same[0] is patch_image and same[1] is patch_label


def test_default_patch_of_the_sample_tumours_holds_every_tumour_whole():
    dataset = load_dataset(SAMPLE_DATA / "brats")
    ids = [ref.id for ref in dataset.cases if ref.label is not None]
    sizes = training_lesion_sizes(dataset, ids, 3, min_voxels=5)
    assert sizes.spacing == (3.5, 3.5, 3.5)
    largest = sizes.extents_mm.max(0)
    assert largest.tolist() == [98.0, 87.5, 94.5]  # BraTS-SIM-00015: 28 x 25 x 27 voxels
    patch, jitter = dcgan_patch_size(sizes, jitter=4)
    assert patch == 32 and jitter == 2  # 28 voxels + jitter 2 on each side fit in 32
    cases = [dataset.load(i) for i in ids[:3]]
    assert np.allclose(lesion_extents_mm(cases, 5), np.concatenate(
        [component_extents_mm(c["label"], (3.5, 3.5, 3.5), 5) for c in cases]))


@pytest.fixture(scope="module")
def trained_gan(tmp_path_factory):
    root = tmp_path_factory.mktemp("sizes")
    data = make_lesion_dataset(root / "data", spatial_dims=3, n=3, size=32)
    config = root / "config.yaml"
    config.write_text("train: {steps: 2, batch_size: 4, checkpoint_every: 2, sample_every: 0, n_samples: 0}\n"
                      "data: {mask: labels}\n"
                      "model: {latent_dim: 8, g_channels: 4, d_channels: 4}\n")
    assert main(["train", "lesion-gan", "--data", str(data), "--out", str(root / "run"), "--config", str(config),
                 "--no-progress"]) == 0
    return data, root / "run"


def test_lesion_gan_records_spacing_and_lesion_sizes_and_sizes_its_patch_from_them(trained_gan):
    _, run = trained_gan
    config = yaml.safe_load((run / "config.yaml").read_text())["data"]
    assert config["spacing"] == [1.5, 1.5, 1.5]
    # blobs of radius < 3 voxels about a half-voxel centre: 6 voxels = 9 mm wide; 6 + 2 -> 8 voxels
    assert config["lesion_extent_mm"] == [9.0, 9.0, 9.0] and config["patch_size"] == 8
    assert config["jitter"] == 1


def test_synthesize_into_anisotropic_volumes_resamples_the_lesions(trained_gan, tmp_path):
    """3 x 3 x 6 mm-like volumes: the lesions are resampled to the target spacing, not placed in voxels."""
    data, run = trained_gan
    source = load_dataset(data)
    target = tmp_path / "aniso"
    for ref in source.cases:  # every case, resampled to 1.5 x 1.5 x 6 mm
        case = source.load(ref)
        affine = np.array(case["meta"]["affine"], float)
        affine[:3, 2] *= 4.0
        image = resample_to_spacing(case["image"], (1.5, 1.5, 1.5), (1.5, 1.5, 6.0))
        label = resample_to_spacing(case["label"], (1.5, 1.5, 1.5), (1.5, 1.5, 6.0), labels=True)
        save_nifti(target / "images" / f"{ref.id}.nii.gz", image[0].astype(np.int16), affine)
        save_nifti(target / "labels" / f"{ref.id}.nii.gz", label[0].astype(np.uint8), affine)
    before = tree_digest(target)
    out = tmp_path / "out"
    assert main(["synthesize", str(run), str(out), "--into", str(target), "--n", "3", "--seed", "1"]) == 0
    assert tree_digest(target) == before
    written, given = load_dataset(out), load_dataset(target)
    manifest = pd.read_csv(out / "manifest.csv")
    for row in manifest.itertuples():
        new, old = written.load(row.case_id), given.load(row.source_case)
        assert new["meta"]["spacing"] == pytest.approx((1.5, 1.5, 6.0))
        added = new["label"][0] != old["label"][0]
        assert added.any() and set(np.unique(new["label"][0][added]).tolist()) <= {1, 2}
        # an 8-voxel patch at 1.5 mm spans 12 mm: two 6 mm slices, not eight
        assert np.ptp(np.argwhere(added)[:, 2]) + 1 <= 2


def test_region_sizes_of_2d_lesions_use_the_in_plane_spacing():
    dataset = load_dataset(SAMPLE_DATA / "lesions2d")
    ids = [ref.id for ref in dataset.cases][:20]
    sizes = training_lesion_sizes(dataset, ids, 2, min_voxels=5)
    assert sizes.spacing == (3.0, 3.0) and sizes.extents_mm.shape[1] == 2
    patch, _ = dcgan_patch_size(sizes, jitter=4)
    assert patch == 16 and sizes.extents_mm.max() <= 14 * 3.0


def test_an_explicit_patch_that_cuts_lesions_is_kept_with_a_warning():
    from medgan.families.lesion_gan import LesionDataConfig
    from medgan.families.lesion_gan.sizes import resolve_patch_size

    dataset = load_dataset(SAMPLE_DATA / "brats")
    ids = [ref.id for ref in dataset.cases if ref.label is not None]
    data = LesionDataConfig(spatial_dims=3, patch_size=16)
    with pytest.warns(UserWarning, match="patch_size 16 cuts"):
        resolve_patch_size(data, dataset, ids)
    assert data.patch_size == 16 and data.lesion_extent_mm == [98.0, 87.5, 94.5]


def test_one_hot_linear_label_resampling_keeps_values_and_smooths_borders():
    label = np.zeros((1, 12, 12, 12), np.uint8)
    label[0, 3:9, 3:9, 3:9] = 2
    label[0, 5:7, 5:7, 5:7] = 3
    out = resample_to_spacing(label, (1.0, 1.0, 1.0), (0.5, 0.5, 0.5), labels="linear")
    assert out.shape == (1, 24, 24, 24) and out.dtype == np.uint8
    assert set(np.unique(out).tolist()) == {0, 2, 3}
    with pytest.raises(ValueError, match="labels must be"):
        resample_to_spacing(label, (1.0,) * 3, (2.0,) * 3, labels="cubic")
