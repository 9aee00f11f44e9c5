"""Engine overhead: a lesion-GAN training step through the engine vs a bare PyTorch loop doing the same
work (same networks and initial weights, same batches, BCE loss, Adam per network, EMA of G), measured
in the same run. Rounds alternate between the two so machine load affects both alike; the median
round is reported.

    python benchmarks/bench_engine.py                       # CPU, 2D 64^2 and 3D 32^3
    python benchmarks/bench_engine.py --device cuda --amp   # on a GPU, also AMP speed-up and peak memory
    python benchmarks/bench_engine.py --steps 2 --rounds 1  # a quick check that it runs

On CUDA the peak GPU memory (``torch.cuda.max_memory_allocated``) during the engine's rounds and
during the bare loop's rounds is printed next to the times; both sides' weights and Adam moments are
resident throughout, so the two peaks differ by the working memory of one step.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medgan.families.lesion_gan import LesionGANConfig  # noqa: E402
from medgan.families.lesion_gan.patches import LesionPatches  # noqa: E402
from medgan.families.lesion_gan.step import LesionGANStep  # noqa: E402
from medgan.training.loop import Trainer  # noqa: E402
from medgan.training.losses import AdversarialLoss  # noqa: E402


def make_step(dims: int, size: int, channels: int, batch: int, amp: bool, device: str) -> LesionGANStep:
    rng = np.random.default_rng(0)
    n, shape = 64, (size + 8,) * dims
    labels = np.zeros((n,) + shape, np.int16)
    centre = tuple(slice(s // 2 - 3, s // 2 + 3) for s in shape)
    labels[(slice(None),) + centre] = 1
    patches = LesionPatches(rng.uniform(-1, 1, (n, 1) + shape).astype(np.float32), labels,
                            rng.integers(1, 3, n), [])
    config = LesionGANConfig()
    config.data.patch_size, config.data.jitter = size, 4
    config.model.g_channels = config.model.d_channels = channels
    config.train.batch_size, config.train.progress, config.train.amp = batch, False, amp
    config.train.device, config.train.log_every = device, 10**9
    config.train.checkpoint_every = config.train.sample_every = config.train.n_samples = 0
    torch.manual_seed(0)
    return LesionGANStep(config, patches=patches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--amp", action="store_true", help="also time with automatic mixed precision (CUDA)")
    parser.add_argument("--steps", type=int, default=10, help="steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--channels-2d", type=int, default=32, help="base width of the 2D networks")
    parser.add_argument("--channels-3d", type=int, default=16, help="base width of the 3D networks")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = [("2D 64^2", 2, 64, args.channels_2d, 16), ("3D 32^3", 3, 32, args.channels_3d, 8)]
    settings = [False, True] if args.amp and args.device == "cuda" else [False]
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.steps} steps x {args.rounds} rounds (median round)")
    cuda = args.device == "cuda"
    memory_header = f" {'engine peak GiB':>16} {'bare peak GiB':>14}" if cuda else ""
    print(f"{'model':<10} {'amp':<5} {'engine ms/step':>15} {'bare ms/step':>13} {'engine/bare':>12}{memory_header}")
    for name, dims, size, channels, batch in cases:
        engine_by_amp, peak_by_amp = {}, {}
        for amp in settings:
            (engine, engine_peak), (bare, bare_peak) = compare(dims, size, channels, batch, amp, args)
            engine_by_amp[amp], peak_by_amp[amp] = engine, engine_peak
            memory = f" {engine_peak / 2**30:>16.3f} {bare_peak / 2**30:>14.3f}" if cuda else ""
            print(f"{name:<10} {str(amp):<5} {engine * 1e3:>15.1f} {bare * 1e3:>13.1f} {engine / bare:>12.3f}{memory}")
        if len(engine_by_amp) == 2:
            print(f"{name:<10} AMP vs fp32, engine step: {engine_by_amp[False] / engine_by_amp[True]:.2f}x faster, "
                  f"peak memory {peak_by_amp[True] / peak_by_amp[False]:.2f}x")


def compare(dims: int, size: int, channels: int, batch: int, amp: bool, args: argparse.Namespace
            ) -> tuple[tuple[float, int], tuple[float, int]]:
    """``((engine s/step, engine peak bytes), (bare s/step, bare peak bytes))``; peaks are 0 on CPU."""
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        step = make_step(dims, size, channels, batch, amp, args.device)
        bare_g, bare_d = copy.deepcopy(step.networks["G"]).to(device), copy.deepcopy(step.networks["D"]).to(device)
        trainer = Trainer(step, Path(tmp) / "run", "lesion-gan")
        bare = BareLoop(bare_g, bare_d, step, device, amp)
        counter = iter(range(10**9))

        def engine_steps(n: int) -> None:  # Trainer.fit's loop body; logs and files excluded on both sides
            for _ in range(n):
                trainer.train_step(next(counter))

        engine_steps(2)
        bare.run(2)
        times: dict[str, list[float]] = {"engine": [], "bare": []}
        peaks = {"engine": 0, "bare": 0}
        for _ in range(args.rounds):
            for side, run in (("engine", engine_steps), ("bare", bare.run)):
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                times[side].append(timed(lambda run=run: run(args.steps), device) / args.steps)
                if device.type == "cuda":
                    peaks[side] = max(peaks[side], torch.cuda.max_memory_allocated(device))
    return ((statistics.median(times["engine"]), peaks["engine"]),
            (statistics.median(times["bare"]), peaks["bare"]))


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


class BareLoop:
    """The textbook DCGAN loop on the same networks and batches."""

    def __init__(self, g: torch.nn.Module, d: torch.nn.Module, step: LesionGANStep, device: torch.device,
                 amp: bool) -> None:
        self.g, self.d, self.step, self.device = g, d, step, device
        config = step.config
        self.opt_g = torch.optim.Adam(g.parameters(), lr=config.g_optimizer.lr, betas=config.g_optimizer.betas)
        self.opt_d = torch.optim.Adam(d.parameters(), lr=config.d_optimizer.lr, betas=config.d_optimizer.betas)
        self.ema = copy.deepcopy(g).eval().requires_grad_(False)
        self.loss = AdversarialLoss("bce")
        self.amp = amp and device.type == "cuda"
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=self.amp)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=self.amp)
        self.generator = torch.Generator().manual_seed(1)
        self.ctx = step_context(device, self.generator)
        self.latent = config.model.latent_dim

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.float16) if self.amp else contextlib.nullcontext()

    def run(self, steps: int) -> None:
        for _ in range(steps):
            batch = self.step.next_batch(self.ctx)
            real = batch["image"].to(self.device, non_blocking=True)
            classes = batch["class"].to(self.device, non_blocking=True)
            n = real.shape[0]
            with self.autocast():
                with torch.no_grad():
                    fake = self.g(torch.randn(n, self.latent, generator=self.generator).to(self.device), classes)
                loss_d = self.loss.discriminator(self.d(real, classes), self.d(fake, classes))
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(loss_d).backward()
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            with self.autocast():
                fake = self.g(torch.randn(n, self.latent, generator=self.generator).to(self.device), classes)
                loss_g = self.loss.generator(self.d(fake, classes))
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(loss_g).backward()
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
            with torch.no_grad():
                for average, current in zip(self.ema.parameters(), self.g.parameters()):
                    average.lerp_(current, 0.001)
                for average, current in zip(self.ema.buffers(), self.g.buffers()):
                    average.copy_(current)


def step_context(device: torch.device, generator: torch.Generator):
    from medgan.training.step import StepContext

    return StepContext(step=0, total_steps=0, device=device, generator=generator)


if __name__ == "__main__":
    main()
