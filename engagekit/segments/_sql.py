"""Compile a segment to SQL for DuckDB over the endpoint Parquet, with the pandas semantics.

Every criterion compiles to a predicate that is never NULL (``COALESCE(..., FALSE)``), so NOT,
NONE and EXCLUSIVE treat missing values exactly as the pandas engine does. Lists use DuckDB's
list functions; dates in attributes are read with the same pattern as the pandas path.

    >>> from engagekit.segments import segment, to_sql, where_sql
    >>> germany = segment("de").country("DE").build()
    >>> to_sql(germany, "read_parquet('endpoints.parquet')").split(" WHERE ")[0]
    "SELECT e.* FROM read_parquet('endpoints.parquet') AS e"
    >>> print(where_sql(germany))
    e."Location.Country" IN ('DE')
    >>> print(where_sql(segment("not-de").country("DE", exclude=True).build()))
    (NOT COALESCE(e."Location.Country" IN ('DE'), FALSE))
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from engagekit.segments._evaluate import (
    SESSION_START,
    SegmentLike,
    compile_segment,
    gps_box,
    gps_threshold,
)
from engagekit.segments._model import DATE_PATTERN
from engagekit.segments._plan import (
    ActiveSince,
    And,
    Const,
    GpsWithin,
    IdIn,
    ListMatch,
    MetricCmp,
    Named,
    Node,
    Not,
    Or,
    SetIn,
)

if TYPE_CHECKING:
    from engagekit.project import Project

DEG = math.pi / 180.0


def to_sql(
    segment: SegmentLike,
    table: str = "endpoints",
    *,
    select: str = "e.*",
    project: Project | None = None,
    now: Any = None,
    events: str | None = None,
    columns: Collection[str] | None = None,
) -> str:
    """A DuckDB ``SELECT`` of the segment's members from ``table`` (a table, view or
    ``read_parquet('...')``).

    ``events`` names a table of events (endpoint_id, event_type, event_timestamp) whose last
    ``_session.start`` drives Behavior.Recency; ``columns`` lists the columns ``table`` has, so
    criteria on absent columns compile to FALSE as in pandas; ``now`` anchors Recency.
    """
    node = compile_segment(segment, project=project, now=now)
    compiler = _SqlCompiler(set(columns) if columns is not None else None, events is not None)
    where = compiler.expr(node)
    join = ""
    if events is not None and compiler.uses_sessions:
        join = (
            " LEFT JOIN (SELECT CAST(endpoint_id AS VARCHAR) AS endpoint_id, "
            "max(event_timestamp) AS last_session "
            f"FROM {events} WHERE event_type = {_str(SESSION_START)} GROUP BY 1) AS s "
            'ON s.endpoint_id = CAST(e."Id" AS VARCHAR)'
        )
    return f"SELECT {select} FROM {table} AS e{join} WHERE {where}"


def where_sql(segment: SegmentLike, **kwargs: Any) -> str:
    """Only the WHERE predicate of :func:`to_sql` (endpoint columns qualified by ``e.``)."""
    return to_sql(segment, **kwargs).split(" WHERE ", 1)[1]


class _SqlCompiler:
    def __init__(self, columns: set[str] | None, sessions: bool) -> None:
        self.columns = columns
        self.sessions = sessions
        self.uses_sessions = False

    def has(self, column: str) -> bool:
        return self.columns is None or column in self.columns

    def expr(self, node: Node, negated: bool = False) -> str:
        """SQL for ``node``. Outside any NOT a NULL criterion already acts as FALSE in WHERE
        (AND / OR are monotone), so leaves stay bare and DuckDB can push them into the scan;
        under a NOT they are wrapped in ``COALESCE(..., FALSE)`` to keep pandas' answer."""
        if isinstance(node, Const):
            return "TRUE" if node.value else "FALSE"
        if isinstance(node, (And, Or)):
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self.expr(c, negated) for c in _by_cost(node.children)) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.expr(node.child, not negated)})"
        if isinstance(node, Named):
            return self.expr(node.child, negated)
        leaf = self.leaf(node)
        if leaf in ("TRUE", "FALSE") or not negated:
            return leaf
        return f"COALESCE({leaf}, FALSE)"

    def leaf(self, node: Node) -> str:
        if isinstance(node, SetIn):
            if not self.has(node.column):
                return "FALSE"
            values = ", ".join(_str(v) for v in node.values)
            return f"{_col(node.column)} IN ({values})"
        if isinstance(node, MetricCmp):
            if not self.has(node.column):
                return "FALSE"
            c = _col(node.column)
            if node.op == "between":
                assert node.value2 is not None
                return f"({c} >= {_num(node.value)} AND {c} <= {_num(node.value2)})"
            if node.op in (">", ">="):  # DuckDB orders NaN above every number; pandas never matches
                return f"({c} {node.op} {_num(node.value)} AND NOT isnan({c}))"
            return f"{c} {node.op} {_num(node.value)}"
        if isinstance(node, GpsWithin):
            if not (self.has("Location.Latitude") and self.has("Location.Longitude")):
                return "FALSE"
            # the same conservative box as pandas first (lets DuckDB skip rows cheaply)
            lat, lon = _col("Location.Latitude"), _col("Location.Longitude")
            band, span = gps_box(node.latitude, node.km)
            tests = [f"abs({lat} - {_num(node.latitude)}) <= {_num(band)}"]
            if span is not None:
                shifted = f"({lon} - {_num(node.longitude)} + 180.0)"
                wrapped = f"((({shifted} % 360.0) + 360.0) % 360.0)"
                tests.append(f"abs({wrapped} - 180.0) <= {_num(span)}")
            tests.append(f"{gps_a_sql(node)} <= {_num(gps_threshold(node.km))}")
            return "(" + " AND ".join(tests) + ")"
        if isinstance(node, ActiveSince):
            last = _col("EffectiveDate") if self.has("EffectiveDate") else "NULL"
            if self.sessions:
                self.uses_sessions = True
                last = f"COALESCE(s.last_session, {last})"
            return f"epoch_us({last}) >= {node.cutoff_us}"
        if isinstance(node, IdIn):
            if not self.has("Id") or not node.ids:
                return "FALSE"
            ids = ", ".join(_str(v) for v in node.ids)
            return f"{_col('Id')} IN ({ids})"
        if isinstance(node, ListMatch):
            if not self.has(node.column):
                return "FALSE"
            return self.list_expr(node)
        raise TypeError(f"unknown segment node {node!r}")

    def list_expr(self, node: ListMatch) -> str:
        col = _col(node.column)
        if node.op == "IN":
            values = ", ".join(_str(v) for v in node.values)
            test = f"x IN ({values})"  # faster in DuckDB than list_has_any
        elif node.op == "CONTAINS":
            test = " OR ".join(f"contains(x, {_str(v)})" for v in node.values)
        else:
            us = f"({date_us_sql('x')})"
            b = node.bounds
            test = {
                "BEFORE": f"{us} < {b[0]}",
                "AFTER": f"{us} > {b[0]}",
                "BETWEEN": f"{us} >= {b[0]} AND {us} <= {b[-1]}",
                "RANGE_EXCL": f"{us} >= {b[0]} AND {us} < {b[-1]}",
            }[node.op]
        # list_filter drops elements whose test is NULL (a NULL element, a value that is no date)
        return f"len(list_filter({col}, lambda x: {test})) > 0"


