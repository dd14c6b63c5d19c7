"""Reading import files into raw Arrow tables: one row per record, dotted column names.

Sources are a local file, a local folder (every file under it) or ``s3://bucket/prefix`` (every
object under it, through boto3). Each file is CSV (a header of dotted names, RFC 4180 quoting,
UTF-8) or newline-delimited JSON (Pinpoint's nested endpoint objects). Clean files take
pyarrow's multi-threaded readers; a file with blank lines, malformed records or conflicting JSON
types is re-read by the standard library so that every bad record gets its exact line number.

Every raw table carries ``__line`` (the line a record starts on); records that cannot become a
row at all (wrong field count, malformed JSON) come back as :class:`RawReject`.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from engagekit.endpoints._rules import MAX_ATTRIBUTE_NAME_CHARS
from engagekit.endpoints._schema import (
    ATTRIBUTE_PREFIX,
    CORE_COLUMNS,
    METRIC_PREFIX,
    USER_ATTRIBUTE_PREFIX,
    USER_METRIC_PREFIX,
    is_list_column,
    is_metric_column,
)
from engagekit.errors import ImportFileError

Format = Literal["csv", "ndjson"]
FORMATS: tuple[str, ...] = ("csv", "ndjson")
_EXTENSIONS = {".csv": "csv", ".json": "ndjson", ".ndjson": "ndjson", ".jsonl": "ndjson"}
#: Fields Pinpoint's exports carry that an import ignores.
IGNORED_FIELDS = frozenset({"ApplicationId", "CohortId", "RequestId", "CreationDate_"})
_CHUNK = 1 << 24
REJECTS_SUFFIX = ".rejects.csv"
_PREFIXES = (ATTRIBUTE_PREFIX, USER_ATTRIBUTE_PREFIX, METRIC_PREFIX, USER_METRIC_PREFIX)


@dataclass
class SourceFile:
    """One input file: its display name and its bytes."""

    name: str
    buffer: pa.Buffer

    def head(self, n: int = 8192) -> bytes:
        return self.buffer[: min(n, self.buffer.size)].to_pybytes()


@dataclass
class RawReject:
    line: int
    field: str
    reason: str
    raw: str


@dataclass
class RawFile:
    name: str
    format: str
    table: pa.Table
    rejects: list[RawReject] = field(default_factory=list)
    fallback: bool = False


# -- sources -----------------------------------------------------------------------------------
def is_s3(source: str | os.PathLike[str]) -> bool:
    return str(source).startswith("s3://")


def split_s3(url: str) -> tuple[str, str]:
    rest = url[len("s3://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ImportFileError(url, "an S3 location needs a bucket: s3://bucket/prefix")
    return bucket, key


def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def list_sources(source: str | os.PathLike[str], client: Any = None) -> list[str]:
    """Every file a source names: itself, the files under a folder, the objects under a prefix."""
    text = str(source)
    if is_s3(text):
        bucket, prefix = split_s3(text)
        paginator = (client or s3_client()).get_paginator("list_objects_v2")
        keys = [
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
            if not obj["Key"].endswith(("/", REJECTS_SUFFIX))
        ]
        if not keys:
            raise ImportFileError(text, "no objects under this S3 prefix")
        return [f"s3://{bucket}/{k}" for k in sorted(keys)]
    path = Path(source)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and not p.name.startswith((".", "_"))  # hidden files, _SUCCESS markers
            and not p.name.endswith(REJECTS_SUFFIX)  # an earlier import's rejects
        )
        if not files:
            raise ImportFileError(path, "the folder holds no files to import")
        return [str(p) for p in files]
    if not path.exists():
        raise ImportFileError(path, "no such file or folder")
    return [str(path)]


def load(name: str, client: Any = None) -> SourceFile:
    """The bytes of one file (memory-mapped when local)."""
    if is_s3(name):
        bucket, key = split_s3(name)
        body = (client or s3_client()).get_object(Bucket=bucket, Key=key)["Body"].read()
        return SourceFile(name, pa.py_buffer(body))
    if os.path.getsize(name) == 0:
        return SourceFile(name, pa.py_buffer(b""))
    return SourceFile(name, pa.memory_map(name).read_buffer())


def detect_format(file: SourceFile) -> Format:
    """``csv`` or ``ndjson`` from the extension, else from the first non-blank character."""
    suffix = Path(file.name.split("?")[0]).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]  # type: ignore[return-value]
    return sniff_format(file)


def sniff_format(file: SourceFile) -> Format:
    head = file.head().lstrip(b"\xef\xbb\xbf").lstrip()
    return "ndjson" if head.startswith(b"{") else "csv"


# -- file-level checks -------------------------------------------------------------------------
@dataclass
class TextShape:
    bom: int  # bytes of a UTF-8 byte order mark
    newlines: int
    ends_with_newline: bool
    quoted_newlines: bool  # a newline inside double quotes (a multi-line CSV value)


def check_text(file: SourceFile, *, csv_quotes: bool = True) -> TextShape:
    """Refuse empty, binary and non-UTF-8 files, and measure the text. Scans with numpy and
    Arrow's UTF-8 validation, without copying the file."""
    buf = file.buffer
    head = file.head(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(file.name, "the file is UTF-16; save it as UTF-8 and import again")
    bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    if not file.head(1 << 16)[bom:].strip() and buf.size <= (1 << 16):
        raise ImportFileError(file.name, "the file is empty")
    newlines = 0
    quotes = 0  # quote characters seen so far: odd means inside a quoted value
    quoted_newlines = False
    data = np.frombuffer(buf, dtype=np.uint8) if buf.size else np.zeros(0, np.uint8)
    for start in range(bom, buf.size, _CHUNK):
        view = data[start : start + _CHUNK]  # no copy
        if not view.min():
            pos = start + int(np.argmin(view))
            raise ImportFileError(
                file.name,
                "binary content (a NUL byte): not a CSV or NDJSON text file",
                line=_line_at(buf, pos),
            )
        at_newline = np.flatnonzero(view == 10)
        newlines += len(at_newline)
        if csv_quotes and not quoted_newlines:
            at_quote = np.flatnonzero(view == 34)
            before = np.searchsorted(at_quote, at_newline) + quotes
            quoted_newlines = bool((before & 1).any())
            quotes += len(at_quote)
    if not _is_utf8(buf[bom:]):
        _explain_utf8(file, bom)
    ends_nl = buf.size > 0 and buf[buf.size - 1 : buf.size].to_pybytes() == b"\n"
    return TextShape(bom, newlines, ends_nl, quoted_newlines)


def _is_utf8(buf: pa.Buffer) -> bool:
    """Arrow's (SIMD) UTF-8 validation of a whole buffer, viewed as one binary value."""
    offsets = pa.py_buffer(np.array([0, buf.size], dtype=np.int64))
    value = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buf])
    try:
        value.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _explain_utf8(file: SourceFile, bom: int) -> None:
    """Find the first byte that is not UTF-8 and raise an error naming its line."""
    buf = file.buffer
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(bom, buf.size, _CHUNK):
        chunk = buf[start : min(start + _CHUNK, buf.size)].to_pybytes()
        try:
            decoder.decode(chunk, final=start + _CHUNK >= buf.size)
        except UnicodeDecodeError as exc:
            pos = max(start + exc.start - len(decoder.getstate()[0]), 0)
            byte = buf[pos : pos + 1].to_pybytes()
            raise ImportFileError(
                file.name,
                f"not UTF-8 (byte 0x{byte.hex()} at offset {pos}); "
                "save the file as UTF-8 and import again",
                line=_line_at(buf, pos),
            ) from None


