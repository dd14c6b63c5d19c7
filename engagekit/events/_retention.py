"""Retention and erasure: hour partitions older than the project's ``event_retention_days``
(90 by default) are exported — gzip NDJSON in Pinpoint's S3 key layout, to a folder or
``s3://`` — and only then deleted; ``delete_user_events`` removes one user's events from the
lake (and from the rejects files) and refuses their older events on later ingests.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engagekit.events._lake import (
    REJECTS_DIR,
    list_partitions,
    partition_files,
    partition_start,
    write_parquet_atomic,
)
from engagekit.events._schema import to_pinpoint

if TYPE_CHECKING:
    from engagekit.project import Project

DEFAULT_EXPORT_DIR = Path("exports") / "events"


def firehose_key(prefix: str, hour: pd.Timestamp, stream_name: str, written: datetime) -> str:
    """Pinpoint's (Firehose's) S3 object key: ``prefix/YYYY/MM/DD/HH/<stream>-1-<time>-<id>.gz``."""
    stamp = written.strftime("%Y-%m-%d-%H-%M-%S")
    head = f"{prefix.rstrip('/')}/" if prefix else ""
    return f"{head}{hour.strftime('%Y/%m/%d/%H')}/{stream_name}-1-{stamp}-{uuid.uuid4()}.gz"


def ndjson_gzip(frame: pd.DataFrame) -> bytes:
    """Rows of the lake as gzip-compressed NDJSON in Pinpoint's event JSON shape."""
    lines = [
        json.dumps(to_pinpoint(row), separators=(",", ":"), default=str)
        for row in frame.to_dict(orient="records")
    ]
    return gzip.compress(("\n".join(lines) + "\n").encode("utf-8") if lines else b"")


def _read_partition(events_dir: Path, partition: str) -> pd.DataFrame:
    files = partition_files(events_dir, partition)
    table = pq.read_table(files)
    return table.to_pandas(maps_as_pydicts="strict")


def write_export(
    frame: pd.DataFrame,
    destination: str | Path,
    hour: pd.Timestamp,
    *,
    stream_name: str = "engagekit",
    s3: Any = None,
    now: datetime | None = None,
) -> str:
    """Write one hour of events to a folder or ``s3://bucket/prefix``; returns the key/path."""
    now = now or datetime.now(UTC)
    body = ndjson_gzip(frame)
    dest = str(destination)
    if dest.startswith("s3://"):
        from engagekit.events._ingest import parse_s3_url, s3_client

        bucket, prefix = parse_s3_url(dest)
        key = firehose_key(prefix, hour, stream_name, now)
        s3_client(s3).put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentEncoding="gzip",
            ContentType="application/x-ndjson",
        )
        return f"s3://{bucket}/{key}"
    key = firehose_key("", hour, stream_name, now)
    path = Path(dest) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)
    return str(path)


@dataclass
class RetentionReport:
    """What :func:`expire_events` did (or would do, with ``dry_run``)."""

    cutoff: datetime
    expired: list[str] = field(default_factory=list)
    exported: dict[str, str] = field(default_factory=dict)  # partition -> object written
    rows: int = 0
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would expire" if self.dry_run else "expired"
        return (
            f"{verb} {len(self.expired)} partitions ({self.rows} events) older than "
            f"{self.cutoff.isoformat()}; {len(self.exported)} exported first"
        )


