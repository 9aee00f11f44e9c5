"""The benchmark's ``pggan+spade`` stage: "noise -> label map -> image" (the dual-GAN design of Guibas
et al. 2017 and Foroozandeh). A progressive GAN learns label maps from the training cases, SPADE
learns to turn label maps into images, and new cases are SPADE images of generated label maps.

Both GANs are trained inside ``fit`` on the same real training cases, so the benchmark's leak guard
covers them (a label-map generator trained elsewhere could have seen test cases)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medgan.config import load_config
from medgan.registry import SYNTHESIS_STAGES


@dataclass
class DualStageOptions:
    """``label_gan``: options of the ``pggan`` stage; ``spade``: options of the ``spade`` stage (its
    ``mask_source`` is set to the trained label-map generator)."""

    label_gan: dict[str, Any] = field(default_factory=dict)
    spade: dict[str, Any] = field(default_factory=dict)


class DualGANStage:
    """``pggan+spade``: ``Stage(options, spatial_dims, device)`` with ``fit`` and ``sample``."""

    def __init__(self, options: dict[str, Any] | None, spatial_dims: int, device: str) -> None:
        self.options = load_config(options or {}, DualStageOptions, where="pggan+spade stage")
        self.spatial_dims, self.device = spatial_dims, device
        self.spade: Any = None

    def fit(self, cases: list[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Train the label-map GAN in ``workdir/label-gan/pggan``, then SPADE in ``workdir/spade-run``."""
        label_gan = SYNTHESIS_STAGES.get("pggan")(dict(self.options.label_gan), self.spatial_dims, self.device)
        label_gan.fit(cases, Path(workdir) / "label-gan", seed)
        spade_options = {**self.options.spade,
                         "mask_source": {"source": "pggan", "run": str(Path(workdir) / "label-gan" / "pggan"),
                                         "device": "cpu" if self.device in ("auto", "cpu") else self.device}}
        self.spade = SYNTHESIS_STAGES.get("spade")(spade_options, self.spatial_dims, self.device)
        self.spade.fit(cases, Path(workdir), seed)

    def sample(self, n: int, seed: int, context: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` cases: SPADE images of label maps drawn from the label-map GAN."""
        return self.spade.sample(n, seed, context)


SYNTHESIS_STAGES.register("pggan+spade")(DualGANStage)
