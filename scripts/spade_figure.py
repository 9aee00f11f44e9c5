"""Draw the SPADE figure of docs/spade.md: label map -> synthetic images -> nearest real image.

    python scripts/spade_figure.py RUN DATA OUT.png [--rows 4] [--per-mask 3] [--mask-source augment]

Label maps are drawn from DATA with the mask source (default ``augment``), each gets ``--per-mask``
images (different noise), and the last column shows the real training image closest (L2 on the
[-1, 1] scale, middle slice for 3D) to the first synthetic image: a memorisation check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medgan.families.spade.data import intensity_scale  # noqa: E402
from medgan.families.spade.masks import build_mask_source  # noqa: E402
from medgan.families.spade.synthesis import SpadeSynthesizer  # noqa: E402
from medgan.io import load_dataset  # noqa: E402
from medgan.transforms.scaling import to_unit_range  # noqa: E402


def _slice(array: np.ndarray) -> np.ndarray:
    """First channel, middle slice along the last axis for 3D; shown with x downwards."""
    image = array[0]
    return (image[..., image.shape[-1] // 2] if image.ndim == 3 else image).T[::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--per-mask", type=int, default=3)
    parser.add_argument("--mask-source", default="augment")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    synth = SpadeSynthesizer.from_run(args.run)
    low, high = synth.config.data.intensity_low, synth.config.data.intensity_high
    dataset = load_dataset(args.data, modalities=synth.modalities)
    cases = [dataset.load(ref) for ref in dataset.cases if ref.label is not None]
    real = np.stack([_slice(to_unit_range(c["image"], *intensity_scale(c["image"]))) for c in cases])
    step = max(1, len(cases) // args.rows)
    context = [cases[i * step] for i in range(args.rows)]
    masks = build_mask_source(args.mask_source).masks(args.rows, args.seed, context)
    top = max(synth.config.data.label_values or [1])
    cols = args.per_mask + 2
    fig, axes = plt.subplots(args.rows, cols, figsize=(cols * 1.3, args.rows * 1.35))
    for row, (label, _meta) in enumerate(masks):
        images = synth.generate(label, torch.Generator().manual_seed(args.seed * 1000 + row), args.per_mask)
        shown = [_slice(to_unit_range(im, low, high)) for im in images]
        nearest = int(np.argmin(((real - shown[0][None]) ** 2).reshape(len(real), -1).sum(1)))
        panels = [(_slice(label.astype(np.float32)), "label map", (0, top))]
        panels += [(s, f"synthetic {k + 1}", (-1, 1)) for k, s in enumerate(shown)]
        panels += [(real[nearest], f"nearest real\n{cases[nearest]['id']}", (-1, 1))]
        for col, (picture, title, (vmin, vmax)) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(picture, cmap="viridis" if col == 0 else "gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0 or col == cols - 1:
                ax.set_title(title, fontsize=6)
    fig.tight_layout(pad=0.3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
