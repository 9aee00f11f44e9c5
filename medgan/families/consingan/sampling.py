"""A trained ConSinGAN run as a sampler: labelled variations of its one case, on that case's grid,
and ``medgan synthesize RUN OUT --n K`` writing them as a dataset.

Image channels are mapped back to the case's intensities; the label channels (one per label value of
the case) are resampled to the case's grid and decoded by argmax, so every voxel gets one of the
case's label values and no other.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from medgan.errors import ConfigError, DataError
from medgan.families.consingan.config import ConSinGANConfig
from medgan.families.consingan.step import draw_noise
from medgan.transforms.scaling import from_unit_range


class ConSinGANSampler:
    """Variations of a run's case.

    Args:
        config: the run's resolved config.
        generator: the trained generator pyramid.
        state: the run's checkpointed family state (``stage``, ``amplitudes``).
    """

    def __init__(self, config: ConSinGANConfig, generator: torch.nn.Module, state: dict[str, Any]) -> None:
        if "stage" not in state or "amplitudes" not in state:
            raise DataError("consingan run", "checkpoint has no stage and noise amplitudes")
        self.config, self.generator = config, generator
        self.stage = int(state["stage"])
        self.amplitudes = [float(a) for a in state["amplitudes"]]

    @classmethod
    def from_loaded(cls, run: Any) -> ConSinGANSampler:
        """The sampler of a :class:`~medgan.training.run.Run`."""
        return cls(run.config, run.networks["G"], run.state)

    @torch.no_grad()
    def generate(self, n: int, seed: int) -> torch.Tensor:
        """``(n, channels, *scale)`` raw outputs in [-1, 1] at the last trained stage; same seed, same outputs."""
        device = next(self.generator.parameters()).device
        generator = torch.Generator().manual_seed(int(seed))
        outputs = []
        for _ in range(n):
            noise = [z.to(device) for z in draw_noise(self.config, self.stage, 1, generator)]
            outputs.append(self.generator(noise, self.amplitudes, self.config.model.scales, self.stage).float().cpu())
        return torch.cat(outputs)

    def to_case(self, output: torch.Tensor, case_id: str) -> dict[str, Any]:
        """One raw output ``(channels, *scale)`` as a case on the source case's grid."""
        data = self.config.data
        shape = tuple(data.data_shape)
        mode = "bilinear" if len(shape) == 2 else "trilinear"
        full = F.interpolate(output[None], size=shape, mode=mode, align_corners=True)[0] \
            if tuple(output.shape[1:]) != shape else output
        n_image = len(data.modalities or [])
        image = from_unit_range(full[:n_image].numpy(), data.intensity_lo, data.intensity_hi).astype(np.float32)
        affine = np.asarray(data.affine, float)
        meta = {"affine": affine, "spacing": np.linalg.norm(affine[:3, :len(shape)], axis=0).tolist(),
                "spatial_shape": list(shape), "dtype": data.image_dtype, "modalities": list(data.modalities or []),
                "labelled": bool(data.label_values), "source": {"case_id": data.case_id},
                "history": [{"op": "consingan", "source_case": data.case_id, "stage": self.stage}]}
        case: dict[str, Any] = {"image": image, "meta": meta, "id": case_id}
        if data.label_values:
            values = np.asarray(data.label_values)
            index = full[n_image:].argmax(0).numpy()
            case["label"] = values[index][None].astype(data.label_dtype or "int16")
            meta["label_dtype"] = data.label_dtype
        return case

    @torch.no_grad()
    def harmonize(self, case: dict[str, Any], n: int, seed: int) -> list[dict[str, Any]]:
        """``n`` harmonized versions of ``case`` (e.g. the run's scan with a naively pasted lesion) from a
        ``harmonization`` run: the case enters at the first stage, the later stages refine it. The label
        map (the pasted lesion's) is kept exactly; geometry must be the run's case's.

        Raises:
            ConfigError: the run is not a harmonization run. DataError: another grid or channel count.
        """
        from medgan.families.consingan.data import _area
        from medgan.transforms.scaling import to_unit_range

        data = self.config.data
        if self.config.mode != "harmonization":
            raise ConfigError("this consingan run was trained with mode 'generation'; train one with "
                              "--mode harmonization on the target scan to harmonize")
        image = np.asarray(case["image"], np.float32)
        where = case.get("meta", {}).get("filename") or case.get("id", "case")
        if list(image.shape[1:]) != list(data.data_shape) or image.shape[0] != len(data.modalities or []):
            raise DataError(where, f"image is {tuple(image.shape)}; the run's scan is "
                                   f"({len(data.modalities or [])}, {', '.join(map(str, data.data_shape))})")
        if not np.allclose(np.asarray(case["meta"]["affine"], float), np.asarray(data.affine), atol=1e-3):
            raise DataError(where, "affine differs from the run's scan; harmonize on the scan the run learnt")
        unit = torch.from_numpy(to_unit_range(image, data.intensity_lo, data.intensity_hi))[None]
        first = _area(unit, self.config.model.scales[0])
        device = next(self.generator.parameters()).device
        generator = torch.Generator().manual_seed(int(seed))
        results = []
        for i in range(n):
            noise = [z.to(device) for z in draw_noise(self.config, self.stage, 1, generator, first)]
            output = self.generator(noise, self.amplitudes, self.config.model.scales, self.stage).float().cpu()[0]
            result = self.to_case(output, f"harmonized-{seed}-{i:04d}")
            result["meta"]["history"][-1]["op"] = "consingan-harmonize"
            if case.get("label") is not None:
                result["label"] = np.array(case["label"], copy=True)
                result["meta"]["label_dtype"] = case["meta"].get("label_dtype") or result["label"].dtype.name
                result["meta"]["labelled"] = True
            results.append(result)
        return results

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """``n`` labelled variations of the run's case (``context`` is not used: the geometry is the case's)."""
        if self.config.mode != "generation":
            raise ConfigError("a consingan harmonization run harmonizes given cases (medgan synthesize --harmonize); "
                              "it does not sample from noise")
        outputs = self.generate(n, seed)
        return [self.to_case(out, f"consingan-{seed}-{i:04d}") for i, out in enumerate(outputs)]


