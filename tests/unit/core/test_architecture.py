"""The import rule of docs/architecture.md: a module imports only from earlier stages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "gliopet"

# Rank of each stage; a module may import gliopet modules of equal or lower rank only.
# `gliopet.stage` (the stage runner) sits between io, whose data model and derivatives contract
# it uses, and the stages that run on it.
# The AI packages follow the package layout of docs/architecture.md: radiomics and the
# foundation model read quantification's outputs; signature (WP2) and classify (WP3) read both;
# export, report and the reader study come last. Shared metrics (bootstrap CIs, DeLong) are a
# top-level module (rank 0).
RANKS = {"shared": 0, "io": 1, "stage": 2, "simulate": 3, "preprocess": 4, "quant": 5,
         "radiomics": 6, "foundation": 7, "signature": 8, "classify": 9, "export": 10,
         "report": 11, "reader": 12, "cli": 20}
# Analysis stages never read the phantom (its truth must stay unseen by the methods it tests).
FORBIDDEN = {stage: {"simulate"} for stage in
             ("preprocess", "quant", "radiomics", "foundation", "signature", "classify", "export",
              "reader")}


def stage_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in RANKS:
        return parts[1]
    return "shared"


def gliopet_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("gliopet"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gliopet"):
            found.add(node.module)
    return found


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_earlier_stages(path):
    module = "gliopet." + ".".join(path.relative_to(SRC).with_suffix("").parts)
    stage = stage_of(module)
    for imported in gliopet_imports(path):
        target = stage_of(imported)
        assert RANKS[target] <= RANKS[stage], f"{module} ({stage}) imports {imported} ({target})"
        assert target not in FORBIDDEN.get(stage, set()), f"{module} must not import {imported}"
