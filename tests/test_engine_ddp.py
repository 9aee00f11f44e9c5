"""Data-parallel training with two gloo processes launched by torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from medgan.training.checkpoint import list_checkpoints

REPO = Path(__file__).resolve().parents[1]


def test_two_gloo_processes_stay_in_step(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(REPO / "tests" / "ddp_worker.py"), str(tmp_path)]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert set(rank0) == set(rank1)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # each process saw half of each global batch of 4, then 2; together all of it
    assert (tmp_path / "rank0.txt").read_text() == "2 18"
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")][-1] == "step-00000006"
