"""``medgan train FAMILY`` checks its config against the data before it writes anything: spatial
dimensions, grids and crop sizes that disagree with the data, label values or classes the data lacks
(or holds beyond the config's), and sizes that would explode; each is refused in one line naming the
config key, with exit status 2, no traceback and no run folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medgan.cli import main
from tests.family_runs import RECIPES, recipe


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("config_checks")
    for family in ("lesion-gan", "cyclegan", "pggan"):  # lesion, paired MR/CT, BraTS data
        recipe(family, root / family)
    return root


CASES = [  # (family, data of, extra arguments, config settings, what the line must say)
    ("lesion-gan", "lesion-gan", ["--patch-size", "64"], {}, "data.patch_size: 64x64 is larger than the data (24x24"),
    ("lesion-gan", "lesion-gan", [], {"data": {"patch_size": 10**6}},
     "data.patch_size: 1000000x1000000 is 1e+12 voxels"),
    ("lesion-gan", "lesion-gan", [], {"data": {"classes": [1, 9]}}, "data.classes: 9 is not a lesion class of the "
                                                                     "training data (it has 1, 2)"),
    ("lesion-gan", "lesion-gan", [], {"data": {"label_values": [0, 1]}}, "data.label_values: the training data also "
                                                                          "holds label value 2"),
    ("lesion-inpaint", "lesion-gan", ["--region-size", "16"], {},
     "data.region_size: [16] has 1 values; the data is 2D"),
    ("lesion-inpaint", "lesion-gan", ["--region-size", "64,64"], {}, "data.region_size: 64x64 is larger than the data"),
    ("lesion-inpaint", "lesion-gan", ["--region-size", "0,0"], {}, "data.region_size: 0x0 must be at least 8"),
    ("lesion-inpaint", "lesion-gan", [], {"data": {"label_values": [0, 1, 2, 4]}}, "data.label_values: 4 is not"),
    ("spade", "lesion-gan", [], {"data": {"spatial_dims": 3}}, "data.spatial_dims: 3 but the data is 2D"),
    ("spade", "lesion-gan", [], {"data": {"spatial_shape": [8, 8]}}, "data.spatial_shape: [8, 8] but the training "
                                                                      "cases are on a 24x24 grid"),
    ("spade", "lesion-gan", [], {"data": {"label_values": [0, 5]}}, "data.label_values: 5 is not a label value"),
    ("pggan", "pggan", ["--resolution", "16", "--channels", "t1n,label"], {"data": {"label_values": [0, 7]}},
     "data.label_values: 7 is not a label value"),
    ("pggan", "pggan", ["--resolution", "16", "--channels", "t1n"], {"data": {"data_shape": [4, 4, 4]}},
     "data.data_shape: [4, 4, 4] but the training cases are 56x64x56"),
    ("cyclegan", "cyclegan", ["--domain-a", "t1n", "--domain-b", "ct", "--spatial-dims", "3", "--patch-size", "64"],
     {}, "data.patch_size: 64 is larger than the data (largest 3D extent 24 voxels); give at most 32"),
    ("cyclegan", "cyclegan", ["--domain-a", "t1n", "--domain-b", "ct", "--patch-size", "6"], {},
     "data.patch_size: 6 must be a positive multiple of 4"),
    ("pix2pix", "cyclegan", ["--source", "t1n", "--target", "ct", "--patch-size", "128"], {},
     "data.patch_size: 128 is larger than the data"),
    ("consingan", "lesion-gan", [], {"data": {"label_values": [0, 9]}}, "data.label_values: 9 is not a label value"),
]


@pytest.mark.parametrize(("family", "data_of", "extra", "settings", "expected"), CASES,
                         ids=[f"{c[0]}-{c[4].split(':')[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_config_that_disagrees_with_the_data_is_refused_before_anything_is_written(
        work: Path, tmp_path: Path, capsys: pytest.CaptureFixture, family: str, data_of: str, extra: list[str],
        settings: dict, expected: str) -> None:
    data = work / data_of / "data"
    if family == "consingan":
        source = ["--data", str(data / "images" / "case00.nii.gz"), "--label", str(data / "labels" / "case00.nii.gz"),
                  "--min-size", "6", "--max-size", "12", "--stages", "2", "--width", "2"]
    else:
        source = ["--data", str(data)]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"train": {"device": "cpu"}, **settings}))
    out = tmp_path / "run"
    code = main(["train", family, *source, *extra, "--config", str(config), "--out", str(out), "--steps", "1",
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert expected in err, err
    assert not out.exists()


@pytest.mark.parametrize("family", sorted(RECIPES))
def test_a_run_resumed_from_its_resolved_config_passes_the_checks(family: str, tmp_path: Path) -> None:
    """The resolved fields a run writes into ``config.yaml`` (label values, grids, crop sizes) agree
    with its data, so ``--resume`` without ``--config`` is not refused."""
    args = recipe(family, tmp_path)
    assert main(["train", family, *args, "--out", str(tmp_path / "run"), "--steps", "1"]) == 0
    at = args.index("--config")
    del args[at:at + 2]
    assert main(["train", family, *args, "--out", str(tmp_path / "run"), "--steps", "2", "--resume"]) == 0
