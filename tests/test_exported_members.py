"""The public face: every exported name resolves, is documented, and nothing public is unlisted."""

from __future__ import annotations

import inspect
import subprocess
import sys

import engagekit


def test_every_exported_name_resolves_and_is_documented() -> None:
    for name in engagekit.__all__:
        value = getattr(engagekit, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(value), f"engagekit.{name} has no docstring"


def test_public_attributes_are_all_exported() -> None:
    public = {
        n for n, v in vars(engagekit).items() if not n.startswith("_") and not inspect.ismodule(v)
    }
    assert public <= set(engagekit.__all__)


def test_import_engagekit_stays_light() -> None:
    code = (
        "import sys, engagekit; "
        "heavy = [m for m in ('duckdb', 'pybars', 'sklearn', 'papermill', 'matplotlib') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
