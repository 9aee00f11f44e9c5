"""The benchmark's ``spade`` synthesis stage: fit SPADE on the training cases (image + label), then
sample new cases from label maps drawn by a mask source (default: real masks through classic
augmentation) with the context cases as their starting point.

Options (all optional; see ``docs/spade.md``)::

    steps: 300            # training steps
    batch_size: 1
    model: {...}          # SpadeModelConfig fields (paper defaults: base_channels 64, n_upsamples 5, ...)
    loss: {...}           # SpadeLossConfig fields
    g_optimizer: {...}    # AdamConfig (default lr 1e-4, betas [0, 0.9])
    d_optimizer: {...}    # AdamConfig (default lr 4e-4, betas [0, 0.9])
    flip_axes: []
    ema: false
    amp: true
    mask_source: {source: augment}   # or real, lesion-move, pggan (+ their settings)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medgan.config import load_config
from medgan.errors import DataError
from medgan.families.spade import SpadeLossConfig, SpadeModelConfig
from medgan.registry import SYNTHESIS_STAGES
from medgan.training.config import AdamConfig


@dataclass
class SpadeStageOptions:
    """Options of the ``spade`` stage (unknown keys are an error)."""

    steps: int = 300
    batch_size: int = 1
    model: SpadeModelConfig = field(default_factory=SpadeModelConfig)
    loss: SpadeLossConfig = field(default_factory=SpadeLossConfig)
    g_optimizer: AdamConfig = field(default_factory=lambda: AdamConfig(lr=1e-4, betas=(0.0, 0.9)))
    d_optimizer: AdamConfig = field(default_factory=lambda: AdamConfig(lr=4e-4, betas=(0.0, 0.9)))
    flip_axes: list[int] = field(default_factory=list)
    ema: bool = False
    amp: bool = True
    mask_source: dict[str, Any] = field(default_factory=lambda: {"source": "augment"})


@SYNTHESIS_STAGES.register("spade")
class SpadeStage:
    """Fit SPADE on real cases, then make new labelled cases from transformed real label maps.

    Args:
        options: :class:`SpadeStageOptions` as a mapping.
        spatial_dims: 2 or 3 (must match the cases).
        device: ``cpu``, ``cuda`` or ``auto``.
    """

    def __init__(self, options: dict[str, Any] | None, spatial_dims: int, device: str) -> None:
        from medgan.families.spade.masks import build_mask_source

        self.options = load_config(options or {}, SpadeStageOptions, where="spade stage")
        self.spatial_dims = spatial_dims
        self.device = device
        self.mask_source = build_mask_source(dict(self.options.mask_source))
        self.synthesizer: Any = None

    def fit(self, cases: list[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Train on ``cases`` in ``workdir/spade-run`` (resumes a run left there)."""
        from medgan.families.spade import SpadeConfig, SpadeDataConfig
        from medgan.families.spade.step import SpadeStep
        from medgan.families.spade.synthesis import SpadeSynthesizer
        from medgan.training.config import TrainConfig
        from medgan.training.loop import Trainer, resolve_device
        from medgan.training.run import CHECKPOINTS

        labelled = [c for c in cases if c.get("label") is not None]
        if not labelled:
            raise DataError("spade stage", "no labelled training case")
        if labelled[0]["image"].ndim - 1 != self.spatial_dims:
            raise DataError(labelled[0].get("id", "case"), f"is not {self.spatial_dims}D")
        o = self.options
        config = SpadeConfig(
            train=TrainConfig(steps=o.steps, batch_size=o.batch_size, seed=seed, device=self.device, amp=o.amp,
                              amp_dtype="bfloat16", log_every=max(1, min(50, o.steps)), checkpoint_every=0,
                              sample_every=0, n_samples=0, progress=False),
            data=SpadeDataConfig(flip_axes=list(o.flip_axes)), model=o.model, loss=o.loss,
            g_optimizer=o.g_optimizer, d_optimizer=o.d_optimizer, ema=o.ema)
        import torch

        torch.manual_seed(seed)
        step = SpadeStep(config, cases=labelled)
        run_dir = Path(workdir) / "spade-run"
        resume = (run_dir / CHECKPOINTS).is_dir() and any((run_dir / CHECKPOINTS).iterdir())
        trainer = Trainer(step, run_dir, "spade", resume=resume, device=resolve_device(self.device))
        trainer.fit()
        self.synthesizer = SpadeSynthesizer(config, trainer.networks_for_sampling()["G"], trainer.device)

    def sample(self, n: int, seed: int, context: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` new cases from mask-source label maps (context cases as their starting point).

        Each case has the trained channels, the drawn label map, the ``meta`` (affine...) of its
        context case, and ``meta["source_case"]``.
        """
        from medgan.families.spade.synthesis import sample_cases

        if self.synthesizer is None:
            raise DataError("spade stage", "sample() called before fit()")
        channels = len(self.synthesizer.modalities)
        for case in context:
            if case.get("image") is not None and case["image"].shape[0] != channels:
                raise DataError(case.get("id", "case"), f"has {case['image'].shape[0]} channels; SPADE was "
                                                        f"trained on {channels}")
        return sample_cases(self.synthesizer, self.mask_source.masks(n, seed, context), seed)
