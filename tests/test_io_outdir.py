"""``OwnedFolder``: which folders medgan may write into, the lock (live, stale, raced), the run record."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medgan.errors import DataError
from medgan.io.outdir import OwnedFolder, _identity, _process_state, holder_alive
from tests.conftest import REPO


def _lock_of(pid: int, host: str | None = None, started: str | None = None) -> dict:
    me = _identity()
    state = _process_state(pid)
    return {"pid": pid, "host": host or socket.gethostname(), "boot_id": me["boot_id"],
            "started": started if started is not None else (state[1] if state else ""),
            "command": "medgan test", "since": "2024-01-01 00:00:00"}


def test_new_empty_and_own_folders_are_accepted(tmp_path: Path) -> None:
    with OwnedFolder(tmp_path / "new" / "out", "medgan test", {"seed": 1}) as folder:
        assert folder.lock.is_file()
        (folder.path / "result.txt").write_text("x")
    assert not (tmp_path / "new" / "out" / ".medgan" / "lock").exists()
    record = json.loads((tmp_path / "new" / "out" / ".medgan" / "run.json").read_text())
    assert record["command"] == "medgan test" and record["params"] == {"seed": 1}
    (tmp_path / "empty").mkdir()
    with OwnedFolder(tmp_path / "empty", "medgan test"):
        pass
    with OwnedFolder(tmp_path / "new" / "out", "medgan test", {"seed": 1}):  # resume: same parameters
        pass


def test_refuses_a_file_and_a_folder_of_something_else(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    with pytest.raises(DataError, match="exists and is not a folder"):
        OwnedFolder(tmp_path / "file", "medgan test").acquire()
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.csv").write_text("not medgan's")
    with pytest.raises(DataError, match="not empty and was not written by medgan"):
        OwnedFolder(other, "medgan test").acquire()
    assert sorted(p.name for p in other.iterdir()) == ["manifest.csv"]
    assert (other / "manifest.csv").read_text() == "not medgan's"


def test_other_parameters_or_command_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OwnedFolder(out, "medgan augment", {"seed": 0, "copies": 2}):
        (out / "a.nii.gz").write_bytes(b"x")
    with pytest.raises(DataError, match=r"other parameters: seed=0 \(now 1\)"):
        OwnedFolder(out, "medgan augment", {"seed": 1, "copies": 2}).acquire()
    with pytest.raises(DataError, match="was written by 'medgan augment', not 'medgan synthesize'"):
        OwnedFolder(out, "medgan synthesize").acquire()
    assert not (out / ".medgan" / "lock").exists()  # a refused run leaves no lock behind


def test_folder_from_an_older_medgan_without_record(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".medgan" / "records").mkdir(parents=True)
    (out / ".medgan" / "records" / "case0.json").write_text("{}")
    with pytest.raises(DataError, match="did not record its parameters"):
        OwnedFolder(out, "medgan augment", {"seed": 0}).acquire()
    with OwnedFolder(out, "medgan dataset writer"):  # no parameters to check: adopted
        pass


def test_temporary_debris_of_a_killed_run_is_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OwnedFolder(out, "medgan test"):
        (out / "images").mkdir()
        (out / "images" / "case0.nii.gz").write_bytes(b"kept")
    debris = [out / "images" / ".case1.nii.gz.k3j2_x.tmp", out / ".manifest.csv.abc.tmp",
              out / ".medgan" / ".lock.123.deadbeef.tmp"]
    debris[0].mkdir()
    (debris[0] / "case1.nii.gz").write_bytes(b"")
    debris[1].mkdir()
    debris[2].write_text("{}")
    with OwnedFolder(out, "medgan test"):
        assert not any(p.exists() for p in debris)
    assert (out / "images" / "case0.nii.gz").read_bytes() == b"kept"


def test_live_lock_is_refused_and_names_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".medgan").mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (out / ".medgan" / "lock").write_text(json.dumps(_lock_of(sleeper.pid)))
        with pytest.raises(DataError, match=rf"in use by medgan test \(pid {sleeper.pid} on "):
            OwnedFolder(out, "medgan test").acquire()
        assert json.loads((out / ".medgan" / "lock").read_text())["pid"] == sleeper.pid  # left alone
    finally:
        sleeper.kill()
        sleeper.wait()


def test_another_host_is_never_assumed_stale(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".medgan").mkdir(parents=True)
    (out / ".medgan" / "lock").write_text(json.dumps(_lock_of(1, host="some-other-host")))
    with pytest.raises(DataError, match="on some-other-host"):
        OwnedFolder(out, "medgan test").acquire()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to tell process states apart")
def test_stale_locks_are_taken_over(tmp_path: Path) -> None:
    """A dead PID, a zombie (killed, not yet reaped) and a reused PID are all stale."""
    done = subprocess.Popen(["true"])
    done.wait()
    zombie = subprocess.Popen(["true"])
    for _ in range(100):  # wait until it has exited, without reaping it
        if (_process_state(zombie.pid) or ("Z",))[0] == "Z":
            break
        time.sleep(0.02)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        cases = {"dead": _lock_of(done.pid), "zombie": _lock_of(zombie.pid),
                 "reused": _lock_of(sleeper.pid, started="1"), "garbage": None}
        assert not holder_alive(cases["dead"]) and not holder_alive(cases["zombie"])
        assert not holder_alive(cases["reused"]) and holder_alive(_lock_of(sleeper.pid))
        for name, content in cases.items():
            out = tmp_path / name
            (out / ".medgan").mkdir(parents=True)
            (out / ".medgan" / "lock").write_text("}{ not json" if content is None else json.dumps(content))
            with OwnedFolder(out, "medgan test") as folder:
                assert json.loads(folder.lock.read_text())["pid"] == os.getpid(), name
    finally:
        sleeper.kill()
        sleeper.wait()
        zombie.wait()


_CONTENDER = """
import sys, time
from pathlib import Path
from medgan.errors import DataError
from medgan.io.outdir import OwnedFolder
out, gate, me = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
(gate / ("ready-" + me)).touch()
while not (gate / "go").exists():  # imported: wait for the others, then start together
    time.sleep(0.001)
