"""The engine trains and exactly resumes a family it has never seen (tests/toy_family.py): two
generators, two discriminators, an image pool, per-network Adam, n_critic, a custom schedule, EMA,
and extra checkpointed state."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

import tests.toy_family  # noqa: F401  (registers "toy-cycle")
from medgan.errors import ConfigError
from medgan.training.checkpoint import list_checkpoints, load_state
from medgan.training.loop import Trainer
from tests.toy_family import ToyConfig, ToyCycleStep


def build(config: ToyConfig) -> ToyCycleStep:
    torch.manual_seed(config.train.seed)
    return ToyCycleStep(config, 0, 1)


def final_weights(run) -> dict[str, torch.Tensor]:
    return load_file(str(list_checkpoints(run / "checkpoints")[-1] / "networks.safetensors"))


def test_kill_and_resume_equals_uninterrupted(tmp_path):
    config = ToyConfig()
    Trainer(build(config), tmp_path / "a", "toy-cycle").fit()

    killed = build(config)
    killed.crash_at_step = 4
    with pytest.raises(KeyboardInterrupt):
        Trainer(killed, tmp_path / "b", "toy-cycle").fit()
    assert [p.name for p in list_checkpoints(tmp_path / "b" / "checkpoints")] == ["step-00000003"]
    resumed = Trainer(build(config), tmp_path / "b", "toy-cycle", resume=True)
    assert resumed.start == 3 and resumed.step_obj.alpha == pytest.approx(0.6)
    resumed.fit()

    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    assert set(a) == set(b) and any(k.startswith("ema/G_ab/") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    step_a, state_a = load_state(list_checkpoints(tmp_path / "a" / "checkpoints")[-1])
    step_b, state_b = load_state(list_checkpoints(tmp_path / "b" / "checkpoints")[-1])
    assert step_a == step_b == 6
    assert state_a["family"]["images_seen"] == state_b["family"]["images_seen"] == 4 * 3 + 2 * 3
    assert all(torch.equal(x, y) for x, y in zip(state_a["family"]["pool"], state_b["family"]["pool"]))
    stats_a = [json.loads(x) for x in (tmp_path / "a" / "stats.jsonl").read_text().splitlines()]
    stats_b = [json.loads(x) for x in (tmp_path / "b" / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats_b] == list(range(1, 7))
    assert [s["losses"] for s in stats_a] == [s["losses"] for s in stats_b]


def test_phases_schedule_and_per_network_optimisers(tmp_path):
    config = ToyConfig()
    trainer = Trainer(build(config), tmp_path / "run", "toy-cycle")
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in trainer.step_obj.networks.items()}
    trainer.fit(1)
    for name, network in trainer.step_obj.networks.items():
        assert any(not torch.equal(p, q) for p, q in zip(before[name], network.parameters())), name
    stats = [json.loads(x) for x in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert stats[0]["lr"] == {"G": pytest.approx(1e-3), "D": pytest.approx(2e-3)}
    assert {"G_adv", "G_cycle", "D"} <= set(stats[0]["losses"])
    assert trainer.optimizers["D"].param_groups[0]["betas"] == (0.0, 0.9)
    # n_critic = 2 discriminator updates per step
    assert int(trainer.optimizers["D"].state_dict()["state"][0]["step"]) == 2
    assert int(trainer.optimizers["G"].state_dict()["state"][0]["step"]) == 1
    trainer.fit(4)  # custom schedule: 0.5 ** (step // 2) * (1 + alpha), alpha grows by 0.2 per step
    assert trainer.optimizers["G"].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5 * 1.6)


def test_run_folder_contents_and_refusals(tmp_path):
    config = ToyConfig()
    config.train.sample_every = 3
    Trainer(build(config), tmp_path / "run", "toy-cycle").fit()
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["family"] == "toy-cycle" and saved["n_critic"] == 2 and saved["train"]["steps"] == 6
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["step-00000003.png",
                                                                                 "step-00000006.png"]
    assert len(list_checkpoints(tmp_path / "run" / "checkpoints")) == 2
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(build(config), tmp_path / "run", "toy-cycle")
    other = ToyConfig(n_critic=3)
    with pytest.raises(ConfigError, match="n_critic"):
        Trainer(build(other), tmp_path / "run", "toy-cycle", resume=True)


def test_a_run_does_not_depend_on_what_ran_before_in_the_process(tmp_path):
    import random

    import numpy as np

    def run(folder, seed=0):
        config = ToyConfig()
        config.train.seed = seed
        return Trainer(build(config), tmp_path / folder, "toy-cycle")

    first = run("a")
    after_start = torch.rand(2), np.random.rand(2), random.random()  # every global state is seeded
    first.fit()
    # other work in between: another run, draws from every global generator, a reseeded numpy
    run("other", seed=5).fit()
    torch.rand(7), np.random.seed(3), np.random.rand(5), random.seed(4), random.random()
    second = run("b")
    assert torch.equal(after_start[0], torch.rand(2)) and np.array_equal(after_start[1], np.random.rand(2))
    assert after_start[2] == random.random()
    second.fit()
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    other = final_weights(tmp_path / "other")
    assert not torch.equal(a["net/G_ab/0.weight"], other["net/G_ab/0.weight"])
