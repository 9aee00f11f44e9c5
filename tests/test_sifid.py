"""Per-position feature extractors (``medgan.metrics.spatial``) and SIFID."""

from __future__ import annotations

import numpy as np
import pytest

from medgan.errors import ConfigError
from medgan.metrics.spatial import SPATIAL_EXTRACTORS, build_spatial_extractor, grid_stride


@pytest.mark.parametrize("shape", [(2, 24, 20), (1, 12, 14, 10)])
def test_filterbank_gives_nine_features_per_channel_at_every_position(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).random(shape)
    features = build_spatial_extractor("filterbank")(image)
    assert features.shape == (int(np.prod(shape[1:])), 9 * shape[0])
    assert np.isfinite(features).all()
    # channel 0's smoothed intensity at sigma 1 is the first column, position order is C-order
    from scipy import ndimage

    assert np.allclose(features[:, 0], ndimage.gaussian_filter(image[0], 1.0, mode="nearest").ravel())


def test_filterbank_keeps_a_regular_grid_of_at_most_max_positions() -> None:
    assert grid_stride((64, 64), 65536) == 1
    assert grid_stride((56, 64, 56), 65536) == 2
    features = build_spatial_extractor("filterbank", max_positions=100)(np.zeros((1, 40, 40)))
    assert len(features) <= 100 and len(features) == 10 * 10


def test_an_unknown_spatial_extractor_is_a_config_error() -> None:
    assert "filterbank" in SPATIAL_EXTRACTORS.names()
    with pytest.raises(ConfigError, match="unknown spatial feature extractor 'nope'"):
        build_spatial_extractor("nope")


def _sifid(real: np.ndarray, synthetic: list[np.ndarray], **options) -> dict:
    from pathlib import Path

    from medgan.metrics.casesets import CaseSet
    from medgan.metrics.context import EvaluateOptions
    from medgan.metrics.evaluation import evaluate

    def case_set(name, images):
        return CaseSet(name, Path(f"/nonexistent/{name}"), [f"{name}{i}" for i in range(len(images))], list(images),
                       [None] * len(images), ("image",))

    result = evaluate(case_set("real", [real]), case_set("synthetic", synthetic), None,
                      EvaluateOptions(metrics=["sifid"], **options))
    return result["metrics"]["sifid"]


@pytest.mark.parametrize("dims", [2, 3])
def test_sifid_is_zero_for_the_image_itself_and_grows_with_noise_and_blur(dims: int) -> None:
    from scipy import ndimage

    from tests.metrics_data import lesion_set

    real = lesion_set(1, seed=4, size=40 if dims == 2 else 20, dims=dims)[0][0]
    itself = _sifid(real, [real, real.copy()])
    assert itself["value"] == pytest.approx(0.0, abs=1e-8) and itself["std"] == pytest.approx(0.0, abs=1e-8)
    assert itself["features"] == 9 and itself["positions"] == real[0].size and itself["n_synthetic"] == 2
    rng = np.random.default_rng(0)
    noise = [_sifid(real, [real + s * rng.normal(0, 1, real.shape).astype(np.float32) for _ in range(2)])["value"]
             for s in (1.0, 3.0, 10.0, 30.0)]
    blur = [_sifid(real, [ndimage.gaussian_filter(real, (0,) + (s,) * dims)])["value"] for s in (0.5, 1.0, 2.0, 4.0)]
    assert 0 < noise[0] < noise[1] < noise[2] < noise[3], noise
    assert 0 < blur[0] < blur[1] < blur[2] < blur[3], blur


def test_sifid_needs_one_real_case_and_reports_mean_and_std() -> None:
    from medgan.metrics.casesets import CaseSet
    from medgan.metrics.context import EvaluateOptions
    from medgan.metrics.evaluation import evaluate
    from medgan.metrics.report import render_report, summary_line
    from tests.metrics_data import lesion_set

    images = lesion_set(3, seed=5)[0]
    rng = np.random.default_rng(1)
    result = _sifid(images[0], [images[0] + rng.normal(0, 5, images[0].shape) for _ in range(3)])
    per_case = list(result["per_case"].values())
    assert result["value"] == pytest.approx(np.mean(per_case)) and result["std"] == pytest.approx(np.std(per_case))
    assert result["std"] > 0 and result["real_case"] == "real0"
    assert summary_line("sifid", result).startswith(f"sifid (filterbank): {result['value']:.4g} ± ")
    assert "## Single-image FID" in render_report({"metrics": {"sifid": result}})
    sets = [CaseSet(n, __import__("pathlib").Path(n), [f"{n}{i}" for i in range(3)], images, [None] * 3, ("image",))
            for n in ("real", "synthetic")]
    with pytest.raises(ConfigError, match="SIFID compares generated variations with the one real image"):
        evaluate(sets[0], sets[1], None, EvaluateOptions(metrics=["sifid"]))
    assert "sifid" in evaluate(sets[0], sets[1], None, EvaluateOptions(metrics=None, kid_subsets=2,
                                                                         segmenter_steps=1))["skipped"]


def test_medgan_evaluate_prints_sifid(tmp_path, capsys) -> None:
    import json

    from medgan.cli import main
    from tests.metrics_data import lesion_set, write_folder

    images, labels = lesion_set(3, seed=6)
    real = write_folder(tmp_path / "real", images[:1], labels[:1])
    synthetic = write_folder(tmp_path / "synthetic", images[1:], labels[1:])
    assert main(["evaluate", "--real", str(real), "--synthetic", str(synthetic), "--out", str(tmp_path / "eval"),
                 "--metrics", "sifid", "--spatial-extractor", "filterbank"]) == 0
    printed = capsys.readouterr().out
    document = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    value = document["metrics"]["sifid"]["value"]
    assert value > 0 and f"sifid: sifid (filterbank): {value:.4g} ± " in printed
    assert document["options"]["spatial_extractor"] == "filterbank"
    assert main(["evaluate", "--real", str(real), "--synthetic", str(synthetic), "--out", str(tmp_path / "e2"),
                 "--spatial-extractor", "nope"]) == 2
    assert "unknown spatial feature extractor 'nope'" in capsys.readouterr().err
