"""Run a benchmark grid: fold x training-set size x arm x added-case ratio x seed, resumable, shardable.

Order of work, so that no test case can leak and nothing runs on bad input:
1. every setting is checked against the dataset (:func:`medgan.benchmark.pipeline.check_against_data`)
   before anything is written;
2. the k folds are drawn from ``split.seed`` and written to ``split.json``;
3. for each (fold, size, seed) that a GAN arm needs, the synthesis stage is fitted on that training
   set only (refused if any case matches a test case by id or by voxels) and its synthetic cases are
   written under ``synthetic/``;
4. each cell sets every random state it uses at its start, trains the backend with the same budget
   and stopping rule, is evaluated on its fold's test cases, and is saved under ``cells/`` at once, so
   a re-run resumes after the last finished cell with bit-identical results (on CPU).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medgan.benchmark.arms import Arm
from medgan.benchmark.controls import wrong_label_cases
from medgan.benchmark.gate import check_stage, enforce, read_gate
from medgan.benchmark.pipeline import (
    DataFacts,
    Pipeline,
    added_cases,
    check_against_data,
    data_path,
    training_sizes,
)
from medgan.benchmark.split import CrossValidation, content_key, make_folds, refuse_test_leak
from medgan.benchmark.unet import normalise  # also registers the "unet" backend
from medgan.config import config_to_dict, save_config
from medgan.data import mix
from medgan.errors import ConfigError
from medgan.io import DatasetWriter, load_dataset, write_text_atomic
from medgan.io.datasets import Dataset
from medgan.io.outdir import hold_run_folder
from medgan.registry import BACKENDS, BENCHMARK_ARMS, SYNTHESIS_STAGES
from medgan.synthesis.montage import write_montage

#: CPU threads of one cell: fixed, because PyTorch's CPU results depend on the thread count, and a cell
#: must give the same numbers whether it runs alone, after others, or in a worker (use --workers)
CELL_THREADS = 1


@dataclass(frozen=True)
class Cell:
    """One training run of the grid.

    Attributes:
        fold: cross-validation fold.
        cases: real training cases.
        arm: arm name.
        ratio: added cases per real case (0 for arms that add none).
        seed: training seed.
        fraction: the grid fraction that gave ``cases`` (``None`` when the grid lists cases).
    """

    fold: int
    cases: int
    arm: str
    ratio: float
    seed: int
    fraction: float | None = None

    @property
    def key(self) -> str:
        return f"k{self.fold}_n{self.cases}_{self.arm}_r{self.ratio:g}_s{self.seed}"

    @property
    def stage_key(self) -> str:
        """The synthesis stage this cell's fold, size and seed share."""
        return f"k{self.fold}_n{self.cases}_s{self.seed}"


