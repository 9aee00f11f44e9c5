"""The package map holds in the code: imports only forward, no cycles between packages, families only
through the registry, metrics free of run loading and file writing, one run loader, one intensity
scaling, no per-family copies of settings for the benchmark (see ``tests/architecture.py``)."""

from __future__ import annotations

from tests import architecture

#: backward arrows that another change removes (benchmark/run.py writes its report itself); delete the
#: entry when that change is merged
KNOWN_BACKWARD = {("benchmark", "reports")}


def test_imports_only_go_forward() -> None:
    arrows = architecture.backward_arrows()
    unexpected = {pair: found for pair, found in arrows.items() if pair not in KNOWN_BACKWARD}
    assert not unexpected, "backward imports: " + "; ".join(
        f"{a} -> {b} at {', '.join(f'{i.module}:{i.line}' for i in found)}" for (a, b), found in unexpected.items())


def test_no_cycles_between_packages() -> None:
    assert architecture.cycles() == []


def test_families_are_reached_through_the_registry_only() -> None:
    assert architecture.family_imports_from_outside() == []


def test_metrics_compute_only() -> None:
    assert architecture.metrics_side_effects() == []


def test_one_run_loader_one_intensity_scaling_no_stage_options() -> None:
    assert architecture.run_loaders() == ["medgan/training/run.py:load_run"]
    assert architecture.percentile_scalings() == ["medgan/transforms/scaling.py:percentile_range"]
    assert architecture.stage_options() == []


def test_the_checker_sees_a_backward_import(tmp_path) -> None:
    """The graph is read from the source: a planted backward import and a cycle are found."""
    package = tmp_path / "medgan"
    for folder in ("training", "families"):
        (package / folder).mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "training" / "__init__.py").write_text("")
    (package / "families" / "__init__.py").write_text("from medgan.training import loop\n")
    (package / "training" / "loop.py").write_text("def train():\n    from medgan.families import x\n")
    arrows = architecture.backward_arrows(tmp_path)
    assert list(arrows) == [("training", "families")]
    assert arrows[("training", "families")][0].module == "medgan.training.loop"
    assert architecture.cycles(tmp_path) == [("families", "training")]
