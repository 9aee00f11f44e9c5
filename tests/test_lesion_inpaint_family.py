"""``lesion-inpaint`` on the family contract: ``medgan train`` / ``medgan synthesize`` through the command
line, its run config sections, its benchmark stage, and every bad input as one line with nothing written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from medgan.cli import main
from medgan.io import load_dataset
from medgan.registry import GAN_FAMILIES, SYNTHESIS_STAGES
from medgan.training.stage import FamilyStage
from tests.conftest import save_nifti
from tests.lesion_data import make_lesion_dataset

TINY = {"model": {"g_channels": 4, "d_channels": 4}, "train": {"batch_size": 2, "log_every": 1, "n_samples": 2,
                                                               "checkpoint_every": 2, "sample_every": 2}}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("inpaint_cli")
    data = make_lesion_dataset(root / "data", spatial_dims=3, n=2, size=32, healthy=1)
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "insert": {"inset_mm": 3.0}}))
    code = main(["train", "lesion-inpaint", "--data", str(data), "--out", str(root / "run"), "--config", str(config),
                 "--steps", "2", "--device", "cpu", "--no-progress"])
    assert code == 0
    return root, data, root / "run"


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_family_is_registered_with_a_generic_benchmark_stage():
    spec = GAN_FAMILIES.get("lesion-inpaint")
    assert spec.benchmark_stage and SYNTHESIS_STAGES.get("lesion-inpaint") is FamilyStage.for_family("lesion-inpaint")


def test_train_records_the_config_sections(cli_run):
    _, _, run = cli_run
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["family"] == "lesion-inpaint"
    assert {"data", "model", "train", "insert"} <= set(config)
    assert config["insert"]["inset_mm"] == 3.0 and config["data"]["label_values"] == [0, 1, 2]
    assert config["data"]["region_size"] and config["data"]["spacing"] == [1.5, 1.5, 1.5]


def test_synthesize_into_writes_cases_with_training_labels(cli_run, tmp_path, capsys):
    _, data, run = cli_run
    out = tmp_path / "out"
    assert main(["synthesize", str(run), str(out), "--into", str(data), "--n", "2", "--cases", "case02",
                 "--seed", "1"]) == 0
    rows = pd.read_csv(out / "manifest.csv")
    assert rows["source_case"].tolist() == ["case02", "case02"]
    assert f"montage: {out / 'montage.png'}" in capsys.readouterr().out
    assert (out / "montage.png").stat().st_size > 5_000
    written = load_dataset(out)
    for row in rows.itertuples():
        case = written.load(row.case_id)
        assert set(np.unique(case["label"]).tolist()) <= {0, 1, 2} and case["label"].any()


def test_bad_inputs_give_one_line_and_write_nothing(cli_run, tmp_path, capsys):
    root, data, run = cli_run
    # a mask source with a label value the model never saw
    masks = make_lesion_dataset(tmp_path / "masks", spatial_dims=3, n=1, size=32, healthy=0)
    label_file = masks / "labels" / "case00.nii.gz"
    label = np.zeros((32, 32, 32), np.uint8)
    label[10:16, 10:16, 10:16] = 5
    import nibabel as nib

    save_nifti(label_file, label, nib.load(masks / "images" / "case00.nii.gz").affine)
    out = tmp_path / "out1"
    assert main(["synthesize", str(run), str(out), "--into", str(data), "--n", "1", "--mask-source", str(masks)]) != 0
    err = _one_line_error(capsys)
    assert str(label_file) in err and "label value 5" in err and not out.exists()
    # a healthy case with no room for a lesion
    small = tmp_path / "small"
    save_nifti(small / "images" / "tiny.nii.gz", np.full((6, 6, 6), 100, np.int16), np.diag([1.5, 1.5, 1.5, 1.0]))
    save_nifti(small / "labels" / "tiny.nii.gz", np.zeros((6, 6, 6), np.uint8), np.diag([1.5, 1.5, 1.5, 1.0]))
    out = tmp_path / "out2"
    assert main(["synthesize", str(run), str(out), "--into", str(small), "--n", "1"]) != 0
    err = _one_line_error(capsys)
    assert "tiny" in err and "no place" in err and not out.exists()
    # a target dataset whose modalities differ from the run's
    other = tmp_path / "two_channels"
    for name in ("t1", "flair"):
        save_nifti(other / "images" / f"a_{name}.nii.gz", np.full((32,) * 3, 100, np.int16), np.eye(4))
    save_nifti(other / "labels" / "a.nii.gz", np.zeros((32,) * 3, np.uint8), np.eye(4))
    out = tmp_path / "out3"
    assert main(["synthesize", str(run), str(out), "--into", str(other), "--n", "1"]) != 0
    err = _one_line_error(capsys)
    assert str(other) in err and "modalities" in err and not out.exists()
    # a run folder of another family's settings under this family's name
    fake = tmp_path / "fake_run"
    fake.mkdir()
    (fake / "config.yaml").write_text(yaml.safe_dump({"family": "lesion-inpaint", "data": {"mask": "labels"}}))
    out = tmp_path / "out4"
    assert main(["synthesize", str(fake), str(out), "--into", str(data), "--n", "1"]) != 0
    err = _one_line_error(capsys)
    assert str(fake / "config.yaml") in err and "mask" in err and not out.exists()


def test_copy_paste_through_synthesize_writes_cases_and_montage_or_nothing(tmp_path, capsys):
    data = make_lesion_dataset(tmp_path / "data", spatial_dims=3, n=2, size=32, healthy=1)
    settings = tmp_path / "cp.yaml"
    settings.write_text(yaml.safe_dump({"inset_mm": 3.0, "border_mm": 3.0, "context_mm": 4.0, "margin_mm": 2.0}))
    out = tmp_path / "cp"
    assert main(["synthesize", "copy-paste", str(out), "--data", str(data), "--into", str(data), "--n", "2",
                 "--target-cases", "case02", "--exclude-cases", "case01", "--config", str(settings)]) == 0
    assert f"montage: {out / 'montage.png'}" in capsys.readouterr().out and (out / "montage.png").is_file()
    rows = pd.read_csv(out / "manifest.csv")
    assert rows["source_case"].tolist() == ["case02", "case02"] and set(rows["lesion_sources"]) == {"case00"}
    small = tmp_path / "small"
    save_nifti(small / "images" / "tiny.nii.gz", np.full((6, 6, 6), 100, np.int16), np.diag([1.5, 1.5, 1.5, 1.0]))
    save_nifti(small / "labels" / "tiny.nii.gz", np.zeros((6, 6, 6), np.uint8), np.diag([1.5, 1.5, 1.5, 1.0]))
    out = tmp_path / "cp_small"
    assert main(["synthesize", "copy-paste", str(out), "--data", str(data), "--into", str(small), "--n", "1"]) != 0
    assert "tiny" in _one_line_error(capsys) and not out.exists()