def grid_cells(pipeline: Pipeline, cv: CrossValidation) -> tuple[list[Cell], list[tuple[Cell, str]]]:
    """Every cell of the grid, and the cells left out with the reason (a positive control without reserve).

    Arms that add no cases run with ratio 0 only; arms that add cases run once per ratio > 0.
    """
    cells: list[Cell] = []
    skipped: list[tuple[Cell, str]] = []
    folds = pipeline.grid.folds if pipeline.grid.folds is not None else range(len(cv.folds))
    for seed in pipeline.grid.seeds:
        for size in training_sizes(pipeline, cv.min_pool):
            for fold in folds:
                pool = len(cv.fold(fold).train)
                for name in pipeline.grid.arms:
                    arm: Arm = BENCHMARK_ARMS.get(name)
                    ratios = [r for r in pipeline.grid.ratios if r > 0] if arm.adds_cases else [0.0]
                    for ratio in ratios:
                        cell = Cell(int(fold), size.cases, name, float(ratio), int(seed), size.fraction)
                        extra = added_cases(ratio, size.cases)
                        if arm.control == "positive" and size.cases + extra > pool:
                            skipped.append((cell, f"needs {extra} reserve cases beyond the {size.cases} training "
                                                  f"cases, fold {fold}'s pool has {pool - size.cases}"))
                            continue
                        cells.append(cell)
    return cells, skipped


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"2/8"`` -> ``(2, 8)``; shards are numbered from 0."""
    if not text:
        return 0, 1
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard expects i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise ConfigError(f"--shard {text}: need 0 <= i < n")
    return index, count


def shard_cells(cells: Sequence[Cell], shard: str | None) -> list[Cell]:
    """The cells of shard ``i/n``: whole (fold, size, seed) groups, so a GAN stage is trained in one shard."""
    index, count = parse_shard(shard)
    groups = list(dict.fromkeys(c.stage_key for c in cells))
    mine = {k for i, k in enumerate(groups) if i % count == index}
    return [c for c in cells if c.stage_key in mine]


def check_pipeline(pipeline: Pipeline) -> None:
    """Fail early, naming what is missing, when a pipeline needs something this medgan lacks."""
    for name in pipeline.grid.arms:
        BENCHMARK_ARMS.get(name)
    for arm in (BENCHMARK_ARMS.get(a) for a in pipeline.grid.arms):
        if arm.stage:
            SYNTHESIS_STAGES.get(arm.stage)
    if any(BENCHMARK_ARMS.get(a).synthetic and not BENCHMARK_ARMS.get(a).stage for a in pipeline.grid.arms):
        stage = pipeline.synthesis.stage
        if not stage:
            raise ConfigError(f"pipeline {pipeline.name!r} has GAN arms but no synthesis.stage")
        if stage not in SYNTHESIS_STAGES:
            known = ", ".join(SYNTHESIS_STAGES.names()) or "none yet"
            raise ConfigError(f"pipeline {pipeline.name!r} needs the synthesis stage {stage!r}, which this "
                              f"version of medgan does not provide (available: {known})")
    backend = BACKENDS.get(pipeline.backend)
    if hasattr(backend, "check"):  # e.g. an optional dependency the backend needs
        backend.check(pipeline)


class BenchmarkData:
    """The dataset's labelled cases, loaded once, with the fixed folds.

    ``raw`` holds the cases as read (what synthesis stages train on and insert into); :meth:`get`
    returns them with each channel z-score normalised over the body (what the downstream model sees),
    computed when asked, so only one copy of the dataset stays in memory.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.dataset: Dataset = load_dataset(data_path(pipeline), pipeline.data.format, pipeline.data.modalities)
        self.raw: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, set[str]] = {}
        for ref in self.dataset.cases:
            if ref.label is not None:
                case = self.dataset.load(ref)
                self.raw[ref.id] = case
                self._keys[ref.id] = {content_key(case), content_key(self._normalised(case))}
        self.cases = self.raw  # ids, labels and shapes (the images as read)
        if not self.cases:
            raise ConfigError(f"{self.dataset.root}: no labelled cases to benchmark on")
        self.healthy = {i: not bool(np.any(c["label"])) for i, c in self.cases.items()}
        strata = {i: "healthy" if h else "lesion" for i, h in self.healthy.items()} \
            if pipeline.split.stratify_empty_labels else None
        s = pipeline.split
        self.cv: CrossValidation = make_folds(list(self.cases), s.folds, s.val_fraction, s.seed, strata)
        values: set[int] = set()
        for case in self.cases.values():
            values.update(int(v) for v in np.unique(case["label"]))
        self.label_values = frozenset(values)
        self.n_classes = max(values) + 1
        first = next(iter(self.cases.values()))["image"]
        self.in_channels = int(first.shape[0])
        self.facts = DataFacts(str(self.dataset.root), first.ndim,
                               tuple(int(min(c["image"].shape[1 + a] for c in self.cases.values()))
                                     for a in range(first.ndim - 1)),
                               self.label_values, self.cv.min_pool)

    def test_keys(self, fold: int) -> set[str]:
        """Content hashes of the fold's test cases (as read and normalised)."""
        return set().union(*(self._keys[i] for i in self.cv.fold(fold).test))

    @staticmethod
    def _normalised(case: dict[str, Any]) -> dict[str, Any]:
        return {**case, "image": normalise(case["image"])}

    def get(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Normalised cases, for the downstream model (made on each call; nothing is kept)."""
        return [self._normalised(self.raw[i]) for i in ids]

    def get_raw(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Cases as read, for synthesis stages."""
        return [self.raw[i] for i in ids]


def resolve_label_names(pipeline: Pipeline, data: BenchmarkData) -> Pipeline:
    """The pipeline with ``label_names`` for every foreground label of the data: the pipeline's own
    names first, then the dataset's (e.g. a BraTS layout's), then the value itself."""
    names = {int(k): str(v) for k, v in pipeline.label_names.items()}
    resolved = {v: names.get(v) or data.dataset.label_names.get(v) or str(v)
                for v in sorted(data.label_values) if v != 0}
    return replace(pipeline, label_names=resolved)


@contextlib.contextmanager
def cell_random_state(seed: int, device: str) -> Iterator[None]:
    """Set every random state a cell or stage depends on (Python, numpy and torch global generators,
    CPU thread count, cuDNN algorithm choice) at its start, and put the caller's back afterwards."""
    import torch

    python_state, numpy_state = random.getstate(), np.random.get_state()
    threads = torch.get_num_threads()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    cuda = device.startswith("cuda") and torch.cuda.is_available()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if cuda else []):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        torch.set_num_threads(CELL_THREADS)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def synthetic_dir(out: Path, fold: int, cases: int, seed: int, stage: str = "") -> Path:
    """The folder of one stage's synthetic cases: the pipeline's stage, or an arm's own (``stage``)."""
    return out / "synthetic" / f"{stage + '_' if stage else ''}k{fold}_n{cases}_s{seed}"


