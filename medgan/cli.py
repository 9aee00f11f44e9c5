"""The ``medgan`` command. Each subcommand lives in ``medgan/commands/<name>.py`` and holds only
argument parsing and printing; the work is done by the library.

One error path for every subcommand: a problem a user can fix (a :class:`~medgan.errors.MedganError`,
a file-system error such as a full disk, a read-only or missing folder, a damaged checkpoint or
config file, a bad option) is printed as one line that names the file and what to do, without a
traceback, and the command exits with status 2. Anything else is a bug in medgan: one line saying
so, status 1. ``medgan --debug COMMAND ...`` shows the traceback instead.

Threads: unless ``OMP_NUM_THREADS`` is set, every command runs PyTorch, OpenMP and numba with
``min(usable cores, 4)`` threads (:func:`default_threads`): more threads than cores, or many on a
shared machine, make training many times slower.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from medgan import __version__
from medgan.errors import MedganError

#: subcommand modules under ``medgan.commands``, in the order ``medgan --help`` lists them
COMMANDS = ("inspect", "augment", "train", "synthesize", "translate", "evaluate", "benchmark", "report", "demo",
            "sample_data")
#: the most threads a command uses when ``OMP_NUM_THREADS`` is not set
MAX_DEFAULT_THREADS = 4
EXIT_USER_ERROR = 2
EXIT_BUG = 1


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``medgan augment: error: ...``) and whose
    descriptions are plain text (the reStructuredText quotes of the docstrings they come from removed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("description"):
            kwargs["description"] = kwargs["description"].replace("``", "")
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``medgan`` with every subcommand registered."""
    parser = Parser(
        prog="medgan",
        description="Augment medical-imaging datasets with classic transforms and GANs, and measure the gain.",
    )
    parser.add_argument("--version", action="version", version=f"medgan {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the full traceback (and library warnings) instead of one line")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"medgan.commands.{name}").register(commands)
    _add_debug_everywhere(parser)
    return parser


def _add_debug_everywhere(parser: argparse.ArgumentParser) -> None:
    """Accept ``--debug`` after the subcommand too (``medgan augment ... --debug``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any("--debug" in a.option_strings for a in sub._actions):
                    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                     help="show the full traceback of an error")
                _add_debug_everywhere(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``medgan`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    threads = configure_threads()
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    name = f"medgan {args.command}"
    if threads is not None and "torch" in sys.modules:  # imported while registering the commands
        sys.modules["torch"].set_num_threads(threads)
    try:
        with _one_line_warnings(name, debug):
            return int(args.run(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like
        with contextlib.suppress(Exception):
            sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"{name}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        status, line = describe_error(error)
        print(f"{name}: error: {line}", file=sys.stderr)
        return status


# --------------------------------------------------------------------------------------------------
# errors


def describe_error(error: BaseException) -> tuple[int, str]:
    """``(exit status, one line)`` for an exception that reached the command line."""
    if isinstance(error, MedganError):
        return EXIT_USER_ERROR, _one_line(str(error))
    if isinstance(error, OSError):
        return EXIT_USER_ERROR, describe_os_error(error)
    kind = type(error).__name__
    module = type(error).__module__
    reason = _one_line(str(error)) or kind
    if kind == "SafetensorError" or module.startswith("safetensors"):
        return EXIT_USER_ERROR, (f"a checkpoint file is damaged or not a safetensors file ({reason}); "
                                 "point at an intact run folder, or train again")
    if isinstance(error, json.JSONDecodeError):
        return EXIT_USER_ERROR, (f"a JSON file is damaged ({reason}); it may have been cut short by a full disk "
                                 "or a killed run: restore it or start the run again")
    if module.startswith("yaml"):
        return EXIT_USER_ERROR, f"a YAML file is not valid ({reason}); fix it"
    if isinstance(error, MemoryError):
        return EXIT_USER_ERROR, "out of memory; use fewer workers, smaller volumes or a smaller configuration"
    if isinstance(error, UnicodeDecodeError):
        return EXIT_USER_ERROR, f"a text file is not valid UTF-8 ({reason}); is it the file you meant?"
    return EXIT_BUG, (f"internal error: {kind}: {reason}. This is a bug in medgan; re-run with "
                      "--debug for the traceback and report it")


#: what to do about each file-system error, by errno
_OS_ADVICE = {
    errno.ENOSPC: "no space left on the device; free some space or choose another output folder, then re-run "
                  "the same command to resume",
    errno.EDQUOT: "disk quota exceeded; free some space or choose another output folder, then re-run the "
                  "same command to resume",
    errno.EFBIG: "file too large for this file system or over the file-size limit (ulimit -f); choose another "
                 "output folder, then re-run the same command to resume",
    errno.EROFS: "the file system is read-only; choose an output folder you can write to",
    errno.EACCES: "permission denied; choose a folder you can write to, or fix its permissions",
    errno.EPERM: "operation not permitted; choose a folder you can write to, or fix its permissions",
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose another path",
    errno.EISDIR: "is a folder where a file is expected; give a file path",
    errno.EEXIST: "already exists where medgan needs to create it (a file where a folder is needed?); "
                  "choose another path",
    errno.ENOENT: "does not exist; check the path",
    errno.ENAMETOOLONG: "the file name is too long for this file system; choose a shorter path",
    errno.ELOOP: "too many levels of symbolic links; check the path",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or use fewer workers",
    errno.ENFILE: "too many open files on this system; use fewer workers",
    errno.EIO: "input/output error (a failing disk or network file system?); check the device and retry",
    errno.ENOMEM: "out of memory; use fewer workers or a smaller configuration",
}


def describe_os_error(error: OSError) -> str:
    """One line naming the path(s) of a file-system error and what to do about it."""
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    advice = _OS_ADVICE.get(error.errno or -1)
    if advice is None:
        advice = _one_line(error.strerror or str(error)) or type(error).__name__
    where = " -> ".join(paths) if paths else "while reading or writing a file"
    return f"{where}: {advice}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------------------
# warnings


@contextlib.contextmanager
def _one_line_warnings(name: str, debug: bool) -> Iterator[None]:
    """Print each distinct Python warning and library log warning once, as one line on stderr."""
    seen: set[str] = set()

    def emit(text: str) -> None:
        text = _one_line(text)
        if text and text not in seen:
            seen.add(text)
            print(f"{name}: warning: {text}", file=sys.stderr)

    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: Any = None) -> None:
        emit(f"{message} ({category.__name__} from {_module_of(filename)})" if debug else str(message))

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            emit(f"{record.name}: {record.getMessage()}")

    handler = Handler(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        root.removeHandler(handler)


def _module_of(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/site-packages/")
    return parts[-1] if len(parts) > 1 else os.path.basename(filename)


# --------------------------------------------------------------------------------------------------
# threads


def default_threads() -> int:
    """Threads per process when ``OMP_NUM_THREADS`` is not set: ``min(usable cores, 4)``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_THREADS))


def configure_threads() -> int | None:
    """Unless ``OMP_NUM_THREADS`` is set, set it (and MKL's, OpenBLAS's, numba's) to :func:`default_threads`.

    Called before torch or numba are imported, so they start with that many threads; worker
    processes inherit it. Returns the number set, or ``None`` when the user chose.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    threads = default_threads()
    variables = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"]
    if "numba" not in sys.modules:  # numba refuses a change once its threads have started
        variables.append("NUMBA_NUM_THREADS")
    for variable in variables:
        os.environ.setdefault(variable, str(threads))
    return threads


if __name__ == "__main__":
    raise SystemExit(main())
