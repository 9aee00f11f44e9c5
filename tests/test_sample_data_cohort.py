"""``medgan sample-data``: simulated cohorts on demand, without nilearn, byte-identical for a seed."""

from __future__ import annotations

import csv
import gzip
import hashlib
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medgan.cli import main
from medgan.sample_data.atlas import load_template, read_atlas, shipped_template, template_from_blocks
from medgan.sample_data.cohort import CohortOptions, generate_cohort
from medgan.sample_data.stats import case_stats, compare

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "sample_data" / "brats"


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three cases with seed 0: two tumour cases and one healthy one (20 % of 3, rounded half up)."""
    out = tmp_path_factory.mktemp("one") / "cohort"
    summary = generate_cohort(out, cases=3, seed=0)
    assert [c.case_id for c in summary.cases] == ["BraTS-SIM-00000-000", "BraTS-SIM-00001-000",
                                                   "BraTS-SIM-01000-000"]
    return out


def test_atlas_rebuilds_the_nilearn_template_exactly() -> None:
    pytest.importorskip("nilearn")  # a dev dependency; the shipped atlas needs no nilearn
    reference = load_template()
    rebuilt = template_from_blocks(*read_atlas())
    assert np.array_equal(reference.maps, rebuilt.maps)
    assert np.array_equal(reference.world_to_voxel, rebuilt.world_to_voxel)


def test_seed_zero_reproduces_the_shipped_cases(cohort: Path) -> None:
    for case in ("BraTS-SIM-00000-000", "BraTS-SIM-00001-000", "BraTS-SIM-01000-000"):
        for path in sorted((cohort / "brats" / case).glob("*.nii.gz")):
            shipped = SHIPPED / case / path.name
            assert gzip.decompress(path.read_bytes()) == gzip.decompress(shipped.read_bytes()), path.name
    shipped_rows = {r["case_id"]: r for r in csv.DictReader((SHIPPED / "cases.csv").open())}
    for row in csv.DictReader((cohort / "brats" / "cases.csv").open()):
        assert row == shipped_rows[row["case_id"]]


def test_layout_provenance_and_licence(cohort: Path) -> None:
    assert sorted(p.name for p in (cohort / "brats").iterdir()) == [
        "BraTS-SIM-00000-000", "BraTS-SIM-00001-000", "BraTS-SIM-01000-000", "cases.csv"]
    provenance = (cohort / "PROVENANCE.md").read_text()
    assert "SIMULATED" in provenance and "ICBM152 2009a" in provenance
    assert "medgan sample-data --cases 3 --out cohort" in provenance
    assert "Copyright (C) 1993-2009 Louis Collins" in (cohort / "LICENSE-ICBM152.txt").read_text()
    listed = dict(line.split("  ")[::-1] for line in (cohort / "SHA256SUMS").read_text().splitlines())
    assert listed == {k: v for k, v in _digests(cohort).items() if k != "SHA256SUMS"}
    seg = nib.load(cohort / "brats" / "BraTS-SIM-00001-000" / "BraTS-SIM-00001-000-seg.nii.gz")
    assert seg.get_data_dtype() == np.uint8 and set(np.unique(np.asarray(seg.dataobj))) == {0, 1, 2, 3}


def test_inspect_reads_the_cohort(cohort: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(cohort / "brats")]) == 0
    assert "3 cases" in capsys.readouterr().out


def test_same_seed_same_bytes_any_workers_and_resume(cohort: Path, tmp_path: Path) -> None:
    again = tmp_path / "cohort"  # same folder name: the provenance names the folder
    generate_cohort(again, cases=3, seed=0, workers=2)
    assert _digests(again) == _digests(cohort)
    # interrupted: one file and the table gone; the rerun resumes the other cases and ends identical
    (again / "brats" / "BraTS-SIM-00001-000" / "BraTS-SIM-00001-000-t2f.nii.gz").unlink()
    (again / "brats" / "cases.csv").unlink()
    summary = generate_cohort(again, cases=3, seed=0)
    assert summary.resumed == 2
    assert _digests(again) == _digests(cohort)


def test_another_seed_gives_new_subjects(tmp_path: Path) -> None:
    summary = generate_cohort(tmp_path / "other", cases=1, seed=7, healthy_share=0.0)
    assert [c.healthy for c in summary.cases] == [False]
    new = np.asarray(nib.load(tmp_path / "other/brats/BraTS-SIM-00000-000/BraTS-SIM-00000-000-seg.nii.gz").dataobj)
    old = np.asarray(nib.load(SHIPPED / "BraTS-SIM-00000-000/BraTS-SIM-00000-000-seg.nii.gz").dataobj)
    assert set(np.unique(new)) == {0, 1, 2, 3} and not np.array_equal(new, old)
    assert shipped_template() is shipped_template()  # the atlas is read once per process


def test_statistics_check_can_fail() -> None:
    stats = [case_stats(SHIPPED, f"BraTS-SIM-{i:05d}-000") for i in range(4)]
    tumour = stats[0]
    assert abs(sum(tumour[f"share_{n}"] for n in ("NCR", "ED", "ET")) - 100.0) < 1e-9
    assert tumour["z_ET_t1c"] > 1.0 and tumour["z_ED_t2f"] > 1.0 and tumour["z_NCR_t1n"] < 0
    assert all(row.ok for row in compare(stats, stats))
    doubled = [{**s, "volume_ml": 2 * s["volume_ml"], "z_ET_t1c": s["z_ET_t1c"] - 1.0} for s in stats]
    failed = {row.quantity for row in compare(doubled, stats) if not row.ok}
    assert failed == {"tumour volume (mL)", "ET contrast t1c (z)"}


def test_command_prints_the_comparison_and_writes_a_preview(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "small"
    assert main(["sample-data", "--cases", "1", "--healthy-share", "0", "--out", str(out), "--preview",
                 "--compare", str(SHIPPED)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 1 cases (0 healthy)" in printed and "| ET contrast t1c (z) |" in printed
    assert (out / "preview.png").stat().st_size > 10_000


@pytest.mark.parametrize("argv, message", [
    (["--cases", "0"], "--cases must be at least 1"),
    (["--cases", "5", "--healthy-share", "1.5"], "--healthy-share must lie in [0, 1]"),
    (["--cases", "3000"], "at most 1000 of each"),
    (["--cases", "2", "--seed", "-1"], "--seed must be >= 0"),
])
def test_bad_options_fail_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                          message: str) -> None:
    out = tmp_path / "never"
    assert main(["sample-data", "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_foreign_or_mismatched_folder_is_refused(cohort: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["sample-data", "--cases", "2", "--out", str(foreign)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    copy = tmp_path / "copy"
    shutil.copytree(cohort, copy)
    before = _digests(copy)
    assert main(["sample-data", "--cases", "4", "--out", str(copy)]) == 2
    assert "other options" in capsys.readouterr().err
    assert _digests(copy) == before


def test_healthy_share_rounds_half_up() -> None:
    assert (CohortOptions(20).n_tumour, CohortOptions(20).n_healthy) == (16, 4)
    assert CohortOptions(120).n_healthy == 24 and CohortOptions(3).n_healthy == 1
    assert CohortOptions(10, healthy_share=0.25).n_healthy == 3