def prepare_synthetic(pipeline: Pipeline, data: BenchmarkData, out: Path, fold: int, cases: int, seed: int,
                      n: int, device: str, stage: str = "") -> Path:
    """Fit a synthesis stage on one fold's training set of ``cases`` real cases; write ``n`` synthetic
    cases, the realism gate's verdict on them (``realism.json``, ``realism.md``) and ``montage.png``.

    Args:
        stage: an arm's own stage (e.g. ``copy-paste``, with its default options); default: the
            pipeline's ``synthesis.stage`` with its ``options``.

    Raises:
        ConfigError: the stage failed the realism gate and the pipeline does not allow it (also
            when the folder was made by an earlier run).
    """
    name = stage or str(pipeline.synthesis.stage)
    options = dict(pipeline.synthesis.options) if name == pipeline.synthesis.stage else {}
    folder = synthetic_dir(out, fold, cases, seed, stage)
    allow = pipeline.synthesis.allow_failed_gate
    if (folder / "manifest.csv").is_file():
        enforce(read_gate(folder), folder, allow)
        return folder
    started, cpu = time.perf_counter(), time.process_time()
    train = data.get_raw(data.cv.training_subset(fold, cases, seed))
    refuse_test_leak("GAN training", train, data.cv.fold(fold), data.test_keys(fold))
    with cell_random_state(seed, device):
        synthesis = SYNTHESIS_STAGES.get(name)(options, pipeline.spatial_dims, device)
        synthesis.fit(train, folder / "gan", seed)
        made = synthesis.sample(n, seed, train)
    gate = check_stage(name, made, train, folder)
    writer = DatasetWriter(data.dataset, folder / "cases")
    for index, case in enumerate(made):
        case_id = f"synthetic_{stage + '_' if stage else ''}k{fold}_n{cases}_s{seed}_{index:04d}"
        writer.write(case, case_id, {"stage": name, "seed": seed, "fold": fold, "cases": cases, "index": index,
                                     "source": case.get("meta", {}).get("source_case", "")})
    writer.finish()
    by_id = {str(c["id"]): c for c in train}
    pairs = [(case, by_id.get(str(case.get("meta", {}).get("source_case", "")))) for case in made]
    write_montage(pairs, folder / "montage.png", pipeline.label_names or None,
                  title=f"{name}: fold {fold}, {cases} training cases, seed {seed} (realism gate: {gate['status']})",
                  max_cases=6)
    timing = {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu, "cases": n}
    write_text_atomic(folder / "timing.json", json.dumps(timing))
    write_text_atomic(folder / "manifest.csv", (folder / "cases" / "manifest.csv").read_text())
    enforce(gate, folder, allow)
    return folder


def _load_synthetic(folder: Path) -> list[dict[str, Any]]:
    dataset = load_dataset(folder / "cases")
    cases = []
    for case in dataset:
        case["image"] = normalise(case["image"])
        cases.append(case)
    return cases


def _gate(folder: Path) -> str:
    """The realism gate's verdict on a synthetic folder (``passed``, ``failed``...), or ``""`` when none ran."""
    return str(read_gate(folder).get("status", ""))


