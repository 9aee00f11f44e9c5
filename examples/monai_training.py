"""A plain MONAI training script that uses medgan in a few lines: medgan's classic augmentation as a
MONAI transform, and real + synthetic cases mixed for training with the validation list untouched.

    python examples/monai_training.py --data sample_data/brats --synthetic runs/synthetic_cases

``--synthetic`` is any dataset medgan wrote (``medgan synthesize``, ``medgan augment``, a benchmark's
``synthetic/*/cases``); without it the script trains on real cases only. ``--quick`` runs a few steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from monai.metrics import DiceMetric
from monai.networks.nets import UNet
from monai.transforms import (
    AsDiscrete,
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    NormalizeIntensityd,
    RandSpatialCropd,
)
from monai.utils import set_determinism

from medgan.data import mix  # medgan: real + synthetic mixing, the benchmark's own rule
from medgan.io import load_dataset  # medgan: finds cases in folder / MSD / nnU-Net / BraTS layouts
from medgan.transforms import presets  # medgan: classic augmentation as MONAI dictionary transforms

MODALITIES = ["t1n", "t1c", "t2w", "t2f"]


def data_dicts(path: Path, modalities: list[str]) -> list[dict]:
    """MONAI data dictionaries (file paths) of a dataset's labelled cases."""
    dataset = load_dataset(path, modalities=modalities)
    return [{"image": [str(p) for p in ref.images], "label": str(ref.label), "id": ref.id}
            for ref in dataset.cases if ref.label is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "sample_data" / "brats")
    parser.add_argument("--synthetic", type=Path, help="a dataset of synthetic cases to mix in")
    parser.add_argument("--ratio", type=float, default=1.0, help="synthetic cases per real training case")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few steps on a few cases (for tests)")
    args = parser.parse_args()
    set_determinism(seed=args.seed)
    steps = 4 if args.quick else args.steps

    cases = data_dicts(args.data, MODALITIES)
    order = np.random.default_rng(args.seed).permutation(len(cases))
    val = [cases[i] for i in order[:3]]
    train = [cases[i] for i in order[3:]]
    if args.quick:
        train, val = train[:2], val[:1]
    if args.synthetic:
        synthetic = data_dicts(args.synthetic, MODALITIES)
        ratio = min(args.ratio, len(synthetic) / len(train))
        train = mix(train, synthetic, ratio=ratio, seed=args.seed)  # val stays real and untouched
    print(f"training on {len(train)} cases ({sum(d.get('synthetic', 0) for d in train)} synthetic), "
          f"validating on {len(val)}")

    load = [LoadImaged(keys=["image", "label"], image_only=True), EnsureChannelFirstd(keys=["image", "label"]),
            NormalizeIntensityd(keys="image", nonzero=True, channel_wise=True)]
    train_transforms = Compose(load + [presets.default(keys=("image", "label"), spatial_dims=3),
                                       RandSpatialCropd(keys=["image", "label"], roi_size=(32, 32, 32),
                                                        random_size=False)])
    # CacheDataset caches the deterministic loading and stops at the first random transform (medgan's).
    train_loader = DataLoader(CacheDataset(train, train_transforms, progress=False), batch_size=2, shuffle=True,
                              num_workers=0 if args.quick else 2)
    val_loader = DataLoader(CacheDataset(val, Compose(load), progress=False), batch_size=1)

    model = UNet(3, len(MODALITIES), 4, channels=(8, 16, 32, 64), strides=(2, 2, 2), num_res_units=1)
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    dice = DiceMetric(include_background=False, reduction="mean")
    step = 0
    while step < steps:
        for batch in train_loader:
            model.train()
            optimiser.zero_grad()
            loss = loss_fn(model(batch["image"]), batch["label"])
            loss.backward()
            optimiser.step()
            step += 1
            if step >= steps:
                break
    model.eval()
    to_onehot, to_pred = AsDiscrete(to_onehot=4), AsDiscrete(argmax=True, to_onehot=4)
    with torch.no_grad():
        for batch in val_loader:
            logits = sliding_window_inference(batch["image"], (32, 32, 32), 2, model)
            dice([to_pred(x) for x in logits], [to_onehot(y) for y in batch["label"]])
    print(f"validation Dice after {step} steps: {dice.aggregate().item():.4f}")


if __name__ == "__main__":
    main()
