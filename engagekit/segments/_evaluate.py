"""Evaluate a segment over an endpoint DataFrame: vectorized, cheap selective criteria first.

An AND evaluates its children in order of cost and hands each child only the rows that are
still in; an OR hands each child only the rows not yet in. List criteria run in
``pyarrow.compute`` over the flattened values of the surviving rows; the great-circle distance
runs after a latitude band prefilter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.errors import DefinitionError
from engagekit.segments._model import DATE_PATTERN, Segment
from engagekit.segments._plan import (
    EARTH_RADIUS_KM,
    ActiveSince,
    And,
    Compiler,
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
    describe,
    flatten_and,
)

if TYPE_CHECKING:
    from engagekit.project import Project

SESSION_START = "_session.start"
_NAT = np.iinfo(np.int64).min
# above this share of the frame, a cheap criterion is computed on every row and then indexed
_DENSE_SHARE = 0.35


def now_us(now: datetime | str | pd.Timestamp | None) -> int:
    """``now`` (default: the current time) as microseconds since the epoch, UTC."""
    ts = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value) // 1_000  # Timestamp.value is always nanoseconds


SegmentLike = Segment | Any  # a Segment, a SegmentBuilder, a saved name (with project) or a dict


def as_segment(segment: SegmentLike, project: Project | None = None) -> Segment:
    """Accept a Segment, a builder, a Pinpoint/engagekit dict, or a saved segment's name."""
    from engagekit.segments._builder import SegmentBuilder

    if isinstance(segment, Segment):
        return segment
    if isinstance(segment, SegmentBuilder):
        return segment.build()
    if isinstance(segment, dict):
        from engagekit.segments._pinpoint import from_pinpoint

        return from_pinpoint(segment)
    if isinstance(segment, str):
        if project is None:
            raise DefinitionError(
                f"segment {segment!r} is a name; pass project=... to load it", kind="segment"
            )
        from engagekit.segments._store import load_segment

        return load_segment(project, segment)
    raise TypeError(f"expected a Segment, SegmentBuilder, dict or name, got {type(segment)!r}")


def compile_segment(
    segment: SegmentLike, *, project: Project | None = None, now: Any = None
) -> Node:
    """The expression tree of a segment, base segments resolved through the project."""
    from engagekit.segments._store import resolver

    segment = as_segment(segment, project)

    return Compiler(now_us(now), resolver(project) if project is not None else None).segment(
        segment
    )


def evaluate(
    segment: SegmentLike,
    endpoints: pd.DataFrame,
    *,
    project: Project | None = None,
    now: datetime | str | pd.Timestamp | None = None,
    events: pd.DataFrame | None = None,
) -> pd.Series:
    """A boolean Series aligned to ``endpoints.index``: True for the segment's members.

    ``project`` resolves base segments by name; ``now`` anchors Behavior.Recency (default: the
    current time); ``events`` (endpoint_id, event_type, event_timestamp) gives each endpoint's
    last ``_session.start``, which Recency uses instead of ``EffectiveDate`` when present.

        >>> from engagekit.sample import generate_endpoints
        >>> from engagekit.segments import segment
        >>> df = generate_endpoints(1_000, seed=1)
        >>> mask = evaluate(segment("de").country("DE").build(), df)
        >>> bool(mask.sum() > 0)
        True
    """
    segment = as_segment(segment, project)
    node = compile_segment(segment, project=project, now=now)
    mask = _Engine(endpoints, events).run(node)
    return pd.Series(mask, index=endpoints.index, name=segment.name, dtype=bool)


