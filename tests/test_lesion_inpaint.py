"""Lesion inpainting: networks in 2D and 3D, regions sized from the data in mm, training on the shared
engine, and synthesis whose labels are exactly the label map given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from medgan.errors import DataError
from medgan.families.lesion_inpaint import FAMILY, LesionInpaintConfig
from medgan.families.lesion_inpaint.sampler import LesionInpainter, inpaint_lesions, load_inpaint_run, resize
from medgan.families.lesion_inpaint.step import LesionInpaintStep
from medgan.families.lesion_inpaint.synthesize import inpaint_into
from medgan.io import load_dataset
from medgan.models.inpainting import InpaintingDiscriminator, InpaintingGenerator, composite, masked_context
from medgan.registry import SYNTHESIS_STAGES
from medgan.training.loop import Trainer
from medgan.transforms.lesion_extent import resample_to_spacing
from tests.conftest import save_nifti, tree_digest
from tests.lesion_data import make_lesion_dataset


@pytest.mark.parametrize("dims", [2, 3])
def test_networks_fill_every_channel_and_keep_the_context(dims):
    shape = (16,) * dims
    g = InpaintingGenerator(dims, image_channels=2, label_channels=3, base_channels=4, depth=3)
    d = InpaintingDiscriminator(dims, image_channels=2, label_channels=3, base_channels=4, n_layers=2)
    image = torch.rand(2, 2, *shape) * 2 - 1
    hole = torch.zeros(2, 1, *shape)
    hole[(slice(None), 0) + (slice(5, 11),) * dims] = 1
    labels = torch.zeros(2, 3, *shape)
    labels[:, 0] = 1
    context = masked_context(image, hole)
    assert torch.all(context[hole.expand_as(context).bool()] == 0)
    out = g(context, hole, labels)
    assert out.shape == image.shape and out.abs().max() <= 1
    mixed = composite(out, image, hole)
    outside = ~hole.expand_as(image).bool()
    assert torch.equal(mixed[outside], image[outside])
    assert d(context, hole, labels, mixed).shape[:2] == (2, 1)
    with pytest.raises(ValueError, match="multiple"):
        g(torch.zeros(1, 2, *(12,) * dims), torch.zeros(1, 1, *(12,) * dims), torch.zeros(1, 3, *(12,) * dims))


@pytest.mark.parametrize("dims", [2, 3])
def test_prior_generator_starts_at_the_ring_level_plus_each_labels_contrast(dims):
    shape = (16,) * dims
    offsets = [[0.1, 0.0], [0.5, -0.2], [2.5, 0.3]]  # label 0 (rim), 1, 2 x two channels
    g = InpaintingGenerator(dims, 2, 3, base_channels=4, depth=3, prior=offsets, ring=[2] * dims, high=3.0)
    image = torch.full((1, 2, *shape), -0.4)
    image[:, 1] = 0.2
    hole = torch.zeros(1, 1, *shape)
    hole[(0, 0) + (slice(4, 12),) * dims] = 1
    label = torch.zeros(1, 1, *shape, dtype=torch.long)
    label[(0, 0) + (slice(6, 10),) * dims] = 1
    label[(0, 0) + (slice(7, 9),) * dims] = 2
    labels = torch.nn.functional.one_hot(label[:, 0], 3).movedim(-1, 1).float()
    out = g(masked_context(image, hole), hole, labels)  # untrained: the residual's last layer is 0
    want = torch.tensor([-0.4, 0.2]).reshape((1, 2) + (1,) * dims) + torch.einsum(
        "nl...,lc->nc...", labels, torch.tensor(offsets))
    inside = hole.expand_as(out).bool()
    assert torch.allclose(out[inside], want.clamp(-1, 3)[inside], atol=1e-6)
    assert out.max() > 1.5  # room above the 99.5th percentile, where enhancing tumour lies
    # texture: seeded noise scaled by each label's spread (here only label 2, channel 0)
    textured = InpaintingGenerator(dims, 2, 3, base_channels=4, depth=3, prior=offsets, ring=[2] * dims, high=3.0,
                                   spread=[[0.0, 0.0], [0.0, 0.0], [0.2, 0.0]])
    noise = torch.randn(1, 2, *shape, generator=torch.Generator().manual_seed(0))
    a = textured(masked_context(image, hole), hole, labels, noise)
    assert torch.equal(a, textured(masked_context(image, hole), hole, labels, noise))
    changed = (a - out).abs() > 1e-6
    assert changed.any() and torch.equal(changed[:, 0], changed[:, 0] & (label[:, 0] == 2))
    assert not changed[:, 1].any()
    with pytest.raises(ValueError, match="prior"):
        InpaintingGenerator(dims, 2, 2, base_channels=4, depth=3, prior=offsets)


def test_prior_in_z_units_scales_the_contrast_by_the_rings_spread():
    shape = (16, 16, 16)
    image = torch.where(torch.arange(16).reshape(16, 1, 1).expand(shape) % 2 == 0, 0.5, -0.1)[None, None]
    hole = torch.zeros(1, 1, *shape)
    hole[0, 0, 4:12, 4:12, 4:12] = 1
    labels = torch.zeros(1, 2, *shape)
    labels[:, 0] = 1 - hole[:, 0]
    labels[:, 1] = hole[:, 0]
    g = InpaintingGenerator(3, 1, 2, base_channels=4, depth=3, prior=[[0.0], [2.0]], ring=[2, 2, 2], high=3.0,
                            z_units=True)
    out = g(masked_context(image, hole), hole, labels)
    ring = (torch.nn.functional.max_pool3d(hole, 5, 1, 2) - hole).bool().expand_as(image)
    level, spread = image[ring].mean(), image[ring].std(unbiased=False)
    inside = hole.bool().expand_as(out)
    assert spread > 0.2 and torch.allclose(out[inside], level + 2.0 * spread, atol=1e-5)


def _config(data, steps=2, **data_fields) -> LesionInpaintConfig:
    config = LesionInpaintConfig()
    config.data.path = str(data)
    for key, value in data_fields.items():
        setattr(config.data, key, value)
    config.model.g_channels = config.model.d_channels = 4
    t = config.train
    t.steps, t.batch_size, t.device, t.progress = steps, 2, "cpu", False
    t.checkpoint_every = t.sample_every = steps
    t.n_samples, t.log_every = 2, 1
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("inpaint")
    data = make_lesion_dataset(root / "data", spatial_dims=3, n=3, size=32, healthy=1)
    config = _config(data, exclude_cases=["case02"])
    torch.manual_seed(0)
    step = LesionInpaintStep(config)
    Trainer(step, root / "run", family=FAMILY).fit()
    return data, root / "run"


def test_training_resolves_sizes_in_mm_and_records_them(trained):
    _, run = trained
    text = yaml.safe_load((run / "config.yaml").read_text())
    assert text["family"] == "lesion-inpaint"
    data = text["data"]
    assert data["spacing"] == [1.5, 1.5, 1.5] and data["label_values"] == [0, 1, 2]
    # largest blob 9 mm + 2 x (7 + 3.5) mm = 30 mm = 20 voxels -> 24, a multiple of 2**3
    assert data["lesion_extent_mm"] == [9.0, 9.0, 9.0] and data["region_size"] == [24, 24, 24]
    assert data["n_lesions"] == 4 and data["n_healthy"] == 1  # two blobs in each of two cases; case02 excluded
    # lesions at 180 and 200 in tissue at 100: the prior's contrast per label, above the old [-1, 1] cap
    contrast = text["prior"]["contrast"]
    assert len(contrast) == 3 and len(contrast[0]) == 1
    assert 0 < contrast[1][0] < contrast[2][0] and contrast[2][0] > 1.0
    stats = [yaml.safe_load(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert {"D", "G_adv", "G_L1_hole"} <= set(stats[-1]["losses"])
    assert (run / "samples" / "step-00000002.png").is_file()


def test_2d_training_on_2d_data(tmp_path):
    data = make_lesion_dataset(tmp_path / "data", spatial_dims=2, n=3, size=32, healthy=1)
    config = _config(data)
    step = LesionInpaintStep(config)
    Trainer(step, tmp_path / "run", family=FAMILY).fit()
    assert config.data.spatial_dims == 2 and len(config.data.region_size) == 2
    inpainter = LesionInpainter.from_run(tmp_path / "run")
    case = load_dataset(data).load("case03")
    new, records = inpaint_lesions(case, inpainter, 1, np.random.default_rng(0), inset_mm=3.0)
    added = new["label"][0] != case["label"][0]
    assert added.sum() == records[0]["voxels"] > 0


def test_inserted_labels_are_exactly_the_label_map_given(trained):
    data, run = trained
    inpainter = LesionInpainter.from_run(run)
    case = load_dataset(data).load("case03")  # the healthy case
    lesion = np.zeros((7, 6, 5), np.int16)
    lesion[1:6, 1:5, 1:4] = 2
    lesion[2:4, 2:4, 2:3] = 1
    new, records = inpaint_lesions(case, inpainter, 1, np.random.default_rng(1), label_maps=[lesion], inset_mm=3.0)
    added = new["label"][0] != case["label"][0]
    where = np.argwhere(added)
    low = where.min(0)
    expected = lesion[1:6, 1:5, 1:4]  # the map's own box
    assert np.array_equal(new["label"][0][tuple(slice(a, a + s) for a, s in zip(low, expected.shape))], expected)
    assert added.sum() == (lesion > 0).sum() == records[0]["voxels"]
    # the image changes only in the hole: the lesion grown by the run's 3.5 mm margin
    changed = np.any(new["image"] != case["image"], axis=0)
    grown = np.zeros_like(added)
    grown[tuple(slice(max(0, a - 3), b + 4) for a, b in zip(low, where.max(0)))] = True
    assert not changed[~grown].any()
    assert new["image"].dtype == case["image"].dtype and case["meta"]["history"] == []
    assert new["meta"]["source_case"] == "case03" and new["meta"]["history"][-1]["name"] == "inpaint_lesions"


def test_deformed_training_maps_hold_only_training_label_values(trained):
    _, run = trained
    inpainter = LesionInpainter.from_run(run)
    rng = np.random.default_rng(0)
    maps = [inpainter.sample_label_map(rng) for _ in range(12)]
    assert set(np.unique(np.concatenate([m.ravel() for m in maps])).tolist()) <= {0, 1, 2}
    assert len({m.shape for m in maps}) > 1  # new shapes and sizes


def test_synthesis_refuses_what_the_model_never_saw(trained, tmp_path):
    data, run = trained
    inpainter = LesionInpainter.from_run(run)
    case = load_dataset(data).load("case03")
    with pytest.raises(DataError, match="label value 5"):
        inpaint_lesions(case, inpainter, 1, np.random.default_rng(0), label_maps=[np.full((3, 3, 3), 5)])
    with pytest.raises(DataError, match="channels"):
        inpaint_lesions({**case, "image": np.concatenate([case["image"]] * 2)}, inpainter, 1,
                        np.random.default_rng(0))
    with pytest.raises(DataError, match="2D"):
        inpaint_lesions({**case, "image": case["image"][..., 0], "label": case["label"][..., 0]}, inpainter, 1,
                        np.random.default_rng(0))
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text("family: lesion-gan\n")
    with pytest.raises(DataError, match="not a lesion-inpaint run"):
        load_inpaint_run(other)
    tiny = {**case, "image": case["image"][:, :8, :8, :8], "label": case["label"][:, :8, :8, :8]}
    with pytest.raises(DataError, match="no place"):
        inpaint_lesions(tiny, inpainter, 1, np.random.default_rng(0), attempts=3)


def test_inpaint_into_anisotropic_cases_writes_lesions_of_the_same_size_in_mm(trained, tmp_path):
    data, run = trained
    source = load_dataset(data)
    target = tmp_path / "aniso"
    for ref in source.cases:  # 1.5 x 1.5 x 3 mm
        case = source.load(ref)
        affine = np.array(case["meta"]["affine"], float)
        affine[:3, 2] *= 2.0
        image = resample_to_spacing(case["image"], (1.5,) * 3, (1.5, 1.5, 3.0))
        label = resample_to_spacing(case["label"], (1.5,) * 3, (1.5, 1.5, 3.0), labels=True)
        save_nifti(target / "images" / f"{ref.id}.nii.gz", np.rint(image[0]).astype(np.int16), affine)
        save_nifti(target / "labels" / f"{ref.id}.nii.gz", label[0].astype(np.uint8), affine)
    before = tree_digest(target)
    manifest = inpaint_into(run, tmp_path / "out", target, n=2, cases=["case03"], seed=3, inset_mm=3.0)
    assert tree_digest(target) == before
    rows = pd.read_csv(manifest)
    written = load_dataset(tmp_path / "out")
    for row in rows.itertuples():
        new = written.load(row.case_id)
        assert new["meta"]["spacing"] == pytest.approx((1.5, 1.5, 3.0))
        assert set(np.unique(new["label"]).tolist()) <= {0, 1, 2} and (new["label"] > 0).any()
        extent_z = np.ptp(np.argwhere(new["label"][0] > 0)[:, 2]) + 1
        assert extent_z * 3.0 <= 9.0 * 1.2 + 3.0 + 1e-6  # blobs of <= 9 mm, zoomed by <= 1.2, not 2x in z
    assert rows["source_case"].tolist() == ["case03", "case03"]


def test_stage_trains_then_fills_healthy_cases_first(tmp_path):
    data = make_lesion_dataset(tmp_path / "data", spatial_dims=3, n=2, size=32, healthy=2)
    cases = [c for c in load_dataset(data)]
    stage = SYNTHESIS_STAGES.get("lesion-inpaint")({"train": {"steps": 2, "batch_size": 2},
                                                    "model": {"g_channels": 4, "d_channels": 4},
                                                    "insert": {"inset_mm": 3.0}}, 3, "cpu")
    assert stage.config.train.steps == 2 and stage.config.masks.rotate == 20.0  # preset + overrides
    stage.fit(cases, tmp_path / "run", seed=0)
    out = stage.sample(3, seed=0, context=cases)
    assert {c["meta"]["source_case"] for c in out[:2]} == {"case02", "case03"}
    for case in out:
        assert set(np.unique(case["label"]).tolist()) <= {0, 1, 2} and case["label"].any()


def test_resize_is_exact_on_shape_and_keeps_label_values():
    labels = np.zeros((1, 10, 10), np.int16)
    labels[0, 3:7, 3:7] = 3
    out = resize(labels, (15, 7), labels=True)
    assert out.shape == (1, 15, 7) and set(np.unique(out).tolist()) == {0, 3}
    assert resize(labels, (10, 10)) is labels


def test_resumed_training_gives_the_same_weights(tmp_path):
    data = make_lesion_dataset(tmp_path / "data", spatial_dims=2, n=2, size=32, healthy=1)

    def run(folder, steps, resume=False):
        config = _config(data, steps=3)
        config.train.checkpoint_every = 2
        torch.manual_seed(0)
        trainer = Trainer(LesionInpaintStep(config), folder, family=FAMILY, resume=resume)
        trainer.fit(steps)
        return trainer

    straight = run(tmp_path / "a", 3)
    run(tmp_path / "b", 2)
    resumed = run(tmp_path / "b", 3, resume=True)
    for name in ("G", "D"):
        for p, q in zip(straight.step_obj.networks[name].parameters(), resumed.step_obj.networks[name].parameters()):
            assert torch.equal(p, q)


def test_sampler_deals_the_training_maps_out_in_turn(trained):
    from medgan.families.lesion_inpaint import InpaintInsertConfig
    from medgan.families.lesion_inpaint.sampler import InpaintSampler

    data, run = trained
    inpainter = LesionInpainter.from_run(run)
    masks = inpainter.config.masks
    masks.rotate, masks.scale, masks.elastic_mm, masks.flips = 0.0, (1.0, 1.0), 0.0, False  # maps unchanged
    cases = [c for c in load_dataset(data)]
    n = len(inpainter.label_maps)
    made = InpaintSampler(inpainter, InpaintInsertConfig(inset_mm=3.0)).sample(n, seed=4, context=cases)
    voxels = sorted(r["voxels"] for c in made for r in c["meta"]["history"][-1]["lesions"])
    assert voxels == sorted(int((m > 0).sum()) for m in inpainter.label_maps)  # each training map once
