"""Stream export to Kinesis, Firehose and S3 through boto3 against the moto server."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from engagekit.errors import EngagekitError
from engagekit.events import (
    append_events,
    dedupe_events,
    export_stream,
    ingest,
    put_kinesis,
    read_events,
    read_kinesis,
)


def events(n: int) -> list[dict]:
    return [
        {
            "event_type": "_email.open",
            "event_timestamp": 1762164000000 + i * 1000,
            "endpoint_id": f"ep-{i}",
            "user_id": f"u-{i}",
            "campaign_id": "spring",
            "attributes": {"link": str(i % 3)},
        }
        for i in range(n)
    ]


def wait_active(kinesis, name: str) -> None:
    for _ in range(50):
        if (
            kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamStatus"]
            == "ACTIVE"
        ):
            return
        time.sleep(0.1)


def test_kinesis_export_sends_each_file_once_and_reader_dedupes(project, aws_reset):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="pinpoint", ShardCount=2)
    wait_active(kinesis, "pinpoint")
    append_events(project, events(30))
    first = export_stream(project, "kinesis:pinpoint")
    assert (first.records, first.files) == (30, 1)
    again = export_stream(project, "kinesis:pinpoint")
    assert (again.records, again.skipped_files) == (0, 1)
    # at least once: a resend after a crash duplicates records; the reader drops the copies
    export_stream(project, "kinesis:pinpoint", resend=True)
    got = read_kinesis("pinpoint")
    assert len(got) == 30
    assert {e["attributes"]["campaign_id"] for e in got} == {"spring"}
    ids = {e["event_id"] for e in got}
    assert ids == set(read_events(project)["event_id"])


def test_put_kinesis_splits_into_500_record_calls(aws_reset):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="big", ShardCount=1)
    wait_active(kinesis, "big")
    records = [json.dumps({"event_id": str(i)}).encode() for i in range(1_203)]
    assert put_kinesis(records, "big", [str(i) for i in range(1_203)]) == 1_203
    assert len(read_kinesis("big")) == 1_203


def test_firehose_export_lands_in_s3_and_ingests_back(project, aws_reset):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="firehose-dest")
    firehose = boto3.client("firehose")
    firehose.create_delivery_stream(
        DeliveryStreamName="pinpoint-fh",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": "arn:aws:s3:::firehose-dest",
            "Prefix": "events/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
        },
    )
    append_events(project, events(12))
    report = export_stream(project, "firehose:pinpoint-fh")
    assert report.records == 12
    copy = type(project).create(project.path.parent / "copy", name="copy")
    back = ingest(copy, "s3://firehose-dest/events/")
    assert back.accepted == 12
    assert sorted(read_events(copy)["event_id"]) == sorted(read_events(project)["event_id"])


def test_s3_export_uses_pinpoint_key_layout(project, aws_reset):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="lake-copy")
    append_events(project, events(5))
    report = export_stream(project, "s3://lake-copy/pinpoint", stream_name="ek")
    assert report.records == 5
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket="lake-copy")["Contents"]]
    assert key.startswith("pinpoint/2025/11/03/10/ek-1-") and key.endswith(".gz")


def test_unknown_destination_is_refused(project):
    with pytest.raises(EngagekitError, match="kinesis:<stream>"):
        export_stream(project, "sqs:queue")


def test_dedupe_events_keeps_first_copy():
    import pandas as pd

    df = pd.DataFrame({"event_id": ["a", "b", "a"], "n": [1, 2, 3]})
    assert dedupe_events(df)["n"].tolist() == [1, 2]


def test_compacted_files_are_not_sent_again(project, aws_reset):
    from engagekit.events import compact

    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="compact", ShardCount=1)
    wait_active(kinesis, "compact")
    append_events(project, events(5))
    append_events(project, events(10)[5:])
    assert export_stream(project, "kinesis:compact").files == 2
    assert compact(project).files_after == 1
    again = export_stream(project, "kinesis:compact")
    assert (again.records, again.skipped_files) == (0, 1)
