"""The one training loop of medgan: runs any family's :class:`~medgan.training.step.GANStep`.

Per step, for each phase (``repeats`` times, on steps that are multiples of ``every``): get a batch
from the family, compute the phase's loss under autocast, backpropagate into the networks of the
phase's optimiser group only, average gradients across processes, step the optimiser with its
gradient scaler. Then update EMA copies, log, draw sample grids and write checkpoints. Nothing here
knows any family.

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

from medgan.errors import ConfigError
from medgan.io.atomic import write_text_atomic
from medgan.training import checkpoint as ckpt
from medgan.training import distributed
from medgan.training.config import ScheduleConfig, TrainConfig
from medgan.training.ema import EMA
from medgan.training.grid import save_grid
from medgan.training.run import CHECKPOINTS, CONFIG, SAMPLES, STATS, run_config_dict
from medgan.training.step import GANStep, OptimizerSpec, StepContext

#: engine settings a resumed run may change (they do not change what is computed)
RESUME_MAY_CHANGE = ("steps", "progress", "log_every", "checkpoint_every", "keep_checkpoints", "sample_every",
                     "n_samples")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present (this process's ``LOCAL_RANK`` GPU), else CPU."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is available")
    local = distributed.env_world()[1]
    return torch.device("cuda", local)


def schedule_factor(schedule: ScheduleConfig, step: int, total: int) -> float:
    """The learning-rate multiplier of ``schedule`` at ``step`` of a ``total``-step run."""
    if schedule.kind == "constant" or step < schedule.decay_start:
        return 1.0
    end = schedule.decay_end or total
    if end <= schedule.decay_start:
        return schedule.final_factor
    progress = min(1.0, (step - schedule.decay_start) / (end - schedule.decay_start))
    return 1.0 + (schedule.final_factor - 1.0) * progress


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

    Args:
        step: the family's step object (networks still on the CPU are moved to ``device``).
        run_dir: the run folder (created).
        family: the family's registry name, recorded in ``config.yaml``.
        train: engine settings (default: ``step.config.train``).
        resume: continue from the newest checkpoint in ``run_dir``; without it, a run folder that
            already holds checkpoints is an error.
        device: default from ``train.device``.
    """

    def __init__(self, step: GANStep, run_dir: str | Path, family: str, train: TrainConfig | None = None,
                 resume: bool = False, device: torch.device | None = None) -> None:
        self.step_obj = step
        self.run_dir = Path(run_dir)
        self.family = family
        self.train = train if train is not None else step.config.train
        self.device = device or resolve_device(self.train.device)
        self.rank, self.world_size = distributed.init(self.device)
        self.amp = self.train.amp and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.train.amp_dtype == "bfloat16" else torch.float16
        self._check_spec()
        for network in step.networks.values():
            network.to(self.device)
            distributed.broadcast_module(network)
        self.optimizers = {name: self._adam(spec) for name, spec in step.optimizers.items()}
        use_scaler = self.amp and self.amp_dtype == torch.float16
        self.scalers = {name: torch.amp.GradScaler(self.device.type, enabled=use_scaler) for name in step.optimizers}
        self.ema = {name: EMA(step.networks[name], self.train.ema_decay) for name in step.ema_networks}
        self.generator = torch.Generator().manual_seed(self.train.seed * 1_000_003 + self.rank)
        torch.manual_seed(self.train.seed * 1_000_003 + self.rank)
        self.start = 0
        self._trainable: tuple[str, ...] | None = None
        self._stats: dict[str, list[torch.Tensor]] = {}
        self._prepare_run_dir(resume)

    # ----------------------------------------------------------------------------------- setup

    def _check_spec(self) -> None:
        step = self.step_obj
        names = set(step.networks)
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

    def _adam(self, spec: OptimizerSpec) -> torch.optim.Adam:
        params = [p for n in spec.networks for p in self.step_obj.networks[n].parameters()]
        a = spec.adam
        return torch.optim.Adam(params, lr=a.lr, betas=tuple(a.betas), eps=a.eps, weight_decay=a.weight_decay)

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
        old, new = yaml.safe_load(path.read_text(encoding="utf-8")), yaml.safe_load(config_text)
        for conf in (old, new):
            for key in RESUME_MAY_CHANGE:
                conf.get("train", {}).pop(key, None)
        if old != new:
            differing = _first_difference(old, new)
            raise ConfigError(f"{path}: the run was started with a different config ({differing}); resume it "
                              "with the same config or start a new run folder")

    def _truncate_stats(self, step: int) -> None:
        path = self.run_dir / STATS
        if not path.is_file():
            return
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln)["step"] <= step]
        if len(kept) != len(lines):
            write_text_atomic(path, "".join(ln + "\n" for ln in kept))

    # ---------------------------------------------------------------------------------- training

    def context(self, step: int) -> StepContext:
        """The :class:`StepContext` of ``step``."""
        return StepContext(step=step, total_steps=self.train.steps, device=self.device, generator=self.generator,
                           rank=self.rank, world_size=self.world_size, amp=self.amp)

    def fit(self, steps: int | None = None) -> int:
        """Train until ``steps`` (default ``train.steps``) steps are done; return that number."""
        from tqdm.auto import tqdm

        total = self.train.steps if steps is None else steps
        bar = tqdm(total=total, initial=self.start, disable=not (self.train.progress and self.rank == 0),
                   dynamic_ncols=True, desc=self.family)
        tick = time.perf_counter()
        last_logged = self.start
        for index in range(self.start, total):
            self.train_step(index)
            done = index + 1
            bar.update(1)
            if done % self.train.log_every == 0 or done == total:
                now = time.perf_counter()
                line = self._log(done, (now - tick) / max(1, done - last_logged))
                tick, last_logged = now, done
                bar.set_postfix({k: f"{v:.3g}" for k, v in line["losses"].items()}, refresh=False)
            if self._due(done, total, self.train.sample_every):
                self.save_samples(done)
            if self._due(done, total, self.train.checkpoint_every):
                self.save(done)
        bar.close()
        self.start = total
        return total

    def train_step(self, index: int) -> None:
        """Step ``index`` alone: every phase, ``end_step``, EMA and buffer sync (no logs or files).

        The learning-rate schedule is evaluated against the run's ``train.steps``.
        """
        step_obj = self.step_obj
        ctx = self.context(index)
        self._set_learning_rates(index, self.train.steps)
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
        for name, average in self.ema.items():
            average.update(step_obj.networks[name], 0.0 if index < self.train.ema_start else None)
        distributed.broadcast_buffers(step_obj.networks.values())

    @staticmethod
    def _due(done: int, total: int, every: int) -> bool:
        return done == total or (every > 0 and done % every == 0)

    def _set_learning_rates(self, step: int, total: int) -> None:
        for name, spec in self.step_obj.optimizers.items():
            factor = spec.schedule(step) if spec.schedule else schedule_factor(spec.adam.schedule, step, total)
            for group in self.optimizers[name].param_groups:
                group["lr"] = spec.adam.lr * factor

    def _set_trainable(self, optimizer: str) -> None:
        names = self.step_obj.optimizers[optimizer].networks
        if self._trainable == names:
            return
        for name, network in self.step_obj.networks.items():
            network.requires_grad_(name in names)
        self._trainable = names

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
                "lr": {name: opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}}
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
        rng = {"torch": torch.get_rng_state(), "generator": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
            "rng": distributed.gather_states(rng),
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
        """Restore weights, EMA, optimisers, scalers, RNG and family state from ``checkpoint``."""
        weights = ckpt.load_networks(checkpoint)
        for name, network in self.step_obj.networks.items():
            network.load_state_dict(weights[f"net/{name}"])
        for name, average in self.ema.items():
            average.module.load_state_dict(weights[f"ema/{name}"])
        step, state = ckpt.load_state(checkpoint)
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        for name, scaler in self.scalers.items():
            if state["scalers"].get(name):
                scaler.load_state_dict(state["scalers"][name])
        ranks = state["rng"]
        if state.get("world_size") == self.world_size and len(ranks) > self.rank:
            rng = ranks[self.rank]
            torch.set_rng_state(rng["torch"])
            self.generator.set_state(rng["generator"])
            if "cuda" in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.device)
        else:  # another number of processes: a fresh, still deterministic stream per rank
            self.generator.manual_seed(self.train.seed * 1_000_003 + self.rank + 7919 * step)
            torch.manual_seed(self.train.seed * 1_000_003 + self.rank + 7919 * step)
        self.step_obj.load_state_dict(state["family"])
        self.start = step


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

    spec = GAN_FAMILIES.get(family)
    device = resolve_device(config.train.device)
    rank, world = distributed.init(device)
    torch.manual_seed(config.train.seed)
    step = spec.build(config, rank, world) if cases is None else spec.build(config, rank, world, cases=cases)
    trainer = Trainer(step, run_dir, family, resume=resume, device=device)
    trainer.fit(steps)
    return trainer
