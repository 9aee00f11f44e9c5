"""A GAN family defined outside medgan registers through a ``medgan.plugins`` entry point, exactly as the
built-in ones do: ``medgan train`` trains it, its run loads and samples, and the metric it registers is
listed by ``medgan evaluate``. Run in fresh processes so the entry point is discovered as in a user's
installation (a module and a ``*.dist-info/entry_points.txt`` on ``PYTHONPATH``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PLUGIN = '''
"""A tiny GAN family living outside medgan: 8-value vectors from 4-value noise."""
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from medgan.registry import METRICS
from medgan.training.config import AdamConfig, TrainConfig
from medgan.training.losses import AdversarialLoss
from medgan.training.spec import FamilySpec, register_family
from medgan.training.step import GANStep, OptimizerSpec, Phase


@dataclass
class BlobConfig:
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=2, batch_size=4, log_every=1, checkpoint_every=1, sample_every=0, n_samples=0, progress=False))
    g: AdamConfig = field(default_factory=AdamConfig)
    d: AdamConfig = field(default_factory=AdamConfig)
    latent: int = 4


def networks(config):
    return {"G": nn.Linear(config.latent, 8)}


class BlobStep(GANStep):
    def __init__(self, config, rank, world_size):
        self.config = config
        self.networks = {**networks(config), "D": nn.Linear(8, 1)}
        self.optimizers = {"G": OptimizerSpec(("G",), config.g), "D": OptimizerSpec(("D",), config.d)}
        self.phases = (Phase("D", "D"), Phase("G", "G", new_batch=False))
        self.ema_networks = ("G",)
        self.adversarial = AdversarialLoss("bce")

    def next_batch(self, ctx):
        n = self.config.train.batch_size
        return {"real": torch.randn(n, 8, generator=ctx.generator) + 3.0,
                "z": torch.randn(n, self.config.latent, generator=ctx.generator)}

    def loss(self, phase, batch, ctx):
        fake = self.networks["G"](batch["z"])
        if phase == "D":
            loss = self.adversarial.discriminator(self.networks["D"](batch["real"]), self.networks["D"](fake.detach()))
        else:
            loss = self.adversarial.generator(self.networks["D"](fake))
        return loss, {phase: loss.detach()}


class BlobSampler:
    def __init__(self, run):
        self.generator = run.networks["G"]

    def sample(self, n, seed, context):
        z = torch.randn(n, self.generator.in_features, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            values = self.generator(z).numpy()
        return [{"image": v.reshape(1, 2, 4), "label": np.zeros((1, 2, 4), np.uint8), "meta": {}, "id": f"blob{i}"}
                for i, v in enumerate(values)]


register_family(FamilySpec(name="blob", summary="toy vectors (a plugin family)", config_type=BlobConfig,
                           build=BlobStep, networks=networks, sampler=BlobSampler))


@METRICS.register("blob_score")
def blob_score(context):
    return {"value": 0.0}
'''


def _plugin_path(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    (site / "medgan_blob-0.1.dist-info").mkdir(parents=True)
    (site / "medgan_blob.py").write_text(PLUGIN)
    (site / "medgan_blob-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: medgan-blob\n"
                                                                 "Version: 0.1\n")
    (site / "medgan_blob-0.1.dist-info" / "entry_points.txt").write_text(
        "[medgan.plugins]\nblob = medgan_blob\nbroken = medgan_no_such_module\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "OMP_NUM_THREADS": "1"}


def _medgan(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_family_outside_medgan_trains_loads_and_registers_a_metric(tmp_path: Path) -> None:
    env = _plugin_path(tmp_path)
    trained = _medgan(env, tmp_path, "-m", "medgan", "train", "blob", "--out", "run", "--steps", "1",
                      "--device", "cpu")
    assert trained.returncode == 0, trained.stderr
    assert "trained blob for 1 steps" in trained.stdout
    assert "medgan plugin 'broken'" in trained.stderr  # a broken plugin is named and skipped
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert saved.startswith("family: blob") and (tmp_path / "run" / "checkpoints" / "step-00000001").is_dir()

    # in a second fresh process: the run loads and samples; both commands list what the plugin registered
    script = """
import contextlib, io, json
from medgan.cli import main
from medgan.training.run import load_run, load_sampler
run = load_run("run")
cases = load_sampler("run").sample(3, 0, [])
helps = []
for command in ("evaluate", "train"):
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        main([command, "--help"])
    helps.append(text.getvalue())
print(json.dumps([run.family, run.step, sorted(run.networks), len(cases), list(cases[0]["image"].shape), helps]))
"""
    loaded = _medgan(env, tmp_path, "-c", script)
    assert loaded.returncode == 0, loaded.stderr
    family, step, networks, n, shape, (evaluate_help, train_help) = json.loads(loaded.stdout.splitlines()[-1])
    assert (family, step, networks, n, shape) == ("blob", 1, ["G"], 3, [1, 2, 4])
    assert "blob_score" in evaluate_help
    assert "toy vectors (a plugin family)" in train_help
