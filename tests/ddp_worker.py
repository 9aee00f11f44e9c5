"""Run under ``torchrun --nproc_per_node 2``: trains the toy family with two gloo processes and saves
each process's final weights, so the test can check that the processes stayed in step."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from medgan.training import distributed
from medgan.training.loop import Trainer
from tests.toy_family import ToyConfig, ToyCycleStep

if __name__ == "__main__":
    out = Path(sys.argv[1])
    config = ToyConfig()
    config.train.device = "cpu"
    rank, world = distributed.init(torch.device("cpu"), timeout_s=60)
    torch.manual_seed(config.train.seed)
    trainer = Trainer(ToyCycleStep(config, rank, world), out / "run", "toy-cycle")
    trainer.fit()
    weights = {f"{n}/{k}": v.contiguous() for n, m in trainer.step_obj.networks.items()
               for k, v in m.state_dict().items()}
    save_file(weights, str(out / f"rank{rank}.safetensors"))
    (out / f"rank{rank}.txt").write_text(f"{world} {trainer.step_obj.images_seen}")
    distributed.shutdown()
