"""The project's endpoint snapshot: read, write, import (Pinpoint's semantics), delete a user."""

from __future__ import annotations

import csv
import hashlib
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.endpoints import _readers as readers
from engagekit.endpoints._frame import (
    frame_to_table,
    plain,
    table_to_frame,
    to_storage,
)
from engagekit.endpoints._merge import all_distinct, merge_snapshot
from engagekit.endpoints._rules import np_bool
from engagekit.endpoints._schema import normalize_endpoints
from engagekit.endpoints._validate import Context, raw_record, record_text, validate
from engagekit.errors import EngagekitError, ImportFileError

if TYPE_CHECKING:
    from engagekit.project import Project

_LOCK = "endpoints"


class EndpointFrameError(EngagekitError):
    """A frame handed to :func:`write_endpoints` is not a valid endpoint snapshot."""

    def __init__(self, message: str, *, ids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.ids = list(ids)


@dataclass
class ImportReport:
    """What an import did. ``read == imported + rejected`` always holds."""

    files: list[str]
    format: str
    read: int = 0
    imported: int = 0
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    skipped_files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    job_id: str | None = None

    def __str__(self) -> str:
        text = (
            f"read {self.read:,} rows from {len(self.files)} {self.format} file(s): "
            f"{self.imported:,} imported ({self.created:,} new endpoints, {self.updated:,} "
            f"updated), {self.deactivated:,} deactivated, {self.rejected:,} rejected"
        )
        if self.rejects_path:
            text += f" (see {self.rejects_path})"
        if self.skipped_files:
            text += f"; skipped {len(self.skipped_files)} file(s) of another format"
        return text


# -- read / write ------------------------------------------------------------------------------
def read_table(project: Project, columns: Sequence[str] | None = None) -> pa.Table | None:
    path = project.store.endpoints_path
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    if columns is None:
        return pq.read_table(path)
    present = set(pq.read_schema(path).names)
    return pq.read_table(path, columns=[c for c in columns if c in present])


def read_endpoints(project: Project, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The project's endpoints as a normalized frame (empty, with the core columns, if none).

    ``columns`` limits what is read; a requested column the snapshot lacks comes back as nulls.

        >>> df = read_endpoints(project, columns=["Id", "Attributes.plan"])  # doctest: +SKIP
    """
    table = read_table(project, columns)
    df = table_to_frame(table) if table is not None else normalize_endpoints(pd.DataFrame())
    if columns is None:
        return df
    for name in columns:
        if name not in df.columns:
            df[name] = normalize_endpoints(pd.DataFrame({name: [None] * len(df)}))[name]
    return df[list(columns)]


def write_endpoints(project: Project, df: pd.DataFrame) -> Path:
    """Replace the project's snapshot with ``df`` atomically (Ids must be present and unique)."""
    table = frame_to_table(df)
    _check_ids(table)
    with project.store.lock(_LOCK):
        return _write_table(project, table)


def _check_ids(table: pa.Table) -> None:
    ids = table.column("Id")
    if ids.null_count:
        raise EndpointFrameError(
            f"{ids.null_count} endpoint(s) have no Id; give every row an Id "
            "(or import the rows, which generates Ids)"
        )
    if not all_distinct(ids):
        dup = pd.Series(ids.to_numpy(zero_copy_only=False))
        dups = dup[dup.duplicated()].unique()[:5].tolist()
        raise EndpointFrameError(
            f"endpoint Ids must be unique; duplicated: {', '.join(map(str, dups))}", ids=dups
        )


def _write_table(project: Project, table: pa.Table) -> Path:
    """Replace the snapshot atomically (temporary file, fsync, rename), as
    :meth:`Store.write_table` does, but dictionary-encoding only the categorical columns:
    trying dictionaries on unique strings (Id, Address) costs a third of the write."""
    import pyarrow.parquet as pq

    table = to_storage(table)
    path = project.store.endpoints_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    dictionary = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    # min/max statistics where a reader can use them (not on unique strings and lists)
    stats = [
        f.name for f in table.schema if not (pa.types.is_string(f.type) or pa.types.is_list(f.type))
    ]
    try:
        pq.write_table(
            table,
            tmp,
            compression="lz4",  # the snapshot is rewritten on every import: fast beats small
            use_dictionary=dictionary or False,
            write_statistics=stats or False,
        )
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# -- import ------------------------------------------------------------------------------------
def import_endpoints(
    project: Project,
    source: str | os.PathLike[str],
    *,
    format: str | None = None,
    rejects: str | os.PathLike[str] | None = None,
    progress: bool = True,
    now: datetime | str | None = None,
) -> ImportReport:
    """Import endpoints from CSV or NDJSON (a file, a folder, or ``s3://bucket/prefix``).

    Pinpoint's semantics: a row whose ``Id`` exists updates that endpoint (given fields replace,
    absent ones stay, so ``OptOut=ALL`` survives an import without ``OptOut``); a new endpoint
    needs ``Address`` and ``ChannelType`` (its ``Id`` is generated when absent); among endpoints
    sharing a channel and address only the most recently updated stays ACTIVE; a user keeps at
    most 10 endpoints. Bad rows are rejected, never dropped: each lands in the rejects file (file,
    line, field, reason, raw record) that the report names. A file that cannot be read at all
    raises :class:`ImportFileError` and the store is left untouched.

        >>> report = import_endpoints(project, "data/sample_endpoints.csv")  # doctest: +SKIP
        >>> report.read == report.imported + report.rejected                 # doctest: +SKIP
        True
    """
    stamp = _utc(now)
    job_id = f"import-{stamp.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    started_at = pd.Timestamp.now(tz="UTC").isoformat()
    try:
        report = _run_import(project, source, format, rejects, progress, stamp)
    except Exception as exc:
        _log_job(project, job_id, source, format, "FAILED", started_at, error=str(exc))
        raise
    report.job_id = job_id
    _log_job(project, job_id, source, report.format, "COMPLETED", started_at, report=report)
    return report


def _run_import(
    project: Project,
    source: str | os.PathLike[str],
    format: str | None,
    rejects: str | os.PathLike[str] | None,
    progress: bool,
    stamp: pd.Timestamp,
) -> ImportReport:
    import time

    from tqdm.auto import tqdm

    started = time.perf_counter()
    if format is not None:
        format = _format_name(format)
    client = readers.s3_client() if readers.is_s3(source) else None
    names = readers.list_sources(source, client)
    files = [readers.load(name, client) for name in names]
    formats = {f.name: readers.detect_format(f) for f in files}
    skipped: list[str] = []
    if format is None:
        found = sorted(set(formats.values()))
        if len(found) > 1:
            listing = ", ".join(f"{Path(n).name} ({f})" for n, f in formats.items())
            raise ImportFileError(
                str(source),
                f"mixes formats: {listing}; an import reads one format, pass format='csv' or "
                "format='ndjson' to import only those files",
            )
        format = found[0]
    elif len(files) > 1:
        skipped = [f.name for f in files if formats[f.name] != format]
        files = [f for f in files if formats[f.name] == format]
        if not files:
            raise ImportFileError(str(source), f"no {format} files here")
    bar = tqdm(total=len(files) * 2 + 2, desc="import endpoints", unit="step", disable=not progress)
    try:
        raw_files = []
        kept = [f.name for f in files]
        while files:  # parse each file, then let its bytes go
            f = files.pop(0)
            bar.set_postfix_str(Path(f.name).name)
            raw_files.append(readers.read_csv(f) if format == "csv" else readers.read_ndjson(f))
            del f
            bar.update()
        with project.store.lock(_LOCK):
            existing = read_table(project)
            existing = plain(existing) if existing is not None else None
            report, result, reject_rows = _import(raw_files, existing, stamp, format, bar)
            bar.set_postfix_str("writing")
            if result is not None:
                _write_table(project, result)
            bar.update()
    finally:
        bar.close()
    report.files = kept
    report.skipped_files = skipped
    if reject_rows:
        report.rejects_path = _write_rejects(project, source, rejects, reject_rows, stamp)
    report.seconds = time.perf_counter() - started
    return report


def _log_job(
    project: Project,
    job_id: str,
    source: str | os.PathLike[str],
    format: str | None,
    status: str,
    started_at: str,
    *,
    report: ImportReport | None = None,
    error: str | None = None,
) -> None:
    """Record the import in ``endpoint_imports`` (migration 0002); never fails the import."""
    import sqlite3
    import warnings
    from importlib import resources

    r = report
    values = (
        job_id, str(source), format, status, started_at, pd.Timestamp.now(tz="UTC").isoformat(),
        len(r.files) if r else None, r.read if r else None, r.imported if r else None,
        r.created if r else None, r.updated if r else None, r.deactivated if r else None,
        r.rejected if r else None, r.rejects_path if r else None, error,
    )  # fmt: skip
    try:
        with project.store.transaction() as conn:
            ddl = resources.files("engagekit.migrations").joinpath("0002_endpoints.sql")
            lines = ddl.read_text(encoding="utf-8").splitlines()
            sql = "\n".join(ln for ln in lines if not ln.strip().startswith("--"))
            for statement in sql.split(";"):  # the table may predate this project's migrations
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO endpoint_imports (job_id, source, format, status, started_at, "
                "finished_at, files, read_rows, imported, created, updated, deactivated, "
                f"rejected, rejects_path, error) VALUES ({', '.join('?' * len(values))})",
                values,
            )
    except sqlite3.Error as exc:  # the data is in; a busy log must not undo that
        warnings.warn(f"import {job_id} was not logged: {exc}", RuntimeWarning, stacklevel=3)


def import_jobs(project: Project) -> pd.DataFrame:
    """Every endpoint import of the project, newest first (Pinpoint's GetImportJobs)."""
    conn = project.store.connect()
    has = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='endpoint_imports'"
    ).fetchone()
    columns = [
        "job_id", "source", "format", "status", "started_at", "finished_at", "files",
        "read_rows", "imported", "created", "updated", "deactivated", "rejected",
        "rejects_path", "error",
    ]  # fmt: skip
    if not has:
        return pd.DataFrame(columns=columns)
    rows = conn.execute(
        f"SELECT {', '.join(columns)} FROM endpoint_imports ORDER BY started_at DESC, job_id DESC"
    ).fetchall()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def _format_name(format: str) -> str:
    value = format.lower()
    value = {"json": "ndjson", "jsonl": "ndjson"}.get(value, value)
    if value not in readers.FORMATS:
        raise ImportFileError("(format)", f"format must be 'csv' or 'ndjson', not {format!r}")
    return value


def _utc(now: datetime | str | None) -> pd.Timestamp:
    stamp = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass
class _Reject:
    file: str
    line: int
    field: str
    reason: str
    raw: str


def _import(
    raw_files: list[readers.RawFile],
    existing: pa.Table | None,
    now: pd.Timestamp,
    fmt: str,
    bar: Any,
) -> tuple[ImportReport, pa.Table | None, list[_Reject]]:
    report = ImportReport(files=[], format=fmt)
    rejected: list[_Reject] = []
    context = _context(existing)
    parts: list[pa.Table] = []
    formats: list[str] = []
    for file_no, rf in enumerate(raw_files):
        bar.set_postfix_str(f"validating {Path(rf.name).name}")
        report.read += rf.table.num_rows + len(rf.rejects)
        for r in rf.rejects:
            rejected.append(_Reject(rf.name, r.line, r.field, r.reason, r.raw))
        checked = validate(rf.table, context)
        bad = checked.problems.any()
        if bad.any():
            rejected += _reject_rows(rf, checked.problems.table())
        good = checked.table.filter(pa.array(~bad)) if bad.any() else checked.table
        n_good = good.num_rows
        good = good.append_column("__file", pa.array(np.full(n_good, file_no, np.int32)))
        good = good.append_column(
            "__raw", pa.array(np.flatnonzero(~bad).astype(np.int64), pa.int64())
        )
        parts.append(good)
        formats.append(rf.format)
        rf.table = None  # type: ignore[assignment]  # free the raw text before merging
        bar.update()
    bar.set_postfix_str("merging")
    incoming = pa.concat_tables(parts, promote_options="default") if parts else pa.table({"Id": []})
    incoming = plain(incoming)
    result, late_rejects, stats = merge_snapshot(existing, incoming, now)
    for idx, reason, fld in late_rejects:
        file_no = incoming.column("__file")[idx].as_py()
        rf = raw_files[file_no]
        rejected.append(
            _Reject(
                rf.name,
                int(incoming.column("__line")[idx].as_py()),
                fld,
                reason,
                record_text(incoming, idx, formats[file_no]),
            )
        )
    report.rejected = len(rejected)
    report.imported = report.read - report.rejected
    report.created, report.updated, report.deactivated = stats
    bar.update()
    rejected.sort(key=lambda r: (r.file, r.line))
    return report, result, rejected


def _context(existing: pa.Table | None) -> Context:
    if existing is None or existing.num_rows == 0:
        return Context.empty()

    def col(name: str) -> pa.Array:
        if name in existing.column_names:
            return existing.column(name).combine_chunks().cast(pa.string())
        return pa.nulls(existing.num_rows, pa.string())

    return Context(col("Id"), col("ChannelType"), col("Location.Country"))


def _reject_rows(rf: readers.RawFile, problems: pd.DataFrame) -> list[_Reject]:
    out = []
    lines = rf.table.column("__line").to_numpy()
    for row, grp in problems.groupby("row", sort=True):
        fields = list(dict.fromkeys(grp["field"]))
        reason = "; ".join(
            f"{f}: {r}" if len(fields) > 1 else str(r)
            for f, r in zip(grp["field"], grp["reason"], strict=True)
        )
        out.append(
            _Reject(
                rf.name,
                int(lines[int(row)]),
                ", ".join(fields),
                reason,
                raw_record(rf.table, int(row), rf.format),
            )
        )
    return out


# -- rejects -----------------------------------------------------------------------------------
REJECT_COLUMNS = ("file", "line", "field", "reason", "raw")


def _write_rejects(
    project: Project,
    source: str | os.PathLike[str],
    target: str | os.PathLike[str] | None,
    rows: list[_Reject],
    now: pd.Timestamp,
) -> str:
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(REJECT_COLUMNS)
    for r in rows:
        writer.writerow([r.file, r.line, r.field, r.reason, r.raw])
    data = buf.getvalue().encode("utf-8")
    if target is None:
        target = _default_rejects(project, source, now)
    text = str(target)
    if readers.is_s3(text):
        bucket, key = readers.split_s3(text)
        readers.s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return text
    path = Path(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return str(path)


def _default_rejects(project: Project, source: str | os.PathLike[str], now: pd.Timestamp) -> Path:
    """Beside a local input (``x.csv`` -> ``x.rejects.csv``); in the project for S3 inputs or an
    input folder that cannot be written."""
    text = str(source)
    if not readers.is_s3(text):
        path = Path(text)
        base = path.with_name(
            (path.stem if path.is_file() else path.name.rstrip("/")) + ".rejects.csv"
        )
        if os.access(base.parent, os.W_OK):
            return base
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return project.path / "rejects" / f"{now.strftime('%Y%m%dT%H%M%S')}-{digest}.rejects.csv"


def read_rejects(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A rejects file as a frame (file, line, field, reason, raw)."""
    return pd.read_csv(path, dtype={"line": "int64"}, keep_default_na=False)


# -- delete ------------------------------------------------------------------------------------
def delete_user(project: Project, user_id: str) -> int:
    """Delete every endpoint of a user (and its events, when the events store offers it);
    returns how many endpoints were removed. Pinpoint's data-deletion promise."""
    removed = 0
    with project.store.lock(_LOCK):
        table = read_table(project)
        if table is not None and "User.UserId" in table.column_names:
            users = table.column("User.UserId").cast(pa.string())
            mine = np_bool(pc.equal(users, user_id))
            removed = int(mine.sum())
            if removed:
                _write_table(project, plain(table).filter(pa.array(~mine)))
    try:
        from engagekit import events as _events
    except ImportError:  # an install without the events area
        return removed
    hook = getattr(_events, "delete_user_events", None)
    if callable(hook):
        hook(project, user_id)
    return removed
