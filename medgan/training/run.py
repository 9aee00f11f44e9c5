"""Run folders: where a training run keeps its resolved config, logs, samples and checkpoints.

```
RUN/
  config.yaml          resolved config, with ``family:`` first
  stats.jsonl          one JSON line per logged step
  samples/step-*.png   sample grids from a fixed noise batch
  checkpoints/step-*/  networks.safetensors, state.safetensors, state.json
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medgan.config import config_to_dict, load_config, read_yaml
from medgan.errors import DataError
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
    from medgan.families import discover

    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if not path.is_file():
        raise DataError(run_dir, f"not a training run folder (no {CONFIG})")
    data = read_yaml(path)
    family = data.pop("family", None)
    if not isinstance(family, str):
        raise DataError(path, "config has no 'family' entry naming the GAN family")
    discover()
    spec = GAN_FAMILIES.get(family)
    return family, load_config(data, spec.config_type, where=str(path))
