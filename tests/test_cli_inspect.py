"""`medgan inspect` end to end on valid datasets of every layout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from medgan.cli import main
from tests.conftest import REPO, tree_digest


def test_inspect_valid_dataset_every_layout(any_dataset: tuple[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    layout, root = any_dataset
    before = tree_digest(root)
    csv = tmp_path / "report" / "cases.csv"
    assert main(["inspect", str(root), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert f"{layout} layout" in out and "dataset is valid" in out
    table = pd.read_csv(csv)
    assert set(table["status"]) == {"ok"}
    assert {"shape", "spacing", "orientation", "modalities", "label_values", "label_voxels"} <= set(table.columns)
    assert tree_digest(root) == before


def test_inspect_forced_wrong_format_fails_cleanly(any_dataset: tuple[str, Path], capsys) -> None:
    layout, root = any_dataset
    other = "brats" if layout != "brats" else "nnunet"
    assert main(["inspect", str(root), "--format", other]) != 0
    assert "Traceback" not in capsys.readouterr().err


def test_python_m_medgan_help() -> None:
    result = subprocess.run([sys.executable, "-m", "medgan", "--help"], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0 and "inspect" in result.stdout


def test_demo_quick_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'benchmark' / 'summary.md'}" in out and "dataset is valid" in out
    results = pd.read_csv(tmp_path / "benchmark" / "results.csv")
    from medgan.benchmark.pipeline import load_pipeline

    assert set(results["arm"]) == set(load_pipeline(REPO / "pipelines" / "demo.yaml").grid.arms)
    assert (tmp_path / "augmented" / "preview.png").is_file() and (tmp_path / "inspect.csv").is_file()
    synthetic = tmp_path / "benchmark" / "synthetic"
    for folder in ("copy-paste_k0_n6_s0", "k0_n6_s0"):  # the demo shows each stage's montage and gate
        assert f"montage ({folder}, realism gate " in out and f"{synthetic / folder / 'montage.png'}" in out
