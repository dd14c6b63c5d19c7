"""Retention with export before expiry, and deleting a user's events."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import boto3
import pandas as pd
import pyarrow as pa

from engagekit.events import (
    append_events,
    delete_user_events,
    expire_events,
    ingest,
    list_partitions,
    read_events,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def ev(ts: str, user: str, endpoint: str | None = None, **kw) -> dict:
    return {
        "event_type": "_session.start",
        "event_timestamp": ts,
        "endpoint_id": endpoint or f"ep-{user}",
        "user_id": user,
    } | kw


def test_old_partitions_are_exported_then_deleted(project):
    append_events(
        project,
        [
            ev("2026-08-01T10:00Z", "a"),
            ev("2026-08-01T10:30Z", "b"),
            ev("2026-08-20T09:00Z", "a"),
            ev("2026-11-20T09:00Z", "a"),
        ],
        now=NOW,
    )
    preview = expire_events(project, now=NOW, dry_run=True)
    assert preview.expired == ["2026/08/01/10", "2026/08/20/09"] and preview.rows == 3
    assert len(list_partitions(project.store.events_dir)) == 3

    report = expire_events(project, now=NOW)
    assert report.expired == ["2026/08/01/10", "2026/08/20/09"]
    assert list_partitions(project.store.events_dir) == ["2026/11/20/09"]
    assert not (project.store.events_dir / "2026" / "08").exists()
    files = sorted((project.path / "exports" / "events").rglob("*.gz"))
    assert [f.relative_to(project.path / "exports" / "events").parts[:4] for f in files] == [
        ("2026", "08", "01", "10"),
        ("2026", "08", "20", "09"),
    ]
    lines = gzip.decompress(files[0].read_bytes()).decode().splitlines()
    assert sorted(json.loads(x)["endpoint"]["User"]["UserId"] for x in lines) == ["a", "b"]
    # the export is Pinpoint JSON, so it ingests back unchanged
    assert ingest(project, project.path / "exports" / "events").accepted == 3


def test_retention_days_come_from_project_settings(project):
    project.update_settings(event_retention_days=200)
    append_events(project, [ev("2026-08-01T10:00Z", "a")], now=NOW)
    assert expire_events(project, now=NOW).expired == []
    assert expire_events(project, now=NOW, retention_days=30).expired == ["2026/08/01/10"]


def test_expiry_exports_to_s3_with_firehose_keys(project, aws_reset):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="archive")
    append_events(project, [ev("2026-08-01T10:00Z", "a")], now=NOW)
    report = expire_events(project, now=NOW, export_to="s3://archive/pinpoint")
    key = report.exported["2026/08/01/10"]
    assert key.startswith("s3://archive/pinpoint/2026/08/01/10/engagekit-1-2026-11-27-12-00-00-")
    listed = s3.list_objects_v2(Bucket="archive")["Contents"]
    assert len(listed) == 1


def test_deleting_a_user_removes_events_by_user_and_endpoint(project):
    endpoints = pd.DataFrame({"Id": ["ep-a1", "ep-a2", "ep-b"], "User.UserId": ["a", "a", "b"]})
    project.store.write_table("endpoints.parquet", pa.Table.from_pandas(endpoints))
    append_events(
        project,
        [
            ev("2026-11-01T10:00Z", "a", "ep-a1"),
            ev("2026-11-01T10:05Z", "b", "ep-b"),
            {
                "event_type": "_email.open",
                "event_timestamp": "2026-11-01T10:06Z",
                "endpoint_id": "ep-a2",
            },  # no user id: found through the user's endpoint
            ev("2026-11-02T10:00Z", "a", "ep-a1"),  # a partition that becomes empty
            {"event_type": "", "event_timestamp": "2026-11-01T10:00Z", "user_id": "a"},  # a reject
        ],
        now=NOW,
    )
    report = delete_user_events(project, "a", now=NOW)
    assert report.events_deleted == 3
    assert report.rejects_deleted == 1
    assert sorted(report.endpoint_ids) == ["ep-a1", "ep-a2"]
    left = read_events(project)
    assert left["user_id"].tolist() == ["b"]
    # the user's old events are refused if an old export is ingested again
    again = append_events(project, [ev("2026-11-01T10:00Z", "a", "ep-a1")], now=NOW)
    assert again.reasons == {"USER_ERASED": 1}
    later = append_events(project, [ev("2026-11-27T12:30Z", "a", "ep-a1")], now=NOW)
    assert later.accepted == 1