def export_partitions(
    project: Project,
    destination: str | Path,
    partitions: list[str] | None = None,
    *,
    stream_name: str = "engagekit",
    s3: Any = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Export hour partitions (default: all) to ``destination`` and record them as exported."""
    now = now or datetime.now(UTC)
    events_dir = project.store.events_dir
    written: dict[str, str] = {}
    for part in partitions if partitions is not None else list_partitions(events_dir):
        frame = _read_partition(events_dir, part)
        if frame.empty:
            continue
        key = write_export(
            frame, destination, partition_start(part), stream_name=stream_name, s3=s3, now=now
        )
        with project.store.transaction() as conn:
            conn.execute(
                "INSERT INTO event_exports (partition, destination, rows, keys, exported_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (partition, destination) DO UPDATE SET "
                "rows=excluded.rows, keys=excluded.keys, exported_at=excluded.exported_at",
                (part, str(destination), len(frame), json.dumps([key]), now.isoformat()),
            )
        written[part] = key
    return written


def expire_events(
    project: Project,
    *,
    now: datetime | None = None,
    retention_days: int | None = None,
    export_to: str | Path | None = None,
    dry_run: bool = False,
    s3: Any = None,
) -> RetentionReport:
    """Delete hour partitions older than the retention period, exporting each one first.

    A partition already exported (to any destination) is deleted as is; one never exported is
    written to ``export_to`` (default: the project's ``exports/events/`` folder) before it goes.
    """
    now = now or datetime.now(UTC)
    days = retention_days or project.settings.event_retention_days
    cutoff = now - timedelta(days=days)
    events_dir = project.store.events_dir
    report = RetentionReport(cutoff=cutoff, dry_run=dry_run)
    old = [
        p
        for p in list_partitions(events_dir)
        if partition_start(p) + pd.Timedelta(hours=1) <= pd.Timestamp(cutoff)
    ]
    if not old:
        return report
    exported = {
        r[0]
        for r in project.store.connect().execute("SELECT DISTINCT partition FROM event_exports")
    }
    destination = export_to if export_to is not None else project.path / DEFAULT_EXPORT_DIR
    with project.store.lock("events"):
        for part in old:
            files = partition_files(events_dir, part)
            rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
            report.rows += rows
            report.expired.append(part)
            if dry_run:
                continue
            if part not in exported:
                report.exported.update(
                    export_partitions(project, destination, [part], s3=s3, now=now)
                )
            shutil.rmtree(events_dir / part)
            _prune_empty_parents(events_dir / part, events_dir)
    return report


def _prune_empty_parents(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and parent.exists() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


@dataclass
class ErasureReport:
    user_id: str
    endpoint_ids: list[str]
    events_deleted: int
    files_rewritten: int
    rejects_deleted: int

    def __str__(self) -> str:
        return (
            f"user {self.user_id!r}: {self.events_deleted} events deleted from "
            f"{self.files_rewritten} files, {self.rejects_deleted} rejected records removed"
        )


def _user_endpoints(project: Project, user_id: str) -> list[str]:
    path = project.store.endpoints_path
    if not path.exists():
        return []
    table = pq.read_table(path, columns=["Id", "User.UserId"])
    mask = pc.equal(table.column("User.UserId"), user_id)
    return [str(x) for x in table.filter(mask).column("Id").to_pylist()]


def delete_user_events(
    project: Project, user_id: str, *, now: datetime | None = None
) -> ErasureReport:
    """Remove every event of ``user_id`` (by user id, or by any of the user's endpoints) from
    the lake and the rejects files, and refuse the user's events up to now on later ingests.

    Exports already written elsewhere (S3 archives, streams) are not reachable from here.
    """
    now = now or datetime.now(UTC)
    endpoints = _user_endpoints(project, user_id)
    events_dir = project.store.events_dir
    deleted = rewritten = 0
    with project.store.lock("events"):
        files: list[str] = []
        if next(events_dir.glob("*/*/*/*/*.parquet"), None) is not None:
            con = duckdb.connect()
            glob = str(events_dir / "*" / "*" / "*" / "*" / "*.parquet").replace("'", "''")
            ids = [user_id, *endpoints]
            marks = ", ".join("?" * len(ids))
            files = [
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT filename FROM read_parquet('{glob}', filename = true) "
                    f"WHERE user_id = ? OR endpoint_id IN ({marks}) OR client_id IN ({marks})",
                    [user_id, *ids, *ids],
                ).fetchall()
            ]
        for name in files:
            table = pq.read_table(name)
            hit = pc.equal(table.column("user_id"), user_id).fill_null(False)
            for col in ("endpoint_id", "client_id"):
                hit = pc.or_(
                    hit, pc.is_in(table.column(col), value_set=_array(endpoints)).fill_null(False)
                )
            keep = table.filter(pc.invert(hit))
            deleted += table.num_rows - keep.num_rows
            rewritten += 1
            if keep.num_rows:
                write_parquet_atomic(keep, Path(name))
            else:
                Path(name).unlink()
    rejects = _purge_rejects(project, user_id, set(endpoints))
    with project.store.transaction() as conn:
        conn.execute(
            "INSERT INTO event_erasures (user_id, endpoint_ids, events_deleted, deleted_at) "
            "VALUES (?, ?, ?, ?)",
            (user_id, json.dumps(endpoints), deleted, now.isoformat()),
        )
    return ErasureReport(user_id, endpoints, deleted, rewritten, rejects)


def _array(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def _mentions(record: Any, user_id: str, endpoints: set[str]) -> bool:
    if not isinstance(record, dict):
        return isinstance(record, str) and user_id in record
    ids = {record.get("user_id"), record.get("endpoint_id"), record.get("client_id")}
    client = record.get("client")
    if isinstance(client, dict):
        ids.add(client.get("client_id"))
    endpoint = record.get("endpoint")
    if isinstance(endpoint, dict):
        ids.add(endpoint.get("Id"))
        user = endpoint.get("User")
        if isinstance(user, dict):
            ids.add(user.get("UserId"))
    return user_id in ids or bool(endpoints & {i for i in ids if isinstance(i, str)})


def _purge_rejects(project: Project, user_id: str, endpoints: set[str]) -> int:
    folder = project.store.root / REJECTS_DIR
    removed = 0
    if not folder.exists():
        return 0
    for path in folder.glob("*.ndjson"):
        kept: list[str] = []
        dropped = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line).get("record")
            except (json.JSONDecodeError, AttributeError):
                record = None
            if _mentions(record, user_id, endpoints):
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            removed += dropped
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
            os.replace(tmp, path)
    return removed
