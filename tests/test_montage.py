"""Montages of synthetic cases beside their sources: slice choice, orientation, colours, files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medgan.io import load_dataset
from medgan.synthesis.copypaste import collect_lesions, copy_paste_case
from medgan.synthesis.montage import LABEL_COLOURS, axis_codes, centre_slice, label_colour, write_montage
from tests.conftest import SAMPLE_DATA


def test_orientation_letters_come_from_the_affine():
    assert axis_codes(np.diag([3.5, 3.5, 3.5, 1.0]), 3) == ["R", "A", "S"]
    assert axis_codes(np.diag([-1.0, -1.0, 2.0, 1.0]), 3) == ["L", "P", "S"]
    assert axis_codes(None, 2) == ["?", "?"]


def test_label_colours_are_fixed_by_value():
    assert label_colour(2) == LABEL_COLOURS[2]
    assert label_colour(len(LABEL_COLOURS) + 1) == LABEL_COLOURS[1]


def test_centre_slice_goes_through_the_new_lesion():
    label = np.zeros((1, 10, 10, 20), np.uint8)
    label[0, 2:4, 2:4, 2:4] = 1  # the source's lesion
    source = {"label": label.copy()}
    label[0, 5:8, 5:8, 14:17] = 2
    assert centre_slice({"label": label}, source) == 15
    assert centre_slice({"label": label[..., 0]}, None) is None


def test_montage_of_copy_paste_cases_on_the_sample_data(tmp_path):
    dataset = load_dataset(SAMPLE_DATA / "brats")
    tumours = [dataset.load(ref) for ref in dataset.cases[:4]]
    healthy = dataset.load("BraTS-SIM-01000-000")
    bank = collect_lesions(tumours[:3])
    pairs = [(copy_paste_case(case, bank, np.random.default_rng(i)), case) for i, case in
             enumerate([healthy, tumours[3]])]
    path = write_montage(pairs, tmp_path / "montage.png", dataset.label_names, title="copy-paste")
    with Image.open(path) as picture:
        width, height = picture.size
        pixels = np.asarray(picture.convert("RGB"))
    assert width > 6 * 100 and height > 4 * 100  # 5 modalities + labels, 2 x 2 rows
    # the fixed colours of the labels appear in the picture
    for value in (2, 3):
        colour = (np.asarray(LABEL_COLOURS[value]) * 255).round()
        assert (np.abs(pixels - colour).sum(-1) < 30).sum() > 10
    with pytest.raises(ValueError, match="no case"):
        write_montage([], tmp_path / "empty.png")


def test_montage_of_2d_cases(tmp_path):
    dataset = load_dataset(SAMPLE_DATA / "lesions2d")
    cases = [dataset.load(ref) for ref in dataset.cases[:4]]
    path = write_montage([(cases[0], None), (cases[1], cases[2])], tmp_path / "m2d.png", {1: "cyst"})
    assert path.is_file() and path.stat().st_size > 1000
