"""A GAN family's entry in :data:`medgan.registry.GAN_FAMILIES`: how the command line builds,
trains and samples it. Imports no torch, so the command line stays quick to start.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FamilySpec:
    """Everything the ``train`` and ``synthesize`` commands need to know about one family.

    Attributes:
        name: the name users type (``medgan train NAME``).
        summary: one line for ``--help``.
        config_type: the family's config dataclass; it must have a ``train: TrainConfig`` field.
        add_train_arguments: adds the family's own options to its ``medgan train NAME`` parser
            (``--data``, ``--domain-a``...); the common ones (``--out --config --steps --resume
            --seed --device``) are added by the command.
        apply_train_arguments: ``(args, config) -> config``: the parsed options applied to the config.
        build: ``(config, rank, world_size) -> GANStep``: networks, data and phases ready to train;
            heavy imports go inside it.
        add_synthesize_arguments: adds the family's options to ``medgan synthesize RUN OUT ...``.
        synthesize: ``(run_dir, out, args) -> exit status``: new cases from a trained run.
    """

    name: str
    summary: str
    config_type: type
    add_train_arguments: Callable[[argparse.ArgumentParser], None]
    apply_train_arguments: Callable[[argparse.Namespace, Any], Any]
    build: Callable[[Any, int, int], Any]
    add_synthesize_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    synthesize: Callable[[Path, Path, argparse.Namespace], int] | None = None
