"""Does memory grow with the number of cases? Peak RSS and wall time of every medgan command on N and
2N cases at real size (BraTS: 240x240x155, four MR contrasts + labels, 1 mm).

The cases are the shipped sample data (``sample_data/brats``, 56x64x56 at 3.5 mm) resampled to
``--size`` (trilinear for images, nearest for labels; header spacing ``--spacing`` mm) in a temporary
folder: case ``i`` is sample case ``i mod 20`` under a new id. Each command then runs as a subprocess
of a fresh wrapper process that reports ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the peak
resident memory of the command (the largest of it and its worker processes, not their sum). Commands
train for a few steps with small widths: the point is how memory grows with the data, not the models.

Printed: a Markdown table with, per command, peak RSS and wall time at N and 2N, the ratio 2N/N and
the growth per added case ((2N - N) / N). Flat memory (ratio near 1) means the command streams.

    python benchmarks/bench_scale.py --n 2 --size 64,64,40              # a quick check that it runs
    python benchmarks/bench_scale.py --n 6                              # the real measurement (BraTS size)
    python benchmarks/bench_scale.py --n 6 --commands inspect,augment,train-spade
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "brats"
CONTRASTS = ("t1n", "t1c", "t2w", "t2f")
MEDGAN = [sys.executable, "-m", "medgan"]
# small widths and few steps: each train command measures loading + networks + a few steps
TINY = {
    "spade": {"model": {"base_channels": 2, "n_upsamples": 3, "z_dim": 4, "hidden_channels": 4, "d_channels": 2,
                        "d_layers": 3}, "train": {"batch_size": 1}},
    "pggan": {"model": {"latent_dim": 8, "fmap_base": 16, "fmap_max": 4},
              "growth": {"fade_images": 4, "stable_images": 4, "batch_sizes": [2]}},
    "lesion-gan": {"model": {"latent_dim": 8, "g_channels": 4, "d_channels": 4}, "train": {"batch_size": 2}},
    "lesion-inpaint": {"model": {"g_channels": 4, "d_channels": 4}, "train": {"batch_size": 2}},
    "consingan": {},
    "cyclegan": {"model": {"g_channels": 4, "n_blocks": 1, "d_channels": 4, "d_layers": 2},
                 "train": {"batch_size": 1, "ema_decay": 0.0}},
    "pix2pix": {"model": {"g_channels": 4, "depth": 3, "d_channels": 4, "d_layers": 2}, "train": {"batch_size": 1}},
}
QUIET = {"log_every": 1, "checkpoint_every": 0, "sample_every": 0, "n_samples": 2, "progress": False,
         "device": "cpu"}
BENCHMARK = {  # one fold, one training case, arms none and classic: the same work per cell whatever N
    "name": "scale", "task": "segmentation", "backend": "unet", "spatial_dims": 3,
    "split": {"folds": 2, "val_fraction": 0.15, "seed": 0}, "regions": {"WT": [1, 2, 3]},
    "grid": {"cases": [1], "allow_small": True, "arms": ["none", "classic"], "ratios": [1.0], "seeds": [0],
             "folds": [0]},
    "unet": {"steps": 2, "val_every": 2, "batch_size": 1, "channels": [4, 8], "strides": [2], "roi_size": [32, 32, 32]},
}
COMMANDS = ("inspect", "augment", *(f"train-{f}" for f in TINY), "benchmark", "evaluate")


def build_cases(out: Path, n: int, size: tuple[int, int, int], spacing: float) -> Path:
    """``n`` BraTS-layout cases at ``size`` made from the sample cases (see the module doc)."""
    sources = sorted(p for p in SAMPLE.iterdir() if p.is_dir())
    for i in range(n):
        source = sources[i % len(sources)]
        case = f"BraTS-SCALE-{i:05d}-000"
        (out / case).mkdir(parents=True, exist_ok=True)
        for kind in (*CONTRASTS, "seg"):
            image = nib.load(str(source / f"{source.name}-{kind}.nii.gz"))
            data = np.asarray(image.dataobj)
            zoom = [t / s for t, s in zip(size, data.shape)]
            resized = ndimage.zoom(data.astype(np.float32), zoom, order=0 if kind == "seg" else 1, grid_mode=True,
                                   mode="grid-constant")
            resized = np.rint(resized).astype(data.dtype)
            affine = np.diag([spacing, spacing, spacing, 1.0])
            affine[:3, 3] = image.affine[:3, 3]
            nib.save(nib.Nifti1Image(resized, affine), str(out / case / f"{case}-{kind}.nii.gz"))
    return out


def command(name: str, data: Path, work: Path) -> list[str]:
    """The command line of ``name`` on the dataset ``data``; outputs under ``work``."""
    import yaml

    if name == "inspect":
        return [*MEDGAN, "inspect", str(data)]
    if name == "augment":
        return [*MEDGAN, "augment", str(data), str(work / "augmented"), "--no-progress"]
    if name == "benchmark":
        pipeline = work / "scale.yaml"
        pipeline.write_text(yaml.safe_dump({**BENCHMARK, "data": {"path": str(data), "modalities": list(CONTRASTS)}}))
        return [*MEDGAN, "benchmark", str(pipeline), "--out", str(work / "benchmark"), "--device", "cpu"]
    if name == "evaluate":  # real cases against their classic augmentation (made here when augment did not run)
        if not (work / "augmented").is_dir():
            subprocess.run(command("augment", data, work), check=True, capture_output=True)
        return [*MEDGAN, "evaluate", "--real", str(data), "--synthetic", str(work / "augmented"), "--out",
                str(work / "evaluation"), "--segmenter-steps", "2"]
    family = name.removeprefix("train-")
    config = work / f"{family}.yaml"
    settings = json.loads(json.dumps(TINY[family]))
    settings["train"] = {**QUIET, **settings.get("train", {})}
    config.write_text(yaml.safe_dump(settings))
    base = [*MEDGAN, "train", family, "--data", str(data), "--config", str(config), "--out", str(work / family),
            "--steps", "2"]
    extra = {"pggan": ["--resolution", "16", "--channels", "t1n,label"],
             "consingan": ["--case", "BraTS-SCALE-00000-000", "--min-size", "6", "--max-size", "16", "--stages", "2",
                           "--width", "4"],
             "cyclegan": ["--domain-a", "t1n", "--domain-b", "t2w"],
             "pix2pix": ["--source", "t1n", "--target", "t2w"]}
    return base + extra.get(family, [])


WRAPPER = ("import resource, subprocess, sys, time\n"
           "start = time.perf_counter()\n"
           "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[0] + '.err', 'w'))"
           ".returncode\n"
           "print(code, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def measure(argv: list[str], log: Path, timeout: float) -> dict[str, float | str]:
    """Run ``argv`` under a fresh wrapper; ``{"rss_mb", "seconds"}`` or ``{"error": ...}``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    try:
        done = subprocess.run([sys.executable, "-c", WRAPPER.replace("sys.argv[0] + '.err'", repr(str(log))),
                               *argv], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    code, seconds, peak_kib = done.stdout.split()
    if int(code) != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        return {"error": f"exit {code}: {tail[0][:120]}"}
    return {"rss_mb": int(peak_kib) / 1024, "seconds": float(seconds)}


def table(results: dict[str, dict[int, dict[str, float | str]]], n: int) -> str:
    """The Markdown table of :func:`main`."""
    lines = [f"| command | peak RSS MB, N={n} | 2N={2 * n} | ratio 2N/N | MB per added case | "
             f"wall s, N={n} | 2N={2 * n} | ratio 2N/N |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, by_n in results.items():
        a, b = by_n[n], by_n[2 * n]
        if "error" in a or "error" in b:
            lines.append(f"| {name} | {a.get('error', '')} | {b.get('error', '')} | | | | | |")
            continue
        lines.append(f"| {name} | {a['rss_mb']:.0f} | {b['rss_mb']:.0f} | {b['rss_mb'] / a['rss_mb']:.2f} | "
                     f"{(b['rss_mb'] - a['rss_mb']) / n:.1f} | {a['seconds']:.1f} | {b['seconds']:.1f} | "
                     f"{b['seconds'] / a['seconds']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=6, help="N: the smaller number of cases (default 6; also runs 2N)")
    parser.add_argument("--size", default="240,240,155", help="grid of every case, X,Y,Z (default BraTS 240,240,155)")
    parser.add_argument("--spacing", type=float, default=1.0, help="voxel spacing written in the headers, mm")
    parser.add_argument("--commands", default=",".join(COMMANDS),
                        help=f"comma-separated subset of {','.join(COMMANDS)}; 'train' means every train-*")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per command before it is stopped")
    parser.add_argument("--keep", type=Path, help="build the data and outputs here and keep them (default: temp)")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split(","))
    if len(size) != 3 or args.n < 1:
        parser.error("--size needs X,Y,Z and --n at least 1")
    wanted = [c.strip() for c in args.commands.split(",") if c.strip()]
    names = [c for c in COMMANDS if c in wanted or (c.startswith("train-") and "train" in wanted)]
    unknown = [c for c in wanted if c != "train" and c not in COMMANDS]
    if unknown or not names:
        parser.error(f"unknown command {unknown[:1]}; choose from {', '.join(COMMANDS)}")
    results: dict[str, dict[int, dict[str, float | str]]] = {name: {} for name in names}
    with tempfile.TemporaryDirectory(prefix="medgan-scale-") as tmp:
        root = args.keep or Path(tmp)
        for n in (args.n, 2 * args.n):
            started = time.perf_counter()
            data = build_cases(root / f"data-{n}", n, size, args.spacing)
            print(f"built {n} cases of {'x'.join(map(str, size))} in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
            for name in names:
                work = root / f"work-{n}" / name
                work.mkdir(parents=True, exist_ok=True)
                results[name][n] = measure(command(name, data, work), work / "stderr.txt", args.timeout)
                print(f"  {name} N={n}: {results[name][n]}", file=sys.stderr, flush=True)
    print(f"\n{args.n} and {2 * args.n} cases of {'x'.join(map(str, size))} at {args.spacing:g} mm, "
          f"{len(CONTRASTS)} contrasts + labels; peak RSS of each command's process tree (largest process)\n")
    print(table(results, args.n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
