"""Checks of the shipped, simulated sample data and of its generator (scripts/make_sample_data.py)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import json
import re
import sys
import zlib
from pathlib import Path
from types import ModuleType

import nibabel as nib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SCRIPT = ROOT / "scripts" / "make_sample_data.py"
MODALITIES = ("t1n", "t1c", "t2w", "t2f", "ct", "seg")
NOTICE_START = "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre"



def load_script() -> ModuleType:
    """Import scripts/make_sample_data.py (scripts/ is not a package)."""
    name = "medgan_make_sample_data"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def cases() -> list[dict[str, str]]:
    table = SAMPLE / "brats" / "cases.csv"
    return read_csv(table) if table.is_file() else []


def load(path: Path) -> tuple[np.ndarray, nib.Nifti1Image]:
    img = nib.load(path)
    return np.asarray(img.dataobj), img


def test_files_match_sha256sums() -> None:
    listed = {}
    for line in (SAMPLE / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split("  ", 1)
        listed[rel] = digest
    assert list(listed) == sorted(listed)
    for rel, digest in listed.items():
        assert hashlib.sha256((SAMPLE / rel).read_bytes()).hexdigest() == digest, rel
    present = {p.relative_to(SAMPLE).as_posix() for p in SAMPLE.rglob("*") if p.is_file()}
    assert present - set(listed) <= {"SHA256SUMS", "preview.png"}


def test_regenerated_subset_is_identical(tmp_path: Path) -> None:
    import nilearn  # noqa: F401  (a dev dependency: the generator reads the ICBM152 templates from it)
    script = load_script()
    out = tmp_path / "regen"
    argv = ["--out", str(out), "--n-tumour", "1", "--n-healthy", "1", "--n-slices", "2", "--jobs", "1"]
    assert script.main(argv) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.nii.gz"))
    assert len(files) == 2 * 6 + 2 * 2
    shipped_zlib = re.search(r"zlib (\S+?);", (SAMPLE / "PROVENANCE.md").read_text())
    same_zlib = shipped_zlib is not None and shipped_zlib.group(1) == zlib.ZLIB_RUNTIME_VERSION
    for rel in files:
        new, old = (out / rel).read_bytes(), (SAMPLE / rel).read_bytes()
        assert gzip.decompress(new) == gzip.decompress(old), rel
        if same_zlib:  # another zlib build may deflate the same bytes differently
            assert new == old, rel
    regenerated = {"BraTS-SIM-00000-000", "BraTS-SIM-01000-000"}
    assert read_csv(out / "brats" / "cases.csv") == [r for r in cases() if r["case_id"] in regenerated]
    assert read_csv(out / "lesions2d" / "classes.csv") == read_csv(SAMPLE / "lesions2d" / "classes.csv")[:2]


def test_cases_table_and_counts() -> None:
    rows = cases()
    healthy = [r for r in rows if r["healthy"] == "True"]
    tumour = [r for r in rows if r["healthy"] == "False"]
    assert len(tumour) >= 16 and len(healthy) >= 4
    assert len({r["seed"] for r in rows}) == len(rows)
    folders = sorted(p.name for p in (SAMPLE / "brats").iterdir() if p.is_dir())
    assert folders == sorted(r["case_id"] for r in rows)
    provenance = (SAMPLE / "PROVENANCE.md").read_text()
    assert all(r["case_id"] in provenance for r in healthy)


@pytest.mark.parametrize("row", cases(), ids=lambda r: r["case_id"])
def test_brats_case_makes_sense(row: dict[str, str]) -> None:
    case = row["case_id"]
    volumes, images = {}, {}
    for modality in MODALITIES:
        volumes[modality], images[modality] = load(SAMPLE / "brats" / case / f"{case}-{modality}.nii.gz")
    reference = images["seg"]
    assert nib.aff2axcodes(reference.affine) == ("R", "A", "S")
    assert np.allclose(reference.header.get_zooms(), reference.header.get_zooms()[0])
    for modality, img in images.items():
        assert img.shape == reference.shape and 48 <= min(img.shape) and max(img.shape) <= 64, modality
        assert np.array_equal(img.affine, reference.affine), modality
        assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1, modality
        assert np.allclose(img.get_qform(), img.get_sform(), atol=1e-4), modality

    seg = volumes["seg"]
    assert seg.dtype == np.uint8 and set(np.unique(seg)) <= {0, 1, 2, 3}
    assert int(np.count_nonzero(seg)) == int(row["tumour_voxels"])
    if row["healthy"] == "True":
        assert not seg.any()
    else:
        assert set(np.unique(seg)) == {0, 1, 2, 3}

    for modality in ("t1n", "t1c", "t2w", "t2f"):
        assert volumes[modality].dtype == np.int16 and volumes[modality].min() >= 0, modality
    ct = volumes["ct"]
    assert ct.dtype == np.int16
    corners = ct[[0, -1]][:, [0, -1]][:, :, [0, -1]]
    assert np.all(np.abs(corners + 1000) <= 30)
    assert np.count_nonzero(ct > 500) > 500  # a skull shell
    head = ct > -500
    background = ct == -1000  # outside the head: constant air, MR 0
    assert background.mean() > 0.3
    assert np.mean(volumes["t1n"][background] == 0) > 0.99

    if row["healthy"] == "False":
        mean = {m: {k: volumes[m][seg == k].mean() for k in (1, 2, 3)} for m in ("t1n", "t1c", "t2f")}
        assert mean["t1c"][3] > mean["t1c"][2]  # enhancing rim bright after contrast
        assert mean["t1n"][1] < mean["t1n"][2]  # necrotic core dark on T1
        brain = head & (ct > 0) & (ct < 60) & (seg == 0)
        assert mean["t2f"][2] > np.median(volumes["t2f"][brain])  # oedema bright on FLAIR


def test_lesions2d_make_sense() -> None:
    names = json.loads((SAMPLE / "lesions2d" / "class_names.json").read_text())
    assert names == {"1": "cyst", "2": "metastasis", "3": "haemangioma"}
    rows = read_csv(SAMPLE / "lesions2d" / "classes.csv")
    images = sorted(p.name for p in (SAMPLE / "lesions2d" / "images").glob("*.nii.gz"))
    labels = sorted(p.name for p in (SAMPLE / "lesions2d" / "labels").glob("*.nii.gz"))
    assert images == labels == sorted(f"{r['name']}.nii.gz" for r in rows)
    assert len(rows) >= 80
    for row in rows:
        image, image_img = load(SAMPLE / "lesions2d" / "images" / f"{row['name']}.nii.gz")
        label, label_img = load(SAMPLE / "lesions2d" / "labels" / f"{row['name']}.nii.gz")
        assert image.ndim == 2 and image.shape == label.shape
        assert image.dtype == np.int16 and image.min() >= 0
        assert label.dtype == np.uint8 and set(np.unique(label)) <= {0, 1, 2, 3}
        assert set(np.unique(label)) - {0} == {int(row["class_id"])}, row["name"]
        assert names[row["class_id"]] == row["class_name"]
        assert np.array_equal(image_img.affine, label_img.affine)


def test_documents() -> None:
    provenance = (SAMPLE / "PROVENANCE.md").read_text()
    assert "SIMULATED" in provenance
    assert "python scripts/make_sample_data.py --out sample_data" in provenance
    assert NOTICE_START in provenance
    assert NOTICE_START in (SAMPLE / "LICENSE-ICBM152.txt").read_text()
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 16_000_000
