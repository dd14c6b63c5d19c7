"""Ingest from NDJSON, gzip NDJSON, CSV, folders and S3; rejects carry line numbers."""

from __future__ import annotations

import gzip
import json

import boto3
import pytest

from engagekit.errors import ImportFileError
from engagekit.events import ingest, read_events


def pinpoint_event(i: int, **kw) -> dict:
    return {
        "event_type": "_session.start",
        "event_timestamp": 1762164000000 + i * 60_000,
        "arrival_timestamp": 1762164000500 + i * 60_000,
        "event_version": "3.0",
        "application": {"app_id": "app-1"},
        "client": {"client_id": f"ep-{i % 3}"},
        "session": {"session_id": f"s-{i}", "start_timestamp": 1762164000000 + i * 60_000},
        "attributes": {},
        "metrics": {},
    } | kw


def write_ndjson(path, rows) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def test_ndjson_file_ingests_and_reingest_adds_nothing(project, tmp_path):
    path = tmp_path / "events.ndjson"
    write_ndjson(path, [pinpoint_event(i) for i in range(10)])
    first = ingest(project, path)
    again = ingest(project, path)
    assert (first.accepted, first.rejected) == (10, 0)
    assert (again.accepted, again.duplicates) == (0, 10)
    assert len(read_events(project)) == 10
    logged = (
        project.store.connect()
        .execute("SELECT source, accepted, duplicates FROM event_ingests ORDER BY id")
        .fetchall()
    )
    assert [tuple(r) for r in logged] == [(str(path), 10, 0), (str(path), 0, 10)]


def test_bad_lines_are_rejected_with_their_line_numbers(project, tmp_path):
    path = tmp_path / "mixed.jsonl"
    write_ndjson(
        path,
        [
            pinpoint_event(0),
            "{not json",
            "",
            pinpoint_event(1, event_timestamp="soon"),
            json.dumps([1, 2]),
            pinpoint_event(2, attributes={"nested": {"no": 1}}),
            pinpoint_event(3),
        ],
    )
    report = ingest(project, path)
    assert report.accepted == 2
    assert report.reasons == {
        "BAD_JSON": 1,
        "BAD_TIMESTAMP": 1,
        "NOT_AN_OBJECT": 1,
        "BAD_ATTRIBUTES": 1,
    }
    rejects = [json.loads(x) for x in report.rejects_path.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "BAD_JSON"),
        (4, "BAD_TIMESTAMP"),
        (5, "NOT_AN_OBJECT"),
        (6, "BAD_ATTRIBUTES"),
    ]
    assert rejects[0]["record"] == "{not json"


def test_gzip_ndjson_folder_in_pinpoint_layout(project, tmp_path):
    folder = tmp_path / "export" / "2025" / "11" / "03" / "10"
    folder.mkdir(parents=True)
    body = "".join(json.dumps(pinpoint_event(i)) + "\n" for i in range(5)).encode()
    (folder / "stream-1-2025-11-03-10-00-00-abc.gz").write_bytes(gzip.compress(body))
    report = ingest(project, tmp_path / "export")
    assert report.accepted == 5


def test_csv_with_attribute_and_metric_columns(project, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "event_type,event_timestamp,endpoint_id,user_id,attributes.plan,metrics.score,"
        "campaign_id\n"
        "_email.open,2026-11-01T10:00:00Z,ep-1,u-1,pro,3.5,spring\n"
        "_email.open,1762164000000,ep-2,,free,,spring\n"
        ",2026-11-01T10:00:00Z,ep-3,u-3,,,\n"
        "_email.open,2026-11-01T11:00:00Z,ep-4,,,lots,\n"
    )
    report = ingest(project, path)
    assert (report.accepted, report.rejected) == (2, 2)
    assert report.reasons == {"MISSING_EVENT_TYPE": 1, "BAD_METRIC": 1}
    rejects = [json.loads(x) for x in report.rejects_path.read_text().splitlines()]
    assert [r["line"] for r in rejects] == [4, 5]
    got = read_events(project).sort_values("endpoint_id")
    assert got["attributes"].tolist() == [{"plan": "pro"}, {"plan": "free"}]
    assert got["metrics"].tolist() == [{"score": 3.5}, {}]
    assert got["campaign_id"].tolist() == ["spring", "spring"]


def test_unreadable_sources_raise_import_file_error(project, tmp_path):
    with pytest.raises(ImportFileError, match="no such file"):
        ingest(project, tmp_path / "missing.ndjson")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFileError, match="empty"):
        ingest(project, empty)
    odd = tmp_path / "events.xlsx"
    odd.write_text("x")
    with pytest.raises(ImportFileError, match="format"):
        ingest(project, odd)


def test_s3_prefix_ingests_every_object(project, aws_reset):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="pinpoint-export")
    for hour in (10, 11):
        body = "".join(json.dumps(pinpoint_event(hour * 100 + i)) + "\n" for i in range(4))
        s3.put_object(
            Bucket="pinpoint-export",
            Key=f"events/2025/11/03/{hour}/stream-1-2025-11-03-{hour}-00-00-x.gz",
            Body=gzip.compress(body.encode()),
        )
    report = ingest(project, "s3://pinpoint-export/events/")
    assert report.accepted == 8
    assert ingest(project, "s3://pinpoint-export/events/").duplicates == 8
    with pytest.raises(ImportFileError, match="no objects"):
        ingest(project, "s3://pinpoint-export/nothing-here/")


def test_pinpoint_put_events_request_ingests_once(project):
    from engagekit.events import put_events

    body = {
        "BatchItem": {
            "ep-1": {
                "Endpoint": {
                    "ChannelType": "GCM",
                    "User": {"UserId": "u-1"},
                    "Demographic": {"AppVersion": "4.0.0", "Platform": "android"},
                },
                "Events": {
                    "evt-1": {
                        "EventType": "_session.start",
                        "Timestamp": "2026-10-01T10:00:00Z",
                        "Session": {"Id": "s-1", "StartTimestamp": "2026-10-01T10:00:00Z"},
                        "AppPackageName": "com.example.app",
                        "SdkName": "aws-amplify",
                    },
                    "evt-2": {
                        "EventType": "_monetization.purchase",
                        "Timestamp": "2026-10-01T10:05:00Z",
                        "Session": {"Id": "s-1"},
                        "Attributes": {"_product_id": "sku-9", "_currency": "EUR"},
                        "Metrics": {"_quantity": 2, "_item_price": 9.5},
                    },
                },
            }
        }
    }
    assert put_events(project, body).accepted == 2
    assert put_events(project, body).duplicates == 2
    got = read_events(project).set_index("event_id")
    assert got.loc["evt-1", "session_id"] == "s-1"
    assert got.loc["evt-1", "app_id"] == "com.example.app"
    assert got.loc["evt-2", ["user_id", "channel_type", "product_id", "currency"]].tolist() == [
        "u-1",
        "GCM",
        "sku-9",
        "EUR",
    ]
    assert got.loc["evt-2", "quantity"] * got.loc["evt-2", "item_price"] == 19.0
    assert got.loc["evt-2", "platform"] == "android"


def test_email_event_message_id_comes_from_facets(project):
    from engagekit.events import append_events

    event = pinpoint_event(
        0,
        event_type="_email.delivered",
        facets={
            "email_channel": {
                "mail_event": {"mail": {"message_id": "0100-abc", "destination": ["a@example.com"]}}
            }
        },
    )
    append_events(project, [event])
    assert read_events(project)["message_id"].tolist() == ["0100-abc"]
