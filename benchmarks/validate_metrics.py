"""Validate the evaluation metrics on real data: real-vs-real distance is small, and the distance
grows monotonically as one real half is degraded (blur, noise, intensity shift).

For each dataset and each split seed the real cases are split at random into halves A and B;
Fréchet distance and KID of B (clean, then degraded) against A are printed as Markdown, followed by
sanity checks of memorisation (copies of A vs the independent half B) and diversity (B vs one
B image repeated). Paste the output into docs/evaluation.md.

Example:
    PYTHONPATH=. python benchmarks/validate_metrics.py --data sample_data/lesions2d sample_data/brats
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from medgan.metrics.casesets import IntensityReference, load_case_set
from medgan.metrics.diversity import low_diversity, mean_pairwise_similarity
from medgan.metrics.features import build_extractor
from medgan.metrics.memorisation import memorised_fraction, ncc_matrix, nearest
from medgan.metrics.validation import DEGRADATIONS, degradation_curve, is_monotonic


def validate(path: Path, seeds: int, extractor_name: str, modalities: list[str] | None, options: dict) -> None:
    cases = load_case_set(path, "real", modalities=modalities)
    labels = cases.labels if cases.labelled else None
    extractor = build_extractor(extractor_name, **options)
    n = len(cases)
    print(f"\n### {path} ({n} cases, {cases.spatial_dims}D, {cases.channels} channel(s), extractor "
          f"`{extractor_name}`, {seeds} random half splits)\n")
    started = time.time()
    curves = []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(n)
        a, b = order[: n // 2], order[n // 2:]
        curves.append(degradation_curve(
            extractor, [cases.images[i] for i in a], None if labels is None else [labels[i] for i in a],
            [cases.images[i] for i in b], None if labels is None else [labels[i] for i in b], seed=seed))
    print("| set B | strength | Fréchet distance (mean ± sd) | KID (mean ± sd) |")
    print("|---|---|---|---|")
    for r, row in enumerate(curves[0]):
        fd = np.array([c[r].fid for c in curves])
        kid = np.array([c[r].kid for c in curves])
        label = "real (clean)" if row.kind == "none" else row.kind
        print(f"| {label} | {row.strength:g} | {fd.mean():.3f} ± {fd.std():.3f} | {kid.mean():.4f} ± {kid.std():.4f} |")
    print()
    for kind in DEGRADATIONS:
        fd_ok = sum(is_monotonic(c, kind, "fid") for c in curves)
        kid_ok = sum(is_monotonic(c, kind, "kid") for c in curves)
        print(f"- {kind}: Fréchet distance monotonic in {fd_ok}/{seeds} splits, KID in {kid_ok}/{seeds}")

    # memorisation and diversity sanity checks on the first split
    order = np.random.default_rng(0).permutation(n)
    a, b = order[: n // 2], order[n // 2:]
    scale = IntensityReference.fit([cases.images[i] for i in a])
    images = np.stack([scale.apply(i) for i in cases.images])
    ref = nearest(1 - ncc_matrix(images[a], images[a]), exclude_same=True).distance
    for name, query in (("copies of A", images[a]), ("independent half B", images[b])):
        fraction, threshold, _ = memorised_fraction(nearest(1 - ncc_matrix(query, images[a])).distance, ref, 1.0)
        print(f"- memorisation vs A (percentile 1, NCC threshold {1 - threshold:.3f}): {name} {fraction:.0%}")
    rng = np.random.default_rng(0)
    real_sim, _ = mean_pairwise_similarity(images[b], 200, rng)
    collapsed = np.repeat(images[b][:1], len(b), axis=0)
    collapsed_sim, _ = mean_pairwise_similarity(collapsed, 200, rng)
    print(f"- diversity: mean pairwise similarity of B {real_sim:.3f}; of B's first case repeated "
          f"{collapsed_sim:.3f} (flagged: {low_diversity(real_sim, collapsed_sim)}); real B flagged: "
          f"{low_diversity(real_sim, real_sim)}")
    print(f"- {time.time() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[Path("sample_data/lesions2d"),
                                                                  Path("sample_data/brats")])
    parser.add_argument("--seeds", type=int, default=3, help="random half splits per dataset")
    parser.add_argument("--extractor", default="radiomics")
    parser.add_argument("--inception-weights", type=Path)
    parser.add_argument("--inception-sha256")
    parser.add_argument("--modalities", help="comma-separated modalities (default: all)")
    args = parser.parse_args()
    options = ({"weights": args.inception_weights, "sha256": args.inception_sha256}
               if args.extractor == "inception" else {})
    modalities = args.modalities.split(",") if args.modalities else None
    for path in args.data:
        validate(path, args.seeds, args.extractor, modalities, options)


if __name__ == "__main__":
    main()