class _Engine:
    def __init__(self, df: pd.DataFrame, events: pd.DataFrame | None) -> None:
        self.df = df
        self.n = len(df)
        self.events = events
        self._cache: dict[tuple[str, str], Any] = {}

    def run(self, node: Node) -> np.ndarray:
        return self.eval(node, None)

    # rows: None = every row; else int64 positions into the frame
    def eval(self, node: Node, rows: np.ndarray | None) -> np.ndarray:
        k = self.n if rows is None else len(rows)
        if k == 0:
            return np.zeros(0, dtype=bool)
        if isinstance(node, Const):
            return np.full(k, node.value, dtype=bool)
        if isinstance(node, And):
            return self._and(node, rows, k)
        if isinstance(node, Or):
            return self._or(node, rows, k)
        if isinstance(node, Not):
            return ~self.eval(node.child, rows)
        if isinstance(node, Named):
            return self.eval(node.child, rows)
        if isinstance(node, (SetIn, MetricCmp, ActiveSince, IdIn)):
            return self._cheap(node, rows)
        if isinstance(node, GpsWithin):
            return self._gps(node, rows)
        if isinstance(node, ListMatch):
            return self._list(node, rows)
        raise TypeError(f"unknown segment node {node!r}")

    def _and(self, node: And, rows: np.ndarray | None, k: int) -> np.ndarray:
        children = sorted(node.children, key=lambda c: c.cost)
        cheap = [c for c in children if _is_cheap(c)]
        costly = [c for c in children if not _is_cheap(c)]
        live: np.ndarray | None = None  # local positions still in; None = all
        if cheap:
            # cheap criteria: plain boolean arrays over the same rows, ANDed without gathers
            m = self.eval(cheap[0], rows)
            for child in cheap[1:]:
                if not m.any():
                    break
                m &= self.eval(child, rows)
            live = np.flatnonzero(m)
        for child in costly:
            if live is not None and len(live) == 0:
                break
            sub = rows if live is None else (live if rows is None else rows[live])
            m = self.eval(child, sub)
            live = np.flatnonzero(m) if live is None else live[m]
        out = np.zeros(k, dtype=bool)
        out[live] = True
        return out

    def _or(self, node: Or, rows: np.ndarray | None, k: int) -> np.ndarray:
        out = np.zeros(k, dtype=bool)
        pending: np.ndarray | None = None  # local positions still out
        for child in sorted(node.children, key=lambda c: c.cost):
            sub = rows if pending is None else (pending if rows is None else rows[pending])
            m = self.eval(child, sub)
            if pending is None:
                out |= m
                pending = np.flatnonzero(~m)
            else:
                out[pending[m]] = True
                pending = pending[~m]
            if len(pending) == 0:
                break
        return out

    # -- cheap leaves: computed on the rows, or densely when most rows are asked --------------
    def _cheap(self, node: Node, rows: np.ndarray | None) -> np.ndarray:
        if rows is not None and len(rows) > _DENSE_SHARE * self.n:
            return self._cheap(node, None)[rows]
        if isinstance(node, SetIn):
            return self._set_in(node, rows)
        if isinstance(node, MetricCmp):
            v = self._float(node.column)
            v = v if rows is None else v[rows]
            with np.errstate(invalid="ignore"):
                if node.op == ">":
                    return v > node.value
                if node.op == "<":
                    return v < node.value
                if node.op == ">=":
                    return v >= node.value
                if node.op == "<=":
                    return v <= node.value
                if node.op == "=":
                    return v == node.value
                assert node.value2 is not None
                return (v >= node.value) & (v <= node.value2)
        if isinstance(node, ActiveSince):
            last = self._last_activity()
            return (last if rows is None else last[rows]) >= node.cutoff_us
        if isinstance(node, IdIn):
            ids = self._column("Id")
            if ids is None:
                return np.zeros(self.n if rows is None else len(rows), dtype=bool)
            arr = pa.array(ids if rows is None else ids.iloc[rows], type=pa.string())
            got = pc.is_in(arr, value_set=pa.array(node.ids, type=pa.string()))
            return np.asarray(got.fill_null(False), dtype=bool)
        raise TypeError(node)

    def _column(self, name: str) -> pd.Series | None:
        return self.df[name] if name in self.df.columns else None

    def _set_in(self, node: SetIn, rows: np.ndarray | None) -> np.ndarray:
        k = self.n if rows is None else len(rows)
        col = self._column(node.column)
        if col is None:
            return np.zeros(k, dtype=bool)
        if isinstance(col.dtype, pd.CategoricalDtype):
            key = ("codes", node.column)
            if key not in self._cache:
                self._cache[key] = (
                    np.asarray(col.array.codes),
                    pd.Index(col.cat.categories.astype(str)),
                )
            codes, cats = self._cache[key]
            lut = np.zeros(len(cats) + 1, dtype=bool)  # last slot: code -1 (missing)
            lut[:-1] = cats.isin(node.values)
            return lut[codes if rows is None else codes[rows]]
        part = col if rows is None else col.iloc[rows]
        arr = pa.array(part.astype("string"), type=pa.string())
        got = pc.is_in(arr, value_set=pa.array(node.values, type=pa.string()))
        return np.asarray(got.fill_null(False), dtype=bool)

    def _float(self, name: str) -> np.ndarray:
        key = ("float", name)
        if key not in self._cache:
            col = self._column(name)
            if col is None:
                values = np.full(self.n, np.nan)
            elif col.dtype == np.float64:
                values = col.to_numpy()  # a read-only view, no copy
            else:
                numbers = pd.to_numeric(col, errors="coerce")
                values = numbers.to_numpy(dtype="float64", na_value=np.nan)
            self._cache[key] = values
        return self._cache[key]

    def _last_activity(self) -> np.ndarray:
        key = ("last", "")
        if key not in self._cache:
            last = _micros(self._column("EffectiveDate"), self.n)
            ev = self.events
            if ev is not None:
                missing = {"endpoint_id", "event_type", "event_timestamp"} - set(ev.columns)
                if missing:
                    raise DefinitionError(
                        "events for Behavior.Recency need the columns endpoint_id, event_type "
                        f"and event_timestamp; missing {', '.join(sorted(missing))}",
                        path="Behavior.Recency",
                        kind="segment",
                    )
            if ev is not None and len(ev) and self._column("Id") is not None:
                sessions = ev.loc[ev["event_type"] == SESSION_START]
                latest = (
                    pd.to_datetime(sessions["event_timestamp"], utc=True)
                    .groupby(sessions["endpoint_id"].astype("string").to_numpy())
                    .max()
                )
                mapped = _micros(self.df["Id"].astype("string").map(latest), self.n)
                last = np.where(mapped != _NAT, mapped, last)
            self._cache[key] = last
        return self._cache[key]

    # -- costly leaves: only on the surviving rows ---------------------------------------------
    def _gps(self, node: GpsWithin, rows: np.ndarray | None) -> np.ndarray:
        lat, lon = self._float("Location.Latitude"), self._float("Location.Longitude")
        if rows is not None:
            lat, lon = lat[rows], lon[rows]
        # a bounding box that holds the whole circle is a safe prefilter: the great-circle
        # distance is at least R * |dlat|, and (away from the poles) the circle spans at most
        # asin(sin(r) / cos(lat0)) of longitude
        box = gps_box(node.latitude, node.km)
        with np.errstate(invalid="ignore"):
            inside = np.abs(lat - node.latitude) <= box[0]
            if box[1] is not None:
                dlon = np.abs((lon - node.longitude + 180.0) % 360.0 - 180.0)
                inside &= dlon <= box[1]
        near = np.flatnonzero(inside)
        out = np.zeros(len(lat), dtype=bool)
        if len(near):
            # compare haversine's ``a`` with the threshold: no asin/sqrt per row (monotone)
            a = haversine_a(lat[near], lon[near], node.latitude, node.longitude)
            with np.errstate(invalid="ignore"):
                out[near] = a <= gps_threshold(node.km)
        return out

    def _list_array(self, name: str) -> pa.Array | None:
        key = ("list", name)
        if key not in self._cache:
            col = self._column(name)
            if col is None:
                self._cache[key] = None
            else:
                arr = _to_list_array(col)
                self._cache[key] = arr
        return self._cache[key]

    def _list(self, node: ListMatch, rows: np.ndarray | None) -> np.ndarray:
        k = self.n if rows is None else len(rows)
        arr = self._list_array(node.column)
        if arr is None:
            return np.zeros(k, dtype=bool)
        if rows is not None:
            arr = arr.take(rows)
        return list_match(arr, node)


