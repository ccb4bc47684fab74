"""The import structure the package layout promises (docs/architecture.md), checked from the code.

Each module's ``toollife`` imports, module-level or inside a function, are read with ``ast`` and
must point at the same floor or below: no circles, nothing from a higher layer. The pure parts
import without pyspark at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

LIBS = Path(__file__).resolve().parents[2] / "libs"

# floor of each package (or loose module), bottom first; a module may import its own package and
# anything on a lower floor. doe/ and contracts/ are pure leaves beside errors and config.
FLOORS = {
    "toollife.errors": 0, "toollife.contracts": 0,
    "toollife.config": 1, "toollife.doe": 1,
    "toollife.lakehouse": 2,
    "toollife.runtime": 3,
    "toollife.services": 4, "toollife.simulation": 4,
    "toollife.ingestion": 5,
    "toollife.gold": 6,
    "toollife.ml": 7, "toollife.imports": 7,
    "toollife.quality": 8, "toollife.live": 8, "toollife.dashboard": 8,
    "toollife.cli": 9, "toollife.demo": 9,
}


def _room(module: str) -> str:
    parts = module.split(".")
    for n in (2, 1):
        if ".".join(parts[:n]) in FLOORS:
            return ".".join(parts[:n])
    raise AssertionError(f"{module}: in no room of FLOORS (add it where it belongs)")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("toollife"):
            base = LIBS / node.module.replace(".", "/")
            for alias in node.names:  # `from pkg import submodule` imports the submodule, not the package's face
                sub = (base / f"{alias.name}.py").exists() or (base / alias.name).is_dir()
                found.add(f"{node.module}.{alias.name}" if sub else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("toollife"))
    return {m for m in found if m != "toollife"}


def _modules():
    for path in sorted((LIBS / "toollife").rglob("*.py")):
        rel = path.relative_to(LIBS).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        if name != "toollife" and not name.startswith("toollife.defaults"):
            yield name, path


def test_every_import_runs_down_or_sideways_within_its_package():
    upward = []
    for name, path in _modules():
        here = _room(name)
        for target in _imports(path):
            there = _room(target)
            if there != here and FLOORS[there] >= FLOORS[here]:
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_no_import_circle_between_modules():
    graph = {name: {t for t in _imports(path) if t != name} for name, path in _modules()}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("circle: " + " -> ".join([*trail[trail.index(nxt):], nxt]))
            if nxt in graph and not state.get(nxt):
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in graph:
        if not state.get(node):
            visit(node, [node])


@pytest.mark.parametrize("module", ["toollife.doe", "toollife.simulation.physics", "toollife.runtime.spark_conf",
                                    "toollife.config", "toollife.lakehouse.reader", "toollife.cli",
                                    "toollife.runtime.sql", "toollife.ingestion.contract_rules",
                                    "toollife.ingestion.kafka_outage",
                                    "toollife.imports.rules", "toollife.imports.cli"])
def test_pure_modules_import_without_pyspark(module):
    code = f"import sys; sys.modules['pyspark'] = None; import {module}"  # any pyspark import now fails
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
