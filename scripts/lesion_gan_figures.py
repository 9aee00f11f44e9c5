"""Draw the lesion-GAN figures of docs/lesion-gan.md from a run folder and a synthesized dataset.

    python scripts/lesion_gan_figures.py RUN SYNTH DATA OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medgan.families.lesion_gan.sampling import LesionGenerator  # noqa: E402
from medgan.families.lesion_gan.step import LesionGANStep  # noqa: E402
from medgan.io import load_dataset  # noqa: E402
from medgan.training.run import read_run_config  # noqa: E402


def real_vs_synthetic(run: Path, out: Path, per_class: int = 6) -> None:
    _, config = read_run_config(run)
    config.data.jitter = 0  # show whole patches
    step = LesionGANStep(config)
    lesions = LesionGenerator.from_run(run)
    classes = config.data.classes
    fig, axes = plt.subplots(2 * len(classes), per_class * 2, figsize=(per_class * 2 * 0.9, 2 * len(classes) * 0.95))
    generator = torch.Generator().manual_seed(0)
    for row, value in enumerate(classes):
        real_idx = np.flatnonzero(step.patches.classes == value)[:per_class]
        fakes = lesions.sample(per_class, generator, [value])
        for k in range(per_class):
            real_img, real_lab = step.patches.images[real_idx[k], 0], step.patches.labels[real_idx[k]]
            for col, (img, lab) in enumerate(((real_img, real_lab), (fakes[k].image[0], fakes[k].label))):
                ax_img, ax_lab = axes[2 * row, 2 * k + col], axes[2 * row + 1, 2 * k + col]
                ax_img.imshow(img.T[::-1], cmap="gray", vmin=-1, vmax=1)
                ax_lab.imshow((lab > 0).T[::-1], cmap="gray", vmin=0, vmax=1)
        axes[2 * row, 0].set_ylabel(f"class {value}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for k in range(per_class):
        axes[0, 2 * k].set_title("real", fontsize=7)
        axes[0, 2 * k + 1].set_title("GAN", fontsize=7)
    fig.tight_layout(pad=0.2)
    fig.savefig(out, dpi=80)


def inserted(synth: Path, data: Path, out: Path, n: int = 3) -> None:
    manifest = pd.read_csv(synth / "manifest.csv").head(n)
    source, new = load_dataset(data), load_dataset(synth)
    fig, axes = plt.subplots(n, 3, figsize=(6.6, 2.2 * n))
    for row, rec in enumerate(manifest.itertuples()):
        before, after = source.load(rec.source_case), new.load(rec.case_id)
        added = (after["label"][0] != before["label"][0])
        panels = [(before["image"][0], before["label"][0] > 0, "original + its labels"),
                  (after["image"][0], None, f"with synthetic lesion (class {rec.lesion_classes})"),
                  (after["image"][0], added, "inserted label")]
        for col, (img, overlay, title) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(img.T[::-1], cmap="gray")
            if overlay is not None:
                ax.imshow(np.ma.masked_where(~overlay.T[::-1], overlay.T[::-1]), cmap="autumn", alpha=0.5)
            ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout(pad=0.3)
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    run, synth, data, out_dir = (Path(a) for a in sys.argv[1:5])
    out_dir.mkdir(parents=True, exist_ok=True)
    real_vs_synthetic(run, out_dir / "lesion-gan-real-vs-synthetic.png")
    inserted(synth, data, out_dir / "lesion-gan-inserted.png")