def _line_at(buf: pa.Buffer, pos: int) -> int:
    return buf[:pos].to_pybytes().count(b"\n") + 1


def check_columns(file: str, names: list[str]) -> None:
    """The header must use Pinpoint's dotted names."""
    seen: set[str] = set()
    for name in names:
        if not name:
            raise ImportFileError(file, "the header has an empty column name", line=1)
        if name in seen:
            raise ImportFileError(file, f"the header names {name!r} twice", line=1)
        seen.add(name)
        problem = column_problem(name)
        if problem:
            raise ImportFileError(file, problem, line=1)
    if not seen & {"Id", "Address", "ChannelType"}:
        raise ImportFileError(
            file,
            "not an endpoint file: the header has none of Id, Address, ChannelType "
            f"(found {', '.join(names[:6])}{'…' if len(names) > 6 else ''})",
            line=1,
        )


def column_problem(name: str) -> str | None:
    """Why a dotted column name is not an endpoint field, or None."""
    if name in CORE_COLUMNS or name in IGNORED_FIELDS:
        return None
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            attr = name[len(prefix) :]
            if not attr:
                return f"column {name!r} needs a name after {prefix!r}"
            if len(attr) > MAX_ATTRIBUTE_NAME_CHARS:
                return f"column {name!r}: names are at most {MAX_ATTRIBUTE_NAME_CHARS} characters"
            return None
    known = [*CORE_COLUMNS, "Attributes.<name>", "Metrics.<name>", "User.UserAttributes.<name>"]
    close = difflib.get_close_matches(name, list(CORE_COLUMNS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown column {name!r}{hint}; endpoint columns are Pinpoint's dotted names: "
        + ", ".join(known)
    )


# -- CSV ---------------------------------------------------------------------------------------
def read_csv(file: SourceFile) -> RawFile:
    shape = check_text(file)
    bom, newlines, ends_nl = shape.bom, shape.newlines, shape.ends_with_newline
    if file.head(64)[bom:].lstrip().startswith(b"{"):
        raise ImportFileError(file.name, "the file holds JSON, not CSV; import it as ndjson")
    header, header_lines = _csv_header(file, bom)
    check_columns(file.name, header)
    body = file.buffer[bom:]
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "skip"

    table = None
    for typed in (True, False):  # numbers and dates parsed by pyarrow, unless some are not
        invalid.clear()
        try:
            table = pacsv.read_csv(
                pa.BufferReader(body),
                read_options=pacsv.ReadOptions(column_names=header, skip_rows=header_lines),
                parse_options=pacsv.ParseOptions(
                    # multi-line values cost pyarrow a third more time: only when present
                    newlines_in_values=shape.quoted_newlines,
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: _csv_type(name, typed) for name in header},
                    strings_can_be_null=True,
                    null_values=[""],  # only empty cells: "NA", "null", "NaN" are values
                    quoted_strings_can_be_null=True,
                ),
            )
            break
        except pa.ArrowInvalid:
            continue
    if table is None:  # not parseable by pyarrow: the standard library decides
        return _read_csv_python(file, bom, header)
    if invalid:
        return _read_csv_python(file, bom, header)
    n = table.num_rows
    expected = header_lines + n - (0 if ends_nl else 1)
    if n == 0 or newlines == expected:
        lines = np.arange(n, dtype=np.int64) + header_lines + 1
    else:
        embedded = np.zeros(n, dtype=np.int64)
        for col in table.columns:
            if not pa.types.is_string(col.type):
                continue
            embedded += np.nan_to_num(
                pc.count_substring(col, "\n").to_numpy(zero_copy_only=False).astype(float)
            ).astype(np.int64)
        if newlines != expected + int(embedded.sum()):  # blank lines: count them exactly
            return _read_csv_python(file, bom, header)
        lines = header_lines + 1 + np.arange(n) + np.concatenate([[0], np.cumsum(embedded)[:-1]])
    table = table.append_column("__line", pa.array(lines, pa.int64()))
    return RawFile(file.name, "csv", table)


