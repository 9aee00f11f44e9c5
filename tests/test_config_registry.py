"""Typed configs (unknown keys are errors) and the registry of named components."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from medgan.config import load_config, save_config
from medgan.errors import ConfigError
from medgan.registry import Registry


@dataclass
class Optim:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


@dataclass
class Train:
    steps: int = 100
    loss: Literal["bce", "hinge"] = "bce"
    optim: Optim = field(default_factory=Optim)
    note: str | None = None


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = load_config({"steps": 5, "optim": {"lr": 1, "betas": [0, 0.9]}}, Train)
    assert config == Train(steps=5, optim=Optim(lr=1.0, betas=(0.0, 0.9)))
    save_config(config, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml", Train) == config


@pytest.mark.parametrize("data, message", [
    ({"stpes": 5}, "unknown setting 'stpes'"),
    ({"optim": {"beta": 1}}, "Train.optim: unknown setting 'beta'"),
    ({"steps": "many"}, "expected an integer"),
    ({"loss": "wgan"}, "'wgan' is not one of"),
    ({"optim": {"betas": [0.5]}}, "expected 2 values"),
])
def test_bad_configs_name_the_setting(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(data, Train)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml", Train)
    (tmp_path / "bad.yaml").write_text("steps: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml", Train)


def test_registry() -> None:
    things = Registry("thing")

    @things.register("a")
    class A:
        pass

    assert things.get("a") is A and "a" in things and things.names() == ["a"]
    with pytest.raises(ConfigError, match="unknown thing 'b' \\(known: a\\)"):
        things.get("b")
    with pytest.raises(ValueError, match="registered twice"):
        things.register("a")(object)
