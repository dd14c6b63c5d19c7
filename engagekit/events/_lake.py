"""The event lake: append-only Parquet under ``store/events/YYYY/MM/DD/hh/`` (by event time, UTC).

One append writes one file per hour it touches (``part-<written>-<uuid>.parquet``, written to a
hidden temporary name and renamed, so readers never see half a file). Ingest is idempotent on
``event_id``: ids already in the touched hour partitions are skipped (an anti-join against just
those partitions, so the cost follows the batch, not the lake). Appends hold the store's
``events`` file lock, so two writers cannot both add the same id.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engagekit.events._schema import (
    ATTRIBUTES_TYPE,
    COLUMNS,
    FLOAT_COLUMNS,
    LAKE_SCHEMA,
    MAX_ATTRIBUTE_VALUE_LENGTH,
    MAX_ATTRIBUTES,
    MAX_EVENT_TYPE_LENGTH,
    MAX_KEY_LENGTH,
    MAX_METRICS,
    METRICS_TYPE,
    PROMOTED_ATTRIBUTES,
    PROMOTED_METRICS,
    STRING_COLUMNS,
    TIMESTAMP_COLUMNS,
    RowError,
    to_row,
)

if TYPE_CHECKING:
    from engagekit.project import Project

REJECTS_DIR = "events_rejects"
#: An append that leaves this many files in an hour partition merges them into one.
AUTO_COMPACT_FILES = 32
FUTURE_TOLERANCE = timedelta(days=1)
_HASH_KEYS = ("engagekit-evt-00", "engagekit-evt-01")
_ID_COLUMNS = (
    "event_type",
    "endpoint_id",
    "user_id",
    "client_id",
    "session_id",
    "campaign_id",
    "run_id",
    "treatment_id",
    "journey_id",
    "message_id",
    "product_id",
)

#: Reject reasons, with what they mean.
REJECT_REASONS = {
    "NOT_AN_OBJECT": "the line is not a JSON object",
    "BAD_JSON": "the line is not valid JSON",
    "MISSING_EVENT_TYPE": "event_type is missing or empty",
    "EVENT_TYPE_TOO_LONG": f"event_type is longer than {MAX_EVENT_TYPE_LENGTH} characters",
    "BAD_TIMESTAMP": "event_timestamp is missing or not Unix milliseconds / ISO 8601",
    "BAD_ARRIVAL_TIMESTAMP": "arrival_timestamp is not Unix milliseconds / ISO 8601",
    "FUTURE_TIMESTAMP": "event_timestamp is more than a day in the future",
    "MISSING_IDENTITY": "none of endpoint_id, user_id or client_id is set",
    "BAD_ATTRIBUTES": "attributes is not an object of strings",
    "BAD_METRICS": "metrics is not an object of numbers",
    "BAD_METRIC": "a metric value is not a finite number",
    "TOO_MANY_ATTRIBUTES": f"more than {MAX_ATTRIBUTES} attributes",
    "TOO_MANY_METRICS": f"more than {MAX_METRICS} metrics",
    "KEY_TOO_LONG": f"an attribute or metric name is longer than {MAX_KEY_LENGTH} characters",
    "VALUE_TOO_LONG": f"an attribute value is longer than {MAX_ATTRIBUTE_VALUE_LENGTH} characters",
    "USER_ERASED": "the user's events were deleted; older events of that user are refused",
}


@dataclass
class IngestReport:
    """What one append did. Rejected rows are in ``rejects_path`` (NDJSON, one per row)."""

    source: str
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    rejects_path: Path | None = None
    files: list[Path] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.source}: {self.received} received, {self.accepted} accepted, "
            f"{self.duplicates} duplicates, {self.rejected} rejected"
        )
        if self.reasons:
            text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(self.reasons.items())) + ")"
        if self.rejects_path:
            text += f"; rejects in {self.rejects_path}"
        return text

    def merge(self, other: IngestReport) -> IngestReport:
        """Add another report's counts into this one (for multi-file ingests)."""
        self.received += other.received
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v
        self.files += other.files
        self.partitions = sorted(set(self.partitions) | set(other.partitions))
        if other.rejects_path is not None:
            self.rejects_path = other.rejects_path
        return self


