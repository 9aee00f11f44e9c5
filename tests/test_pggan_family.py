"""The pggan family on the shared engine: training steps at two resolutions, Adam moments restarted
when a fade-in starts and ends, exact resume through level changes, synthesis (volumes, label maps,
interpolation), the benchmark stage, and the command line end to end on the sample data."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from medgan.cli import main
from medgan.families.pggan import PGGANConfig, sample_label_maps
from medgan.families.pggan.step import PGGANStep
from medgan.io.datasets import load_dataset
from medgan.registry import SYNTHESIS_STAGES
from medgan.training.checkpoint import list_checkpoints, load_state
from medgan.training.config import TrainConfig
from medgan.training.loop import Trainer

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "brats"


def disc_cases(n: int = 6, size: tuple[int, ...] = (16, 16), seed: int = 0) -> list[dict]:
    """Small labelled cases: a bright disc (label 1) with a darker core (label 2) on a dark background."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in size], indexing="ij"))
    cases = []
    for i in range(n):
        centre = np.array(size) / 2 + rng.uniform(-2, 2, len(size))
        r = np.sqrt(((grid - centre.reshape((-1,) + (1,) * len(size))) ** 2).sum(0))
        label = np.where(r < 3, 2, np.where(r < 6, 1, 0)).astype(np.int64)[None]
        image = np.stack([label[0] * 100.0 + rng.normal(0, 5, size), (label[0] > 0) * 50.0])
        affine = np.diag([2.0, 2.0, 2.0, 1.0])
        cases.append({"image": image.astype(np.float32), "label": label, "id": f"case{i}",
                      "meta": {"affine": affine, "spacing": [2.0] * len(size), "modalities": ["t1", "t2"]}})
    return cases


def tiny_config(steps: int = 6, **growth) -> PGGANConfig:
    config = PGGANConfig(train=TrainConfig(steps=steps, seed=3, device="cpu", log_every=1, checkpoint_every=0,
                                           sample_every=0, n_samples=2, progress=False, ema_decay=0.9))
    config.model.resolution, config.model.latent_dim = 16, 8
    config.model.fmap_base, config.model.fmap_max = 32, 8
    config.growth.fade_images = growth.get("fade", 8)
    config.growth.stable_images = growth.get("stable", 4)
    config.growth.batch_sizes = growth.get("batch_sizes", [4, 2])
    return config


def build(config: PGGANConfig, cases: list[dict]) -> PGGANStep:
    torch.manual_seed(config.train.seed)
    return PGGANStep(config, cases=cases)


def test_one_training_step_at_two_resolutions(tmp_path):
    config = tiny_config(stable=4, fade=8)
    step = build(config, disc_cases())
    assert config.model.base_shape == [4, 4] and config.model.levels == 2
    assert config.data.label_values == [0, 1, 2] and config.data.modalities == ["t1", "t2"]
    trainer = Trainer(step, tmp_path / "run", "pggan")
    params = {n: [p.detach().clone() for p in m.parameters()] for n, m in step.networks.items()}
    g = step.networks["G"]
    level1_block = [p.detach().clone() for p in g.blocks[0].parameters()]

    trainer.fit(1)  # level 0 (4x4), batch 4
    assert step.images_seen == 4 and (step.level, step.alpha) == (1, 0.0)
    for name, network in step.networks.items():
        assert any(not torch.equal(p, q) for p, q in zip(params[name], network.parameters())), name
    # a block that is not yet in use gets no gradient, so Adam leaves it alone
    assert all(torch.equal(p, q) for p, q in zip(level1_block, g.blocks[0].parameters()))

    trainer.fit(2)  # level 1 (8x8) fading in with alpha 0, batch 2: the new block still gets zero gradient
    assert step.images_seen == 6 and step.level == 1 and step.alpha == pytest.approx(0.25)
    assert all(torch.equal(p, q) for p, q in zip(level1_block, g.blocks[0].parameters()))
    trainer.fit(3)  # alpha 0.25: now it learns
    assert step.images_seen == 8 and step.alpha == pytest.approx(0.5)
    assert any(not torch.equal(p, q) for p, q in zip(level1_block, g.blocks[0].parameters()))
    assert next(iter(step.next_batch(trainer.context(2)).values())).shape == (2, 5, 8, 8)


