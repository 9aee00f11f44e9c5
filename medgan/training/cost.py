"""What a training run will cost, measured before it starts (``medgan train FAMILY ... --dry-run``).

:func:`measure` builds the family's real networks on the real data (its ``build``), runs one full
training step (every phase: discriminator, generator...) as a warm-up and times a second one, on the
chosen device, and writes nothing. Memory is measured, not modelled:

- CPU: the process's peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after the
  two steps, i.e. Python, torch, the family's data and networks and one step together; ``step_mb`` is
  the part added by the steps (peak minus the resident memory just before them, ``/proc/self/statm``).
- CUDA: ``torch.cuda.max_memory_allocated`` of the device.

The memory available is ``MemAvailable`` of ``/proc/meminfo`` plus what the process already holds
(CPU), or the device's free memory plus what torch already reserved (CUDA); the environment variable
``MEDGAN_AVAILABLE_MB`` replaces it (to plan for another machine, and in tests). A run whose estimate
exceeds it is refused with one line naming the settings to change (:meth:`Cost.check`).

Example:
    >>> cost = measure("spade", config)  # doctest: +SKIP
    >>> print("\\n".join(cost.lines())); cost.check()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medgan.errors import ConfigError

AVAILABLE_ENV = "MEDGAN_AVAILABLE_MB"
#: config keys (any level) a user changes to make a run smaller, in the order they are suggested
SIZE_KEYS = ("batch_size", "batch_sizes", "patch_size", "roi_size", "region_size", "max_size", "base_channels",
             "g_channels", "d_channels", "width", "fmap_base", "fmap_max", "hidden_channels", "encoder_channels")
#: bytes per parameter while training: weights, gradients and Adam's two moments in float32
TRAINING_BYTES_PER_PARAMETER = 16
MB_BYTES = 2 ** 20


@dataclass
class Cost:
    """A dry run's measurement.

    Attributes:
        family: the family's name; ``device`` where the step ran (``cpu``, ``cuda:0``).
        parameters: trainable parameter count per network.
        peak_mb: estimated peak memory of the run (see the module doc for how it is measured).
        step_mb: the part of ``peak_mb`` added by the training steps.
        seconds_per_step: wall time of the second (warm) step.
        steps: the run's ``train.steps``.
        available_mb: memory the run may use; ``available_from`` says where that figure came from.
        settings: the config's size settings (dotted key -> value) to name in a refusal.
    """

    family: str
    device: str
    parameters: dict[str, int]
    peak_mb: float
    step_mb: float
    seconds_per_step: float
    steps: int
    available_mb: float
    available_from: str
    settings: dict[str, Any]

    @property
    def total_seconds(self) -> float:
        """``steps × seconds_per_step``: the estimated training time (without checkpoints and sample grids)."""
        return self.steps * self.seconds_per_step

    def lines(self) -> list[str]:
        """The report printed by ``--dry-run``, one fact per line."""
        out = [f"{self.family} on {self.device}: dry run of one training step (nothing written)"]
        out += [f"  parameters {name}: {count:,}" for name, count in self.parameters.items()]
        out.append(f"  parameters total: {sum(self.parameters.values()):,}")
        kind = "max_memory_allocated" if self.device.startswith("cuda") else "peak RSS"
        out.append(f"  estimated peak memory: {self.peak_mb:.0f} MB ({kind}; the step adds {self.step_mb:.0f} MB); "
                   f"available {self.available_mb:.0f} MB ({self.available_from})")
        out.append(f"  seconds per step: {self.seconds_per_step:.3f}")
        out.append(f"  estimated time: {self.steps} steps x {self.seconds_per_step:.3f} s = "
                   f"{duration(self.total_seconds)} (without checkpoints and sample grids)")
        return out

    def check(self) -> None:
        """Refuse a run whose estimate exceeds the available memory.

        Raises:
            ConfigError: one line with the estimate, the memory available and the settings to lower.
        """
        if self.peak_mb > self.available_mb:
            raise ConfigError(refusal(self.family, self.peak_mb, self.available_mb, self.device, self.settings))


def refusal(family: str, need_mb: float, available_mb: float, device: str, settings: Mapping[str, Any]) -> str:
    """The one-line refusal of a run that does not fit, naming the settings to lower."""
    named = ", ".join(f"{key} (now {value})" for key, value in list(settings.items())[:4]) or "the network sizes"
    return (f"{family}: the run needs about {_mb(need_mb)} MB on {device} but {_mb(available_mb)} MB is available; "
            f"lower {named}")


def _mb(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def size_settings(config: Any) -> dict[str, Any]:
    """The config's settings that size a run (``train.batch_size``, patch sizes, widths), dotted key -> value."""
    from medgan.config import config_to_dict

    found: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                name = f"{prefix}.{key}" if prefix else str(key)
                if key in SIZE_KEYS and value is not None and not isinstance(value, Mapping):
                    found[name] = value
                walk(value, name)

    walk(config_to_dict(config), "")
    return dict(sorted(found.items(), key=lambda kv: SIZE_KEYS.index(kv[0].rsplit(".", 1)[-1])))


