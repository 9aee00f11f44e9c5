"""Fault injection for ``medgan augment``: hostile output folders, a full and a read-only file system,
two writers at once, and kill -9 at a random point followed by a resume.

Each asserts: one line naming the path and what to do, a non-zero exit, no traceback, the input
byte-identical (SHA-256), and an output that is either refused untouched or, once finished, byte-identical
to an uninterrupted run. Longer variants: ``scripts/fault_injection.py``.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medgan.cli import main
from tests.conftest import REPO, make_folder, tree_digest

ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
AUGMENT = [sys.executable, "-m", "medgan", "augment"]


def _source(root: Path, n: int = 4) -> Path:
    return make_folder(root, n=n, modalities=("t1",), unlabelled=0)


def _output(root: Path) -> dict[str, str]:
    """SHA-256 of every output file (the flock guard file of a stale-lock take-over aside)."""
    return {k: v for k, v in tree_digest(root).items() if not k.endswith("lock.guard")}


def _augment(src: Path, out: Path, *extra: str) -> int:
    return main(["augment", str(src), str(out), "--copies", "2", "--no-progress", *extra])


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@functools.cache
def private_mounts() -> str:
    """Empty when ``unshare -rm`` can mount a tmpfs here; otherwise why not."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /tmp && echo ok"],
                           capture_output=True, text=True, timeout=60)
    return "" if probe.stdout.strip() == "ok" else f"unshare -rm cannot mount a tmpfs ({probe.stderr.strip()[:80]})"


