"""Run folders: where a training run keeps its resolved config, logs, samples and checkpoints, and
how any run is loaded back, whatever its family.

```
RUN/
  config.yaml          resolved config, with ``family:`` first
  stats.jsonl          one JSON line per logged step
  samples/step-*.png   sample grids from a fixed noise batch
  checkpoints/step-*/  networks.safetensors, state.safetensors, state.json
```

Example:
    >>> run = load_run("runs/lesions", "cpu")  # doctest: +SKIP
    >>> run.family, sorted(run.networks)  # doctest: +SKIP
    ('lesion-gan', ['G'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medgan.config import config_to_dict, load_config, read_yaml
from medgan.errors import ConfigError, DataError
from medgan.registry import GAN_FAMILIES

CONFIG = "config.yaml"
STATS = "stats.jsonl"
CHECKPOINTS = "checkpoints"
SAMPLES = "samples"


def run_config_dict(family: str, config: Any) -> dict[str, Any]:
    """The mapping written to ``config.yaml``: ``family`` then the family's resolved settings."""
    return {"family": family, **config_to_dict(config)}


def read_run_config(run_dir: str | Path) -> tuple[str, Any]:
    """``(family name, config dataclass)`` of the run at ``run_dir``.

    Raises:
        DataError: the folder is not a medgan run or names an unknown family.
    """
    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if not path.is_file():
        raise DataError(run_dir, f"not a training run folder (no {CONFIG})")
    data = read_yaml(path)
    family = data.pop("family", None)
    if not isinstance(family, str):
        raise DataError(path, "config has no 'family' entry naming the GAN family")
    if family not in GAN_FAMILIES:
        raise DataError(path, f"names the GAN family {family!r}, which is not installed "
                              f"(known: {', '.join(GAN_FAMILIES.names())})")
    spec = GAN_FAMILIES.get(family)
    return family, load_config(data, spec.config_type, where=str(path))


@dataclass
class Run:
    """A trained run, loaded: the networks of its newest checkpoint, ready to sample.

    Attributes:
        path: the run folder.
        family: the family's name; ``spec`` its :class:`~medgan.training.spec.FamilySpec`.
        config: the run's resolved config dataclass.
        networks: ``spec.networks(config)`` with the checkpoint's weights (EMA ones where kept and
            asked for), in eval mode on the requested device.
        checkpoint: the checkpoint folder loaded; ``step`` its step.
        state: the family's checkpointed state (e.g. a progressive GAN's level and fade-in).
    """

    path: Path
    family: str
    spec: Any
    config: Any
    networks: dict[str, Any]
    checkpoint: Path
    step: int
    state: dict[str, Any] = field(default_factory=dict)


def load_run(run_dir: str | Path, device: Any = "cpu", use_ema: bool = True) -> Run:
    """Load the newest checkpoint of the run at ``run_dir``, whatever its family.

    Args:
        run_dir: a training run folder.
        device: torch device of the networks.
        use_ema: take the EMA weights of networks whose average the run kept.

    Raises:
        DataError: not a run, an unknown family, no checkpoint yet, or weights that do not fit.
    """
    import torch

    from medgan.training.checkpoint import list_checkpoints, load_state, restore_networks

    run_dir = Path(run_dir)
    family, config = read_run_config(run_dir)
    spec = GAN_FAMILIES.get(family)
    if spec.networks is None:
        raise DataError(run_dir, f"is a {family} run; that family does not declare its networks, so its runs "
                                 "cannot be loaded for sampling")
    checkpoints = list_checkpoints(run_dir / CHECKPOINTS)
    if not checkpoints:
        raise DataError(run_dir, "run has no checkpoint yet")
    networks = spec.networks(config)
    restore_networks(checkpoints[-1], networks, prefer_ema=use_ema)
    step, state = load_state(checkpoints[-1])
    device = torch.device(device)
    for network in networks.values():
        network.to(device).eval()
    return Run(run_dir, family, spec, config, networks, checkpoints[-1], int(step), dict(state.get("family") or {}))


def load_sampler(run_dir: str | Path, device: Any = "cpu", use_ema: bool = True) -> Any:
    """The :class:`~medgan.training.spec.Sampler` of the run at ``run_dir`` (its family's ``sampler``).

    Raises:
        DataError: the run's family makes no cases.
    """
    run = load_run(run_dir, device, use_ema)
    if run.spec.sampler is None:
        raise DataError(run_dir, f"is a {run.family} run; that family makes no cases to sample")
    return run.spec.sampler(run)


# -------------------------------------------------------------------------- cases of a run


def read_ids(value: str) -> list[str]:
    """Case ids from a comma-separated list or a file (one id per line, first CSV column; a
    ``case_id``/``id`` header is skipped)."""
    path = Path(value)
    if path.is_file():
        ids = [line.split(",")[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
        return [i for i in ids if i and i not in ("case_id", "id")]
    return [v.strip() for v in value.split(",") if v.strip()]


def _same_folder(a: str | Path, b: str | Path) -> bool:
    return bool(str(a)) and bool(str(b)) and Path(a).resolve() == Path(b).resolve()


def _sources(run: str | Path | tuple[str, Any]) -> list[Any]:
    family, config = read_run_config(run) if isinstance(run, (str, Path)) else run
    return list(GAN_FAMILIES.get(family).data_sources(config))


def excluded_cases(run: str | Path | tuple[str, Any], dataset_root: str | Path) -> list[str]:
    """Case ids of ``dataset_root`` that the run excluded from its training (e.g. its test split).

    Args:
        run: a run folder, or ``(family, config)``.
        dataset_root: a dataset folder; exclusions count only when the run trained on it.
    """
    ids: set[str] = set()
    for source in _sources(run):
        if _same_folder(source.path, dataset_root):
            ids |= set(source.exclude_cases)
    return sorted(ids)


def training_cases(run: str | Path | tuple[str, Any], dataset: Any) -> set[str]:
    """Case ids of ``dataset`` (a loaded :class:`~medgan.io.datasets.Dataset`) the run may have
    trained on: the ones it asked for (every case when it named none) minus its exclusions; empty
    when it trained on other data."""
    used: set[str] = set()
    known = [ref.id for ref in dataset.cases]
    for source in _sources(run):
        if _same_folder(source.path, dataset.root):
            chosen = source.cases if source.cases is not None else known
            used |= set(chosen) - set(source.exclude_cases)
    return used


def held_out_cases(run: str | Path | tuple[str, Any], dataset: Any, cases: Sequence[str] | None = None) -> list[str]:
    """Cases of ``dataset`` to evaluate the run on: ``cases`` (default: every case it did not train on).

    Raises:
        ConfigError: a requested case was used to train the run, or none is left.
    """
    used = training_cases(run, dataset)
    chosen = list(cases) if cases is not None else [ref.id for ref in dataset.cases if ref.id not in used]
    leaked = sorted(set(chosen) & used)
    name = run if isinstance(run, (str, Path)) else "the run"
    if leaked:
        raise ConfigError(f"case {leaked[0]!r} was used to train {name}; evaluate on held-out cases only "
                          f"({len(leaked)} training case(s) requested)")
    if not chosen:
        raise ConfigError(f"{dataset.root}: no held-out case to evaluate (the run trained on every case); pass --cases")
    return chosen