def add_synthesize_arguments(parser: argparse.ArgumentParser) -> None:
    """The consingan options of ``medgan synthesize RUN OUT``."""
    parser.add_argument("--n", type=int, required=True, help="number of variations of the run's case")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument("--device", default="cpu", help="torch device for the generator")
    parser.add_argument("--harmonize", type=Path, metavar="IMAGE",
                        help="a harmonization run: write N harmonized versions of this image (the run's scan with a "
                             "naively pasted lesion, same grid) instead of variations")
    parser.add_argument("--harmonize-label", type=Path, metavar="LABEL",
                        help="label map of --harmonize (the pasted lesion's), copied unchanged to the outputs")
    parser.add_argument("--paste-from", type=Path, metavar="DATASET",
                        help="a harmonization run: paste real lesions of this labelled dataset into the run's scan "
                             "(copy-paste) and harmonize them; writes N cases")
    parser.add_argument("--paste-cases", help="comma-separated case ids of --paste-from to take lesions from "
                                              "(default: every labelled case)")
    parser.add_argument("--lesions-per-case", type=int, default=1, help="lesions pasted per case (default 1)")
    parser.add_argument("--blend-voxels", type=int, default=3,
                        help="the harmonized image fades into the naive paste over this many voxels around the "
                             "voxels the paste changed (default 3); elsewhere the scan is unchanged")


