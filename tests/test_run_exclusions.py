"""A run records the cases it excluded (every family, through ``FamilySpec.data_sources``), and inputs
taken from its training dataset leave them out unless ``--allow-excluded`` says otherwise."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from medgan.errors import ConfigError
from medgan.families._cases import without_excluded
from medgan.training.run import excluded_cases, held_out_cases, training_cases


def _run(tmp_path: Path, family: str, data: dict) -> Path:
    run = tmp_path / f"run-{family}"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"family": family, "data": data}))
    return run


def _dataset(root: Path, ids: list[str]) -> SimpleNamespace:
    return SimpleNamespace(root=root, cases=[SimpleNamespace(id=i) for i in ids])


@pytest.mark.parametrize("family", ["lesion-gan", "spade", "pggan"])
def test_every_family_reports_its_excluded_cases(tmp_path, family) -> None:
    data = tmp_path / "data"
    data.mkdir()
    run = _run(tmp_path, family, {"path": str(data), "exclude_cases": ["c"]})
    assert excluded_cases(run, data) == ["c"]
    assert excluded_cases(run, tmp_path) == []  # another dataset: nothing to leave out
    assert training_cases(run, _dataset(data, ["a", "b", "c"])) == {"a", "b"}


def test_translation_runs_report_both_domains(tmp_path) -> None:
    mr, ct = tmp_path / "mr", tmp_path / "ct"
    mr.mkdir(), ct.mkdir()
    run = _run(tmp_path, "cyclegan", {"a": {"path": str(mr)}, "b": {"path": str(ct)}, "cases": ["a", "b"],
                                      "exclude_cases": ["b"]})
    assert excluded_cases(run, ct) == ["b"]
    assert training_cases(run, _dataset(mr, ["a", "b", "c"])) == {"a"}
    assert held_out_cases(run, _dataset(mr, ["a", "b", "c"])) == ["b", "c"]
    with pytest.raises(ConfigError, match="'a' was used to train"):
        held_out_cases(run, _dataset(mr, ["a", "b", "c"]), ["a", "c"])


def test_inputs_leave_out_excluded_cases_unless_allowed(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    run = _run(tmp_path, "lesion-gan", {"path": str(data), "exclude_cases": ["c"]})
    assert without_excluded(run, data, ["a", "b", "c"], given=False, allow=False) == ["a", "b"]
    assert "skipping 1 case(s)" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="'c' was excluded from the training"):
        without_excluded(run, data, ["c"], given=True, allow=False)
    assert without_excluded(run, data, ["a", "c"], given=True, allow=True) == ["a", "c"]
    assert "WARNING: --allow-excluded" in capsys.readouterr().err
    assert without_excluded(run, tmp_path / "other", ["a", "c"], given=True, allow=False) == ["a", "c"]
