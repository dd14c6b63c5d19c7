from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engagekit import Project, ProjectError, StoreVersionError
from engagekit.errors import NotFoundError
from engagekit.store import migrations


def test_create_then_open_reads_the_same_settings(tmp_path: Path) -> None:
    created = Project.create(tmp_path / "p", name="acme", default_timezone="Europe/Berlin")
    opened = Project.open(tmp_path / "p")
    assert opened.settings == created.settings
    assert (tmp_path / "p" / "engagekit.toml").exists()
    assert opened.store.schema_version == migrations()[-1].version


def test_store_uses_wal_journal(project: Project) -> None:
    mode = project.store.connect().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_open_a_folder_without_project_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="engagekit init"):
        Project.open(tmp_path)


def test_unknown_time_zone_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="IANA time zone"):
        Project.create(tmp_path / "p", default_timezone="Mars/Olympus")


def test_store_newer_than_the_code_gives_a_clear_error(project: Project) -> None:
    conn = sqlite3.connect(project.store.db_path)
    conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', '2030-01-01')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreVersionError, match=r"schema version 9999.*upgrade engagekit"):
        Project.open(project.path)


def test_definitions_keep_versions_and_deleted_ones_stay_readable_when_pinned(
    project: Project,
) -> None:
    store = project.store
    assert store.save_definition("segment", "vip", {"v": 1}) == 1
    assert store.save_definition("segment", "vip", {"v": 2}) == 2
    assert store.get_definition("segment", "vip").body == {"v": 2}
    store.set_active("segment", "vip", 1)
    assert store.get_definition("segment", "vip").body == {"v": 1}
    store.delete_definition("segment", "vip")
    assert store.names("segment") == []
    with pytest.raises(NotFoundError, match="segment 'vip' does not exist"):
        store.get_definition("segment", "vip")
    assert store.get_definition("segment", "vip", version=2).body == {"v": 2}


def test_two_processes_write_one_project_at_once(project: Project) -> None:
    code = (
        "import sys; from engagekit import Project\n"
        "p = Project.open(sys.argv[1])\n"
        "for i in range(100): p.store.save_definition('segment', 's' + sys.argv[2], {'i': i})\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(project.path), str(k)]) for k in (1, 2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert [len(project.store.versions("segment", f"s{k}")) for k in (1, 2)] == [100, 100]


def test_cli_init_creates_a_project_and_fails_on_a_second_init(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "engagekit", "init", str(tmp_path / "p")]
    assert subprocess.run(run, capture_output=True).returncode == 0
    second = subprocess.run(run, capture_output=True, text=True)
    assert second.returncode == 1
    assert "already holds a project" in second.stderr


def test_a_migration_missing_below_the_newest_is_applied_on_open(project: Project) -> None:
    from engagekit.store import _split_sql

    db = project.store.db_path
    project.store.close()
    db.unlink()
    conn = sqlite3.connect(db)  # a store that knew 0001 and the newest migration only
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, "
                 "applied_at TEXT)")  # fmt: skip
    for mig in (migrations()[0], migrations()[-1]):
        for statement in _split_sql(mig.sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01')",
                     (mig.version, mig.name))  # fmt: skip
    conn.commit()
    conn.close()
    reopened = Project.open(project.path)
    applied = {
        r[0] for r in reopened.store.connect().execute("SELECT version FROM schema_migrations")
    }
    assert applied == {m.version for m in migrations()}
