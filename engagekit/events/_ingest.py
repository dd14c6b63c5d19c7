"""Ingest events from files and S3: NDJSON (Pinpoint's event JSON, one per line, ``.gz`` too),
CSV (flat columns, ``attributes.<k>`` / ``metrics.<k>`` columns), Parquet, folders and
``s3://bucket/prefix``. Large files are read in batches; every batch goes through
:func:`append_events`, so validation, rejects and idempotence are the same for every source.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pandas as pd

from engagekit.errors import ImportFileError
from engagekit.events._lake import (
    IngestReport,
    _append_batch,
    _Batch,
    _batch_from_frame,
    _batch_from_records,
    _record_ingest,
)
from engagekit.events._schema import RowError

if TYPE_CHECKING:
    from engagekit.project import Project

BATCH_ROWS = 200_000
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json")
FORMATS = ("ndjson", "csv", "parquet")


def _format_of(name: str, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise ImportFileError(name, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    lower = name.lower().removesuffix(".gz")
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".parquet"):
        return "parquet"
    if (
        lower.endswith(NDJSON_SUFFIXES)
        or name.lower().endswith(".gz")
        or "." not in Path(lower).name
    ):
        return "ndjson"  # Firehose objects have no extension: NDJSON (gzip when .gz)
    raise ImportFileError(name, "cannot tell the format from the name; pass format='ndjson'|'csv'")


class _BadLine(RowError):
    def __init__(self, code: str, message: str, text: str) -> None:
        super().__init__(code, message)
        self.text = text


def _ndjson_batches(fh: IO[bytes], name: str, size: int) -> Iterator[_Batch]:
    records: list[Any] = []
    lines: list[int] = []
    for number, raw in enumerate(fh, start=1):
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            records.append(_BadLine("BAD_JSON", "the line is not UTF-8", repr(raw[:200])))
            lines.append(number)
            continue
        if not text:
            continue
        try:
            records.append(json.loads(text))
        except json.JSONDecodeError as exc:
            records.append(_BadLine("BAD_JSON", f"not valid JSON: {exc.msg}", text[:2000]))
        lines.append(number)
        if len(records) >= size:
            yield _records_batch(records, lines)
            records, lines = [], []
    if records:
        yield _records_batch(records, lines)


def _records_batch(records: list[Any], lines: list[int]) -> _Batch:
    return _batch_from_records(records, lines)


def _csv_batches(fh: IO[bytes], size: int) -> Iterator[tuple[_Batch, pd.DataFrame]]:
    reader = pd.read_csv(fh, dtype=str, keep_default_na=False, chunksize=size)
    offset = 2  # line 1 is the header
    for chunk in reader:
        chunk = chunk.replace({"": None})
        batch = _batch_from_frame(chunk)
        batch.positions = list(range(offset, offset + len(chunk)))
        offset += len(chunk)
        yield batch, chunk


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def ingest_stream(
    project: Project,
    fh: IO[bytes],
    *,
    name: str,
    format: str | None = None,
    now: datetime | None = None,
    batch_rows: int = BATCH_ROWS,
) -> IngestReport:
    """Ingest one open binary stream (a file, an S3 body) in batches of ``batch_rows``."""
    now = now or datetime.now(UTC)
    fmt = _format_of(name, format)
    report = IngestReport(source=name)
    if fmt == "ndjson":
        for batch in _ndjson_batches(fh, name, batch_rows):
            report.merge(
                _append_batch(project, batch, batch.originals, source=name, now=now, record=False)
            )
    elif fmt == "csv":
        try:
            for batch, chunk in _csv_batches(fh, batch_rows):
                report.merge(
                    _append_batch(project, batch, chunk, source=name, now=now, record=False)
                )
        except pd.errors.EmptyDataError:
            raise ImportFileError(name, "the CSV file is empty (no header)") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ImportFileError(name, f"not a readable CSV file: {exc}") from exc
    else:
        frame = pd.read_parquet(io.BytesIO(fh.read()))
        batch = _batch_from_frame(frame)
        report.merge(_append_batch(project, batch, frame, source=name, now=now, record=False))
    _record_ingest(project, report, now)
    return report


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if any(ch in str(path) for ch in "*?["):
        return sorted(Path(path.anchor or ".").glob(str(path.relative_to(path.anchor or "."))))
    if not path.exists():
        raise ImportFileError(path, "no such file or folder")
    return [path]


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``."""
    if not url.startswith("s3://"):
        raise ImportFileError(url, "an S3 location starts with s3://")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise ImportFileError(url, "the S3 URL names no bucket (s3://bucket/prefix)")
    return bucket, prefix


def s3_client(client: Any = None) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("s3")


def _s3_keys(client: Any, bucket: str, prefix: str) -> Iterable[str]:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                yield obj["Key"]


def ingest(
    project: Project,
    source: str | Path | pd.DataFrame | Iterable[dict[str, Any]],
    *,
    format: str | None = None,
    now: datetime | None = None,
    s3: Any = None,
    batch_rows: int = BATCH_ROWS,
) -> IngestReport:
    """Ingest events from a file, folder, glob, ``s3://bucket/prefix``, DataFrame or dicts.

    Returns one report over everything read; re-ingesting the same data adds nothing.

    >>> ingest(project, "exports/2026/10/01/")                         # doctest: +SKIP
    >>> ingest(project, "s3://my-bucket/pinpoint-events/2026/10/")     # doctest: +SKIP
    """
    from engagekit.events._lake import append_events

    now = now or datetime.now(UTC)
    if isinstance(source, pd.DataFrame) or not isinstance(source, (str, Path)):
        return append_events(project, source, source="dataframe", now=now)  # type: ignore[arg-type]
    text = str(source)
    report = IngestReport(source=text)
    if text.startswith("s3://"):
        client = s3_client(s3)
        bucket, prefix = parse_s3_url(text)
        keys = list(_s3_keys(client, bucket, prefix))
        if not keys:
            raise ImportFileError(text, "no objects under this S3 prefix")
        for key in keys:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            if key.endswith(".gz") or body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            name = f"s3://{bucket}/{key}"
            fmt = format or _format_of(key, None)
            report.merge(
                ingest_stream(
                    project, io.BytesIO(body), name=name, format=fmt, now=now, batch_rows=batch_rows
                )
            )
        return report
    for path in _files(Path(text)):
        with _open(path) as fh:
            report.merge(
                ingest_stream(
                    project, fh, name=str(path), format=format, now=now, batch_rows=batch_rows
                )
            )
    return report
