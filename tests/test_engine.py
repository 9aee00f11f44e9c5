"""Engine parts: adversarial losses, gradient penalty, EMA, checkpoint round trip, sampler, schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medgan.config import load_config
from medgan.errors import ConfigError
from medgan.training.checkpoint import (
    join_tensors,
    list_checkpoints,
    load_networks,
    load_state,
    save_checkpoint,
    split_tensors,
)
from medgan.training.config import ScheduleConfig, TrainConfig
from medgan.training.data import IndexSampler
from medgan.training.ema import EMA
from medgan.training.grid import grid_array
from medgan.training.loop import schedule_factor
from medgan.training.losses import LOSS_NAMES, AdversarialLoss, LossConfig, discriminator_loss, gradient_penalty


@pytest.mark.parametrize("kind", LOSS_NAMES)
def test_one_training_step_per_loss_lowers_the_discriminator_loss(kind):
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(8, 1))
    real, fake = torch.randn(16, 1, 8) + 2, torch.randn(16, 1, 8) - 2
    config = LossConfig(kind=kind)
    optimizer = torch.optim.SGD(critic.parameters(), lr=0.01)
    before, stats = discriminator_loss(config, critic, real, fake, torch.Generator().manual_seed(0))
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    after, _ = discriminator_loss(config, critic, real, fake, torch.Generator().manual_seed(0))
    assert after.item() < before.item()
    assert ("D_gp" in stats) == (kind == "wgan-gp")
    # the generator loss falls when fakes score as real
    loss = AdversarialLoss(kind)
    assert loss.generator(torch.full((4, 1), 3.0)) < loss.generator(torch.full((4, 1), -3.0))


def test_loss_values_match_their_definitions():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-0.5, 1.5])
    assert AdversarialLoss("hinge").discriminator(real, fake) == pytest.approx(0.25 + 1.5)
    assert AdversarialLoss("lsgan").discriminator(real, fake) == pytest.approx((1 + 0.25) / 2 + (0.25 + 2.25) / 2)
    assert AdversarialLoss("wgan-gp").discriminator(real, fake) == pytest.approx(0.5 - 1.25)
    assert AdversarialLoss("bce").generator(torch.tensor([0.0])) == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match="unknown adversarial loss"):
        AdversarialLoss("wasserstein")


def test_gradient_penalty_of_a_linear_critic_is_exact():
    weight = torch.tensor([3.0, 4.0])  # gradient norm 5 everywhere

    def critic(x):
        return x @ weight

    penalty = gradient_penalty(critic, torch.randn(6, 2), torch.randn(6, 2), torch.Generator().manual_seed(1))
    assert penalty.item() == pytest.approx(16.0)


def test_drift_term_is_added_for_wgan_gp():
    critic = nn.Linear(3, 1)
    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    plain, _ = discriminator_loss(LossConfig("wgan-gp", drift=0.0), critic, real, fake,
                                  torch.Generator().manual_seed(0))
    drifted, stats = discriminator_loss(LossConfig("wgan-gp", drift=0.5), critic, real, fake,
                                        torch.Generator().manual_seed(0))
    assert drifted.item() == pytest.approx(plain.item() + 0.5 * (critic(real) ** 2).mean().item(), rel=1e-5)
    assert "D_drift" in stats


def test_ema_averages_parameters_and_copies_buffers():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EMA(net, decay=0.75)
    old = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(7.0)
    ema.update(net)
    for average, start, current in zip(ema.module.parameters(), old, net.parameters()):
        assert torch.allclose(average, 0.75 * start + 0.25 * current)
    assert torch.equal(ema.module[1].running_mean, torch.full((2,), 7.0))
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_checkpoint_round_trip_is_exact(tmp_path):
    state = {"optim": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(4)}}, "alpha": 0.1 + 0.2,
             "pool": [torch.randn(2, 2)], "shape": (4, 4), "name": "x", "none": None}
    tensors: dict[str, torch.Tensor] = {}
    restored = join_tensors(split_tensors(state, "s", tensors), tensors)
    assert restored["alpha"] == 0.1 + 0.2 and restored["shape"] == (4, 4) and 0 in restored["optim"]
    net = nn.Linear(3, 2)
    save_checkpoint(tmp_path, 7, {"net/G": net.state_dict()}, state)
    (found,) = list_checkpoints(tmp_path)
    step, loaded = load_state(found)
    assert step == 7 and torch.equal(loaded["optim"][0]["exp_avg"], state["optim"][0]["exp_avg"])
    assert torch.equal(load_networks(found)["net/G"]["weight"], net.weight)
    with pytest.raises(TypeError, match="object"):
        split_tensors({"bad": object()}, "s", {})


def test_sampler_resumes_and_shards():
    one = IndexSampler(10, seed=3)
    first = [one.next(4) for _ in range(3)]
    assert sorted(np.concatenate(first)[:10].tolist()) == list(range(10))
    again = IndexSampler(10, seed=3)
    again.next(4)
    state = again.state_dict()
    resumed = IndexSampler(10, seed=3)
    resumed.load_state_dict(state)
    assert np.array_equal(resumed.next(4), first[1]) and np.array_equal(resumed.next(4), first[2])
    ranks = [IndexSampler(10, seed=3, rank=r, world_size=2) for r in range(2)]
    shards = [s.next(4) for s in ranks]
    assert sorted(np.concatenate(shards).tolist()) == sorted(first[0].tolist())
    with pytest.raises(ValueError, match="divide"):
        ranks[0].next(3)


def test_linear_decay_schedule():
    schedule = ScheduleConfig(kind="linear-decay", decay_start=100)
    assert schedule_factor(schedule, 50, 200) == 1.0
    assert schedule_factor(schedule, 150, 200) == pytest.approx(0.5)
    assert schedule_factor(schedule, 200, 200) == 0.0
    assert schedule_factor(ScheduleConfig(), 150, 200) == 1.0


def test_train_config_rejects_unknown_and_bad_settings():
    with pytest.raises(ConfigError, match="unknown setting 'step'"):
        load_config({"step": 3}, TrainConfig)
    with pytest.raises(ConfigError, match="batch_size"):
        load_config({"batch_size": 0}, TrainConfig)


def test_grid_tiles_samples_by_channel():
    images = torch.zeros(3, 2, 8, 6, 4)
    images[1, 1] = 1.0
    grid = grid_array(images, pad=2)
    assert grid.shape == (3 * 8 + 2, 2 * 10 + 2) and grid.dtype == np.uint8
    assert grid[2 + 8 + 3, 2 + 10 + 3] == 255 and grid[3, 3] == 127


@pytest.mark.parametrize("seed", [-1, 2**63, 2**70, 1.5, True, "3"])
def test_seeds_outside_the_accepted_range_are_refused_not_wrapped(seed):
    with pytest.raises(ConfigError, match=r"seed.*integer"):
        load_config({"seed": seed}, TrainConfig)
    config = TrainConfig()
    with pytest.raises(ConfigError, match=r"^train\.seed must be an integer from 0 to 2\*\*63 - 1, found"):
        config.seed = seed  # as `--seed` does after the config is loaded
    assert config.seed == 0


def test_the_largest_seed_gives_distinct_streams_without_overflow():
    from medgan.training.rng import seed_all, stream_seed

    top = 2**63 - 1
    assert TrainConfig(seed=top).seed == top
    streams = {stream_seed(top, rank) for rank in range(4)} | {stream_seed(top - 1, 0), stream_seed(0, 0)}
    assert len(streams) == 6 and all(0 <= s < 2**64 for s in streams)
    assert stream_seed(5, 1, 0) == 5 * 1_000_003 + 1  # small seeds: the streams of earlier versions
    seed_all(stream_seed(top, 3))  # torch, numpy and Python accept it
    torch.Generator().manual_seed(stream_seed(top, 3))


def test_global_random_states_round_trip_through_a_checkpoint(tmp_path):
    import random

    from medgan.training.rng import get_state, seed_all, set_state

    seed_all(11)
    torch.rand(3), np.random.rand(3), random.random(), np.random.standard_normal()  # has_gauss / cached values
    save_checkpoint(tmp_path, 1, {}, {"rng": get_state(torch.device("cpu"))})
    expected = torch.rand(2), np.random.rand(2), random.random(), random.gauss(0, 1)
    seed_all(99)
    _, state = load_state(list_checkpoints(tmp_path)[-1])
    set_state(state["rng"], torch.device("cpu"))
    again = torch.rand(2), np.random.rand(2), random.random(), random.gauss(0, 1)
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2:] == again[2:]
