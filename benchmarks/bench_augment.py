"""Benchmark: the standard 3D augmentation chain, medgan against its peers, timed in the same run.

Chain (same ranges for everyone): rotation up to +-15 deg about every axis + elastic deformation
(7 control points per axis, up to 5 mm) + random flip of axis 0 + Gaussian noise (std 0.1), on a
float32 image and its uint8 label, at 128^3 and 240x240x155 (BraTS), with 2 threads.

Each peer runs in a fresh child process (threads pinned, same input); medgan and the floor share
one child with their calls interleaved, so load changes on a shared machine hit both alike. A
child reports the seconds per case of ``--repeats`` calls after one warm-up call, the first call
separately (numba loads its cached machine code, or compiles it when the cache is cold), and the
peak memory above the input (Linux VmHWM, reset before each call).
A separate child with an empty numba cache reports
the cold JIT compile time once.

Peers: TorchIO (installed version; RandomAffine + RandomElasticDeformation + RandomFlip + RandomNoise),
MONAI (Rand3DElasticd with rotate_range + RandFlipd + RandGaussianNoised), batchgeneratorsv2
(nnU-Net v2's SpatialTransform + MirrorTransform + GaussianNoiseTransform; ``pip install
medgan[bench]``), TorchIO 2.0 alpha's single-pass ``Spatial`` when installed side by side with
``pip install --target DIR --no-deps torchio==2.0.0a2`` plus its missing dependencies
(``--torchio2-path DIR``), and the floor: one bilinear ``grid_sample`` of the image + one nearest
``grid_sample`` of the label (grid and float label prepared outside the timing) + the noise.

Usage:
    python benchmarks/bench_augment.py [--repeats 3] [--sizes 128x128x128 240x240x155]
        [--methods medgan,floor,torchio,monai,batchgeneratorsv2,torchio2] [--torchio2-path DIR]
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
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("medgan", "medgan-spatial", "floor", "torchio", "monai", "batchgeneratorsv2", "torchio2")
PEERS = ("torchio", "monai", "batchgeneratorsv2", "torchio2")
ROTATE_DEG, ELASTIC_MM, CONTROL_POINTS, NOISE_STD = 15.0, 5.0, 7, 0.1


# --------------------------------------------------------------------------------------------------
# child side: build one method, time it


def make_inputs(shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A float32 image ``(1, *shape)`` and a uint8 label with values 0-3 (blocky blobs)."""
    rng = np.random.default_rng(0)
    coarse = rng.random((1, *(s // 8 + 1 for s in shape)), dtype=np.float32)
    smooth = coarse.repeat(8, 1).repeat(8, 2).repeat(8, 3)[:, : shape[0], : shape[1], : shape[2]]
    image = np.ascontiguousarray(smooth + 0.1 * rng.standard_normal((1, *shape), dtype=np.float32))
    label = np.digitize(smooth, [0.55, 0.75, 0.9]).astype(np.uint8)
    return image, np.ascontiguousarray(label)


def build(method: str, shape: tuple[int, int, int], torchio2_path: str | None) -> Any:
    """A callable ``run(image, label) -> (image, label)`` for ``method``."""
    import torch

    if method in ("medgan", "medgan-spatial"):
        from monai.transforms import Compose

        from medgan.transforms import RandAffined, RandElasticd, RandFlipd, RandGaussianNoised, RandSpatiald

        spatial = RandSpatiald([RandAffined(rotate=ROTATE_DEG),
                                RandElasticd(magnitude_mm=ELASTIC_MM, control_points=CONTROL_POINTS),
                                RandFlipd(axes=(0,), prob=0.5)])
        chain = [spatial] if method == "medgan-spatial" else [spatial, RandGaussianNoised(std=(NOISE_STD,
                                                                                                 NOISE_STD))]
        pipeline = Compose(chain)
        pipeline.set_random_state(0)

        def run(image: np.ndarray, label: np.ndarray) -> tuple[Any, Any]:
            out = pipeline({"image": image, "label": label})
            return out["image"], out["label"]

        return run
    if method == "floor":
        import torch.nn.functional as F

        from medgan.transforms.spatial.affine import rotation_matrix

        theta = torch.zeros(1, 3, 4)
        theta[0, :, :3] = torch.from_numpy(rotation_matrix((10, -8, 12), 3)).float()
        grid = F.affine_grid(theta, [1, 1, *shape], align_corners=True)
        generator = torch.Generator().manual_seed(0)
        state: dict[str, Any] = {}

        def run(image: np.ndarray, label: np.ndarray) -> tuple[Any, Any]:
            if "label" not in state:  # float copy of the label prepared outside the timing
                state["label"] = torch.from_numpy(label).float()[None]
            img = F.grid_sample(torch.from_numpy(image)[None], grid, mode="bilinear", align_corners=True)[0]
            lab = F.grid_sample(state["label"], grid, mode="nearest", align_corners=True)[0].to(torch.uint8)
            img.add_(torch.randn(img.shape, generator=generator), alpha=NOISE_STD)
            return img, lab

        return run
    if method in ("torchio", "torchio2"):
        if method == "torchio2":
            if not torchio2_path:
                raise RuntimeError("not installed side by side (give --torchio2-path)")
            sys.path.insert(0, torchio2_path)
        import torchio as tio

        if method == "torchio2" and not tio.__version__.startswith("2."):
            raise RuntimeError(f"found torchio {tio.__version__}, not 2.x")
        if method == "torchio":
            transform = tio.Compose([
                tio.RandomAffine(scales=0, degrees=ROTATE_DEG, translation=0, default_pad_value=0),
                tio.RandomElasticDeformation(num_control_points=CONTROL_POINTS, max_displacement=ELASTIC_MM),
                tio.RandomFlip(axes=(0,), flip_probability=0.5),
                tio.RandomNoise(std=(NOISE_STD, NOISE_STD)),
            ])
        else:
            transform = tio.Compose([
                tio.Spatial(degrees=(-ROTATE_DEG, ROTATE_DEG), num_control_points=CONTROL_POINTS,
                            max_displacement=ELASTIC_MM, default_pad_value=0),
                tio.Flip(axes=(0,), flip_probability=0.5),
                tio.Noise(std=NOISE_STD),
            ])
        torch.manual_seed(0)

        def run(image: np.ndarray, label: np.ndarray) -> tuple[Any, Any]:
            if method == "torchio":
                subject = tio.Subject(image=tio.ScalarImage(tensor=torch.from_numpy(image)),
                                      label=tio.LabelMap(tensor=torch.from_numpy(label)))
            else:  # 2.x takes the tensor as its source
                subject = tio.Subject(image=tio.ScalarImage(torch.from_numpy(image)),
                                      label=tio.LabelMap(torch.from_numpy(label)))
            out = transform(subject)
            return out["image"].data, out["label"].data

        run.version = tio.__version__  # type: ignore[attr-defined]
        return run
    if method == "monai":
        from monai.transforms import Compose, Rand3DElasticd, RandFlipd, RandGaussianNoised

        r = np.deg2rad(ROTATE_DEG)
        pipeline = Compose([
            Rand3DElasticd(keys=("image", "label"), sigma_range=(6, 8), magnitude_range=(300, 500), prob=1.0,
                           rotate_range=(r, r, r), mode=("bilinear", "nearest"), padding_mode="zeros"),
            RandFlipd(keys=("image", "label"), prob=0.5, spatial_axis=0),
            RandGaussianNoised(keys=("image",), prob=1.0, std=NOISE_STD),
        ])
        pipeline.set_random_state(0)

        def run(image: np.ndarray, label: np.ndarray) -> tuple[Any, Any]:
            out = pipeline({"image": torch.from_numpy(image), "label": torch.from_numpy(label)})
            return out["image"], out["label"]

        return run
    if method == "batchgeneratorsv2":
        from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
        from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
        from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
        from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms

        r = np.deg2rad(ROTATE_DEG)
        pipeline = ComposeTransforms([
            SpatialTransform(patch_size=shape, patch_center_dist_from_border=0, random_crop=False,
                             p_elastic_deform=1.0, p_rotation=1.0, rotation=(-r, r), p_scaling=0.0,
                             mode_seg="nearest"),
            MirrorTransform(allowed_axes=(0,)),
            GaussianNoiseTransform(noise_variance=(NOISE_STD**2, NOISE_STD**2), p_per_channel=1.0,
                                   synchronize_channels=True),
        ])
        torch.manual_seed(0)

        def run(image: np.ndarray, label: np.ndarray) -> tuple[Any, Any]:
            out = pipeline(image=torch.from_numpy(image), segmentation=torch.from_numpy(label))
            return out["image"], out["segmentation"]

        return run
    raise ValueError(f"unknown method {method!r}")


def _status(field: str) -> float:
    """A ``/proc/self/status`` memory field in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed heap back to the OS, so the baseline is honest
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (peak RSS) to the current RSS
    except OSError:
        pass


def child(methods: list[str], shape: tuple[int, int, int], repeats: int, threads: int,
          torchio2_path: str | None) -> list[dict[str, Any]]:
    """Time ``methods`` on one size in this process, their calls interleaved (so load changes on a
    shared machine hit them alike); return one measurement dict per method."""
    import torch

    torch.set_num_threads(threads)
    try:
        import numba

        numba.set_num_threads(threads)
    except ImportError:
        pass
    runs = {m: build(m, shape, torchio2_path) for m in methods}
    image, label = make_inputs(shape)
    results: dict[str, dict[str, Any]] = {}
    for method, run in runs.items():
        start = time.perf_counter()
        out = run(image, label)
        results[method] = {"method": method, "shape": list(shape), "seconds": [], "peaks": [],
                           "first_call_s": time.perf_counter() - start,
                           "version": getattr(run, "version", None)}
        del out
    for _ in range(repeats):
        for method, run in runs.items():
            _reset_peak()
            base = _status("VmRSS")
            start = time.perf_counter()
            out = run(image, label)
            results[method]["seconds"].append(time.perf_counter() - start)
            results[method]["peaks"].append(_status("VmHWM") - base)
            labels = np.asarray(out[1].detach().cpu() if hasattr(out[1], "detach") else out[1])
            results[method]["label_dtype"] = str(labels.dtype)
            results[method]["label_values"] = sorted(int(v) for v in np.unique(labels))
            del out, labels
    for r in results.values():
        r["peak_extra_mb"] = max(r.pop("peaks"))
    return list(results.values())


# --------------------------------------------------------------------------------------------------
# parent side: one child per (method, size), table and ratios


def run_child(methods: list[str], shape: tuple[int, int, int], args: argparse.Namespace,
              env_extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               NUMBA_NUM_THREADS=str(args.threads), MALLOC_MMAP_THRESHOLD_="131072",  # big arrays via mmap
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env.update(env_extra or {})
    cmd = [sys.executable, __file__, "--child", ",".join(methods), "--sizes", "x".join(map(str, shape)),
           "--repeats", str(args.repeats), "--threads", str(args.threads)]
    if args.torchio2_path:
        cmd += ["--torchio2-path", args.torchio2_path]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    if proc.returncode != 0 or not lines:
        reason = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        return [{"method": m, "shape": list(shape), "error": reason} for m in methods]
    return json.loads(lines[-1])


def parse_size(text: str) -> tuple[int, int, int]:
    values = tuple(int(v) for v in text.lower().split("x"))
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"size {text!r} is not XxYxZ")
    return values  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(128, 128, 128), (240, 240, 155)])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--torchio2-path", help="folder holding torchio 2.0 alpha (pip install --target)")
    parser.add_argument("--json", type=Path, help="also write all measurements to this JSON file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child.split(","), args.sizes[0], args.repeats, args.threads,
                               args.torchio2_path)))
        return 0
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    import numba
    import torch

    print(f"torch {torch.__version__}, numba {numba.__version__}, {args.threads} threads, "
          f"{args.repeats} timed calls after one warm-up; seconds per case = median")
    results: list[dict[str, Any]] = []
    if "medgan" in methods:
        with tempfile.TemporaryDirectory() as cache:
            cold = run_child(["medgan-spatial"], (32, 32, 32),
                             argparse.Namespace(**{**vars(args), "repeats": 1}),
                             {"NUMBA_CACHE_DIR": cache})[0]
        print(f"numba JIT compile with an empty cache (once per machine; cached on disk afterwards): "
              f"{cold.get('first_call_s', float('nan')):.1f} s")
    for shape in args.sizes:
        # medgan and the floor share one process, calls interleaved: their ratio is the one most
        # exposed to load changes on a shared machine; the (slow) peers get a process each
        paired = [m for m in methods if m in ("medgan", "medgan-spatial", "floor")]
        rows = run_child(paired, shape, args) if paired else []
        rows += [row for m in methods if m not in paired for row in run_child([m], shape, args)]
        results += rows
        _print_table(shape, rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _print_table(shape: tuple[int, int, int], rows: list[dict[str, Any]]) -> None:
    ok = {r["method"]: r for r in rows if "error" not in r}
    med = float(np.median(ok["medgan"]["seconds"])) if "medgan" in ok else float("nan")
    print(f"\n== {shape[0]}x{shape[1]}x{shape[2]}")
    print(f"{'method':<20}{'s/case':>9}{'min':>8}{'max':>8}{'first call':>12}{'peak extra MB':>15}"
          f"{'x medgan':>10}  label dtype")
    for r in rows:
        name = r["method"] + (f" {r['version']}" if r.get("version") else "")
        if "error" in r:
            print(f"{name:<20} not run: {r['error']}")
            continue
        s = r["seconds"]
        print(f"{name:<20}{np.median(s):>9.3f}{min(s):>8.3f}{max(s):>8.3f}{r['first_call_s']:>12.2f}"
              f"{r['peak_extra_mb']:>15.0f}{np.median(s) / med:>10.1f}  {r['label_dtype']}")
    peers = [(float(np.median(ok[p]["seconds"])), p) for p in PEERS if p in ok]
    if "medgan" in ok and peers:
        fastest, name = min(peers)
        print(f"medgan vs fastest peer ({name}): {fastest / med:.1f}x faster (target >= 4x)")
    if "medgan" in ok and "floor" in ok:
        print(f"medgan vs torch grid_sample floor: {np.median(ok['floor']['seconds']) / med:.1f}x faster "
              f"(target >= 1.5x)")
    if "medgan" in ok:
        print(f"medgan peak extra memory: {ok['medgan']['peak_extra_mb']:.0f} MB (target <= 150 MB); "
              f"label dtype {ok['medgan']['label_dtype']}, values {ok['medgan']['label_values']}")


if __name__ == "__main__":
    raise SystemExit(main())
