"""The SQL dialect layer: one query text, rendered for DuckDB or Spark SQL.

Queries are plain ``WITH … SELECT`` over three views (``events``, ``endpoints``, ``plans``),
with literals inlined (no bind parameters) and only constructs both engines share: CTEs,
``GROUP BY``, window functions, ``CASE``, ``count(DISTINCT …)``, ``COALESCE``, map element
access ``attributes['k']``. The few functions the engines spell differently go through
:class:`Dialect` (day differences, date arithmetic, local time, weekday, quoting, unnesting
lists). Both must run with the session time zone UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pandas as pd

DialectName = Literal["duckdb", "spark"]


@dataclass(frozen=True)
class Dialect:
    """Spelling of the few functions DuckDB and Spark SQL disagree on."""

    name: DialectName = "duckdb"

    def q(self, ident: str) -> str:
        """Quote an identifier (endpoint columns have dots: ``"Demographic.Timezone"``)."""
        if self.name == "spark":
            return "`" + ident.replace("`", "``") + "`"
        return '"' + ident.replace('"', '""') + '"'

    def key(self, expr: str) -> str:
        """A 64-bit hash of a string key: grouping and joining on it is much cheaper than on
        the string (a collision among a few million users has probability ~1e-7)."""
        return f"xxhash64({expr})" if self.name == "spark" else f"hash({expr})"

    def day(self, ts: str) -> str:
        return f"CAST({ts} AS DATE)"

    def days_between(self, a: str, b: str) -> str:
        """Whole days from date ``a`` to date ``b`` (``b - a``)."""
        if self.name == "spark":
            return f"datediff({b}, {a})"
        return f"date_diff('day', {a}, {b})"

    def add_days(self, d: str, n: int | str) -> str:
        """A date ``n`` days after date ``d``."""
        if self.name == "spark":
            return f"date_add({d}, {n})"
        return f"CAST({d} + INTERVAL ({n}) DAY AS DATE)"

    def add_seconds(self, ts: str, seconds: float) -> str:
        s = math.ceil(seconds)
        if self.name == "spark":
            return f"({ts} + make_interval(0, 0, 0, 0, 0, 0, {s}))"
        return f"({ts} + INTERVAL ({s}) SECOND)"

    def local(self, ts: str, tz: str) -> str:
        """A UTC timestamp as wall-clock time in the IANA zone held by ``tz``."""
        if self.name == "spark":
            return f"from_utc_timestamp({ts}, {tz})"
        return f"timezone({tz}, {ts})"

    def isodow(self, ts: str) -> str:
        """ISO weekday, Monday = 1 … Sunday = 7."""
        if self.name == "spark":
            return f"(weekday({ts}) + 1)"
        return f"isodow({ts})"

    def hour(self, ts: str) -> str:
        return f"hour({ts})"

    def arg_min(self, value: str, key: str) -> str:
        """``value`` of the row with the smallest ``key`` in the group."""
        return f"min_by({value}, {key})" if self.name == "spark" else f"arg_min({value}, {key})"

    def unnest(self, expr: str) -> str:
        """One row per list element, in a SELECT list."""
        return f"explode({expr})" if self.name == "spark" else f"unnest({expr})"

    def ts(self, value: Any) -> str:
        """A UTC timestamp literal."""
        t = pd.Timestamp(value)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        return f"TIMESTAMP '{t.strftime('%Y-%m-%d %H:%M:%S.%f')}'"

    def date(self, value: Any) -> str:
        return f"DATE '{pd.Timestamp(value).strftime('%Y-%m-%d')}'"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")


def dialect(name: DialectName | Dialect) -> Dialect:
    if isinstance(name, Dialect):
        return name
    if name not in ("duckdb", "spark"):
        raise ValueError(f"unknown SQL dialect {name!r}; use 'duckdb' or 'spark'")
    return Dialect(name)


def lit(value: Any) -> str:
    """A SQL literal for a string, number or boolean (both dialects)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"cannot use {value} in SQL")
        return repr(value)
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return DUCKDB.ts(value)
    return "'" + str(value).replace("'", "''") + "'"


def in_list(expr: str, values: Iterable[Any]) -> str:
    vals = list(values)
    if not vals:
        return "false"
    return f"{expr} IN ({', '.join(lit(v) for v in vals)})"


def seconds(window: Any) -> float:
    """A conversion window as seconds: a number of seconds, a timedelta, or '7D', '2h', ..."""
    if isinstance(window, (int, float)):
        return float(window)
    if isinstance(window, timedelta):
        return window.total_seconds()
    return pd.Timedelta(window).total_seconds()


# promoted keys: a filter on attributes['campaign_id'] reads the flat column
_PROMOTED = {
    "campaign_id": "campaign_id",
    "campaign_activity_id": "campaign_activity_id",
    "treatment_id": "treatment_id",
    "journey_id": "journey_id",
    "journey_activity_id": "journey_activity_id",
    "run_id": "run_id",
    "message_id": "message_id",
    "_product_id": "product_id",
    "_currency": "currency",
    "product_id": "product_id",
    "currency": "currency",
}
_PROMOTED_METRICS = {
    "_quantity": "quantity",
    "_item_price": "item_price",
    "quantity": "quantity",
    "item_price": "item_price",
}


def attribute_expr(key: str, alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    if key in _PROMOTED:
        return f"{p}{_PROMOTED[key]}"
    return f"{p}attributes[{lit(key)}]"


def metric_expr(key: str, alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    if key in _PROMOTED_METRICS:
        return f"{p}{_PROMOTED_METRICS[key]}"
    return f"{p}metrics[{lit(key)}]"


_OPS = {"==": "=", "=": "=", "!=": "<>", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def filters_sql(
    attributes: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    alias: str = "",
) -> list[str]:
    """SQL conditions for attribute filters (value or list of values) and metric filters.

    A metric filter is a number (equality), ``(op, number)`` such as ``(">=", 10)``, or a
    ``(low, high)`` range given as ``("between", low, high)``.
    """
    out: list[str] = []
    for key, value in (attributes or {}).items():
        expr = attribute_expr(key, alias)
        if isinstance(value, (list, tuple, set, frozenset)):
            out.append(in_list(expr, [str(v) for v in value]))
        elif value is None:
            out.append(f"{expr} IS NULL")
        else:
            out.append(f"{expr} = {lit(str(value))}")
    for key, cond in (metrics or {}).items():
        expr = metric_expr(key, alias)
        if isinstance(cond, (int, float)):
            out.append(f"{expr} = {lit(float(cond))}")
        elif isinstance(cond, (tuple, list)) and len(cond) == 3 and cond[0] == "between":
            out.append(f"{expr} BETWEEN {lit(float(cond[1]))} AND {lit(float(cond[2]))}")
        elif isinstance(cond, (tuple, list)) and len(cond) == 2 and cond[0] in _OPS:
            out.append(f"{expr} {_OPS[cond[0]]} {lit(float(cond[1]))}")
        else:
            raise ValueError(
                f"metric filter {key!r}: expected a number, (op, number) with op in "
                f"{', '.join(_OPS)}, or ('between', low, high); got {cond!r}"
            )
    return out
