"""Validate the evaluation metrics on real data: real-vs-real distance is small, and the distance
grows monotonically as one real half is degraded (blur, noise, intensity shift).

For each dataset and each split seed the real cases are split at random into halves A and B;
Fréchet distance and KID of B (clean, then degraded) against A are printed as Markdown (mean ± sd
over the splits), then, per split, the memorisation rate of copies of A and of the independent half
B against A, the diversity of B and of B's first case repeated, and which features carry the
distance at 2 % noise. Everything printed on stdout depends only on the data and ``--seeds``
(the run time goes to stderr), so a rerun prints the same bytes. Paste the output into
docs/evaluation.md.

Example:
    PYTHONPATH=. python benchmarks/validate_metrics.py --data sample_data/lesions2d
    PYTHONPATH=. python benchmarks/validate_metrics.py --data sample_data/brats --modalities t1c,t2f --pairs 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from medgan.metrics.casesets import IntensityReference, load_case_set
from medgan.metrics.distribution import frechet_distance, standardise
from medgan.metrics.diversity import low_diversity, mean_pairwise_similarity
from medgan.metrics.features import build_extractor
from medgan.metrics.memorisation import memorised_fraction, ncc_matrix, nearest
from medgan.metrics.validation import DEGRADATIONS, degradation_curve, degrade, is_monotonic


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` at random into halves A and B (the split of ``degradation_curve``'s callers)."""
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2:]


def feature_shares(extractor, images: list[np.ndarray], labels, a: np.ndarray, b: np.ndarray, seed: int
                   ) -> tuple[float, float, float]:
    """At 2 % noise on B: Fréchet distance, the largest single-feature mean shift (in A's sd) and the share
    of the distance carried by the squared mean shifts of the three most shifted features."""
    scale = IntensityReference.fit([images[i] for i in a], seed=seed)
    rng = np.random.default_rng([seed, DEGRADATIONS.index("noise"), 20])
    noisy = [degrade(images[i], "noise", 0.02, scale, rng) for i in b]
    sub = (lambda idx: None) if labels is None else (lambda idx: [labels[i] for i in idx])
    fa = extractor([scale.apply(images[i]) for i in a], sub(a))
    fb = extractor([scale.apply(x) for x in noisy], sub(b))
    za, zb = standardise(fa, fb)
    shift = np.abs(zb.mean(axis=0) - za.mean(axis=0))
    top = np.sort(shift)[::-1][:3]
    distance = frechet_distance(za, zb)
    return distance, float(top[0]), float(np.sum(top**2) / distance)


def validate(path: Path, seeds: int, extractor_name: str, modalities: list[str] | None, options: dict,
             pairs: int) -> None:
    started = time.time()
    cases = load_case_set(path, "real", modalities=modalities)
    labels = cases.labels if cases.labelled else None
    extractor = build_extractor(extractor_name, **options)
    n = len(cases)
    channels = f"{cases.channels} channel(s)" + (f" ({','.join(modalities)})" if modalities else "")
    print(f"\n### {path} ({n} cases, {cases.spatial_dims}D, {channels}, extractor `{extractor_name}`, "
          f"{seeds} random half splits of {n // 2} + {n - n // 2} cases)\n")
    curves = []
    for seed in range(seeds):
        a, b = halves(n, seed)
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

    print("\n| split | NCC threshold (1st percentile) | copies of A memorised | independent B memorised | "
          "similarity of B | of B's first case repeated (flagged) | 2 % noise: FD | largest feature shift (sd) "
          "| share of FD in 3 features |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in range(seeds):
        a, b = halves(n, seed)
        scale = IntensityReference.fit([cases.images[i] for i in a], seed=seed)
        images = np.stack([scale.apply(i) for i in cases.images])
        ref = nearest(1 - ncc_matrix(images[a], images[a]), exclude_same=True).distance
        rates = []
        for query in (images[a], images[b]):
            fraction, threshold, _ = memorised_fraction(nearest(1 - ncc_matrix(query, images[a])).distance, ref, 1.0)
            rates.append(fraction)
        rng = np.random.default_rng(seed)
        real_sim, _ = mean_pairwise_similarity(images[b], pairs, rng)
        collapsed = np.repeat(images[b][:1], len(b), axis=0)
        collapsed_sim, _ = mean_pairwise_similarity(collapsed, 3, rng)  # identical images: 3 pairs suffice
        distance, largest, share = feature_shares(extractor, list(cases.images), labels, a, b, seed)
        print(f"| {seed} | {1 - threshold:.3f} | {rates[0]:.0%} | {rates[1]:.0%} | {real_sim:.3f} | "
              f"{collapsed_sim:.3f} ({low_diversity(real_sim, collapsed_sim)}; real B: "
              f"{low_diversity(real_sim, real_sim)}) | {distance:.1f} | {largest:.1f} | {share:.0%} |")
    print(f"{path}: {time.time() - started:.0f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[Path("sample_data/lesions2d"),
                                                                  Path("sample_data/brats")])
    parser.add_argument("--seeds", type=int, default=3, help="random half splits per dataset")
    parser.add_argument("--extractor", default="radiomics")
    parser.add_argument("--inception-weights", type=Path)
    parser.add_argument("--inception-sha256")
    parser.add_argument("--modalities", help="comma-separated modalities (default: all)")
    parser.add_argument("--pairs", type=int, default=45, help="pairs of B cases for the diversity check")
    args = parser.parse_args()
    options = ({"weights": args.inception_weights, "sha256": args.inception_sha256}
               if args.extractor == "inception" else {})
    modalities = args.modalities.split(",") if args.modalities else None
    for path in args.data:
        validate(path, args.seeds, args.extractor, modalities, options, args.pairs)


if __name__ == "__main__":
    main()
