"""kill -9 at random points, then resume: shared by ``tests/test_kill_resume.py`` (a forked process) and
``scripts/fault_injection.py kill-train`` / ``kill-benchmark`` (a fresh ``python -m medgan`` process).

A trial starts the command, waits until the process holds the run folder's lock (and, for a
training run, has cut ``stats.jsonl`` back to its newest checkpoint), waits a random number of logged steps (or
finished benchmark cells), optionally until a checkpoint is being written, and sends SIGKILL; after
``kills`` such kills the command runs to the end, and the run folder must equal an uninterrupted run's.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors.torch import load_file


class Process(Protocol):
    pid: int

    def poll(self) -> int | None: ...

    def kill(self) -> None: ...


@dataclass
class Outcome:
    """What the kills of one trial hit: ``(progress at the kill, inside a checkpoint write)`` per kill."""

    kills: list[tuple[int, bool]] = field(default_factory=list)
    finished_early: int = 0  # processes that ended before the kill came


def _lines(path: Path) -> int:
    try:
        return len(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except FileNotFoundError:
        return 0


def _holds_lock(run: Path, pid: int) -> bool:
    try:
        return json.loads((run / ".medgan" / "lock").read_text()).get("pid") == pid
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        return False


def _writing(run: Path) -> bool:
    """True while a temporary checkpoint folder or file exists (an atomic write in progress)."""
    for folder in (run / "checkpoints", run):
        try:
            if any(entry.name.endswith(".tmp") for entry in os.scandir(folder)):
                return True
        except FileNotFoundError:
            pass
    return False


def kill_at_random(start: Callable[[], Process], run: Path, progress: Callable[[Path], int], total: int,
                   kills: int, rng: random.Random, resumes_from: Callable[[Path], int] | None = None,
                   timeout: float = 900) -> Outcome:
    """Start and SIGKILL ``kills`` times at random progress points, leaving ``run`` as the kills left it.

    Args:
        start: starts the (resuming) command; it may be called on an empty or a killed run folder.
        run: the run folder.
        progress: units of work done so far in ``run`` (logged steps, finished cells).
        total: the units of an uninterrupted run.
        kills: how many processes to kill.
        rng: draws the kill points, and whether to wait for a checkpoint write.
        resumes_from: where a rerun continues from (a training run: its newest checkpoint's step);
            progress beyond it is what the killed process did and the rerun cuts back first.
    """
    outcome = Outcome()
    for _ in range(kills):
        process = start()
        deadline = time.monotonic() + timeout
        while process.poll() is None and not _holds_lock(run, process.pid):
            time.sleep(0.002)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{run}: the process never took the lock")
        done = progress(run)
        if resumes_from is not None:
            done = resumes_from(run)
            while process.poll() is None and progress(run) > done:  # not yet cut back to the checkpoint
                time.sleep(0.002)
        if done >= total:
            process.kill()
            process.poll()
            break
        target = rng.randint(done, total - 1)
        mid_write = rng.random() < 0.5
        while process.poll() is None and progress(run) < target:
            time.sleep(0.002)
        if mid_write:
            while process.poll() is None and not _writing(run) and progress(run) < total:
                time.sleep(0.0005)
        hit = (progress(run), _writing(run))
        if process.poll() is not None:
            outcome.finished_early += 1
            continue
        process.kill()
        while process.poll() is None:
            time.sleep(0.002)
        outcome.kills.append(hit)
    return outcome


def newest_checkpoint(run: Path) -> int:
    """Step of the run's newest complete checkpoint (0: none)."""
    from medgan.training.checkpoint import list_checkpoints

    found = list_checkpoints(run / "checkpoints")
    return int(found[-1].name.split("-")[1]) if found else 0


def logged_steps(run: Path) -> int:
    """Lines of the run's ``stats.jsonl`` (the recipes log every step)."""
    return _lines(run / "stats.jsonl")


# ------------------------------------------------------------------------------- comparisons


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _stats(run: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    return [{k: v for k, v in line.items() if k not in ("time", "sec_per_step")} for line in lines]


def training_differences(reference: Path, run: Path) -> list[str]:
    """What differs between two training run folders (empty: identical): the checkpoints of the same
    steps (every tensor of weights and state bit for bit, ``state.json``), ``stats.jsonl`` without its
    timings, the sample PNGs byte for byte, and ``config.yaml``; plus any temporary file left in ``run``."""
    problems = []
    ref_ckpts = {p.name: p for p in (reference / "checkpoints").iterdir() if p.is_dir()}
    run_ckpts = {p.name: p for p in (run / "checkpoints").iterdir() if p.is_dir()}
    if max(ref_ckpts) not in run_ckpts:
        problems.append(f"final checkpoint {max(ref_ckpts)} missing")
    for name in sorted(set(ref_ckpts) & set(run_ckpts)):
        for file in ("networks.safetensors", "state.safetensors"):
            a, b = _tensors(ref_ckpts[name] / file), _tensors(run_ckpts[name] / file)
            if set(a) != set(b):
                problems.append(f"{name}/{file}: tensors {sorted(set(a) ^ set(b))[:3]} differ")
                continue
            differing = [k for k in a if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k])]
            if differing:
                problems.append(f"{name}/{file}: {len(differing)} tensors differ, e.g. {differing[0]}")
        if (ref_ckpts[name] / "state.json").read_text() != (run_ckpts[name] / "state.json").read_text():
            problems.append(f"{name}/state.json differs")
    if _stats(reference) != _stats(run):
        problems.append("stats.jsonl differs")
    for png in sorted((reference / "samples").glob("*.png")) if (reference / "samples").is_dir() else []:
        other = run / "samples" / png.name
        if not other.is_file() or other.read_bytes() != png.read_bytes():
            problems.append(f"samples/{png.name} differs")
    if (reference / "config.yaml").read_text() != (run / "config.yaml").read_text():
        problems.append("config.yaml differs")
    left = [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    if left:
        problems.append(f"temporary file left: {left[0].relative_to(run)}")
    return problems



def _unzipped(path: Path) -> bytes:
    """A ``.nii.gz`` file's NIfTI bytes (the gzip header holds a time stamp)."""
    return gzip.decompress(path.read_bytes())


def finished_cells(out: Path) -> int:
    """Cells of a benchmark run folder saved so far."""
    try:
        return sum(1 for entry in os.scandir(out / "cells") if entry.name.endswith(".json"))
    except FileNotFoundError:
        return 0


def benchmark_differences(reference: Path, out: Path) -> list[str]:
    """What differs between two benchmark run folders (empty: identical): every cell's per-case metric
    rows and validation log exactly, the cell set, ``results.csv`` and ``split.json`` byte for byte,
    every synthetic case's file; plus any temporary file left in ``out``."""
    problems = []
    ref = {p.name: json.loads(p.read_text()) for p in (reference / "cells").glob("*.json")}
    got = {p.name: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    if set(ref) != set(got):
        problems.append(f"cells {sorted(set(ref) ^ set(got))} in one run only")
    for name in sorted(set(ref) & set(got)):
        for key in ("rows", "log", "budget", "training", "n_added", "gate"):
            if ref[name].get(key) != got[name].get(key):
                problems.append(f"cells/{name}: {key} differs")
    for file in ("results.csv", "split.json", "grid.csv"):
        if not (out / file).is_file() or (reference / file).read_bytes() != (out / file).read_bytes():
            problems.append(f"{file} differs")
    synthetic = sorted(p.relative_to(reference) for p in (reference / "synthetic").rglob("*.nii.gz"))
    for path in synthetic:
        if not (out / path).is_file() or _unzipped(out / path) != _unzipped(reference / path):
            problems.append(f"{path} differs")
            break
    left = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    if left:
        problems.append(f"temporary file left: {left[0].relative_to(out)}")
    return problems
