"""Trains the toy family in a separate process, so tests can signal it: ``python tests/engine_worker.py
RUN STEPS [--resume] [--step-seconds S]``. Progress goes to stderr as plain lines (a pipe, not a
terminal); Ctrl-C/SIGTERM end it with status 130 after a checkpoint, as the ``medgan`` command does."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import torch

from medgan.training.loop import Trainer
from tests.toy_family import ToyConfig, ToyCycleStep

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("steps", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--step-seconds", type=float, default=0.0)
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started from a shell that ignores it
    config = ToyConfig()
    config.train.steps, config.train.checkpoint_every, config.train.checkpoint_minutes = args.steps, 0, 0
    config.train.progress, config.train.progress_seconds = True, 0.5
    torch.manual_seed(config.train.seed)
    step = ToyCycleStep(config, 0, 1)
    step.step_seconds = args.step_seconds
    try:
        Trainer(step, args.run, "toy-cycle", resume=args.resume).fit()
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        sys.exit(130)