# -- preparing rows ----------------------------------------------------------------------------
@dataclass
class _Batch:
    frame: pd.DataFrame  # flat columns (subset of COLUMNS), dict attributes/metrics or Arrow maps
    reasons: list[tuple[str, str] | None]  # a pre-validation failure per row, or None
    originals: Sequence[Any] | None  # the records as given, for the rejects file
    positions: Sequence[int] | None = None  # line numbers for the rejects file


def _batch_from_records(records: Iterable[Any], positions: Sequence[int] | None = None) -> _Batch:
    rows: list[dict[str, Any]] = []
    reasons: list[tuple[str, str] | None] = []
    originals: list[Any] = []
    for record in records:
        originals.append(record)
        if isinstance(record, RowError):  # a parse failure handed in by a reader
            rows.append({})
            reasons.append((record.code, str(record)))
            continue
        try:
            rows.append(to_row(record))
            reasons.append(None)
        except RowError as exc:
            rows.append({})
            reasons.append((exc.code, str(exc)))
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    return _Batch(frame, reasons, originals, positions)


def _batch_from_frame(df: pd.DataFrame) -> _Batch:
    """A DataFrame with flat columns; ``attributes.<k>`` / ``metrics.<k>`` columns are folded in."""
    n = len(df)
    frame = df.reset_index(drop=True)
    attr_cols = [c for c in frame.columns if isinstance(c, str) and c.startswith("attributes.")]
    metric_cols = [c for c in frame.columns if isinstance(c, str) and c.startswith("metrics.")]
    reasons: list[tuple[str, str] | None] = [None] * n
    out = {
        c: frame[c] for c in frame.columns if c in COLUMNS and c not in ("attributes", "metrics")
    }
    for kind, cols, promoted in (
        ("attributes", attr_cols, PROMOTED_ATTRIBUTES),
        ("metrics", metric_cols, PROMOTED_METRICS),
    ):
        base = frame[kind] if kind in frame.columns else None
        if base is not None and isinstance(base.dtype, pd.ArrowDtype) and not cols:
            out[kind] = base  # already an Arrow map: vectorized all the way
            continue
        merged: list[dict[str, Any]] = []
        base_values = base.tolist() if base is not None else [None] * n
        extra_values = {c: frame[c].tolist() for c in cols}
        for i in range(n):
            d = base_values[i]
            if isinstance(d, str):
                try:
                    d = json.loads(d) if d.strip() else {}
                except ValueError:
                    d = None
                    reasons[i] = reasons[i] or (f"BAD_{kind.upper()}", f"{kind} is not JSON")
            elif d is not None and not isinstance(d, Mapping):
                try:
                    d = dict(d)  # Arrow map values come as lists of pairs
                except (TypeError, ValueError):
                    reasons[i] = reasons[i] or (f"BAD_{kind.upper()}", f"{kind} is not a mapping")
                    d = None
            d = dict(d or {})
            for c in cols:
                v = extra_values[c][i]
                if (
                    v is not None
                    and not (isinstance(v, float) and math.isnan(v))
                    and v is not pd.NA
                ):
                    d[c.split(".", 1)[1]] = v
            if kind == "metrics":
                clean: dict[str, Any] = {}
                for k, v in d.items():
                    try:
                        clean[str(k)] = float(v)
                    except (TypeError, ValueError):
                        reasons[i] = reasons[i] or ("BAD_METRIC", f"metric {k!r} is not a number")
                d = clean
            else:
                d = {str(k): str(v) for k, v in d.items() if v is not None}
            merged.append(d)
        # promote Pinpoint keys to their flat columns when the column is absent or empty
        for key, col in promoted.items():
            if not any(key in d for d in merged):
                continue
            values = [d.pop(key, None) for d in merged]
            if col in out:
                current = out[col].astype(object).where(out[col].notna(), None).tolist()
                values = [c if c is not None else v for c, v in zip(current, values, strict=True)]
            out[col] = pd.Series(values, dtype=object)
        out[kind] = pd.Series(merged, dtype=object)
    return _Batch(pd.DataFrame(out, index=pd.RangeIndex(n)), reasons, None)


