"""CycleGAN with disjoint domains: MR and CT from different training cases (the unpaired setting)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from medgan.cli import main
from medgan.errors import ConfigError
from medgan.families._translation.config import TranslationDataConfig, disjoint_halves
from medgan.families._translation.translator import network_volumes
from tests.translation_data import TINY_CYCLEGAN, TINY_PIX2PIX, make_paired_brats


def test_disjoint_halves_split_every_case_once():
    ids = [f"c{i}" for i in (5, 1, 4, 2, 3)]
    a, b = disjoint_halves(ids)
    assert not set(a) & set(b) and sorted(a + b) == sorted(ids) and len(a) - len(b) == 1
    assert disjoint_halves(list(reversed(ids))) == (a, b)  # the order given does not matter
    with pytest.raises(ConfigError, match="at least 2"):
        disjoint_halves(["c0"])


def test_in_memory_cases_are_split_between_the_domains():
    rng = np.random.default_rng(0)
    cases = [{"id": f"c{i}", "image": rng.random((2, 6, 6, 3)).astype(np.float32) + i,
              "meta": {"modalities": ["t1n", "ct"]}} for i in range(4)]
    data = TranslationDataConfig(disjoint=True)
    data.a.modality, data.b.modality = "t1n", "ct"
    data.a.intensity.kind = data.b.intensity.kind = "generic"
    a, b = network_volumes(data, cases)
    assert len(a) == len(b) == 2 and data.cases_a == ["c0", "c2"] and data.cases_b == ["c1", "c3"]


def test_train_cyclegan_on_disjoint_domains(tmp_path):
    data = make_paired_brats(tmp_path / "d", n=5, shape=(20, 24, 6))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CYCLEGAN))
    run = tmp_path / "run"
    assert main(["train", "cyclegan", "--data", str(data), "--domain-a", "t1n", "--domain-b", "ct",
                 "--disjoint-domains", "--exclude-cases", "TR-004", "--config", str(config),
                 "--out", str(run), "--steps", "1"]) == 0
    resolved = yaml.safe_load((run / "config.yaml").read_text())["data"]
    a, b = set(resolved["cases_a"]), set(resolved["cases_b"])
    assert not a & b, "the two domains share a case"
    assert a | b == {"TR-000", "TR-001", "TR-002", "TR-003"}  # the test case in neither
    assert resolved["n_cases_a"] == len(a) and resolved["n_cases_b"] == len(b)
    p2p = tmp_path / "p2p.yaml"
    p2p.write_text(yaml.safe_dump({**TINY_PIX2PIX, "data": {"disjoint": True}}))
    assert main(["train", "pix2pix", "--data", str(data), "--source", "t1n", "--target", "ct",
                 "--config", str(p2p), "--out", str(tmp_path / "p2p")]) == 2
