"""Training runs and benchmarks own their folder: a second writer is refused with one line, a folder of
something else is refused, a run from before locks is adopted, what a killed run left is removed, and a
training killed with SIGKILL at random points resumes to the weights of an uninterrupted run."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from medgan.cli import main
from medgan.errors import DataError
from medgan.training.checkpoint import list_checkpoints
from medgan.training.loop import train
from tests.test_engine_interrupt import REPO, STEPS, train_in_process, worker
from tests.test_io_outdir import _lock_of
from tests.toy_family import ToyConfig

PIPELINE = REPO / "pipelines" / "demo.yaml"


def _config(steps: int = 4) -> ToyConfig:
    config = ToyConfig()
    config.train.steps, config.train.checkpoint_every, config.train.checkpoint_minutes = steps, 0, 0
    return config


def _held_by_another_process(folder: Path, command: str) -> subprocess.Popen:
    (folder / ".medgan").mkdir(parents=True, exist_ok=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    (folder / ".medgan" / "lock").write_text(json.dumps({**_lock_of(sleeper.pid), "command": command}))
    return sleeper


def test_a_second_training_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    sleeper = _held_by_another_process(run, "medgan train")
    try:
        with pytest.raises(DataError, match=rf"in use by medgan train \(pid {sleeper.pid} on "):
            train("toy-cycle", _config(), run)
        assert not (run / "config.yaml").exists() and not (run / "checkpoints").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_training_refuses_a_folder_of_something_else_and_adopts_an_old_run(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty and was not written by medgan"):
        train("toy-cycle", _config(), other)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]

    run = tmp_path / "run"
    train("toy-cycle", _config(4), run)
    (run / ".medgan" / "run.json").unlink()
    (run / ".medgan").rmdir()  # as a run folder written before medgan kept locks
    debris = run / "checkpoints" / ".step-00000006.abc.tmp"  # a checkpoint a kill cut short
    debris.mkdir()
    train("toy-cycle", _config(6), run, resume=True)
    assert [p.name for p in list_checkpoints(run / "checkpoints")][-1] == "step-00000006"
    assert not debris.exists() and json.loads((run / ".medgan" / "run.json").read_text())["command"] == "medgan train"


def test_a_second_benchmark_into_the_same_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench"
    sleeper = _held_by_another_process(out, "medgan benchmark")
    try:
        assert main(["benchmark", str(PIPELINE), "--quick", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"in use by medgan benchmark (pid {sleeper.pid} on " in err[0], err
        assert sorted(p.name for p in out.iterdir()) == [".medgan"]  # nothing written
    finally:
        sleeper.kill()
        sleeper.wait()


def test_training_killed_at_random_points_resumes_exactly(tmp_path: Path) -> None:
    """SIGKILL (no chance to checkpoint) twice at random moments; each resume starts from the last
    complete checkpoint, takes over the dead process's lock, and ends on the uninterrupted weights."""
    rng = random.Random(7)
    run = tmp_path / "run"
    train_in_process(tmp_path / "ref")
    for _ in range(2):
        process = worker(run, "--step-seconds", "0.02", "--checkpoint-every", "3",
                         *(["--resume"] if list_checkpoints(run / "checkpoints") else []))
        stats, lock = run / "stats.jsonl", run / ".medgan" / "lock"
        logged = len(stats.read_text().splitlines()) if stats.is_file() else 0
        target = rng.randrange(logged + 4, logged + 20)
        while process.poll() is None and not (lock.is_file() and f'"pid": {process.pid},' in lock.read_text()):
            time.sleep(0.01)  # the resumed worker has taken over the dead one's lock (and cut stats.jsonl back)
        while process.poll() is None and not (stats.is_file() and len(stats.read_text().splitlines()) >= target):
            time.sleep(0.01)
        assert process.poll() is None, process.communicate()[1][-2000:]
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert json.loads((run / ".medgan" / "lock").read_text())["pid"] == process.pid  # left behind
    train_in_process(run, resume=True)  # a live process takes over the dead one's lock
    a = load_file(str(list_checkpoints(tmp_path / "ref" / "checkpoints")[-1] / "networks.safetensors"))
    b = load_file(str(list_checkpoints(run / "checkpoints")[-1] / "networks.safetensors"))
    assert list_checkpoints(run / "checkpoints")[-1].name == f"step-{STEPS:08d}" and set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not list(run.rglob("*.tmp"))
