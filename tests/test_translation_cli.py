"""The translation commands end to end: train (CycleGAN 2D on the sample data, pix2pix 3D), resume,
translate a file and a dataset, evaluate on held-out cases, and the clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from medgan.cli import main
from tests.translation_data import TINY_CYCLEGAN, TINY_PIX2PIX, make_paired_brats

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "brats"
TEST_CASE = "BraTS-SIM-00015-000"


def config_file(tmp_path: Path, values: dict, name: str) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """Three sample cases (two to train on, one held out), copied so the tests stay small."""
    root = tmp_path_factory.mktemp("sample") / "brats"
    for case in ("BraTS-SIM-00000-000", "BraTS-SIM-00001-000", TEST_CASE):
        shutil.copytree(SAMPLE / case, root / case)
    return root


@pytest.fixture(scope="module")
def cyclegan_run(sample, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cyclegan")
    run = tmp / "run"
    config = config_file(tmp, TINY_CYCLEGAN, "tiny.yaml")
    assert main(["train", "cyclegan", "--data", str(sample), "--domain-a", "t1n", "--domain-b", "ct",
                 "--exclude-cases", TEST_CASE, "--config", str(config), "--out", str(run), "--steps", "1"]) == 0
    assert main(["train", "cyclegan", "--data", str(sample), "--domain-a", "t1n", "--domain-b", "ct",
                 "--exclude-cases", TEST_CASE, "--config", str(config), "--out", str(run), "--resume"]) == 0
    return run


def test_train_cyclegan_writes_a_resolved_run(cyclegan_run):
    saved = yaml.safe_load((cyclegan_run / "config.yaml").read_text())
    assert saved["family"] == "cyclegan" and saved["data"]["a"]["modality"] == "t1n"
    assert saved["data"]["exclude_cases"] == [TEST_CASE] and saved["data"]["n_cases_a"] == 2
    assert saved["data"]["patch_size"] == 64  # 56 x 64 slices, rounded up to a multiple of 4
    assert saved["data"]["a"]["intensity"]["reference"][1] > 0  # MR output scale fitted on training data
    assert (cyclegan_run / "checkpoints" / "step-00000002").is_dir()
    assert list((cyclegan_run / "samples").glob("*.png"))  # a, G(a), F(G(a)) grid


def test_translate_file_both_directions(cyclegan_run, sample, tmp_path):
    mr = sample / TEST_CASE / f"{TEST_CASE}-t1n.nii.gz"
    assert main(["translate", str(cyclegan_run), str(mr), str(tmp_path / "ct.nii.gz"), "--device", "cpu"]) == 0
    source, out = nib.load(str(mr)), nib.load(str(tmp_path / "ct.nii.gz"))
    assert out.shape == source.shape and np.allclose(out.affine, source.affine)
    assert out.get_data_dtype() == np.int16
    hu = np.asarray(out.dataobj)
    assert -1024 <= hu.min() and hu.max() <= 2048
    ct = sample / TEST_CASE / f"{TEST_CASE}-ct.nii.gz"
    assert main(["translate", str(cyclegan_run), str(ct), str(tmp_path / "mr.nii.gz"), "--direction", "b2a"]) == 0
    assert nib.load(str(tmp_path / "mr.nii.gz")).shape == source.shape


def test_translate_dataset_and_synthesize(cyclegan_run, sample, tmp_path):
    assert main(["translate", str(cyclegan_run), str(sample), str(tmp_path / "ct"), "--no-progress"]) == 0
    case = tmp_path / "ct" / TEST_CASE
    assert sorted(p.name for p in case.iterdir()) == [f"{TEST_CASE}-ct.nii.gz", f"{TEST_CASE}-seg.nii.gz"]
    seg_in = np.asarray(nib.load(str(sample / TEST_CASE / f"{TEST_CASE}-seg.nii.gz")).dataobj)
    assert np.array_equal(np.asarray(nib.load(str(case / f"{TEST_CASE}-seg.nii.gz")).dataobj), seg_in)
    assert (tmp_path / "ct" / "manifest.csv").is_file()
    assert main(["synthesize", str(cyclegan_run), str(tmp_path / "syn"), "--input", str(sample),
                 "--keep-channels", "--no-progress"]) == 0
    names = sorted(p.name for p in (tmp_path / "syn" / TEST_CASE).iterdir())
    assert len(names) == 6  # t1n t1c t2w t2f, ct replaced by the translation, seg
    t1c = f"{TEST_CASE}-t1c.nii.gz"
    assert (tmp_path / "syn" / TEST_CASE / t1c).read_bytes() != b"" and np.array_equal(
        np.asarray(nib.load(str(tmp_path / "syn" / TEST_CASE / t1c)).dataobj),
        np.asarray(nib.load(str(sample / TEST_CASE / t1c)).dataobj))
    ct = f"{TEST_CASE}-ct.nii.gz"
    assert np.array_equal(np.asarray(nib.load(str(tmp_path / "syn" / TEST_CASE / ct)).dataobj),
                          np.asarray(nib.load(str(tmp_path / "ct" / TEST_CASE / ct)).dataobj))


def test_evaluate_translation_on_held_out_cases(cyclegan_run, sample, tmp_path, capsys):
    assert main(["evaluate", "translation", str(cyclegan_run), str(sample), "--csv", str(tmp_path / "rows.csv"),
                 "--figure", str(tmp_path / "fig.png"), "--device", "cpu", "--checks", str(tmp_path / "c.json")]) == 0
    printed = capsys.readouterr().out
    assert "1 held-out case(s)" in printed and "identity" in printed and "MAE in HU" in printed
    assert "oracle (linear, fitted on the test case's own CT)" in printed
    assert "fitted on the run's 2 training case(s) only" in printed
    assert "Lesion preservation and HU plausibility" in printed
    rows = (tmp_path / "rows.csv").read_text().splitlines()
    methods = [r.split(",")[1] for r in rows[1:]]
    assert methods == ["model", "global-linear", "per-tissue", "identity", "oracle-linear"]
    assert all(TEST_CASE in r for r in rows[1:])
    assert (tmp_path / "fig.png").stat().st_size > 1000
    checks = json.loads((tmp_path / "c.json").read_text())
    assert checks["cases"] == 1 and set(checks["ranges"]["ranges"]) == {"air", "soft", "bone"}


def test_evaluate_refuses_training_cases(cyclegan_run, sample, capsys):
    assert main(["evaluate", "translation", str(cyclegan_run), str(sample), "--cases", "BraTS-SIM-00000-000"]) == 2
    assert "was used to train" in capsys.readouterr().err


def test_pix2pix_3d_end_to_end(tmp_path):
    data = make_paired_brats(tmp_path / "paired", n=3, shape=(20, 24, 18))
    values = {**TINY_PIX2PIX, "data": {"patch_size": 16}}
    config = config_file(tmp_path, values, "p.yaml")
    assert main(["train", "pix2pix", "--data", str(data), "--source", "t1n", "--target", "ct", "--spatial-dims", "3",
                 "--exclude-cases", "TR-002", "--config", str(config), "--out", str(tmp_path / "run")]) == 0
    assert main(["translate", str(tmp_path / "run"), str(data / "TR-002" / "TR-002-t1n.nii.gz"),
                 str(tmp_path / "ct.nii.gz")]) == 0
    assert nib.load(str(tmp_path / "ct.nii.gz")).shape == (20, 24, 18)
    assert main(["evaluate", "translation", str(tmp_path / "run"), str(data)]) == 0
    assert main(["translate", str(tmp_path / "run"), str(data), str(tmp_path / "o"), "--direction", "b2a"]) == 2


def test_clear_errors(tmp_path, sample, capsys):
    assert main(["train", "cyclegan", "--domain-a", "t1n", "--domain-b", "ct", "--out", str(tmp_path / "r")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["train", "cyclegan", "--data", str(sample), "--domain-a", "flair", "--domain-b", "ct",
                 "--out", str(tmp_path / "r")]) == 2
    assert "no modality 'flair'" in capsys.readouterr().err
    assert main(["translate", str(tmp_path), str(sample), str(tmp_path / "o")]) == 2
    assert "not a training run folder" in capsys.readouterr().err


def test_registers_as_a_mode_of_medgan_evaluate():
    """``medgan evaluate translation ...`` once evaluate.py lists the mode (its MODES mechanism)."""
    import argparse

    from medgan.commands import evaluate_translation

    top = argparse.ArgumentParser(prog="medgan")
    evaluate = top.add_subparsers(dest="command").add_parser("evaluate")
    evaluate_translation.register(evaluate.add_subparsers(dest="mode"))
    args = top.parse_args(["evaluate", "translation", "RUN", "DATA", "--cases", "a,b"])
    assert args.mode == "translation" and args.cases == ["a", "b"] and args.run is evaluate_translation.run
