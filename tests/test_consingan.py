"""The consingan family: a tiny 2D and 3D run through the command line, labels decoded only to the
case's values, affine kept, exact resume across stage starts, the staged optimiser layout, the
benchmark stage, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from medgan.cli import main
from medgan.families.consingan.config import ConSinGANConfig, pyramid_scales
from medgan.families.consingan.sampling import ConSinGANSampler
from medgan.registry import SYNTHESIS_STAGES
from medgan.training.checkpoint import list_checkpoints
from medgan.training.grid import save_grid

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
LESION_IMAGE = SAMPLE / "lesions2d" / "images" / "lesion-0000.nii.gz"
LESION_LABEL = SAMPLE / "lesions2d" / "labels" / "lesion-0000.nii.gz"
TINY = ["--min-size", "6", "--max-size", "16", "--stages", "3", "--width", "4", "--no-progress"]


def write_case(folder: Path, shape: tuple[int, ...], values: tuple[int, ...] = (0, 3, 7)) -> tuple[Path, Path]:
    """A small image with a label map holding ``values`` (not contiguous), and an oblique affine."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"))
    r = np.sqrt(((grid - (np.array(shape) / 2).reshape((-1,) + (1,) * len(shape))) ** 2).sum(0))
    label = np.where(r < 2.5, values[2], np.where(r < 5, values[1], values[0])).astype(np.uint8)
    image = (label * 20 + rng.normal(100, 5, shape)).astype(np.int16)
    affine = np.array([[0.9, 0.1, 0, -10], [0, 1.2, 0, 5], [0, 0, 2.5, 3], [0, 0, 0, 1]])
    folder.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(image, affine), folder / "case.nii.gz")
    nib.save(nib.Nifti1Image(label, affine), folder / "case_seg.nii.gz")
    return folder / "case.nii.gz", folder / "case_seg.nii.gz"


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(list_checkpoints(run / "checkpoints")[-1] / "networks.safetensors"))


def test_pyramid_scales_follow_the_paper() -> None:
    scales = pyramid_scales([256, 256], 6, 25, 250)
    assert len(scales) == 6 and scales[0] == [25, 25] and scales[-1] == [250, 250]
    assert all(a[0] < b[0] for a, b in zip(scales, scales[1:]))
    assert len(pyramid_scales([16, 16], 6, 8, 250)) < 6        # a small case gets fewer stages
    assert pyramid_scales([8, 8], 6, 8, 250) == [[8, 8]]
    assert pyramid_scales([64, 64, 32], 6, 8, 32)[-1] == [32, 32, 16]


