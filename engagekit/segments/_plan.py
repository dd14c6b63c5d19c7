"""A segment compiled to a small boolean expression tree that both engines execute.

The pandas engine (``_evaluate``) and the SQL compiler (``_sql``) walk the same tree, so their
semantics cannot drift: every leaf is a total predicate (never NULL) with a cost used to order
the cheap, selective criteria first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engagekit.errors import DefinitionError
from engagekit.segments._model import (
    DURATION_SECONDS,
    AttributeDimension,
    MetricDimension,
    Segment,
    SegmentDimensions,
    SegmentGroup,
    SegmentReference,
    SetDimension,
)

# relative costs per row, used to order AND / OR children
COST_SET = 1.0
COST_METRIC = 1.0
COST_RECENCY = 1.5
COST_IDS = 4.0
COST_LIST = 20.0  # is_in over the flattened values
COST_CONTAINS = 30.0  # substring search over the flattened values
COST_LIST_DATE = 40.0  # regex + date parsing over the flattened values
COST_GPS = 15.0  # a latitude band prefilter, then haversine on the band


class Node:
    cost: float = 1.0


@dataclass(frozen=True)
class Const(Node):
    value: bool
    cost: float = 0.0


@dataclass(frozen=True)
class And(Node):
    children: tuple[Node, ...]

    @property
    def cost(self) -> float:  # type: ignore[override]
        return sum(c.cost for c in self.children)


@dataclass(frozen=True)
class Or(Node):
    children: tuple[Node, ...]

    @property
    def cost(self) -> float:  # type: ignore[override]
        return sum(c.cost for c in self.children)


@dataclass(frozen=True)
class Not(Node):
    child: Node

    @property
    def cost(self) -> float:  # type: ignore[override]
        return self.child.cost


@dataclass(frozen=True)
class Named(Node):
    """A base segment's criteria, kept under its name (for labels; engines look through it)."""

    name: str
    child: Node

    @property
    def cost(self) -> float:  # type: ignore[override]
        return self.child.cost


@dataclass(frozen=True)
class SetIn(Node):
    """``column`` (categorical or string) is one of ``values``; NULL is never in the set."""

    column: str
    values: tuple[str, ...]
    cost: float = COST_SET


@dataclass(frozen=True)
class ListMatch(Node):
    """Some element of the list ``column`` matches: op is IN, CONTAINS, BEFORE, AFTER, ON, BETWEEN.

    Date operands are microseconds since the epoch (UTC); ON carries [day start, next day).
    """

    column: str
    op: str
    values: tuple[str, ...] = ()
    bounds: tuple[int, ...] = ()
    cost: float = COST_LIST


@dataclass(frozen=True)
class MetricCmp(Node):
    """A float ``column`` compared with a number; NaN never matches."""

    column: str
    op: str  # > < >= <= = between
    value: float
    value2: float | None = None
    cost: float = COST_METRIC


@dataclass(frozen=True)
class GpsWithin(Node):
    latitude: float
    longitude: float
    km: float
    cost: float = COST_GPS


@dataclass(frozen=True)
class ActiveSince(Node):
    """The endpoint's last activity is at or after ``now - seconds`` (microsecond cutoff)."""

    cutoff_us: int
    cost: float = COST_RECENCY


@dataclass(frozen=True)
class IdIn(Node):
    """Members of an imported segment: ``Id`` is one of ``ids``."""

    ids: tuple[str, ...] = field(repr=False)
    cost: float = COST_IDS


EARTH_RADIUS_KM = 6371.0088
_OPS = {
    "GREATER_THAN": ">",
    "LESS_THAN": "<",
    "GREATER_THAN_OR_EQUAL": ">=",
    "LESS_THAN_OR_EQUAL": "<=",
    "EQUAL": "=",
}

Resolver = Callable[[SegmentReference, str], Segment]


