"""``medgan evaluate`` end to end on small folders, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medgan.cli import main
from tests.metrics_data import lesion_set, write_folder

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    return {name: write_folder(root / name, *lesion_set(12, seed=seed, size=32))
            for name, seed in (("real", 1), ("synthetic", 2), ("train", 3))}


def test_evaluate_end_to_end(folders, tmp_path, capsys) -> None:
    out = tmp_path / "eval"
    code = main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(folders["synthetic"]),
                 "--train", str(folders["train"]), "--out", str(out), "--segmenter-steps", "3"])
    assert code == 0
    document = json.loads((out / "metrics.json").read_text())
    assert set(document["metrics"]) == {"fid", "kid", "precision_recall", "diversity", "coverage",
                                        "memorisation", "plausibility"}
    assert document["inputs"]["train"]["cases"] == 12 and document["options"]["segmenter_steps"] == 3
    report = (out / "report.md").read_text()
    for heading in ("## Distribution distance", "## Diversity", "## Mode coverage", "## Memorisation",
                    "## Segmentation plausibility"):
        assert heading in report
    assert (out / "closest_pairs.png").is_file()
    captured = capsys.readouterr()
    assert "fid (radiomics):" in captured.out and "report written to" in captured.out
    # progress is visible off a terminal too: what was loaded, then one line per metric computed
    progress = [line for line in captured.err.splitlines() if line.startswith("evaluate: ")]
    assert progress[0] == "evaluate: loaded 12 real, 12 synthetic, 12 training case(s)"
    metric_lines = progress[1:]
    assert len(metric_lines) >= 7 and metric_lines[0].startswith("evaluate: metric 1/")
    assert any(" memorisation, " in line for line in metric_lines)


def test_metric_subset_and_unlabelled_synthetic(folders, tmp_path) -> None:
    unlabelled = tmp_path / "unlabelled"
    write_folder(unlabelled, lesion_set(6, seed=4, size=32)[0], None)
    out = tmp_path / "eval"
    assert main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(unlabelled), "--out", str(out),
                 "--metrics", "fid,kid"]) == 0
    document = json.loads((out / "metrics.json").read_text())
    assert set(document["metrics"]) == {"fid", "kid"} and not document["skipped"]


@pytest.mark.parametrize("extra,message", [
    (["--metrics", "fid,bogus"], "unknown metric 'bogus'"),
    (["--extractor", "vgg"], "unknown feature extractor 'vgg'"),
    (["--extractor", "inception", "--metrics", "fid"], "never downloads"),
])
def test_bad_options_are_one_line_errors(folders, tmp_path, capsys, extra, message) -> None:
    code = main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(folders["synthetic"]),
                 "--out", str(tmp_path / "eval"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_options_and_output_inside_input(folders, capsys) -> None:
    assert main(["evaluate", "--real", str(folders["real"])]) == 2
    assert "--synthetic, --out" in capsys.readouterr().err
    assert main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(folders["synthetic"]),
                 "--out", str(folders["real"] / "eval")]) == 2
    assert "inside the input dataset" in capsys.readouterr().err
    assert not (folders["real"] / "eval").exists()


def test_incompatible_sets_are_a_data_error(folders, tmp_path, capsys) -> None:
    volumes = tmp_path / "volumes"
    write_folder(volumes, *lesion_set(4, seed=5, size=12, dims=3))
    assert main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(volumes),
                 "--out", str(tmp_path / "eval")]) == 2
    assert "3D but real cases are 2D" in capsys.readouterr().err


def test_evaluate_on_sample_data(tmp_path) -> None:
    """The shipped 2D lesion slices against themselves: zero distance, no collapse, all memorised."""
    out = tmp_path / "eval"
    data = str(SAMPLE_DATA / "lesions2d")
    assert main(["evaluate", "--real", data, "--synthetic", data, "--out", str(out),
                 "--metrics", "fid,diversity,memorisation"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["fid"]["value"] == pytest.approx(0.0, abs=1e-6) and metrics["fid"]["real_split_baseline"] > 0
    assert not metrics["diversity"]["low_diversity"]
    assert metrics["memorisation"]["image_fraction_memorised"] == 1.0


def test_config_file_sets_options_and_unknown_key_fails(folders, tmp_path, capsys) -> None:
    config = tmp_path / "evaluate.yaml"
    config.write_text("metrics: [kid]\nkid_subsets: 3\nseed: 7\n")
    out = tmp_path / "eval"
    assert main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(folders["synthetic"]),
                 "--out", str(out), "--config", str(config)]) == 0
    document = json.loads((out / "metrics.json").read_text())
    assert list(document["metrics"]) == ["kid"] and document["options"]["seed"] == 7
    config.write_text("kid_subset: 3\n")
    assert main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(folders["synthetic"]),
                 "--out", str(out), "--config", str(config)]) == 2
    assert "unknown setting 'kid_subset'" in capsys.readouterr().err


def test_real_cases_repeated_in_train_are_refused(folders, tmp_path, capsys) -> None:
    real_i, real_l = lesion_set(12, seed=1, size=32)  # the real set's cases again, renamed, in another folder
    renamed = write_folder(tmp_path / "train", real_i[:3] + lesion_set(5, seed=9, size=32)[0],
                           real_l[:3] + lesion_set(5, seed=9, size=32)[1], prefix="other")
    code = main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(folders["synthetic"]),
                 "--train", str(renamed), "--out", str(tmp_path / "eval"), "--metrics", "memorisation"])
    err = capsys.readouterr().err
    assert code == 2 and "3 of 12 --real case(s) are also in --train (identical voxels: case000 = other000)" in err
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_memorisation_names_its_yardstick(folders, tmp_path, capsys) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(folders["synthetic"]),
                 "--train", str(folders["train"]), "--out", str(out), "--metrics", "memorisation"]) == 0
    printed = capsys.readouterr().out
    assert "yardstick: held-out real cases: each real case's nearest training case" in printed
    assert "case id(s) appear in both the real and the training set" in printed  # same names, other voxels
    assert "Yardstick: held-out real cases" in (out / "report.md").read_text()
    assert main(["evaluate", "--real", str(folders["real"]), "--synthetic", str(folders["synthetic"]),
                 "--out", str(tmp_path / "loo"), "--metrics", "memorisation"]) == 0
    assert "yardstick: the real set is the training set" in capsys.readouterr().out