def in_namespace(script: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a shell script in a private mount namespace (its mounts vanish with it)."""
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


# --------------------------------------------------------------------------------------------------
# output folders medgan must not write into, and resumes with other parameters


def test_out_is_a_file_or_a_folder_of_something_else(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _source(tmp_path / "src", n=1)
    before = tree_digest(src)
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    assert _augment(src, afile) == 2
    assert "exists and is not a folder" in _one_line(capsys.readouterr().err)
    assert afile.read_text() == "mine"
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    (other / "manifest.csv").write_text("someone else's")
    (other / "images" / "case00_aug0.nii.gz").write_bytes(b"someone else's case")
    mine = tree_digest(other)
    assert _augment(src, other) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(other) in line and "not empty and was not written by medgan" in line
    assert tree_digest(other) == mine and tree_digest(src) == before
    assert _augment(src, tmp_path / "notes.txt" / "out") == 2  # a file where a folder is needed
    line = _one_line(capsys.readouterr().err)
    assert "notes.txt" in line and ("not a folder" in line or "is a file" in line), line


def test_resume_with_other_parameters_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, out = _source(tmp_path / "src", n=2), tmp_path / "out"
    assert _augment(src, out, "--seed", "1") == 0
    finished = _output(out)
    capsys.readouterr()
    for extra, changed in ((["--seed", "2"], "seed=1 (now 2)"), (["--seed", "1", "--include-original"],
                                                                   "include_original=false (now true)")):
        assert _augment(src, out, *extra) == 2
        line = _one_line(capsys.readouterr().err)
        assert changed in line and "write to a new folder" in line, line
        assert _output(out) == finished
    config = tmp_path / "aug.yaml"
    config.write_text("transforms:\n  - {name: flip, prob: 0.5, axes: [0]}\n")
    assert _augment(src, out, "--seed", "1", "--config", str(config)) == 2
    assert "config_sha256=" in _one_line(capsys.readouterr().err)
    assert _augment(src, out, "--seed", "1") == 0  # same parameters: resumes, nothing to do
    assert "0 cases written, 4 already done" in capsys.readouterr().out
    assert _output(out) == finished


@pytest.mark.parametrize("seed", ["-1", str(2**63), str(2**70), "1.5"])
def test_seeds_outside_the_range_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture, seed: str) -> None:
    src = _source(tmp_path / "src", n=1)
    with pytest.raises(SystemExit) as exit_info:
        _augment(src, tmp_path / "out", "--seed", seed)
    assert exit_info.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("medgan augment: error: argument --seed:") and "2**63 - 1" in line
    assert not (tmp_path / "out").exists()


def test_debris_of_a_killed_run_is_cleaned_on_resume(tmp_path: Path) -> None:
    src, out = _source(tmp_path / "src", n=2), tmp_path / "out"
    assert _augment(src, out) == 0
    finished = _output(out)
    debris = out / "images" / ".case01_aug1.nii.gz.x7k2_q.tmp"
    debris.mkdir()
    (debris / "case01_aug1.nii.gz").write_bytes(b"")  # what a kill during a write leaves
    (out / ".medgan" / "records" / "case01_aug1.json").unlink()
    assert _augment(src, out) == 0
    assert not debris.exists() and _output(out) == finished


# --------------------------------------------------------------------------------------------------
# hostile file systems


def test_read_only_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _source(tmp_path / "src", n=1)
    before = tree_digest(src)
    if os.geteuid() != 0:  # permissions stop an ordinary user
        parent = tmp_path / "locked"
        parent.mkdir()
        parent.chmod(0o555)
        try:
            assert _augment(src, parent / "out") == 2
            line = _one_line(capsys.readouterr().err)
        finally:
            parent.chmod(0o755)
        assert str(parent / "out") in line and "permission denied" in line, line
    else:  # root ignores permissions: a read-only mount in a private namespace
        if private_mounts():
            pytest.skip(f"running as root and {private_mounts()}: cannot make a read-only folder")
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        result = in_namespace(f"mount -t tmpfs -o size=1m tmpfs {mnt} && mkdir {mnt}/out && "
                              f"mount -o remount,ro {mnt} && exec {' '.join(AUGMENT)} {src} {mnt}/out --no-progress")
        assert result.returncode == 2, result.stderr
        line = _one_line(result.stderr)
        assert str(mnt / "out") in line and "read-only" in line, line
    assert tree_digest(src) == before


def test_full_disk_then_resume(tmp_path: Path) -> None:
    """ENOSPC (a tiny tmpfs) or, where no tmpfs can be mounted, EFBIG (a file-size limit): one line,
    exit 2; the partial output then resumes to exactly what an uninterrupted run writes."""
    src, reference = _source(tmp_path / "src"), tmp_path / "reference"
    before = tree_digest(src)
    assert _augment(src, reference) == 0
    partial = tmp_path / "partial"
    if not private_mounts():
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        result = in_namespace(f"mount -t tmpfs -o size=24k tmpfs {mnt} && {' '.join(AUGMENT)} {src} {mnt}/out "
                              f"--copies 2 --no-progress; status=$?; cp -a {mnt}/out {partial}; exit $status")
        expected = "no space left on the device"
    elif hasattr(os, "setrlimit") and sys.platform.startswith("linux"):
        import resource

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))

        print(f"full disk simulated with RLIMIT_FSIZE: {private_mounts()}")
        result = subprocess.run([*AUGMENT, str(src), str(partial), "--copies", "2", "--no-progress"],
                                capture_output=True, text=True, env=ENV, preexec_fn=limit, timeout=600)
        expected = "file too large"
    else:
        pytest.skip(f"no way to fill a file system here: {private_mounts()} and no RLIMIT_FSIZE")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert expected in line and "re-run the same command to resume" in line and str(partial.name) in line or \
        expected in line, line
    assert not (partial / ".medgan" / "lock").exists()  # the failed run gave its folder back
    assert _augment(src, partial) == 0  # space freed: the same command resumes
    assert _output(partial) == _output(reference) and tree_digest(src) == before


# --------------------------------------------------------------------------------------------------
# two writers, kill -9


def test_two_writers_at_once_never_mix(tmp_path: Path) -> None:
    src, out = _source(tmp_path / "src"), tmp_path / "out"
    before = tree_digest(src)
    runs = {seed: subprocess.Popen([*AUGMENT, str(src), str(out), "--copies", "2", "--seed", seed, "--no-progress"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
            for seed in ("1", "2")}
    results = {seed: (p.wait(timeout=600), p.stderr.read()) for seed, p in runs.items()}
    winners = [seed for seed, (status, _) in results.items() if status == 0]
    assert len(winners) == 1, results
    status, err = results[next(seed for seed in results if seed not in winners)]
    line = _one_line(err)
    assert status == 2 and ("in use by medgan augment" in line or "other parameters" in line), line
    reference = tmp_path / "reference"
    assert _augment(src, reference, "--seed", winners[0]) == 0
    assert _output(out) == _output(reference) and tree_digest(src) == before


def _kill_after(process: subprocess.Popen, records: Path, count: int, rng: random.Random) -> bool:
    """kill -9 once ``count`` cases are recorded (plus 0-30 ms); False if the run ended first."""
    while process.poll() is None:
        if records.is_dir() and len(list(records.glob("*.json"))) >= count:
            time.sleep(rng.uniform(0, 0.03))
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.001)
    return False


def test_kill_9_then_resume_is_byte_identical(tmp_path: Path) -> None:
    src, out, reference = _source(tmp_path / "src"), tmp_path / "out", tmp_path / "reference"
    before = tree_digest(src)
    assert _augment(src, reference, "--seed", "5") == 0
    rng = random.Random(20240601)
    count = rng.randrange(0, 8)  # 4 cases x 2 copies
    process = subprocess.Popen([*AUGMENT, str(src), str(out), "--copies", "2", "--seed", "5", "--no-progress"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    killed = _kill_after(process, out / ".medgan" / "records", count, rng)
    print(f"killed after {count} of 8 copies: {killed}")
    assert killed and not (out / "manifest.csv").exists(), "the run finished before the kill"
    assert (out / ".medgan" / "lock").exists()  # a stale lock, taken over by the resume
    assert _augment(src, out, "--seed", "5") == 0
    assert _output(out) == _output(reference) and tree_digest(src) == before
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