def training_cases(data: BenchmarkData, out: Path, cell: Cell) -> tuple[list[dict[str, Any]], int, str]:
    """The cell's training list (real cases, then the arm's added cases), the number added, and the gate."""
    arm: Arm = BENCHMARK_ARMS.get(cell.arm)
    real = data.get(data.cv.training_subset(cell.fold, cell.cases, cell.seed))
    extra = added_cases(cell.ratio, cell.cases) if arm.adds_cases else 0
    gate = ""
    if arm.synthetic:
        folder = synthetic_dir(out, cell.fold, cell.cases, cell.seed, arm.stage)
        training = mix(real, _load_synthetic(folder), cell.ratio, cell.seed, synthetic_only=arm.synthetic_only)
        gate = _gate(folder)
    elif arm.control == "positive":
        training = real + data.get(data.cv.reserve(cell.fold, cell.cases, extra, cell.seed))
    elif arm.control == "negative":
        training = real + wrong_label_cases(real, extra, cell.seed)
    else:
        training = list(real)
    return training, extra, gate


def run_cell(pipeline: Pipeline, data: BenchmarkData, out: Path, cell: Cell, device: str) -> list[dict[str, Any]]:
    """Train and evaluate one cell; returns one row per test case x region x metric."""
    started, cpu = time.perf_counter(), time.process_time()
    with cell_random_state(cell.seed, device):
        fold = data.cv.fold(cell.fold)
        training, extra, gate = training_cases(data, out, cell)
        refuse_test_leak("training", training, fold, data.test_keys(cell.fold))
        augment = None
        if BENCHMARK_ARMS.get(cell.arm).classic:  # imported here: other arms do not need it
            from medgan.benchmark.augment import classic_augmenter

            augment = classic_augmenter(pipeline)
        backend = BACKENDS.get(pipeline.backend)(pipeline, data.in_channels, data.n_classes, device)
        result = backend.run(training, data.get(fold.val), data.get(fold.test), cell.seed, augment,
                             workdir=out / "work" / cell.key)
    cell_fields = {**asdict(cell), "fraction": cell.fraction if cell.fraction is not None else float("nan")}
    rows = [{**cell_fields, "healthy": data.healthy.get(row["case"], False), **row} for row in result.rows]
    record = {"cell": asdict(cell), "rows": rows, "log": result.log, "seconds": time.perf_counter() - started,
              "cpu_seconds": time.process_time() - cpu, "n_train_real": cell.cases, "n_added": extra,
              "n_train_total": len(training),
              "budget": result.budget, "training": result.training, "gate": gate, "threads": CELL_THREADS,
              "device": device}
    write_text_atomic(out / "cells" / f"{cell.key}.json", json.dumps(record, default=float))
    _save_example(out / "examples" / f"{cell.key}.npz", result.example)
    return rows


def _save_example(path: Path, example: dict[str, Any]) -> None:
    if not example:
        return
    image, label, prediction = example["image"], example["label"], example["prediction"]
    if image.ndim == 3:  # keep the axial slice with the most foreground
        z = int(np.argmax((label > 0).sum(axis=(0, 1)))) if label.any() else image.shape[2] // 2
        image, label, prediction = image[..., z], label[..., z], prediction[..., z]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, image=image, label=label, prediction=prediction, case=example["case"])
    os.replace(tmp, path)


_WORKER: dict[str, Any] = {}


def _init_worker(pipeline: Pipeline) -> None:
    """Load the dataset once per worker process (not once per cell)."""
    _WORKER["data"] = BenchmarkData(pipeline)


def _work(task: tuple[str, Pipeline, str, Any, str]) -> str:
    kind, pipeline, out, item, device = task
    if kind == "stage":
        stage, fold, cases, seed, n = item
        prepare_synthetic(pipeline, _WORKER["data"], Path(out), fold, cases, seed, n, device, stage)
        return f"{stage}k{fold}_n{cases}_s{seed}"
    run_cell(pipeline, _WORKER["data"], Path(out), item, device)
    return item.key


