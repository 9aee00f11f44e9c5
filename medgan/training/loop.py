"""The one training loop of medgan: runs any family's :class:`~medgan.training.step.GANStep`.

Per step, for each phase (``repeats`` times, on steps that are multiples of ``every``): get a batch
from the family, compute the phase's loss under autocast, backpropagate into the parameters of the
phase's optimiser only, average gradients across processes, step the optimiser with its gradient
scaler. Then let the family end the step, rebuild any optimiser whose layout the family changed (a
new stage), update EMA copies, log, show progress, draw sample grids and write checkpoints (by step
count, by wall-clock time, and on Ctrl-C/SIGTERM). Nothing here knows any family.

Example:
    >>> step = spec.build(config, rank=0, world_size=1)  # doctest: +SKIP
    >>> Trainer(step, "runs/lesion", family="lesion-gan").fit()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from medgan.errors import ConfigError, DataError
from medgan.io.atomic import write_text_atomic
from medgan.io.outdir import hold_run_folder
from medgan.training import checkpoint as ckpt
from medgan.training import distributed, rng
from medgan.training.config import TrainConfig, check_seed
from medgan.training.ema import EMA
from medgan.training.grid import save_grid
from medgan.training.interrupt import StopOnSignal
from medgan.training.optimizers import build_adam, schedule_factor, set_learning_rates
from medgan.training.progress import Progress
from medgan.training.run import CHECKPOINTS, CONFIG, SAMPLES, STATS, run_config_dict
from medgan.training.step import GANStep, StepContext

__all__ = ["RESUME_MAY_CHANGE", "Trainer", "resolve_device", "schedule_factor", "to_device", "train"]

#: engine settings a resumed run may change (they do not change what is computed)
RESUME_MAY_CHANGE = ("steps", "progress", "progress_seconds", "log_every", "checkpoint_every",
                     "checkpoint_minutes", "keep_checkpoints", "sample_every", "n_samples")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present (this process's ``LOCAL_RANK`` GPU), else CPU."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is available")
    local = distributed.env_world()[1]
    return torch.device("cuda", local)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a nested batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


class Trainer:
    """Trains one family's step object in a run folder.

    At its start the Trainer seeds every global random state the run depends on (torch, CUDA,
    numpy, Python's ``random``) from ``train.seed`` and the process's rank, so a run's result does
    not depend on what ran before it in the same process; a resumed run restores them instead.

    Args:
        step: the family's step object (networks still on the CPU are moved to ``device``).
        run_dir: the run folder (created); ``None`` for a dry run (:mod:`medgan.training.cost`):
            :meth:`train_step` only, nothing written.
        family: the family's registry name, recorded in ``config.yaml``.
        train: engine settings (default: ``step.config.train``).
        resume: continue from the newest checkpoint in ``run_dir``; without it, a run folder that
            already holds checkpoints is an error.
        device: default from ``train.device``.
    """

    def __init__(self, step: GANStep, run_dir: str | Path | None, family: str, train: TrainConfig | None = None,
                 resume: bool = False, device: torch.device | None = None) -> None:
        self.step_obj = step
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.family = family
        self.train = train if train is not None else step.config.train
        check_seed(self.train.seed, "train.seed")
        self.device = device or resolve_device(self.train.device)
        self.rank, self.world_size = distributed.init(self.device)
        self.amp = self.train.amp and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.train.amp_dtype == "bfloat16" else torch.float16
        self._check_spec()
        for network in step.networks.values():
            network.to(self.device)
            distributed.broadcast_module(network)
        self.optimizers: dict[str, torch.optim.Adam] = {}
        self.layouts: dict[str, dict[str, Any]] = {}  # what each optimiser was built from, and when
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.start = 0
        self._sync_optimizers(0)
        self.ema = {name: EMA(step.networks[name], self.train.ema_decay) for name in step.ema_networks}
        seed = rng.stream_seed(self.train.seed, self.rank)
        self.generator = torch.Generator().manual_seed(seed)
        rng.seed_all(seed)
        self._trainable: tuple[str, int] | None = None
        self._lr: dict[str, float] = {}  # base learning rate of each optimiser in the last step
        self._stats: dict[str, list[torch.Tensor]] = {}
        if run_dir is not None:
            self._prepare_run_dir(resume)

    # ----------------------------------------------------------------------------------- setup

    def _check_spec(self) -> None:
        step = self.step_obj
        names = set(step.networks)
        for name in names:
            if "/" in name or "." in name or not name:
                raise ConfigError(f"network name {name!r} must be non-empty and hold no '/' or '.'")
        for name, spec in step.optimizers.items():
            missing = [n for n in spec.networks if n not in names]
            if missing:
                raise ConfigError(f"optimizer {name!r} names unknown network {missing[0]!r}")
        for phase in step.phases:
            if phase.optimizer not in step.optimizers:
                raise ConfigError(f"phase {phase.name!r} uses unknown optimizer {phase.optimizer!r}")
            if phase.repeats < 1 or phase.every < 1:
                raise ConfigError(f"phase {phase.name!r}: repeats and every must be at least 1")
        for name in step.ema_networks:
            if name not in names:
                raise ConfigError(f"EMA of unknown network {name!r}")

    def _sync_optimizers(self, step: int) -> list[str]:
        """Build every optimiser whose spec's layout changed (fresh Adam moments); return their names."""
        specs = self.step_obj.optimizers
        for name in [n for n in self.optimizers if n not in specs]:
            del self.optimizers[name], self.layouts[name]
        rebuilt = []
        for name, spec in specs.items():
            layout = spec.layout()
            if name in self.layouts and self.layouts[name]["layout"] == layout:
                continue
            self.optimizers[name] = build_adam(name, spec, self.step_obj.networks)
            self.layouts[name] = {"layout": layout, "built_at": step}
            if name not in self.scalers:
                use_scaler = self.amp and self.amp_dtype == torch.float16
                self.scalers[name] = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
            rebuilt.append(name)
        if rebuilt:
            self._check_spec()
            self._trainable = None
        return rebuilt

    def _prepare_run_dir(self, resume: bool) -> None:
        config_text = yaml.safe_dump(run_config_dict(self.family, self.step_obj.config), sort_keys=False)
        checkpoints = ckpt.list_checkpoints(self.run_dir / CHECKPOINTS)
        if checkpoints and not resume:
            raise ConfigError(f"{self.run_dir}: run folder already holds checkpoints; pass --resume to continue "
                              "it or choose another folder")
        if checkpoints:
            self._check_same_config(config_text)
            self.load(checkpoints[-1])
        if self.rank == 0:
            write_text_atomic(self.run_dir / CONFIG, config_text)
            self._truncate_stats(self.start)
        distributed.barrier()

    def _check_same_config(self, config_text: str) -> None:
        path = self.run_dir / CONFIG
        if not path.is_file():
            return
        try:
            old = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise DataError(path, f"cannot be read as YAML ({str(exc).splitlines()[0]})") from None
        new = yaml.safe_load(config_text)
        if not isinstance(old, dict):
            raise DataError(path, "is not a run config (expected a mapping)")
        for conf in (old, new):
            if isinstance(conf.get("train"), dict):
                for key in RESUME_MAY_CHANGE:
                    conf["train"].pop(key, None)
        if old != new:
            differing = _first_difference(old, new)
            raise ConfigError(f"{path}: the run was started with a different config ({differing}); resume it "
                              "with the same config or start a new run folder")

    def _truncate_stats(self, step: int) -> None:
        """Keep the lines of ``stats.jsonl`` up to ``step``; drop the rest and any damaged line (a
        line cut short by a full disk or a kill)."""
        path = self.run_dir / STATS
        if not path.is_file():
            return
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        kept = [ln for ln in lines if (logged := _logged_step(ln)) is not None and logged <= step]
        if len(kept) != len(lines):
            write_text_atomic(path, "".join(ln + "\n" for ln in kept))

    # ---------------------------------------------------------------------------------- training

    def context(self, step: int) -> StepContext:
        """The :class:`StepContext` of ``step``."""
        return StepContext(step=step, total_steps=self.train.steps, device=self.device, generator=self.generator,
                           rank=self.rank, world_size=self.world_size, amp=self.amp)

    def fit(self, steps: int | None = None) -> int:
        """Train until ``steps`` (default ``train.steps``) steps are done; return that number.

        Checkpoints are written every ``train.checkpoint_every`` steps, after ``train.checkpoint_minutes``
        without one, and at the end. On SIGINT (Ctrl-C) or SIGTERM the current step is finished, a
        checkpoint written, and ``KeyboardInterrupt`` raised; ``--resume`` then continues exactly.
        """
        total = self.train.steps if steps is None else steps
        progress = Progress(self.family, total, self.start, enabled=self.train.progress and self.rank == 0,
                            seconds=self.train.progress_seconds)
        tick, last_logged, last_saved = time.perf_counter(), self.start, time.monotonic()
        try:
            with StopOnSignal(announce=self.rank == 0) as stop:
                for index in range(self.start, total):
                    self.train_step(index)
                    done = self.start = index + 1
                    losses = None
                    if done % self.train.log_every == 0 or done == total:
                        now = time.perf_counter()
                        losses = self._log(done, (now - tick) / max(1, done - last_logged))["losses"]
                        tick, last_logged = now, done
                    progress.update(done, losses)
                    if self._due(done, total, self.train.sample_every):
                        self.save_samples(done)
                    minutes = self.train.checkpoint_minutes
                    by_clock = minutes > 0 and time.monotonic() - last_saved >= 60 * minutes
                    by_clock, stopping = distributed.any_rank((by_clock, stop.requested), self.device)
                    if stopping or by_clock or self._due(done, total, self.train.checkpoint_every):
                        self.save(done)
                        last_saved = time.monotonic()
                    if stopping and done < total:
                        raise KeyboardInterrupt(f"stopped after step {done}; checkpoint written")
        finally:
            progress.close()
        self.start = max(self.start, total)
        return total

    def train_step(self, index: int) -> None:
        """Step ``index`` alone: every phase, ``end_step``, optimiser rebuilds, EMA and buffer sync
        (no logs or files).

        The learning-rate schedule is evaluated against the run's ``train.steps``.
        """
        step_obj = self.step_obj
        ctx = self.context(index)
        self._sync_optimizers(index)
        self._lr = {name: set_learning_rates(self.optimizers[name], spec, index, self.train.steps)
                    for name, spec in step_obj.optimizers.items()}
        batch = None
        for phase in step_obj.phases:
            if index % phase.every:
                continue
            for repeat in range(phase.repeats):
                ctx.repeat = repeat
                if phase.new_batch or batch is None:
                    batch = to_device(step_obj.next_batch(ctx), self.device)
                self._run_phase(phase.name, phase.optimizer, batch, ctx)
        ctx.repeat = 0
        step_obj.end_step(ctx)
        self._sync_optimizers(index + 1)  # a stage that starts now gets fresh optimisers before any checkpoint
        for name, average in self.ema.items():
            average.update(step_obj.networks[name], 0.0 if index < self.train.ema_start else None)
        distributed.broadcast_buffers(step_obj.networks.values())

    @staticmethod
    def _due(done: int, total: int, every: int) -> bool:
        return done == total or (every > 0 and done % every == 0)

    def _set_trainable(self, optimizer_name: str) -> None:
        """Gradients only for the parameters ``optimizer_name`` trains (not the rest of a network)."""
        optimizer = self.optimizers[optimizer_name]
        key = (optimizer_name, id(optimizer))
        if self._trainable == key:
            return
        for network in self.step_obj.networks.values():
            network.requires_grad_(False)
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.requires_grad_(True)
        self._trainable = key

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _run_phase(self, phase: str, optimizer_name: str, batch: Any, ctx: StepContext) -> None:
        self._set_trainable(optimizer_name)
        optimizer, scaler = self.optimizers[optimizer_name], self.scalers[optimizer_name]
        with self._autocast():
            loss, stats = self.step_obj.loss(phase, batch, ctx)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        distributed.average_gradients(p for g in optimizer.param_groups for p in g["params"])
        scaler.step(optimizer)
        scaler.update()
        for key, value in stats.items():
            self._stats.setdefault(key, []).append(value.detach())

    # ----------------------------------------------------------------------------------- outputs

    def _log(self, step: int, seconds_per_step: float) -> dict[str, Any]:
        losses = {k: float(torch.stack([v.float() for v in vs]).mean()) for k, vs in self._stats.items()}
        self._stats = {}
        line = {"step": step, "time": time.time(), "sec_per_step": seconds_per_step, "losses": losses,
                "lr": dict(self._lr)}
        if self.rank == 0:
            with (self.run_dir / STATS).open("a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")
        return line

    def networks_for_sampling(self) -> dict[str, nn.Module]:
        """The networks with their EMA copies in place of the trained ones."""
        return {**self.step_obj.networks, **{n: e.module for n, e in self.ema.items()}}

    def save_samples(self, step: int) -> Path | None:
        """Write the sample grid of ``step`` (rank 0); return its path, or ``None`` without preview."""
        if self.rank != 0 or self.train.n_samples == 0:
            return None
        networks = self.networks_for_sampling()
        modes = {name: net.training for name, net in networks.items()}
        generator = torch.Generator().manual_seed(self.train.seed)
        try:
            for net in networks.values():
                net.eval()
            with torch.no_grad(), self._autocast():
                images = self.step_obj.preview(networks, generator, self.train.n_samples)
        finally:
            for name, net in networks.items():
                net.train(modes[name])
        if images is None:
            return None
        path = self.run_dir / SAMPLES / f"step-{step:08d}.png"
        save_grid(images, path)
        return path

    # ------------------------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything but the weights that an exact resume needs."""
        states = {"generator": self.generator.get_state(), **rng.get_state(self.device)}
        return {
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "optimizer_layouts": {n: dict(v) for n, v in self.layouts.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "rng": distributed.gather_states(states),
            "world_size": self.world_size,
            "family": self.step_obj.state_dict(),
        }

    def save(self, step: int) -> Path | None:
        """Write checkpoint ``step`` (rank 0) and prune old ones."""
        state = self.state_dict()  # every rank takes part in gathering RNG states
        if self.rank != 0:
            distributed.barrier()
            return None
        networks = {f"net/{n}": m.state_dict() for n, m in self.step_obj.networks.items()}
        networks.update({f"ema/{n}": e.module.state_dict() for n, e in self.ema.items()})
        folder = self.run_dir / CHECKPOINTS
        path = ckpt.save_checkpoint(folder, step, networks, state)
        ckpt.prune_checkpoints(folder, self.train.keep_checkpoints)
        distributed.barrier()
        return path

    def load(self, checkpoint: Path) -> None:
        """Restore weights, EMA, optimisers, scalers, RNG and family state from ``checkpoint``.

        Everything is checked before use: damaged files, tensors missing, renamed, of another shape
        or dtype, NaN/Inf values, and state that does not fit this run give a
        :class:`~medgan.errors.DataError` naming the file and the problem.
        """
        weights = ckpt.load_networks(checkpoint)
        path = checkpoint / ckpt.NETWORKS
        expected = {f"net/{n}" for n in self.step_obj.networks} | {f"ema/{n}" for n in self.ema}
        unknown = sorted(set(weights) - expected)
        if unknown:
            raise DataError(path, f"holds network {unknown[0]!r}, which this run does not build")
        for key, module in [*((f"net/{n}", m) for n, m in self.step_obj.networks.items()),
                            *((f"ema/{n}", e.module) for n, e in self.ema.items())]:
            if key not in weights:
                raise DataError(path, f"holds no tensor {key}/...: the checkpoint does not match this run")
            ckpt.load_module(path, key, module, weights[key])
        step, state = ckpt.load_state(checkpoint)
        where = checkpoint / ckpt.STATE_JSON
        try:
            self._load_state(step, state)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            problem = f"missing entry {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
            raise DataError(where, f"training state does not fit this run ({problem})") from None
        self.start = step

    def _load_state(self, step: int, state: dict[str, Any]) -> None:
        self.step_obj.load_state_dict(state["family"])
        self._sync_optimizers(step)
        saved_layouts = state.get("optimizer_layouts")  # older checkpoints: layouts never changed
        if saved_layouts is not None and set(saved_layouts) != set(self.layouts):
            raise ValueError(f"optimizers {sorted(saved_layouts)} saved, {sorted(self.layouts)} built")
        for name, optimizer in self.optimizers.items():
            if saved_layouts is not None:
                if saved_layouts[name]["layout"] != self.layouts[name]["layout"]:
                    raise ValueError(f"optimizer {name!r} was saved for {saved_layouts[name]['layout']}, the "
                                     f"family's state gives {self.layouts[name]['layout']}")
                self.layouts[name]["built_at"] = int(saved_layouts[name]["built_at"])
            optimizer.load_state_dict(state["optimizers"][name])  # moments: finite (checked when read)
        for name, scaler in self.scalers.items():
            if state["scalers"].get(name):
                scaler.load_state_dict(state["scalers"][name])
        ranks = state["rng"]
        if state.get("world_size") == self.world_size and len(ranks) > self.rank:
            self.generator.set_state(ranks[self.rank]["generator"])
            rng.set_state(ranks[self.rank], self.device)
        else:  # another number of processes: a fresh, still deterministic stream per rank
            seed = rng.stream_seed(self.train.seed, self.rank, step)
            self.generator.manual_seed(seed)
            rng.seed_all(seed)


def _logged_step(line: str) -> int | None:
    """The ``step`` of a ``stats.jsonl`` line, or ``None`` for a damaged line."""
    try:
        step = json.loads(line).get("step")
    except (json.JSONDecodeError, AttributeError):
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def _first_difference(old: Any, new: Any, where: str = "") -> str:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in list(old) + [k for k in new if k not in old]:
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
    return f"{where}: {old!r} then, {new!r} now"



def train(family: str, config: Any, run_dir: str | Path, resume: bool = False, steps: int | None = None,
          cases: list[dict[str, Any]] | None = None) -> Trainer:
    """Build ``family``'s step object from ``config`` and train it in ``run_dir``.

    Network initialisation is seeded with ``config.train.seed`` (so every DDP process starts from
    the same weights, and reruns from the same ones).

    Args:
        family: a name in :data:`medgan.registry.GAN_FAMILIES`.
        config: the family's config dataclass.
        run_dir: the run folder.
        resume: continue from the newest checkpoint there.
        steps: train until this step (default ``config.train.steps``).
        cases: in-memory training cases (the benchmark) instead of the dataset the config names.

    Returns:
        The finished :class:`Trainer`.
    """
    from medgan.registry import GAN_FAMILIES
    from medgan.training.cost import check_weights_fit

    spec = GAN_FAMILIES.get(family)
    device = resolve_device(config.train.device)
    rank, world = distributed.init(device)
    torch.manual_seed(config.train.seed)
    step = spec.build(config, rank, world) if cases is None else spec.build(config, rank, world, cases=cases)
    check_weights_fit(family, step, device)
    with hold_run_folder(run_dir, "medgan train", rank, adopt=CONFIG):
        trainer = Trainer(step, run_dir, family, resume=resume, device=device)
        trainer.fit(steps)
    return trainer

