"""Reading the lake: ``read_events`` into pandas, ``lake`` for DuckDB SQL over Parquet.

``lake(project)`` returns a DuckDB connection (session time zone UTC) with these views:

``events``     every lake file (``store/events/*/*/*/*/*.parquet``), the columns of
               ``LAKE_SCHEMA``
``endpoints``  the endpoint snapshot ``store/endpoints.parquet`` (Pinpoint's dotted column names:
               quote them, ``"Demographic.Timezone"``)
``plans``      every saved campaign plan ``store/plans/*.parquet`` (one row per audience
               endpoint, holdout included)

A missing source gives an empty view with the right columns, so SQL never fails on a new
project. The same views in Spark: ``spark.read.parquet("store/events/*/*/*/*/")`` etc. and
``createOrReplaceTempView`` with the same names (see ``engagekit.analytics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa

from engagekit.endpoints import CORE_COLUMNS
from engagekit.events._lake import lake_files
from engagekit.events._schema import COLUMNS, LAKE_SCHEMA

if TYPE_CHECKING:
    from engagekit.project import Project

PLANS_DIR = "plans"
_PLAN_COLUMNS = {
    "run_id": "VARCHAR",
    "campaign": "VARCHAR",
    "campaign_version": "BIGINT",
    "treatment_id": "VARCHAR",
    "holdout": "BOOLEAN",
    "endpoint_id": "VARCHAR",
    "user_id": "VARCHAR",
    "channel_type": "VARCHAR",
    "address": "VARCHAR",
    "template": "VARCHAR",
    "template_version": "BIGINT",
    "due_at": "TIMESTAMPTZ",
    "timezone": "VARCHAR",
    "status": "VARCHAR",
    "reason": "VARCHAR",
    "step": "VARCHAR",
}


def duck_type(t: pa.DataType) -> str:
    """The DuckDB type name of an Arrow type used in the lake."""
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_map(t):
        return f"MAP(VARCHAR, {duck_type(t.item_type)})"
    return "VARCHAR"


def _quote(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _empty_select(columns: dict[str, str]) -> str:
    cols = ", ".join(f'CAST(NULL AS {typ}) AS "{name}"' for name, typ in columns.items())
    return f"SELECT {cols} WHERE false"


def events_source(project: Project, start: Any = None, end: Any = None) -> str:
    """A FROM-clause source for the lake (files pruned to ``[start, end)`` when given)."""
    events_dir = project.store.events_dir
    if start is None and end is None:
        if not _has_files(events_dir):
            return "(" + _empty_select({f.name: duck_type(f.type) for f in LAKE_SCHEMA}) + ")"
        glob = events_dir / "*" / "*" / "*" / "*" / "*.parquet"
        return f"read_parquet({_quote(glob)})"
    files = lake_files(events_dir, start, end)
    if not files:
        return "(" + _empty_select({f.name: duck_type(f.type) for f in LAKE_SCHEMA}) + ")"
    listing = ", ".join(_quote(f) for f in files)
    return f"read_parquet([{listing}])"


def _has_files(events_dir: Path) -> bool:
    return next(events_dir.glob("*/*/*/*/*.parquet"), None) is not None


def connect(
    *, threads: int | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up for the lake: UTC session time zone, no insertion order."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET parquet_metadata_cache = true")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_quote(memory_limit)}")
    return con


def lake(
    project: Project,
    *,
    start: Any = None,
    end: Any = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with ``events``, ``endpoints`` and ``plans`` views over the project.

    >>> con = lake(project)                                                # doctest: +SKIP
    >>> con.sql("SELECT event_type, count(*) FROM events GROUP BY 1").df()  # doctest: +SKIP
    """
    con = connect(threads=threads, memory_limit=memory_limit)
    con.execute(f"CREATE VIEW events AS SELECT * FROM {events_source(project, start, end)}")
    ep = project.store.endpoints_path
    if ep.exists():
        con.execute(f"CREATE VIEW endpoints AS SELECT * FROM read_parquet({_quote(ep)})")
    else:
        cols = {name: _endpoint_duck_type(dtype) for name, dtype in CORE_COLUMNS.items()}
        con.execute(f"CREATE VIEW endpoints AS {_empty_select(cols)}")
    plans = project.store.root / PLANS_DIR
    if plans.exists() and any(plans.glob("*.parquet")):
        glob = plans / "*.parquet"
        con.execute(
            f"CREATE VIEW plans AS SELECT * FROM read_parquet({_quote(glob)}, union_by_name = true)"
        )
    else:
        con.execute(f"CREATE VIEW plans AS {_empty_select(_PLAN_COLUMNS)}")
    return con


def _endpoint_duck_type(dtype: Any) -> str:
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "TIMESTAMPTZ"
    if str(dtype) == "float64":
        return "DOUBLE"
    return "VARCHAR"


def read_events(
    project: Project,
    *,
    start: Any = None,
    end: Any = None,
    event_types: Sequence[str] | str | None = None,
    columns: Sequence[str] | None = None,
    where: dict[str, Any] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Events in ``[start, end)`` as a DataFrame, oldest first.

    ``where`` filters flat columns by equality (a list value means "any of"); ``attributes``
    and ``metrics`` come back as dicts. Only the partitions in the time range are read.

    >>> read_events(project, event_types="_email.open", where={"run_id": "r1"})  # doctest: +SKIP
    """
    cols = list(columns) if columns else list(COLUMNS)
    unknown = [c for c in cols if c not in COLUMNS]
    if unknown:
        raise ValueError(f"unknown event columns {unknown}; known: {', '.join(COLUMNS)}")
    con = connect()
    clauses: list[str] = []
    params: list[Any] = []
    if start is not None:
        clauses.append("event_timestamp >= ?")
        params.append(_ts(start))
    if end is not None:
        clauses.append("event_timestamp < ?")
        params.append(_ts(end))
    if event_types is not None:
        types = [event_types] if isinstance(event_types, str) else list(event_types)
        clauses.append(f"event_type IN ({', '.join('?' * len(types))})")
        params.extend(types)
    for name, value in (where or {}).items():
        if name not in COLUMNS:
            raise ValueError(f"cannot filter on {name!r}; known columns: {', '.join(COLUMNS)}")
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        clauses.append(f'"{name}" IN ({", ".join("?" * len(values))})')
        params.extend(values)
    select = ", ".join(f'"{c}"' for c in cols)
    sql = f"SELECT {select} FROM {events_source(project, start, end)}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY event_timestamp, event_id" if "event_timestamp" in cols else ""
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    df = con.execute(sql, params).df()
    for c in df.columns:
        if c in ("attributes", "metrics"):
            df[c] = df[c].map(lambda v: dict(v) if isinstance(v, dict) else {})
        elif pd.api.types.is_datetime64_any_dtype(df[c].dtype):
            df[c] = df[c].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        elif df[c].dtype == object or isinstance(df[c].dtype, pd.StringDtype):
            df[c] = df[c].astype("string")
    return df


def _ts(value: Any) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
