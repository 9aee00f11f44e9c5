"""Case selection shared by the families' command lines: ``--cases`` and ``--exclude-cases`` when
training, and the run's excluded cases (its test split) kept out of synthesis inputs. The leading
underscore keeps the registry from treating this module as a family."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medgan.errors import ConfigError
from medgan.training.run import excluded_cases, read_ids


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


def add_exclusion_override(parser: argparse.ArgumentParser) -> None:
    """``--allow-excluded``: use the run's excluded (test) cases as synthesis inputs anyway."""
    parser.add_argument("--allow-excluded", action="store_true",
                        help="also use the cases the run excluded from its training (normally its test cases) "
                             "when the input is the run's training dataset; by default they are skipped")


def without_excluded(run_dir: str | Path, dataset_root: str | Path, chosen: Sequence[str], given: bool,
                     allow: bool, what: str = "source") -> list[str]:
    """``chosen`` case ids minus those the run excluded from training, when ``dataset_root`` is its
    training dataset (a test case must not seed synthetic training data).

    Args:
        run_dir: the trained run.
        dataset_root: the dataset the ids belong to.
        chosen: candidate ids.
        given: the user named the ids (``--cases``): an excluded one is then an error.
        allow: ``--allow-excluded``: keep them, with a warning on stderr.
        what: what the ids are used as, for messages.

    Raises:
        ConfigError: an excluded case was asked for by name without ``--allow-excluded``.
    """
    excluded = set(excluded_cases(run_dir, dataset_root))
    hit = [c for c in chosen if c in excluded]
    if not hit:
        return list(chosen)
    if allow:
        print(f"WARNING: --allow-excluded: {len(hit)} {what} case(s) that {run_dir} excluded from its training "
              f"(its test cases, e.g. {hit[0]}) are used; keep the results away from any evaluation on them",
              file=sys.stderr)
        return list(chosen)
    if given:
        raise ConfigError(f"case {hit[0]!r} was excluded from the training of {run_dir} (a test case); pass "
                          "--allow-excluded to use it anyway")
    print(f"skipping {len(hit)} case(s) that {run_dir} excluded from its training (its test cases); "
          "--allow-excluded uses them anyway", file=sys.stderr)
    return [c for c in chosen if c not in excluded]


def check_window(setting: str, window: Sequence[int], grid: Sequence[int], case_id: str) -> None:
    """Refuse a patch or region ``window`` larger than a case's ``grid`` in any axis.

    Raises:
        ConfigError: one line naming ``setting``, the window and the case's grid.
    """
    if any(int(w) > int(g) for w, g in zip(window, grid)):
        raise ConfigError(f"{setting} {[int(w) for w in window]} is larger than case {case_id}'s grid "
                          f"{[int(g) for g in grid]}: lower {setting}")
