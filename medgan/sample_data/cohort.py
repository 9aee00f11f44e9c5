"""A simulated BraTS-layout cohort of any size, streamed to disk one case at a time.

The folder mirrors the shipped ``sample_data/``: ``brats/<case>/<case>-{t1n,t1c,t2w,t2f,ct,seg}.nii.gz``,
``brats/cases.csv``, optional ``lesions2d/``, ``PROVENANCE.md``, ``LICENSE-ICBM152.txt`` and
``SHA256SUMS``, plus ``cohort.json`` (the options). Cases are written as they are made, so memory
does not grow with the number of cases; an interrupted run resumes (cases already on disk are kept,
the rest made) and gives the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from medgan.errors import ConfigError
from medgan.sample_data.atlas import shipped_template
from medgan.sample_data.files import csv_text, write_text
from medgan.sample_data.geometry import (
    HEALTHY_ID_OFFSET,
    KIND_HEALTHY,
    KIND_LESION2D,
    KIND_TUMOUR,
    LESION_CLASSES,
    MR_CONTRASTS,
    subject_seed,
)
from medgan.sample_data.provenance import LICENCE_TEXT, provenance_text, write_sha256sums
from medgan.sample_data.stats import case_stats
from medgan.sample_data.subjects import CaseRecord, case_id, make_brats_case, make_lesion_slice

FILES = (*MR_CONTRASTS, "ct", "seg")
CASES_HEADER = ("case_id", "healthy", "tumour_voxels", "seed")


@dataclass(frozen=True)
class CohortOptions:
    """What a cohort is made of (recorded in ``cohort.json``; a resumed run must match it).

    Attributes:
        cases: number of 3D cases.
        seed: global seed; 0 reproduces the shipped cases as the first members.
        healthy_share: share of healthy cases, rounded half up (0.2 gives 4 of 20).
        slices: number of 2D lesion slices (``lesions2d/``), 0 for none.
    """

    cases: int
    seed: int = 0
    healthy_share: float = 0.2
    slices: int = 0

    @property
    def n_healthy(self) -> int:
        return int(math.floor(self.cases * self.healthy_share + 0.5))

    @property
    def n_tumour(self) -> int:
        return self.cases - self.n_healthy

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the option for an impossible cohort."""
        if self.cases < 1:
            raise ConfigError(f"--cases must be at least 1, got {self.cases}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        if not 0.0 <= self.healthy_share <= 1.0:
            raise ConfigError(f"--healthy-share must lie in [0, 1], got {self.healthy_share}")
        if self.n_tumour > HEALTHY_ID_OFFSET or self.n_healthy > HEALTHY_ID_OFFSET:
            raise ConfigError(f"--cases {self.cases} asks for {self.n_tumour} tumour and {self.n_healthy} healthy "
                              f"cases; at most {HEALTHY_ID_OFFSET} of each fit the BraTS-SIM numbering")
        if not 0 <= self.slices <= 10000:
            raise ConfigError(f"--slices must lie in [0, 10000], got {self.slices}")

    def command(self, out: Path) -> str:
        """The command line that makes this cohort (``--out`` by the folder's name, so the bytes do not
        depend on where the folder lies)."""
        parts = [f"medgan sample-data --cases {self.cases} --out {out.name}"]
        if self.seed:
            parts.append(f"--seed {self.seed}")
        if self.healthy_share != 0.2:
            parts.append(f"--healthy-share {self.healthy_share:g}")
        if self.slices:
            parts.append(f"--slices {self.slices}")
        return " ".join(parts)


@dataclass
class CohortSummary:
    """What :func:`generate_cohort` wrote: the case records, per-case statistics and timing."""

    out: Path
    cases: list[CaseRecord] = field(default_factory=list)
    stats: list[dict[str, Any]] = field(default_factory=list)
    slices: list[tuple[str, int, int]] = field(default_factory=list)
    resumed: int = 0
    seconds: float = 0.0


def _tasks(options: CohortOptions) -> list[tuple[str, int, int]]:
    tasks = [("brats", KIND_TUMOUR, i) for i in range(options.n_tumour)]
    tasks += [("brats", KIND_HEALTHY, i) for i in range(options.n_healthy)]
    return tasks + [("slice", KIND_LESION2D, i) for i in range(options.slices)]


def _case_done(folder: Path, name: str) -> bool:
    return all((folder / name / f"{name}-{m}.nii.gz").is_file() for m in FILES)


def _run(task: tuple[str, Path, int, int, int]) -> tuple[Any, dict[str, Any] | None, bool]:
    """Make (or, when complete on disk, read back) one subject; returns (record, stats, resumed)."""
    what, out, seed, kind, index = task
    if what == "slice":
        name = f"lesion-{index:04d}"
        done = all((out / "lesions2d" / sub / f"{name}.nii.gz").is_file() for sub in ("images", "labels"))
        if done:
            return (name, 1 + index % 3, subject_seed(seed, KIND_LESION2D, index)), None, True
        return make_lesion_slice(shipped_template(), out, seed, index), None, False
    name, folder = case_id(kind, index), out / "brats"
    resumed = _case_done(folder, name)
    if resumed:
        seg = np.asarray(nib.load(folder / name / f"{name}-seg.nii.gz").dataobj)
        record = CaseRecord(name, kind == KIND_HEALTHY, int(np.count_nonzero(seg)), subject_seed(seed, kind, index))
    else:
        record = make_brats_case(shipped_template(), out, seed, kind, index)
    return record, case_stats(folder, name), resumed


def _results(tasks: list[tuple], workers: int) -> Iterator[tuple[Any, dict[str, Any] | None, bool]]:
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_run, tasks)
        return
    # subjects are independent and seeded alone: the output does not depend on the number of workers
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_run, tasks, chunksize=1)


