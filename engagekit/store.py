"""The project's store: SQLite (WAL) for definitions and state, Parquet for data.

``store/engagekit.sqlite``  definitions with versions, runs, ledger, suppression (migrations in
                            ``engagekit/migrations/NNNN_name.sql``, applied in order)
``store/endpoints.parquet`` the current endpoint snapshot, replaced atomically
``store/events/``           the event lake, ``YYYY/MM/DD/hh/`` partitions (see ``events.py``)

SQLite in WAL mode with a busy timeout lets a notebook and a cron job share one project; writes
that must not interleave take ``BEGIN IMMEDIATE`` (:meth:`Store.transaction`) or the store's
file lock (:meth:`Store.lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engagekit.errors import DefinitionError, NotFoundError, StoreVersionError

DB_NAME = "engagekit.sqlite"
ENDPOINTS_FILE = "endpoints.parquet"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def isonow() -> str:
    return utcnow().isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every schema migration shipped with this engagekit, in order."""
    found = []
    for entry in resources.files("engagekit.migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    return found


@dataclass(frozen=True)
class DefinitionRecord:
    """One stored version of a definition; ``body`` is the parsed JSON."""

    kind: str
    name: str
    version: int
    body: dict[str, Any]
    created_at: str
    active: bool
    deleted: bool
    comment: str | None = None


class Store:
    """Access to one project's ``store/`` folder. Cheap to create; connections are per thread."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        self._local = threading.local()

    # -- connections ---------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """This thread's connection (WAL, 30 s busy timeout, autocommit outside transactions)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error): one writer at a time."""
        conn = self.connect()
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def lock(self, name: str = "store") -> Iterator[None]:
        """An exclusive file lock across processes (for Parquet read-modify-write)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{name}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- schema --------------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        conn = self.connect()
        has = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ).fetchone()
        if not has:
            return 0
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> int:
        """Apply every missing migration; refuse a store written by a newer engagekit."""
        self.root.mkdir(parents=True, exist_ok=True)
        known = migrations()
        supported = known[-1].version if known else 0
        current = self.schema_version
        if current > supported:
            raise StoreVersionError(self.db_path, current, supported)
        if current and {m.version for m in known} <= self._applied():
            return current
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = self._applied()
            for mig in known:
                if mig.version in done:
                    continue
                for statement in _split_sql(mig.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (mig.version, mig.name, isonow()),
                )
        return supported

    def _applied(self) -> set[int]:
        conn = self.connect()
        has = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
        ).fetchone()
        if not has:
            return set()
        return {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}

    # -- definitions ---------------------------------------------------------------------------
    def save_definition(
        self, kind: str, name: str, body: dict[str, Any] | str, *, comment: str | None = None
    ) -> int:
        """Store a new version of a definition and make it active; returns the version number.

        A deleted definition saved again comes back to life with a new version.
        """
        text = body if isinstance(body, str) else json.dumps(body, sort_keys=True, default=str)
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT latest_version FROM definition_heads WHERE kind=? AND name=?", (kind, name)
            ).fetchone()
            version = 1 if row is None else int(row[0]) + 1
            conn.execute(
                "INSERT INTO definitions (kind, name, version, body, created_at, comment) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (kind, name, version, text, isonow(), comment),
            )
            conn.execute(
                "INSERT INTO definition_heads (kind, name, latest_version, active_version) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET "
                "latest_version=excluded.latest_version, active_version=excluded.active_version, "
                "deleted_at=NULL",
                (kind, name, version, version),
            )
        return version

    def get_definition(self, kind: str, name: str, version: int | None = None) -> DefinitionRecord:
        """One version (default: the active one). Pinned versions of deleted definitions stay
        readable; asking a deleted definition for its active version raises NotFoundError."""
        conn = self.connect()
        head = conn.execute(
            "SELECT active_version, deleted_at FROM definition_heads WHERE kind=? AND name=?",
            (kind, name),
        ).fetchone()
        if head is None or (version is None and head["deleted_at"] is not None):
            raise NotFoundError(kind, name, known=self.names(kind))
        wanted = int(head["active_version"]) if version is None else int(version)
        row = conn.execute(
            "SELECT * FROM definitions WHERE kind=? AND name=? AND version=?", (kind, name, wanted)
        ).fetchone()
        if row is None:
            raise NotFoundError(kind, name, wanted)
        return DefinitionRecord(
            kind=kind,
            name=name,
            version=wanted,
            body=json.loads(row["body"]),
            created_at=row["created_at"],
            active=wanted == int(head["active_version"]),
            deleted=head["deleted_at"] is not None,
            comment=row["comment"],
        )

    def names(self, kind: str, *, include_deleted: bool = False) -> list[str]:
        sql = "SELECT name FROM definition_heads WHERE kind=?"
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        return [r[0] for r in self.connect().execute(sql + " ORDER BY name", (kind,))]

    def list_definitions(self, kind: str, *, include_deleted: bool = False) -> pd.DataFrame:
        """One row per definition of ``kind``: name, active and latest version, deleted flag."""
        sql = (
            "SELECT h.name, h.active_version, h.latest_version,"
            " h.deleted_at IS NOT NULL AS deleted, d.created_at AS updated_at"
            " FROM definition_heads h JOIN definitions d"
            " ON d.kind=h.kind AND d.name=h.name AND d.version=h.latest_version WHERE h.kind=?"
        )
        if not include_deleted:
            sql += " AND h.deleted_at IS NULL"
        rows = self.connect().execute(sql + " ORDER BY h.name", (kind,)).fetchall()
        return pd.DataFrame(
            [dict(r) for r in rows],
            columns=["name", "active_version", "latest_version", "deleted", "updated_at"],
        ).astype({"deleted": bool})

    def versions(self, kind: str, name: str) -> list[DefinitionRecord]:
        """Every stored version of one definition, oldest first."""
        head = (
            self.connect()
            .execute(
                "SELECT active_version FROM definition_heads WHERE kind=? AND name=?", (kind, name)
            )
            .fetchone()
        )
        if head is None:
            raise NotFoundError(kind, name, known=self.names(kind))
        return [self.get_definition(kind, name, v) for v in self._version_numbers(kind, name)]

    def _version_numbers(self, kind: str, name: str) -> list[int]:
        rows = self.connect().execute(
            "SELECT version FROM definitions WHERE kind=? AND name=? ORDER BY version", (kind, name)
        )
        return [int(r[0]) for r in rows]

    def set_active(self, kind: str, name: str, version: int) -> None:
        """Make an existing version the active one (roll back or forward)."""
        if version not in self._version_numbers(kind, name):
            raise NotFoundError(kind, name, version)
        with self.transaction() as conn:
            conn.execute(
                "UPDATE definition_heads SET active_version=? WHERE kind=? AND name=?",
                (version, kind, name),
            )

    def delete_definition(self, kind: str, name: str) -> None:
        """Mark deleted: gone from lists and unpinned lookups; pinned versions stay readable."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE definition_heads SET deleted_at=? WHERE kind=? AND name=? "
                "AND deleted_at IS NULL",
                (isonow(), kind, name),
            )
            if cur.rowcount == 0:
                raise NotFoundError(kind, name, known=self.names(kind))

    def copy_definition(self, kind: str, name: str, new_name: str) -> int:
        """Save the active version of ``name`` as version 1 of ``new_name``."""
        if new_name in self.names(kind, include_deleted=True):
            raise DefinitionError(f"{new_name!r} already exists", kind=kind)
        return self.save_definition(kind, new_name, self.get_definition(kind, name).body)

    # -- Parquet data --------------------------------------------------------------------------
    @property
    def endpoints_path(self) -> Path:
        return self.root / ENDPOINTS_FILE

    @property
    def events_dir(self) -> Path:
        return self.root / "events"

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table | None:
        path = self.root / name
        if not path.exists():
            return None
        return pq.read_table(path, columns=columns)

    def write_table(self, name: str, table: pa.Table) -> Path:
        """Write a Parquet file atomically (temporary file, fsync, rename)."""
        path = self.root / name
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our literals)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
