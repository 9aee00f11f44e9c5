"""medgan transforms as drop-in MONAI dictionary transforms."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.data import CacheDataset, DataLoader, MetaTensor
from monai.transforms import Compose, EnsureChannelFirstd, Invertd, LoadImaged, Orientationd, SaveImaged
from monai.utils import set_determinism

from medgan.transforms import RandAffined, RandElasticd, RandFlipd, RandGaussianNoised, RandSpatiald, presets

# not RAS, so Orientationd has something to undo
AFFINE = np.array([[-1.0, 0, 0, 20], [0, -1.0, 0, 10], [0, 0, 1.5, -4], [0, 0, 0, 1]])


def _files(tmp_path: Path, n: int = 4, shape: tuple[int, ...] = (24, 20, 16)) -> list[dict[str, str]]:
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        image = rng.normal(100, 20, shape).astype(np.float32)
        label = np.zeros(shape, np.uint8)
        label[6:14, 5:12, 4:10] = 1 + i % 3
        paths = {"image": tmp_path / f"case{i}_img.nii.gz", "label": tmp_path / f"case{i}_seg.nii.gz"}
        nib.save(nib.Nifti1Image(image, AFFINE), paths["image"])
        nib.save(nib.Nifti1Image(label, AFFINE), paths["label"])
        items.append({k: str(v) for k, v in paths.items()})
    return items


def _pipeline() -> Compose:
    return Compose([
        LoadImaged(keys=("image", "label"), dtype=None),
        EnsureChannelFirstd(keys=("image", "label")),
        presets.default(keys=("image", "label"), spatial_dims=3),
        RandSpatiald([RandAffined(rotate=10, prob=1.0), RandElasticd(magnitude_mm=3),
                      RandFlipd(axes=(0, 1))]),
        RandGaussianNoised(keys=("image",), std=5.0),
    ])


def _epochs(items: list[dict[str, str]], epochs: int = 2) -> list[list[dict]]:
    dataset = CacheDataset(items, transform=_pipeline(), cache_rate=1.0, num_workers=0, progress=False)
    loader = DataLoader(dataset, batch_size=2, num_workers=2, shuffle=False)
    return [[batch for batch in loader] for _ in range(epochs)]


def test_compose_cachedataset_dataloader_two_workers(tmp_path: Path) -> None:
    items = _files(tmp_path)
    set_determinism(seed=0)
    first = _epochs(items)
    set_determinism(seed=0)
    again = _epochs(items)
    set_determinism(seed=None)
    batch = first[0][0]
    assert isinstance(batch["image"], MetaTensor) and batch["image"].shape == (2, 1, 24, 20, 16)
    assert batch["label"].dtype == torch.uint8
    assert np.allclose(batch["image"].affine[0].numpy(), AFFINE)
    assert set(torch.unique(batch["label"]).tolist()) <= {0, 1, 2, 3}
    # random transforms are not cached: two epochs differ; set_determinism makes runs repeat
    assert not torch.equal(first[0][0]["image"], first[1][0]["image"])
    for a, b in zip(first, again, strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x["image"], y["image"]) and torch.equal(x["label"], y["label"])
    history = batch["meta"]["history"]
    assert [h["name"][0] for h in history][:3] == ["affine", "elastic", "flip"]


def test_invertd_and_saveimaged_still_work(tmp_path: Path) -> None:
    items = _files(tmp_path, n=1)
    pipeline = Compose([LoadImaged(keys=("image", "label"), dtype=None),
                        EnsureChannelFirstd(keys=("image", "label")),
                        Orientationd(keys=("image", "label"), axcodes="RAS"),
                        RandSpatiald([RandAffined(rotate=10), RandFlipd(axes=(0,))])])
    pipeline.set_random_state(1)
    out = pipeline(items[0])
    assert [op["class"] for op in out["image"].applied_operations] == ["Orientation"]
    inverted = Invertd(keys=("image",), transform=pipeline, orig_keys=("image",))(out)
    assert np.allclose(inverted["image"].affine.numpy(), AFFINE)
    SaveImaged(keys=("image",), output_dir=str(tmp_path / "saved"), output_postfix="aug",
               separate_folder=False, print_log=False)(inverted)
    saved = list((tmp_path / "saved").glob("*aug.nii.gz"))
    assert len(saved) == 1 and np.allclose(nib.load(saved[0]).affine, AFFINE)