@dataclass
class Compiler:
    """Compile segments to nodes; ``resolve`` fetches a base segment (path for errors)."""

    now_us: int
    resolve: Resolver | None = None
    _stack: list[tuple[str, int | None]] = field(default_factory=list)

    def segment(self, seg: Segment, path: str = "") -> Node:
        parts: list[Node] = []
        if seg.import_definition is not None:
            parts.append(IdIn(tuple(seg.import_definition.endpoint_ids)))
        if seg.dimensions is not None:
            parts.append(self.dimensions(seg.dimensions))
        if seg.segment_groups is not None and seg.segment_groups.groups:
            groups = [
                self.group(g, f"{path}SegmentGroups.Groups.{i}")
                for i, g in enumerate(seg.segment_groups.groups)
            ]
            parts.append(combine(seg.segment_groups.include, groups))
        return and_(parts)

    def group(self, group: SegmentGroup, path: str) -> Node:
        parts: list[Node] = []
        if group.source_segments:
            sources = [
                self.reference(ref, f"{path}.SourceSegments.{i}")
                for i, ref in enumerate(group.source_segments)
            ]
            parts.append(combine(group.source_type, sources))
        if group.dimensions:
            parts.append(combine(group.type, [self.dimensions(d) for d in group.dimensions]))
        return and_(parts)

    def reference(self, ref: SegmentReference, path: str) -> Node:
        if self.resolve is None:
            raise DefinitionError(
                f"base segment {ref.id!r} needs a project to resolve it; "
                "pass project=... (segments are looked up by name)",
                path=f"{path}.Id",
                kind="segment",
            )
        key = f"{ref.id}@{ref.version}" if ref.version else ref.id
        # the stack holds (name, version or None for "the active one") being compiled: the same
        # entry twice is a cycle; a pinned older version of a segment on the stack is not
        entry = (ref.id, ref.version)
        if entry in self._stack:
            names = [name for name, _ in self._stack[self._stack.index(entry) :]]
            error = DefinitionError(
                f"segments include each other in a cycle: {' -> '.join([*names, ref.id])}; "
                "remove one of the references",
                path=f"{path}.Id",
                kind="segment",
            )
            error.cycle = True  # type: ignore[attr-defined]
            raise error
        base = self.resolve(ref, path)
        self._stack.append(entry)
        try:
            inner = self.segment(base)
            return inner if isinstance(inner, Const) else Named(key, inner)
        except DefinitionError as exc:
            if getattr(exc, "cycle", False):
                raise
            raise DefinitionError(
                f"in base segment {key!r}: {exc}", path=f"{path}.Id", kind="segment"
            ) from exc
        finally:
            self._stack.pop()

    def dimensions(self, dims: SegmentDimensions) -> Node:
        parts: list[Node] = []
        for family in (dims.demographic, dims.location):
            if family is None:
                continue
            cols = type(family).COLUMNS  # type: ignore[attr-defined]
            for name, info in type(family).model_fields.items():
                value = getattr(family, name)
                if isinstance(value, SetDimension):
                    parts.append(set_node(cols[str(info.alias)], value))
        if dims.location is not None and dims.location.gps_point is not None:
            gps = dims.location.gps_point
            parts.append(
                GpsWithin(
                    gps.coordinates.latitude, gps.coordinates.longitude, gps.range_in_kilometers
                )
            )
        for prefix, metrics in (
            ("Metrics.", dims.metrics),
            ("User.UserMetrics.", dims.user_metrics),
        ):
            for name, metric in (metrics or {}).items():
                parts.append(metric_node(prefix + name, metric))
        if dims.behavior is not None and dims.behavior.recency is not None:
            rec = dims.behavior.recency
            active = ActiveSince(self.now_us - DURATION_SECONDS[rec.duration] * 1_000_000)
            parts.append(active if rec.recency_type == "ACTIVE" else Not(active))
        for prefix, attrs in (
            ("Attributes.", dims.attributes),
            ("User.UserAttributes.", dims.user_attributes),
        ):
            for name, attr in (attrs or {}).items():
                parts.append(attribute_node(prefix + name, attr))
        return and_(parts)


def set_node(column: str, dim: SetDimension) -> Node:
    node = SetIn(column, tuple(dict.fromkeys(dim.values)))
    return node if dim.dimension_type == "INCLUSIVE" else Not(node)


def metric_node(column: str, metric: MetricDimension) -> Node:
    if metric.comparison_operator == "BETWEEN":
        assert metric.values is not None
        return MetricCmp(column, "between", float(metric.values[0]), float(metric.values[1]))
    assert metric.value is not None
    return MetricCmp(column, _OPS[metric.comparison_operator], float(metric.value))


def attribute_node(column: str, attr: AttributeDimension) -> Node:
    from engagekit.segments._model import parse_instant

    kind = attr.attribute_type
    values = tuple(dict.fromkeys(attr.values))
    if kind == "INCLUSIVE":
        return ListMatch(column, "IN", values)
    if kind == "EXCLUSIVE":
        return Not(ListMatch(column, "IN", values))
    if kind == "CONTAINS":
        return ListMatch(column, "CONTAINS", values, cost=COST_CONTAINS)
    instants = [parse_instant(v) for v in attr.values]
    us = [_epoch_us(t) for t in instants]
    if kind == "ON":
        day = instants[0]
        assert day is not None
        start = _epoch_us(day.replace(hour=0, minute=0, second=0, microsecond=0))
        return ListMatch(
            column, "RANGE_EXCL", bounds=(start, start + 86_400_000_000), cost=COST_LIST_DATE
        )
    if kind == "BEFORE":
        return ListMatch(column, "BEFORE", bounds=(us[0],), cost=COST_LIST_DATE)
    if kind == "AFTER":
        return ListMatch(column, "AFTER", bounds=(us[0],), cost=COST_LIST_DATE)
    node = ListMatch(column, "BETWEEN", bounds=(us[0], us[1]), cost=COST_LIST_DATE)
    return node if kind == "BETWEEN" else Not(node)