try:
    with OwnedFolder(out, "medgan test"):
        print("won", flush=True)
        while not (gate / "release").exists():  # hold the folder until every contender has tried
            time.sleep(0.01)
except DataError as error:
    print("refused", error, flush=True)
"""


@pytest.mark.parametrize("stale", [False, True], ids=["no lock", "stale lock"])
def test_racing_processes_exactly_one_wins(tmp_path: Path, stale: bool) -> None:
    out, gate, n = tmp_path / "out", tmp_path / "gate", 6
    gate.mkdir()
    if stale:
        done = subprocess.Popen(["true"])
        done.wait()
        (out / ".medgan").mkdir(parents=True)
        (out / ".medgan" / "lock").write_text(json.dumps(_lock_of(done.pid)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", _CONTENDER, str(out), str(gate), str(i)],
                              stdout=subprocess.PIPE, text=True, env=env) for i in range(n)]
    try:
        deadline = time.time() + 120
        while len(list(gate.glob("ready-*"))) < n and time.time() < deadline:
            time.sleep(0.01)
        (gate / "go").touch()
        results = [p.stdout.readline() for p in procs]
    finally:
        (gate / "release").touch()
        for p in procs:
            p.wait(timeout=60)
    shown = "\n".join(results)
    assert sum(r.startswith("won") for r in results) == 1, shown
    assert sum(r.startswith("refused") and "in use by medgan test" in r for r in results) == n - 1, shown
    assert not (out / ".medgan" / "lock").exists()


def test_same_process_may_nest(tmp_path: Path) -> None:
    with OwnedFolder(tmp_path / "out", "medgan test") as outer:
        with OwnedFolder(tmp_path / "out", "medgan test"):
            assert outer.lock.is_file()
        assert outer.lock.is_file()  # the inner release keeps the outer hold
    assert not outer.lock.exists()


def test_wait_for_a_live_holder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom medgan.io.outdir import OwnedFolder\n"
                               "with OwnedFolder(sys.argv[1], 'medgan test'):\n    time.sleep(1.0)", str(out)],
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.time() + 60
        while not (out / ".medgan" / "lock").exists() and time.time() < deadline:
            time.sleep(0.01)
        with pytest.raises(DataError, match="in use by"):
            OwnedFolder(out, "medgan test").acquire()
        with OwnedFolder(out, "medgan test", wait=60) as folder:
            assert json.loads(folder.lock.read_text())["pid"] == os.getpid()
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
        holder.wait()