def _to_timestamps(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """A column of ms / ISO strings / datetimes as datetime64[us, UTC], and a bad-value mask."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").astype("datetime64[us, UTC]"), np.zeros(len(s), bool)
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.dt.tz_localize("UTC").astype("datetime64[us, UTC]"), np.zeros(len(s), bool)
    present = s.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        num = s.astype("float64")
    else:
        num = pd.to_numeric(s, errors="coerce")
    result = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us, UTC]")
    numeric = num.notna().to_numpy()
    if numeric.any():
        ms = num[numeric].to_numpy(dtype="float64")
        ok = np.isfinite(ms) & (np.abs(ms) < 1e15)
        vals = np.where(ok, ms, 0).astype("int64") * 1000
        converted = pd.to_datetime(vals, unit="us", utc=True).astype("datetime64[us, UTC]")
        result.loc[numeric] = np.where(ok, converted, pd.NaT)
    rest = present & ~numeric
    if rest.any():
        text = s[rest].map(str)
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        result.loc[rest] = parsed.astype("datetime64[us, UTC]")
    bad = present & result.isna().to_numpy()
    return result, bad


def _string_array(s: pd.Series) -> pa.Array:
    if isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_string(s.dtype.pyarrow_dtype):
        return pa.array(s.array)
    if isinstance(s.dtype, pd.StringDtype):
        return pa.array(s.array, type=pa.string())
    if pd.api.types.is_float_dtype(s.dtype) and s.isna().all():
        return pa.nulls(len(s), pa.string())
    values = s.astype(object).where(s.notna(), None)
    return pa.array([None if v is None else str(v) for v in values.tolist()], type=pa.string())


def _map_array(s: pd.Series | None, n: int, typ: pa.DataType) -> pa.Array:
    if s is None:
        return pa.array([[]] * n, type=typ)
    if isinstance(s.dtype, pd.ArrowDtype):
        arr = _combine(s.array.__arrow_array__())
        return arr.cast(typ)
    values = [list(d.items()) if isinstance(d, Mapping) else [] for d in s.tolist()]
    return pa.array(values, type=typ)


def _combine(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def _map_checks(arr: pa.Array, max_items: int, check_values: bool) -> dict[str, np.ndarray]:
    offsets = np.asarray(arr.offsets)
    counts = np.diff(offsets)
    n = len(arr)
    out = {"count": counts > max_items}
    if len(arr.keys):
        parents = np.repeat(np.arange(n), counts)
        key_len = np.asarray(pc.utf8_length(arr.keys).fill_null(0))
        keys_bad = np.zeros(n, bool)
        keys_bad[parents[key_len > MAX_KEY_LENGTH]] = True
        out["key"] = keys_bad
        if check_values:
            val_len = np.asarray(pc.utf8_length(arr.items).fill_null(0))
            vals_bad = np.zeros(n, bool)
            vals_bad[parents[val_len > MAX_ATTRIBUTE_VALUE_LENGTH]] = True
            out["value"] = vals_bad
        else:
            items = np.asarray(arr.items.fill_null(np.nan), dtype="float64")
            vals_bad = np.zeros(n, bool)
            vals_bad[parents[~np.isfinite(items)]] = True
            out["value"] = vals_bad
    return out


def _validate(
    batch: _Batch, now: datetime, erased: Mapping[str, datetime]
) -> tuple[pa.Table, np.ndarray, list[tuple[str, str] | None]]:
    """Build the Arrow table of a batch and the reject reason of each row (None = valid)."""
    frame = batch.frame
    n = len(batch.reasons) if batch.reasons else len(frame)
    reasons: list[tuple[str, str] | None] = list(batch.reasons) if batch.reasons else [None] * n

    def col(name: str) -> pd.Series | None:
        return frame[name] if name in frame.columns else None

    def flag(mask: np.ndarray, code: str, message: str) -> None:
        for i in np.flatnonzero(mask).tolist():
            if reasons[i] is None:
                reasons[i] = (code, message)

    arrays: dict[str, pa.Array] = {}
    for name in TIMESTAMP_COLUMNS:
        s = col(name)
        if s is None:
            arrays[name] = pa.nulls(n, LAKE_SCHEMA.field(name).type)
            if name == "event_timestamp":
                flag(np.ones(n, bool), "BAD_TIMESTAMP", "event_timestamp is missing")
            continue
        ts, bad = _to_timestamps(s)
        if name == "event_timestamp":
            flag(
                bad | ts.isna().to_numpy(),
                "BAD_TIMESTAMP",
                "event_timestamp must be Unix milliseconds or ISO 8601",
            )
            limit = pd.Timestamp(now) + FUTURE_TOLERANCE
            flag(
                (ts > limit).fillna(False).to_numpy(dtype=bool),
                "FUTURE_TIMESTAMP",
                f"event_timestamp is after {limit.isoformat()}",
            )
        elif name == "arrival_timestamp":
            flag(bad, "BAD_ARRIVAL_TIMESTAMP", "arrival_timestamp must be Unix ms or ISO 8601")
            ts = ts.where(ts.notna(), pd.Timestamp(now).tz_convert("UTC"))
        arrays[name] = pa.array(ts.array, type=LAKE_SCHEMA.field(name).type)

    for name in STRING_COLUMNS:
        s = col(name)
        arrays[name] = pa.nulls(n, pa.string()) if s is None else _string_array(s)
    for name in FLOAT_COLUMNS:
        s = col(name)
        if s is None:
            arrays[name] = pa.nulls(n, pa.float64())
        else:
            num = pd.to_numeric(s, errors="coerce").astype("float64")
            flag((s.notna() & num.isna()).to_numpy(), "BAD_METRIC", f"{name} is not a number")
            arrays[name] = pa.array(num.to_numpy(), type=pa.float64(), from_pandas=True)
    extra = col("extra")
    arrays["extra"] = pa.nulls(n, pa.string()) if extra is None else _string_array(extra)
    attrs = _map_array(col("attributes"), n, ATTRIBUTES_TYPE)
    metrics = _map_array(col("metrics"), n, METRICS_TYPE)
    arrays["attributes"] = attrs
    arrays["metrics"] = metrics

    etype = arrays["event_type"]
    type_len = np.asarray(pc.utf8_length(etype).fill_null(0))
    flag(type_len == 0, "MISSING_EVENT_TYPE", "event_type is missing or empty")
    flag(
        type_len > MAX_EVENT_TYPE_LENGTH,
        "EVENT_TYPE_TOO_LONG",
        f"event_type is longer than {MAX_EVENT_TYPE_LENGTH} characters",
    )
    ident = np.zeros(n, bool)
    for name in ("endpoint_id", "user_id", "client_id"):
        ident |= np.asarray(pc.is_valid(arrays[name]))
    flag(~ident, "MISSING_IDENTITY", "an event needs endpoint_id, user_id or client_id")
    # an event of only a client id is that endpoint's event (Pinpoint's SDK events)
    arrays["endpoint_id"] = pc.coalesce(arrays["endpoint_id"], arrays["client_id"])
    a = _map_checks(attrs, MAX_ATTRIBUTES, True)
    m = _map_checks(metrics, MAX_METRICS, False)
    flag(a["count"], "TOO_MANY_ATTRIBUTES", f"more than {MAX_ATTRIBUTES} attributes")
    flag(m["count"], "TOO_MANY_METRICS", f"more than {MAX_METRICS} metrics")
    for checks in (a, m):
        if "key" in checks:
            flag(checks["key"], "KEY_TOO_LONG", f"a name is longer than {MAX_KEY_LENGTH}")
    if "value" in a:
        flag(
            a["value"],
            "VALUE_TOO_LONG",
            f"an attribute value is longer than {MAX_ATTRIBUTE_VALUE_LENGTH}",
        )
    if "value" in m:
        flag(m["value"], "BAD_METRIC", "a metric value is not a finite number")
    if erased:
        users = arrays["user_id"].to_pandas()
        cutoff = users.map(lambda u: erased.get(u) if u is not None else None)
        hit = cutoff.notna().to_numpy()
        if hit.any():
            ets = arrays["event_timestamp"].to_pandas()
            old = np.zeros(n, bool)
            idx = np.flatnonzero(hit)
            old[idx] = (
                ets.iloc[idx].to_numpy() <= pd.to_datetime(cutoff.iloc[idx], utc=True).to_numpy()
            )
            flag(old, "USER_ERASED", "the user's events were deleted; refusing older events")

    table = pa.table([arrays[c] for c in COLUMNS], schema=LAKE_SCHEMA)
    valid = np.array([r is None for r in reasons], dtype=bool)
    return table, valid, reasons


def _derive_ids(table: pa.Table) -> pa.Array:
    """Deterministic 128-bit ids (hex) for rows without an event_id, from their content."""
    ids = table.column("event_id").combine_chunks()
    missing = np.asarray(pc.is_null(ids))
    if not missing.any():
        return ids
    sub = table.filter(pa.array(missing))
    parts = {c: sub.column(c).to_pandas() for c in _ID_COLUMNS}
    parts["event_timestamp"] = pd.Series(
        sub.column("event_timestamp").cast(pa.int64()).to_numpy(zero_copy_only=False)
    )
    parts["attributes"] = pd.Series(
        [repr(sorted(v)) if v else "" for v in sub.column("attributes").to_pylist()]
    )
    parts["metrics"] = pd.Series(
        [repr(sorted(v)) if v else "" for v in sub.column("metrics").to_pylist()]
    )
    key_frame = pd.DataFrame(parts)
    h1 = pd.util.hash_pandas_object(key_frame, index=False, hash_key=_HASH_KEYS[0]).to_numpy()
    h2 = pd.util.hash_pandas_object(key_frame, index=False, hash_key=_HASH_KEYS[1]).to_numpy()
    derived = [f"{a:016x}{b:016x}" for a, b in zip(h1.tolist(), h2.tolist(), strict=True)]
    out = np.asarray(ids.to_pylist(), dtype=object)
    out[missing] = derived
    return pa.array(out.tolist(), type=pa.string())


# -- partitions --------------------------------------------------------------------------------
def partition_of(ts: datetime | pd.Timestamp) -> str:
    """The ``YYYY/MM/DD/hh`` partition an event time falls in (UTC)."""
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.strftime("%Y/%m/%d/%H")


def partition_start(partition: str) -> pd.Timestamp:
    return pd.Timestamp(datetime.strptime(partition, "%Y/%m/%d/%H").replace(tzinfo=UTC))


def list_partitions(events_dir: Path) -> list[str]:
    """Every ``YYYY/MM/DD/hh`` partition that holds at least one file, oldest first."""
    found: list[str] = []
    if not events_dir.exists():
        return found
    for y in sorted(_digit_dirs(events_dir)):
        for m in sorted(_digit_dirs(events_dir / y)):
            for d in sorted(_digit_dirs(events_dir / y / m)):
                for h in sorted(_digit_dirs(events_dir / y / m / d)):
                    if any(p.suffix == ".parquet" for p in (events_dir / y / m / d / h).iterdir()):
                        found.append(f"{y}/{m}/{d}/{h}")
    return found


def _digit_dirs(path: Path) -> Iterator[str]:
    with os.scandir(path) as it:
        for entry in it:
            if entry.is_dir() and entry.name.isdigit():
                yield entry.name


def partition_files(events_dir: Path, partition: str) -> list[Path]:
    folder = events_dir / partition
    if not folder.exists():
        return []
    return sorted(
        p for p in folder.iterdir() if p.suffix == ".parquet" and not p.name.startswith(".")
    )


def lake_files(events_dir: Path, start: Any = None, end: Any = None) -> list[Path]:
    """Files of the partitions overlapping ``[start, end)`` (all files when both are None)."""
    lo = partition_of(start) if start is not None else None
    hi_ts = pd.Timestamp(end) if end is not None else None
    files: list[Path] = []
    for part in list_partitions(events_dir):
        if lo is not None and part < lo:
            continue
        if hi_ts is not None:
            hi_ts = hi_ts.tz_localize("UTC") if hi_ts.tzinfo is None else hi_ts
            if partition_start(part) >= hi_ts:
                continue
        files.extend(partition_files(events_dir, part))
    return files


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 20)
    os.replace(tmp, path)
    return path


def _new_file_name(now: datetime) -> str:
    return f"part-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.parquet"


# -- the public face ---------------------------------------------------------------------------
def _erased_users(project: Project) -> dict[str, datetime]:
    rows = project.store.connect().execute(
        "SELECT user_id, MAX(deleted_at) FROM event_erasures GROUP BY user_id"
    )
    return {r[0]: datetime.fromisoformat(r[1]) for r in rows}


def append_events(
    project: Project,
    events: pd.DataFrame | pa.Table | Iterable[Mapping[str, Any]],
    *,
    source: str = "append",
    now: datetime | None = None,
    record: bool = True,
) -> IngestReport:
    """Validate and append events to the lake; idempotent on ``event_id``.

    ``events`` is a DataFrame of flat columns (see ``LAKE_SCHEMA``; ``attributes.<k>`` and
    ``metrics.<k>`` columns are folded into the maps), an Arrow table, or an iterable of dicts in
    Pinpoint's event JSON shape or flat. Events without ``event_id`` get one derived from their
    content, so appending the same rows twice adds nothing. Invalid rows are written with their
    reasons to ``store/events_rejects/`` and counted in the report, never dropped silently.

    >>> report = append_events(project, [{"event_type": "_session.start",  # doctest: +SKIP
    ...     "event_timestamp": 1700000000000, "endpoint_id": "ep-1", "user_id": "u-1"}])
    >>> report.accepted                                                    # doctest: +SKIP
    1
    """
    now = now or datetime.now(UTC)
    if isinstance(events, pa.Table):
        events = events.to_pandas(types_mapper=_arrow_types)
    if isinstance(events, pd.DataFrame):
        batch = _batch_from_frame(events)
        originals: Any = events
    else:
        batch = _batch_from_records(events)
        originals = batch.originals
    return _append_batch(project, batch, originals, source=source, now=now, record=record)


def put_events(
    project: Project, request: dict[str, Any], *, now: datetime | None = None
) -> IngestReport:
    """Ingest a Pinpoint ``PutEvents`` request body (``{"BatchItem": {...}}``); the event ids
    are the request's map keys, so sending the same request twice adds nothing."""
    from engagekit.events._schema import from_put_events

    return append_events(project, from_put_events(request), source="PutEvents", now=now)


def _arrow_types(t: pa.DataType) -> Any:
    if pa.types.is_map(t):
        return pd.ArrowDtype(t)
    return None


def _append_batch(
    project: Project,
    batch: _Batch,
    originals: Any,
    *,
    source: str,
    now: datetime,
    record: bool,
) -> IngestReport:
    store = project.store
    report = IngestReport(source=source)
    table, valid, reasons = _validate(batch, now, _erased_users(project))
    report.received = len(valid)
    if not valid.all():
        bad = np.flatnonzero(~valid)
        report.rejected = len(bad)
        report.reasons = dict(Counter(reasons[i][0] for i in bad))  # type: ignore[index]
        report.rejects_path = _write_rejects(project, source, bad, reasons, originals, batch, now)
        table = table.filter(pa.array(valid))
    if table.num_rows:
        table = table.set_column(0, "event_id", _derive_ids(table))
        # duplicates inside the batch: keep the first of each id
        ids = table.column("event_id").to_pandas()
        first = ~ids.duplicated().to_numpy()
        report.duplicates += int((~first).sum())
        table = table.filter(pa.array(first))
        table = table.sort_by("event_timestamp")
        hours = (
            table.column("event_timestamp").cast(pa.int64()).to_numpy(zero_copy_only=False)
            // 3_600_000_000
        )
        with store.lock("events"):
            bounds = np.flatnonzero(np.r_[True, hours[1:] != hours[:-1], True])
            for lo, hi in itertools.pairwise(bounds):
                part_table = table.slice(int(lo), int(hi - lo))
                part = partition_of(pd.Timestamp(int(hours[lo]) * 3600, unit="s", tz="UTC"))
                existing = partition_files(store.events_dir, part)
                if existing:
                    seen = pq.read_table(existing, columns=["event_id"]).column("event_id")
                    new = pc.invert(
                        pc.is_in(part_table.column("event_id"), value_set=seen.unique())
                    )
                    before = part_table.num_rows
                    part_table = part_table.filter(new)
                    report.duplicates += before - part_table.num_rows
                if part_table.num_rows == 0:
                    continue
                path = store.events_dir / part / _new_file_name(now)
                write_parquet_atomic(part_table, path)
                if len(existing) + 1 >= AUTO_COMPACT_FILES:
                    merged = _compact_partition(store, part)
                    path = merged[0] if merged is not None else path
                report.files.append(path)
                report.partitions.append(part)
                report.accepted += part_table.num_rows
    if record:
        _record_ingest(project, report, now)
    return report


def _write_rejects(
    project: Project,
    source: str,
    bad: np.ndarray,
    reasons: list[tuple[str, str] | None],
    originals: Any,
    batch: _Batch,
    now: datetime,
) -> Path:
    folder = project.store.root / REJECTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rejects-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.ndjson"
    with open(path, "w", encoding="utf-8") as fh:
        for i in bad.tolist():
            code, message = reasons[i]  # type: ignore[misc]
            if isinstance(originals, pd.DataFrame):
                original: Any = {
                    str(k): (None if _is_missing(v) else v)
                    for k, v in originals.iloc[i].to_dict().items()
                }
            elif originals is not None:
                original = originals[i]
                if isinstance(original, RowError):
                    original = getattr(original, "text", None)
            else:
                original = None
            line = batch.positions[i] if batch.positions is not None else None
            entry = {
                "source": source,
                "row": i,
                "line": line,
                "reason": code,
                "message": message,
                "record": original,
            }
            fh.write(json.dumps(entry, default=str, ensure_ascii=False) + "\n")
    return path


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def _record_ingest(project: Project, report: IngestReport, now: datetime) -> None:
    with project.store.transaction() as conn:
        conn.execute(
            "INSERT INTO event_ingests (source, received, accepted, duplicates, rejected, "
            "reasons, rejects_path, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                report.source,
                report.received,
                report.accepted,
                report.duplicates,
                report.rejected,
                json.dumps(report.reasons, sort_keys=True),
                str(report.rejects_path) if report.rejects_path else None,
                now.isoformat(),
            ),
        )


