"""Case selection shared by every family's command line: ``--cases`` and ``--exclude-cases``
(the leading underscore keeps the registry from treating this module as a family)."""

from __future__ import annotations

import argparse
from typing import Any

from medgan.training.run import read_ids


def add_case_selection(parser: argparse.ArgumentParser, use: str = "train on") -> None:
    """``--cases`` and ``--exclude-cases`` (ids, or a file of ids)."""
    parser.add_argument("--cases", type=read_ids, metavar="IDS_OR_FILE",
                        help=f"{use} only these case ids (comma-separated, or a file with one id per line)")
    parser.add_argument("--exclude-cases", type=read_ids, metavar="IDS_OR_FILE", default=[],
                        help=f"never {use} these case ids, e.g. the test split (comma-separated or a file)")


def apply_case_selection(args: argparse.Namespace, data: Any) -> None:
    """Write ``--cases`` / ``--exclude-cases`` into a family's data config (``cases``, ``exclude_cases``)."""
    if args.cases:
        data.cases = list(args.cases)
    if args.exclude_cases:
        data.exclude_cases = sorted(set(data.exclude_cases) | set(args.exclude_cases))


def select_case_ids(dataset: Any, cases: list[str] | None, exclude: list[str], labelled_only: bool = True
                    ) -> list[str]:
    """Cases to train on: ``cases`` (default: every case, or every labelled one) minus ``exclude``.

    Raises:
        DataError: an id in ``cases`` or ``exclude`` is not in the dataset (a typo must not let a
            test case slip through).
    """
    from medgan.errors import DataError

    known = {ref.id for ref in dataset.cases}
    for case_id in (cases or []) + list(exclude):
        if case_id not in known:
            raise DataError(dataset.root, f"no case named {case_id!r} (given in cases / exclude_cases)")
    chosen = cases if cases is not None else [ref.id for ref in dataset.cases
                                              if ref.label is not None or not labelled_only]
    banned = set(exclude)
    return [c for c in chosen if c not in banned]
