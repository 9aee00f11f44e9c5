"""Run a benchmark grid: data fraction x arm x synthetic ratio x seed, resumable, shardable.

Order of work, so that no test case can leak:
1. the split is drawn from ``split.seed`` and written to ``split.json`` before anything else;
2. for each (fraction, seed) that a GAN arm needs, the synthesis stage is fitted on that fraction's
   real training cases only (refused if any case matches a test case by id or by voxels), and its
   synthetic cases are written under ``synthetic/``;
3. each cell trains the backend with the same budget and is evaluated on the same test cases; its
   rows are saved under ``cells/`` as soon as it finishes, so a re-run resumes after the last one.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from medgan.benchmark.arms import Arm
from medgan.benchmark.pipeline import Pipeline, data_path
from medgan.benchmark.split import Split, content_key, make_split, refuse_test_leak
from medgan.benchmark.unet import normalise  # also registers the "unet" backend
from medgan.config import config_to_dict, save_config
from medgan.data import mix
from medgan.errors import ConfigError
from medgan.io import DatasetWriter, load_dataset, write_text_atomic
from medgan.io.datasets import Dataset
from medgan.registry import BACKENDS, BENCHMARK_ARMS, SYNTHESIS_STAGES


@dataclass(frozen=True)
class Cell:
    """One training run of the grid."""

    fraction: float
    arm: str
    ratio: float
    seed: int

    @property
    def key(self) -> str:
        return f"f{self.fraction:g}_{self.arm}_r{self.ratio:g}_s{self.seed}"


def grid_cells(pipeline: Pipeline) -> list[Cell]:
    """Every cell of the pipeline's grid; arms without synthesis have ratio 0 only."""
    cells = []
    for fraction in pipeline.grid.fractions:
        for name in pipeline.grid.arms:
            arm: Arm = BENCHMARK_ARMS.get(name)
            ratios = [r for r in pipeline.grid.ratios if r > 0] if arm.synthetic else [0.0]
            for ratio in ratios:
                for seed in pipeline.grid.seeds:
                    cells.append(Cell(float(fraction), name, float(ratio), int(seed)))
    return cells


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


