"""``engagekit endpoints ...`` and ``engagekit generate-data`` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engagekit.cli import main
from engagekit.endpoints import read_endpoints
from engagekit.project import Project

DATA = Path(__file__).resolve().parents[1] / "data"


def test_generate_import_show_export_delete(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gen = tmp_path / "gen.csv"
    assert (
        main(["generate-data", "--rows", "500", "--seed", "3", "--out", str(gen), "--quiet"]) == 0
    )
    assert main(["init", str(tmp_path / "p")]) == 0
    project = ["--project", str(tmp_path / "p")]
    assert main(["endpoints", "import", str(gen), *project, "--quiet"]) == 0
    assert "read 500 rows" in capsys.readouterr().out

    assert main(["endpoints", "show", *project]) == 0
    out = capsys.readouterr().out
    assert "500 endpoints" in out and "EMAIL" in out

    assert main(["endpoints", "show", *project, "--id", "ep-00000002"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["Id"] == "ep-00000002"
    assert "UserId" in shown["User"]

    assert main(["endpoints", "show", *project, "--head", "2", "--columns", "Id,Address"]) == 0
    assert "ep-00000001" in capsys.readouterr().out

    out_file = tmp_path / "sms.ndjson"
    args = ["endpoints", "export", str(out_file), *project, "--where", "ChannelType=SMS"]
    assert main(args) == 0
    lines = out_file.read_text().splitlines()
    assert lines and all(json.loads(line)["ChannelType"] == "SMS" for line in lines)

    assert main(["endpoints", "jobs", *project]) == 0
    assert "COMPLETED" in capsys.readouterr().out

    user = read_endpoints(Project.open(tmp_path / "p"))["User.UserId"].iloc[0]
    assert main(["endpoints", "delete-user", user, *project]) == 0
    assert user not in set(read_endpoints(Project.open(tmp_path / "p"))["User.UserId"])


def test_where_on_a_list_attribute_matches_any_value(tmp_path: Path) -> None:
    main(["init", str(tmp_path / "p")])
    project = ["--project", str(tmp_path / "p")]
    main(["endpoints", "import", str(DATA / "sample_endpoints.csv"), *project, "--quiet"])
    dest = tmp_path / "yoga.csv"
    assert (
        main(["endpoints", "export", str(dest), *project, "--where", "Attributes.interests=yoga"])
        == 0
    )
    out = pd.read_csv(dest, dtype=str)
    assert len(out) > 100
    assert out["Attributes.interests"].str.contains("yoga").all()


def test_failures_exit_non_zero_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    main(["init", str(tmp_path / "p")])
    project = ["--project", str(tmp_path / "p")]
    assert main(["endpoints", "import", str(tmp_path / "missing.csv"), *project]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["endpoints", "import", str(empty), *project, "--quiet"]) == 1
    assert "the file is empty" in capsys.readouterr().err
    assert (
        main(["endpoints", "export", str(tmp_path / "x.csv"), *project, "--where", "Nope=1"]) == 1
    )
    assert "no column 'Nope'" in capsys.readouterr().err
    bad = ["endpoints", "import", str(DATA / "bad_endpoints.csv"), *project, "--quiet"]
    assert main([*bad, "--rejects", str(tmp_path / "r.csv"), "--fail-on-rejects"]) == 3


def test_the_installed_command_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engagekit", "endpoints", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "import" in done.stdout and "export" in done.stdout
