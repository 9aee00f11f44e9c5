"""Peak memory of one progressive-GAN training step (critic step with gradient penalty + generator
step) per resolution level, on the current device.

On CUDA it runs real steps and prints ``torch.cuda.max_memory_allocated`` per level (with and without
bf16 autocast and gradient checkpointing, as asked). Without CUDA it runs the same step on PyTorch's
``meta`` device (shapes only, no arithmetic) and adds up the bytes autograd saves for the backward
passes of the larger of the two phases, plus weights, gradients, Adam moments and the EMA copy: an
estimate of the activation-dominated peak that needs no GPU (it leaves out temporaries that are not
kept for backward and allocator slack, so expect a real GPU to need somewhat more).

On CUDA ``--steps N`` runs N steps per level and reports the mean seconds per step after one
warm-up step (``--steps 0``: the single step's time, warm-up included, as before).

Examples:
    python benchmarks/bench_pggan_memory.py --resolution 128 --batch-sizes 32,32,16,8,4,2
    python benchmarks/bench_pggan_memory.py --resolution 128 --amp bf16 --checkpointing   # on a GPU
    python benchmarks/bench_pggan_memory.py --resolution 16 --steps 2                      # a quick check
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from medgan.families.pggan.schedule import choose_base_shape
from medgan.models.pggan import PGDiscriminator, PGGenerator, level_shape
from medgan.training.losses import LossConfig, discriminator_loss


def saved_bytes(fn) -> int:
    """Bytes of the distinct tensors autograd saves while ``fn()`` runs (forward and double backward)."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = (id(t.untyped_storage()) if t.device.type != "meta" else id(t), t.shape, t.dtype)
        seen[key] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def step(g: PGGenerator, d: PGDiscriminator, batch: int, level: int, device: torch.device, amp: str,
         loss: LossConfig, phases: str = "DG") -> None:
    """One critic step (real, fake, gradient penalty, drift) and/or one generator step, with backward."""
    shape = level_shape(g.base_shape, level)
    real = torch.rand(batch, g.image_channels + g.label_classes, *shape, device=device)
    z = torch.randn(batch, g.latent_dim, device=device)
    cast = torch.autocast("cuda", dtype=torch.bfloat16) if amp == "bf16" else contextlib.nullcontext()
    if "D" in phases:
        with cast:
            with torch.no_grad():
                fake = g(z, level, 0.5)
            if device.type == "meta":  # the engine's penalty opens an autocast block, which meta tensors lack
                d_loss = _meta_critic_loss(d, real, fake, level, loss)
            else:
                d_loss, _ = discriminator_loss(loss, lambda x: d(x, level, 0.5), real, fake)
        d_loss.backward()
    if "G" in phases:
        with cast:
            g_loss = -d(g(z, level, 0.5), level, 0.5).float().mean()
        g_loss.backward()


def _meta_critic_loss(d: PGDiscriminator, real: torch.Tensor, fake: torch.Tensor, level: int,
                      loss: LossConfig) -> torch.Tensor:
    """The same terms as :func:`discriminator_loss` for ``wgan-gp`` (no autocast block)."""
    real_scores, fake_scores = d(real, level, 0.5), d(fake, level, 0.5)
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(mixed, level, 0.5).sum(), mixed, create_graph=True)
    penalty = ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()
    return fake_scores.mean() - real_scores.mean() + loss.gp_weight * penalty + loss.drift * real_scores.pow(2).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=128, help="longest side of the last level")
    parser.add_argument("--data-shape", default="", help="data shape the base is chosen from (default: a cube)")
    parser.add_argument("--image-channels", type=int, default=4)
    parser.add_argument("--label-classes", type=int, default=4)
    parser.add_argument("--batch-sizes", default="32,32,16,8,4,2")
    parser.add_argument("--fmap-base", type=int, default=2048)
    parser.add_argument("--fmap-max", type=int, default=256)
    parser.add_argument("--latent-dim", type=int, default=512)
    parser.add_argument("--amp", choices=["none", "bf16"], default="none")
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--from-level", type=int, default=0)
    parser.add_argument("--to-level", type=int, default=-1, help="last level to measure (default: the last)")
    parser.add_argument("--steps", type=int, default=0, help="timed steps per level after a warm-up (CUDA)")
    args = parser.parse_args()

    data_shape = [int(s) for s in args.data_shape.split(",")] if args.data_shape else [args.resolution] * args.dims
    base, levels = choose_base_shape(data_shape, args.resolution)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "meta")
    loss = LossConfig("wgan-gp", 10.0, 0.001)
    kwargs = dict(fmap_base=args.fmap_base, fmap_max=args.fmap_max, use_checkpoint=args.checkpointing)
    g = PGGenerator(args.dims, base, levels, args.image_channels, args.label_classes, args.latent_dim, **kwargs)
    d = PGDiscriminator(args.dims, base, levels, args.image_channels + args.label_classes, **kwargs)
    g, d = g.to(device), d.to(device)
    params = sum(p.numel() for p in list(g.parameters()) + list(d.parameters()))
    # weights + gradients + two Adam moments + the generator EMA copy, float32
    fixed = 4 * (4 * params + sum(p.numel() for p in g.parameters()))
    name = torch.cuda.get_device_name() if cuda else "no CUDA: meta-device estimate"
    print(f"device: {name}; base {base} x 2^{levels}; {params / 1e6:.1f} M parameters; amp {args.amp}; "
          f"checkpointing {args.checkpointing}")
    print("level  shape            batch  channels(G/D)  peak_GiB  seconds")
    last = levels if args.to_level < 0 else min(args.to_level, levels)
    for level in range(args.from_level, last + 1):
        batch = batches[min(level, len(batches) - 1)]
        shape = "x".join(map(str, level_shape(base, level)))
        for net in (g, d):
            net.zero_grad(set_to_none=True)
        start = time.perf_counter()
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            try:
                step(g, d, batch, level, device, args.amp, loss)
                torch.cuda.synchronize()
                if args.steps > 0:  # warm-up done: time the next steps alone
                    start = time.perf_counter()
                    for _ in range(args.steps):
                        for net in (g, d):
                            net.zero_grad(set_to_none=True)
                        step(g, d, batch, level, device, args.amp, loss)
                    torch.cuda.synchronize()
                peak = f"{torch.cuda.max_memory_allocated() / 2**30:8.2f}"
            except torch.OutOfMemoryError:
                peak = "     OOM"
        else:
            if args.checkpointing:
                print("  (checkpointing is not modelled by the meta estimate)")
            activations = max(saved_bytes(lambda p=p, b=batch, k=level: step(g, d, b, k, device, "none", loss, p))
                              for p in ("D", "G"))
            peak = f"{(activations + fixed) / 2**30:8.2f}"
        seconds = (time.perf_counter() - start) / (args.steps if cuda and args.steps > 0 else 1)
        print(f"{level:5d}  {shape:15s}  {batch:5d}  {g.channels[level]:4d}/{d.channels[level]:<4d}     {peak}  "
              f"{seconds:7.2f}")


if __name__ == "__main__":
    main()