def _csv_type(name: str, typed: bool) -> pa.DataType:
    """The type pyarrow reads a column as: numbers and dates typed on the first attempt (a
    value that does not parse makes pyarrow fail, and the all-text attempt follows)."""
    if typed and (is_metric_column(name) or name in ("Location.Latitude", "Location.Longitude")):
        return pa.float64()
    if typed and name in ("EffectiveDate", "CreationDate"):
        return pa.timestamp("us", tz="UTC")
    return pa.string()


def _csv_header(file: SourceFile, bom: int) -> tuple[list[str], int]:
    head = file.buffer[bom : min(file.buffer.size, bom + (1 << 20))].to_pybytes()
    text = head.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ImportFileError(file.name, f"no CSV header line ({exc})", line=1) from None
    return [h.strip() for h in header], max(reader.line_num, 1)


def _read_csv_python(file: SourceFile, bom: int, header: list[str]) -> RawFile:
    """Exact line numbers and per-record rejects, by the standard library's csv module."""
    text = file.buffer[bom:].to_pybytes().decode("utf-8")  # checked by check_text
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in header]
    lines: list[int] = []
    rejects: list[RawReject] = []
    start = 1
    try:
        next(reader)
        start = reader.line_num + 1
        for record in reader:
            line = start
            start = reader.line_num + 1
            if not record or (len(record) == 1 and not record[0].strip() and width > 1):
                continue  # a blank line is not a record
            if len(record) != width:
                rejects.append(
                    RawReject(
                        line,
                        "(record)",
                        f"expected {width} fields as in the header, found {len(record)}",
                        _csv_line(record),
                    )
                )
                continue
            lines.append(line)
            for i, value in enumerate(record):
                columns[i].append(value if value != "" else None)
    except csv.Error as exc:
        raise ImportFileError(file.name, f"not valid CSV: {exc}", line=start) from None
    arrays = [pa.array(col, pa.string()) for col in columns]
    table = pa.Table.from_arrays(arrays, names=header).append_column(
        "__line", pa.array(lines, pa.int64())
    )
    return RawFile(file.name, "csv", table, rejects, fallback=True)


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


