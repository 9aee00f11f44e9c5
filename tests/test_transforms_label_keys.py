"""Label keys recognised by name (``seg``, ``mask``, ``gt`` ...) in every medgan transform and preset."""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from medgan.transforms import (
    RandAffined,
    RandElasticd,
    RandFlipd,
    RandGaussianNoised,
    RandSpatiald,
    build_pipeline,
    keys,
    presets,
)
from medgan.transforms.keys import is_label_key, split_keys


@pytest.mark.parametrize("name", ["label", "labels", "seg", "SEG", "mask", "gt", "seg_mask", "gtSeg",
                                  "label1", "brain-mask", "segmentation", "Labels"])
def test_label_names_are_recognised(name: str) -> None:
    assert is_label_key(name)


@pytest.mark.parametrize("name", ["image", "img", "t1", "flair", "brainmask", "masked_image", "segment_x",
                                  "target", 3])
def test_image_names_are_not_labels(name: object) -> None:
    assert not is_label_key(name)


def test_label_keys_and_names_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert split_keys(("img", "seg", "extra"), label_keys=("extra",)) == (("img",), ("seg", "extra"))
    assert split_keys(("img", "seg"), names=()) == (("img", "seg"), ())
    monkeypatch.setattr(keys, "LABEL_NAMES", ("roi",))
    assert is_label_key("roi") and not is_label_key("seg")


def _case(rng: np.random.Generator, image_key: str = "img", label_key: str = "seg") -> dict:
    label = np.zeros((1, 20, 18, 16), np.float32)  # float, as LoadImaged returns labels by default
    label[0, 5:14, 4:12, 3:11] = 1
    label[0, 7:11, 6:10, 5:9] = 2
    label[0, 8:10, 7:9, 6:8] = 3
    return {image_key: rng.normal(0, 1, label.shape).astype(np.float32), label_key: label}


@pytest.mark.parametrize("label_key", ["seg", "mask", "gt", "labels", "seg_mask"])
def test_preset_resamples_label_named_keys_as_labels(label_key: str) -> None:
    rng = np.random.default_rng(0)
    pipeline = presets.default(keys=("img", label_key), spatial_dims=3)
    pipeline.set_random_state(3)
    for _ in range(6):
        case = _case(rng, label_key=label_key)
        out = pipeline(case)
        assert set(np.unique(np.asarray(out[label_key]))) <= {0.0, 1.0, 2.0, 3.0}
        assert not np.array_equal(out["img"], case["img"])  # the image was augmented


def test_every_transform_defaults_to_label_mode_for_label_names() -> None:
    for t in (RandAffined(keys=("img", "seg")), RandElasticd(keys=("seg", "img")), RandFlipd(keys=("gt", "t1"))):
        modes = dict(zip(t.keys, t.mode, strict=True))
        assert modes == {k: ("nearest" if k in ("seg", "gt") else "linear") for k in t.keys}
    fused = RandSpatiald([RandAffined(rotate=20)], keys=("img", "mask"))
    assert fused.mode == ("linear", "nearest")
    rng = np.random.default_rng(1)
    case = _case(rng)
    t = RandAffined(keys=("seg", "img"), rotate=25, scale=(0.8, 1.2))
    t.set_random_state(0)
    out = t(case)
    assert set(np.unique(out["seg"])) <= {0.0, 1.0, 2.0, 3.0}


def test_intensity_transforms_skip_label_named_keys() -> None:
    case = _case(np.random.default_rng(2))
    t = RandGaussianNoised(keys=("img", "seg"), std=1.0)
    t.set_random_state(0)
    out = t(case)
    assert np.array_equal(out["seg"], case["seg"]) and not np.array_equal(out["img"], case["img"])