class _Progress:
    """A tqdm bar on a terminal; otherwise a plain line per finished item with rate and time left."""

    def __init__(self, total: int, done: int, label: str, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.total, self.done, self.label, self.started, self.new = total, done, label, time.perf_counter(), 0
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=done, desc=label, unit="item") if enabled and sys.stderr.isatty() else None

    def update(self) -> None:
        self.done, self.new = self.done + 1, self.new + 1
        if self.bar is not None:
            self.bar.update()
        elif self.enabled:
            each = (time.perf_counter() - self.started) / self.new
            left = each * (self.total - self.done) / 60
            print(f"{self.label}: {self.done}/{self.total} done, {each:.0f} s each, about {left:.0f} min left",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_tasks(tasks: list[tuple[str, Pipeline, str, Any, str]], data: BenchmarkData, workers: int,
               progress: _Progress) -> None:
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            kind, pipeline, out, item, device = task
            if kind == "stage":
                stage, fold, cases, seed, n = item
                prepare_synthetic(pipeline, data, Path(out), fold, cases, seed, n, device, stage)
            else:
                run_cell(pipeline, data, Path(out), item, device)
            progress.update()
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(tasks)), initializer=_init_worker, initargs=(tasks[0][1],)) as pool:
        for _ in pool.imap_unordered(_work, tasks):
            progress.update()


def _protocol(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a run folder's cells depend on (the grid's lists may grow on resume)."""
    grid = {k: v for k, v in config.get("grid", {}).items() if k not in ("arms", "ratios", "seeds", "folds",
                                                                          "fractions", "cases")}
    ignored = ("grid", "quick", "base_dir", "source", "protocol", "name")
    protocol = {**{k: v for k, v in config.items() if k not in ignored}, "grid": grid}
    if isinstance(protocol.get("synthesis"), dict):  # allowing a failed stage changes no result
        protocol["synthesis"] = {k: v for k, v in protocol["synthesis"].items() if k != "allow_failed_gate"}
    return protocol


def split_record(data: BenchmarkData) -> dict[str, Any]:
    """What ``split.json`` holds: the folds, and which cases are healthy (no foreground label)."""
    return {**data.cv.to_dict(), "healthy": sorted(i for i, h in data.healthy.items() if h)}


def write_grid(out: Path, pipeline: Pipeline, data: BenchmarkData) -> None:
    """``grid.csv``: every cell of the whole grid (all shards), with the cells left out and why; the
    report counts missing results against it."""
    cells, skipped = grid_cells(pipeline, data.cv)
    rows = [{**asdict(c), "key": c.key, "status": "planned"} for c in cells]
    rows += [{**asdict(c), "key": c.key, "status": f"left out: {reason}"} for c, reason in skipped]
    write_text_atomic(out / "grid.csv", pd.DataFrame(rows).to_csv(index=False))


def _refuse_other_run(out: Path, pipeline: Pipeline, data: BenchmarkData) -> None:
    split_file = out / "split.json"
    if split_file.is_file() and json.loads(split_file.read_text()) != split_record(data):
        raise ConfigError(f"{split_file}: this run folder holds a different split; use a new --out folder")
    config_file = out / "config.yaml"
    if config_file.is_file():
        import yaml

        old, new = _protocol(yaml.safe_load(config_file.read_text()) or {}), _protocol(config_to_dict(pipeline))
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise ConfigError(f"{config_file}: this run folder was made with other settings ({', '.join(changed)}); "
                              "resuming would mix them: use a new --out folder")


def plan(pipeline: Pipeline, data: BenchmarkData, shard: str | None = None
         ) -> tuple[list[Cell], list[tuple[Cell, str]]]:
    """The cells this run (or shard) trains, and the grid's cells left out with the reason."""
    cells, skipped = grid_cells(pipeline, data.cv)
    return shard_cells(cells, shard), skipped


def run_benchmark(pipeline: Pipeline, out: str | Path, workers: int = 1, shard: str | None = None,
                  device: str | None = None, progress: bool = True) -> Path:
    """Run (or resume) the pipeline's grid into ``out``; returns the path of ``results.csv``.

    Args:
        pipeline: the loaded pipeline.
        out: run folder (created; re-using it resumes; a folder holding another split or other
            settings is refused).
        workers: cells (and GAN stages) trained in parallel processes, one CPU thread each.
        shard: ``"i/n"`` runs every n-th (fold, size, seed) group starting at i (e.g. one SLURM array
            task each); ``medgan report`` merges the shards.
        device: ``"cpu"`` or ``"cuda"`` (default: cuda when available).
    """
    import torch

    check_pipeline(pipeline)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    data = BenchmarkData(pipeline)
    check_against_data(pipeline, data.facts)
    pipeline = resolve_label_names(pipeline, data)
    try:
        from medgan.metrics.segmentation import evaluation_regions

        evaluation_regions(sorted(pipeline.label_names), pipeline.label_names, pipeline.regions)
    except ValueError as error:
        raise ConfigError(f"{pipeline.source or pipeline.name}: regions: {error}") from None
    cells, skipped = plan(pipeline, data, shard)
    out = Path(out)
    with hold_run_folder(out, "medgan benchmark", adopt="config.yaml"):
        return _run_grid(pipeline, data, out, cells, skipped, workers, device, progress)


