"""Generate medgan's shipped, simulated sample data from the MNI ICBM152 2009a templates.

The anatomy comes from the grey-matter, white-matter and T1 templates that ship inside
nilearn's wheel (nothing is downloaded). Every subject is a random smooth deformation plus a
small random affine of those maps, rendered into MR contrasts (T1, T1c, T2, FLAIR) and a CT,
with simulated tumours (3D, BraTS 2023 layout) or simulated focal lesions (2D slices).

Every random draw comes from ``numpy.random.default_rng`` seeded per subject from
``(seed, kind, index)``, so a subject's files depend only on the global seed and its index, and
one subject can be regenerated alone. Files are gzip-compressed with a zero mtime and no file
name, so two runs give byte-identical output.

Example:
    python scripts/make_sample_data.py --out sample_data --preview
    python scripts/make_sample_data.py --atlas medgan/sample_data/icbm152_2mm.nii.gz
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# the simulation lives in medgan.sample_data (``medgan sample-data`` uses it too); this script adds the
# shipped set's tables, documents, checksums and preview, and reads the templates from nilearn
from medgan.sample_data.atlas import ATLAS_PATH, Template, load_template, template_dir, write_atlas  # noqa: E402
from medgan.sample_data.files import csv_text, write_atomic, write_text  # noqa: E402
from medgan.sample_data.geometry import (  # noqa: E402
    DEFAULT_N_HEALTHY,
    DEFAULT_N_SLICES,
    DEFAULT_N_TUMOUR,
    HEALTHY_ID_OFFSET,
    KIND_HEALTHY,
    KIND_TUMOUR,
    LESION_CLASSES,
    MR_CONTRASTS,
)
from medgan.sample_data.provenance import LICENCE_TEXT, provenance_text, write_sha256sums  # noqa: E402
from medgan.sample_data.subjects import CaseRecord, make_brats_case, make_lesion_slice  # noqa: E402

ATLAS_REL = ATLAS_PATH.relative_to(ATLAS_PATH.parents[2]).as_posix()


@functools.lru_cache(maxsize=1)
def cached_template() -> Template:
    """``load_template()`` from nilearn's files, once per process (each worker loads its own copy)."""
    return load_template()


