"""Bad input to the translation commands: one line naming the file or case, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medgan.cli import main
from tests.translation_data import TINY_CYCLEGAN, make_paired_brats


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("bad")
    data = make_paired_brats(tmp / "d", n=3, shape=(20, 24, 6))
    config = tmp / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CYCLEGAN))
    run = tmp / "run"
    assert main(["train", "cyclegan", "--data", str(data), "--domain-a", "t1n", "--domain-b", "ct",
                 "--exclude-cases", "TR-002", "--config", str(config), "--out", str(run), "--steps", "1"]) == 0
    return data, run


def refused(capsys, *words: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for word in words:
        assert word in err, err


def test_ct_fed_to_an_mr_to_ct_run(setup, tmp_path, capsys):
    data, run = setup
    out = tmp_path / "x.nii.gz"
    assert main(["translate", str(run), str(data / "TR-002" / "TR-002-ct.nii.gz"), str(out)]) == 2
    refused(capsys, "TR-002-ct.nii.gz", "looks like CT")
    assert main(["translate", str(run), str(data), str(tmp_path / "o"), "--modality", "ct"]) == 2
    refused(capsys, "is CT, but the run translates MR")
    assert main(["evaluate", "translation", str(run), str(data), "--source", "ct"]) == 2
    refused(capsys, "TR-00", "is CT, but the run translates MR")
    assert not out.exists() and not (tmp_path / "o").exists()


def test_mr_fed_as_ct(setup, tmp_path, capsys):
    data, run = setup
    out = tmp_path / "x.nii.gz"
    assert main(["translate", str(run), str(data / "TR-002" / "TR-002-t1n.nii.gz"), str(out),
                 "--direction", "b2a"]) == 2
    refused(capsys, "TR-002-t1n.nii.gz", "does not look like CT")
    assert not out.exists()


def test_a_case_without_the_source_modality(setup, tmp_path, capsys):
    data, run = setup
    copy = tmp_path / "copy"
    make_paired_brats(copy, n=3, shape=(20, 24, 6))
    (copy / "TR-001" / "TR-001-t1n.nii.gz").unlink()
    out = tmp_path / "o"
    assert main(["translate", str(run), str(copy), str(out)]) == 2
    refused(capsys, "TR-001")
    assert not out.exists()


def test_a_ct_window_that_excludes_the_data(setup, tmp_path, capsys):
    data, _ = setup
    out = tmp_path / "r"
    assert main(["train", "cyclegan", "--data", str(data), "--domain-a", "t1n", "--domain-b", "ct",
                 "--ct-window", "3000,4000", "--steps", "1", "--out", str(out)]) == 2
    refused(capsys, "TR-000", "excludes the data")
    assert not out.exists()