def _is_cheap(node: Node) -> bool:
    """Criteria computed on every asked row at once (a few ns per row)."""
    while isinstance(node, (Not, Named)):
        node = node.child
    return isinstance(node, (Const, SetIn, MetricCmp, ActiveSince))


def list_match(arr: pa.ListArray, node: ListMatch) -> np.ndarray:
    """For each list: does any element satisfy the node's operation?"""
    flat = pc.list_flatten(arr)
    parents = np.asarray(pc.list_parent_indices(arr))
    if node.op == "IN":
        hit = pc.is_in(flat, value_set=pa.array(node.values, type=pa.string()))
    elif node.op == "CONTAINS":
        hit = None
        for v in node.values:
            one = pc.match_substring(flat, v)
            hit = one if hit is None else pc.or_(hit, one)
    else:
        us = parse_dates_us(flat)
        with np.errstate(invalid="ignore"):
            if node.op == "BEFORE":
                hit_np = us < node.bounds[0]
            elif node.op == "AFTER":
                hit_np = us > node.bounds[0]
            elif node.op == "BETWEEN":
                hit_np = (us >= node.bounds[0]) & (us <= node.bounds[1])
            else:  # RANGE_EXCL (ON a day)
                hit_np = (us >= node.bounds[0]) & (us < node.bounds[1])
        hit_np &= us != _NAT
        out = np.zeros(len(arr), dtype=bool)
        out[parents[hit_np]] = True
        return out
    assert hit is not None
    hits = np.asarray(hit.fill_null(False), dtype=bool)
    out = np.zeros(len(arr), dtype=bool)
    out[parents[hits]] = True
    return out


