"""The one error path of ``medgan``: one line per problem, ``--debug`` for the traceback, library
warnings as one line and never before medgan's, the default thread count."""

from __future__ import annotations

import errno
import gzip
import json
import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import medgan.commands.inspect as inspect_command
from medgan.cli import describe_error, describe_os_error, main
from medgan.errors import ConfigError
from tests.conftest import REPO, make_folder


def _fail_with(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def run(args: object) -> int:
        raise error

    monkeypatch.setattr(inspect_command, "run", run)


@pytest.mark.parametrize("error, status, words", [
    (OSError(errno.ENOSPC, "No space left on device"), 2, ["while reading or writing a file", "no space left",
                                                           "re-run the same command to resume"]),
    (OSError(errno.ENOSPC, "No space left on device", "/data/out/x.nii.gz"), 2, ["/data/out/x.nii.gz:",
                                                                                "no space left"]),
    (PermissionError(errno.EACCES, "Permission denied", "/ro/out"), 2, ["/ro/out:", "permission denied"]),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/out/.medgan"), 2, ["/mnt/out/.medgan:", "read-only"]),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/x/file/out"), 2, ["/x/file/out:", "not a folder"]),
    (FileExistsError(errno.EEXIST, "File exists", "/x/out"), 2, ["/x/out:", "already exists"]),
    (json.JSONDecodeError("Expecting value", "{", 1), 2, ["JSON file is damaged", "killed run"]),
    (ConfigError("pipeline.yaml: seeds: empty"), 2, ["pipeline.yaml: seeds: empty"]),
    (MemoryError(), 2, ["out of memory"]),
    (KeyError("net/G"), 1, ["internal error: KeyError", "bug in medgan", "--debug"]),
])
def test_every_error_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                 error: BaseException, status: int, words: list[str]) -> None:
    _fail_with(monkeypatch, error)
    assert main(["inspect", "anything"]) == status
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("medgan inspect: error: ") and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]


def test_safetensors_damage_is_one_line() -> None:
    safetensors = pytest.importorskip("safetensors")
    try:
        safetensors.safe_open(__file__, "pt")  # not a safetensors file
    except Exception as error:  # SafetensorError
        status, line = describe_error(error)
        assert status == 2 and "checkpoint file is damaged" in line


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    _fail_with(monkeypatch, KeyError("net/G"))
    argv = ["--debug", "inspect", "x"] if where == "before" else ["inspect", "x", "--debug"]
    with pytest.raises(KeyError):
        main(argv)


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["augment", "src"])
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and line.startswith("medgan augment: error: the following arguments are required")


def test_warnings_are_one_line_each_and_once(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def run(args: object) -> int:
        for _ in range(3):
            warnings.warn("something odd\nover two lines", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(inspect_command, "run", run)
    assert main(["inspect", "x"]) == 0
    assert capsys.readouterr().err == "medgan inspect: warning: something odd over two lines\n"


def _nifti_with(path: Path, sform_code: int, extra: bytes = b"") -> None:
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[254:256] = struct.pack("<h", sform_code)  # nibabel logs "sform_code 7 not valid; setting to 0"
    path.write_bytes(gzip.compress(bytes(raw) + extra))


def test_nibabel_never_speaks_before_medgan(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = make_folder(tmp_path / "data", n=1, modalities=("t1",), unlabelled=0)
    image = root / "images" / "case00_t1.nii.gz"
    for path in (image, root / "labels" / "case00.nii.gz"):
        _nifti_with(path, 7)  # nibabel complains, the files are otherwise fine: a warning in the table
    assert main(["inspect", str(root)]) == 0
    captured = capsys.readouterr()
    assert "sform_code 7 not valid" not in captured.err
    assert "warning: " in captured.out and "nibabel: sform_code 7 not valid; setting to 0" in captured.out
    _nifti_with(image, 7, extra=b"\0" * 16)  # ... and now also broken: medgan's line alone
    assert main(["augment", str(root), str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medgan augment: error: ") and len(err.strip().splitlines()) == 1, err
    assert "more voxel data than its header describes" in err


def test_os_error_without_a_file_name() -> None:
    assert describe_os_error(OSError(errno.EDQUOT, "Disk quota exceeded")).startswith(
        "while reading or writing a file: disk quota exceeded")
    assert describe_os_error(OSError(12345, "Strange thing", "/x")) == "/x: Strange thing"


def test_default_thread_count() -> None:
    """Without OMP_NUM_THREADS a command runs torch with min(cores, 4) threads; with it, as asked."""
    code = ("import os, sys\nfrom medgan.cli import configure_threads, default_threads\n"
            "n = configure_threads()\nimport torch\n"
            "print(n, default_threads(), os.environ['OMP_NUM_THREADS'], torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    n, default, variable, torch_threads = out.stdout.split()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert n == default == variable == torch_threads == str(min(cores, 4)), out
    env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.split() == ["None", default, "1", "1"], out
