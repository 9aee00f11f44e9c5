"""Staged training through the unchanged engine (tests/staged_family.py, ConSinGAN-like): the trained
set and the learning-rate multiples change with the stage, optimisers restart with fresh moments at
each stage, and a run killed just before, at, or after a stage boundary resumes bit for bit."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

import tests.staged_family  # noqa: F401  (registers "toy-staged")
from medgan.errors import ConfigError, DataError
from medgan.training.checkpoint import list_checkpoints, load_state
from medgan.training.loop import Trainer
from medgan.training.step import OptimizerSpec, ParamGroup
from tests.staged_family import StagedConfig, StagedStep


def build(config: StagedConfig) -> StagedStep:
    torch.manual_seed(config.train.seed)
    return StagedStep(config, 0, 1)


def snapshot(step: StagedStep) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in step.networks["G"].named_parameters()}


def changed(before: dict[str, torch.Tensor], step: StagedStep, prefix: str) -> bool:
    params = dict(step.networks["G"].named_parameters())
    return any(not torch.equal(before[n], params[n]) for n in before if n.startswith(prefix))


def test_trained_set_learning_rates_and_fresh_moments_follow_the_stage(tmp_path):
    config = StagedConfig()
    step = build(config)
    trainer = Trainer(step, tmp_path / "run", "toy-staged")
    g = step.networks["G"]

    trainer.fit(4)  # stage 0: head, body.0, tail; body.1 and body.2 untouched
    before = snapshot(step)
    assert [group["lr"] for group in trainer.optimizers["G"].param_groups] == pytest.approx([5e-3] * 3)
    trainer.fit(5)  # step 4: 80 % into stage 0, the rate drops 10x; then stage 1 starts
    assert trainer.layouts["G"] == {"layout": {"stage": 1, "groups": [["G.head"], ["G.body.0"], ["G.body.1"],
                                                                      ["G.tail"]]}, "built_at": 5}
    assert trainer.optimizers["G"].state == {} and trainer.optimizers["D"].state == {}  # fresh Adam moments
    assert not changed(before, step, "body.1.") and not changed(before, step, "body.2.")
    assert changed(before, step, "body.0.")

    trainer.fit(6)  # stage 1: the lower stage and the head at 0.1x
    assert [group["lr"] for group in trainer.optimizers["G"].param_groups] == pytest.approx([5e-4, 5e-4, 5e-3, 5e-3])
    moments = trainer.optimizers["G"].state[g.tail[0].weight]
    assert int(moments["step"]) == 1  # counted from the stage start
    trainer.fit(10)
    before = snapshot(step)
    trainer.fit(13)  # stage 2 from step 10: head and body.0 frozen, body.1 at 0.1x, body.2 at 1x
    assert step.stage == 2 and trainer.layouts["G"]["built_at"] == 10
    assert [group["lr"] for group in trainer.optimizers["G"].param_groups] == pytest.approx([5e-4, 5e-3, 5e-3])
    assert not any(p.requires_grad for p in g.body[0].parameters())
    assert not changed(before, step, "body.0.") and not changed(before, step, "head.")
    assert changed(before, step, "body.2.") and changed(before, step, "body.1.")
    _, state = load_state(list_checkpoints(tmp_path / "run" / "checkpoints")[-1])
    assert state["optimizer_layouts"]["D"] == {"layout": {"stage": 2, "groups": [["D"]]}, "built_at": 10}


@pytest.mark.parametrize("checkpoint_at", [4, 5, 7], ids=["before-stage-start", "at-stage-start", "mid-stage"])
def test_kill_and_resume_around_a_stage_start_equals_uninterrupted(tmp_path, checkpoint_at):
    Trainer(build(StagedConfig()), tmp_path / "a", "toy-staged").fit()

    config = StagedConfig()
    config.train.checkpoint_every = checkpoint_at
    killed = build(config)
    killed.crash_at_step = checkpoint_at + 1
    with pytest.raises(KeyboardInterrupt):
        Trainer(killed, tmp_path / "b", "toy-staged").fit()
    assert [p.name for p in list_checkpoints(tmp_path / "b" / "checkpoints")] == [f"step-{checkpoint_at:08d}"]
    resumed = Trainer(build(config), tmp_path / "b", "toy-staged", resume=True)
    assert resumed.start == checkpoint_at
    resumed.fit()

    a = list_checkpoints(tmp_path / "a" / "checkpoints")[-1]
    b = list_checkpoints(tmp_path / "b" / "checkpoints")[-1]
    weights_a, weights_b = load_file(str(a / "networks.safetensors")), load_file(str(b / "networks.safetensors"))
    assert set(weights_a) == set(weights_b)
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key
    state_a, state_b = load_file(str(a / "state.safetensors")), load_file(str(b / "state.safetensors"))
    assert set(state_a) == set(state_b)
    for key in state_a:  # Adam moments and RNG states too
        assert torch.equal(state_a[key], state_b[key]), key


def test_a_checkpoint_whose_optimiser_layout_disagrees_with_the_family_state_is_refused(tmp_path):
    config = StagedConfig()
    Trainer(build(config), tmp_path / "run", "toy-staged").fit(6)
    path = list_checkpoints(tmp_path / "run" / "checkpoints")[-1] / "state.json"
    text = path.read_text()
    assert text.count('"G.body.1"') == 1
    path.write_text(text.replace('"G.body.1"', '"G.body.2"'))
    with pytest.raises(DataError, match=r"state.json: .*optimizer 'G' was saved for .*G\.body\.2"):
        Trainer(build(config), tmp_path / "run", "toy-staged", resume=True)


def test_bad_parameter_groups_are_config_errors(tmp_path):
    step = build(StagedConfig())
    step.optimizers["G"] = OptimizerSpec(("G",), groups=(ParamGroup(("G.body.0",)), ParamGroup(("G.body",))))
    with pytest.raises(ConfigError, match="two parameter groups"):
        Trainer(step, tmp_path / "a", "toy-staged")
    step.optimizers["G"] = OptimizerSpec(("G",), groups=(ParamGroup(("G.neck",)),))
    with pytest.raises(ConfigError, match="no submodule 'neck'"):
        Trainer(step, tmp_path / "b", "toy-staged")
    step.optimizers["G"] = OptimizerSpec(("G",), groups=(ParamGroup(("D",)),))
    with pytest.raises(ConfigError, match="not part of its networks"):
        Trainer(step, tmp_path / "c", "toy-staged")