# -- NDJSON ------------------------------------------------------------------------------------
def read_ndjson(file: SourceFile) -> RawFile:
    shape = check_text(file, csv_quotes=False)
    bom, newlines, ends_nl = shape.bom, shape.newlines, shape.ends_with_newline
    first = file.head(1 << 12)[bom:].lstrip()
    if not first.startswith(b"{"):
        raise ImportFileError(
            file.name,
            "not newline-delimited JSON: the first record is not a JSON object"
            + (" (it looks like CSV; import it as csv)" if b"," in first.split(b"\n")[0] else ""),
            line=1,
        )
    try:
        table = pajson.read_json(
            pa.BufferReader(file.buffer[bom:]),
            parse_options=pajson.ParseOptions(unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _read_ndjson_python(file, bom)
    n = table.num_rows
    if newlines != n - (0 if ends_nl else 1):
        return _read_ndjson_python(file, bom)
    table = _flatten(table)
    if table is None:
        return _read_ndjson_python(file, bom)
    table = table.append_column("__line", pa.array(np.arange(1, n + 1), pa.int64()))
    return RawFile(file.name, "ndjson", table)


def _flatten(table: pa.Table) -> pa.Table | None:
    """Nested structs to dotted columns; None when a shape needs the record-by-record path."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        if any(pa.types.is_struct(f.type) and not f.type.num_fields for f in table.schema):
            return None  # {} somewhere: let the record-by-record path judge each one
        table = table.flatten()
    for f in table.schema:
        if pa.types.is_null(f.type):
            continue
        if is_list_column(f.name):
            if pa.types.is_list(f.type) and pa.types.is_struct(f.type.value_type):
                return None
            continue
        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type):
            return None  # a list where Pinpoint has a scalar: reject record by record
    return table


def _read_ndjson_python(file: SourceFile, bom: int) -> RawFile:
    text = file.buffer[bom:].to_pybytes().decode("utf-8")  # checked by check_text
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    rejects: list[RawReject] = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith(("{", "[", '"')) and "," in stripped:
            raise ImportFileError(
                file.name,
                "mixes formats: this line looks like CSV inside a newline-delimited JSON file",
                line=number,
            )
        try:
            record = json.loads(stripped)
        except ValueError as exc:
            rejects.append(RawReject(number, "(record)", f"malformed JSON: {exc}", line))
            continue
        if not isinstance(record, dict):
            rejects.append(
                RawReject(
                    number,
                    "(record)",
                    f"expected a JSON object, found {type(record).__name__}",
                    line,
                )
            )
            continue
        flat: dict[str, Any] = {}
        problem = _flatten_record(record, "", flat)
        if problem:
            rejects.append(RawReject(number, problem[0], problem[1], line))
            continue
        rows.append(flat)
        lines.append(number)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    arrays = []
    for name in names:
        values = [row.get(name) for row in rows]
        if is_list_column(name):
            arrays.append(
                pa.array(
                    [
                        v if v is None else [_text(x) for x in (v if isinstance(v, list) else [v])]
                        for v in values
                    ],
                    pa.list_(pa.string()),
                )
            )
        else:
            arrays.append(pa.array([None if v is None else _text(v) for v in values], pa.string()))
    arrays.append(pa.array(lines, pa.int64()))
    table = pa.Table.from_arrays(arrays, names=[*names, "__line"])
    return RawFile(file.name, "ndjson", table, rejects, fallback=True)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _flatten_record(
    record: dict[str, Any], prefix: str, out: dict[str, Any]
) -> tuple[str, str] | None:
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if is_list_column(name + ".x") or name in {
                "Location",
                "Demographic",
                "User",
                "Metrics",
                "User.UserMetrics",
            }:
                problem = _flatten_record(value, name + ".", out)
                if problem:
                    return problem
                continue
            return name, "expected a string or number, found an object"
        if name in {"Location", "Demographic", "User", "Metrics", "Attributes"} or name in {
            "User.UserAttributes",
            "User.UserMetrics",
        }:
            if value is None:
                continue
            return name, f"expected an object, found {type(value).__name__}"
        if isinstance(value, list) and not is_list_column(name):
            return name, "expected a single value, found a list"
        if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
            return name, "expected a list of strings"
        out[name] = value
    return None


def iter_records(table: pa.Table) -> Iterator[dict[str, Any]]:
    yield from table.to_pylist()