def test_adam_moments_restart_when_a_fade_in_starts_and_ends(tmp_path):
    # batch 4 at level 0, then 2: level 1 fades in over steps 1-4 (images 4..12), is stable for steps 4-5,
    # level 2 fades in from step 6 (images 16)
    config = tiny_config(steps=8, stable=4, fade=8)
    step = build(config, disc_cases())
    trainer = Trainer(step, tmp_path / "run", "pggan")
    g = step.networks["G"]
    events = {}
    for index in range(8):
        trainer.train_step(index)
        events[index + 1] = {name: v["built_at"] for name, v in trainer.layouts.items()}
    assert [events[k]["G"] for k in range(1, 9)] == [1, 1, 1, 1, 5, 5, 7, 7]
    assert events == {k: {"G": v["G"], "D": v["G"]} for k, v in events.items()}  # the critic restarts alike
    assert (step.level, step.alpha) == (2, pytest.approx(0.25))
    moments = trainer.optimizers["G"].state
    assert int(moments[g.blocks[0].conv1.weight]["step"]) == 1  # stepped once since level 2 began
    assert g.to_output[0].weight not in moments  # level 0's output layer is no longer trained
    assert trainer.layouts["G"]["layout"]["groups"] == [["G.dense", "G.base_conv", "G.blocks.0", "G.blocks.1",
                                                         "G.to_output.2", "G.to_output.1"]]


@pytest.mark.parametrize("checkpoint_at", [1, 3, 5, 6], ids=["fade-start", "mid-fade", "fade-end", "before-level-2"])
def test_resume_through_level_changes_equals_uninterrupted(tmp_path, checkpoint_at):
    config = tiny_config(steps=8, stable=4, fade=8)
    Trainer(build(config, disc_cases()), tmp_path / "a", "pggan").fit()

    config_b = tiny_config(steps=8, stable=4, fade=8)
    Trainer(build(config_b, disc_cases()), tmp_path / "b", "pggan").fit(checkpoint_at)
    saved = yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())
    from medgan.config import load_config

    saved.pop("family")
    resumed = Trainer(build(load_config(saved, PGGANConfig), disc_cases()), tmp_path / "b", "pggan", resume=True)
    assert resumed.start == checkpoint_at
    resumed.fit()

    a = load_file(str(list_checkpoints(tmp_path / "a" / "checkpoints")[-1] / "networks.safetensors"))
    b = load_file(str(list_checkpoints(tmp_path / "b" / "checkpoints")[-1] / "networks.safetensors"))
    assert set(a) == set(b) and any(k.startswith("ema/G/") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    _, state_a = load_state(list_checkpoints(tmp_path / "a" / "checkpoints")[-1])
    _, state_b = load_state(list_checkpoints(tmp_path / "b" / "checkpoints")[-1])
    assert state_a["family"] == state_b["family"] and state_a["family"]["level"] == 2
    assert state_a["optimizer_layouts"] == state_b["optimizer_layouts"]


def test_benchmark_stage_returns_labelled_cases_on_context_grid(tmp_path):
    stage_cls = SYNTHESIS_STAGES.get("pggan")
    context = disc_cases(4, size=(12, 16))
    stage = stage_cls({"train": {"steps": 2}, "growth": {"fade_images": 2, "stable_images": 2, "batch_sizes": [2]},
                       "model": {"resolution": 8, "latent_dim": 8, "fmap_base": 16, "fmap_max": 4}}, 2, "cpu")
    stage.fit(context, tmp_path / "work", seed=0)
    cases = stage.sample(3, seed=1, context=context)
    assert len(cases) == 3
    for i, case in enumerate(cases):
        assert case["image"].shape == (2, 12, 16) and case["label"].shape == (1, 12, 16)
        assert set(np.unique(case["label"])) <= {0, 1, 2}
        assert case["meta"]["source_case"] == context[i % 4]["id"]
        assert np.array_equal(case["meta"]["affine"], context[i % 4]["meta"]["affine"])
        assert case["meta"]["history"][-1]["resampled_to_data_grid"] is True  # 8x12 (model) -> 12x16
    again = stage.sample(3, seed=1, context=context)
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(cases, again))
    with pytest.raises(Exception, match="unknown setting"):
        stage_cls({"no_such_option": 1}, 2, "cpu")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """A pggan run trained by the command line on the sample data up to 14x16x14 (base 7x8x7)."""
    work = tmp_path_factory.mktemp("pggan")
    data = work / "brats"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("*t1c*", "*t2w*", "*ct*"))
    tiny = work / "tiny.yaml"
    tiny.write_text(yaml.safe_dump({
        "train": {"log_every": 1, "checkpoint_every": 0, "sample_every": 0, "n_samples": 2, "ema_decay": 0.9},
        "model": {"latent_dim": 8, "fmap_base": 16, "fmap_max": 4},
        "growth": {"fade_images": 4, "stable_images": 4, "batch_sizes": [4, 2]}}))
    run = work / "run"
    status = main(["train", "pggan", "--data", str(data), "--out", str(run), "--resolution", "16",
                   "--channels", "t1n,t2f,label", "--config", str(tiny), "--steps", "6", "--no-progress",
                   "--device", "cpu"])
    assert status == 0
    return data, run


