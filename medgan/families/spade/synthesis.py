"""From a trained SPADE run to new image + label cases: every label map given (or drawn from a mask
source) becomes ``per_mask`` images, written with that label map unchanged and its affine.

Example:
    >>> synth = SpadeSynthesizer.from_run("runs/spade")  # doctest: +SKIP
    >>> images = synth.generate(case["label"], torch.Generator().manual_seed(0), k=3)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medgan.errors import ConfigError, DataError
from medgan.families.spade import SpadeConfig
from medgan.families.spade.data import check_labels, crop_from, pad_to
from medgan.transforms.scaling import from_unit_range


class SpadeSynthesizer:
    """The generator of a SPADE run, ready to turn label maps into images in scanner units.

    Args:
        config: the run's resolved :class:`~medgan.families.spade.SpadeConfig`.
        generator: the trained :class:`~medgan.models.spade.SPADEGenerator`.
        device: where it runs.
    """

    def __init__(self, config: SpadeConfig, generator: torch.nn.Module, device: str | torch.device = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self._mask_source: Any = None

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` new cases from label maps drawn by the run's ``sample.mask_source`` with the context
        cases as their starting point (the benchmark's sampler; see :func:`sample_cases`).

        Each case has the trained channels, the drawn label map, the ``meta`` (affine...) of its
        context case, and ``meta["source_case"]``.
        """
        from medgan.families.spade.masks import build_mask_source

        channels = len(self.modalities)
        for case in context:
            if case.get("image") is not None and case["image"].shape[0] != channels:
                raise DataError(case.get("id", "case"), f"has {case['image'].shape[0]} channels; SPADE was "
                                                        f"trained on {channels}")
        if self._mask_source is None:
            self._mask_source = build_mask_source(dict(self.config.sample.mask_source))
        return sample_cases(self, self._mask_source.masks(n, seed, list(context)), seed)

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | torch.device = "cpu", use_ema: bool = True
                 ) -> SpadeSynthesizer:
        """Load the newest checkpoint of the SPADE run at ``run_dir`` (the EMA generator if kept)."""
        from medgan.training.run import load_run

        return cls.from_loaded(load_run(run_dir, device, use_ema))

    @classmethod
    def from_loaded(cls, run: Any) -> SpadeSynthesizer:
        """The synthesizer of a loaded SPADE :class:`~medgan.training.run.Run`."""
        if run.family != "spade":
            raise DataError(run.path, f"is a {run.family} run, not a spade run")
        return cls(run.config, run.networks["G"], next(run.networks["G"].parameters()).device)

    @property
    def modalities(self) -> list[str]:
        return list(self.config.data.modalities or [])

    @torch.no_grad()
    def generate(self, label: np.ndarray, generator: torch.Generator, k: int = 1, case_id: str = "mask"
                 ) -> np.ndarray:
        """``k`` images for one label map, each from its own noise.

        Args:
            label: ``(1, *S)`` integer label map on the run's training grid.
            generator: CPU generator of the noise.
            k: images wanted.
            case_id: named in errors.

        Returns:
            ``(k, C, *S)`` float32 intensities in the training data's units.

        Raises:
            DataError: the grid differs from the training grid or the map holds unknown label values.
        """
        data = self.config.data
        label = np.asarray(label)
        if list(label.shape[1:]) != list(data.spatial_shape or []) or label.shape[0] != 1:
            raise DataError(case_id, f"label map of shape {tuple(label.shape)} does not match the run's grid "
                                     f"(1, {', '.join(map(str, data.spatial_shape or []))})")
        check_labels(case_id, label, data.label_values or [0])
        from medgan.models.spade import one_hot_labels

        padded = pad_to(label.astype(np.int64), data.padded_shape or label.shape[1:], 0)
        onehot = one_hot_labels(torch.from_numpy(padded)[None].to(self.device), data.label_values or [0])
        onehot = onehot.expand(k, *onehot.shape[1:])
        z_dim = self.config.model.z_dim
        z = torch.randn(k, z_dim, generator=generator).to(self.device) if z_dim > 0 else None
        images = self.generator(onehot, z).float().cpu().numpy()
        images = crop_from(images, data.spatial_shape or images.shape[2:])
        return np.stack([from_unit_range(im, data.intensity_low or [0.0], data.intensity_high or [1.0])
                         for im in images])

    def make_case(self, label: np.ndarray, meta: dict[str, Any], image: np.ndarray, case_id: str,
                  record: dict[str, Any]) -> dict[str, Any]:
        """A case holding ``image`` and ``label`` unchanged, with ``meta`` (affine...) of the mask."""
        meta = copy.deepcopy(meta)
        meta["modalities"] = self.modalities
        meta["dtype"] = self.config.data.image_dtype or "float32"
        meta.get("source", {}).pop("storage", None)
        for key in ("scl_slope", "scl_inter"):
            meta.pop(key, None)
        meta["labelled"] = True
        meta.setdefault("label_dtype", np.asarray(label).dtype.name)
        meta.setdefault("history", []).append({"name": "spade", **record})
        return {"image": image.astype(np.float32), "label": label, "meta": meta, "id": case_id}


