"""The import graph of ``medgan/`` read from the source (``ast``), and the architecture targets counted
on it. ``tests/test_architecture.py`` asserts them; run ``python -m tests.architecture [ROOT]`` to print
them for any checkout (ROOT: a folder holding ``medgan/``, default this repository).

Packages only import to their left:
io -> transforms -> models -> training -> families -> synthesis -> metrics -> benchmark -> reports -> commands
(``base``: ``medgan/__init__``, ``errors``, ``registry``, ``data``, below everything). Every import
counts, at module level or inside a function. Families are reached through the registry only: no
module outside ``medgan/families/`` imports them. Metrics compute: they import nothing that loads a
trained run or writes a file.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: layers, left to right
LAYERS = ("base", "io", "transforms", "models", "training", "families", "synthesis", "metrics", "benchmark",
          "reports", "commands")
#: top-level modules and packages of medgan -> (unit, layer); a unit is what cycles are counted between
UNITS = {
    "__init__": ("base", "base"), "errors": ("base", "base"), "registry": ("base", "base"),
    "data": ("base", "base"),  # mixing real and synthetic file lists; imports only errors
    "config": ("config", "io"),  # typed YAML settings, written through io.atomic
    "io": ("io", "io"),
    "transforms": ("transforms", "transforms"),
    "augment": ("augment", "transforms"), "augment_preview": ("augment", "transforms"),  # one job in two files
    "models": ("models", "models"), "training": ("training", "training"), "families": ("families", "families"),
    "synthesis": ("synthesis", "synthesis"), "metrics": ("metrics", "metrics"), "benchmark": ("benchmark", "benchmark"),
    "reports": ("reports", "reports"), "commands": ("commands", "commands"), "cli": ("commands", "commands"),
    "__main__": ("commands", "commands"),
}
#: what metrics must not import: run loading and file writing
METRICS_MUST_NOT_IMPORT = ("medgan.training", "medgan.io.atomic", "medgan.io.writers", "matplotlib")


@dataclass(frozen=True)
class Import:
    """One import statement: ``module`` (dotted, in medgan) imports ``target`` at ``line``."""

    module: str
    target: str
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def imports(root: Path = REPO) -> Iterator[Import]:
    """Every import of a ``medgan`` module by a ``medgan`` module (relative imports resolved)."""
    for path in sorted((root / "medgan").rglob("*.py")):
        name = module_name(path, root)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                if target == "medgan" or target.startswith("medgan."):
                    yield Import(name, target, node.lineno)


def unit_of(module: str) -> tuple[str, str] | None:
    """``(unit, layer)`` of a dotted medgan module name (``None`` for a name that is not a module)."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return UNITS.get(top)


def backward_imports(root: Path = REPO) -> list[Import]:
    """Imports of a package to the right of the importer's (``training`` importing ``families``...),
    one per statement (``from medgan.x import a, b`` counts once)."""
    out = {}
    for imp in imports(root):
        source, target = unit_of(imp.module), unit_of(imp.target)
        if source and target and LAYERS.index(target[1]) > LAYERS.index(source[1]):
            key = (imp.module, imp.line, target[0])
            out.setdefault(key, Import(imp.module, "medgan." + imp.target.split(".")[1], imp.line))
    return sorted(out.values(), key=lambda i: (i.module, i.line))


def backward_arrows(root: Path = REPO) -> dict[tuple[str, str], list[Import]]:
    """Backward imports grouped by the pair of packages they connect (the arrows of the package graph)."""
    arrows: dict[tuple[str, str], list[Import]] = {}
    for imp in backward_imports(root):
        arrows.setdefault((unit_of(imp.module)[0], unit_of(imp.target)[0]), []).append(imp)
    return arrows


def unit_graph(root: Path = REPO) -> dict[str, set[str]]:
    """Unit -> units it imports (self-imports left out)."""
    graph: dict[str, set[str]] = {}
    for imp in imports(root):
        source, target = unit_of(imp.module), unit_of(imp.target)
        if source and target and source[0] != target[0]:
            graph.setdefault(source[0], set()).add(target[0])
    return graph