def _check_folder(out: Path, options: CohortOptions) -> None:
    manifest = out / "cohort.json"
    if manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{manifest}: not valid JSON ({exc.msg}); remove it or choose another --out") from None
        if recorded != asdict(options):
            raise ConfigError(f"{out}: holds a cohort made with other options ({recorded}); "
                              f"choose another --out or repeat those options to resume")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: exists and is not an empty folder or a medgan sample-data cohort")


def generate_cohort(out: str | Path, cases: int, seed: int = 0, healthy_share: float = 0.2, slices: int = 0,
                    workers: int = 1, log: Callable[[str], None] | None = None) -> CohortSummary:
    """Simulate a cohort into ``out`` (see the module docstring for the layout).

    Args:
        out: an empty or missing folder, or one an earlier run with the same options left (resumed).
        cases, seed, healthy_share, slices: see :class:`CohortOptions`.
        workers: processes making cases in parallel (the output is the same for any number).
        log: called with a plain progress line now and then (e.g. ``print``).

    Returns:
        The records and per-case statistics (:func:`medgan.sample_data.stats.case_stats`).

    Raises:
        ConfigError: impossible options, or ``out`` holds something else.
    """
    options = CohortOptions(int(cases), int(seed), float(healthy_share), int(slices))
    options.check()
    out = Path(out)
    _check_folder(out, options)
    start = time.perf_counter()
    write_text(out / "cohort.json", json.dumps(asdict(options), indent=2) + "\n")
    summary = CohortSummary(out)
    tasks = _tasks(options)
    partial = out / "brats" / ".cases.csv.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    step = max(1, len(tasks) // 10)
    with partial.open("w", newline="") as handle:  # streamed: one row per case as it is written
        table = csv.writer(handle, lineterminator="\n")
        table.writerow(CASES_HEADER)
        jobs = [(what, out, options.seed, kind, index) for what, kind, index in tasks]
        for done, (record, stats, resumed) in enumerate(_results(jobs, workers), start=1):
            summary.resumed += int(resumed)
            if isinstance(record, CaseRecord):
                table.writerow((record.case_id, record.healthy, record.tumour_voxels, record.seed))
                summary.cases.append(record)
                summary.stats.append(stats or {})
            else:
                summary.slices.append(record)
            if log is not None and (done % step == 0 or done == len(tasks)):
                rate = (time.perf_counter() - start) / done
                log(f"sample-data: {done}/{len(tasks)} subjects ({rate:.1f} s each, "
                    f"about {rate * (len(tasks) - done) / 60:.1f} min left)")
    os.replace(partial, out / "brats" / "cases.csv")
    if summary.slices:
        write_text(out / "lesions2d" / "classes.csv", csv_text(
            ("name", "class_id", "class_name"), [(n, c, LESION_CLASSES[c]) for n, c, _ in summary.slices]))
        write_text(out / "lesions2d" / "class_names.json",
                   json.dumps({str(k): v for k, v in LESION_CLASSES.items()}, indent=2) + "\n")
    write_text(out / "LICENSE-ICBM152.txt", LICENCE_TEXT)
    write_text(out / "PROVENANCE.md", provenance_text(options.command(out), summary.cases, summary.slices,
                                                      cohort=True))
    write_sha256sums(out)
    summary.seconds = time.perf_counter() - start
    return summary