def _run_grid(pipeline: Pipeline, data: BenchmarkData, out: Path, cells: list[Cell],
              skipped: list[tuple[Cell, str]], workers: int, device: str, progress: bool) -> Path:
    """The body of :func:`run_benchmark`, run while holding ``out``."""
    _refuse_other_run(out, pipeline, data)
    write_text_atomic(out / "split.json", json.dumps(split_record(data), indent=2))
    save_config(pipeline, out / "config.yaml")
    write_grid(out, pipeline, data)
    todo = [c for c in cells if not (out / "cells" / f"{c.key}.json").is_file()]
    stages: dict[tuple[str, int, int, int], int] = {}
    for cell in todo:
        arm = BENCHMARK_ARMS.get(cell.arm)
        if arm.synthetic:
            key = (arm.stage, cell.fold, cell.cases, cell.seed)
            stages[key] = max(stages.get(key, 1), added_cases(cell.ratio, cell.cases))
    for key in list(stages):
        folder = synthetic_dir(out, *key[1:], key[0])
        if (folder / "manifest.csv").is_file():  # fitted already: refused before any training, also on resume
            enforce(read_gate(folder), folder, pipeline.synthesis.allow_failed_gate)
            del stages[key]
    if progress:
        print(f"{pipeline.name}: {len(data.cv.folds)} folds, {len(cells)} cells in this run ({len(todo)} to train), "
              f"{len(stages)} synthesis stages to fit; {len(skipped)} cells left out", file=sys.stderr, flush=True)
        for cell, reason in skipped[:3]:
            print(f"  left out: {cell.key}: {reason}", file=sys.stderr)
    tasks = [("stage", pipeline, str(out), (*key, n), device) for key, n in sorted(stages.items())]
    bar = _Progress(len(tasks), 0, "synthesis", progress and bool(tasks))
    _run_tasks(tasks, data, workers, bar)
    bar.close()
    bar = _Progress(len(cells), len(cells) - len(todo), "grid", progress)
    _run_tasks([("cell", pipeline, str(out), c, device) for c in todo], data, workers, bar)
    bar.close()
    return collect_results(out, cells)


def collect_results(out: Path, cells: Sequence[Cell]) -> Path:
    """Gather the finished cells into ``results.csv`` (one row per test case x seed x region x metric: the
    unit of analysis), ``cells.csv`` (one row per cell: time, budget, stopping step, gate) and
    ``curves.csv`` (validation score per step)."""
    rows, per_cell, curves = [], [], []
    for cell in cells:
        path = out / "cells" / f"{cell.key}.json"
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        rows.extend(record["rows"])
        fields = {**record["cell"], "fraction": cell.fraction if cell.fraction is not None else float("nan")}
        training = record.get("training", {})
        per_cell.append({**fields, "seconds": record["seconds"], "cpu_seconds": record.get("cpu_seconds"),
                         "n_train_real": record["n_train_real"],
                         "n_added": record["n_added"], "n_train_total": record["n_train_total"],
                         "steps_run": training.get("steps_run"), "best_step": training.get("best_step"),
                         "stopped_early": training.get("stopped_early"), "gate": record.get("gate", ""),
                         "budget": json.dumps(record["budget"], sort_keys=True)})
        for entry in record["log"]:
            if "val_dice" in entry:
                curves.append({**fields, "step": entry["step"], "val_dice": entry["val_dice"],
                               "loss": entry.get("loss")})
    write_text_atomic(out / "results.csv", pd.DataFrame(rows).to_csv(index=False))
    write_text_atomic(out / "cells.csv", pd.DataFrame(per_cell).to_csv(index=False))
    write_text_atomic(out / "curves.csv", pd.DataFrame(curves).to_csv(index=False))
    return out / "results.csv"
