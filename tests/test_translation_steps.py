"""One step of each CycleGAN and pix2pix loss, 2D and 3D, on the shared engine (no engine change)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medgan.config import load_config
from medgan.families.cyclegan import CycleGANConfig
from medgan.families.cyclegan.step import CycleGANStep
from medgan.families.pix2pix import Pix2PixConfig
from medgan.families.pix2pix.step import Pix2PixStep
from medgan.training.loop import Trainer
from medgan.training.step import StepContext
from tests.translation_data import TINY_CYCLEGAN, TINY_PIX2PIX


def volumes(dims: int, n: int = 2, channels: int = 1, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (channels, 12, 16, 5) if dims == 2 else (channels, 10, 12, 9)
    return [rng.uniform(-1, 1, shape).astype(np.float32) for _ in range(n)]


def cyclegan(dims: int, **overrides) -> CycleGANStep:
    config = load_config({**TINY_CYCLEGAN, "data": {"spatial_dims": dims, "patch_size": 16}, **overrides},
                         CycleGANConfig)
    torch.manual_seed(0)
    return CycleGANStep(config, volumes=(volumes(dims), volumes(dims, seed=1)))


def context() -> StepContext:
    return StepContext(step=0, total_steps=2, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("dims", [2, 3])
def test_cyclegan_losses(dims):
    step = cyclegan(dims)
    batch = step.next_batch(context())
    assert batch["a"].shape == (1, 1, *([16] * dims))
    g_loss, stats = step.loss("G", batch, context())
    n, c = step.networks, step.config
    with torch.no_grad():
        a, b = batch["a"], batch["b"]
        fake_b, fake_a = n["G_ab"](a), n["G_ba"](b)
        adv = ((n["D_b"](fake_b) - 1) ** 2).mean() + ((n["D_a"](fake_a) - 1) ** 2).mean()
        cycle = (n["G_ba"](fake_b) - a).abs().mean() + (n["G_ab"](fake_a) - b).abs().mean()
        identity = (n["G_ab"](b) - b).abs().mean() + (n["G_ba"](a) - a).abs().mean()
    assert c.cycle_weight == 10 and c.identity_weight == 0.5 and c.loss.kind == "lsgan" and c.pool_size == 50
    assert g_loss.item() == pytest.approx((adv + 10 * cycle + 5 * identity).item(), rel=1e-5)
    assert set(stats) == {"G_adv", "G_cycle", "G_identity"}
    d_loss, d_stats = step.loss("D", batch, context())
    with torch.no_grad():  # the first fakes go into the empty pool and come back unchanged
        d_a = 0.5 * (((n["D_a"](a) - 1) ** 2).mean() + (n["D_a"](fake_a) ** 2).mean())
        d_b = 0.5 * (((n["D_b"](b) - 1) ** 2).mean() + (n["D_b"](fake_b) ** 2).mean())
    assert d_loss.item() == pytest.approx((d_a + d_b).item(), rel=1e-5)
    assert len(step.pools["a"].images) == 1


@pytest.mark.parametrize("dims", [2, 3])
def test_pix2pix_losses(dims):
    config = load_config({**TINY_PIX2PIX, "data": {"spatial_dims": dims, "patch_size": 16}}, Pix2PixConfig)
    torch.manual_seed(0)
    step = Pix2PixStep(config, pairs=volumes(dims, channels=2))
    batch = step.next_batch(context())
    assert batch["source"].shape == batch["target"].shape == (1, 1, *([16] * dims))
    step.networks["G"].eval()  # no dropout / batch statistics: comparable forward passes
    g_loss, stats = step.loss("G", batch, context())
    g, d = step.networks["G"], step.networks["D"]
    s, t = batch["source"], batch["target"]
    with torch.no_grad():
        fake = g(s)
        scores = d(torch.cat([s, fake], 1))
        adv = torch.nn.functional.binary_cross_entropy_with_logits(scores, torch.ones_like(scores))
        l1 = (fake - t).abs().mean()
    assert config.l1_weight == 100 and config.loss.kind == "bce"
    assert g_loss.item() == pytest.approx((adv + 100 * l1).item(), rel=1e-4)
    d_loss, _ = step.loss("D", batch, context())
    with torch.no_grad():
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        real, fake_scores = d(torch.cat([s, t], 1)), d(torch.cat([s, fake], 1))
        expected = 0.5 * (bce(real, torch.ones_like(real)) + bce(fake_scores, torch.zeros_like(fake_scores)))
    assert d_loss.item() == pytest.approx(expected.item(), rel=1e-4)


@pytest.mark.parametrize("dims", [2, 3])
def test_one_engine_step_updates_every_network(tmp_path, dims):
    step = cyclegan(dims)
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in step.networks.items()}
    trainer = Trainer(step, tmp_path / "run", "cyclegan")
    trainer.fit(1)
    for name, network in step.networks.items():
        assert any(not torch.equal(p, q) for p, q in zip(before[name], network.parameters())), name
    assert trainer.optimizers["G"].param_groups[0]["betas"] == (0.5, 0.999)


def test_linear_decay_resolves_to_half_the_run(tmp_path):
    step = cyclegan(2, train={**TINY_CYCLEGAN["train"], "steps": 8})
    assert step.config.g_optimizer.schedule.decay_start == -1  # half the run, whatever its length
    trainer = Trainer(step, tmp_path / "run", "cyclegan")
    trainer.fit()  # the last step (index 7) runs at 1 - (7 - 4) / (8 - 4) of the rate
    assert trainer.optimizers["G"].param_groups[0]["lr"] == pytest.approx(2e-4 * 0.25)


def test_resume_equals_uninterrupted(tmp_path):
    from safetensors.torch import load_file

    from medgan.training.checkpoint import list_checkpoints

    def run(folder, stop):
        train = {**TINY_CYCLEGAN["train"], "steps": 4, "checkpoint_every": 2}
        trainer = Trainer(cyclegan(2, train=train, pool_size=2), tmp_path / folder, "cyclegan", resume=True)
        trainer.fit(stop)
        return trainer

    run("a", 4)
    run("b", 2)
    run("b", 4)
    a, b = (load_file(str(list_checkpoints(tmp_path / f / "checkpoints")[-1] / "networks.safetensors")) for f in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
