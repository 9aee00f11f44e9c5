"""An output folder owned by one medgan run: one writer at a time, one set of parameters, no debris.

:class:`OwnedFolder` is what every command that writes a folder of results holds while it writes:

- **a lock** (``.medgan/lock``: PID, host, boot id and process start time, written atomically). A
  second writer is refused with a line naming the holder. A lock whose process has died on this
  host (or whose PID now belongs to a newer process, or that dates from before a reboot) is stale
  and taken over; a lock held from another host is never assumed stale.
- **a record** (``.medgan/run.json``) of the command and its parameters (seed, config hash,
  input, ...). Resuming with other parameters is refused instead of silently keeping the old output.
- **only folders medgan may write into**: a new folder, an empty one, or one medgan created (it has
  ``.medgan/``). An existing file, or a non-empty folder of something else, is refused.
- **clean-up**: hidden temporary files and folders (``.*.tmp``) that a killed run left behind are
  removed once the lock is held.

Example:
    >>> with OwnedFolder("out", "medgan augment", {"seed": 0, "copies": 2}) as folder:  # doctest: +SKIP
    ...     write_everything(folder.path)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medgan.errors import DataError

#: medgan's own files inside an output folder
META_DIR = ".medgan"
LOCK_NAME = "lock"
RUN_NAME = "run.json"
_GUARD_NAME = "lock.guard"
_HELD: dict[str, int] = {}  # lock files this process holds -> nesting depth


def hold_run_folder(path: str | Path, command: str, rank: int = 0, adopt: str | None = None
                    ) -> contextlib.AbstractContextManager[Any]:
    """The :class:`OwnedFolder` of a training run or benchmark, held by process 0 only (the others of
    a ``torchrun`` job get a no-op).

    Args:
        path: the run folder.
        command: e.g. ``"medgan train"``.
        rank: this process's rank.
        adopt: a file name (e.g. ``config.yaml``) that marks a folder written by a medgan from before
            owned folders; such a folder is adopted (given ``.medgan/``) instead of refused.
    """
    if rank != 0:
        return contextlib.nullcontext()
    path = Path(path)
    if adopt and (path / adopt).is_file() and not (path / META_DIR).exists():
        (path / META_DIR).mkdir()
    return OwnedFolder(path, command)


def canonical(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """``params`` as plain JSON values (what is recorded and compared)."""
    return None if params is None else json.loads(json.dumps(params, sort_keys=True, default=str))


class OwnedFolder:
    """Hold an output folder for one run (see the module docstring); a context manager.

    Args:
        path: the output folder (created if missing).
        command: what writes it, e.g. ``"medgan augment"``; a folder made by another command is refused.
        params: everything that decides the output (JSON-serialisable). ``None`` records and checks
            the command only.
        wait: seconds to wait for another live run to give the folder back before refusing (0:
            refuse at once). For jobs that may meet on purpose, like benchmark shards.

    Raises:
        DataError: ``path`` is a file, a folder of something else, in use by another run, or was
            written with other parameters; each message says what to do.
    """

    def __init__(self, path: str | Path, command: str, params: dict[str, Any] | None = None,
                 wait: float = 0.0) -> None:
        self.path = Path(path)
        self.wait = float(wait)
        self.command = command
        self.params = canonical(params)
        self.meta = self.path / META_DIR
        self.lock = self.meta / LOCK_NAME
        self._held = False

    def __enter__(self) -> OwnedFolder:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ---------------------------------------------------------------------------------------------

    def acquire(self) -> None:
        """Check the folder may be written, take the lock, check or write the record, clean up."""
        if self._held:
            return
        self._check_writable_folder()
        self.meta.mkdir(parents=True, exist_ok=True)
        _take_lock(self.lock, self.command, self.wait)
        self._held = True
        try:
            self._check_record()
            clean_temporary_files(self.path)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give the lock back (the record stays). Safe to call twice."""
        if self._held:
            self._held = False
            _drop_lock(self.lock)

    @property
    def record(self) -> dict[str, Any]:
        """What ``.medgan/run.json`` records for this run."""
        from medgan import __version__

        return {"command": self.command, "params": self.params, "medgan": __version__}

    def _check_writable_folder(self) -> None:
        path = self.path
        if path.exists() and not path.is_dir():
            raise DataError(path, "exists and is not a folder; give the path of a new or empty folder")
        entries = [entry.name for entry in path.iterdir()] if path.is_dir() else []
        if entries and META_DIR not in entries:  # one listing: a run creating .medgan/ right now is seen
            raise DataError(path, "folder is not empty and was not written by medgan; medgan writes only into "
                                  "a new or empty folder (or one it made itself): choose another folder")

    def _check_record(self) -> None:
        run_file = self.meta / RUN_NAME
        if run_file.is_file():
            try:
                recorded = json.loads(run_file.read_text(encoding="utf-8"))
                if not isinstance(recorded, dict):
                    raise ValueError("not a JSON object")
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataError(run_file, f"damaged run record ({exc}); delete the folder {self.path} "
                                          "to start again, or write to a new folder") from None
            self._compare(recorded)
            return
        if self.params is not None and _has_output(self.path):
            raise DataError(self.path, "was written by an earlier medgan that did not record its parameters, "
                                       "so resuming into it cannot be checked; write to a new folder "
                                       "(or delete this one)")
        from medgan.io.atomic import write_text_atomic

        write_text_atomic(run_file, json.dumps(self.record, indent=2, sort_keys=True) + "\n")

    def _compare(self, recorded: dict[str, Any]) -> None:
        if recorded.get("command") != self.command:
            raise DataError(self.path, f"was written by {recorded.get('command')!r}, not {self.command!r}; "
                                       "write to a new folder")
        old = recorded.get("params")
        if self.params is None or old == self.params:
            return
        old = old if isinstance(old, dict) else {}
        keys = sorted(set(old) | set(self.params))
        changed = [f"{k}={_short(old.get(k))} (now {_short(self.params.get(k))})"
                   for k in keys if old.get(k) != self.params.get(k)]
        raise DataError(self.path, f"was written by {self.command!r} with other parameters: {', '.join(changed)}; "
                                   "re-run with the same parameters to resume, or write to a new folder "
                                   "(or delete this one) to start again")


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _has_output(path: Path) -> bool:
    """True when ``path`` holds anything besides medgan's lock files and temporary debris."""
    for entry in path.iterdir():
        if entry.name == META_DIR:
            if any(p.name not in (LOCK_NAME, _GUARD_NAME) and not _is_temporary(p.name) for p in entry.iterdir()):
                return True
        elif not _is_temporary(entry.name):
            return True
    return False


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def clean_temporary_files(path: str | Path) -> list[Path]:
    """Remove hidden ``.*.tmp`` files and folders (what :func:`medgan.io.atomic_path` leaves when killed).

    Call it only while holding the folder's lock: a live writer's temporary files look the same.

    Returns:
        The paths removed.
    """
    removed = []
    for folder, dirs, files in os.walk(path):
        for name in list(dirs):
            if _is_temporary(name):
                shutil.rmtree(Path(folder) / name, ignore_errors=True)
                removed.append(Path(folder) / name)
                dirs.remove(name)
        for name in files:
            if _is_temporary(name):
                with contextlib.suppress(FileNotFoundError):
                    (Path(folder) / name).unlink()
                removed.append(Path(folder) / name)
    return removed


