"""Validate one raw import table into typed columns plus per-row problems."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.endpoints import _rules as rules
from engagekit.endpoints._phones import to_e164
from engagekit.endpoints._readers import IGNORED_FIELDS, column_problem
from engagekit.endpoints._schema import (
    CHANNEL_TYPES,
    ENDPOINT_STATUSES,
    OPT_OUT_VALUES,
    is_list_column,
    is_metric_column,
)

_PHONE_CHANNELS = ("SMS", "VOICE")
_DATE_FIELDS = ("EffectiveDate", "CreationDate")
_ENUMS = {
    "ChannelType": CHANNEL_TYPES,
    "EndpointStatus": ENDPOINT_STATUSES,
    "OptOut": OPT_OUT_VALUES,
}


@dataclass
class Context:
    """What validation needs from the store: the current channel and country of each Id."""

    ids: pa.Array
    channels: pa.Array
    countries: pa.Array

    @classmethod
    def empty(cls) -> Context:
        empty = pa.array([], pa.string())
        return cls(empty, empty, empty)


@dataclass
class Validated:
    table: pa.Table  # typed columns of every row (bad values nulled), plus __line
    problems: rules.Problems


def validate(raw: pa.Table, context: Context) -> Validated:
    """Typed, normalized columns for every row of ``raw`` and the problems of each row.

    Columns are checked in parallel threads (Arrow's kernels release the GIL)."""
    n = raw.num_rows
    problems = rules.Problems(n)
    names = [c for c in raw.column_names if not c.startswith("__")]
    jobs: dict[str, pa.Array] = {}
    for name in names:
        col = raw.column(name).combine_chunks()
        if name in IGNORED_FIELDS or pa.types.is_null(col.type):
            continue
        if column_problem(name):
            problems.add(name, rules.np_bool(col.is_valid()), f"unknown field {name!r}")
            continue
        jobs[name] = col
    workers = min(len(jobs), os.cpu_count() or 1, 4)
    if workers > 1 and n >= 50_000:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {name: pool.submit(_field, name, col, problems) for name, col in jobs.items()}
            out = {name: future.result() for name, future in futures.items()}
    else:
        out = {name: _field(name, col, problems) for name, col in jobs.items()}
    ids = out.get("Id", pa.nulls(n, pa.string()))
    channel = out.get("ChannelType", pa.nulls(n, pa.string()))
    country = out.get("Location.Country", pa.nulls(n, pa.string()))
    if "Address" in out:
        if len(context.ids):
            pos = pc.index_in(ids, context.ids)
            channel = pc.coalesce(channel, context.channels.take(pos))
            country = pc.coalesce(country, context.countries.take(pos))
        out["Address"] = _addresses(out["Address"], channel, country, problems)
    position = {name: i for i, name in enumerate(names)}
    problems.by_field.sort(key=lambda item: position.get(item[0], len(position)))
    table = pa.table(out) if out else pa.table({"Id": pa.nulls(n, pa.string())})
    table = table.append_column("__line", raw.column("__line"))
    return Validated(table, problems)


def _field(name: str, col: pa.Array, problems: rules.Problems) -> pa.Array:
    if is_list_column(name):
        return rules.string_lists(name, col, problems)
    if is_metric_column(name):
        return rules.numbers(name, col, problems)
    if name in _ENUMS:
        return rules.enum_values(name, col, _ENUMS[name], problems)
    if name in _DATE_FIELDS:
        return rules.dates(name, col, problems)
    if name == "Location.Latitude":
        return rules.numbers(name, col, problems, low=-90, high=90)
    if name == "Location.Longitude":
        return rules.numbers(name, col, problems, low=-180, high=180)
    if name == "Location.Country":
        return rules.countries(name, col, problems)
    if name == "Demographic.Timezone":
        return rules.timezones(name, col, problems)
    if name == "Demographic.Locale":
        return rules.locales(name, col, problems)
    text = rules.as_string(col)
    limit = rules.MAX_ADDRESS_CHARS if name == "Address" else rules.MAX_TEXT_CHARS
    return rules.check_length(name, text, limit, problems)


def _addresses(
    address: pa.Array, channel: pa.Array, country: pa.Array, problems: rules.Problems
) -> pa.Array:
    """Email syntax for EMAIL, E.164 for SMS and VOICE; other channels keep their token."""
    n = len(address)
    present = rules.np_bool(address.is_valid())
    bad = np.zeros(n, dtype=bool)
    reasons = np.empty(n, dtype=object)
    is_email = rules.np_bool(pc.equal(channel, "EMAIL")) & present
    is_phone = rules.np_bool(pc.is_in(channel, pa.array(_PHONE_CHANNELS))) & present
    for mask, kind in ((is_email, "email"), (is_phone, "phone")):
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        subset = address.take(pa.array(idx))
        if kind == "email":
            clean, sub_bad, sub_reasons = rules.emails(subset)
        else:
            clean, sub_bad, sub_reasons = to_e164(subset, country.take(pa.array(idx)))
        if not pc.all(pc.equal(clean, subset).fill_null(True)).as_py() or sub_bad.any():
            positions = np.zeros(n, dtype=np.int64)
            positions[idx] = np.arange(len(idx))
            address = pc.if_else(pa.array(mask), clean.take(pa.array(positions)), address)
        bad[idx] = sub_bad
        reasons[idx] = sub_reasons
    problems.add("Address", bad, reasons)
    return address


def raw_record(raw: pa.Table, row: int, fmt: str) -> str:
    """A row of a raw table written back as its input format (for the rejects file)."""
    from engagekit.endpoints._readers import _csv_line

    record = {k: v for k, v in raw.slice(row, 1).to_pylist()[0].items() if not k.startswith("__")}
    if fmt == "csv":
        return _csv_line(["" if v is None else v for v in record.values()])
    return _json_dumps(nest(record))


def record_text(table: pa.Table, row: int, fmt: str) -> str:
    """A validated row written in its input format (for rejects decided after validation)."""
    from engagekit.endpoints._export import _csv_cells, _json_cell

    one = table.slice(row, 1)
    names = [n for n in one.column_names if not n.startswith("__")]
    if fmt == "csv":
        cells = [_csv_cells(one.column(n))[0].as_py() for n in names]
        return ",".join(cells)
    record = {n: _json_cell(one.column(n)) for n in names}
    return _json_dumps(nest(record))


def _json_dumps(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def nest(flat: dict[str, object]) -> dict[str, object]:
    """Dotted keys to Pinpoint's nested objects (nulls dropped)."""
    out: dict[str, object] = {}
    for key, value in flat.items():
        if value is None:
            continue
        parts = _split(key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[parts[-1]] = value
    return out


def _split(key: str) -> list[str]:
    for prefix in ("User.UserAttributes.", "User.UserMetrics."):
        if key.startswith(prefix):
            return [*prefix.rstrip(".").split("."), key[len(prefix) :]]
    for prefix in ("Attributes.", "Metrics.", "Location.", "Demographic.", "User."):
        if key.startswith(prefix):
            return [prefix.rstrip("."), key[len(prefix) :]]
    return [key]
