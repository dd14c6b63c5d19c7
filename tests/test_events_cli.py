"""The ``engagekit events`` command."""

from __future__ import annotations

import json

from engagekit.cli import main
from engagekit.endpoints import write_endpoints
from engagekit.sample import generate_endpoints


def test_cli_ingest_stats_export_expire_and_delete(project, tmp_path, capsys):
    path = tmp_path / "e.ndjson"
    rows = [
        {
            "event_type": "_session.start",
            "event_timestamp": 1762164000000 + i,
            "client": {"client_id": f"ep-{i}"},
            "endpoint": {"User": {"UserId": f"u{i}"}},
        }
        for i in range(3)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    P = ["--project", str(project.path)]
    assert main(["events", "ingest", str(path), *P]) == 0
    assert "3 accepted" in capsys.readouterr().out
    assert main(["events", "ingest", str(path), *P, "--strict"]) == 1
    assert main(["events", "stats", *P]) == 0
    out = capsys.readouterr().out
    assert "events: 3" in out and "_session.start" in out
    assert main(["events", "export", str(tmp_path / "out"), *P]) == 0
    assert list((tmp_path / "out").rglob("*.gz"))
    assert main(["events", "delete-user", "u1", *P]) == 0
    assert "1 events deleted" in capsys.readouterr().out
    assert main(["events", "expire", *P, "--dry-run"]) == 0
    assert "would expire 1 partitions (2 events)" in capsys.readouterr().out


def test_cli_generate_needs_endpoints(project, capsys):
    P = ["--project", str(project.path)]
    assert main(["events", "generate", *P]) == 1
    assert "no endpoints" in capsys.readouterr().err
    write_endpoints(project, generate_endpoints(50, seed=1))
    assert main(["events", "generate", *P, "--events", "500", "--days", "2"]) == 0
    assert "500 accepted" in capsys.readouterr().out
