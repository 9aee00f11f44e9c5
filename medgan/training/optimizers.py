"""Adam optimisers built from a family's :class:`~medgan.training.step.OptimizerSpec` entries, and
their learning rates per step.

A spec's *layout* (its ``stage`` and the modules of each parameter group) fixes what its Adam
optimiser holds; when a family changes the layout (a new stage or resolution level starts) the
engine builds that optimiser again with fresh moments and records the layout in every checkpoint,
so a resumed run rebuilds the same optimisers at the same steps.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from medgan.errors import ConfigError
from medgan.training.config import ScheduleConfig
from medgan.training.step import OptimizerSpec


def schedule_factor(schedule: ScheduleConfig, step: int, total: int) -> float:
    """The learning-rate multiplier of ``schedule`` at ``step`` of a ``total``-step run."""
    if schedule.kind == "constant" or step < schedule.decay_start:
        return 1.0
    end = schedule.decay_end or total
    if end <= schedule.decay_start:
        return schedule.final_factor
    progress = min(1.0, (step - schedule.decay_start) / (end - schedule.decay_start))
    return 1.0 + (schedule.final_factor - 1.0) * progress


def base_learning_rate(spec: OptimizerSpec, step: int, total: int) -> float:
    """The scheduled learning rate of ``spec`` at ``step`` (before any group's ``lr_scale``)."""
    factor = spec.schedule(step) if spec.schedule else schedule_factor(spec.adam.schedule, step, total)
    return spec.adam.lr * factor


def resolve_module(networks: Mapping[str, nn.Module], path: str, owner: str) -> nn.Module:
    """The module at ``path``: a network name, optionally followed by ``.submodule.path``.

    Raises:
        ConfigError: the network or submodule does not exist.
    """
    name, _, sub = path.partition(".")
    if name not in networks:
        raise ConfigError(f"optimizer {owner!r} names unknown network {name!r}")
    try:
        return networks[name].get_submodule(sub) if sub else networks[name]
    except AttributeError:
        raise ConfigError(f"optimizer {owner!r}: network {name!r} has no submodule {sub!r}") from None


def group_parameters(name: str, spec: OptimizerSpec, networks: Mapping[str, nn.Module]
                     ) -> list[list[nn.Parameter]]:
    """The parameters of each of ``spec``'s groups (checked: inside the spec's networks, no overlap)."""
    seen: set[int] = set()
    groups = []
    for group in spec.param_groups():
        params = []
        for path in group.modules:
            if path.partition(".")[0] not in spec.networks:
                raise ConfigError(f"optimizer {name!r}: group module {path!r} is not part of its networks "
                                  f"{', '.join(spec.networks)}")
            for p in resolve_module(networks, path, name).parameters():
                if id(p) in seen:
                    raise ConfigError(f"optimizer {name!r}: a parameter of {path!r} is in two parameter groups")
                seen.add(id(p))
                params.append(p)
        groups.append(params)
    if not seen:
        raise ConfigError(f"optimizer {name!r} has no parameters to train")
    return groups


def build_adam(name: str, spec: OptimizerSpec, networks: Mapping[str, nn.Module]) -> torch.optim.Adam:
    """A fresh Adam over ``spec``'s parameter groups (learning rates are set every step)."""
    a = spec.adam
    groups = [{"params": params} for params in group_parameters(name, spec, networks)]
    return torch.optim.Adam(groups, lr=a.lr, betas=tuple(a.betas), eps=a.eps, weight_decay=a.weight_decay)


def set_learning_rates(optimizer: torch.optim.Optimizer, spec: OptimizerSpec, step: int, total: int) -> float:
    """Give each parameter group its scheduled rate times its ``lr_scale``; return the base rate."""
    lr = base_learning_rate(spec, step, total)
    for group, param_group in zip(spec.param_groups(), optimizer.param_groups):
        param_group["lr"] = lr * group.lr_scale
    return lr
