"""Figure for docs/pggan.md: three orthogonal mid-slices (image channel and label map) of real
volumes, resampled to the model grid, beside synthetic volumes of a pggan run.

Usage:
    python docs/scripts/pggan_figure.py RUN DATASET OUT.png [--n 3] [--seed 0] [--channel t1n]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from medgan.families.pggan.sampling import PGGANSampler  # noqa: E402
from medgan.families.pggan.volumes import resize_image, resize_label, volume_range  # noqa: E402
from medgan.io.datasets import load_dataset  # noqa: E402


def mid_slices(volume: np.ndarray) -> list[np.ndarray]:
    """Axial, coronal and sagittal mid-slices of an ``(X, Y, Z)`` RAS volume, ready for ``imshow``."""
    x, y, z = (s // 2 for s in volume.shape)
    return [volume[:, :, z].T, volume[:, y, :].T, volume[x, :, :].T]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channel", default="t1n")
    args = parser.parse_args()

    sampler = PGGANSampler.from_run(args.run)
    c = sampler.config.data.modalities.index(args.channel)
    shape = sampler.model_shape
    rows = []
    dataset = load_dataset(args.data, modalities=[args.channel])
    for ref in dataset.cases[:args.n]:
        case = dataset.load(ref)
        lo, hi = volume_range(case["image"])
        image = np.clip((resize_image(case["image"], shape)[0] - lo[0]) / (hi[0] - lo[0]), 0, 1)
        rows.append(("real " + ref.id[-9:-4], image, resize_label(case["label"], shape)[0]))
    for i, output in enumerate(sampler.generate(sampler.noise(args.n, args.seed))):
        case = sampler.to_case(output, grid="model")
        lo, hi = sampler.config.data.intensity_lo[c], sampler.config.data.intensity_hi[c]
        rows.append((f"synthetic {i}", np.clip((case["image"][c] - lo) / (hi - lo), 0, 1), case["label"][0]))
    top = max(sampler.config.data.label_values or [1])
    fig, axes = plt.subplots(len(rows), 6, figsize=(6 * 1.1, len(rows) * 1.15), dpi=90)
    for r, (name, image, label) in enumerate(rows):
        for k, (im, lab) in enumerate(zip(mid_slices(image), mid_slices(label))):
            axes[r, k].imshow(im, cmap="gray", origin="lower", vmin=0, vmax=1, interpolation="nearest")
            axes[r, 3 + k].imshow(lab, cmap="viridis", origin="lower", vmin=0, vmax=top, interpolation="nearest")
        axes[r, 0].set_ylabel(name, fontsize=7)
    for k, title in enumerate(["axial", "coronal", "sagittal"] * 2):
        axes[0, k].set_title(f"{args.channel if k < 3 else 'label'} {title}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(pad=0.3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
