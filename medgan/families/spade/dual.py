"""The benchmark's ``pggan+spade`` stage: "noise -> label map -> image" (the dual-GAN design of Guibas
et al. 2017 and Foroozandeh). A progressive GAN learns label maps from the training cases, SPADE
learns to turn label maps into images, and new cases are SPADE images of generated label maps.

Both GANs are trained inside ``fit`` on the same real training cases, so the benchmark's leak guard
covers them (a label-map generator trained elsewhere could have seen test cases). The options are
the two families' config overrides: ``label_gan`` (merged onto the ``pggan`` preset) and ``spade``
(merged onto the ``spade`` preset; its ``sample.mask_source`` is set to the trained label-map GAN).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medgan.errors import ConfigError
from medgan.registry import SYNTHESIS_STAGES
from medgan.training.stage import FamilyStage

#: the settings of ``pggan+spade``: one config override per family
PARTS = ("label_gan", "spade")


class DualGANStage:
    """``pggan+spade``: ``Stage(options, spatial_dims, device)`` with ``fit`` and ``sample``."""

    def __init__(self, options: Mapping[str, Any] | None, spatial_dims: int, device: str) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - set(PARTS))
        if unknown:
            raise ConfigError(f"synthesis.options (pggan+spade): unknown setting {unknown[0]!r} "
                              f"(known: {', '.join(PARTS)})")
        self.label_gan = FamilyStage.for_family("pggan")(options.get("label_gan"), spatial_dims, device)
        self.spade = FamilyStage.for_family("spade")(options.get("spade"), spatial_dims, device)
        self.device = device

    def fit(self, cases: list[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Train the label-map GAN in ``workdir/label-gan/pggan``, then SPADE in ``workdir/spade``."""
        self.label_gan.fit(cases, Path(workdir) / "label-gan", seed)
        self.spade.config.sample.mask_source = {
            "source": "pggan", "run": str(self.label_gan.run.path),
            "device": "cpu" if self.device in ("auto", "cpu") else self.device}
        self.spade.fit(cases, Path(workdir), seed)

    def sample(self, n: int, seed: int, context: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` cases: SPADE images of label maps drawn from the label-map GAN."""
        return self.spade.sample(n, seed, context)


SYNTHESIS_STAGES.register("pggan+spade")(DualGANStage)
