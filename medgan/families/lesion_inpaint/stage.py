"""The ``lesion-inpaint`` synthesis stage of the benchmark: train the inpainting model on the real
training cases of one data fraction, then inpaint lesions into those cases, healthy ones first.

(Registered in :data:`medgan.registry.SYNTHESIS_STAGES` when the family is wired into the family
contract; until then build it directly: ``LesionInpaintStage(options, spatial_dims, device)``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medgan.config import load_config
from medgan.errors import ConfigError, DataError
from medgan.families.lesion_inpaint import InpaintMaskConfig, InpaintModelConfig
from medgan.training.config import AdamConfig


@dataclass
class InpaintStageOptions:
    """``synthesis.options`` of a pipeline whose stage is ``lesion-inpaint`` (unknown keys are an error).

    Attributes:
        steps, batch_size, ema_decay: training budget and EMA of the generator.
        region_size, percentile, context_mm, hole_margin_mm, healthy_fraction: see
            :class:`~medgan.families.lesion_inpaint.InpaintDataConfig`.
        model, loss, l1_weight, g_optimizer, d_optimizer, masks: see
            :class:`~medgan.families.lesion_inpaint.LesionInpaintConfig`.
        lesions_per_case: lesions inserted into each new case.
        inset_mm: least distance of a new lesion to the edge of the foreground.
        device: ``cpu`` or ``cuda`` (default: the benchmark's device).
    """

    steps: int = 1000
    batch_size: int = 4
    ema_decay: float = 0.99
    region_size: list[int] | None = None
    percentile: float = 100.0
    context_mm: float = 7.0
    hole_margin_mm: float = 3.5
    healthy_fraction: float = 0.25
    model: InpaintModelConfig = field(default_factory=InpaintModelConfig)
    loss: Literal["bce", "lsgan", "hinge"] = "lsgan"
    l1_weight: float = 100.0
    g_optimizer: AdamConfig = field(default_factory=lambda: AdamConfig(lr=1e-3))
    d_optimizer: AdamConfig = field(default_factory=AdamConfig)
    masks: InpaintMaskConfig = field(default_factory=InpaintMaskConfig)
    lesions_per_case: int = 1
    inset_mm: float = 10.0
    device: str | None = None


class LesionInpaintStage:
    """Benchmark stage ``lesion-inpaint`` (see :class:`medgan.benchmark.arms.SynthesisStage`)."""

    def __init__(self, options: dict[str, Any] | None, spatial_dims: int, device: str) -> None:
        self.options = load_config(options or {}, InpaintStageOptions, where="synthesis.options (lesion-inpaint)")
        self.spatial_dims = spatial_dims
        self.device = self.options.device or device
        self.inpainter: Any = None

    def config(self, cases: Sequence[dict[str, Any]], seed: int) -> Any:
        """The run config for training on ``cases`` (read from their dataset by case id)."""
        from medgan.families.lesion_inpaint import InpaintDataConfig, LesionInpaintConfig
        from medgan.training.config import TrainConfig
        from medgan.training.losses import LossConfig

        roots = {c["meta"]["source"]["root"] for c in cases}
        if len(roots) != 1:
            raise ConfigError("lesion-inpaint stage: the training cases must come from one dataset")
        o = self.options
        return LesionInpaintConfig(
            train=TrainConfig(steps=o.steps, batch_size=o.batch_size, seed=seed, device=self.device,  # type: ignore[arg-type]
                              ema_decay=o.ema_decay, checkpoint_every=max(1, o.steps // 4), sample_every=0,
                              n_samples=4, progress=False, log_every=max(1, o.steps // 20)),
            data=InpaintDataConfig(path=roots.pop(), modalities=list(cases[0]["meta"]["modalities"]),
                                   cases=[c["id"] for c in cases], spatial_dims=self.spatial_dims,
                                   region_size=o.region_size, percentile=o.percentile, context_mm=o.context_mm,
                                   hole_margin_mm=o.hole_margin_mm, healthy_fraction=o.healthy_fraction),
            model=o.model, loss=LossConfig(kind=o.loss), l1_weight=o.l1_weight, g_optimizer=o.g_optimizer,
            d_optimizer=o.d_optimizer, masks=o.masks)

    def fit(self, cases: Sequence[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Train on ``cases`` in ``workdir`` (resumed when it holds checkpoints)."""
        import torch

        from medgan.families.lesion_inpaint import FAMILY
        from medgan.families.lesion_inpaint.sampler import LesionInpainter
        from medgan.families.lesion_inpaint.step import LesionInpaintStep
        from medgan.training.checkpoint import list_checkpoints
        from medgan.training.loop import Trainer
        from medgan.training.run import CHECKPOINTS

        workdir = Path(workdir)
        config = self.config(cases, seed)
        torch.manual_seed(seed)
        step = LesionInpaintStep(config)
        resume = bool(list_checkpoints(workdir / CHECKPOINTS))
        Trainer(step, workdir, FAMILY, resume=resume).fit()
        self.inpainter = LesionInpainter.from_run(workdir, self.device)

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` new cases: lesions inpainted into the context cases, healthy ones first, in turn."""
        import numpy as np

        from medgan.families.lesion_inpaint.sampler import inpaint_lesions

        if self.inpainter is None:
            raise ConfigError("lesion-inpaint stage: fit() must run before sample()")
        rng = np.random.default_rng(seed)
        healthy = [c for c in context if c.get("label") is None or not np.any(c["label"])]
        others = [c for c in context if c.get("label") is not None and np.any(c["label"])]
        order = [healthy[i] for i in rng.permutation(len(healthy))] + [others[i] for i in rng.permutation(len(others))]
        out: list[dict[str, Any]] = []
        failures: list[str] = []
        index = 0
        while len(out) < n:
            if len(failures) > 2 * n + len(order):
                raise DataError(order[0].get("id", "case"), f"lesion-inpaint stage: could insert into only "
                                                           f"{len(out)} of {n} cases; last problem: {failures[-1]}")
            case = order[index % len(order)]
            try:
                new_case, _ = inpaint_lesions(case, self.inpainter, self.options.lesions_per_case,
                                              np.random.default_rng([seed, index]), inset_mm=self.options.inset_mm)
                out.append(new_case)
            except DataError as error:
                failures.append(str(error))
            index += 1
        return out
