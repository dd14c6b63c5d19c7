"""Export endpoints to CSV or NDJSON, locally or to S3, in the formats the import reads back."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.endpoints import _readers as readers
from engagekit.endpoints._frame import frame_to_table
from engagekit.endpoints._rules import np_bool
from engagekit.endpoints._validate import _split
from engagekit.errors import EngagekitError

if TYPE_CHECKING:
    from engagekit.project import Project

_ALWAYS = ("Id", "ChannelType", "Address")


@dataclass(frozen=True)
class ExportReport:
    """Where an export went and how many endpoints it holds."""

    path: str
    format: str
    rows: int

    def __str__(self) -> str:
        return f"exported {self.rows:,} endpoints to {self.path} ({self.format})"


def export_endpoints(
    endpoints: pd.DataFrame | Project,
    dest: str | os.PathLike[str],
    format: str | None = None,
) -> ExportReport:
    """Write endpoints (a frame, any subset, or a project's snapshot) as Pinpoint CSV or NDJSON.

    ``dest`` is a local file or ``s3://bucket/key`` (a key ending in ``/`` gets
    ``endpoints.csv`` / ``endpoints.ndjson``). The format comes from ``format`` or the
    extension (default CSV). Columns with no value at all are left out. Importing the file
    gives back the same endpoints.

        >>> export_endpoints(df[df["ChannelType"] == "EMAIL"], "emails.csv")  # doctest: +SKIP
    """
    from engagekit.endpoints._store import read_endpoints

    df = endpoints if isinstance(endpoints, pd.DataFrame) else read_endpoints(endpoints)
    text = str(dest)
    fmt = _pick_format(text, format)
    if text.endswith("/"):
        text += "endpoints.csv" if fmt == "csv" else "endpoints.ndjson"
    table = _exportable(frame_to_table(df))
    data = _csv_bytes(table) if fmt == "csv" else _ndjson_bytes(table)
    if readers.is_s3(text):
        bucket, key = readers.split_s3(text)
        readers.s3_client().put_object(Bucket=bucket, Key=key, Body=data)
    else:
        path = Path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return ExportReport(text, fmt, table.num_rows)


def _pick_format(dest: str, format: str | None) -> str:
    if format is not None:
        value = {"json": "ndjson", "jsonl": "ndjson"}.get(format.lower(), format.lower())
        if value not in readers.FORMATS:
            raise EngagekitError(f"format must be 'csv' or 'ndjson', not {format!r}")
        return value
    suffix = Path(dest).suffix.lower()
    return {".json": "ndjson", ".ndjson": "ndjson", ".jsonl": "ndjson"}.get(suffix, "csv")


def _exportable(table: pa.Table) -> pa.Table:
    keep = [
        name
        for name in table.column_names
        if name in _ALWAYS or table.column(name).null_count < table.num_rows
    ]
    return table.select(keep)


def _iso(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """ISO 8601 UTC (``2026-11-01T09:30:00Z``); whole seconds are written without a fraction.

    Casting a zone-less timestamp to text is far faster than ``strftime``."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    naive = col.cast(pa.timestamp("us"))  # the same instants, read as UTC wall time
    text = pc.utf8_replace_slice(naive.cast(pa.string()), 10, 11, "T")  # ...HH:MM:SS.ffffff
    whole = pc.equal(pc.subsecond(naive), 0)
    text = pc.if_else(whole, pc.utf8_slice_codeunits(text, 0, 19), text)
    return pc.binary_join_element_wise(text, "Z", "")


def _csv_cell_lists(col: pa.Array) -> pa.Array:
    """``list<string>`` to CSV cells: a one-item list is its value, others a JSON array."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    lengths = pc.list_value_length(col)
    first = pc.list_element(pc.if_else(pc.greater(lengths, 0), col, None), 0)
    single = pc.and_(pc.equal(lengths, 1), pc.invert(pc.starts_with(first, "[")))
    return pc.if_else(pc.fill_null(single, False), first, _json_lists(col))


def _json_lists(col: pa.Array) -> pa.Array:
    """``list<string>`` to JSON array text, built in Arrow (strings with control characters,
    rare, go through the json module)."""
    flat = col.flatten()
    escaped = pc.replace_substring(pc.replace_substring(flat, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    offsets = col.offsets.to_numpy()
    rebuilt = pa.ListArray.from_arrays(
        pa.array(offsets - offsets[0], pa.int32()), quoted, mask=pc.invert(col.is_valid())
    )
    out = pc.binary_join_element_wise("[", pc.binary_join(rebuilt, ", "), "]", "")
    control = np_bool(pc.match_substring_regex(flat, r"[\x00-\x1f]"))
    if control.any():
        import json

        rows = np.unique(pc.list_parent_indices(col).to_numpy()[control])
        values = np.asarray(out.to_numpy(zero_copy_only=False), dtype=object)
        for row in rows.tolist():
            values[row] = json.dumps(col[row].as_py(), ensure_ascii=False)
        out = pa.array(values, pa.string())
    return out


def _csv_cells(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One column as RFC 4180 cells: quoted only when needed, nulls empty."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_list(col.type):
        col = _csv_cell_lists(col)
    elif pa.types.is_timestamp(col.type):
        col = _iso(col)
    elif not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    needs = pc.match_substring_regex(col, r'[",\r\n]')
    if pc.any(needs).as_py():
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
        col = pc.if_else(needs, quoted, col)
    return pc.fill_null(col, "")


def _json_cell(col: pa.Array | pa.ChunkedArray) -> object:
    """The first value of a column as JSON would carry it (timestamps as ISO 8601)."""
    if pa.types.is_timestamp(col.type):
        return _iso(col)[0].as_py()
    return col[0].as_py()


def _csv_bytes(table: pa.Table, *, header: bool = True) -> bytes:
    """The table as CSV: rows joined in Arrow, quoted only where RFC 4180 needs it."""
    cells = [_csv_cells(table.column(name)) for name in table.column_names]
    lines = pc.binary_join_element_wise(*cells, ",")
    lines = pc.binary_join_element_wise(lines, pa.scalar("\n", pa.string()), "")
    body = pc.binary_join(pa.array([lines], pa.list_(pa.string())), "")[0].as_py() or ""
    head = ""
    if header:
        names = _csv_cells(pa.array(table.column_names, pa.string())).to_pylist()
        head = ",".join(names) + "\n"
    return (head + body).encode("utf-8")


def _ndjson_bytes(table: pa.Table) -> bytes:
    """Pinpoint's nested endpoint objects, one per line (written by DuckDB)."""
    import duckdb

    tree: dict[str, object] = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if pa.types.is_timestamp(col.type):
            col = _iso(col)
        node = tree
        parts = _split(name)
        for part in parts[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[parts[-1]] = col
    nested = _struct(tree)
    flat = pa.Table.from_arrays(list(nested.flatten()), names=[f.name for f in nested.type])
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.ndjson"
        con = duckdb.connect()
        try:
            con.execute("SET enable_progress_bar = false")
            con.register("endpoints", flat)
            con.execute(f"COPY endpoints TO '{target}' (FORMAT JSON)")
        finally:
            con.close()
        return target.read_bytes()


def _struct(tree: dict[str, object]) -> pa.StructArray:
    arrays = []
    names = []
    for key, value in tree.items():
        arrays.append(_struct(value) if isinstance(value, dict) else value)
        names.append(key)
    return pa.StructArray.from_arrays(arrays, names=names)
