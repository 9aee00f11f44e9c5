"""The ``cyclegan`` synthesis stage of the benchmark: fit a CycleGAN source -> target (e.g. MR -> CT)
on the real training cases, then turn cases into new ones whose target channel is the translation
of their source channel (Hammami et al. 2020: CycleGAN-translated MR added to CT training).

Options (the pipeline's ``synthesis.options``):

- ``source_modality`` (``t1n``), ``target_modality`` (``ct``): channel names. A context case that
  lacks a channel has it read from its own dataset folder (``meta["source"]["root"]``, same case id),
  so a CT-only pipeline can still translate the MR of its training cases.
- ``steps`` (300), ``batch_size`` (1), ``spatial_dims`` (2: the paper's slices; 3: patches),
  ``patch_size`` (default as ``medgan train cyclegan``), ``g_channels`` (16), ``n_blocks`` (4),
  ``d_channels`` (32): training budget and network size (small by default: it runs per grid cell).

Intensities: the benchmark hands over normalised images, so both domains use the per-volume
percentile mapping; translated channels are written as float32 on the target's typical range.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medgan.errors import ConfigError, DataError


@dataclass
class CycleGANStageOptions:
    """Options of the ``cyclegan`` stage (see the module docstring)."""

    source_modality: str = "t1n"
    target_modality: str = "ct"
    steps: int = 300
    batch_size: int = 1
    spatial_dims: int = 2
    patch_size: int | None = None
    g_channels: int = 16
    n_blocks: int = 4
    d_channels: int = 32


class CycleGANStage:
    """Benchmark synthesis stage: CycleGAN translation of one channel into another.

    Args:
        options: ``synthesis.options`` of the pipeline (unknown keys are an error).
        spatial_dims: dimensionality of the benchmark's cases (the model's is ``options.spatial_dims``).
        device: torch device name.
    """

    def __init__(self, options: dict[str, Any], spatial_dims: int, device: str) -> None:
        from medgan.config import load_config

        self.options = load_config(dict(options), CycleGANStageOptions, where="synthesis.options")
        if self.options.spatial_dims not in (2, 3):
            raise ConfigError("synthesis.options.spatial_dims must be 2 or 3")
        self.case_dims, self.device = spatial_dims, device
        self.translator: Any = None
        self._datasets: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------ data

    def channel(self, case: dict[str, Any], modality: str) -> np.ndarray:
        """Channel ``modality`` of ``case``, or of the same case in its dataset folder on disk."""
        names = list(case["meta"].get("modalities") or [])
        if modality in names:
            return np.asarray(case["image"][names.index(modality)], dtype=np.float32)
        source = case["meta"].get("source", {})
        root, case_id = source.get("root"), source.get("case_id", case.get("id"))
        if not root:
            raise DataError(case.get("id", "case"),
                            f"has no {modality!r} channel and no dataset folder to read it from")
        if root not in self._datasets:
            from medgan.io.datasets import load_dataset

            self._datasets[root] = load_dataset(root)
        other = self._datasets[root].load(case_id)
        other_names = list(other["meta"]["modalities"])
        if modality not in other_names:
            raise DataError(root, f"case {case_id} has no modality {modality!r}")
        volume = np.asarray(other["image"][other_names.index(modality)], dtype=np.float32)
        if volume.shape != tuple(case["image"].shape[1:]):
            raise DataError(root, f"case {case_id}: {modality} grid {volume.shape} differs from the case's")
        return volume

    # ---------------------------------------------------------------------------------- stage

    def fit(self, cases: Sequence[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Train the CycleGAN on ``cases`` (real training cases only) in ``workdir`` (resumable)."""
        import torch

        from medgan.families._translation.config import DomainConfig, TranslationDataConfig
        from medgan.families.cyclegan import CycleGANConfig, CycleGANModelConfig
        from medgan.families.cyclegan.step import CycleGANStep
        from medgan.synthesis.translate import Translator
        from medgan.training.config import TrainConfig
        from medgan.training.loop import Trainer
        from medgan.transforms.modality import IntensityConfig, fit_reference, make_scale

        o = self.options
        if not cases:
            raise ConfigError("cyclegan stage: no training cases to fit on")
        raw = {m: [self.channel(c, m) for c in cases] for m in (o.source_modality, o.target_modality)}
        domains = {}
        for key, modality in (("a", o.source_modality), ("b", o.target_modality)):
            intensity = IntensityConfig(kind="generic")
            intensity.reference = fit_reference(intensity, modality, raw[modality])
            domains[key] = DomainConfig(path="", modality=modality, intensity=intensity)
        config = CycleGANConfig(
            train=TrainConfig(steps=o.steps, batch_size=o.batch_size, seed=seed, device=self.device, ema_decay=0.0,
                              log_every=max(1, o.steps // 20), checkpoint_every=0, sample_every=0, n_samples=4,
                              progress=False),
            data=TranslationDataConfig(a=domains["a"], b=domains["b"], spatial_dims=o.spatial_dims,
                                       patch_size=o.patch_size),
            model=CycleGANModelConfig(g_channels=o.g_channels, n_blocks=o.n_blocks, d_channels=o.d_channels))
        scales = {k: make_scale(d.intensity, d.modality or "") for k, d in domains.items()}
        volumes = tuple([scales[k].to_network(v)[None] for v in raw[m]]
                        for k, m in (("a", o.source_modality), ("b", o.target_modality)))
        torch.manual_seed(seed)
        step = CycleGANStep(config, volumes=volumes)
        trainer = Trainer(step, workdir, "cyclegan", resume=True)
        trainer.fit()
        network = step.networks["G_ab"].eval()
        self.translator = Translator(network, o.spatial_dims, int(config.data.patch_size), 4, scales["a"],
                                     scales["b"], o.source_modality, o.target_modality,
                                     {"family": "cyclegan", "run": str(workdir), "direction": "a2b"})

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` cases: context cases (drawn with ``seed``) with their target channel translated.

        The output has the context cases' channels; the target channel is replaced by the
        translation of the source channel (stored as float32). Labels are the context case's.
        """
        if self.translator is None:
            raise ConfigError("cyclegan stage: call fit() before sample()")
        if not context:
            raise ConfigError("cyclegan stage: no context cases to translate")
        o = self.options
        rng = np.random.default_rng(seed)
        order = np.concatenate([rng.permutation(len(context)) for _ in range(-(-n // len(context)))])[:n]
        out = []
        for index in order:
            case = context[int(index)]
            names = list(case["meta"].get("modalities") or [])
            if o.target_modality not in names:
                raise DataError(case.get("id", "case"), f"has no {o.target_modality!r} channel to replace "
                                                        f"(channels: {names})")
            translated = self.translator.translate_array(self.channel(case, o.source_modality))
            image = np.asarray(case["image"], dtype=np.float32).copy()
            image[names.index(o.target_modality)] = translated
            meta = copy.deepcopy(case["meta"])
            meta["dtype"] = "float32"
            meta["source"] = {**meta.get("source", {}),
                              "storage": [{"dtype": "float32", "scl_slope": None, "scl_inter": None, "channels": 1}
                                          for _ in names]}
            meta["source_case"] = case.get("id", "")
            meta["history"] = list(meta.get("history", [])) + [
                {"name": "cyclegan-translate", "from": o.source_modality, "to": o.target_modality, "seed": seed}]
            new = {"image": image, "meta": meta, "id": f"{case.get('id', 'case')}_cyclegan"}
            if "label" in case:
                new["label"] = np.asarray(case["label"]).copy()
            out.append(new)
        return out
