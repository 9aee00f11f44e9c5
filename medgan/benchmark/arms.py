"""Benchmark arms (what is added to the real training cases) and the synthesis-stage contract.

An arm says whether GAN-synthesised cases are mixed in, whether classic augmentation runs on the
fly, and whether the real cases are dropped (``synthetic-only``). Two arms are controls that show
whether the grid can tell at all: ``real-cases`` (positive control) adds as many *real* cases from
the fold's reserve as a GAN arm adds synthetic ones, and ``wrong-labels`` (negative control) adds
copies of the training images paired with another case's label map. ``copy-paste`` is the non-learned
baseline every GAN arm has to beat: it adds as many cases as a GAN arm, made by the ``copy-paste``
stage from the same training cases. A synthesis stage is whatever the
pipeline names under ``synthesis.stage`` (lesion insertion, SPADE from masks, CycleGAN translation,
progressive-GAN volumes): it is fitted on real training cases only and then samples new cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from medgan.registry import BENCHMARK_ARMS


@dataclass(frozen=True)
class Arm:
    """One augmentation arm.

    Attributes:
        name: the name pipelines use.
        synthetic: adds cases from the synthesis stage.
        classic: classic augmentation on the fly.
        synthetic_only: trains on the synthetic cases alone.
        control: ``"positive"`` (adds real reserve cases), ``"negative"`` (adds wrongly labelled
            cases) or ``""``.
        stage: the synthesis stage of this arm, whatever the pipeline's ``synthesis.stage``
            (``""``: the pipeline's).
    """

    name: str
    synthetic: bool
    classic: bool
    synthetic_only: bool = False
    control: str = ""
    stage: str = ""

    @property
    def adds_cases(self) -> bool:
        """Whether the arm adds ``ratio x n`` cases to the ``n`` real ones (and so runs per ratio)."""
        return self.synthetic or bool(self.control)


for _arm in (Arm("none", False, False), Arm("classic", False, True), Arm("gan", True, False),
             Arm("gan+classic", True, True), Arm("synthetic-only", True, False, synthetic_only=True),
             Arm("real-cases", False, False, control="positive"),
             Arm("wrong-labels", False, False, control="negative"),
             Arm("copy-paste", True, False, stage="copy-paste")):
    BENCHMARK_ARMS.register(_arm.name)(_arm)


class SynthesisStage(Protocol):
    """What a GAN family provides to the benchmark (registered in ``medgan.registry.SYNTHESIS_STAGES``).

    The class is built as ``Stage(options, spatial_dims, device)`` with the pipeline's
    ``synthesis.options`` dict.
    """

    def fit(self, cases: Sequence[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Train on ``cases`` (real training cases of one data fraction; never test or validation)."""

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Make ``n`` new labelled cases; ``context`` are the same real training cases (to insert
        lesions into, take masks from, or translate)."""


@dataclass
class BackendResult:
    """What a downstream backend returns for one cell of the grid.

    Attributes:
        rows: one dict per test case x region x metric: ``{"case", "region", "metric", "value"}``,
            computed with :mod:`medgan.metrics`.
        log: training log rows (e.g. validation score per check).
        example: one test case's mid slice for the report: ``{"image", "label", "prediction", "case"}``.
        budget: the training budget every arm shares (steps, batch size, ...), recorded with the rows.
        training: what the budget was used for, e.g. ``{"steps_run", "best_step", "stopped_early"}``.
    """

    rows: list[dict[str, Any]]
    log: list[dict[str, Any]]
    example: dict[str, Any]
    budget: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """A downstream model (registered in ``medgan.registry.BACKENDS``), built as
    ``Backend(pipeline, in_channels, n_classes, device)``."""

    def run(self, train: Sequence[dict[str, Any]], val: Sequence[dict[str, Any]], test: Sequence[dict[str, Any]],
            seed: int, augment: Any, workdir: Path) -> BackendResult:
        """Train on ``train`` (same budget for every arm), select on ``val``, evaluate on ``test``."""
