"""examples/monai_training.py, a plain MONAI script using medgan's transforms and mixing, runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from medgan.cli import main
from tests.conftest import REPO, SAMPLE_DATA


def test_monai_training_example_quick(tmp_path: Path) -> None:
    real = tmp_path / "real"
    for case in sorted((SAMPLE_DATA / "brats").iterdir())[:3]:
        if case.is_dir():
            shutil.copytree(case, real / case.name)
    assert main(["augment", str(real), str(tmp_path / "synthetic"), "--copies", "1", "--no-progress"]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(REPO / "examples" / "monai_training.py"), "--quick",
                             "--synthetic", str(tmp_path / "synthetic")], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training on 4 cases (2 synthetic)" in result.stdout
    assert "validation Dice after 4 steps:" in result.stdout