def test_explicit_label_keys_and_names_off() -> None:
    case = _case(np.random.default_rng(3), label_key="target")
    pipeline = build_pipeline({"transforms": [{"name": "affine", "rotate": 30}]}, keys=("img", "target"),
                              label_keys=("target",))
    pipeline.set_random_state(0)
    assert set(np.unique(pipeline(case)["target"])) <= {0.0, 1.0, 2.0, 3.0}
    # with recognition by name off, "seg" is an image: interpolated, and warned about
    keys._warned.discard("seg")
    keys._checks.pop("seg", None)
    plain = build_pipeline({"transforms": [{"name": "affine", "rotate": 30}]}, keys=("img", "seg"),
                           label_names=())
    plain.set_random_state(0)
    with pytest.warns(UserWarning, match="'seg'"):
        out = plain(_case(np.random.default_rng(3)))
    assert not set(np.unique(out["seg"])) <= {0.0, 1.0, 2.0, 3.0}


def test_integer_image_key_warns_once_naming_the_key() -> None:
    keys._warned.discard("annotation")
    keys._checks.pop("annotation", None)
    rng = np.random.default_rng(4)
    t = RandAffined(keys=("img", "annotation"), rotate=10)
    t.set_random_state(0)
    with pytest.warns(UserWarning, match="'annotation'") as record:
        t(_case(rng, label_key="annotation"))
    assert len([w for w in record if "annotation" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t(_case(rng, label_key="annotation"))  # second time: silent
        RandAffined(keys="t1", rotate=10)({"t1": rng.normal(0, 1, (1, 12, 12, 12)).astype(np.float32)})
        ct = {"img": rng.integers(-1000, 2000, (1, 12, 12, 12)).astype(np.int16)}
        RandGaussianNoised(keys="img", std=5.0)(ct)  # integer CT with many levels: silent


# -- the Project-MONAI tutorial 3d_segmentation/torch/unet_training_dict.py, with medgan's preset in it --

def _tutorial_files(root: Path, n: int = 4) -> list[dict[str, str]]:
    from monai.data import create_test_image_3d

    files = []
    for i in range(n):
        image, seg = create_test_image_3d(32, 32, 32, num_objs=6, rad_max=8, num_seg_classes=3, random_state=
                                          np.random.RandomState(i))
        affine = np.diag([1.2, 1.0, 1.5, 1.0])
        nib.save(nib.Nifti1Image(image, affine), root / f"img{i}.nii.gz")
        nib.save(nib.Nifti1Image(seg.astype(np.float32), affine), root / f"seg{i}.nii.gz")
        files.append({"img": str(root / f"img{i}.nii.gz"), "seg": str(root / f"seg{i}.nii.gz")})
    return files


def test_monai_unet_training_dict_with_medgan_preset(tmp_path: Path) -> None:
    from monai.data import DataLoader, Dataset, list_data_collate
    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, RandCropByPosNegLabeld, ScaleIntensityd

    files = _tutorial_files(tmp_path)
    inputs = {f["seg"]: set(np.unique(nib.load(f["seg"]).get_fdata()).tolist()) for f in files}
    assert all(len(v) >= 3 for v in inputs.values())
    train_transforms = Compose([
        LoadImaged(keys=["img", "seg"]),
        EnsureChannelFirstd(keys=["img", "seg"]),
        ScaleIntensityd(keys="img"),
        presets.default(keys=("img", "seg"), spatial_dims=3),  # medgan, with the tutorial's key names
        RandCropByPosNegLabeld(keys=["img", "seg"], label_key="seg", spatial_size=[24, 24, 24], pos=1, neg=1,
                               num_samples=2),
    ])
    train_transforms.set_random_state(0)
    dataset = Dataset(data=files, transform=train_transforms)
    loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=list_data_collate)
    draws, rotated = 0, 0
    for _ in range(3):
        for batch in loader:
            seg = batch["seg"]
            assert seg.dtype == torch.float32 and seg.shape[1:] == (1, 24, 24, 24)
            for sample, source in zip(seg, seg.meta["filename_or_obj"], strict=True):
                values = set(torch.unique(sample).tolist())
                assert values <= inputs[source], (source, values - inputs[source])
                draws += 1
            rotated += sum(int(h["applied"].sum()) for h in batch["meta"]["history"] if h["name"][0] == "affine")
    assert draws == 3 * len(files) * 2
    assert rotated > 0  # the spatial transforms did act on some draws