def test_cli_train_and_synthesize_on_sample_data(sample_run, tmp_path, capsys):
    data, run = sample_run
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["family"] == "pggan" and config["model"]["base_shape"] == [7, 8, 7]
    assert config["model"]["levels"] == 1 and config["data"]["label_values"] == [0, 1, 2, 3]
    _, state = load_state(list_checkpoints(run / "checkpoints")[-1])
    assert state["family"]["level"] == 1 and state["family"]["alpha"] == 1.0  # reached 14x16x14

    out = tmp_path / "synthetic"
    assert main(["synthesize", str(run), str(out), "--n", "3", "--seed", "5"]) == 0
    assert "resampled to 56x64x56" in capsys.readouterr().out
    written = load_dataset(out)
    assert written.layout == "brats" and len(written) == 3 and list(written.modalities) == ["t1n", "t2f"]
    real = nib.load(str(next(data.glob("*/*-t1n.nii.gz"))))
    for case in written:
        assert case["image"].shape == (2, 56, 64, 56) and case["label"].shape == (1, 56, 64, 56)
        assert set(np.unique(case["label"])) <= {0, 1, 2, 3}
        assert np.allclose(case["meta"]["affine"], real.affine, atol=1e-4)

    native = tmp_path / "native"
    assert main(["synthesize", str(run), str(native), "--n", "1", "--grid", "model"]) == 0
    image = nib.load(str(next(native.glob("*/*-t1n.nii.gz"))))
    assert image.shape == (14, 16, 14)
    assert np.allclose(np.array(image.header.get_zooms()[:3]), np.array(real.header.get_zooms()[:3]) * 4)

    interp = tmp_path / "interp"
    assert main(["synthesize", str(run), str(interp), "--n", "3", "--interpolate", "--grid", "model"]) == 0
    frames = sorted(interp.glob("pggan-interp-*/*-t1n.nii.gz"))
    assert len(frames) == 3
    volumes = [nib.load(str(f)).get_fdata() for f in frames]
    assert not np.allclose(volumes[0], volumes[2])
    assert "t" in (interp / "manifest.csv").read_text().splitlines()[0].split(",")


def test_sample_label_maps_for_spade(sample_run):
    _, run = sample_run
    maps = sample_label_maps(run, n=2, seed=7)
    again = sample_label_maps(run, n=2, seed=7)
    assert len(maps) == 2
    for (label, meta), (label2, _) in zip(maps, again):
        assert label.shape == (1, 56, 64, 56) and label.dtype == np.int64
        assert set(np.unique(label)) <= {0, 1, 2, 3} and meta["label_values"] == [0, 1, 2, 3]
        assert meta["affine"].shape == (4, 4) and meta["history"][-1]["seed"] == 7
        assert np.array_equal(label, label2)
    small = sample_label_maps(run, n=1, seed=7, grid="model")
    assert small[0][0].shape == (1, 14, 16, 14)


def test_cli_errors_are_one_line(tmp_path, capsys):
    status = main(["train", "pggan", "--data", str(SAMPLE), "--out", str(tmp_path / "r"), "--channels", "t1n,flair",
                   "--steps", "1", "--no-progress"])
    assert status == 2
    assert "channel 'flair' is not a modality" in capsys.readouterr().err
    status = main(["train", "pggan", "--data", str(SAMPLE), "--out", str(tmp_path / "r"), "--resolution", "100",
                   "--steps", "1", "--no-progress"])
    assert status == 2


def test_pggan_run_is_a_spade_mask_source(sample_run):
    """noise -> label map -> image: SPADE's `pggan` mask source samples label maps from a pggan run."""
    from medgan.families.spade.masks import MASK_SOURCES

    data, run = sample_run
    source = MASK_SOURCES.get("pggan")({"run": str(run)})
    masks = source.masks(2, seed=5, context_cases=[])
    assert len(masks) == 2
    label, meta = masks[0]
    assert label.shape == (1, 56, 64, 56) and np.issubdtype(label.dtype, np.integer)
    assert set(np.unique(label)) <= {0, 1, 2, 3}
    assert meta["affine"].shape == (4, 4) and meta["history"][-1]["name"] == "label_map_generator"
    again = source.masks(2, seed=5, context_cases=[])
    assert np.array_equal(again[0][0], label)
