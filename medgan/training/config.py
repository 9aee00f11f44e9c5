"""Typed settings of the training engine, shared by every family's config dataclass.

A family's config dataclass holds a ``train: TrainConfig`` field (engine settings) and an
``optimizers: dict`` or explicit :class:`AdamConfig` fields for its optimiser groups.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Literal

from medgan.errors import ConfigError

#: largest accepted ``train.seed``: it fits a signed 64-bit integer (numpy, torch, safetensors)
MAX_SEED = 2**63 - 1


def check_seed(seed: Any, name: str = "train.seed") -> None:
    """Refuse a seed that is not an integer in ``0 .. MAX_SEED`` instead of wrapping it.

    Raises:
        ConfigError: naming ``name`` and the accepted range.
    """
    try:
        value = None if isinstance(seed, bool) else operator.index(seed)
    except TypeError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer from 0 to 2**63 - 1, found {seed!r}")


@dataclass
class ScheduleConfig:
    """Learning-rate multiplier over the steps.

    ``constant``: 1 throughout. ``linear-decay``: 1 until ``decay_start``, then linearly down to
    ``final_factor`` at ``decay_end`` (CycleGAN's "constant, then linear decay to zero"; a value of
    0 for ``decay_end`` means the run's last step).
    """

    kind: Literal["constant", "linear-decay"] = "constant"
    decay_start: int = 0
    decay_end: int = 0
    final_factor: float = 0.0


@dataclass
class AdamConfig:
    """Adam for one optimiser group (one or several networks)."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, found {self.lr}")


@dataclass
class TrainConfig:
    """Settings of the generic loop (not of any family).

    Attributes:
        steps: total training steps (one step runs every phase once, a phase ``repeats`` times).
        batch_size: global batch size; under DDP each of ``world_size`` processes takes an equal share.
        seed: seeds the data order, the noise and every random operation of the run.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        amp: automatic mixed precision on CUDA (ignored on CPU); ``amp_dtype`` picks float16 (with a
            gradient scaler) or bfloat16.
        ema_decay: decay of the exponential moving average of the family's EMA networks.
        ema_start: steps before which the average simply copies the weights.
        log_every: steps between lines of ``stats.jsonl`` (and of the losses shown with the progress).
        checkpoint_every: steps between checkpoints (0: only at the end).
        checkpoint_minutes: also write a checkpoint when this many minutes have passed since the
            last one (0: never by time). A checkpoint is always written at the end, and when the run
            is stopped by Ctrl-C or SIGTERM.
        keep_checkpoints: how many recent checkpoints to keep.
        sample_every: steps between PNG sample grids (0: only at the end); ``n_samples`` per grid.
        progress: show progress with the current losses: a bar on a terminal, a plain line every
            ``progress_seconds`` when stderr is a log file or a pipe.
        progress_seconds: seconds between plain progress lines.
    """

    steps: int = 2000
    batch_size: int = 16
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True
    amp_dtype: Literal["float16", "bfloat16"] = "float16"
    ema_decay: float = 0.999
    ema_start: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    checkpoint_minutes: float = 10.0
    keep_checkpoints: int = 2
    sample_every: int = 500
    n_samples: int = 16
    progress: bool = True
    progress_seconds: float = 30.0

    def __setattr__(self, name: str, value: object) -> None:
        # checked on every assignment, so a seed set after loading (``--seed``) is refused as early
        if name == "seed":
            check_seed(value)
        super().__setattr__(name, value)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, found {getattr(self, name)}")
        for name in ("checkpoint_every", "sample_every", "ema_start", "n_samples", "checkpoint_minutes",
                     "progress_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, found {getattr(self, name)}")
        if self.keep_checkpoints < 1:
            raise ValueError("keep_checkpoints must be at least 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in [0, 1), found {self.ema_decay}")