def check_pipeline(pipeline: Pipeline) -> None:
    """Fail early, naming what is missing, when a pipeline needs something this medgan lacks."""
    for name in pipeline.grid.arms:
        BENCHMARK_ARMS.get(name)
    if any(BENCHMARK_ARMS.get(a).synthetic for a in pipeline.grid.arms):
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
    """The dataset's labelled cases, loaded once, with the fixed split.

    ``raw`` holds the cases as read (what synthesis stages train on and insert into); ``cases`` the
    same cases with each channel z-score normalised over the body (what the downstream model sees).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.dataset: Dataset = load_dataset(data_path(pipeline), pipeline.data.format, pipeline.data.modalities)
        self.raw: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        for ref in self.dataset.cases:
            if ref.label is not None:
                case = self.dataset.load(ref)
                self.raw[ref.id] = case
                self.cases[ref.id] = {**case, "image": normalise(case["image"])}
        if not self.cases:
            raise ConfigError(f"{self.dataset.root}: no labelled cases to benchmark on")
        strata = {i: bool(np.any(c["label"])) for i, c in self.cases.items()} \
            if pipeline.split.stratify_empty_labels else None
        s = pipeline.split
        self.split: Split = make_split(list(self.cases), s.test_fraction, s.val_fraction, s.seed, strata)
        self.test_keys = {content_key(source[i]) for i in self.split.test for source in (self.raw, self.cases)}
        self.n_classes = int(max(int(c["label"].max()) for c in self.cases.values())) + 1
        self.in_channels = int(next(iter(self.cases.values()))["image"].shape[0])

    def get(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Normalised cases, for the downstream model."""
        return [self.cases[i] for i in ids]

    def get_raw(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Cases as read, for synthesis stages."""
        return [self.raw[i] for i in ids]


def synthetic_dir(out: Path, fraction: float, seed: int) -> Path:
    return out / "synthetic" / f"f{fraction:g}_s{seed}"


def prepare_synthetic(pipeline: Pipeline, data: BenchmarkData, out: Path, fraction: float, seed: int,
                      n: int, device: str) -> Path:
    """Fit the synthesis stage on one fraction's real training cases and write ``n`` synthetic cases."""
    folder = synthetic_dir(out, fraction, seed)
    if (folder / "manifest.csv").is_file():
        return folder
    train = data.get_raw(data.split.training_subset(fraction, seed))
    refuse_test_leak("GAN training", train, data.split, data.test_keys)
    stage = SYNTHESIS_STAGES.get(pipeline.synthesis.stage)(dict(pipeline.synthesis.options),
                                                          pipeline.spatial_dims, device)
    stage.fit(train, folder / "gan", seed)
    writer = DatasetWriter(data.dataset, folder / "cases")
    for index, case in enumerate(stage.sample(n, seed, train)):
        case_id = f"synthetic_f{fraction:g}_s{seed}_{index:04d}"
        writer.write(case, case_id, {"stage": pipeline.synthesis.stage, "seed": seed, "fraction": fraction,
                                     "index": index, "source": case.get("meta", {}).get("source_case", "")})
    writer.finish()
    write_text_atomic(folder / "manifest.csv", (folder / "cases" / "manifest.csv").read_text())
    return folder


def _load_synthetic(folder: Path) -> list[dict[str, Any]]:
    dataset = load_dataset(folder / "cases")
    cases = []
    for case in dataset:
        case["image"] = normalise(case["image"])
        cases.append(case)
    return cases


def run_cell(pipeline: Pipeline, data: BenchmarkData, out: Path, cell: Cell, device: str) -> list[dict[str, Any]]:
    """Train and evaluate one cell; returns one row per test case x region x metric."""
    arm: Arm = BENCHMARK_ARMS.get(cell.arm)
    real = data.get(data.split.training_subset(cell.fraction, cell.seed))
    training = real
    if arm.synthetic:
        pool = _load_synthetic(synthetic_dir(out, cell.fraction, cell.seed))
        training = mix(real, pool, cell.ratio, cell.seed, synthetic_only=arm.synthetic_only)
    refuse_test_leak("training", training, data.split, data.test_keys)
    augment = None
    if arm.classic:  # imported here: the none and gan arms do not need classic augmentation
        from medgan.benchmark.augment import classic_augmenter

        augment = classic_augmenter(pipeline)
    backend = BACKENDS.get(pipeline.backend)(pipeline, data.in_channels, data.n_classes, device)
    started = time.perf_counter()
    result = backend.run(training, data.get(data.split.val), data.get(data.split.test), cell.seed, augment,
                         workdir=out / "work" / cell.key)
    rows = [{**cell.__dict__, **row} for row in result.rows]
    seconds = time.perf_counter() - started
    record = {"cell": cell.__dict__, "rows": rows, "log": result.log, "seconds": seconds,
              "n_train_real": len(real), "n_train_total": len(training), "budget": result.budget}
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


def _init_worker(pipeline: Pipeline, threads: int) -> None:
    """Load the dataset once per worker process (not once per cell)."""
    import torch

    torch.set_num_threads(threads)
    _WORKER["data"] = BenchmarkData(pipeline)


def _worker(args: tuple[Pipeline, str, Cell, str]) -> str:
    pipeline, out, cell, device = args
    run_cell(pipeline, _WORKER["data"], Path(out), cell, device)
    return cell.key


def run_benchmark(pipeline: Pipeline, out: str | Path, workers: int = 1, shard: str | None = None,
                  device: str | None = None, progress: bool = True) -> Path:
    """Run (or resume) the pipeline's grid into ``out``; returns the path of ``results.csv``.

    Args:
        pipeline: the loaded pipeline.
        out: run folder (created; re-using it resumes).
        workers: cells trained in parallel processes.
        shard: ``"i/n"`` runs only every n-th cell starting at i (e.g. one SLURM array task each).
        device: ``"cpu"`` or ``"cuda"`` (default: cuda when available).
    """
    import torch

    from medgan.reports.benchmark import write_report

    check_pipeline(pipeline)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = BenchmarkData(pipeline)
    split_file = out / "split.json"
    if split_file.is_file() and json.loads(split_file.read_text()) != data.split.to_dict():
        raise ConfigError(f"{split_file}: this run folder holds a different split; use a new --out folder")
    write_text_atomic(split_file, json.dumps(data.split.to_dict(), indent=2))
    save_config(pipeline, out / "config.yaml")
    index, count = parse_shard(shard)
    cells = [c for i, c in enumerate(grid_cells(pipeline)) if i % count == index]
    todo = [c for c in cells if not (out / "cells" / f"{c.key}.json").is_file()]
    gan_needs: dict[tuple[float, int], float] = {}
    for cell in todo:
        if BENCHMARK_ARMS.get(cell.arm).synthetic:
            key = (cell.fraction, cell.seed)
            gan_needs[key] = max(gan_needs.get(key, 0.0), cell.ratio)
    for (fraction, seed), ratio in tqdm(sorted(gan_needs.items()), desc="synthesis", disable=not progress or None):
        n_real = len(data.split.training_subset(fraction, seed))
        prepare_synthetic(pipeline, data, out, fraction, seed, max(1, int(round(ratio * n_real))), device)
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc="grid", unit="cell",
               disable=not progress or None)
    if workers <= 1:
        for cell in todo:
            run_cell(pipeline, data, out, cell, device)
            bar.update()
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, initializer=_init_worker, initargs=(pipeline, threads)) as pool:
            for _ in pool.imap_unordered(_worker, [(pipeline, str(out), c, device) for c in todo]):
                bar.update()
    bar.close()
    results = collect_results(out, cells)
    write_report(out, pipeline=config_to_dict(pipeline), split=data.split.to_dict())
    return results


def collect_results(out: Path, cells: Sequence[Cell]) -> Path:
    """Average each finished cell's test-case rows into ``results.csv`` (one row per cell x region x
    metric), and keep every per-case row in ``cases.csv``."""
    rows = []
    timing = []
    for cell in cells:
        path = out / "cells" / f"{cell.key}.json"
        if path.is_file():
            record = json.loads(path.read_text())
            rows.extend(record["rows"])
            timing.append({**record["cell"], "seconds": record["seconds"], "n_train_real": record["n_train_real"],
                           "n_train_total": record["n_train_total"], "budget": record["budget"]})
    per_case = pd.DataFrame(rows)
    write_text_atomic(out / "cases.csv", per_case.to_csv(index=False))
    keys = ["fraction", "arm", "ratio", "seed", "region", "metric"]
    results = per_case.groupby(keys, as_index=False)["value"].mean() if rows else pd.DataFrame(columns=keys + ["value"])
    results = results.merge(pd.DataFrame(timing), on=["fraction", "arm", "ratio", "seed"], how="left") \
        if timing else results
    path = out / "results.csv"
    write_text_atomic(path, results.to_csv(index=False))
    return path
