"""Dataset discovery in the four layouts, case loading, and writing a dataset back in its layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medgan.errors import ConfigError, DataError
from medgan.io import DatasetWriter, load_dataset
from tests.conftest import make_brats, make_folder, make_msd, make_nnunet, save_nifti


def test_folder_layout_with_modality_suffixes(tmp_path: Path) -> None:
    ds = load_dataset(make_folder(tmp_path / "d", n=3, unlabelled=1))
    assert ds.layout == "folder" and ds.modalities == ("t1", "t2")
    assert [c.id for c in ds.cases] == ["case00", "case01", "case02", "case03"]
    assert [c.label is not None for c in ds.cases] == [True, True, True, False]
    case = ds.load(ds.cases[0])
    assert case["image"].shape == (2, 12, 10, 8) and case["label"].shape == (1, 12, 10, 8)
    assert case["meta"]["modalities"] == ["t1", "t2"] and case["meta"]["labelled"] is True
    unlabelled = ds.load(ds.cases[3])
    assert "label" not in unlabelled and unlabelled["meta"]["labelled"] is False


def test_folder_layout_single_modality_and_longest_prefix(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("a", "a_b"):
        save_nifti(tmp_path / "images" / f"{name}.nii.gz", rng.random((4, 4, 4)).astype(np.float32))
        save_nifti(tmp_path / "labels" / f"{name}.nii.gz", np.zeros((4, 4, 4), np.uint8))
    ds = load_dataset(tmp_path)
    assert [(c.id, c.modalities) for c in ds.cases] == [("a", ("image",)), ("a_b", ("image",))]


def test_msd_layout_with_4d_images(tmp_path: Path) -> None:
    ds = load_dataset(make_msd(tmp_path / "Task01", n=3, channels=3))
    assert ds.layout == "msd" and ds.modalities == ("FLAIR", "T1w", "T2w")
    assert ds.label_names[3] == "enhancing"
    assert sum(c.split == "test" for c in ds.cases) == 1
    case = ds.load("brain_001")
    assert case["image"].shape == (3, 12, 10, 8)
    assert case["meta"]["modalities"] == ["FLAIR", "T1w", "T2w"]


def test_nnunet_layout(tmp_path: Path) -> None:
    ds = load_dataset(make_nnunet(tmp_path / "Dataset005_Prostate"))
    assert ds.layout == "nnunet" and ds.modalities == ("T2", "ADC")
    assert [c.id for c in ds.cases if c.split == "train"] == ["prostate_00", "prostate_01", "prostate_02"]
    assert ds.ref("prostate_99").label is None
    assert ds.label_names == {0: "background", 1: "PZ", 2: "TZ"}
    assert ds.load("prostate_01")["image"].shape == (2, 12, 10, 8)


@pytest.mark.parametrize("style", ["2021", "2023"])
def test_brats_layout(tmp_path: Path, style: str) -> None:
    ds = load_dataset(make_brats(tmp_path / "brats", n=2, style=style, healthy=1))
    assert ds.layout == "brats"
    expected = ("t1n", "t1c", "t2w", "t2f", "ct") if style == "2023" else ("t1", "t1ce", "t2", "flair")
    assert ds.modalities == expected
    case = ds.load(ds.cases[0])
    assert case["image"].shape == (len(expected), 12, 10, 8) and case["image"].dtype == np.int16
    assert not ds.load(ds.cases[2])["label"].any()


def test_modality_selection(tmp_path: Path) -> None:
    ds = load_dataset(make_brats(tmp_path / "b"), modalities=["ct", "t2f"])
    assert ds.modalities == ("ct", "t2f") and ds.load(ds.cases[0])["image"].shape[0] == 2
    with pytest.raises(DataError, match="no modality 'pet'"):
        load_dataset(tmp_path / "b", modalities=["pet"])


def test_forced_format_and_unknown_layout(tmp_path: Path) -> None:
    make_folder(tmp_path / "d")
    assert load_dataset(tmp_path / "d", format="folder").layout == "folder"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cannot recognise the dataset layout"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="unknown dataset format"):
        load_dataset(tmp_path / "d", format="dicomdir")


def test_iteration_streams_cases(tmp_path: Path) -> None:
    ds = load_dataset(make_folder(tmp_path / "d", n=2, unlabelled=0))
    ids = [case["id"] for case in ds]
    assert ids == ["case00", "case01"]


@pytest.mark.parametrize("maker", [make_folder, make_msd, make_nnunet, make_brats])
def test_writer_reproduces_layout(tmp_path: Path, maker) -> None:
    source = load_dataset(maker(tmp_path / "in"))
    writer = DatasetWriter(source, tmp_path / "out")
    for ref in source.cases:
        case = source.load(ref)
        writer.write(case, ref.id + "_copy", {"source": ref.id, "seed": 7})
        assert writer.done(ref.id + "_copy")
    manifest = writer.finish()
    copy = load_dataset(tmp_path / "out")
    assert copy.layout == source.layout and copy.modalities == source.modalities
    assert len(copy.cases) == len(source.cases)
    for ref in source.cases:
        a, b = source.load(ref), copy.load(ref.id + "_copy")
        assert np.array_equal(a["image"], b["image"]) and a["image"].dtype == b["image"].dtype
        np.testing.assert_array_equal(a["meta"]["affine"], b["meta"]["affine"])
        assert ("label" in a) == ("label" in b)
        if "label" in a:
            assert np.array_equal(a["label"], b["label"]) and a["label"].dtype == b["label"].dtype
    text = manifest.read_text()
    assert "source" in text and "seed" in text and text.count("\n") == len(source.cases) + 1


def test_writer_refuses_output_inside_input(tmp_path: Path) -> None:
    source = load_dataset(make_folder(tmp_path / "in"))
    with pytest.raises(ConfigError, match="inside the input dataset"):
        DatasetWriter(source, tmp_path / "in" / "augmented")
    with pytest.raises(ConfigError, match="inside the input dataset"):
        DatasetWriter(source, tmp_path / "in")
