"""Data-parallel training over ``torch.distributed``, launched with ``torchrun``.

Each process runs the same loop on its share of the batch. Parameters and buffers are broadcast from
rank 0 at the start; after each phase's backward pass the gradients of that phase's networks are
averaged across processes in one flat all-reduce (the StyleGAN2-ADA scheme). This is what
``DistributedDataParallel`` does, but it allows what GAN phases need and DDP's wrapper makes awkward:
several forward passes of one network per phase, networks frozen in some phases, and the double
backward of the gradient penalty.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def env_world() -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` from the variables ``torchrun`` sets (0, 0, 1 otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, local, world


def init(device: torch.device, timeout_s: float = 600.0) -> tuple[int, int]:
    """Join the process group when launched by ``torchrun``; return ``(rank, world_size)``.

    Uses NCCL on CUDA and gloo on CPU.
    """
    rank, _, world = env_world()
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return rank, world


def active() -> bool:
    """True when running with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if not active():
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def broadcast_buffers(modules: Iterable[nn.Module]) -> None:
    """Copy rank 0's buffers (batch-norm statistics) to every process, as DDP does each forward."""
    if not active():
        return
    buffers = [b for m in modules for b in m.buffers() if b.is_floating_point()]
    if buffers:
        flat = torch.cat([b.reshape(-1) for b in buffers])
        dist.broadcast(flat, src=0)
        offset = 0
        for b in buffers:
            b.copy_(flat[offset:offset + b.numel()].view_as(b))
            offset += b.numel()


def average_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """Average the gradients of ``parameters`` over all processes (one flat all-reduce)."""
    if not active():
        return
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset:offset + p.numel()].view_as(p.grad))
        offset += p.numel()


def gather_states(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every process's ``state`` (RNG states on the CPU), in rank order; ``[state]`` in a single process."""
    if not active():
        return [state]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, state)
    return gathered


def any_rank(flags: tuple[bool, ...], device: torch.device) -> tuple[bool, ...]:
    """Each flag or-ed over all processes (one small all-reduce), so every process decides alike.

    Used for decisions a single process makes from its own clock or its own signals (a wall-clock
    checkpoint, a stop request): every process must then save the same checkpoint.
    """
    if not active():
        return flags
    values = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in values.tolist())


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if active():
        dist.barrier()


def shutdown() -> None:
    """Leave the process group."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