def synthesize(run_dir: Path, out: Path, args: argparse.Namespace) -> int:
    """Write ``args.n`` variations of the run's case into ``out`` (folder layout, ``manifest.csv``)."""
    from medgan.io.datasets import Dataset
    from medgan.io.writers import DatasetWriter
    from medgan.training.run import load_run

    if args.n < 1:
        raise ConfigError("--n must be at least 1")
    run = load_run(run_dir, args.device)
    sampler = ConSinGANSampler.from_loaded(run)
    data = run.config.data
    source = Path(data.path) if data.path else out.parent / f".{out.name}-no-source"
    root = source if source.is_dir() else out.parent / f".{out.name}-no-source"
    writer = DatasetWriter(Dataset(root, "folder", [], tuple(data.modalities or [])), out)
    if args.paste_from is not None:
        if args.harmonize is not None:
            raise ConfigError("--paste-from and --harmonize exclude each other")
        cases, extra = _paste_and_harmonize(run, sampler, args)
        prefix, source = "harmonized", data.case_id
    elif args.harmonize is not None:
        from medgan.families.consingan.data import _read_file_case

        naive = _read_file_case(args.harmonize, args.harmonize_label)
        naive["meta"]["filename"] = str(args.harmonize)
        cases = sampler.harmonize(naive, args.n, args.seed)
        prefix, source = "harmonized", str(args.harmonize)
    else:
        if args.harmonize_label is not None:
            raise ConfigError("--harmonize-label needs --harmonize")
        cases = sampler.sample(args.n, args.seed)
        prefix, source = "consingan", data.case_id
    if args.paste_from is None:
        extra = [{} for _ in cases]
    written = 0
    for index, case in enumerate(cases):
        case_id = f"{prefix}-{index:04d}"
        if writer.done(case_id):
            continue
        writer.write(case, case_id, {"source_case": source, "seed": args.seed, "index": index,
                                     "stage": sampler.stage, "run": str(run_dir), **extra[index]})
        written += 1
    manifest = writer.finish()
    scale = "x".join(map(str, run.config.model.scales[sampler.stage]))
    print(f"wrote {written} {prefix} case(s) of {source} to {out} (generated at {scale}, stage "
          f"{sampler.stage + 1} of {len(run.config.model.scales)}); manifest {manifest}")
    return 0


def _paste_and_harmonize(run: Any, sampler: ConSinGANSampler, args: argparse.Namespace
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``medgan synthesize RUN OUT --paste-from DATASET``: lesions of DATASET pasted into the run's
    scan and harmonized; returns the cases and their manifest columns."""
    from medgan.families.consingan.data import read_case
    from medgan.families.consingan.harmonize import paste_and_harmonize
    from medgan.io.datasets import load_dataset

    if run.config.mode != "harmonization":
        raise ConfigError("--paste-from needs a harmonization run (medgan train consingan --mode harmonization)")
    if not run.config.data.path:
        raise ConfigError("this run has no scan on disk (trained in memory by the benchmark); use --harmonize IMAGE")
    if args.lesions_per_case < 1 or args.blend_voxels < 0:
        raise ConfigError("--lesions-per-case must be at least 1 and --blend-voxels at least 0")
    target = read_case(run.config)
    if target.get("label") is None:
        warnings.warn(f"{run.config.data.path}: the harmonization run's scan has no label map, so the written "
                      "labels hold only the pasted lesions (train with --label to keep the scan's own lesions)",
                      stacklevel=2)
    dataset = load_dataset(args.paste_from)
    wanted = [c.strip() for c in args.paste_cases.split(",") if c.strip()] if args.paste_cases else None
    known = {ref.id: ref for ref in dataset.cases}
    for case_id in wanted or []:
        if case_id not in known:
            raise DataError(args.paste_from, f"no case named {case_id!r}")
    ids = wanted or [ref.id for ref in dataset.cases if ref.label is not None]
    if not ids:
        raise DataError(args.paste_from, "holds no labelled case to take lesions from")
    pairs = paste_and_harmonize(sampler, target, [dataset.load(i) for i in ids], args.n, args.seed,
                                args.blend_voxels, {"lesions_per_case": args.lesions_per_case})
    extra = []
    for naive, harmonized in pairs:
        lesions = naive["meta"]["history"][-1]["lesions"]
        extra.append({"method": "copy-paste+consingan-harmonize",
                      "lesion_sources": ";".join(r["source_case"] for r in lesions),
                      "lesion_voxels": ";".join(str(r["voxels"]) for r in lesions),
                      "harmonized_voxels": harmonized["meta"]["history"][-1]["harmonized_voxels"]})
    return [h for _, h in pairs], extra
