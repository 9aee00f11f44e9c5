"""SPADE family on the engine: losses, training, synthesis from masks, mask sources, benchmark stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from medgan.cli import main
from medgan.config import load_config
from medgan.errors import ConfigError, DataError
from medgan.families.spade import SpadeConfig
from medgan.families.spade.masks import AugmentedMasks, MovedLesionMasks, build_mask_source
from medgan.families.spade.step import SpadeStep
from medgan.io import load_dataset, read_image, write_image
from medgan.registry import LABEL_MAP_SAMPLERS, SYNTHESIS_STAGES
from medgan.training.loop import Trainer, train
from medgan.training.step import StepContext

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
TINY_MODEL = {"base_channels": 2, "n_upsamples": 2, "z_dim": 4, "hidden_channels": 4, "d_channels": 2,
              "d_layers": 3}
TINY_TRAIN = {"batch_size": 2, "log_every": 1, "checkpoint_every": 0, "sample_every": 0, "n_samples": 2,
              "progress": False, "device": "cpu"}


def _blob_label(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"))
    centre = np.array([rng.integers(s // 3, 2 * s // 3) for s in shape]).reshape((-1,) + (1,) * len(shape))
    dist = np.sqrt(((grid - centre) ** 2).sum(0))
    return np.where(dist < 2, 2, np.where(dist < 4, 1, 0)).astype(np.uint8)


def _cases(n: int, shape: tuple[int, ...], channels: int = 2, seed: int = 0) -> list[dict]:
    """In-memory cases: a bright disc ('head') with a two-label lesion, ``channels`` contrasts."""
    rng = np.random.default_rng(seed)
    affine = np.diag([2.0] * len(shape) + [1.0] * (4 - len(shape)))
    affine[:3, 3] = [-10.0, 5.0, 3.0]
    cases = []
    for i in range(n):
        label = _blob_label(shape, rng)
        grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"))
        head = np.sqrt(((grid - np.array(shape).reshape((-1,) + (1,) * len(shape)) / 2) ** 2).sum(0)) < shape[0] * 0.45
        image = np.stack([head * (100.0 + 50 * c) + 30.0 * label + rng.normal(0, 3, shape) * head
                          for c in range(channels)]).clip(0).astype(np.float32)
        meta = {"affine": affine, "modalities": [f"m{c}" for c in range(channels)], "dtype": "int16",
                "label_dtype": "uint8", "history": []}
        cases.append({"image": image, "label": label[None], "meta": meta, "id": f"case{i}"})
    return cases


def _write_folder_dataset(root: Path, cases: list[dict]) -> Path:
    for case in cases:
        for c, name in enumerate(case["meta"]["modalities"]):
            write_image(root / "images" / f"{case['id']}_{name}.nii.gz", case["image"][c:c + 1],
                        {"affine": case["meta"]["affine"], "dtype": "int16"})
        write_image(root / "labels" / f"{case['id']}.nii.gz", case["label"], {"affine": case["meta"]["affine"],
                                                                             "dtype": "uint8"})
    return root


def _config(**train: object) -> SpadeConfig:
    return load_config({"model": TINY_MODEL, "train": {**TINY_TRAIN, **train}}, SpadeConfig)


def _ctx(step: int = 0) -> StepContext:
    return StepContext(step=step, total_steps=1, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))


# ------------------------------------------------------------------------------------- losses


@pytest.mark.parametrize("dims", [2, 3])
def test_one_step_of_each_loss_gives_gradients_to_its_networks(dims):
    torch.manual_seed(0)
    config = _config()
    config.model.use_encoder = True
    step = SpadeStep(config, cases=_cases(3, (16,) * dims))
    assert config.data.label_values == [0, 1, 2] and config.data.padded_shape == [16] * dims
    batch = step.next_batch(_ctx())
    assert batch["label"].shape == (2, 1) + (16,) * dims and batch["image"].shape == (2, 2) + (16,) * dims
    for phase, nets, keys in (("G", ("G", "E"), {"G_adv", "G_fm", "G_kld"}), ("D", ("D",), {"D", "D_real", "D_fake"})):
        for name, net in step.networks.items():
            net.zero_grad(set_to_none=True)
            net.requires_grad_(name in nets)
        loss, stats = step.loss(phase, batch, _ctx())
        assert loss.dim() == 0 and torch.isfinite(loss)
        assert set(stats) == keys
        loss.backward()
        for name in nets:
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in step.networks[name].parameters())
    assert step.optimizers["G"].networks == ("G", "E")
    assert config.g_optimizer.lr == 1e-4 and config.d_optimizer.lr == 4e-4
    assert tuple(config.g_optimizer.betas) == (0.0, 0.9) == tuple(config.d_optimizer.betas)


def test_feature_matching_weight_is_ten_and_hinge_by_default():
    config = SpadeConfig()
    assert config.loss.feature_matching == 10.0 and config.loss.adversarial == "hinge"
    assert config.model.d_scales == 2 and config.model.z_dim == 256


def test_training_is_deterministic_and_resumable_through_the_engine(tmp_path):
    cases = _cases(3, (16, 16))
    runs = []
    for name in ("a", "b"):
        torch.manual_seed(0)
        trainer = Trainer(SpadeStep(_config(steps=2), cases=cases), tmp_path / name, "spade")
        trainer.fit()
        runs.append([p.detach().clone() for p in trainer.step_obj.networks["G"].parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    assert (tmp_path / "a" / "checkpoints").is_dir() and (tmp_path / "a" / "samples").is_dir()


# ---------------------------------------------------------------------------------- synthesis


@pytest.fixture(scope="module")
def trained_2d(tmp_path_factory):
    root = tmp_path_factory.mktemp("spade2d")
    data = _write_folder_dataset(root / "data", _cases(4, (16, 16)))
    config = _config(steps=2)
    config.data.path = str(data)
    torch.manual_seed(0)
    train("spade", config, root / "run")
    return root / "run", data


def test_synthesize_writes_the_input_masks_unchanged_with_their_affines(trained_2d, tmp_path):
    run, data = trained_2d
    out = tmp_path / "synth"
    assert main(["synthesize", str(run), str(out), "--masks", str(data), "--per-mask", "2", "--seed", "3"]) == 0
    source = load_dataset(data)
    result = load_dataset(out)
    assert len(result) == 2 * len(source)
    for ref in result.cases:
        case = result.load(ref)
        original = source.load(ref.id.split("_spade")[0])
        assert np.array_equal(case["label"], original["label"]) and case["label"].dtype == original["label"].dtype
        assert np.allclose(case["meta"]["affine"], original["meta"]["affine"])
        assert case["image"].shape == original["image"].shape
        assert case["meta"]["modalities"] == original["meta"]["modalities"]
    pairs = [result.load(f"case0_spade0000_{k}")["image"] for k in range(2)]
    assert not np.array_equal(pairs[0], pairs[1])  # two noises, two images for one mask
    manifest = (out / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 1 + 2 * len(source) and "source_case" in manifest[0]
    # same seed, same images (a fresh folder)
    again = tmp_path / "again"
    main(["synthesize", str(run), str(again), "--masks", str(data), "--per-mask", "2", "--seed", "3"])
    reloaded = load_dataset(again).load("case1_spade0001_1")["image"]
    assert np.array_equal(reloaded, result.load("case1_spade0001_1")["image"])


def test_synthesize_from_a_folder_of_label_files(trained_2d, tmp_path):
    run, data = trained_2d
    masks = tmp_path / "masks"
    masks.mkdir()
    for f in sorted((data / "labels").iterdir())[:2]:
        (masks / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out"
    assert main(["synthesize", str(run), str(out), "--masks", str(masks)]) == 0
    for j, f in enumerate(sorted(masks.iterdir())):
        new_id = f"{f.name.replace('.nii.gz', '')}_spade{j:04d}_0"
        written, meta = read_image(out / "labels" / f"{new_id}.nii.gz")
        original, original_meta = read_image(f)
        assert np.array_equal(written, original) and np.allclose(meta["affine"], original_meta["affine"])
        image, image_meta = read_image(out / "images" / f"{new_id}_m0.nii.gz")
        assert np.allclose(image_meta["affine"], original_meta["affine"]) and image.shape == original.shape


def test_synthesize_refuses_unknown_label_values_and_other_grids(trained_2d, tmp_path):
    run, data = trained_2d
    bad = tmp_path / "bad"
    label, meta = read_image(data / "labels" / "case0.nii.gz")
    write_image(bad / "a.nii.gz", np.where(label > 0, 7, 0).astype(np.uint8), {**meta, "dtype": "uint8"})
    assert main(["synthesize", str(run), str(tmp_path / "o1"), "--masks", str(bad)]) == 2
    other = tmp_path / "other"
    write_image(other / "b.nii.gz", np.zeros((1, 20, 16), np.uint8), {**meta, "dtype": "uint8"})
    with pytest.raises(DataError, match="grid"):
        from medgan.families.spade.synthesis import synthesize_from_masks
        synthesize_from_masks(run, tmp_path / "o2", other)
    with pytest.raises(ConfigError, match="inside the input"):
        synthesize_from_masks(run, data / "out", data)


# -------------------------------------------------------------------------------- mask sources


def test_augment_source_keeps_label_values_and_grid_and_is_seeded():
    cases = _cases(2, (16, 16, 16))
    source = build_mask_source({"source": "augment", "rotate_degrees": 20, "scale": 0.2})
    first, again, other = source.masks(2, 5, cases), source.masks(2, 5, cases), source.masks(2, 6, cases)
    for (label, meta), (same, _) in zip(first, again):
        assert label.shape == (1, 16, 16, 16) and label.dtype == np.uint8
        assert set(np.unique(label)) <= {0, 1, 2}
        assert np.array_equal(label, same)
        names = [entry["name"] for entry in meta["history"]]
        assert names[:3] == ["medgan_mask_augment", "affine", "elastic"] and meta["source_case"] in ("case0", "case1")
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))
    assert not np.array_equal(first[0][0], cases[0]["label"])


def test_augment_source_takes_a_pluggable_transform():
    calls = []

    def flip(sample, rng):
        calls.append(int(rng.integers(100)))
        return {"label": sample["label"][:, ::-1].copy(), "history": [{"name": "flip"}]}

    cases = _cases(1, (16, 16))
    (label, meta), = AugmentedMasks({}, transform=flip).masks(1, 0, cases)
    assert np.array_equal(label, cases[0]["label"][:, ::-1]) and calls and meta["history"][-1] == {"name": "flip"}


def test_lesion_move_moves_and_resizes_the_lesion_inside_the_organ():
    cases = _cases(1, (32, 32, 32))
    original = cases[0]["label"]
    source = MovedLesionMasks({"scale_range": [1.3, 1.3]})
    (label, meta), = source.masks(1, 0, cases)
    record = meta["history"][-1]
    assert record["name"] == "move_lesion" and record["moved"] and record["from"] != record["to"]
    assert set(np.unique(label)) == {0, 1, 2} and label.shape == original.shape
    assert (label > 0).sum() > (original > 0).sum()  # zoomed by 1.3
    organ = source.organ(cases[0])
    assert organ[label[0] > 0].all()
    assert np.array_equal(source.masks(1, 0, cases)[0][0], label)
    # organ given by labels: the lesion must stay where label 5 ('brain') is
    brain = np.zeros_like(original)
    brain[:, 4:28, 4:28, 4:28] = 5
    anatomy = {**cases[0], "label": np.where(original > 0, original, brain).astype(np.uint8)}
    (moved, meta), = MovedLesionMasks({"organ_labels": [5]}).masks(1, 1, [anatomy])
    lesion = (moved[0] > 0) & (moved[0] != 5)
    assert lesion.any() and (anatomy["label"][0][lesion] > 0).all()
    assert moved[0][0, 0, 0] == 0  # outside the brain untouched


def test_mask_source_errors():
    with pytest.raises(ConfigError, match="unknown mask source"):
        build_mask_source({"source": "nope"})
    with pytest.raises(ConfigError, match="rotate"):
        build_mask_source({"source": "augment", "rotate": 3})
    with pytest.raises(DataError, match="lesion"):
        MovedLesionMasks().masks(1, 0, [{**_cases(1, (16, 16))[0], "label": np.zeros((1, 16, 16), np.uint8)}])


def test_label_map_generator_run_plugs_in_by_name(tmp_path):
    import tests.toy_family  # noqa: F401  (a registered family whose run folder we fake)

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("family: toy-cycle\n")
    with pytest.raises(ConfigError, match="label-map sampler"):
        build_mask_source({"source": "pggan", "run": str(run)}).masks(1, 0, [])

    class Sampler:
        def __init__(self, run_dir, device):
            self.run_dir = run_dir

        def sample_label_maps(self, n, seed):
            rng = np.random.default_rng(seed)
            return [(rng.integers(0, 3, (1, 16, 16)).astype(np.uint8), {}) for _ in range(n)]

    LABEL_MAP_SAMPLERS.register("toy-cycle")(Sampler)
    context = _cases(1, (16, 16))
    masks = build_mask_source({"source": "pggan", "run": str(run)}).masks(2, 4, context)
    assert len(masks) == 2 and masks[0][0].shape == (1, 16, 16)
    assert np.allclose(masks[0][1]["affine"], context[0]["meta"]["affine"])
    assert masks[1][1]["history"][-1] == {"name": "label_map_generator", "run": str(run), "seed": 4, "index": 1}


# ------------------------------------------------------------------------------ benchmark stage


def test_stage_fits_and_samples_labelled_cases(tmp_path):
    options = {"train": {"steps": 2, "batch_size": 1}, "model": TINY_MODEL,
               "sample": {"mask_source": {"source": "augment"}}}
    stage = SYNTHESIS_STAGES.get("spade")(options, 3, "cpu")
    cases = _cases(2, (16, 16, 16))
    stage.fit(cases, tmp_path, seed=0)
    new = stage.sample(3, seed=1, context=cases)
    assert len(new) == 3
    for case in new:
        assert case["image"].shape == (2, 16, 16, 16) and case["label"].shape == (1, 16, 16, 16)
        assert np.issubdtype(case["label"].dtype, np.integer)
        assert case["meta"]["source_case"] in ("case0", "case1")
        assert np.allclose(case["meta"]["affine"], cases[0]["meta"]["affine"])
        assert case["meta"]["modalities"] == ["m0", "m1"]
    again = stage.sample(3, seed=1, context=cases)
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(new, again))
    with pytest.raises(ConfigError, match="unknown setting"):
        SYNTHESIS_STAGES.get("spade")({"stepz": 1}, 3, "cpu")


# ------------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("data,config", [
    ("lesions2d", {"model": {**TINY_MODEL, "n_upsamples": 3}, "train": TINY_TRAIN}),
    ("brats", {"model": {**TINY_MODEL, "n_upsamples": 3}, "train": {**TINY_TRAIN, "batch_size": 1}}),
])
def test_end_to_end_on_the_sample_data(tmp_path, data, config):
    import shutil

    import yaml

    source_root = SAMPLE / data
    if data == "brats":  # two tumour cases and one healthy case keep the 3D run short
        source_root = tmp_path / "brats"
        for case in ("BraTS-SIM-00000-000", "BraTS-SIM-00001-000", "BraTS-SIM-01000-000"):
            shutil.copytree(SAMPLE / "brats" / case, source_root / case)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    run, out = tmp_path / "run", tmp_path / "out"
    assert main(["train", "spade", "--data", str(source_root), "--out", str(run), "--config",
                 str(tmp_path / "c.yaml"), "--steps", "2", "--no-progress"]) == 0
    source_name = "augment" if data == "lesions2d" else "lesion-move"
    assert main(["synthesize", str(run), str(out), "--masks", str(source_root), "--n", "2", "--per-mask", "2",
                 "--mask-source", source_name]) == 0
    result = load_dataset(out)
    source = load_dataset(source_root)
    assert result.layout == source.layout and len(result) == 4
    case = result.load(result.cases[0])
    assert case["image"].shape[0] == len(source.modalities)
    assert set(np.unique(case["label"])) <= set(range(4))
