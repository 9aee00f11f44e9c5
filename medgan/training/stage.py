"""The one benchmark synthesis stage, for every GAN family with a benchmark preset.

The benchmark builds a stage as ``Stage(options, spatial_dims, device)``, calls ``fit(cases, workdir,
seed)`` with one data fraction's real training cases, then ``sample(n, seed, context)``. Here the
options are overrides of the family's config merged onto its preset (unknown keys are an error
naming the key); ``fit`` trains the family on the cases in ``workdir/<family>`` (resuming a run left
there) and loads the trained run as the family's sampler; ``sample`` asks that sampler for cases.

Example:
    >>> from medgan.registry import SYNTHESIS_STAGES
    >>> stage = SYNTHESIS_STAGES.get("lesion-gan")({"train": {"steps": 50}}, 2, "cpu")  # doctest: +SKIP
    >>> stage.fit(train_cases, workdir, seed=0)  # doctest: +SKIP
    >>> new_cases = stage.sample(10, seed=0, context=train_cases)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from medgan.errors import ConfigError
from medgan.registry import GAN_FAMILIES
from medgan.training.spec import family_config

_STAGES: dict[str, type[FamilyStage]] = {}


class FamilyStage:
    """A GAN family as a benchmark synthesis stage (subclassed per family by :meth:`for_family`).

    Args:
        options: overrides of the family's config (the pipeline's ``synthesis.options``).
        spatial_dims: dimensionality of the benchmark's cases (2 or 3).
        device: the benchmark's device; ``train.device`` in the options overrides it.

    Attributes:
        config: the family's config, preset and options merged (training settings of ``fit``).
        run: the trained :class:`~medgan.training.run.Run` after ``fit``; ``sampler`` its sampler.
    """

    family = ""

    @classmethod
    def for_family(cls, name: str) -> type[FamilyStage]:
        """The stage class of family ``name`` (what :data:`~medgan.registry.SYNTHESIS_STAGES` holds)."""
        if name not in _STAGES:
            _STAGES[name] = type(f"FamilyStage[{name}]", (cls,), {"family": name, "__doc__": cls.__doc__})
        return _STAGES[name]

    def __init__(self, options: Mapping[str, Any] | None, spatial_dims: int, device: str) -> None:
        self.spec = GAN_FAMILIES.get(self.family)
        if not self.spec.benchmark_stage:
            raise ConfigError(f"GAN family {self.family!r} has no benchmark preset or sampler")
        self.options = dict(options or {})
        self.config = family_config(self.spec, self.options, where=f"synthesis.options ({self.family})")
        self.spatial_dims, self.device = spatial_dims, device
        self.run: Any = None
        self.sampler: Any = None

    def training_config(self, seed: int) -> Any:
        """The config ``fit`` trains with: the stage's, with the benchmark's seed and device, quiet,
        checkpointed only at the end."""
        config = copy.deepcopy(self.config)
        train = config.train
        train.seed = seed
        if "device" not in dict(self.options.get("train") or {}):
            train.device = self.device
        train.checkpoint_every, train.sample_every, train.progress = 0, 0, False
        train.log_every = max(1, train.steps // 10)
        return config

    def fit(self, cases: Sequence[dict[str, Any]], workdir: Path, seed: int) -> None:
        """Train on ``cases`` (real training cases of one data fraction; never test or validation
        cases) in ``workdir/<family>``, resuming a run left there, and load it as the sampler."""
        from medgan.training.checkpoint import list_checkpoints
        from medgan.training.loop import resolve_device, train
        from medgan.training.run import CHECKPOINTS, load_run

        if not cases:
            raise ConfigError(f"{self.family} stage: no training cases")
        dims = {int(c["image"].ndim) - 1 for c in cases}
        if dims != {self.spatial_dims}:
            raise ConfigError(f"{self.family} stage: the pipeline is {self.spatial_dims}D but the cases are "
                              f"{'/'.join(map(str, sorted(dims)))}D")
        config = self.training_config(seed)
        run_dir = Path(workdir) / self.family
        resume = bool(list_checkpoints(run_dir / CHECKPOINTS))
        train(self.family, config, run_dir, resume=resume, cases=list(cases))
        self.run = load_run(run_dir, resolve_device(config.train.device))
        self.sampler = self.spec.sampler(self.run)

    def sample(self, n: int, seed: int, context: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """``n`` new labelled cases from the trained sampler (``context``: the same real training cases)."""
        if self.sampler is None:
            raise ConfigError(f"{self.family} stage: fit() must run before sample()")
        return self.sampler.sample(n, seed, list(context))
