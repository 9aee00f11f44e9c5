"""Translation baselines fitted on training cases only, and the lesion/HU checks validated on planted
faults (an erased lesion, a spurious blob, blurred bone) against the real CT of sample cases."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from medgan.io import load_dataset
from medgan.metrics.translation import BODY_HU, body_mask, fit_translation_baselines, masked_metrics
from medgan.metrics.translation_checks import check_case, fit_tissue_ranges, translation_gate
from medgan.transforms.modality import CTWindow, IntensityConfig, make_scale
from tests.translation_data import make_paired_brats

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "brats"
TRAIN = ["BraTS-SIM-00000-000", "BraTS-SIM-00001-000", "BraTS-SIM-00002-000", "BraTS-SIM-00003-000"]
TEST = "BraTS-SIM-00015-000"
HELD_OUT = {"BraTS-SIM-00013-000", "BraTS-SIM-00014-000", TEST, "BraTS-SIM-01003-000"}


def mappings() -> SimpleNamespace:
    """The intensity mappings of an MR -> CT translator (all the baselines use of it)."""
    return SimpleNamespace(source=make_scale(IntensityConfig(), "t1n"), target=CTWindow(),
                           source_modality="t1n", target_modality="ct")


@pytest.fixture(scope="module")
def sample() -> object:
    return load_dataset(SAMPLE)


def ct_of(dataset, case_id: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    case = dataset.load(case_id)
    names = list(case["meta"]["modalities"])
    return np.clip(case["image"][names.index("ct")].astype(np.float64), -1024, 2048), case["label"][0], \
        case["meta"]["spacing"]


def test_baselines_do_not_see_the_test_cases(tmp_path):
    root = make_paired_brats(tmp_path / "d", n=3, shape=(20, 24, 6))
    before = fit_translation_baselines(mappings(), load_dataset(root), ["TR-000", "TR-001"])
    path = root / "TR-002" / "TR-002-ct.nii.gz"  # the test case's CT changes completely
    image = nib.load(str(path))
    nib.save(nib.Nifti1Image(np.full(image.shape, 900, np.int16), image.affine), str(path))
    after = fit_translation_baselines(mappings(), load_dataset(root), ["TR-000", "TR-001"])
    assert (before.slope, before.intercept) == (after.slope, after.intercept)
    assert np.array_equal(before.values, after.values) and before.n_cases == 2
    with_test = fit_translation_baselines(mappings(), load_dataset(root), ["TR-000", "TR-001", "TR-002"])
    assert not np.array_equal(with_test.values, before.values)  # it would have changed had it been seen


def test_per_tissue_beats_global_linear_on_the_sample_data(sample):
    maps = fit_translation_baselines(mappings(), sample, TRAIN)
    scale = mappings().source
    case = sample.load(TEST)
    names = list(case["meta"]["modalities"])
    x = scale.to_network(case["image"][names.index("t1n")])
    reference, _, _ = ct_of(sample, TEST)
    body = body_mask(reference, BODY_HU)
    linear = masked_metrics(maps.global_linear(x), reference, body, 3072)["mae"]
    tissue = masked_metrics(maps.per_tissue(x), reference, body, 3072)["mae"]
    assert tissue < 0.75 * linear, (tissue, linear)


@pytest.fixture(scope="module")
def ranges(sample):
    return fit_tissue_ranges([ct_of(sample, r.id)[0] for r in sample.cases if r.id not in HELD_OUT], "HU")


def test_the_real_ct_passes_every_check(sample, ranges):
    ct, label, spacing = ct_of(sample, TEST)
    result = check_case(TEST, ct, ct, label, body_mask(ct, BODY_HU), spacing, ranges)
    assert result["judged"] >= 1 and result["vanished"] == 0 and result["spurious"] == 0
    assert result["hu"]["plausible"]
    assert translation_gate([result])["passed"]


def test_a_planted_erased_lesion_is_caught(sample, ranges):
    ct, label, spacing = ct_of(sample, TEST)
    body = body_mask(ct, BODY_HU)
    lesion = label > 0
    shell = ndimage.binary_dilation(lesion, iterations=2) & ~lesion & body
    erased = ct.copy()  # lesion replaced by surrounding tissue values (their median plus the CT's noise)
    erased[lesion] = np.median(ct[shell]) + np.random.default_rng(0).normal(0, 3, int(lesion.sum()))
    result = check_case(TEST, erased, ct, label, body, spacing, ranges)
    assert result["vanished"] >= 1 and result["spurious"] == 0
    gate = translation_gate([result])
    assert not gate["passed"] and gate["failed"] == ["vanished"]


def test_a_planted_spurious_blob_is_caught(sample, ranges):
    ct, label, spacing = ct_of(sample, TEST)
    body = body_mask(ct, BODY_HU)
    brain = ndimage.binary_erosion((ct > -500) & (ct < 300), iterations=4)
    brain &= ~ndimage.binary_dilation(label > 0, iterations=5)
    centre = np.argwhere(brain)[int(brain.sum()) // 2]
    grid = np.meshgrid(*[np.arange(n) for n in ct.shape], indexing="ij")
    blob = sum((g - c) ** 2 for g, c in zip(grid, centre)) <= 4  # a 7 mm ball, +30 HU (a tumour-like contrast)
    planted = ct + 30.0 * blob
    result = check_case(TEST, planted, ct, label, body, spacing, ranges)
    assert result["spurious"] == 1 and result["vanished"] == 0
    assert np.linalg.norm(np.subtract(result["blobs"][0]["centre"], centre)) <= 2
    assert translation_gate([result])["failed"] == ["spurious"]


def test_identity_like_translation_passes_with_the_source_as_reference(tmp_path):
    """Without a real target, lesions are judged against the source: a translation that keeps the
    source's structure (here an affine intensity map) keeps every lesion and invents nothing."""
    rng = np.random.default_rng(0)
    shape = (40, 40, 24)
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radius = np.sqrt(sum(g ** 2 for g in grid))
    source = np.where(radius < 0.8, 300.0, 0.0) + rng.normal(0, 5, shape) * (radius < 0.8)
    label = np.zeros(shape, np.uint8)
    label[16:22, 16:22, 10:14] = 1
    source[label > 0] += 60
    body = radius < 0.8
    translated = 0.2 * source - 20
    result = check_case("phantom", translated, source, label, body, (1, 1, 1), None, same_units=False)
    assert result["judged"] == 1 and result["vanished"] == 0 and result["spurious"] == 0
    erased = translated.copy()
    erased[label > 0] = np.median(translated[body & (label == 0)])
    assert check_case("phantom", erased, source, label, body, (1, 1, 1), None, same_units=False)["vanished"] == 1


