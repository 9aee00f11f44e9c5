"""Spatial transforms: geometry, identity at zero strength, labels, seeds, and kernel vs reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medgan.transforms import RandAffined, RandElasticd, RandFlipd, RandSpatiald, SamplingPlan
from medgan.transforms.spatial import resample_pair, resample_torch, rotation_matrix


def _blobs(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth float image and a blocky integer label map with values {0, 3, 7}."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    image = sum(np.sin((i + 2) * g + rng.uniform(0, 3)) for i, g in enumerate(grids)).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    label[(grids[0] > -0.4) & (grids[0] < 0.3) & (grids[1] > -0.5)] = 3
    label[(grids[0] > 0.1) & (grids[1] < 0.2)] = 7
    return image[None], label[None]


def _marker(shape: tuple[int, ...], at: tuple[int, ...]) -> np.ndarray:
    array = np.zeros((1, *shape), np.float32)
    array[(0, *at)] = 1.0
    return array


def _history(data: dict) -> list[dict]:
    return [{**h, "params": json.loads(h["params"])} for h in data["meta"]["history"]]


@pytest.mark.parametrize("dims", [2, 3])
def test_flip_moves_marker_to_mirrored_voxel(dims: int) -> None:
    shape = (10, 12, 14)[:dims]
    at = (2, 3, 4)[:dims]
    image = _marker(shape, at)
    label = image.astype(np.uint8) * 5
    out = RandFlipd(prob=1.0, axes=(0,))({"image": image, "label": label})
    expected = (shape[0] - 1 - at[0], *at[1:])
    assert np.unravel_index(np.argmax(out["image"][0]), shape) == expected
    assert out["image"][(0, *expected)] == 1.0 and out["label"][(0, *expected)] == 5
    assert _history(out)[0]["params"]["axes"] == [0]


def test_rotation_by_90_degrees_in_mm_space_with_anisotropic_voxels() -> None:
    # spacing (1, 1, 2): 6 voxels along y (6 mm) rotated by +90 deg about x land 6 mm = 3 voxels along z
    shape, centre = (9, 21, 11), (4, 10, 5)
    image = _marker(shape, (4, 16, 5))
    plan = SamplingPlan.identity(shape, (1.0, 1.0, 2.0))
    plan.then_affine(np.linalg.inv(rotation_matrix((90, 0, 0), 3)), np.zeros(3))
    out, _ = resample_pair(image, None, plan)
    peak = np.unravel_index(np.argmax(out[0]), shape)
    assert peak == (centre[0], centre[1], centre[2] + 3)
    assert out[0][peak] == pytest.approx(1.0, abs=1e-6)


def test_2d_rotation_by_90_degrees_moves_marker() -> None:
    shape = (15, 15)
    image = _marker(shape, (10, 7))
    plan = SamplingPlan.identity(shape, (1.0, 1.0))
    plan.then_affine(np.linalg.inv(rotation_matrix((90,), 2)), np.zeros(3))
    out, _ = resample_pair(image, None, plan)
    assert np.unravel_index(np.argmax(out[0]), shape) == (7, 10)


def test_random_rotation_moves_label_centroid_where_the_recorded_angles_say() -> None:
    shape, spacing = (32, 32, 24), (1.0, 1.0, 1.5)
    label = np.zeros((1, *shape), np.uint8)
    label[0, 20:23, 14:17, 15:18] = 1
    meta = {"spacing": spacing, "history": []}
    t = RandAffined(keys=("label",), mode="nearest", rotate=(20, 20, 20))
    t.set_random_state(7)
    out = t({"label": label, "meta": meta})
    angles = _history(out)[0]["params"]["rotate_deg"]
    s, c = np.asarray(spacing), (np.asarray(shape) - 1) / 2
    before = np.argwhere(label[0]).mean(axis=0)
    expected = (rotation_matrix(angles, 3) @ (s * (before - c))) / s + c
    after = np.argwhere(out["label"][0]).mean(axis=0)
    assert np.abs(after - expected).max() < 0.5


@pytest.mark.parametrize("dims", [2, 3])
def test_zero_strength_is_identity(dims: int) -> None:
    image, label = _blobs((20, 24, 16)[:dims])
    spatial = RandSpatiald([RandAffined(rotate=0, scale=(1, 1), translate=0, shear=0),
                            RandElasticd(magnitude_mm=0.0), RandFlipd(prob=0.0)])
    spatial.set_random_state(3)
    out = spatial({"image": image, "label": label})
    assert np.array_equal(out["image"], image) and np.array_equal(out["label"], label)
    elastic = RandElasticd(magnitude_mm=0.0)
    plan = SamplingPlan.identity(image.shape[1:], (1.0,) * dims)
    elastic.draw(plan)
    img_out, lab_out = resample_pair(image, label, plan)  # forced resampling: still exact
    assert np.array_equal(img_out, image) and np.array_equal(lab_out, label)


@pytest.mark.parametrize("label_mode", ["nearest", "label_linear"])
@pytest.mark.parametrize("dims", [2, 3])
def test_labels_keep_value_set_and_dtype(dims: int, label_mode: str) -> None:
    image, label = _blobs((24, 28, 20)[:dims])
    label = label.astype(np.int16)
    t = RandSpatiald([RandAffined(rotate=25, scale=(0.8, 1.2), shear=0.1, translate=3),
                      RandElasticd(magnitude_mm=3)], mode=("linear", label_mode))
    t.set_random_state(11)
    out = t({"image": image, "label": label})
    assert out["label"].dtype == np.int16 and out["image"].dtype == np.float32
    assert set(np.unique(out["label"])) <= {0, 3, 7}
    assert out["image"].shape == image.shape and out["label"].shape == label.shape
    assert not np.array_equal(out["label"], label)


def test_metatensor_keeps_affine_meta_and_type() -> None:
    image, label = _blobs((16, 18, 12))
    affine = torch.tensor([[-0.8, 0, 0, 10], [0, 0.9, 0, -5], [0, 0, 2.5, 3], [0, 0, 0, 1]],
                          dtype=torch.float64)
    data = {"image": MetaTensor(torch.from_numpy(image), affine=affine),
            "label": MetaTensor(torch.from_numpy(label), affine=affine)}
    t = RandSpatiald([RandAffined(rotate=10), RandElasticd(magnitude_mm=2), RandFlipd(axes=(0, 1, 2))])
    t.set_random_state(0)
    out = t(data)
    for key, dtype in (("image", torch.float32), ("label", torch.uint8)):
        assert isinstance(out[key], MetaTensor) and out[key].dtype == dtype
        assert torch.equal(out[key].affine, affine) and out[key].shape == data[key].shape


def test_same_seed_same_output_and_different_seed_different_output() -> None:
    image, label = _blobs((20, 20, 20))

    def run(seed: int) -> dict:
        t = RandSpatiald([RandAffined(rotate=15), RandElasticd(magnitude_mm=3), RandFlipd()])
        t.set_random_state(seed)
        return t({"image": image, "label": label})

    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["label"], b["label"])
    assert a["meta"]["history"] == b["meta"]["history"]
    assert not np.array_equal(a["image"], c["image"])


def test_flip_swaps_left_right_labels() -> None:
    label = np.zeros((1, 10, 6, 4), np.uint8)
    label[0, :5] = 1  # "left" structure
    label[0, 5:] = 2  # its mirror image on the right
    image = label.astype(np.float32) * np.arange(10, dtype=np.float32)[None, :, None, None]
    out = RandFlipd(prob=1.0, axes=(0,), swap_labels={1: 2, 2: 1})({"image": image, "label": label})
    assert np.array_equal(out["label"], label)  # mirrored anatomy + swapped names = same map
    assert np.array_equal(out["image"], image[:, ::-1])


def test_integer_image_keeps_dtype_and_torch_tensor_stays_tensor() -> None:
    image, label = _blobs((16, 16, 16))
    ct = torch.from_numpy((image * 300).astype(np.int16))
    t = RandAffined(rotate=10, mode=("linear", "nearest"))
    t.set_random_state(0)
    out = t({"image": ct, "label": torch.from_numpy(label)})
    assert isinstance(out["image"], torch.Tensor) and out["image"].dtype == torch.int16
    assert out["label"].dtype == torch.uint8


@pytest.mark.parametrize("dims", [2, 3])
def test_numba_kernel_matches_torch_grid_sample_reference(dims: int) -> None:
    """Same plan, two executors: images agree to float rounding; labels agree except where a
    coordinate lies within float32 rounding of a half-voxel, which only matters on a boundary
    between labels (grid_sample works on a float32 grid, the kernel in float64)."""
    image, label = _blobs((40, 44, 36)[:dims])
    plan = SamplingPlan.identity(image.shape[1:], (1.0, 1.2, 2.0)[:dims])
    t = RandSpatiald([RandAffined(rotate=15, scale=(0.9, 1.1), translate=2), RandElasticd(magnitude_mm=4),
                      RandFlipd(axes=(0,))])
    t.set_random_state(5)
    for op in t.transforms:
        op.draw(plan)
    fast_img, fast_lab = resample_pair(image, label, plan)
    ref_img = resample_torch(image, plan, "linear")
    ref_lab = resample_torch(label, plan, "nearest")
    assert np.abs(fast_img - ref_img).max() < 1e-4
    assert (fast_lab != ref_lab).mean() < 1e-3
    _, fast_soft = resample_pair(None, label, plan, label_mode="label_linear")
    assert (fast_soft != resample_torch(label, plan, "label_linear")).mean() < 1e-3
    outputs = []
    for backend in ("torch", "numba"):
        composed = RandSpatiald(t.transforms, backend=backend)
        composed.set_random_state(5)
        outputs.append(composed({"image": image, "label": label}))
    a, b = outputs
    assert np.abs(a["image"] - b["image"]).max() < 1e-4


def test_bspline_image_mode_runs_and_keeps_shape() -> None:
    image, label = _blobs((16, 16, 12))
    t = RandAffined(rotate=10, mode=("bspline", "nearest"))
    t.set_random_state(0)
    out = t({"image": image, "label": label})
    assert out["image"].shape == image.shape and out["image"].dtype == np.float32
    assert np.corrcoef(out["image"].ravel(), image.ravel())[0, 1] > 0.5


def test_bad_parameters_raise() -> None:
    with pytest.raises(ValueError, match="rotate"):
        RandAffined(rotate=-1)
    with pytest.raises(ValueError, match="scale"):
        RandAffined(scale=(1.2, 0.8))
    with pytest.raises(ValueError, match="control_points"):
        RandElasticd(control_points=2)
    with pytest.raises(ValueError, match="mode"):
        RandFlipd(mode="cubic")
