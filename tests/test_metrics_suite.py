"""The registered GAN-evaluation metrics on small synthetic 2D and 3D sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medgan.errors import ConfigError
from medgan.metrics.casesets import CaseSet
from medgan.metrics.context import EvaluateOptions
from medgan.metrics.evaluation import evaluate
from medgan.registry import METRICS
from medgan.reports.evaluation import evaluate_sets
from tests.metrics_data import lesion_set


def case_set(name: str, images, labels, prefix: str = "c") -> CaseSet:
    return CaseSet(name, Path(f"/nonexistent/{name}"), [f"{prefix}{i:03d}" for i in range(len(images))],
                   list(images), list(labels) if labels is not None else [None] * len(images), ("image",))


@pytest.fixture(scope="module")
def sets() -> dict[str, CaseSet]:
    """Training, real held-out and a second independent real sample, 2D, three classes."""
    train_i, train_l = lesion_set(30, seed=10)
    real_i, real_l = lesion_set(30, seed=11)
    other_i, other_l = lesion_set(30, seed=12)
    return {"train": case_set("train", train_i, train_l, "t"), "real": case_set("real", real_i, real_l, "r"),
            "other": case_set("synthetic", other_i, other_l, "s")}


def run(sets, synthetic: CaseSet, metrics: list[str], **options) -> dict:
    return evaluate(sets["real"], synthetic, sets["train"], EvaluateOptions(metrics=metrics, **options))


def test_metrics_are_registered() -> None:
    assert {"fid", "kid", "precision_recall", "diversity", "coverage", "memorisation", "plausibility"} <= set(
        METRICS.names())


def test_memorisation_copies_flagged_independent_sample_not(sets, tmp_path) -> None:
    train = sets["train"]
    copies = case_set("synthetic", train.images, train.labels, "copy")
    result = evaluate_sets(sets["real"], copies, train, EvaluateOptions(metrics=["memorisation"]), out=tmp_path)
    memo = result["metrics"]["memorisation"]
    assert memo["image_fraction_memorised"] == 1.0 and memo["feature_fraction_memorised"] == 1.0
    assert result["flags"] and "memorisation" in result["flags"][0]
    assert (tmp_path / "closest_pairs.png").stat().st_size > 1000
    assert memo["closest_pairs"][0]["ncc"] == pytest.approx(1.0)
    independent = run(sets, sets["other"], ["memorisation"])["metrics"]["memorisation"]
    assert independent["image_fraction_memorised"] <= 0.1
    assert independent["reference"] == "nearest training case of each real case"


def test_memorisation_without_training_set_uses_leave_one_out(sets) -> None:
    real = sets["real"]
    copies = case_set("synthetic", real.images[:10], real.labels[:10], "copy")
    memo = evaluate(real, copies, None, EvaluateOptions(metrics=["memorisation"]))["metrics"]["memorisation"]
    assert memo["training_set"] == "real" and memo["image_fraction_memorised"] == 1.0


@pytest.mark.parametrize("dims", [2, 3])
def test_collapsed_set_flagged_for_low_diversity(dims: int) -> None:
    size = 32 if dims == 2 else 16
    images, labels = lesion_set(12, seed=20, size=size, dims=dims)
    real = case_set("real", images, labels)
    other_i, other_l = lesion_set(12, seed=21, size=size, dims=dims)
    collapsed = case_set("synthetic", [other_i[0]] * 12, [other_l[0]] * 12)
    result = evaluate(real, collapsed, None, EvaluateOptions(metrics=["diversity"]))
    div = result["metrics"]["diversity"]
    assert div["low_diversity"] and div["synthetic_mean_similarity"] == pytest.approx(1.0)
    assert div["measure"] == ("MS-SSIM" if dims == 2 else "SSIM")
    assert any("low diversity" in flag for flag in result["flags"])
    fine = evaluate(real, case_set("synthetic", other_i, other_l), None, EvaluateOptions(metrics=["diversity"]))
    assert not fine["metrics"]["diversity"]["low_diversity"] and not fine["flags"]


def test_coverage_shows_a_dropped_class(sets) -> None:
    other = sets["other"]
    keep = [i for i, label in enumerate(other.labels) if label.max() != 2]
    dropped = case_set("synthetic", [other.images[i] for i in keep], [other.labels[i] for i in keep])
    result = run(sets, dropped, ["coverage"])
    cov = result["metrics"]["coverage"]
    assert cov["synthetic_predicted_share"]["2"] < 0.1 < cov["real_predicted_share"]["2"]
    assert cov["under_covered_classes"] == ["2"] and any("under-covered" in f for f in result["flags"])
    full = run(sets, other, ["coverage"])["metrics"]["coverage"]
    assert full["under_covered_classes"] == [] and full["synthetic_class_agreement"] > 0.8
    assert full["classifier_accuracy_real"] > 0.8


def test_distribution_metrics_identical_and_noise(sets) -> None:
    real = sets["real"]
    same = evaluate(real, real, None, EvaluateOptions(metrics=["fid", "kid", "precision_recall"]))["metrics"]
    assert same["fid"]["value"] == pytest.approx(0.0, abs=1e-6)
    assert same["kid"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert same["precision_recall"]["precision"] == 1.0
    rng = np.random.default_rng(0)
    noise = case_set("synthetic", [rng.uniform(0, 100, i.shape).astype(np.float32) for i in real.images],
                     real.labels)
    second = run(sets, sets["other"], ["fid"])["metrics"]["fid"]["value"]
    far = run(sets, noise, ["fid"])["metrics"]["fid"]["value"]
    assert far > 20 * second


def test_plausibility_mismatched_masks_score_lower(sets) -> None:
    other = sets["other"]
    shifted = [np.roll(label, 12, axis=(1, 2)) for label in other.labels]  # masks no longer on the lesions
    result = run(sets, case_set("synthetic", other.images, shifted), ["plausibility"], segmenter_steps=25)
    plaus = result["metrics"]["plausibility"]
    assert plaus["real_dice"]["foreground"] > 0.5  # held-out real pairs: the segmenter works
    assert plaus["synthetic_dice"]["foreground"] < 0.5 * plaus["real_dice"]["foreground"]
    assert not plaus["real_dice_is_in_sample"] and set(plaus["regions"]) == {"foreground", "1", "2", "3"}
    assert any("low plausibility" in f for f in result["flags"])


def test_same_seed_same_result(sets) -> None:
    options = {"diversity_pairs": 20, "kid_subset_size": 10, "kid_subsets": 5}
    one = run(sets, sets["other"], ["kid", "diversity"], **options)
    two = run(sets, sets["other"], ["kid", "diversity"], **options)
    assert one == two and one["metrics"]["kid"]["std"] > 0  # random subsets were drawn, identically
    three = run(sets, sets["other"], ["kid"], seed=1, **options)
    assert three["metrics"]["kid"]["value"] != one["metrics"]["kid"]["value"]


def test_requested_metric_that_does_not_apply_is_an_error(sets) -> None:
    unlabelled = case_set("real", sets["real"].images, None)
    with pytest.raises(ConfigError, match="does not apply"):
        evaluate(unlabelled, unlabelled, None, EvaluateOptions(metrics=["coverage"]))
    result = evaluate(unlabelled, unlabelled, None, EvaluateOptions(metrics=None, diversity_pairs=10))
    assert {"coverage", "plausibility"} <= set(result["skipped"]) and "fid" in result["metrics"]
    with pytest.raises(ConfigError, match="unknown metric"):
        evaluate(unlabelled, unlabelled, None, EvaluateOptions(metrics=["inception_score"]))
