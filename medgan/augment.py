"""Augment a whole dataset: N copies of every labelled case, written in the input's own layout.

Streams cases (one case in memory per worker), runs worker processes over cases, writes each file
atomically, and resumes: a copy whose record exists is skipped. Each copy's seed is derived from
``(seed, case id, copy index)`` alone, so the output does not depend on the number of workers or the
order cases are processed in, and a re-run reproduces the same bytes.

Example:
    >>> summary = augment_dataset("sample_data/brats", "brats_aug", copies=2, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medgan.config import check_seed, config_to_dict
from medgan.errors import ConfigError
from medgan.io import CaseRef, Dataset, DatasetWriter, load_dataset
from medgan.io.outdir import OwnedFolder
from medgan.transforms.config import AugmentConfig, build_pipeline, load_augment_config
from medgan.transforms.presets import default_config


@dataclass
class AugmentSummary:
    """What :func:`augment_dataset` did."""

    out: Path
    cases: int
    written: int
    skipped: int
    unlabelled: int
    manifest: Path
    preview: Path | None = None


def copy_seed(seed: int, case_id: str, copy: int) -> int:
    """The seed of copy ``copy`` of case ``case_id``: a 32-bit hash of the three, stable across runs.

    ``seed`` is used whole (no wrapping): seeds below 2**32 give the values they always gave, and
    larger ones differ from them.
    """
    digest = int.from_bytes(hashlib.sha256(case_id.encode("utf-8")).digest()[:8], "little")
    return int(np.random.SeedSequence([int(seed), digest, int(copy)]).generate_state(1)[0])


def copy_id(case_id: str, copy: int) -> str:
    """Name of augmented copy ``copy`` of ``case_id``."""
    return f"{case_id}_aug{copy}"


def augment_case(case: dict[str, Any], pipeline: Any, seed: int) -> dict[str, Any]:
    """One augmented copy of ``case`` (input untouched); its history says what was drawn."""
    pipeline.set_random_state(seed)
    meta = dict(case["meta"])
    meta["history"] = list(meta.get("history") or [])
    data = {"image": case["image"], "meta": meta}
    if "label" in case:
        data["label"] = case["label"]
    out = pipeline(data)
    result = {"image": out["image"], "meta": out["meta"], "id": case["id"]}
    if "label" in out:
        result["label"] = out["label"]
    return result


def history_json(meta: dict[str, Any]) -> str:
    """The history of a case as one JSON string (each entry's ``params`` parsed)."""
    entries = [{**h, "params": json.loads(h["params"])} if isinstance(h.get("params"), str) else h
               for h in meta.get("history", [])]
    return json.dumps(entries, sort_keys=True)


# --------------------------------------------------------------------------------------------------
# one case (runs in a worker process or in-process)

_PIPELINES: dict[tuple[str, int], Any] = {}


@dataclass(frozen=True)
class _Job:
    dataset: Dataset
    ref: CaseRef
    out: Path
    config: AugmentConfig
    copies: int
    seed: int
    include_original: bool


def _pipeline(config: AugmentConfig, spatial_dims: int) -> Any:
    key = (json.dumps(config.__dict__, sort_keys=True, default=str), spatial_dims)
    if key not in _PIPELINES:
        _PIPELINES[key] = build_pipeline(config, spatial_dims=spatial_dims)
    return _PIPELINES[key]


def _run_job(job: _Job) -> tuple[int, int]:
    """Write the missing outputs of one case; return ``(written, skipped)``."""
    writer = DatasetWriter(job.dataset, job.out, claim=False)  # the run holds the folder
    todo = [k for k in range(job.copies) if not writer.done(copy_id(job.ref.id, k))]
    original = job.include_original and not writer.done(job.ref.id)
    total = job.copies + int(job.include_original)
    if not todo and not original:
        return 0, total
    case = job.dataset.load(job.ref)
    if original:
        writer.write(case, job.ref.id, {"source": job.ref.id, "copy": -1, "seed": "", "params": "[]"})
    pipeline = _pipeline(job.config, case["image"].ndim - 1)
    for k in todo:
        seed = copy_seed(job.seed, job.ref.id, k)
        augmented = augment_case(case, pipeline, seed)
        writer.write(augmented, copy_id(job.ref.id, k),
                     {"source": job.ref.id, "copy": k, "seed": seed,
                      "params": history_json(augmented["meta"])})
    return len(todo) + int(original), total - len(todo) - int(original)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # the parallelism is over cases


def _warm_up(label_dtype: np.dtype) -> None:
    """Compile (or load from numba's cache) the serial kernel once, before workers fork."""
    from medgan.transforms.spatial.kernel import resample_numba

    resample_numba(np.zeros((1, 4, 4, 4), np.float32), np.zeros((1, 4, 4, 4), label_dtype), (4, 4, 4),
                   np.eye(3), np.zeros(3), None, parallel=False)


# --------------------------------------------------------------------------------------------------
# whole dataset


def augment_dataset(dataset: str | Path, out: str | Path, copies: int, config: Any = None, seed: int = 0,
                    workers: int = 1, include_original: bool = False, preview: bool = False,
                    format: str = "auto", progress: bool = True) -> AugmentSummary:
    """Write ``copies`` augmented copies of every labelled case of ``dataset`` into ``out``.

    Args:
        dataset: input dataset folder (any layout :func:`medgan.io.load_dataset` reads).
        out: output folder, outside the input; becomes a dataset of the same layout.
        copies: augmented copies per case (>= 1).
        config: augmentation config (YAML path, dict, :class:`AugmentConfig`) or ``None`` for the default.
        seed: base seed; each copy's seed is :func:`copy_seed` ``(seed, case id, copy)``.
        workers: worker processes (1 = in this process).
        include_original: also write each source case unchanged, under its own id.
        preview: write ``out/preview.png`` (mid slices, original vs copy 0, labels overlaid).
        format: input layout, ``auto`` to detect.
        progress: show a progress bar.

    Returns:
        An :class:`AugmentSummary`; ``out/manifest.csv`` lists every written case with its source,
        copy index, seed and drawn parameters.

    Raises:
        ConfigError: bad config or options, or ``out`` inside the input.
        DataError: an unreadable input case; ``out`` a file, a folder of something else, in use by
            another run, or written with other parameters (see :class:`medgan.io.outdir.OwnedFolder`).
    """
    from tqdm import tqdm

    if copies < 1:
        raise ConfigError(f"--copies must be at least 1, got {copies}")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    seed = check_seed(seed, "--seed")
    source = load_dataset(dataset, format=format)
    writer = DatasetWriter(source, out, claim=False)  # refuses an output inside the input
    refs = [ref for ref in source.cases if ref.label is not None]
    if not refs:
        raise ConfigError(f"{dataset}: no labelled cases to augment")
    first = source.load(refs[0])
    dims = first["image"].ndim - 1
    cfg = load_augment_config(default_config(dims) if config is None else config)
    build_pipeline(cfg, spatial_dims=dims)  # config errors before any work
    params = {"input": str(source.root.resolve()), "format": source.layout, "copies": copies, "seed": seed,
              "include_original": include_original, "config_sha256": config_hash(cfg)}
    with OwnedFolder(out, "medgan augment", params):  # one writer, same parameters, no debris
        jobs = (_Job(source, ref, Path(out), cfg, copies, seed, include_original) for ref in refs)
        written = skipped = 0
        bar = tqdm(total=len(refs), unit="case", desc="augment", disable=not progress)
        try:
            for done, skip in _map(jobs, workers, np.dtype(first["label"].dtype)):
                written, skipped = written + done, skipped + skip
                bar.update(1)
        finally:
            bar.close()
        manifest = writer.finish()
        summary = AugmentSummary(Path(out), len(refs), written, skipped, len(source.cases) - len(refs), manifest)
        if preview:
            from medgan.augment_preview import write_preview

            shown = [r.id for r in refs[:4]]
            summary.preview = write_preview(source, Path(out), shown, Path(out) / "preview.png")
    return summary


def config_hash(config: AugmentConfig) -> str:
    """SHA-256 of an augmentation config's resolved settings (what the output folder records)."""
    text = json.dumps(config_to_dict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _map(jobs: Iterator[_Job], workers: int, label_dtype: np.dtype) -> Iterator[tuple[int, int]]:
    """Run jobs in-process or on worker processes, at most ``2 * workers`` in flight (streaming)."""
    if workers == 1:
        for job in jobs:
            yield _run_job(job)
        return
    _warm_up(label_dtype)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
        pending: set[Future] = set()
        for job in jobs:
            pending.add(pool.submit(_run_job, job))
            if len(pending) >= 2 * workers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        for future in pending:
            yield future.result()
