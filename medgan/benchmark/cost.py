"""What a benchmark will cost, measured before it runs (``medgan benchmark PIPELINE --dry-run``).

Per kind of work in the grid, one real step on real cases of the pipeline's data, on the chosen
device (see :mod:`medgan.training.cost` for how memory and time are measured): the U-Net backend
(one forward/backward on a training batch, ``unet.steps`` steps per cell) and every synthesis stage
that trains a GAN family (one training step of the family on a fold's training cases,
``train.steps`` steps per fit). Stages without training (copy-paste) and other backends (YOLO) are
listed without an estimate. Writes nothing.

Peak memory is the process's high-water mark after each measurement, in the order printed (a later
kind's figure includes what the earlier ones held); the benchmark runs each cell or stage in one
process (per worker), so the largest figure is the one to compare with a worker's memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from medgan.benchmark.arms import Arm
from medgan.benchmark.pipeline import check_against_data
from medgan.benchmark.run import BenchmarkData, check_pipeline, plan, resolve_label_names
from medgan.errors import ConfigError
from medgan.registry import BENCHMARK_ARMS, SYNTHESIS_STAGES
from medgan.training.cost import MB_BYTES, available_mb, duration, parameter_counts, peak_rss_mb, refusal


@dataclass
class KindCost:
    """One kind of work: ``runs`` runs of ``steps`` steps at ``seconds_per_step`` (``None``: not estimated)."""

    kind: str
    runs: int
    parameters: int | None = None
    peak_mb: float | None = None
    seconds_per_step: float | None = None
    steps: int = 0
    note: str = ""

    @property
    def total_seconds(self) -> float:
        return self.runs * self.steps * (self.seconds_per_step or 0.0)


def unet_cost(pipeline: Any, data: BenchmarkData, device: str, cells: int) -> KindCost:
    """One U-Net training step on a batch of real training cases, timed after a warm-up."""
    import numpy as np
    import torch
    from monai.losses import DiceCELoss

    from medgan.benchmark.unet import UNetBackend

    backend = UNetBackend(pipeline.spatial_dims, data.in_channels, data.n_classes, pipeline.unet, device)
    cuda = backend.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(backend.device)
    network = backend._network()
    optimiser = torch.optim.Adam(network.parameters(), lr=pipeline.unet.learning_rate)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    train = data.get(data.cv.fold(0).train)
    rng = np.random.default_rng(0)
    seconds = 0.0
    for _ in range(2):
        x, y = backend._batch(train, rng, None)
        if cuda:
            torch.cuda.synchronize(backend.device)
        start = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        loss_fn(network(x), y).backward()
        optimiser.step()
        if cuda:
            torch.cuda.synchronize(backend.device)
        seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(backend.device) / MB_BYTES if cuda else peak_rss_mb()
    return KindCost("unet backend", cells, sum(parameter_counts({"unet": network}).values()), peak, seconds,
                    pipeline.unet.steps, "per cell; validations not included")


def stage_fits(pipeline: Any, cells: list[Any]) -> dict[str, list[tuple[int, int, int]]]:
    """Stage name -> the (fold, cases, seed) it is fitted for (what the benchmark fits, once each)."""
    fits: dict[str, set[tuple[int, int, int]]] = {}
    for cell in cells:
        arm: Arm = BENCHMARK_ARMS.get(cell.arm)
        if arm.synthetic:
            fits.setdefault(arm.stage or str(pipeline.synthesis.stage), set()).add((cell.fold, cell.cases, cell.seed))
    return {name: sorted(keys) for name, keys in fits.items()}


def stage_cost(pipeline: Any, data: BenchmarkData, device: str, name: str, fits: list[tuple[int, int, int]]
               ) -> KindCost:
    """One training step of stage ``name``'s GAN family on its largest fit's training cases."""
    from medgan.training.cost import measure

    options = dict(pipeline.synthesis.options) if name == pipeline.synthesis.stage else {}
    stage = SYNTHESIS_STAGES.get(name)(options, pipeline.spatial_dims, device)
    if not hasattr(stage, "training_config"):
        return KindCost(f"stage {name}", len(fits), note="no GAN training (not estimated)")
    fold, cases, seed = max(fits, key=lambda f: f[1])
    train = data.get_raw(data.cv.training_subset(fold, cases, seed))
    try:
        cost = measure(stage.family, stage.training_config(seed), cases=train)
    except ConfigError as error:
        raise ConfigError(f"synthesis.options ({name}): {error}") from None
    return KindCost(f"stage {name}", len(fits), sum(cost.parameters.values()), cost.peak_mb, cost.seconds_per_step,
                    cost.steps, f"per fit, on {len(train)} training cases")


def benchmark_costs(pipeline: Any, device: str | None = None, shard: str | None = None) -> tuple[list[KindCost], float,
                                                                                                  str]:
    """Measure every kind of work of the pipeline's grid; return the costs, the MB available and its source.

    Raises:
        ConfigError: an estimate exceeds the available memory (one line naming the settings to lower).
    """
    import torch

    check_pipeline(pipeline)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    budget, source = available_mb(device)
    data = BenchmarkData(pipeline)
    check_against_data(pipeline, data.facts)
    pipeline = resolve_label_names(pipeline, data)
    cells, _ = plan(pipeline, data, shard)
    costs: list[KindCost] = []
    if pipeline.backend == "unet":
        costs.append(unet_cost(pipeline, data, device, len(cells)))
        o = pipeline.unet
        if costs[-1].peak_mb > budget:
            raise ConfigError(refusal("unet backend", costs[-1].peak_mb, budget, device,
                                      {"unet.batch_size": o.batch_size, "unet.roi_size": o.roi_size,
                                       "unet.channels": list(o.channels)}))
    else:
        costs.append(KindCost(f"{pipeline.backend} backend", len(cells), note="not estimated"))
    for name, fits in stage_fits(pipeline, cells).items():
        cost = stage_cost(pipeline, data, device, name, fits)
        if cost.peak_mb is not None and cost.peak_mb > budget:
            raise ConfigError(f"synthesis.options ({name}): needs about {cost.peak_mb:.0f} MB on {device} but "
                              f"{budget:.0f} MB is available; lower its train.batch_size, patch size or widths")
        costs.append(cost)
    return costs, budget, source


def cost_lines(costs: list[KindCost], budget: float, source: str, workers: int = 1) -> list[str]:
    """The table printed by ``--dry-run``."""
    lines = [f"dry run (nothing written); memory available {budget:.0f} MB ({source})",
             "| kind | runs | parameters | peak memory MB | s/step | steps per run | estimated time |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in costs:
        if c.seconds_per_step is None:
            lines.append(f"| {c.kind} | {c.runs} | - | - | - | - | {c.note} |")
            continue
        lines.append(f"| {c.kind} | {c.runs} | {c.parameters:,} | {c.peak_mb:.0f} | {c.seconds_per_step:.3f} | "
                     f"{c.steps} | {duration(c.total_seconds)} ({c.note}) |")
    total = sum(c.total_seconds for c in costs)
    lines.append(f"estimated total: {duration(total)} in one process"
                 + (f", about {duration(total / workers)} with {workers} workers" if workers > 1 else ""))
    return lines