def parse_dates_us(values: pa.Array) -> np.ndarray:
    """Strings matching :data:`DATE_PATTERN` as epoch microseconds (UTC); others as NaT."""
    out = np.full(len(values), _NAT, dtype=np.int64)
    ok = np.asarray(pc.match_substring_regex(values, DATE_PATTERN).fill_null(False), dtype=bool)
    idx = np.flatnonzero(ok)
    if len(idx):
        text = pd.Series(values.take(pa.array(idx)).to_pylist(), dtype="string")
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        out[idx] = _micros(parsed, len(idx))
    return out


def _micros(col: pd.Series | None, n: int) -> np.ndarray:
    if col is None:
        return np.full(n, _NAT, dtype=np.int64)
    idx = pd.DatetimeIndex(pd.to_datetime(col, utc=True)).as_unit("us")
    return idx.asi8.copy()


def _to_list_array(col: pd.Series) -> pa.ListArray:
    if isinstance(col.dtype, pd.ArrowDtype) and pa.types.is_list(col.dtype.pyarrow_dtype):
        chunked = col.array.__arrow_array__()
    else:
        from engagekit.endpoints import to_list_array

        chunked = pa.chunked_array([to_list_array(col.tolist())])
    arr = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
    if not pa.types.is_string(arr.type.value_type):
        arr = arr.cast(pa.list_(pa.string()))
    return arr


