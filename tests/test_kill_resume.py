"""kill -9 → resume for every built-in GAN family through ``medgan train``: a forked process running
the command is killed with SIGKILL at a random logged step (or while it writes a checkpoint), the
command is rerun with ``--resume``, and the run folder must equal an uninterrupted run's bit for bit
(every checkpoint, ``stats.jsonl`` losses, sample grids). Longer, in fresh interpreters:
``python scripts/fault_injection.py kill-train --family all``."""

from __future__ import annotations

import multiprocessing
import os
import random
from pathlib import Path

import pytest
import torch

from medgan.cli import main
from tests.family_runs import RECIPES, recipe
from tests.kill_resume import kill_at_random, logged_steps, newest_checkpoint, training_differences

STEPS = 8


def _command(family: str, work: Path, out: Path) -> list[str]:
    return ["train", family, *recipe(family, work), "--steps", str(STEPS), "--out", str(out)]


def _child(command: list[str]) -> None:
    torch.set_num_threads(1)
    os._exit(main(command))


class Forked:
    """``medgan`` ``command`` in a forked copy of this process (no interpreter start-up to wait for)."""

    def __init__(self, command: list[str]) -> None:
        self.process = multiprocessing.get_context("fork").Process(target=_child, args=(command,))
        self.process.start()
        self.pid = self.process.pid

    def poll(self) -> int | None:
        return self.process.exitcode

    def kill(self) -> None:
        self.process.kill()
        self.process.join()


@pytest.mark.parametrize("family", sorted(RECIPES))
def test_training_killed_with_sigkill_resumes_identically(family: str, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the forked child, so that results compare bit for bit
    try:
        assert main(_command(family, tmp_path, tmp_path / "reference")) == 0
        run = tmp_path / "run"
        command = [*_command(family, tmp_path, run), "--resume"]
        outcome = kill_at_random(lambda: Forked(command), run, logged_steps, STEPS, kills=1,
                                 rng=random.Random(family), resumes_from=newest_checkpoint)
        assert main(command) == 0
    finally:
        torch.set_num_threads(threads)
    assert outcome.kills or outcome.finished_early, outcome
    assert training_differences(tmp_path / "reference", run) == []


def test_the_comparison_sees_a_run_that_differs(tmp_path: Path) -> None:
    """Another seed gives other weights, losses and samples: the comparison above can fail."""
    assert main(_command("lesion-gan", tmp_path, tmp_path / "a")) == 0
    assert main([*_command("lesion-gan", tmp_path, tmp_path / "b"), "--seed", "1"]) == 0
    problems = training_differences(tmp_path / "a", tmp_path / "b")
    assert any("networks.safetensors" in p for p in problems) and "stats.jsonl differs" in problems, problems
