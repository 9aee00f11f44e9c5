"""The ``medgan`` command. Each subcommand lives in ``medgan/commands/<name>.py`` and holds only
argument parsing and printing; the work is done by the library.

Errors a user can fix (:class:`~medgan.errors.MedganError`) are printed as one line, without a
traceback, and the command exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from medgan import __version__
from medgan.errors import MedganError

#: subcommand modules under ``medgan.commands``, in the order ``medgan --help`` lists them
COMMANDS = ("inspect", "augment", "train", "synthesize", "translate", "evaluate", "benchmark", "report", "demo",
            "sample_data")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``medgan`` with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="medgan",
        description="Augment medical-imaging datasets with classic transforms and GANs, and measure the gain.",
    )
    parser.add_argument("--version", action="version", version=f"medgan {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"medgan.commands.{name}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``medgan`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except MedganError as error:
        print(f"medgan {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"medgan {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
