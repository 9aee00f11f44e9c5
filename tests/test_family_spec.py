"""One config per family: the benchmark's ``synthesis.options`` are overrides of the family config merged
onto its preset (key by key, so the family's other defaults stay), unknown keys name themselves, and every
shipped pipeline's options load."""

from __future__ import annotations

import pytest

from medgan.benchmark.pipeline import load_pipeline
from medgan.errors import ConfigError
from medgan.registry import GAN_FAMILIES, SYNTHESIS_STAGES
from medgan.training.spec import family_config, merge_settings
from medgan.training.stage import FamilyStage
from tests.conftest import REPO


def test_merge_keeps_what_the_override_does_not_name() -> None:
    merged = merge_settings({"train": {"steps": 3, "amp": True}, "x": [1]}, {"train": {"steps": 5}, "x": [2]})
    assert merged == {"train": {"steps": 5, "amp": True}, "x": [2]}


def test_overrides_keep_the_familys_own_defaults() -> None:
    spade = family_config(GAN_FAMILIES.get("spade"), {"train": {"steps": 7}})
    assert spade.train.steps == 7 and spade.train.amp_dtype == "bfloat16"  # SPADE's default, not the engine's
    assert spade.sample.mask_source == {"source": "augment"}  # the benchmark preset
    cyclegan = family_config(GAN_FAMILIES.get("cyclegan"), {"train": {"steps": 7}}, preset=False)
    assert cyclegan.train.ema_decay == 0.0 and cyclegan.train.checkpoint_every == 1000


@pytest.mark.parametrize("family,expected", [
    ("lesion-gan", {"train.steps": 300, "train.batch_size": 16, "data.mask": "labels", "model.latent_dim": 64,
                    "model.g_channels": 32, "loss.kind": "bce", "insert.lesions_per_case": 1}),
    ("spade", {"train.steps": 300, "train.batch_size": 1, "train.amp_dtype": "bfloat16", "ema": False}),
    ("pggan", {"train.steps": 300, "train.ema_decay": 0.99, "model.resolution": 16, "model.fmap_max": 64,
               "growth.fade_images": 400}),
    ("cyclegan", {"train.steps": 300, "train.ema_decay": 0.0, "data.a.modality": "t1n", "data.b.modality": "ct",
                  "data.a.intensity.kind": "generic", "data.spatial_dims": 2, "model.n_blocks": 4}),
])
def test_presets_are_the_small_benchmark_budget(family, expected) -> None:
    config = SYNTHESIS_STAGES.get(family)({}, 2, "cpu").config
    for dotted, value in expected.items():
        found = config
        for part in dotted.split("."):
            found = getattr(found, part)
        assert found == value, dotted


def test_unknown_option_is_named_with_its_place() -> None:
    with pytest.raises(ConfigError, match=r"synthesis\.options \(lesion-gan\)\.train: unknown setting 'stepz'"):
        SYNTHESIS_STAGES.get("lesion-gan")({"train": {"stepz": 1}}, 2, "cpu")
    with pytest.raises(ConfigError, match="unknown mask source 'nope'"):
        SYNTHESIS_STAGES.get("spade")({"sample": {"mask_source": {"source": "nope"}}}, 2, "cpu")
    with pytest.raises(ConfigError, match=r"pggan\+spade\): unknown setting 'spaed'"):
        SYNTHESIS_STAGES.get("pggan+spade")({"spaed": {}}, 3, "cpu")


def test_every_family_with_a_preset_is_a_stage() -> None:
    for name in GAN_FAMILIES.names():
        spec = GAN_FAMILIES.get(name)
        if spec.benchmark_stage:
            assert issubclass(SYNTHESIS_STAGES.get(name), FamilyStage) and SYNTHESIS_STAGES.get(name).family == name


@pytest.mark.parametrize("quick", [False, True])
@pytest.mark.parametrize("name", ["brain_tumor_bowles", "brain_tumor_dual_gan", "lesion_2d_frid_adar", "mr2ct_yolo",
                                  "demo"])
def test_shipped_pipelines_options_load(name, quick) -> None:
    pipeline = load_pipeline(REPO / "pipelines" / f"{name}.yaml", quick=quick)
    SYNTHESIS_STAGES.get(pipeline.synthesis.stage)(dict(pipeline.synthesis.options), pipeline.spatial_dims, "cpu")