def rss_mb() -> float:
    """Resident memory of this process now (``/proc/self/statm``; the peak where that is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB_BYTES
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (or of its waited-for children) so far, ``ru_maxrss``."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / MB_BYTES if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def available_mb(device: Any = "cpu") -> tuple[float, str]:
    """``(MB this process may use, where the figure comes from)`` on ``device``."""
    override = os.environ.get(AVAILABLE_ENV)
    if override:
        try:
            return float(override), AVAILABLE_ENV
        except ValueError:
            raise ConfigError(f"{AVAILABLE_ENV}={override!r}: expected a number of megabytes") from None
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return (free + torch.cuda.memory_reserved(device)) / MB_BYTES, "free GPU memory"
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            info = dict(line.split(":", 1) for line in f if ":" in line)
        free = int(info["MemAvailable"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / MB_BYTES
    return free + rss_mb(), "MemAvailable"


def parameter_counts(networks: Mapping[str, Any]) -> dict[str, int]:
    """``{name: sum(p.numel())}`` over each network's parameters."""
    return {name: sum(p.numel() for p in net.parameters()) for name, net in networks.items()}


def check_weights_fit(family: str, step: Any, device: Any, budget: float | None = None) -> None:
    """Refuse networks whose weights, gradients and Adam moments alone (16 bytes per parameter)
    exceed the memory available; run by every training before its first step.

    Raises:
        ConfigError: one line naming the config's size settings.
    """
    if budget is None:
        budget = available_mb(device)[0]
    need = sum(parameter_counts(step.networks).values()) * TRAINING_BYTES_PER_PARAMETER / MB_BYTES
    if need > budget:
        raise ConfigError(refusal(family, need, budget, str(device), size_settings(step.config)))


def measure(family: str, config: Any, cases: list[dict[str, Any]] | None = None) -> Cost:
    """Build ``family``'s step from ``config`` (reading its data, or ``cases``), run two training steps
    on ``config.train.device`` and return what they cost. Writes nothing.

    Raises:
        ConfigError: the networks' weights, gradients and Adam moments alone exceed the available
            memory (checked before any step), or CUDA ran out of memory during the step.
    """
    import torch

    from medgan.registry import GAN_FAMILIES
    from medgan.training.loop import Trainer, resolve_device

    spec = GAN_FAMILIES.get(family)
    device = resolve_device(config.train.device)
    budget, source = available_mb(device)
    torch.manual_seed(config.train.seed)
    step = spec.build(config, 0, 1) if cases is None else spec.build(config, 0, 1, cases=cases)
    counts = parameter_counts(step.networks)
    settings = size_settings(step.config)
    check_weights_fit(family, step, device, budget)
    trainer = Trainer(step, None, family, train=step.config.train, device=device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device) / MB_BYTES if cuda else rss_mb()
    try:
        trainer.train_step(0)
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        trainer.train_step(1)
        if cuda:
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    except torch.cuda.OutOfMemoryError:
        raise ConfigError(refusal(family, float("inf"), budget, str(device), settings)
                          .replace("about inf MB", "more memory than the device has")) from None
    if cuda:
        peak = torch.cuda.max_memory_allocated(device) / MB_BYTES
    else:
        peak = peak_rss_mb()
    step_mb = max(0.0, peak - before)
    return Cost(family, str(device), counts, peak, step_mb, seconds, int(step.config.train.steps), budget, source,
                settings)


def duration(seconds: float) -> str:
    """``42 s``, ``12 min`` or ``3.5 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
