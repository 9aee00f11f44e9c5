"""User-facing errors: each one is a single line that names the file (or setting) and the problem.

The command-line interface prints these without a traceback and exits non-zero; anything else that
escapes is a bug in medgan.
"""

from __future__ import annotations

from pathlib import Path


class MedganError(Exception):
    """Base class of every error medgan reports to a user as one line."""


class DataError(MedganError):
    """A problem with an input file or dataset.

    Args:
        path: the file or folder at fault.
        problem: what is wrong, in words a user understands.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(MedganError):
    """A problem with a configuration file or command-line option."""