def load_masks(path: str | Path) -> tuple[Any, list[dict[str, Any]]]:
    """Label maps from a dataset (any layout; labelled cases) or from a folder of label files.

    Returns:
        ``(dataset, cases)``: the dataset whose layout the output follows (for a folder of label
        files, an empty ``folder``-layout dataset rooted there) and the cases (``label``, ``meta``,
        ``id``, and ``image`` for datasets).

    Raises:
        DataError: nothing labelled found.
    """
    from medgan.io import load_dataset, read_image
    from medgan.io.datasets import Dataset
    from medgan.io.image import is_image_file, strip_image_suffix
    from medgan.io.validate import check_label

    root = Path(path)
    if not root.is_dir():
        raise DataError(root, "expected a dataset or a folder of label maps")
    try:
        dataset = load_dataset(root)
    except DataError:
        dataset = None
    if dataset is not None and any(ref.label is not None for ref in dataset.cases):
        return dataset, [dataset.load(ref) for ref in dataset.cases if ref.label is not None]
    folder = root / "labels" if (root / "labels").is_dir() else root
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
    if not files:
        raise DataError(root, "holds neither a labelled dataset nor label-map files")
    cases = []
    for file in files:
        label, meta = read_image(file)
        if label.shape[0] != 1:
            raise DataError(file, f"has {label.shape[0]} channels; a label map has one")
        label, _ = check_label(file, label)
        meta = {k: v for k, v in meta.items() if k != "filename"}
        meta.update(label_dtype=label.dtype.name, history=[],
                    source={"root": str(root), "layout": "labels", "case_id": strip_image_suffix(file.name),
                            "label_file": str(file.relative_to(root))})
        cases.append({"label": label, "meta": meta, "id": strip_image_suffix(file.name)})
    return Dataset(root, "folder", [], ()), cases


def synthesize_from_masks(run_dir: str | Path, out: str | Path, masks: str | Path, per_mask: int = 1,
                          mask_source: dict[str, Any] | None = None, n: int | None = None, seed: int = 0,
                          device: str = "cpu", allow_excluded: bool = False) -> tuple[Path, int]:
    """Write ``per_mask`` generated images for every label map as a dataset in ``masks``' layout.

    Label maps are drawn from ``mask_source`` (default: the run's ``sample.mask_source``; ``real``:
    the input masks as given) with the input cases as context, ``n`` of them (default: one per
    input mask). When ``masks`` is the run's training dataset, the cases the run excluded from
    training (its test cases) are left out (``allow_excluded`` keeps them, with a warning). Case
    ``<mask>_spade<j>_<k>`` holds image ``k`` (seed ``(seed, j, k)``) for label map ``j``; its label
    map is written unchanged with the mask's affine. Finished cases are skipped on a re-run;
    ``manifest.csv`` records source case, mask index, image index, seed and run.

    Returns:
        ``(manifest path, number of cases written or already present)``.
    """
    from medgan.families._cases import without_excluded
    from medgan.families.spade.masks import build_mask_source
    from medgan.io import DatasetWriter

    if per_mask < 1:
        raise ConfigError("--per-mask must be at least 1")
    if n is not None and n < 1:
        raise ConfigError("--n must be at least 1")
    synth = SpadeSynthesizer.from_run(run_dir, device)
    dataset, cases = load_masks(masks)
    kept = set(without_excluded(run_dir, dataset.root, [c["id"] for c in cases], given=False, allow=allow_excluded,
                                what="mask"))
    cases = [c for c in cases if c["id"] in kept]
    if not cases:
        raise DataError(dataset.root, "no label map left after leaving out the run's excluded cases")
    writer = DatasetWriter(dataset, out)
    options = dict(mask_source or synth.config.sample.mask_source)
    source_name = options.get("source", "real")
    drawn = build_mask_source(options).masks(n or len(cases), seed, cases)
    count = 0
    for j, (label, meta) in enumerate(drawn):
        source_case = str(meta.get("source_case") or f"mask{j}")
        for k in range(per_mask):
            new_id = f"{source_case}_spade{j:04d}_{k}"
            count += 1
            if writer.done(new_id):
                continue
            generator = torch.Generator().manual_seed(_image_seed(seed, j, k))
            image = synth.generate(label, generator, 1, source_case)[0]
            record = {"run": str(run_dir), "seed": seed, "mask_index": j, "image_index": k,
                      "mask_source": source_name}
            case = synth.make_case(label, meta, image, new_id, record)
            writer.write(case, new_id, {"source_case": source_case, **record})
    return writer.finish(), count


def _image_seed(seed: int, j: int, k: int) -> int:
    return int(np.random.default_rng([seed, j, k]).integers(2**62))


def sample_cases(synth: SpadeSynthesizer, masks: Sequence[tuple[np.ndarray, dict[str, Any]]], seed: int
                 ) -> list[dict[str, Any]]:
    """One generated case per ``(label, meta)``, named ``spade-<i>``, seeds ``(seed, i, 0)``."""
    cases = []
    for i, (label, meta) in enumerate(masks):
        source = meta.get("source_case")
        image = synth.generate(label, torch.Generator().manual_seed(_image_seed(seed, i, 0)), 1,
                               str(source or i))[0]
        case = synth.make_case(label, meta, image, f"spade-{i:04d}", {"seed": seed, "index": i})
        case["meta"]["source_case"] = source
        cases.append(case)
    return cases