def cycles(root: Path = REPO) -> list[tuple[str, str]]:
    """Pairs of units that reach each other through imports (each unordered pair once)."""
    graph = unit_graph(root)

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reach = {unit: reachable(unit) for unit in graph}
    return sorted({tuple(sorted((a, b))) for a in reach for b in reach[a] if a != b and a in reach.get(b, set())})


def family_imports_from_outside(root: Path = REPO) -> list[str]:
    """Import statements of ``medgan.families`` by modules outside it (families are found through the
    registry), as ``module:line``."""
    return sorted({f"{imp.module}:{imp.line}" for imp in imports(root)
                   if (imp.target == "medgan.families" or imp.target.startswith("medgan.families."))
                   and not imp.module.startswith("medgan.families")})


def metrics_side_effects(root: Path = REPO) -> list[str]:
    """Imports and calls in ``medgan/metrics/`` that load runs or write files."""
    found = []
    for path in sorted((root / "medgan" / "metrics").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if any(name == bad or name.startswith(bad + ".") for bad in METRICS_MUST_NOT_IMPORT):
                    found.append(f"{path.relative_to(root)}:{node.lineno} imports {name}")
            if isinstance(node, ast.Attribute) and node.attr in ("write_text", "write_bytes", "savefig", "to_csv"):
                found.append(f"{path.relative_to(root)}:{node.lineno} calls .{node.attr}")
    return found


def _functions(root: Path) -> Iterator[tuple[Path, ast.FunctionDef]]:
    for path in sorted((root / "medgan").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                yield path, node


def _called(node: ast.AST) -> set[str]:
    return {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            for n in ast.walk(node) if isinstance(n, ast.Call)}


def run_loaders(root: Path = REPO) -> list[str]:
    """Functions that load a run's newest checkpoint for sampling: they list the checkpoints and read
    the network weights (the engine's own resume, in ``training/loop.py``, is not one)."""
    return [f"{path.relative_to(root)}:{fn.name}" for path, fn in _functions(root)
            if path.name != "loop.py" and {"list_checkpoints"} <= _called(fn)
            and _called(fn) & {"load_networks", "restore_networks"}]


def percentile_scalings(root: Path = REPO) -> list[str]:
    """Functions computing the 0.5 / 99.5 percentile intensity range GAN intensities are scaled with
    (``np.percentile`` with those literals or the ``LOW_PERCENTILE``/``HIGH_PERCENTILE`` constants,
    directly or as defaults); ``medgan/metrics`` (the evaluation's own [0, 1] reference) is left out."""
    found = []
    for path, fn in _functions(root):
        if "metrics" in path.parts or "percentile" not in _called(fn):
            continue
        names = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
        constants = {n.value for n in ast.walk(fn) if isinstance(n, ast.Constant)}
        if names & {"LOW_PERCENTILE", "HIGH_PERCENTILE"} or {0.5, 99.5} <= constants:
            found.append(f"{path.relative_to(root)}:{fn.name}")
    return found


def stage_options(root: Path = REPO) -> list[str]:
    """Classes named ``*StageOptions`` (per-family copies of a family's settings for the benchmark)."""
    return [f"{path.relative_to(root)}:{node.name}" for path in sorted((root / "medgan").rglob("*.py"))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ClassDef) and node.name.endswith("StageOptions")]


def report(root: Path = REPO) -> dict[str, list]:
    """Every target, as the list of offenders (or items) found."""
    return {"backward arrows between packages": [
                f"{a} -> {b} ({', '.join(f'{i.module}:{i.line}' for i in found)})"
                for (a, b), found in sorted(backward_arrows(root).items())],
            "cycles between packages (pairs reaching each other)": [f"{a} <-> {b}" for a, b in cycles(root)],
            "families imported by name from outside": family_imports_from_outside(root),
            "metrics loading runs or writing files": metrics_side_effects(root),
            "*StageOptions classes": stage_options(root),
            "run loaders": run_loaders(root),
            "percentile intensity scalings": percentile_scalings(root)}


if __name__ == "__main__":
    for name, items in report(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO).items():
        print(f"{name}: {len(items)}")
        for item in items:
            print(f"    {item}")
