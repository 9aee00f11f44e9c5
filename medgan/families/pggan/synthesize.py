"""``medgan synthesize RUN OUT --n N [--interpolate]`` for a pggan run: NIfTI volumes (and label
maps when the run generates them) written as a dataset with a ``manifest.csv``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medgan.errors import ConfigError


def add_synthesize_arguments(parser: argparse.ArgumentParser) -> None:
    """The pggan options of ``medgan synthesize RUN OUT``."""
    parser.add_argument("--n", type=int, required=True, help="number of volumes (with --interpolate: of frames)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent vectors")
    parser.add_argument("--interpolate", action="store_true",
                        help="write a sequence of N volumes between two random latent vectors (spherical "
                             "interpolation): a quick check that the model does not just replay training cases")
    parser.add_argument("--grid", choices=["data", "model"], default="data",
                        help="data: resample to the training data's shape and affine (image linear, label "
                             "nearest; default); model: the generator's own grid covering the same field of view")
    parser.add_argument("--spacing", type=lambda v: [float(x) for x in v.split(",")], metavar="MM[,MM,MM]",
                        help="voxel size on the model grid (implies --grid model), centred on the data's field of view")
    parser.add_argument("--reference", type=Path, metavar="IMAGE",
                        help="take shape and affine from this image instead of the training data (grid data)")
    parser.add_argument("--batch-size", type=int, default=4, help="volumes generated at once")
    parser.add_argument("--device", default="cpu", help="torch device for the generator")


def synthesize(run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    """Write ``args.n`` synthetic cases from the pggan run at ``run_dir`` into ``out``."""
    from medgan.families.pggan.sampling import PGGANSampler

    if args.n < 1:
        raise ConfigError("--n must be at least 1")
    grid = "model" if args.spacing else args.grid
    sampler = PGGANSampler.from_run(run_dir, args.device)
    dims = len(sampler.model_shape)
    if args.spacing is not None and len(args.spacing) not in (1, dims):
        raise ConfigError(f"--spacing needs 1 or {dims} values")
    spacing = (args.spacing * dims if len(args.spacing) == 1 else args.spacing) if args.spacing else None
    reference = _reference(args.reference) if args.reference else None
    z = sampler.interpolation_noise(args.n, args.seed) if args.interpolate else sampler.noise(args.n, args.seed)
    prefix = "pggan-interp" if args.interpolate else "pggan"
    writer = _writer(sampler.config, out)
    written = 0
    for start in range(0, args.n, args.batch_size):
        ids = [f"{prefix}-{i:04d}" for i in range(start, min(args.n, start + args.batch_size))]
        if all(writer.done(i) for i in ids):
            continue
        outputs = sampler.generate(z[start:start + len(ids)], args.batch_size)
        for case_id, output in zip(ids, outputs):
            case = sampler.to_case(output, grid=grid, spacing=spacing, reference=reference)
            index = int(case_id.rsplit("-", 1)[1])
            record = {"seed": args.seed, "index": index, "grid": grid, "level": sampler.level,
                      "alpha": sampler.alpha, "run": str(run_dir)}
            if args.interpolate:
                record["t"] = index / max(1, args.n - 1)
            case["meta"]["history"][-1].update({"seed": args.seed, "index": index})
            writer.write(case, case_id, record)
            written += 1
    manifest = writer.finish()
    shape = "x".join(str(s) for s in sampler.model_shape)
    note = ""
    if grid == "data" and case["meta"]["history"][-1]["resampled_to_data_grid"]:
        note = f" (generated at {shape}, resampled to {'x'.join(map(str, case['meta']['spatial_shape']))})"
    print(f"wrote {written} volume(s) to {out}{note}; manifest {manifest}")
    return 0


def _reference(path: Path) -> dict[str, Any]:
    from medgan.io.image import read_image

    array, meta = read_image(path)
    return {"image": array[:1], "meta": {k: meta[k] for k in ("affine", "spacing", "orientation", "spatial_shape")
                                         if k in meta}}


class _LabelWriter:
    """Writes label-only cases as ``labels/<id>.nii.gz`` with a manifest (resumable like DatasetWriter)."""

    def __init__(self, out: Path, data_root: str) -> None:
        self.out = out
        if data_root:
            root, target = Path(data_root).resolve(), out.resolve()
            if target == root or root in target.parents:
                raise ConfigError(f"{out}: output folder lies inside the training dataset {data_root}")
        self.rows: list[dict[str, Any]] = []

    def path(self, case_id: str) -> Path:
        return self.out / "labels" / f"{case_id}.nii.gz"

    def done(self, case_id: str) -> bool:
        return self.path(case_id).is_file()

    def write(self, case: dict[str, Any], case_id: str, record: dict[str, Any]) -> None:
        from medgan.io.image import write_image

        label = case["label"]
        write_image(self.path(case_id), label, {"affine": case["meta"]["affine"], "dtype": case["meta"]["label_dtype"]})
        self.rows.append({"case_id": case_id, "label": f"labels/{case_id}.nii.gz", **record})

    def finish(self) -> Path:
        import pandas as pd

        from medgan.io.atomic import write_text_atomic

        manifest = self.out / "manifest.csv"
        old = pd.read_csv(manifest).to_dict("records") if manifest.is_file() else []
        seen = {r["case_id"] for r in self.rows}
        rows = sorted([r for r in old if r["case_id"] not in seen] + self.rows, key=lambda r: r["case_id"])
        write_text_atomic(manifest, pd.DataFrame(rows).to_csv(index=False))
        return manifest


def _writer(config: Any, out: Path) -> Any:
    """A dataset writer in the training data's layout (BraTS or plain folders), or label files only."""
    from medgan.io.datasets import Dataset
    from medgan.io.writers import DatasetWriter

    data = config.data
    if not data.modalities:
        return _LabelWriter(out, data.path)
    layout = data.layout if data.layout in ("brats", "folder") else "folder"
    root = Path(data.path) if data.path else out.parent / f".{out.name}-no-source"
    return DatasetWriter(Dataset(root, layout, [], tuple(data.modalities)), out)
