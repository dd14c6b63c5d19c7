"""Every notebook in notebooks/ and reports/ is thin and executes in a real kernel on small data."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from engagekit.notebooks import execute_notebook

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("reports/*.ipynb"))


def _cells(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_thin_with_one_parameters_cell_and_no_outputs(path: Path) -> None:
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell must be tagged 'parameters'"
    for node in ast.parse(_source(params[0])).body:
        assert isinstance(node, (ast.Assign, ast.AnnAssign, ast.Expr)), "parameters: constants"
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for t in targets:
            if isinstance(t, ast.Name):
                assert t.id.isupper(), f"parameter {t.id} must be UPPER_CASE"
    for cell in code:
        tree = ast.parse(_source(cell).replace("%matplotlib inline", ""))
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not defs, "logic belongs in the package: no def or class in notebooks"
        assert not cell.get("outputs"), "committed notebooks carry no outputs"


def _params(name: str, tmp_path: Path, demo: Any) -> dict[str, Any]:
    """Small-data parameters per notebook (their defaults are already small; these point at
    the temporary demo project where a notebook needs one)."""
    if name == "01_getting_started":
        return {"PROJECT_DIR": str(tmp_path / "getting-started")}
    if name in {"run_campaign"}:
        return {"PROJECT_DIR": str(demo.project.path), "CAMPAIGN": demo.campaign, "DRY_RUN": True}
    if name in {"03_ab_campaign"}:
        return {"PROJECT_DIR": str(tmp_path / "ab")}
    if name in {"campaign_report", "engagement_overview"}:
        return {"PROJECT_DIR": str(demo.project.path), "CAMPAIGN": demo.campaign}
    return {}


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_executes_in_a_real_kernel(path: Path, tmp_path: Path, demo_project) -> None:
    out = execute_notebook(
        path,
        tmp_path / f"{path.stem}.out.ipynb",
        _params(path.stem, tmp_path, demo_project),
        timeout=600,
    )
    cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