# --------------------------------------------------------------------------------------------------
# the lock file


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_state(pid: int) -> tuple[str, str] | None:
    """``(state, start time in clock ticks since boot)`` of ``pid`` from ``/proc``, if available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], fields[19]


def _identity() -> dict[str, Any]:
    pid = os.getpid()
    state = _process_state(pid)
    return {"pid": pid, "host": socket.gethostname(), "boot_id": _boot_id(),
            "started": state[1] if state else ""}


def _same_process(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("pid", "host", "boot_id", "started"))


def holder_alive(holder: dict[str, Any]) -> bool:
    """False when the process that wrote lock content ``holder`` is certainly gone.

    A holder on another host is assumed alive (its PID means nothing here).
    """
    if holder.get("host") != socket.gethostname():
        return True
    boot = _boot_id()
    if boot and holder.get("boot_id") and holder["boot_id"] != boot:
        return False  # written before the last reboot
    try:
        pid = int(holder["pid"])
        os.kill(pid, 0)
    except (KeyError, TypeError, ValueError, OverflowError, ProcessLookupError):
        return False
    except PermissionError:
        pass  # exists, owned by another user
    state = _process_state(pid)
    if state is not None:
        if state[0] in ("Z", "X"):
            return False  # killed, not yet reaped
        if holder.get("started") and state[1] != holder["started"]:
            return False  # the PID now belongs to another process
    return True


def _read_lock(lock: Path) -> tuple[bytes | None, dict[str, Any] | None]:
    """``(raw bytes, parsed content)``; ``(None, None)`` when there is no lock file."""
    try:
        raw = lock.read_bytes()
    except FileNotFoundError:
        return None, None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw, None
    return raw, value if isinstance(value, dict) else None


@contextlib.contextmanager
def _guard(meta: Path) -> Iterator[None]:
    """Serialise stale-lock take-overs between processes (``flock`` where available)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: best effort
        yield
        return
    with open(meta / _GUARD_NAME, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _take_lock(lock: Path, command: str, wait: float = 0.0) -> None:
    key = str(lock.resolve())
    me = {**_identity(), "command": command, "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    payload = json.dumps(me, sort_keys=True).encode()
    give_up = time.monotonic() + wait
    attempt = 0
    while attempt < 50:
        attempt += 1
        new = lock.with_name(f".{LOCK_NAME}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        new.write_bytes(payload)
        try:
            try:
                os.link(new, lock)  # atomic, fails if a lock exists, and the content is complete
                _HELD[key] = 1
                return
            except FileExistsError:
                pass
            except FileNotFoundError:
                continue  # our temporary file was cleaned up by the lock's holder: look again
            except OSError:  # no hard links on this file system
                try:
                    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                except FileExistsError:
                    pass
                else:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(payload)
                    _HELD[key] = 1
                    return
            raw, holder = _read_lock(lock)
            if raw is None:
                continue  # released meanwhile: try again
            if not raw and attempt < 20:
                time.sleep(0.05)  # being written without hard links: look again
                continue
            if holder is not None and _same_process(holder, me):
                _HELD[key] = _HELD.get(key, 0) + 1  # this process already holds it
                return
            if holder is not None and holder_alive(holder):
                if time.monotonic() < give_up:
                    attempt = 0
                    time.sleep(min(1.0, max(0.0, give_up - time.monotonic())))
                    continue
                raise DataError(lock.parent.parent, _in_use(holder, lock))
            with _guard(lock.parent):  # stale: take it over unless someone else just did
                if _read_lock(lock)[0] == raw:
                    os.replace(new, lock)
                    _HELD[key] = 1
                    return
        finally:
            with contextlib.suppress(FileNotFoundError):
                new.unlink()
        time.sleep(0.01)
    raise DataError(lock.parent.parent, f"could not take the lock {lock}; another run keeps taking it")


def _in_use(holder: dict[str, Any], lock: Path) -> str:
    what = holder.get("command") or "another medgan run"
    return (f"in use by {what} (pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')}); "
            f"wait for it to finish or write to another folder (if that run is gone, delete {lock})")


def _drop_lock(lock: Path) -> None:
    key = str(lock.resolve())
    depth = _HELD.get(key, 0)
    if depth > 1:
        _HELD[key] = depth - 1
        return
    _HELD.pop(key, None)
    _, holder = _read_lock(lock)
    if holder is not None and _same_process(holder, _identity()):
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
