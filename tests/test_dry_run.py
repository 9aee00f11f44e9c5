"""``medgan train FAMILY ... --dry-run``: one real step measured, nothing written, refusal when it cannot fit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from medgan.cli import build_parser, main
from medgan.config import read_yaml
from medgan.registry import GAN_FAMILIES
from medgan.training.spec import family_config
from tests.lesion_data import make_lesion_dataset
from tests.translation_data import TINY_CYCLEGAN, TINY_PIX2PIX, make_paired_brats

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
CPU = {"device": "cpu", "progress": False}
TINY = {
    "spade": ({"model": {"base_channels": 2, "n_upsamples": 3, "z_dim": 4, "hidden_channels": 4, "d_channels": 2,
                         "d_layers": 3}, "train": {"batch_size": 2, **CPU}}, ["--data", "lesions2d"]),
    "pggan": ({"model": {"latent_dim": 8, "fmap_base": 16, "fmap_max": 4},
               "growth": {"fade_images": 4, "stable_images": 4, "batch_sizes": [4, 2]}, "train": CPU},
              ["--data", "brats", "--resolution", "16", "--channels", "t1n,label"]),
    "lesion-gan": ({"data": {"patch_size": 8, "jitter": 1},
                    "model": {"latent_dim": 8, "g_channels": 4, "d_channels": 4}, "train": {"batch_size": 4, **CPU}},
                   ["--data", "lesion3d"]),
    "lesion-inpaint": ({"model": {"g_channels": 4, "d_channels": 4}, "train": {"batch_size": 2, **CPU}},
                       ["--data", "lesion3d"]),
    "consingan": ({"train": CPU}, ["--data", "lesion2d-image", "--min-size", "6", "--max-size", "16", "--stages", "3",
                                   "--width", "4"]),
    "cyclegan": (TINY_CYCLEGAN, ["--data", "paired", "--domain-a", "t1n", "--domain-b", "ct"]),
    "pix2pix": (TINY_PIX2PIX, ["--data", "paired", "--source", "t1n", "--target", "ct"]),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dry_data")
    return {"lesions2d": SAMPLE / "lesions2d", "brats": SAMPLE / "brats",
            "lesion2d-image": SAMPLE / "lesions2d" / "images" / "lesion-0000.nii.gz",
            "lesion3d": make_lesion_dataset(root / "lesion3d", spatial_dims=3, n=2, size=24),
            "paired": make_paired_brats(root / "paired", n=2)}


def files_under(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*")}


def _argv(family: str, tmp_path: Path, data: dict[str, Path], settings: dict) -> list[str]:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(settings))
    extra = list(TINY[family][1])
    extra[1] = str(data[extra[1]])
    return ["train", family, *extra, "--config", str(config), "--steps", "7"]


@pytest.mark.parametrize("family", sorted(TINY))
def test_dry_run_prints_positive_costs_and_writes_nothing(family, tmp_path, data, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = _argv(family, tmp_path, data, TINY[family][0])
    watched = [tmp_path, SAMPLE, *{p.parent for p in data.values()}]
    before = {str(w): files_under(w) for w in watched}
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert {str(w): files_under(w) for w in watched} == before  # no run folder, nothing touched
    total = int(re.search(r"parameters total: ([\d,]+)", out).group(1).replace(",", ""))
    peak = float(re.search(r"estimated peak memory: ([\d.]+) MB", out).group(1))
    seconds = float(re.search(r"seconds per step: ([\d.]+)", out).group(1))
    assert re.search(r"estimated time: 7 steps x ", out)
    assert peak > 0 and seconds > 0 and total > 0
    # the count printed is the family's own networks, built again from the same arguments
    args = build_parser().parse_args(argv)
    spec = GAN_FAMILIES.get(family)
    config = spec.apply_train_arguments(args, family_config(spec, read_yaml(args.config), preset=False))
    torch.manual_seed(0)
    step = spec.build(config, 0, 1)
    assert total == sum(p.numel() for net in step.networks.values() for p in net.parameters())


def test_dry_run_refuses_a_run_over_the_memory_limit_in_one_line(tmp_path, data, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDGAN_AVAILABLE_MB", "5")
    assert main([*_argv("spade", tmp_path, data, TINY["spade"][0]), "--dry-run"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "5 MB is available" in err and "train.batch_size (now 2)" in err and "model.base_channels" in err
    assert list(tmp_path.iterdir()) == [tmp_path / "c.yaml"]


def test_training_refuses_networks_that_cannot_fit_before_its_first_step(tmp_path, data, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDGAN_AVAILABLE_MB", "0.01")
    assert main([*_argv("pggan", tmp_path, data, TINY["pggan"][0]), "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "0.01 MB is available" in err and "model.fmap_base (now 16)" in err
    assert not (tmp_path / "run").exists()


def test_train_without_out_or_with_resume_is_refused(tmp_path, data, capsys):
    argv = _argv("spade", tmp_path, data, TINY["spade"][0])
    assert main(argv) != 0
    assert "--out is required" in capsys.readouterr().err
    assert main([*argv, "--dry-run", "--resume"]) != 0
    assert "drop --resume" in capsys.readouterr().err


DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "demo.yaml"


def test_benchmark_dry_run_prints_each_kind_and_a_total_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from monai.networks.nets import UNet

    from medgan.benchmark.pipeline import load_pipeline

    monkeypatch.chdir(tmp_path)
    before = files_under(SAMPLE)
    assert main(["benchmark", str(DEMO), "--quick", "--dry-run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [] and files_under(SAMPLE) == before
    rows = {line.split("|")[1].strip(): [v.strip() for v in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("| ") and not line.startswith("| kind")}
    unet, stage = rows["unet backend"], rows["stage lesion-inpaint"]
    o = load_pipeline(DEMO, quick=True).unet
    expected = UNet(3, 4, 4, channels=o.channels, strides=o.strides, num_res_units=o.num_res_units)
    assert int(unet[1].replace(",", "")) == sum(p.numel() for p in expected.parameters())
    assert int(unet[0]) == 5 and int(stage[0]) == 1 and rows["stage copy-paste"][1] == "-"
    for row in (unet, stage):
        assert int(row[1].replace(",", "")) > 0 and float(row[2]) > 0 and float(row[3]) > 0
    assert "estimated total:" in out


def test_benchmark_dry_run_refuses_over_the_memory_limit_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDGAN_AVAILABLE_MB", "1")
    assert main(["benchmark", str(DEMO), "--quick", "--dry-run", "--device", "cpu"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unet.batch_size (now 2)" in err and "1 MB is available" in err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ bad input


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("family,settings,named", [
    ("lesion-gan", {"data": {"patch_size": 64}}, "data.patch_size"),
    ("lesion-inpaint", {"data": {"region_size": [8, 8, 64]}}, "data.region_size"),
    ("pix2pix", {"data": {"patch_size": 128}}, "data.patch_size"),
    ("cyclegan", {"data": {"patch_size": 64}}, "data.patch_size"),
])
def test_a_patch_larger_than_the_volume_is_one_line_before_training(family, settings, named, tmp_path, data,
                                                                     capsys, monkeypatch):
    from medgan.training.spec import merge_settings

    monkeypatch.chdir(tmp_path)
    argv = _argv(family, tmp_path, data, merge_settings(TINY[family][0], settings))
    assert main([*argv, "--out", str(tmp_path / "run")]) != 0
    err = _one_line(capsys)
    # the setting is named, with what the data allows (checked when the family is built, before any folder)
    assert named in err and "larger than" in err and ("give at most" in err or "lower data." in err)
    assert not (tmp_path / "run").exists()


def test_spade_cache_rule_refuses_a_cache_over_memory_and_warns_when_the_data_outgrows_it(tmp_path, data, capsys,
                                                                                         monkeypatch):
    from medgan.training.spec import merge_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDGAN_AVAILABLE_MB", "0.1")
    assert main([*_argv("spade", tmp_path, data, TINY["spade"][0]), "--dry-run"]) != 0
    err = _one_line(capsys)
    assert "would keep 96 cases" in err and "lower data.cache_mb" in err
    monkeypatch.delenv("MEDGAN_AVAILABLE_MB")
    small = merge_settings(TINY["spade"][0], {"data": {"cache_mb": 0}})
    assert main([*_argv("spade", tmp_path, data, small), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "warning: data.cache_mb 0 holds 0 of the 96 training cases" in err
