"""The metrics of ``medgan evaluate``, registered by name in :data:`medgan.registry.METRICS`.

Each metric is a function ``metric(context) -> dict`` of JSON-friendly values; a ``"flags"`` entry
lists warnings for the report. A metric that does not apply to the inputs raises
:class:`~medgan.metrics.context.NotApplicable` with the reason.

Names: ``fid``, ``kid``, ``precision_recall``, ``diversity``, ``coverage``, ``memorisation``,
``plausibility``, ``sifid``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medgan.metrics.casesets import case_class
from medgan.metrics.context import EvaluationContext, NotApplicable
from medgan.registry import METRICS

#: metric order in reports (and the default set)
METRIC_ORDER = ("fid", "kid", "precision_recall", "diversity", "coverage", "memorisation", "plausibility", "sifid")


def _split_halves(ctx: EvaluationContext, features: np.ndarray, purpose: str) -> tuple[np.ndarray, np.ndarray]:
    order = ctx.rng(purpose).permutation(len(features))
    half = len(features) // 2
    return features[order[:half]], features[order[half:2 * half]]


def _real_split_baseline(ctx: EvaluationContext, real: np.ndarray, distance: Callable[[np.ndarray, np.ndarray], float],
                         purpose: str) -> float | None:
    if len(real) < 4:
        return None
    a, b = _split_halves(ctx, real, purpose)
    return distance(a, b)


def _sizes(ctx: EvaluationContext) -> dict[str, int]:
    return {"n_real": len(ctx.sets["real"]), "n_synthetic": len(ctx.sets["synthetic"])}


@METRICS.register("fid")
def fid(ctx: EvaluationContext) -> dict[str, Any]:
    """Fréchet distance between real and synthetic features (FID with Inception, FRD-like with radiomics)."""
    from medgan.metrics.distribution import frechet_distance

    real, synthetic = ctx.standardised_features("real", "synthetic")
    if len(real) < 2 or len(synthetic) < 2:
        raise NotApplicable("needs at least two real and two synthetic cases")
    return {"value": frechet_distance(real, synthetic), "extractor": ctx.extractor.name,
            "features": int(real.shape[1]),
            "real_split_baseline": _real_split_baseline(ctx, real, frechet_distance, "fid-split"), **_sizes(ctx)}


@METRICS.register("kid")
def kid(ctx: EvaluationContext) -> dict[str, Any]:
    """Kernel Inception Distance (unbiased MMD^2, cubic kernel) between real and synthetic features."""
    from medgan.metrics.distribution import kernel_inception_distance

    real, synthetic = ctx.standardised_features("real", "synthetic")
    if len(real) < 2 or len(synthetic) < 2:
        raise NotApplicable("needs at least two real and two synthetic cases")
    options = ctx.options

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return kernel_inception_distance(a, b, options.kid_subsets, options.kid_subset_size, ctx.rng("kid"))[0]

    mean, std = kernel_inception_distance(real, synthetic, options.kid_subsets, options.kid_subset_size,
                                          ctx.rng("kid"))
    return {"value": mean, "std": std, "extractor": ctx.extractor.name,
            "real_split_baseline": _real_split_baseline(ctx, real, distance, "kid-split"), **_sizes(ctx)}


@METRICS.register("precision_recall")
def precision_recall(ctx: EvaluationContext) -> dict[str, Any]:
    """Improved precision (fidelity) and recall (coverage) of distributions in feature space."""
    from medgan.metrics.distribution import precision_recall as pr

    real, synthetic = ctx.standardised_features("real", "synthetic")
    k = ctx.options.pr_k
    if len(real) <= k or len(synthetic) <= k:
        raise NotApplicable(f"needs more than k={k} real and synthetic cases")
    precision, recall = pr(real, synthetic, k)
    return {"precision": precision, "recall": recall, "k": k, "extractor": ctx.extractor.name}


@METRICS.register("diversity")
def diversity(ctx: EvaluationContext) -> dict[str, Any]:
    """Mean pairwise MS-SSIM (2D) / SSIM (3D) within the real and within the synthetic set."""
    from medgan.metrics.diversity import low_diversity, mean_pairwise_similarity

    if len(ctx.sets["real"]) < 2 or len(ctx.sets["synthetic"]) < 2:
        raise NotApplicable("needs at least two real and two synthetic cases")
    pairs = ctx.options.diversity_pairs
    real, n_real = mean_pairwise_similarity(ctx.images("real"), pairs, ctx.rng("diversity-real"))
    synthetic, n_syn = mean_pairwise_similarity(ctx.images("synthetic"), pairs, ctx.rng("diversity-synthetic"))
    low = low_diversity(real, synthetic, ctx.options.diversity_ratio)
    result: dict[str, Any] = {
        "measure": "MS-SSIM" if ctx.spatial_dims == 2 else "SSIM",
        "real_mean_similarity": real, "synthetic_mean_similarity": synthetic,
        "dissimilarity_ratio": (1 - synthetic) / (1 - real) if real < 1 else None,
        "pairs_real": n_real, "pairs_synthetic": n_syn, "low_diversity": low, "flags": [],
    }
    if low:
        result["flags"].append(f"low diversity (possible mode collapse): synthetic 1 - similarity "
                               f"{1 - synthetic:.3f} is below {ctx.options.diversity_ratio} x real {1 - real:.3f}")
    return result


@METRICS.register("coverage")
def coverage(ctx: EvaluationContext) -> dict[str, Any]:
    """Class histogram predicted on synthetic cases by a classifier trained on real classes."""
    from medgan.metrics.coverage import cross_fitted_predictions, histogram, train_classifier, under_covered

    role = ctx.training_role
    labels = ctx.labels(role)
    if labels is None:
        raise NotApplicable(f"needs labelled {role} cases (the class of a case is its most frequent label value)")
    classes = np.array([case_class(label) for label in labels])
    values = np.unique(classes)
    if len(values) < 2:
        raise NotApplicable(f"needs at least two classes in the {role} cases; found {values.tolist()}")
    train_features = ctx.features(role)
    classifier = train_classifier(train_features, classes)
    real_labels = ctx.labels("real")
    real_classes = None if real_labels is None else np.array([case_class(label) for label in real_labels])
    if ctx.real_is_training:
        folds = int(min(5, np.bincount(np.searchsorted(values, classes)).max(), len(classes)))
        real_pred = cross_fitted_predictions(train_features, classes, max(folds, 2), ctx.rng("coverage"))
        real_source = "cross-fitted (out-of-fold) predictions on the real set"
    else:
        real_pred = classifier.predict(ctx.features("real"))
        real_source = "predictions on the held-out real set"
    synthetic_pred = classifier.predict(ctx.features("synthetic"))
    real_share, synthetic_share = histogram(real_pred, values), histogram(synthetic_pred, values)
    missing = under_covered(real_share, synthetic_share, ctx.options.coverage_ratio)
    result: dict[str, Any] = {
        "classes": [int(v) for v in values],
        "training_true_share": histogram(classes, values),
        "real_predicted_share": real_share,
        "synthetic_predicted_share": synthetic_share,
        "total_variation": 0.5 * float(sum(abs(real_share[c] - synthetic_share[c]) for c in real_share)),
        "real_predictions": real_source,
        "classifier_accuracy_real": None if real_classes is None else float(np.mean(real_pred == real_classes)),
        "under_covered_classes": missing,
        "flags": [],
    }
    synthetic_labels = ctx.labels("synthetic")
    if synthetic_labels is not None:
        intended = np.array([case_class(label) for label in synthetic_labels])
        result["synthetic_intended_share"] = histogram(intended, values)
        result["synthetic_class_agreement"] = float(np.mean(synthetic_pred == intended))
    if missing:
        result["flags"].append(f"under-covered classes {missing}: synthetic share below "
                               f"{ctx.options.coverage_ratio} x real share")
    return result


@METRICS.register("memorisation")
def memorisation(ctx: EvaluationContext) -> dict[str, Any]:
    """Nearest training case of each synthetic case, against real-to-training nearest-neighbour distances."""
    from medgan.metrics.memorisation import feature_distances, memorised_fraction, ncc_matrix, nearest

    role = ctx.training_role
    options = ctx.options
    if len(ctx.sets["real"]) < 2:
        raise NotApplicable("needs at least two real cases for the real-to-real reference")
    synthetic, training, real = ctx.images("synthetic"), ctx.images(role), ctx.images("real")
    syn_nn = nearest(1.0 - ncc_matrix(synthetic, training))
    if ctx.real_is_training:
        ref_nn = nearest(1.0 - ncc_matrix(real, real), exclude_same=True)
    else:
        ref_nn = nearest(1.0 - ncc_matrix(real, training))
    fraction, threshold, flags = memorised_fraction(syn_nn.distance, ref_nn.distance, options.memorisation_percentile)

    f_syn, f_train, f_real = ctx.standardised_features("synthetic", role, "real")
    fsyn_nn = nearest(feature_distances(f_syn, f_train))
    fref_nn = (nearest(feature_distances(f_real, f_real), exclude_same=True) if ctx.real_is_training
               else nearest(feature_distances(f_real, f_train)))
    f_fraction, f_threshold, _ = memorised_fraction(fsyn_nn.distance, fref_nn.distance, options.memorisation_percentile)

    syn_ids, train_ids = ctx.sets["synthetic"].ids, ctx.sets[role].ids
    order = np.argsort(syn_nn.distance)[: options.closest_pairs]
    closest = [{"synthetic": syn_ids[i], "training": train_ids[syn_nn.index[i]], "ncc": float(1 - syn_nn.distance[i]),
                "memorised": bool(flags[i]), "synthetic_index": int(i), "training_index": int(syn_nn.index[i])}
               for i in order]
    result: dict[str, Any] = {
        "training_set": role,
        "percentile": options.memorisation_percentile,
        "image_ncc_threshold": 1.0 - threshold,
        "image_fraction_memorised": fraction,
        "synthetic_nn_ncc_median": float(np.median(1 - syn_nn.distance)),
        "real_nn_ncc_median": float(np.median(1 - ref_nn.distance)),
        "feature_distance_threshold": f_threshold,
        "feature_fraction_memorised": f_fraction,
        "closest_pairs": closest,
        "reference": ("leave-one-out nearest neighbours within the real set" if ctx.real_is_training
                      else "nearest training case of each real case"),
        "yardstick": ("the real set is the training set: each real case's nearest other real case "
                      "(leave-one-out)" if ctx.real_is_training else
                      "held-out real cases: each real case's nearest training case"),
        "flags": [],
    }
    if fraction > options.memorisation_flag:
        result["flags"].append(f"possible memorisation: {fraction:.0%} of synthetic cases are closer (NCC) to a "
                               f"training case than percentile {options.memorisation_percentile:g} of real cases")
    return result


@METRICS.register("plausibility")
def plausibility(ctx: EvaluationContext) -> dict[str, Any]:
    """Dice of a U-Net trained on real image + label pairs, on synthetic pairs against real pairs."""
    from medgan.metrics.plausibility import SegmenterSettings, mean_dice, plausibility_regions, train_segmenter

    role = ctx.training_role
    train_labels, syn_labels = ctx.labels(role), ctx.labels("synthetic")
    if train_labels is None or syn_labels is None:
        raise NotApplicable(f"needs labelled {role} and synthetic cases")
    values = [int(v) for v in np.unique(train_labels) if v != 0]
    if not values:
        raise NotApplicable(f"the {role} labels have no foreground")
    settings = SegmenterSettings(steps=ctx.options.segmenter_steps)
    predict = train_segmenter(ctx.images(role), train_labels, max(values) + 1, ctx.options.seed, settings)
    regions = plausibility_regions(values)
    synthetic = mean_dice(predict(ctx.images("synthetic")), syn_labels, regions)
    real_labels = ctx.labels("real")
    real = None if real_labels is None else mean_dice(predict(ctx.images("real")), real_labels, regions)
    result: dict[str, Any] = {
        "regions": {k: list(v) for k, v in regions.items()},
        "synthetic_dice": synthetic,
        "real_dice": real,
        "real_dice_is_in_sample": ctx.real_is_training,
        "segmenter": {"network": "MONAI UNet", "channels": list(settings.channels), "steps": settings.steps,
                      "batch_size": settings.batch_size, "learning_rate": settings.learning_rate},
        "flags": [],
    }
    if real is not None and synthetic["foreground"] < ctx.options.plausibility_ratio * real["foreground"]:
        result["flags"].append(f"low plausibility: segmenter Dice on synthetic pairs {synthetic['foreground']:.3f} is "
                               f"below {ctx.options.plausibility_ratio} x real {real['foreground']:.3f}")
    return result


@METRICS.register("sifid")
def sifid(ctx: EvaluationContext) -> dict[str, Any]:
    """Single-image FID (Shaham et al. 2019): each synthetic case against the one real case, in
    per-position features (``options.spatial_extractor``); mean and standard deviation over the
    synthetic cases."""
    from medgan.metrics.distribution import single_image_fid

    real, synthetic = ctx.sets["real"], ctx.sets["synthetic"]
    if len(real) != 1:
        raise NotApplicable(f"SIFID compares generated variations with the one real image they come from; the real "
                            f"set holds {len(real)} cases (give a dataset of that one case as the real set)")
    reference = ctx.spatial_features("real")[0]
    if len(reference) < 2:
        raise NotApplicable("the real image has fewer than two feature positions")
    values = np.array([single_image_fid(reference, f) for f in ctx.spatial_features("synthetic")])
    return {"value": float(values.mean()), "std": float(values.std()), "extractor": ctx.spatial_extractor.name,
            "features": int(reference.shape[1]), "positions": int(reference.shape[0]),
            "per_case": {case_id: float(v) for case_id, v in zip(synthetic.ids, values)},
            "real_case": real.ids[0], **_sizes(ctx)}