def _epoch_us(value: object) -> int:
    from datetime import UTC, datetime

    assert isinstance(value, datetime)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def and_(parts: list[Node]) -> Node:
    parts = [p for p in parts if not (isinstance(p, Const) and p.value)]
    if any(isinstance(p, Const) and not p.value for p in parts):
        return Const(False)
    if not parts:
        return Const(True)
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def or_(parts: list[Node]) -> Node:
    parts = [p for p in parts if not (isinstance(p, Const) and not p.value)]
    if any(isinstance(p, Const) and p.value for p in parts):
        return Const(True)
    if not parts:
        return Const(False)
    return parts[0] if len(parts) == 1 else Or(tuple(parts))


def not_(node: Node) -> Node:
    if isinstance(node, Named) and isinstance(node.child, Const):
        node = node.child
    if isinstance(node, Const):
        return Const(not node.value)
    if isinstance(node, Not):
        return node.child
    return Not(node)


def combine(how: str, parts: list[Node]) -> Node:
    """ALL = AND, ANY = OR, NONE = NOR (an empty list of criteria selects everyone)."""
    if not parts:
        return Const(True)
    if how == "ALL":
        return and_(parts)
    if how == "ANY":
        return or_(parts)
    return not_(or_(parts))


def columns_used(node: Node) -> set[str]:
    """The endpoint columns a compiled segment reads."""
    if isinstance(node, (And, Or)):
        return set().union(*(columns_used(c) for c in node.children))
    if isinstance(node, (Not, Named)):
        return columns_used(node.child)
    if isinstance(node, (SetIn, ListMatch, MetricCmp)):
        return {node.column}
    if isinstance(node, GpsWithin):
        return {"Location.Latitude", "Location.Longitude"}
    if isinstance(node, ActiveSince):
        return {"Id", "EffectiveDate"}
    if isinstance(node, IdIn):
        return {"Id"}
    return set()


def describe(node: Node) -> str:
    """A one-line reading of a compiled criterion, e.g. ``ChannelType in {EMAIL, SMS}``."""
    if isinstance(node, Const):
        return "everyone" if node.value else "no one"
    if isinstance(node, (And, Or)):
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(describe(c) for c in node.children) + ")"
    if isinstance(node, Named):
        return f"in segment {node.name}"
    if isinstance(node, Not):
        child = node.child
        if isinstance(child, SetIn):
            return f"{child.column} not in {_set_text(child.values)}"
        if isinstance(child, ListMatch) and child.op == "IN":
            return f"{child.column} has none of {_set_text(child.values)}"
        if isinstance(child, ActiveSince):
            return f"not active since {_iso(child.cutoff_us)}"
        if isinstance(child, Named):
            return f"not in segment {child.name}"
        return f"NOT {describe(child)}"
    if isinstance(node, SetIn):
        return f"{node.column} in {_set_text(node.values)}"
    if isinstance(node, MetricCmp):
        if node.op == "between":
            return f"{node.value:g} <= {node.column} <= {node.value2:g}"
        return f"{node.column} {node.op} {node.value:g}"
    if isinstance(node, GpsWithin):
        return f"within {node.km:g} km of ({node.latitude:g}, {node.longitude:g})"
    if isinstance(node, ActiveSince):
        return f"active since {_iso(node.cutoff_us)}"
    if isinstance(node, IdIn):
        return f"in the imported list ({len(node.ids):,} endpoints)"
    if isinstance(node, ListMatch):
        if node.op == "IN":
            return f"{node.column} has any of {_set_text(node.values)}"
        if node.op == "CONTAINS":
            return f"{node.column} contains any of {_set_text(node.values)}"
        if node.op == "RANGE_EXCL":
            return f"{node.column} on {_iso(node.bounds[0])[:10]}"
        if node.op == "BETWEEN":
            return f"{node.column} between {_iso(node.bounds[0])} and {_iso(node.bounds[1])}"
        return f"{node.column} {node.op.lower()} {_iso(node.bounds[0])}"
    return repr(node)


def flatten_and(node: Node) -> list[Node]:
    """The top-level criteria that must all hold, in definition order."""
    if isinstance(node, And):
        return [part for child in node.children for part in flatten_and(child)]
    return [node]


def _set_text(values: tuple[str, ...]) -> str:
    return "{" + ", ".join(values) + "}"


def _iso(us: int) -> str:
    from datetime import UTC, datetime, timedelta

    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return moment.isoformat().replace("+00:00", "Z")
