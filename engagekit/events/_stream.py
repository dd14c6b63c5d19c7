"""Stream export, as Pinpoint's event stream does: records to Kinesis Data Streams
(``PutRecords``) or Amazon Data Firehose (``PutRecordBatch``), or gzip NDJSON objects to S3 in
Firehose's key layout.

Delivery is at least once: a lake file is marked as sent to a destination only after every
record of it was accepted, failed records are retried with backoff, and a crash in between
sends the file again. Readers dedupe on ``event_id`` (every record carries it), which
:func:`read_kinesis` and ingest (idempotent on ``event_id``) do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from engagekit.errors import EngagekitError
from engagekit.events._lake import lake_files
from engagekit.events._schema import to_pinpoint

if TYPE_CHECKING:
    from engagekit.project import Project

KINESIS_MAX_RECORDS = 500
KINESIS_MAX_BYTES = 5 * 1024 * 1024
FIREHOSE_MAX_RECORDS = 500
FIREHOSE_MAX_BYTES = 4 * 1024 * 1024
RECORD_MAX_BYTES = 1000 * 1024


class StreamExportError(EngagekitError):
    """Records were still refused after every retry; ``failed`` holds (record, error) pairs."""

    def __init__(self, destination: str, failed: list[tuple[bytes, str]]) -> None:
        codes = sorted({err for _, err in failed})
        super().__init__(
            f"{destination}: {len(failed)} records refused after retries ({', '.join(codes)}); "
            f"check the stream's capacity and run the export again (already-sent files are "
            f"skipped, readers dedupe on event_id)"
        )
        self.destination = destination
        self.failed = failed


def event_records(frame: pd.DataFrame) -> list[bytes]:
    """Each lake row as one newline-terminated Pinpoint event JSON record."""
    return [
        (json.dumps(to_pinpoint(row), separators=(",", ":"), default=str) + "\n").encode()
        for row in frame.to_dict(orient="records")
    ]


def _batches(
    records: list[bytes], keys: list[str] | None, max_n: int, max_bytes: int
) -> Iterator[list[int]]:
    batch: list[int] = []
    size = 0
    for i, rec in enumerate(records):
        n = len(rec) + (len(keys[i].encode()) if keys else 0)
        if n > RECORD_MAX_BYTES:
            raise StreamExportError("stream", [(rec[:200], "RecordTooLarge")])
        if batch and (len(batch) >= max_n or size + n > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(i)
        size += n
    if batch:
        yield batch


def _client(service: str, client: Any) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client(service)


def put_kinesis(
    records: list[bytes],
    stream_name: str,
    partition_keys: list[str],
    *,
    client: Any = None,
    max_retries: int = 5,
    backoff: float = 0.1,
) -> int:
    """Send records with ``PutRecords`` (≤ 500 records / 5 MiB per call), retrying the ones a
    response marks as failed; returns how many were sent."""
    kinesis = _client("kinesis", client)
    sent = 0
    for batch in _batches(records, partition_keys, KINESIS_MAX_RECORDS, KINESIS_MAX_BYTES):
        pending = batch
        for attempt in range(max_retries + 1):
            resp = kinesis.put_records(
                StreamName=stream_name,
                Records=[{"Data": records[i], "PartitionKey": partition_keys[i]} for i in pending],
            )
            failed = [
                i for i, r in zip(pending, resp["Records"], strict=True) if r.get("ErrorCode")
            ]
            sent += len(pending) - len(failed)
            if not failed:
                break
            if attempt == max_retries:
                errors = {
                    i: r.get("ErrorCode", "") for i, r in zip(pending, resp["Records"], strict=True)
                }
                raise StreamExportError(
                    f"kinesis:{stream_name}", [(records[i], errors[i]) for i in failed]
                )
            pending = failed
            time.sleep(backoff * 2**attempt)
    return sent


def put_firehose(
    records: list[bytes],
    delivery_stream: str,
    *,
    client: Any = None,
    max_retries: int = 5,
    backoff: float = 0.1,
) -> int:
    """Send records with ``PutRecordBatch`` (≤ 500 records / 4 MiB per call), retrying the
    failed ones; returns how many were sent."""
    firehose = _client("firehose", client)
    sent = 0
    for batch in _batches(records, None, FIREHOSE_MAX_RECORDS, FIREHOSE_MAX_BYTES):
        pending = batch
        for attempt in range(max_retries + 1):
            resp = firehose.put_record_batch(
                DeliveryStreamName=delivery_stream,
                Records=[{"Data": records[i]} for i in pending],
            )
            results = resp["RequestResponses"]
            failed = [i for i, r in zip(pending, results, strict=True) if r.get("ErrorCode")]
            sent += len(pending) - len(failed)
            if not failed:
                break
            if attempt == max_retries:
                raise StreamExportError(
                    f"firehose:{delivery_stream}",
                    [(records[i], "ServiceUnavailable") for i in failed],
                )
            pending = failed
            time.sleep(backoff * 2**attempt)
    return sent


@dataclass
class StreamReport:
    destination: str
    files: int = 0
    records: int = 0
    skipped_files: int = 0
    objects: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.destination}: {self.records} events from {self.files} files sent "
            f"({self.skipped_files} files already sent)"
        )


def export_stream(
    project: Project,
    destination: str,
    *,
    start: Any = None,
    end: Any = None,
    client: Any = None,
    stream_name: str = "engagekit",
    resend: bool = False,
    now: datetime | None = None,
) -> StreamReport:
    """Send the lake's events to ``destination``: ``kinesis:<stream>``, ``firehose:<stream>`` or
    ``s3://bucket/prefix`` (one gzip NDJSON object per lake file, Firehose key layout).

    Files already sent to that destination are skipped unless ``resend``; a file is marked
    sent only after all its records were accepted (at least once).

    >>> export_stream(project, "kinesis:pinpoint-events")              # doctest: +SKIP
    """
    from engagekit.events._retention import write_export

    now = now or datetime.now(UTC)
    kind, _, name = destination.partition(":")
    if kind not in ("kinesis", "firehose", "s3") or not name:
        raise EngagekitError(
            f"unknown stream destination {destination!r}; use kinesis:<stream>, "
            f"firehose:<delivery stream> or s3://bucket/prefix"
        )
    events_dir = project.store.events_dir
    conn = project.store.connect()
    done = {
        r[0]
        for r in conn.execute(
            "SELECT file FROM event_stream_files WHERE destination = ?", (destination,)
        )
    }
    report = StreamReport(destination)
    for path in lake_files(events_dir, start, end):
        rel = str(path.relative_to(events_dir))
        if rel in done and not resend:
            report.skipped_files += 1
            continue
        frame = pq.read_table(path).to_pandas(maps_as_pydicts="strict")
        if start is not None or end is not None:
            ts = frame["event_timestamp"]
            keep = pd.Series(True, index=frame.index)
            if start is not None:
                keep &= ts >= _utc(start)
            if end is not None:
                keep &= ts < _utc(end)
            frame = frame[keep]
        if frame.empty:
            continue
        if kind == "s3":
            hour = pd.Timestamp(frame["event_timestamp"].min()).floor("h")
            report.objects.append(
                write_export(frame, destination, hour, stream_name=stream_name, s3=client, now=now)
            )
            sent = len(frame)
        elif kind == "kinesis":
            keys = frame["endpoint_id"].fillna(frame["event_id"]).astype(str).tolist()
            sent = put_kinesis(event_records(frame), name, keys, client=client)
        else:
            sent = put_firehose(event_records(frame), name, client=client)
        with project.store.transaction() as tx:
            tx.execute(
                "INSERT INTO event_stream_files (destination, file, rows, sent_at) VALUES "
                "(?, ?, ?, ?) ON CONFLICT (destination, file) DO UPDATE SET rows=excluded.rows, "
                "sent_at=excluded.sent_at",
                (destination, rel, sent, now.isoformat()),
            )
        report.files += 1
        report.records += sent
    return report


def _utc(value: Any) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def read_kinesis(
    stream_name: str,
    *,
    client: Any = None,
    iterator_type: str = "TRIM_HORIZON",
    max_empty_polls: int = 1,
) -> list[dict[str, Any]]:
    """Every record on the stream's shards as event dicts, deduplicated on ``event_id`` (the
    first copy wins), in arrival order per shard."""
    kinesis = _client("kinesis", client)
    shards = kinesis.list_shards(StreamName=stream_name)["Shards"]
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for shard in shards:
        it = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType=iterator_type
        )["ShardIterator"]
        empty = 0
        while it and empty <= max_empty_polls:
            resp = kinesis.get_records(ShardIterator=it, Limit=10_000)
            records = resp["Records"]
            empty = empty + 1 if not records else 0
            for rec in records:
                out.extend(_dedupe(_decode(rec["Data"]), seen))
            it = resp.get("NextShardIterator")
            if not records and resp.get("MillisBehindLatest", 0) == 0:
                break
    return out


def _decode(data: bytes) -> Iterable[dict[str, Any]]:
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


def _dedupe(events: Iterable[dict[str, Any]], seen: set[str]) -> Iterator[dict[str, Any]]:
    for e in events:
        eid = e.get("event_id")
        if eid is not None:
            if eid in seen:
                continue
            seen.add(eid)
        yield e


def dedupe_events(events: pd.DataFrame) -> pd.DataFrame:
    """Drop repeated ``event_id`` rows (at-least-once streams deliver some twice)."""
    return events.drop_duplicates("event_id", keep="first").reset_index(drop=True)