@dataclass
class CompactReport:
    partitions: int = 0
    files_before: int = 0
    files_after: int = 0
    rows: int = 0

    def __str__(self) -> str:
        return (
            f"compacted {self.partitions} partitions: {self.files_before} files -> "
            f"{self.files_after} ({self.rows} events)"
        )


def _compact_partition(store: Any, part: str) -> tuple[Path, int, int] | None:
    """Merge one partition's files (the caller holds the events lock); returns the new file,
    the number of files merged and rows, or None when there was nothing to merge."""
    files = partition_files(store.events_dir, part)
    if len(files) < 2:
        return None
    table = pq.read_table(files).sort_by("event_timestamp")
    out = store.events_dir / part / _new_file_name(datetime.now(UTC))
    write_parquet_atomic(table, out)
    rel_old = [str(f.relative_to(store.events_dir)) for f in files]
    rel_new = str(out.relative_to(store.events_dir))
    marks = ", ".join("?" * len(rel_old))
    with store.transaction() as tx:
        rows = tx.execute(
            f"SELECT destination, count(*) FROM event_stream_files WHERE file IN ({marks}) "
            "GROUP BY destination",
            rel_old,
        ).fetchall()
        for destination, n in rows:
            if n == len(rel_old):  # every merged file was sent: so is the merged one
                tx.execute(
                    "INSERT OR REPLACE INTO event_stream_files (destination, file, rows, "
                    "sent_at) VALUES (?, ?, ?, ?)",
                    (destination, rel_new, table.num_rows, datetime.now(UTC).isoformat()),
                )
        tx.execute(f"DELETE FROM event_stream_files WHERE file IN ({marks})", rel_old)
    for f in files:
        f.unlink()
    return out, len(files), table.num_rows


def compact(
    project: Project, *, partitions: Sequence[str] | None = None, min_files: int = 2
) -> CompactReport:
    """Merge the files of each hour partition into one (sorted by event time).

    Many small appends (delivery writes one file per batch and hour) leave many small files;
    queries open every file, so compacting keeps them fast (appends also compact a partition by
    themselves once it holds ``AUTO_COMPACT_FILES`` files). Stream exports that had sent every
    merged file count the new file as sent too, so nothing is sent twice.
    """
    store = project.store
    report = CompactReport()
    with store.lock("events"):
        for part in partitions if partitions is not None else list_partitions(store.events_dir):
            if len(partition_files(store.events_dir, part)) < max(min_files, 2):
                continue
            done = _compact_partition(store, part)
            if done is None:
                continue
            _, merged, rows = done
            report.partitions += 1
            report.files_before += merged
            report.files_after += 1
            report.rows += rows
    return report
