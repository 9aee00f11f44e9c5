"""The figure and numbers of docs/consingan.md, "Harmonized copy-paste": the ``consingan-harmonize``
stage at its preset (60 steps) on the first 8 cases of sample_data/lesions2d, 4 cases; per case the
target, the naive paste, the harmonized case and their absolute difference, and how much the
harmonized image differs from the naive paste inside the lesion, in the blending ring and elsewhere.

    python docs/scripts/consingan_harmonize_figure.py [OUT.png] [WORKDIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import numpy as np
from scipy import ndimage

from medgan.io import load_dataset
from medgan.registry import SYNTHESIS_STAGES

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def main(out: Path, workdir: Path) -> None:
    dataset = load_dataset(REPO / "sample_data" / "lesions2d")
    cases = [dataset.load(ref) for ref in dataset.cases[:8]]
    stage = SYNTHESIS_STAGES.get("consingan-harmonize")({}, 2, "cpu")
    stage.fit(cases, workdir, 0)
    target = stage.targets[0]
    made, naive = stage.sample(4, 0, cases), stage.copy_paste.sample(4, 0, stage.targets)
    figure, axes = plt.subplots(4, 4, figsize=(8, 8))
    for row, (case, paste) in enumerate(zip(made, naive)):
        lesion = paste["label"][0] != target["label"][0]
        changed = np.any(paste["image"] != target["image"], axis=0) | lesion
        ring = (ndimage.distance_transform_edt(~changed) < 4) & ~lesion
        far = ndimage.distance_transform_edt(~changed) >= 4
        difference = np.abs(case["image"][0].astype(float) - paste["image"][0])
        print(f"case {row} ({target['id']}): mean |harmonized - naive| inside the lesion "
              f"{difference[lesion].mean():.1f}, in the ring {difference[ring].mean():.1f}, elsewhere max "
              f"{difference[far].max():.1f}; lesion mean "
              f"naive {paste['image'][0][lesion].mean():.1f}, harmonized {case['image'][0][lesion].mean():.1f} "
              f"(scan range {target['image'].min()}..{target['image'].max()})")
        for col, (image, title) in enumerate(((target["image"][0], "target"), (paste["image"][0], "naive paste"),
                                              (case["image"][0], "harmonized"), (difference, "|difference|"))):
            axes[row, col].imshow(np.rot90(image), cmap="gray")
            axes[row, col].set_title(title, fontsize=8)
            axes[row, col].axis("off")
    figure.tight_layout()
    figure.savefig(out, dpi=60)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images" / "consingan-harmonize.png",
         Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/consingan-harmonize-figure"))
