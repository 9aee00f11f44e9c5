"""The lesion GAN's label channel: encode -> decode is the identity on real patches in every mask mode,
the encoding is recorded in the run, and synthesis decodes with exactly that encoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from medgan.errors import DataError
from medgan.families.lesion_gan import LesionGANConfig
from medgan.families.lesion_gan.codec import MaskCodec
from medgan.families.lesion_gan.patches import extract_lesion_patches
from medgan.families.lesion_gan.sampling import LesionGenerator
from medgan.families.lesion_gan.step import LesionGANStep
from medgan.io import load_dataset
from medgan.training.loop import Trainer
from tests.conftest import SAMPLE_DATA
from tests.lesion_data import make_lesion_dataset


@pytest.fixture(scope="module")
def brats_patches():
    dataset = load_dataset(SAMPLE_DATA / "brats")
    ids = [ref.id for ref in dataset.cases if ref.label is not None]
    return extract_lesion_patches(dataset, ids, 3, 32, jitter=0)  # 32 voxels hold every tumour whole


def test_labels_mode_round_trip_is_the_identity_on_real_brats_patches(brats_patches):
    values = sorted({0, *np.unique(brats_patches.labels).tolist()})
    assert values == [0, 1, 2, 3]
    codec = MaskCodec("labels", values)
    decoded = codec.decode(codec.encode(brats_patches.labels))
    assert np.array_equal(decoded, brats_patches.labels)
    # the encoding the old decoder got wrong: a lesion's class is its most frequent label (2, oedema),
    # not its largest one (3), so value / max(classes) shifted every label down
    assert set(brats_patches.classes.tolist()) == {2}


def test_labels_mode_handles_non_contiguous_values_and_refuses_unknown_ones():
    codec = MaskCodec("labels", [0, 1, 2, 4])  # BraTS 2021 numbering
    labels = np.array([[0, 1], [2, 4]])
    assert np.array_equal(codec.decode(codec.encode(labels)), labels)
    noisy = codec.encode(labels) + np.float32(0.2)  # a generator is never exact: nearest level wins
    assert np.array_equal(codec.decode(noisy), labels)
    assert set(codec.decode(np.linspace(-1, 1, 101)).tolist()) == {0, 1, 2, 4}
    with pytest.raises(ValueError, match="label value 3"):
        codec.encode(np.array([3]))


def test_binary_mode_round_trip_is_the_identity_on_real_single_class_patches():
    dataset = load_dataset(SAMPLE_DATA / "lesions2d")
    ids = [ref.id for ref in dataset.cases if ref.label is not None][:30]
    patches = extract_lesion_patches(dataset, ids, 2, 32, jitter=0)
    codec = MaskCodec("binary")
    for labels, lesion_class in zip(patches.labels, patches.classes):
        assert np.array_equal(codec.decode(codec.encode(labels), int(lesion_class)), labels)


class _EncodedPatches(torch.nn.Module):
    """Stands in for a perfect generator: returns the encoded real patches it was given, in turn."""

    num_classes = 0

    def __init__(self, images: np.ndarray, channel: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("out", torch.from_numpy(np.concatenate([images, channel[:, None]], 1)))
        self.index = 0

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        picks = [(self.index + i) % len(self.out) for i in range(z.shape[0])]
        self.index += z.shape[0]
        return self.out[picks]


def test_synthesis_decodes_what_training_encoded(tmp_path, brats_patches):
    """Train two steps on the BraTS sample (labels mode): the run records the encoding, and a generator
    that reproduces the training patches gives back exactly their labels, every value included."""
    config = LesionGANConfig()
    config.data.path = str(SAMPLE_DATA / "brats")
    config.data.modalities = list(load_dataset(SAMPLE_DATA / "brats").modalities)
    config.data.mask, config.data.patch_size, config.data.jitter = "labels", 32, 0
    config.model.latent_dim, config.model.g_channels, config.model.d_channels = 4, 4, 4
    config.train.steps, config.train.batch_size, config.train.progress, config.train.n_samples = 1, 2, False, 0
    torch.manual_seed(0)
    step = LesionGANStep(config, patches=brats_patches)
    Trainer(step, tmp_path / "run", "lesion-gan").fit()
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["data"]["label_values"] == [0, 1, 2, 3]

    lesions = LesionGenerator.from_run(tmp_path / "run")
    perfect = _EncodedPatches(brats_patches.images, step.codec.encode(brats_patches.labels))
    lesions.generator = perfect
    samples = lesions.sample(len(brats_patches), torch.Generator().manual_seed(0))
    for sample, real in zip(samples, brats_patches.labels):
        assert np.array_equal(sample.label, real)
    produced = set().union(*(np.unique(s.label).tolist() for s in samples))
    assert produced == {0, 1, 2, 3}


def test_runs_without_a_recorded_encoding_are_refused(tmp_path):
    data = make_lesion_dataset(tmp_path / "data", spatial_dims=2, n=2, size=24)
    config = LesionGANConfig()
    config.data.path, config.data.mask, config.data.patch_size, config.data.jitter = str(data), "labels", 8, 0
    config.model.latent_dim, config.model.g_channels, config.model.d_channels = 4, 4, 4
    config.train.steps, config.train.batch_size, config.train.progress, config.train.n_samples = 1, 2, False, 0
    Trainer(LesionGANStep(config), tmp_path / "run", "lesion-gan").fit()
    path = tmp_path / "run" / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    assert saved["data"]["label_values"] == [0, 1, 2]
    saved["data"]["label_values"] = None  # as a run of the old version has it
    path.write_text(yaml.safe_dump(saved))
    with pytest.raises(DataError, match="no label encoding"):
        LesionGenerator.from_run(tmp_path / "run")
