"""``engagekit segments ...`` on a real project folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from engagekit.cli import main
from engagekit.endpoints import write_endpoints
from engagekit.project import Project
from engagekit.sample import generate_endpoints
from engagekit.segments import estimate, load_segment, save_segment, segment


@pytest.fixture
def filled(project: Project) -> Project:
    write_endpoints(project, generate_endpoints(600, seed=3))
    save_segment(project, segment("de-email").channel("EMAIL").country("DE").build())
    return project


def test_list_show_and_estimate(filled: Project, capsys: pytest.CaptureFixture[str]) -> None:
    p = str(filled.path)
    assert main(["segments", "list", "--project", p]) == 0
    assert "de-email" in capsys.readouterr().out
    assert main(["segments", "show", "de-email", "--project", p, "--format", "pinpoint"]) == 0
    assert json.loads(capsys.readouterr().out)["Dimensions"]["Location"]["Country"]
    save_segment(filled, segment("berlin").city("Berlin").build())
    assert main(["segments", "show", "berlin", "--project", p, "--format", "pinpoint"]) == 1
    assert "Location.City" in capsys.readouterr().err
    assert main(["segments", "show", "de-email", "-P", p, "--format", "sql"]) == 0
    assert "read_parquet" in capsys.readouterr().out
    assert main(["segments", "estimate", "de-email", "-P", p, "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    from engagekit.endpoints import read_endpoints

    want = estimate(load_segment(filled, "de-email"), read_endpoints(filled))
    assert got["total"] == want.total > 0
    assert got["messageable"] == want.messageable
    assert main(["segments", "estimate", "de-email", "-P", p, "--funnel"]) == 0
    assert "Location.Country in {DE}" in capsys.readouterr().out


def test_export_save_copy_delete(
    filled: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = str(filled.path)
    dest = tmp_path / "out.csv"
    assert main(["segments", "export", "de-email", str(dest), "-P", p, "--messageable"]) == 0
    assert "exported" in capsys.readouterr().out
    assert len(pd.read_csv(dest)) > 0
    doc = tmp_path / "fr.json"
    doc.write_text(
        json.dumps({"Name": "fr", "Dimensions": {"Location": {"Country": {"Values": ["FR"]}}}})
    )
    assert main(["segments", "save", str(doc), "-P", p]) == 0
    assert main(["segments", "copy", "fr", "fr2", "-P", p]) == 0
    assert main(["segments", "delete", "fr", "-P", p]) == 0
    capsys.readouterr()
    assert main(["segments", "show", "fr", "-P", p]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["segments", "show", "fr", "-P", p, "--version", "1"]) == 0


def test_bad_definition_file_is_a_user_error(
    filled: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "bad.json"
    doc.write_text(
        json.dumps(
            {
                "Name": "b",
                "Dimensions": {
                    "Attributes": {"d": {"AttributeType": "BETWEEN", "Values": ["2026-01-01"]}}
                },
            }
        )
    )
    assert main(["segments", "save", str(doc), "-P", str(filled.path)]) == 1
    assert "Dimensions.Attributes.d.Values" in capsys.readouterr().err
