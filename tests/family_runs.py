"""Tiny ``medgan train FAMILY`` runs of every built-in family, for the kill -9 → resume checks
(``tests/test_kill_resume.py`` and ``scripts/fault_injection.py kill-train``).

``recipe(family, work, steps)`` writes a small dataset and config under ``work`` and returns the
command-line arguments after ``medgan train FAMILY`` (without ``--out``); the run checkpoints every
``CHECKPOINT_EVERY`` steps and logs every step, so a kill lands both between checkpoints and during one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
CHECKPOINT_EVERY = 3

#: engine settings shared by every recipe: log each step, checkpoint often, keep every checkpoint
TRAIN = {"log_every": 1, "checkpoint_every": CHECKPOINT_EVERY, "checkpoint_minutes": 0, "keep_checkpoints": 1000,
         "sample_every": 0, "n_samples": 2, "device": "cpu", "progress": False}


def _config(work: Path, settings: dict) -> Path:
    path = work / "tiny.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def _lesions(work: Path, dims: int) -> Path:
    from tests.lesion_data import make_lesion_dataset

    root = work / "data"
    if not root.is_dir():
        make_lesion_dataset(root, spatial_dims=dims, n=2, size=24, healthy=1)
    return root


def _paired(work: Path) -> Path:
    from tests.translation_data import make_paired_brats

    root = work / "data"
    if not root.is_dir():
        make_paired_brats(root, n=2, shape=(20, 24, 6))
    return root


def lesion_gan(work: Path) -> list[str]:
    config = _config(work, {"train": {**TRAIN, "batch_size": 2}, "data": {"patch_size": 8, "jitter": 1},
                            "model": {"latent_dim": 4, "g_channels": 2, "d_channels": 2}})
    return ["--data", str(_lesions(work, 2)), "--config", str(config)]


def lesion_inpaint(work: Path) -> list[str]:
    config = _config(work, {"train": {**TRAIN, "batch_size": 2}, "model": {"g_channels": 2, "d_channels": 2}})
    return ["--data", str(_lesions(work, 2)), "--config", str(config), "--region-size", "16,16"]


def spade(work: Path) -> list[str]:
    config = _config(work, {"train": {**TRAIN, "batch_size": 2},
                            "model": {"base_channels": 2, "n_upsamples": 2, "z_dim": 4, "hidden_channels": 4,
                                      "d_channels": 2, "d_layers": 2}})
    return ["--data", str(_lesions(work, 2)), "--config", str(config)]


def pggan(work: Path) -> list[str]:
    data = work / "data"
    if not data.is_dir():
        data.mkdir(parents=True)
        for case in ("BraTS-SIM-00000-000", "BraTS-SIM-00001-000"):
            shutil.copytree(SAMPLE / "brats" / case, data / case,
                            ignore=shutil.ignore_patterns("*t1c*", "*t2w*", "*t2f*", "*ct*"))
    config = _config(work, {"train": {**TRAIN, "ema_decay": 0.9}, "model": {"latent_dim": 4, "fmap_base": 8,
                                                                            "fmap_max": 2},
                            "growth": {"fade_images": 4, "stable_images": 4, "batch_sizes": [2, 2]}})
    return ["--data", str(data), "--config", str(config), "--resolution", "16", "--channels", "t1n,label"]


def _translation(work: Path, model: dict) -> Path:
    return _config(work, {"train": {**TRAIN, "batch_size": 1, "ema_decay": 0.0}, "model": model})


def cyclegan(work: Path) -> list[str]:
    config = _translation(work, {"g_channels": 2, "n_blocks": 1, "d_channels": 2, "d_layers": 2})
    return ["--data", str(_paired(work)), "--domain-a", "t1n", "--domain-b", "ct", "--config", str(config)]


def pix2pix(work: Path) -> list[str]:
    config = _translation(work, {"g_channels": 2, "depth": 3, "d_channels": 2, "d_layers": 2})
    return ["--data", str(_paired(work)), "--source", "t1n", "--target", "ct", "--config", str(config)]


def consingan(work: Path) -> list[str]:
    config = _config(work, {"train": TRAIN})
    data = _lesions(work, 2)
    return ["--data", str(data / "images" / "case00.nii.gz"), "--label", str(data / "labels" / "case00.nii.gz"),
            "--config", str(config), "--min-size", "6", "--max-size", "12", "--stages", "2", "--width", "2"]


RECIPES: dict[str, Callable[[Path], list[str]]] = {
    "lesion-gan": lesion_gan, "lesion-inpaint": lesion_inpaint, "spade": spade, "pggan": pggan,
    "cyclegan": cyclegan, "pix2pix": pix2pix, "consingan": consingan}


def recipe(family: str, work: Path) -> list[str]:
    """Arguments after ``medgan train FAMILY`` (no ``--out``) for a tiny run on data written under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    return [*RECIPES[family](work), "--no-progress"]
