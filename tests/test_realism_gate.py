"""The realism gate on real sample cases: real against real passes; wrong labels, invisible lesions,
pasted cubes and exact copies each fail the criteria that describe them."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from medgan.io import load_dataset
from medgan.metrics.lesion_stats import LesionOptions, case_lesions
from medgan.metrics.realism import RealismOptions, realism_gate, realism_markdown
from medgan.transforms.lesion_extent import resample_to_spacing
from tests.conftest import SAMPLE_DATA


@pytest.fixture(scope="module")
def brats():
    dataset = load_dataset(SAMPLE_DATA / "brats")
    cases = [dataset.load(ref) for ref in dataset.cases]
    tumours = [c for c in cases if c["label"].any()]
    healthy = [c for c in cases if not c["label"].any()]
    return tumours[::2], tumours[1::2], healthy  # "training" tumours, other real tumours, healthy


def test_real_lesions_against_other_real_lesions_pass_every_criterion(brats):
    training, others, _ = brats
    before = copy.deepcopy(others[0]["label"])
    result = realism_gate(others, training)
    assert result.passed, realism_markdown(result)
    assert result.n_real == result.n_synthetic == 8
    assert np.array_equal(others[0]["label"], before)  # inputs untouched
    numbers = result.to_dict()["criteria"]
    assert numbers["label_values"]["numbers"]["real"] == [1, 2, 3]
    # FLAIR (t2f) oedema is bright in the sample tumours: a visible, positive contrast
    assert numbers["contrast"]["numbers"]["by_label_modality"]["2/t2f"]["real"] > 1.0


def test_real_lesions_on_anisotropic_voxels_still_pass(brats):
    """Sizes and contrasts are physical: the same tumours on 3 x 3 x 6 mm voxels compare as real."""
    training, others, _ = brats
    coarse = [{**c, "image": resample_to_spacing(c["image"], (3.5,) * 3, (3.0, 3.0, 6.0)),
               "label": resample_to_spacing(c["label"], (3.5,) * 3, (3.0, 3.0, 6.0), labels=True),
               "meta": {**c["meta"], "spacing": (3.0, 3.0, 6.0)}} for c in others]
    result = realism_gate(coarse, training)
    assert result.passed, realism_markdown(result)


def test_labels_never_seen_in_training_fail_the_label_criteria(brats):
    training, others, _ = brats
    wrong = [{**c, "label": np.where(c["label"] == 3, 4, c["label"]).astype(np.uint8)} for c in others]
    result = realism_gate(wrong, training)
    assert {"label_values", "label_proportions"} <= set(result.failed())
    assert result.criteria["label_values"].numbers["unknown"] == [4]
    assert result.criteria["label_values"].numbers["missing"] == [3]
    assert result.criteria["volume"].passed and result.criteria["memorisation"].passed


def test_labels_over_an_untouched_image_are_invisible(brats):
    training, others, healthy = brats
    invisible = [{**h, "label": c["label"].copy(), "id": f"invisible{i}"} for i, (h, c) in
                 enumerate(zip(healthy, others))]
    result = realism_gate(invisible, training)
    assert {"visible", "contrast", "sharpness"} <= set(result.failed())
    # the label criteria judge labels, and these are real tumour labels
    assert result.criteria["label_values"].passed and result.criteria["label_proportions"].passed
    assert result.criteria["volume"].passed


def test_pasted_cubes_fail(brats):
    training, _, healthy = brats
    cubes = []
    for i, h in enumerate(healthy):
        image, label = h["image"].astype(np.float32), np.zeros_like(h["label"])
        box = (slice(20, 28), slice(24, 32), slice(25, 33))
        label[(0,) + box] = 2
        for m in range(len(image)):
            image[(m,) + box] = image[m][label[0] == 0].mean() + 2.0 * image[m].std()
        cubes.append({**h, "image": image, "label": label, "id": f"cube{i}"})
    result = realism_gate(cubes, training)
    assert {"label_values", "label_proportions", "sharpness", "volume"} <= set(result.failed())


def test_exact_copies_are_memorised_unless_copies_are_allowed(brats):
    training, _, _ = brats
    copies = [{**c, "id": c["id"] + "_copy"} for c in training[:4]]
    result = realism_gate(copies, training)
    assert result.failed() == ["memorisation"]
    assert result.criteria["memorisation"].numbers["max_ncc"] == pytest.approx(1.0)
    flipped = [{**c, "image": c["image"][:, ::-1].copy(), "label": c["label"][:, ::-1].copy()} for c in copies]
    assert "memorisation" in realism_gate(flipped, training).failed()  # a mirrored copy is still a copy
    allowed = realism_gate(copies, training, options=RealismOptions(allow_copies=True))
    assert allowed.passed and "allowed" in allowed.criteria["memorisation"].summary


def test_only_new_lesions_of_a_synthetic_case_are_measured(brats):
    training, others, _ = brats
    source = others[0]
    # a case made from a real tumour case with nothing added holds no new lesion
    same = {**source, "id": "made_from_source", "meta": {**source["meta"], "source_case": source["id"]}}
    result = realism_gate([same], [*training, source])
    assert result.n_synthetic == 0 and not result.passed
    assert case_lesions(same, source) == []
    assert len(case_lesions(same, None, LesionOptions(min_voxels=5))) == 1


def test_markdown_names_every_criterion(brats):
    training, others, _ = brats
    text = realism_markdown(realism_gate(others[:3], training), title="copy-paste")
    assert text.startswith("### copy-paste: ")
    for name in ("label_values", "label_proportions", "volume", "contrast", "visible", "sharpness", "memorisation"):
        assert f"| {name} |" in text


def test_two_dimensional_lesions_report_areas():
    dataset = load_dataset(SAMPLE_DATA / "lesions2d")
    cases = [dataset.load(ref) for ref in dataset.cases[:40]]
    result = realism_gate(cases[::2], cases[1::2])
    assert result.passed, realism_markdown(result)
    assert result.criteria["volume"].numbers["unit"] == "cm^2"


def test_sets_with_other_channels_are_refused(brats):
    training, others, _ = brats
    fewer = [{**c, "image": c["image"][:2], "meta": {**c["meta"], "modalities": ["t1n", "t1c"]}} for c in others]
    with pytest.raises(ValueError, match="channels"):
        realism_gate(fewer, training)


def test_evaluate_realism_mode_prints_each_criterion_and_exits_1_on_failure(tmp_path, capsys):
    import shutil

    from medgan.cli import main
    from tests.lesion_data import make_lesion_dataset

    real = make_lesion_dataset(tmp_path / "real", spatial_dims=3, n=3, size=32, healthy=0)
    copies = tmp_path / "copies"
    shutil.copytree(real, copies)
    assert main(["evaluate", "realism", str(real), str(copies), "--out", str(tmp_path / "gate")]) == 1
    out = capsys.readouterr().out
    for name in ("label_values: pass", "volume: pass", "contrast: pass", "memorisation: FAIL"):
        assert name in out, out
    assert "realism gate: FAILED (memorisation)" in out
    assert json.loads((tmp_path / "gate" / "realism.json").read_text())["failed"] == ["memorisation"]
    assert main(["evaluate", "realism", str(real), str(copies), "--allow-copies"]) == 0
    assert "realism gate: PASSED" in capsys.readouterr().out
    assert main(["evaluate", "realism", str(real), str(tmp_path / "missing")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing" in err
