"""Runs you can see and keep: plain progress lines off a terminal, checkpoints by wall-clock time, and
a training process stopped by SIGINT and by SIGTERM that leaves a checkpoint and resumes to the same
weights as an uninterrupted run."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from medgan.training.checkpoint import list_checkpoints
from medgan.training.loop import Trainer
from medgan.training.progress import Progress, format_duration
from tests.toy_family import ToyConfig, ToyCycleStep

REPO = Path(__file__).resolve().parents[1]
STEPS = 60


def worker(run: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / "tests" / "engine_worker.py"), str(run), str(STEPS), *extra]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_when_logged(process: subprocess.Popen, run: Path, lines: int, sig: int) -> str:
    """Send ``sig`` once ``stats.jsonl`` has ``lines`` lines; return the process's stderr."""
    deadline = time.monotonic() + 120
    stats = run / "stats.jsonl"
    while not (stats.is_file() and len(stats.read_text().splitlines()) >= lines):
        assert process.poll() is None, process.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.05)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    return err


def last_checkpoint(run: Path) -> Path:
    return list_checkpoints(run / "checkpoints")[-1]


def train_in_process(run: Path, resume: bool = False) -> None:
    """The worker's run in this process, on one thread as the worker (so results compare bit for bit)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = ToyConfig()
        config.train.steps, config.train.checkpoint_every, config.train.checkpoint_minutes = STEPS, 0, 0
        torch.manual_seed(config.train.seed)
        Trainer(ToyCycleStep(config, 0, 1), run, "toy-cycle", resume=resume).fit()
    finally:
        torch.set_num_threads(threads)


def test_sigint_and_sigterm_leave_a_checkpoint_and_resume_exactly(tmp_path):
    first = worker(tmp_path / "run", "--step-seconds", "0.05")
    train_in_process(tmp_path / "ref")  # the uninterrupted run, while the worker starts
    err = stop_when_logged(first, tmp_path / "run", 5, signal.SIGINT)
    assert first.returncode == 130, err[-2000:]
    assert "SIGINT: stopping after this step" in err and "interrupted; re-run" in err
    stopped_at = int(last_checkpoint(tmp_path / "run").name.split("-")[1])
    assert 5 <= stopped_at < STEPS
    assert re.search(rf"toy-cycle: step 1/{STEPS} \(2%\), [\d.e+-]+ steps/s, ETA \d+:\d\d:\d\d", err), err[-2000:]

    second = worker(tmp_path / "run", "--resume", "--step-seconds", "0.05")
    err = stop_when_logged(second, tmp_path / "run", stopped_at + 5, signal.SIGTERM)
    assert second.returncode == 130 and "SIGTERM: stopping after this step" in err, err[-2000:]
    stopped_again = int(last_checkpoint(tmp_path / "run").name.split("-")[1])
    assert stopped_at < stopped_again < STEPS

    train_in_process(tmp_path / "run", resume=True)
    a = load_file(str(last_checkpoint(tmp_path / "ref") / "networks.safetensors"))
    b = load_file(str(last_checkpoint(tmp_path / "run") / "networks.safetensors"))
    assert last_checkpoint(tmp_path / "run").name == f"step-{STEPS:08d}" and set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    lines = (tmp_path / "run" / "stats.jsonl").read_text().splitlines()
    assert len(lines) == STEPS  # each resume dropped what the stopped run logged after its checkpoint


def test_checkpoints_by_wall_clock_time(tmp_path):
    config = ToyConfig()
    config.train.checkpoint_every, config.train.keep_checkpoints = 0, 10
    config.train.checkpoint_minutes = 1e-9  # always due: a checkpoint after every step
    torch.manual_seed(0)
    Trainer(ToyCycleStep(config, 0, 1), tmp_path / "a", "toy-cycle").fit()
    assert [p.name for p in list_checkpoints(tmp_path / "a" / "checkpoints")] == [f"step-{k:08d}" for k in range(1, 7)]
    config.train.checkpoint_minutes = 0.0  # never by time: only at the end
    torch.manual_seed(0)
    Trainer(ToyCycleStep(config, 0, 1), tmp_path / "b", "toy-cycle").fit()
    assert [p.name for p in list_checkpoints(tmp_path / "b" / "checkpoints")] == ["step-00000006"]


def test_a_run_logging_to_a_file_prints_plain_progress_lines(tmp_path, capsys):
    config = ToyConfig()
    config.train.progress, config.train.progress_seconds, config.train.log_every = True, 3600.0, 2
    torch.manual_seed(0)
    Trainer(ToyCycleStep(config, 0, 1), tmp_path / "run", "toy-cycle").fit()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines  # after the first step and at the end; the hour between lines never passed
    assert lines[0].startswith("toy-cycle: step 1/6 (17%), ") and "G_adv" not in lines[0]  # nothing logged yet
    assert lines[1].startswith("toy-cycle: step 6/6 (100%), ") and ", G_adv " in lines[1] and ", D " in lines[1]


def test_progress_lines_and_bar():
    log = io.StringIO()
    progress = Progress("toy", total=100, start=40, seconds=0.0, stream=log)
    progress.update(41)
    progress.update(42, {"D": 1.23456, "G_adv": 0.5})
    progress.close()
    first, second = log.getvalue().splitlines()
    assert first.startswith("toy: step 41/100 (41%), ") and "steps/s, ETA " in first
    assert second.endswith(", D 1.23, G_adv 0.5")
    quiet = io.StringIO()
    progress = Progress("toy", total=100, start=0, seconds=3600.0, stream=quiet)
    for done in range(1, 101):
        progress.update(done)
    assert [ln.split(",")[0] for ln in quiet.getvalue().splitlines()] == ["toy: step 1/100 (1%)",
                                                                        "toy: step 100/100 (100%)"]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = Progress("toy", total=10, start=0, seconds=0.0, stream=screen)
    for done in range(1, 11):
        progress.update(done, {"D": 0.5})
    progress.close()
    assert "10/10" in screen.getvalue() and "steps/s, ETA" not in screen.getvalue()  # a tqdm bar
    assert Progress("toy", 10, 0, enabled=False, stream=screen).bar is None
    assert format_duration(3725.4) == "1:02:05"
