"""Copy-paste lesions: exact labels, untouched image outside the blend, seeded, the benchmark stage on
the sample tumours passes the realism gate (copies allowed), and insertion into anisotropic volumes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import medgan.synthesis  # noqa: F401  (registers the copy-paste stage)
from medgan.errors import DataError
from medgan.io import load_dataset
from medgan.metrics.lesion_stats import case_lesions
from medgan.metrics.realism import RealismOptions, realism_gate, realism_markdown
from medgan.registry import SYNTHESIS_STAGES
from medgan.synthesis.copypaste import CopyPasteOptions, collect_lesions, copy_paste_case
from medgan.synthesis.copypaste_stage import copy_paste_into
from medgan.transforms.lesion_extent import resample_to_spacing
from tests.conftest import SAMPLE_DATA, save_nifti, tree_digest


@pytest.fixture(scope="module")
def brats():
    dataset = load_dataset(SAMPLE_DATA / "brats")
    cases = [dataset.load(ref) for ref in dataset.cases]
    return [c for c in cases if c["label"].any()], [c for c in cases if not c["label"].any()]


def test_pasted_lesions_carry_exact_labels_and_leave_the_rest_untouched(brats):
    tumours, healthy = brats
    bank = collect_lesions(tumours[:6])
    assert len(bank) == 6 and all(set(np.unique(b.label)) <= {0, 1, 2, 3} for b in bank)
    target = tumours[7]
    new = copy_paste_case(target, bank, np.random.default_rng(3))
    record = new["meta"]["history"][-1]["lesions"][0]
    assert record["source_case"] != target["id"] and new["meta"]["source_case"] == target["id"]
    added = new["label"][0] != target["label"][0]
    assert added.sum() == record["voxels"] > 100
    assert np.all(target["label"][0][added] == 0)  # never over an existing lesion
    assert set(np.unique(new["label"][0][added]).tolist()) == set(record["labels"]) <= {1, 2, 3}
    # away from the existing tumour by the margin, image unchanged far from the new lesion
    far = np.ones_like(added)
    low, high = np.argwhere(added).min(0), np.argwhere(added).max(0)
    far[tuple(slice(max(0, lo - 4), hi + 5) for lo, hi in zip(low, high))] = 0  # 8 mm ramp: under 3 voxels
    assert np.array_equal(new["image"][:, far], target["image"][:, far])
    assert new["image"].dtype == target["image"].dtype and new["label"].dtype == target["label"].dtype
    assert target["meta"]["history"] == []  # input not modified


def test_copy_paste_is_seeded(brats):
    tumours, healthy = brats
    bank = collect_lesions(tumours[:4])
    a = copy_paste_case(healthy[0], bank, np.random.default_rng([1, 2]))
    b = copy_paste_case(healthy[0], bank, np.random.default_rng([1, 2]))
    c = copy_paste_case(healthy[0], bank, np.random.default_rng([1, 3]))
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["label"], b["label"])
    assert not np.array_equal(a["label"], c["label"])


def test_stage_fills_healthy_cases_first_and_passes_the_realism_gate(brats, tmp_path):
    tumours, healthy = brats
    training = tumours[:10] + healthy
    stage = SYNTHESIS_STAGES.get("copy-paste")({"lesions_per_case": 1}, 3, "cpu")
    stage.fit(training, tmp_path, seed=0)
    assert (tmp_path / "lesions.json").is_file()
    synthetic = stage.sample(8, seed=0, context=training)
    assert [c["meta"]["source_case"] for c in synthetic[:4]] and \
        {c["meta"]["source_case"] for c in synthetic[:4]} == {c["id"] for c in healthy}
    result = realism_gate(synthetic, tumours[:10], options=RealismOptions(allow_copies=True))
    assert result.passed, realism_markdown(result)
    # contrast is preserved: FLAIR oedema as bright against its new surroundings as in real tumours
    table = result.criteria["contrast"].numbers["by_label_modality"]["2/t2f"]
    assert abs(table["synthetic"] - table["real"]) < 0.5 and table["synthetic"] > 1.0
    # lesions pasted into tumour cases are judged alone (the case's own tumour is not counted)
    into_tumour = [c for c in synthetic if c["meta"]["source_case"] not in {h["id"] for h in healthy}]
    source = {c["id"]: c for c in training}[into_tumour[0]["meta"]["source_case"]]
    assert len(case_lesions(into_tumour[0], source)) == 1


def test_stage_refuses_unknown_options():
    with pytest.raises(Exception, match="rotation"):
        SYNTHESIS_STAGES.get("copy-paste")({"rotation": 10}, 3, "cpu")


def test_copy_paste_into_anisotropic_volumes_keeps_lesion_sizes_in_mm(brats, tmp_path):
    tumours, healthy = brats
    target = tmp_path / "aniso"
    modalities = ["t1n", "t1c", "t2w", "t2f", "ct"]
    for case in healthy[:2]:
        affine = np.array(case["meta"]["affine"], float)
        affine[:3, :3] = affine[:3, :3] @ np.diag([3.0 / 3.5, 3.0 / 3.5, 6.0 / 3.5])
        image = resample_to_spacing(case["image"], (3.5,) * 3, (3.0, 3.0, 6.0))
        for channel, name in zip(image, modalities):
            save_nifti(target / case["id"] / f"{case['id']}-{name}.nii.gz", np.rint(channel).astype(np.int16), affine)
        save_nifti(target / case["id"] / f"{case['id']}-seg.nii.gz", np.zeros(image.shape[1:], np.uint8), affine)
    before = tree_digest(target)
    out = tmp_path / "out"
    tumour_ids = ",".join(c["id"] for c in tumours[:5])
    manifest = copy_paste_into(SAMPLE_DATA / "brats", target, out, n=3, seed=4, cases=tumour_ids.split(","),
                               options={"rotate": 0, "scale": [1.0, 1.0], "elastic_mm": 0, "flips": False})
    assert tree_digest(target) == before
    rows = pd.read_csv(manifest)
    assert sorted(rows["case_id"]) == sorted(f"{h['id']}_cp{i:04d}" for i, h in enumerate(healthy[:2] + healthy[:1]))
    written = load_dataset(out)
    sources = {c["id"]: c for c in tumours}
    for row in rows.itertuples():
        case = written.load(row.case_id)
        assert case["meta"]["spacing"] == pytest.approx((3.0, 3.0, 6.0))
        assert set(np.unique(case["label"]).tolist()) <= {0, 1, 2, 3}
        source = sources[row.lesion_sources]
        source_ml = np.prod(source["meta"]["spacing"]) * (source["label"] > 0).sum() / 1000
        pasted_ml = 3.0 * 3.0 * 6.0 * (case["label"] > 0).sum() / 1000
        assert abs(pasted_ml - source_ml) / source_ml < 0.25  # same size in mL, not in voxels
    # resumable: a re-run keeps the finished cases
    stamp = (out / rows["case_id"][0] / f"{rows['case_id'][0]}-seg.nii.gz").stat().st_mtime_ns
    copy_paste_into(SAMPLE_DATA / "brats", target, out, n=3, seed=4, cases=tumour_ids.split(","),
                    options={"rotate": 0, "scale": [1.0, 1.0], "elastic_mm": 0, "flips": False})
    assert (out / rows["case_id"][0] / f"{rows['case_id'][0]}-seg.nii.gz").stat().st_mtime_ns == stamp


def test_copy_paste_into_refuses_a_target_without_the_modalities(brats, tmp_path):
    _, healthy = brats
    case = healthy[0]
    save_nifti(tmp_path / "t" / "images" / "a.nii.gz", case["image"][0], np.array(case["meta"]["affine"]))
    with pytest.raises(DataError, match="modality"):
        copy_paste_into(SAMPLE_DATA / "brats", tmp_path / "t", tmp_path / "out", n=1)
    assert not (tmp_path / "out").exists()


def test_a_case_without_room_is_a_clear_error(brats):
    tumours, healthy = brats
    bank = collect_lesions(tumours[:3])
    tiny = {**healthy[0], "image": healthy[0]["image"][:, 20:30, 20:30, 20:30],
            "label": healthy[0]["label"][:, 20:30, 20:30, 20:30], "id": "tiny"}
    with pytest.raises(DataError, match="no place"):
        copy_paste_case(tiny, bank, np.random.default_rng(0), CopyPasteOptions())