def test_2d_train_and_synthesize_keep_affine_and_label_values(tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "out"
    assert main(["train", "consingan", "--data", str(LESION_IMAGE), "--label", str(LESION_LABEL),
                 "--out", str(run), "--steps", "6", *TINY]) == 0
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["family"] == "consingan" and config["data"]["label_values"] == [0, 1]
    assert len(config["model"]["scales"]) == 3 and config["model"]["channels"] == 3
    assert main(["synthesize", str(run), str(out), "--n", "3", "--seed", "1"]) == 0
    source = nib.load(LESION_IMAGE)
    images = sorted((out / "images").glob("*.nii.gz"))
    assert len(images) == 3
    for path in images:
        image, label = nib.load(path), nib.load(out / "labels" / path.name)
        assert image.shape == source.shape and np.allclose(image.affine, source.affine)
        assert np.allclose(label.affine, source.affine) and image.get_data_dtype() == np.int16
        assert set(np.unique(np.asarray(label.dataobj)).tolist()) <= {0, 1}
    first = np.asarray(nib.load(images[0]).dataobj)
    assert not np.array_equal(first, np.asarray(nib.load(images[1]).dataobj))  # variations, not copies
    # the same seed gives the same cases
    assert main(["synthesize", str(run), str(tmp_path / "again"), "--n", "1", "--seed", "1"]) == 0
    assert np.array_equal(first, np.asarray(nib.load(tmp_path / "again" / "images" / images[0].name).dataobj))


def test_3d_dataset_case_through_the_cli(tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "out"
    brats = SAMPLE / "brats"
    case = "BraTS-SIM-00000-000"
    assert main(["train", "consingan", "--data", str(brats), "--case", case, "--out", str(run),
                 "--steps", "4", "--min-size", "6", "--max-size", "10", "--stages", "2", "--width", "4",
                 "--no-progress"]) == 0
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["spatial_dims"] == 3 and len(config["model"]["scales"]) == 2
    assert main(["synthesize", str(run), str(out), "--n", "1"]) == 0
    seg = nib.load(brats / case / f"{case}-seg.nii.gz")
    values = set(np.unique(np.asarray(seg.dataobj)).tolist())
    label = nib.load(out / "labels" / "consingan-0000.nii.gz")
    assert label.shape == seg.shape and np.allclose(label.affine, seg.affine)
    assert set(np.unique(np.asarray(label.dataobj)).tolist()) <= values
    images = sorted((out / "images").glob("consingan-0000_*.nii.gz"))
    assert len(images) == len(config["data"]["modalities"]) > 1


def test_labels_decode_only_to_the_case_values(tmp_path: Path) -> None:
    """Random outputs (every class wins somewhere) decode to exactly the case's label values."""
    image, label = write_case(tmp_path, (12, 12))
    run = tmp_path / "run"
    assert main(["train", "consingan", "--data", str(image), "--label", str(label), "--out", str(run),
                 "--steps", "2", *TINY]) == 0
    from medgan.training.run import load_run

    sampler = ConSinGANSampler.from_loaded(load_run(run))
    output = torch.randn(4, 6, 6, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    case = sampler.to_case(output, "x")
    assert set(np.unique(case["label"]).tolist()) == {0, 3, 7}
    assert case["label"].shape == (1, 12, 12) and case["label"].dtype == np.uint8
    assert np.allclose(case["meta"]["affine"], nib.load(image).affine)


def test_resume_is_bit_exact_across_stage_starts(tmp_path: Path) -> None:
    image, label = write_case(tmp_path / "data", (16, 16))
    settings = tmp_path / "config.yaml"
    settings.write_text(yaml.safe_dump({"steps_per_stage": 3, "n_critic": 2, "g_repeats": 1,
                                        "train": {"checkpoint_every": 0, "sample_every": 0, "log_every": 1}}))
    common = ["train", "consingan", "--data", str(image), "--label", str(label), "--config", str(settings), *TINY]
    assert main([*common, "--out", str(tmp_path / "full"), "--steps", "9"]) == 0
    for stop in (3, 4):                              # at a stage start and one step into the stage
        run = tmp_path / f"part{stop}"
        assert main([*common, "--out", str(run), "--steps", str(stop)]) == 0
        assert main(["train", "consingan", "--data", str(image), "--out", str(run), "--resume", "--steps", "9",
                     "--no-progress"]) == 0
        full, part = weights(tmp_path / "full"), weights(run)
        assert full.keys() == part.keys()
        assert all(torch.equal(full[k], part[k]) for k in full), f"resumed at {stop} differs"
    from medgan.training.run import load_run

    state = load_run(tmp_path / "full").state
    assert state["stage"] == 2 and len(state["amplitudes"]) == 3 and 0 < state["amplitudes"][1]


def test_stage_layout_trains_the_last_stages_at_delta() -> None:
    from medgan.families.consingan.step import ConSinGANStep

    config = ConSinGANConfig()
    config.model.stages, config.model.min_size, config.model.max_size, config.model.width = 4, 4, 12, 4
    config.steps_per_stage, config.trained_stages = 2, 2
    grid = np.arange(144, dtype=np.float32).reshape(1, 12, 12)
    case = {"image": grid, "id": "c", "meta": {"affine": np.eye(4), "modalities": ["t1"]}}
    step = ConSinGANStep(config, 0, 1, cases=[case])
    step.steps_done = 5
    step._update_stage()
    groups = step.optimizers["G"].groups
    assert step.stage == 2 and step.optimizers["G"].stage == 2
    assert [(g.modules, g.lr_scale) for g in groups] == [(("G.body.1",), pytest.approx(0.1)), (("G.body.2",), 1.0),
                                                         (("G.tail",), 1.0)]


def test_benchmark_stage_learns_the_first_case(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    cases = [{"image": rng.normal(size=(1, 12, 12)).astype(np.float32), "id": f"c{i}",
              "label": np.where(rng.random((1, 12, 12)) > 0.7, 2 + i, 0).astype(np.int64),
              "meta": {"affine": np.diag([1.0 + i, 1, 1, 1]), "modalities": ["t1"]}} for i in range(2)]
    stage = SYNTHESIS_STAGES.get("consingan")({"train": {"steps": 2}, "model": {"min_size": 6, "max_size": 12,
                                                                                 "width": 4}}, 2, "cpu")
    stage.fit(cases, tmp_path, seed=0)
    samples = stage.sample(2, seed=0, context=cases)
    assert len(samples) == 2 and samples[0]["meta"]["history"][-1]["source_case"] == "c0"
    assert all(set(np.unique(s["label"]).tolist()) <= {0, 2} for s in samples)
    assert np.allclose(samples[0]["meta"]["affine"], cases[0]["meta"]["affine"])
    with pytest.raises(Exception, match="stepz"):
        SYNTHESIS_STAGES.get("consingan")({"train": {"stepz": 2}}, 2, "cpu")


def test_a_dataset_of_several_cases_needs_a_case(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["train", "consingan", "--data", str(SAMPLE / "brats"), "--out", str(tmp_path / "run"), *TINY])
    err = capsys.readouterr().err
    assert code != 0 and "choose it with --case" in err and "Traceback" not in err


@pytest.mark.parametrize(("option", "value", "named"), [("--stages", "0", "model.stages"),
                                                      ("--lr-scale", "1.5", "lr_scale"),
                                                      ("--trained-stages", "0", "trained_stages")])
def test_bad_settings_fail_before_the_data_is_read(tmp_path: Path, capsys: pytest.CaptureFixture, option: str,
                                                   value: str, named: str) -> None:
    code = main(["train", "consingan", "--data", str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path / "run"),
                 option, value, "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and named in err and "missing" not in err and "Traceback" not in err


def test_samples_png(tmp_path: Path) -> None:
    """Write a PNG of samples next to the real case (for looking at; the values are checked above)."""
    run = tmp_path / "run"
    assert main(["train", "consingan", "--data", str(LESION_IMAGE), "--label", str(LESION_LABEL),
                 "--out", str(run), "--steps", "3", *TINY]) == 0
    from medgan.training.run import load_run

    sampler = ConSinGANSampler.from_loaded(load_run(run))
    outputs = sampler.generate(3, seed=0)
    save_grid(outputs, tmp_path / "samples.png")
    assert (tmp_path / "samples.png").stat().st_size > 0 and outputs.abs().max() <= 1


def test_harmonization_keeps_the_pasted_label_and_the_grid(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    image, label = write_case(tmp_path / "data", (16, 16))
    scan = nib.load(image)
    naive = np.asarray(scan.dataobj).copy()
    naive[2:6, 2:6] = 400                                   # a naively pasted bright "lesion"
    pasted = np.zeros(naive.shape, np.uint8)
    pasted[2:6, 2:6] = 9
    nib.save(nib.Nifti1Image(naive, scan.affine), tmp_path / "naive.nii.gz")
    nib.save(nib.Nifti1Image(pasted, scan.affine), tmp_path / "naive_seg.nii.gz")
    run = tmp_path / "run"
    assert main(["train", "consingan", "--mode", "harmonization", "--data", str(image), "--out", str(run),
                 "--steps", "6", *TINY]) == 0
    harmonize = ["--harmonize", str(tmp_path / "naive.nii.gz"), "--harmonize-label", str(tmp_path / "naive_seg.nii.gz")]
    assert main(["synthesize", str(run), str(tmp_path / "out"), "--n", "2", *harmonize]) == 0
    out = nib.load(tmp_path / "out" / "images" / "harmonized-0000.nii.gz")
    out_label = nib.load(tmp_path / "out" / "labels" / "harmonized-0000.nii.gz")
    assert np.allclose(out.affine, scan.affine) and out.shape == scan.shape
    assert np.array_equal(np.asarray(out_label.dataobj), pasted)        # the pasted label, unchanged
    assert not np.array_equal(np.asarray(out.dataobj), naive)
    assert main(["synthesize", str(run), str(tmp_path / "again"), "--n", "1", *harmonize]) == 0
    again = nib.load(tmp_path / "again" / "images" / "harmonized-0000.nii.gz")
    assert np.array_equal(np.asarray(again.dataobj), np.asarray(out.dataobj))
    # a generation run cannot harmonize; a harmonization run does not sample from noise: one line each
    generation = tmp_path / "generation"
    assert main(["train", "consingan", "--data", str(image), "--out", str(generation), "--steps", "1", *TINY]) == 0
    capsys.readouterr()
    assert main(["synthesize", str(generation), str(tmp_path / "x"), "--n", "1", *harmonize]) != 0
    assert main(["synthesize", str(run), str(tmp_path / "y"), "--n", "1"]) != 0
    err = capsys.readouterr().err
    assert "--mode harmonization" in err and "does not sample from noise" in err and "Traceback" not in err