def haversine_a(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    """Haversine's ``a`` (squared half-chord) from (lat0, lon0); the SQL twin computes the
    same terms in the same order."""
    deg = math.pi / 180.0
    p2, l2 = lat0 * deg, lon0 * deg
    p1 = lat * deg
    return (
        np.sin((p1 - p2) / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin((lon * deg - l2) / 2) ** 2
    )


def gps_box(latitude: float, km: float) -> tuple[float, float | None]:
    """Half-sizes in degrees (latitude, longitude or None near a pole) of a box that holds the
    whole circle, with a small margin: a safe prefilter before the exact test."""
    angle = km / EARTH_RADIUS_KM
    band = math.degrees(angle) * (1 + 1e-9) + 1e-9
    cos_lat0 = math.cos(math.radians(latitude))
    if angle < math.pi / 2 and math.sin(angle) < cos_lat0:
        return band, math.degrees(math.asin(math.sin(angle) / cos_lat0)) * (1 + 1e-9) + 1e-9
    return band, None


def gps_threshold(km: float) -> float:
    """The ``a`` at great-circle distance ``km``: within range <=> ``a <= gps_threshold(km)``."""
    half_angle = min(km / EARTH_RADIUS_KM / 2, math.pi / 2)
    return math.sin(half_angle) ** 2


def haversine_km(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    """Great-circle distance in kilometres from (lat0, lon0)."""
    a = haversine_a(lat, lon, lat0, lon0)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


# -- estimates and members ---------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """Counts of a segment over an endpoint frame.

    ``messageable`` members are ACTIVE and not opted out; every other member is counted once in
    ``excluded`` under its reason (``OPTED_OUT`` before ``INACTIVE``).
    """

    segment: str
    total: int
    messageable: int
    by_channel: Mapping[str, int] = field(default_factory=dict)
    messageable_by_channel: Mapping[str, int] = field(default_factory=dict)
    excluded: Mapping[str, int] = field(default_factory=dict)
    endpoints: int = 0

    def to_frame(self) -> pd.DataFrame:
        """One row per channel: members and messageable."""
        chans = sorted(set(self.by_channel) | set(self.messageable_by_channel))
        return pd.DataFrame(
            {
                "members": [self.by_channel.get(c, 0) for c in chans],
                "messageable": [self.messageable_by_channel.get(c, 0) for c in chans],
            },
            index=pd.Index(chans, name="channel"),
        )

    def summary(self) -> str:
        """A one-line text summary (the widget's live label uses it)."""
        reasons = ", ".join(f"{k} {v:,}" for k, v in self.excluded.items() if v) or "none"
        channels = ", ".join(f"{k} {v:,}" for k, v in self.by_channel.items()) or "-"
        return (
            f"{self.segment}: {self.total:,} of {self.endpoints:,} endpoints, "
            f"{self.messageable:,} messageable ({channels}); excluded: {reasons}"
        )

    def _repr_html_(self) -> str:
        return f"<p>{self.summary()}</p>" + self.to_frame().to_html()


def estimate(
    segment: SegmentLike,
    endpoints: pd.DataFrame,
    *,
    project: Project | None = None,
    now: Any = None,
    events: pd.DataFrame | None = None,
    mask: pd.Series | None = None,
) -> Estimate:
    """Total members, per channel, messageable (ACTIVE and OptOut NONE), excluded with reasons."""
    segment = as_segment(segment, project)
    if mask is None:
        mask = evaluate(segment, endpoints, project=project, now=now, events=events)
    m = mask.to_numpy(dtype=bool)
    opted = _text(endpoints, "OptOut", "NONE") != "NONE"
    inactive = _text(endpoints, "EndpointStatus", "ACTIVE") != "ACTIVE"
    ok = m & ~opted & ~inactive
    channel = _text(endpoints, "ChannelType", "UNKNOWN")
    return Estimate(
        segment=segment.name,
        total=int(m.sum()),
        messageable=int(ok.sum()),
        by_channel=_counts(channel[m]),
        messageable_by_channel=_counts(channel[ok]),
        excluded={
            "OPTED_OUT": int((m & opted).sum()),
            "INACTIVE": int((m & ~opted & inactive).sum()),
        },
        endpoints=len(endpoints),
    )


def _text(df: pd.DataFrame, column: str, default: str) -> np.ndarray:
    if column not in df.columns:
        return np.full(len(df), default, dtype=object)
    return df[column].astype("string").fillna(default).to_numpy(dtype=object)


def _counts(values: np.ndarray) -> dict[str, int]:
    if len(values) == 0:
        return {}
    uniq, counts = np.unique(values.astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return {str(uniq[i]): int(counts[i]) for i in order}


def funnel(
    segment: SegmentLike,
    endpoints: pd.DataFrame,
    *,
    project: Project | None = None,
    now: Any = None,
    events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """How each criterion that must hold narrows the audience, in the definition's order.

    One row per top-level criterion: ``criterion`` (a reading of it), ``matches`` (endpoints
    it keeps on its own) and ``remaining`` (endpoints that pass it and every row above). The
    last ``remaining`` is the segment's size.
    """
    segment = as_segment(segment, project)
    node = compile_segment(segment, project=project, now=now)
    engine = _Engine(endpoints, events)
    remaining = np.ones(len(endpoints), dtype=bool)
    rows = []
    for part in flatten_and(node):
        hit = engine.eval(part, None)
        remaining &= hit
        rows.append(
            {
                "criterion": describe(part),
                "matches": int(hit.sum()),
                "remaining": int(remaining.sum()),
            }
        )
    return pd.DataFrame(rows, columns=["criterion", "matches", "remaining"])


def members(
    segment: SegmentLike,
    endpoints: pd.DataFrame,
    *,
    project: Project | None = None,
    now: Any = None,
    events: pd.DataFrame | None = None,
    messageable_only: bool = False,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """The member rows of ``endpoints`` (optionally only the messageable ones, or some columns)."""
    mask = evaluate(segment, endpoints, project=project, now=now, events=events)
    if messageable_only:
        mask &= _text(endpoints, "OptOut", "NONE") == "NONE"
        mask &= _text(endpoints, "EndpointStatus", "ACTIVE") == "ACTIVE"
    out = endpoints.loc[mask.to_numpy()]
    return out[columns] if columns is not None else out


def export_members(
    segment: SegmentLike,
    endpoints: pd.DataFrame,
    dest: str | Path,
    *,
    format: Literal["csv", "ndjson"] | None = None,
    project: Project | None = None,
    now: Any = None,
    events: pd.DataFrame | None = None,
    messageable_only: bool = False,
) -> int:
    """Write the members as Pinpoint CSV or NDJSON (by ``format`` or the suffix; local or
    ``s3://``) with the endpoints area's exporter; returns how many were written."""
    rows = members(
        segment,
        endpoints,
        project=project,
        now=now,
        events=events,
        messageable_only=messageable_only,
    )
    from engagekit.endpoints import export_endpoints

    export_endpoints(rows, dest, format=format)
    return len(rows)
