"""DCGAN networks and the lesion-GAN family on the engine: shapes, one step per loss, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from medgan.errors import ConfigError, DataError
from medgan.families.lesion_gan import LesionGANConfig
from medgan.families.lesion_gan.patches import extract_lesion_patches
from medgan.families.lesion_gan.step import LesionGANStep
from medgan.io import load_dataset
from medgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from medgan.training.checkpoint import list_checkpoints
from medgan.training.loop import Trainer
from medgan.training.losses import LOSS_NAMES
from medgan.transforms.insertion import crop_centred
from tests.lesion_data import make_lesion_dataset


@pytest.mark.parametrize(("dims", "size"), [(2, 64), (3, 32), (2, 16), (3, 8)])
@pytest.mark.parametrize("classes", [0, 3])
def test_generator_and_discriminator_shapes(dims, size, classes):
    g = DCGANGenerator(dims, 3, size, latent_dim=16, base_channels=4, num_classes=classes)
    d = DCGANDiscriminator(dims, 3, size, base_channels=4, num_classes=classes)
    labels = torch.tensor([0, 2]) if classes else None
    images = g(torch.randn(2, 16), labels)
    assert images.shape == (2, 3) + (size,) * dims
    assert images.abs().max() <= 1.0
    assert d(images, labels).shape == (2,)


def test_bad_sizes_and_missing_classes_are_refused():
    with pytest.raises(ValueError, match="power of two"):
        DCGANGenerator(2, 2, 48)
    with pytest.raises(ValueError, match="spatial_dims"):
        DCGANDiscriminator(4, 2, 32)
    with pytest.raises(ValueError, match="class-conditional"):
        DCGANGenerator(2, 2, 8, latent_dim=4, num_classes=2)(torch.randn(1, 4))


def test_patches_are_centred_on_each_lesion_with_its_class(tmp_path):
    data = make_lesion_dataset(tmp_path / "data", spatial_dims=3, n=2)
    dataset = load_dataset(data)
    patches = extract_lesion_patches(dataset, ["case00", "case01", "case02"], 3, 8, jitter=2)
    assert patches.images.shape == (4, 1, 12, 12, 12) and sorted(patches.classes.tolist()) == [1, 1, 2, 2]
    assert all(source in ("case00", "case01") for source, _ in patches.sources)
    for labels, lesion_class in zip(patches.labels, patches.classes):
        assert labels[6, 6, 6] == lesion_class and set(np.unique(labels)) == {0, int(lesion_class)}
    flat = extract_lesion_patches(dataset, ["case00"], 2, 8)
    assert flat.images.shape == (2, 1, 8, 8)
    with pytest.raises(DataError, match="no lesion"):
        extract_lesion_patches(dataset, ["case02"], 3, 8)
    assert crop_centred(np.arange(5.0), [0], [3], -1.0).tolist() == [-1.0, 0.0, 1.0]


def small_config(data, dims: int, kind: str = "bce", steps: int = 2) -> LesionGANConfig:
    config = LesionGANConfig()
    config.data.path = str(data)
    config.data.patch_size, config.data.jitter = 16, 1
    config.model.latent_dim, config.model.g_channels, config.model.d_channels = 8, 4, 4
    config.loss.kind = kind
    config.train.steps, config.train.batch_size, config.train.progress = steps, 4, False
    config.train.log_every, config.train.checkpoint_every, config.train.n_samples = 1, 2, 4
    return config


@pytest.mark.parametrize("kind", LOSS_NAMES)
@pytest.mark.parametrize("dims", [2, 3])
def test_one_training_step_per_loss(tmp_path, kind, dims):
    data = make_lesion_dataset(tmp_path / "data", spatial_dims=dims, n=2, size=24)
    config = small_config(data, dims, kind, steps=1)
    torch.manual_seed(0)
    step = LesionGANStep(config)
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in step.networks.items()}
    trainer = Trainer(step, tmp_path / "run", "lesion-gan")
    trainer.fit()
    for name, network in step.networks.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], network.parameters())), name
    assert config.data.classes == [1, 2] and step.conditional
    assert (tmp_path / "run" / "samples" / "step-00000001.png").is_file()
    norm = type(step.networks["D"].body[3]).__name__
    assert norm == ("GroupNorm" if kind == "wgan-gp" else ("BatchNorm2d" if dims == 2 else "BatchNorm3d"))


def test_excluded_cases_never_reach_training(tmp_path):
    data = make_lesion_dataset(tmp_path / "data", spatial_dims=2, n=3, size=24)
    config = small_config(data, 2)
    config.data.exclude_cases = ["case00", "case02"]
    step = LesionGANStep(config)
    assert {source for source, _ in step.patches.sources} == {"case01"}
    config = small_config(data, 2)
    config.data.exclude_cases = ["nope"]
    with pytest.raises(DataError, match="nope"):
        LesionGANStep(config)


def test_lesion_gan_resume_equals_uninterrupted(tmp_path):
    data = make_lesion_dataset(tmp_path / "data", spatial_dims=3, n=2, size=24)

    def run(folder, steps, resume=False):
        config = small_config(data, 3, "wgan-gp", steps=4)
        config.n_critic = 2
        torch.manual_seed(config.train.seed)
        trainer = Trainer(LesionGANStep(config), folder, "lesion-gan", resume=resume)
        trainer.fit(steps)
        return trainer

    run(tmp_path / "a", 4)
    run(tmp_path / "b", 2)  # stops after the checkpoint of step 2, as a killed run would
    assert run(tmp_path / "b", 4, resume=True).start == 4
    a = load_file(str(list_checkpoints(tmp_path / "a" / "checkpoints")[-1] / "networks.safetensors"))
    b = load_file(str(list_checkpoints(tmp_path / "b" / "checkpoints")[-1] / "networks.safetensors"))
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_patch_augmentation_enlarges_the_training_set(tmp_path):
    from medgan.families.lesion_gan import build

    data = make_lesion_dataset(tmp_path / "data", spatial_dims=2, n=2, size=24)
    config = small_config(data, 2)
    config.data.augment = "spatial"
    step = build(config, 0, 1)
    assert step.augment is not None
    rng = np.random.default_rng(3)
    a, b = step._sample(0, rng), step._sample(0, rng)
    assert a.shape == b.shape and not np.array_equal(a, b)
    plain = build(small_config(data, 2), 0, 1)
    assert plain.augment is None
    masks = a[-1]
    assert set(np.unique(masks)) <= set(np.unique(plain._sample(0, np.random.default_rng(0))[-1]))
    config.data.augment = str(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        build(config, 0, 1)