# ---------------------------------------------------------------------------------------------
# Tables, documents and checksums
# ---------------------------------------------------------------------------------------------
def regenerate_command(args: argparse.Namespace) -> str:
    """The command line that regenerates this output, naming only non-default options."""
    parts = ["python scripts/make_sample_data.py", f"--out {args.out.as_posix()}"]
    for flag, value, default in (
        ("--seed", args.seed, 0),
        ("--n-tumour", args.n_tumour, DEFAULT_N_TUMOUR),
        ("--n-healthy", args.n_healthy, DEFAULT_N_HEALTHY),
        ("--n-slices", args.n_slices, DEFAULT_N_SLICES),
    ):
        if value != default:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def render_preview(out: Path, png: Path, case: str | None = None, n_lesions: int = 6) -> None:
    """Save a montage: one tumour case (axial and coronal, all contrasts, CT, seg) and 2D lesions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    rows = list(csv.DictReader((out / "brats" / "cases.csv").read_text().splitlines()))
    case = case or next(r["case_id"] for r in rows if r["healthy"] == "False")
    folder = out / "brats" / case
    vols = {m: np.asarray(nib.load(folder / f"{case}-{m}.nii.gz").dataobj) for m in (*MR_CONTRASTS, "ct", "seg")}
    seg = vols["seg"]
    centre = np.argwhere(seg > 0).mean(axis=0).round().astype(int) if seg.any() else np.array(seg.shape) // 2
    names = sorted((out / "lesions2d" / "images").glob("*.nii.gz"))[:n_lesions]
    fig, axes = plt.subplots(3, 6, figsize=(12, 6.6))
    for col, key in enumerate((*MR_CONTRASTS, "ct", "seg")):
        for row, (cut, axis) in enumerate(((centre[2], 2), (centre[1], 1))):
            ax = axes[row, col]
            base = vols["t2f" if key == "seg" else key]
            image = np.take(base, cut, axis=axis).T
            window = (-20, 100) if key == "ct" else (0, np.percentile(base, 99.5))
            ax.imshow(image, origin="lower", cmap="gray", vmin=window[0], vmax=window[1])
            if key == "seg":
                overlay = np.ma.masked_equal(np.take(seg, cut, axis=axis).T, 0)
                colours = ListedColormap(["red", "lime", "yellow"])  # necrosis, oedema, enhancing
                ax.imshow(
                    overlay, origin="lower", cmap=colours, vmin=0.5, vmax=3.5, alpha=0.55, interpolation="nearest"
                )
            label = f"{key} (W -20..100 HU)" if key == "ct" else key
            ax.set_title(f"{label} {'axial' if axis == 2 else 'coronal'}", fontsize=8)
    for col in range(6):
        ax = axes[2, col]
        if col < len(names):
            image = np.asarray(nib.load(names[col]).dataobj)
            label = np.asarray(nib.load(out / "lesions2d" / "labels" / names[col].name).dataobj)
            ax.imshow(image.T, origin="lower", cmap="gray")
            if label.any():
                ax.contour(label.T > 0, levels=[0.5], colors="yellow", linewidths=0.6, origin="lower")
            value = int(label.max())
            ax.set_title(f"{names[col].name[:-7]}: {LESION_CLASSES.get(value, '?')}", fontsize=8)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(f"SIMULATED sample data: {case} (BraTS layout) and 2D lesions (T1c-like)", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=70, metadata={"Software": None})
    plt.close(fig)
    write_atomic(png, buffer.getvalue())


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="output folder (e.g. sample_data)")
    parser.add_argument("--atlas", type=Path, help=f"instead, write the 2 mm atlas medgan ships ({ATLAS_REL}) here")
    parser.add_argument("--seed", type=int, default=0, help="global seed (default 0)")
    parser.add_argument("--n-tumour", type=int, default=DEFAULT_N_TUMOUR, help="3D tumour cases")
    parser.add_argument("--n-healthy", type=int, default=DEFAULT_N_HEALTHY, help="3D healthy cases")
    parser.add_argument("--n-slices", type=int, default=DEFAULT_N_SLICES, help="2D lesion slices")
    parser.add_argument("--preview", action="store_true", help="also write OUT/preview.png")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (output is the same)"
    )
    args = parser.parse_args(argv)
    if (args.out is None) == (args.atlas is None):
        parser.error("give exactly one of --out and --atlas")
    if not 0 <= args.n_tumour <= HEALTHY_ID_OFFSET or not 0 <= args.n_healthy <= HEALTHY_ID_OFFSET:
        parser.error(f"--n-tumour and --n-healthy must lie in [0, {HEALTHY_ID_OFFSET}]")
    if args.n_slices < 0 or args.seed < 0 or args.jobs < 1:
        parser.error("--n-slices and --seed must be >= 0 and --jobs >= 1")
    return args


def run_task(task: tuple[str, Path, int, int, int]) -> CaseRecord | tuple[str, int, int]:
    """Generate one subject: ``("brats", out, seed, kind, index)`` or ``("slice", out, seed, 0, index)``."""
    what, out, seed, kind, index = task
    if what == "brats":
        return make_brats_case(cached_template(), out, seed, kind, index)
    return make_lesion_slice(cached_template(), out, seed, index)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the sample data; return the process exit status."""
    args = parse_args(argv)
    if args.atlas is not None:
        write_atlas(args.atlas, template_dir())
        print(f"wrote the ICBM152 2 mm atlas to {args.atlas}")
        return 0
    start = time.perf_counter()
    out: Path = args.out
    tasks = [("brats", out, args.seed, KIND_TUMOUR, i) for i in range(args.n_tumour)]
    tasks += [("brats", out, args.seed, KIND_HEALTHY, i) for i in range(args.n_healthy)]
    tasks += [("slice", out, args.seed, 0, i) for i in range(args.n_slices)]
    if args.jobs > 1 and len(tasks) > 1:
        # subjects are independent and seeded alone, so the output does not depend on --jobs
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(run_task, tasks))
    else:
        results = [run_task(task) for task in tasks]
    cases = [r for r in results if isinstance(r, CaseRecord)]
    slices = [r for r in results if not isinstance(r, CaseRecord)]
    write_text(
        out / "brats" / "cases.csv",
        csv_text(
            ("case_id", "healthy", "tumour_voxels", "seed"),
            [(c.case_id, c.healthy, c.tumour_voxels, c.seed) for c in cases],
        ),
    )
    write_text(
        out / "lesions2d" / "classes.csv",
        csv_text(("name", "class_id", "class_name"), [(n, c, LESION_CLASSES[c]) for n, c, _ in slices]),
    )
    write_text(
        out / "lesions2d" / "class_names.json",
        json.dumps({str(k): v for k, v in LESION_CLASSES.items()}, indent=2) + "\n",
    )
    write_text(
        out / "LICENSE-ICBM152.txt", LICENCE_TEXT)
    write_text(out / "PROVENANCE.md", provenance_text(regenerate_command(args), cases, slices))
    write_sha256sums(out)
    if args.preview and any(not c.healthy for c in cases):
        render_preview(out, out / "preview.png")
    elapsed = time.perf_counter() - start
    print(f"wrote {len(cases)} 3D cases and {len(slices)} 2D slices to {out} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