def test_blurred_bone_is_implausible(sample, ranges):
    ct, label, spacing = ct_of(sample, TEST)
    wrong = np.where(ct >= 300, ct - 400, ct)  # bone 400 HU too low
    result = check_case(TEST, wrong, ct, label, body_mask(ct, BODY_HU), spacing, ranges)
    assert result["hu"]["out_of_range"] == ["bone"]
    assert "hu" in translation_gate([result])["failed"]



def translated(case: dict, ct: np.ndarray) -> dict:
    """``case`` as a translation stage returns it: the ct channel replaced, the history saying so."""
    names = list(case["meta"]["modalities"])
    image = np.asarray(case["image"], np.float32).copy()
    image[names.index("ct")] = ct
    meta = {**case["meta"], "source_case": case["id"],
            "history": [{"name": "cyclegan-translate", "from": "t1n", "to": "ct", "seed": 0}]}
    return {"image": image, "label": case["label"], "meta": meta, "id": f"{case['id']}_cyclegan"}


def test_benchmark_translation_gate_refuses_an_erased_lesion(sample, tmp_path):
    from medgan.benchmark.gate import check_stage, enforce, read_gate
    from medgan.errors import ConfigError

    real = [sample.load(c) for c in ("BraTS-SIM-00000-000", "BraTS-SIM-00005-000", "BraTS-SIM-00009-000")]
    ct, label, _ = ct_of(sample, real[0]["id"])
    body = body_mask(ct, BODY_HU)
    lesion = label > 0
    shell = ndimage.binary_dilation(lesion, iterations=2) & ~lesion & body
    erased = ct.copy()
    erased[lesion] = np.median(ct[shell]) + np.random.default_rng(0).normal(0, 3, int(lesion.sum()))
    good = [translated(c, ct_of(sample, c["id"])[0]) for c in real]
    record = check_stage("cyclegan", good, real, tmp_path / "good")
    assert record["kind"] == "translation" and record["status"] == "passed", record["failed"]
    bad = [translated(real[0], erased)] + good[1:]
    record = check_stage("cyclegan", bad, real, tmp_path / "bad")
    assert record["status"] == "failed" and record["failed"] == ["vanished"]
    assert read_gate(tmp_path / "bad")["vanished"] >= 1
    assert "Translation gate (cyclegan): FAILED" in (tmp_path / "bad" / "realism.md").read_text()
    with pytest.raises(ConfigError, match="failed the translation gate"):
        enforce(record, tmp_path / "bad", allow_failed=False)
    enforce(record, tmp_path / "bad", allow_failed=True)  # the explicit override