def date_us_sql(x: str) -> str:
    """SQL reading a string as epoch microseconds (UTC) the way the pandas path does, else NULL."""
    offset = r"(Z|[+-]\d{2}:\d{2})$"
    normalized = (
        f"CASE WHEN length({x}) = 10 THEN {x} || 'T00:00:00+00:00' "
        f"WHEN regexp_matches({x}, {_str(offset)}) THEN {x} ELSE {x} || '+00:00' END"
    )
    return (
        f"CASE WHEN regexp_full_match({x}, {_str(DATE_PATTERN)}) "
        f"THEN epoch_us(TRY_CAST(replace({normalized}, 'Z', '+00:00') AS TIMESTAMPTZ)) END"
    )


def gps_a_sql(node: GpsWithin) -> str:
    """Haversine's ``a``, term for term the formula of ``haversine_a`` (same threshold too)."""
    lat = f"CAST({_col('Location.Latitude')} AS DOUBLE)"
    lon = f"CAST({_col('Location.Longitude')} AS DOUBLE)"
    p2 = node.latitude * DEG
    l2 = node.longitude * DEG
    return (
        f"(pow(sin(({lat} * {_num(DEG)} - {_num(p2)}) / 2), 2) + cos({lat} * {_num(DEG)}) * "
        f"{_num(math.cos(p2))} * pow(sin(({lon} * {_num(DEG)} - {_num(l2)}) / 2), 2))"
    )


def _by_cost(children: tuple[Node, ...]) -> list[Node]:
    return sorted(children, key=lambda c: c.cost)


def _col(name: str) -> str:
    return 'e."' + name.replace('"', '""') + '"'


def _str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _num(value: float) -> str:
    text = repr(float(value))
    return text if "e" in text else f"{text}::DOUBLE"
