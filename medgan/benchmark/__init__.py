"""Downstream benchmark: does augmentation help? See ``docs/benchmark.md``."""

from __future__ import annotations

from pathlib import Path


def run_pipeline_file(pipeline_file: str | Path, out: str | Path | None = None, quick: bool = False,
                      workers: int = 1, shard: str | None = None, device: str | None = None,
                      data: str | Path | None = None) -> Path:
    """Load a pipeline YAML and run its grid; returns the path of the report (``summary.md``).

    Backends (U-Net segmentation, YOLO detection) are entries of ``medgan.registry.BACKENDS``.
    ``data`` replaces the pipeline's ``data.path`` (e.g. a larger simulated cohort).
    """
    from medgan.benchmark.pipeline import load_pipeline
    from medgan.benchmark.run import run_benchmark

    overrides = {"data": {"path": str(Path(data).resolve())}} if data else None
    pipeline = load_pipeline(pipeline_file, quick=quick, overrides=overrides)
    out = Path(out) if out else Path("runs") / (pipeline.name + ("-quick" if quick else ""))
    run_benchmark(pipeline, out, workers=workers, shard=shard, device=device)
    return out / "summary.md"
