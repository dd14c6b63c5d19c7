"""When a campaign fires: Pinpoint's Schedule, recipient local time, quiet time, event triggers.

A :class:`Schedule` is Pinpoint's ``Schedule`` object (``StartTime``, ``EndTime``, ``Frequency``,
``IsLocalTime``, ``Timezone``, ``QuietTime``, ``EventFilter``) plus two engagekit extensions:
``Frequency: "CRON"`` with a ``Cron`` expression, and ``QuietTimeMode`` (``"SKIP"``, Pinpoint's
rule: a message due in quiet time is not sent; ``"DEFER"``: it is sent when quiet time ends).

Occurrences (the nominal firing instants of a recurring schedule):

* ``HOURLY`` steps one real hour at a time (a fall-back day has 25 hourly runs);
* ``DAILY`` / ``WEEKLY`` / ``MONTHLY`` keep the wall-clock time of ``StartTime`` in ``Timezone``
  (``MONTHLY`` on the 31st falls on the last day of shorter months);
* a wall-clock time that does not exist (spring forward) moves forward by the gap; an ambiguous
  one (fall back) is the first of the two.

With ``IsLocalTime`` an occurrence is a wall-clock time that each endpoint receives in its own
``Demographic.Timezone`` (the project default when missing), so one run becomes waves.

>>> from engagekit.schedules import Schedule, occurrences
>>> s = Schedule(StartTime="2026-03-28T09:00:00", Frequency="DAILY", Timezone="Europe/Berlin")
>>> [t.isoformat() for t in occurrences(s, "2026-03-28", "2026-03-30")]
['2026-03-28T08:00:00+00:00', '2026-03-29T07:00:00+00:00']
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engagekit.project import QuietTime

Frequency = Literal["ONCE", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "EVENT", "IN_APP_EVENT", "CRON"]
QuietTimeMode = Literal["SKIP", "DEFER"]
DimensionType = Literal["INCLUSIVE", "EXCLUSIVE"]
EventAttributeType = Literal[
    "INCLUSIVE", "EXCLUSIVE", "CONTAINS", "BEFORE", "AFTER", "ON", "BETWEEN"
]
ComparisonOperator = Literal[
    "GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL"
]  # fmt: skip
TIMESTAMP_DTYPE = pd.DatetimeTZDtype("us", "UTC")
_OFFSET = re.compile(r"^UTC(?:([+-])(\d{2})(?::?(\d{2}))?)?$")
_MAX_OCCURRENCES = 100_000


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True
    )


@lru_cache(maxsize=512)
def zone(name: str) -> tzinfo:
    """A time zone from an IANA name (``Europe/Berlin``) or Pinpoint's ``UTC+05:30`` form.

    Raises ``ValueError`` naming the expected forms when the name is unknown.
    """
    m = _OFFSET.match(name)
    if m:
        if not m.group(1):
            return UTC
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(
            f"{name!r} is not a time zone: expected an IANA name such as 'Europe/Berlin' "
            "or a UTC offset such as 'UTC+05:30'"
        ) from exc


def is_zone(name: Any) -> bool:
    try:
        zone(str(name))
    except ValueError:
        return False
    return True


def localize(wall: datetime, tz: str | tzinfo) -> pd.Timestamp:
    """A naive wall-clock time in ``tz`` as a UTC instant (gap: shifted forward; overlap: first)."""
    z = zone(tz) if isinstance(tz, str) else tz
    # fold=0 gives the earlier offset: a gap time lands after the gap, an overlap on the first
    aware = wall.replace(tzinfo=z, fold=0)
    return pd.Timestamp(aware.astimezone(UTC)).as_unit("us")


def to_utc(value: datetime | str | pd.Timestamp, tz: str | tzinfo = "UTC") -> pd.Timestamp:
    """An instant: aware values are converted, naive values read as wall-clock time in ``tz``."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        return localize(ts.to_pydatetime(), tz)
    return ts.tz_convert("UTC").as_unit("us")


# ---- event filters -----------------------------------------------------------------------------
class SetDimension(_Model):
    """Pinpoint's SetDimension: the value is (INCLUSIVE) or is not (EXCLUSIVE) one of ``Values``."""

    dimension_type: DimensionType = Field("INCLUSIVE", alias="DimensionType")
    values: tuple[str, ...] = Field(alias="Values", min_length=1)


class AttributeDimension(_Model):
    """An event attribute filter (INCLUSIVE, EXCLUSIVE, CONTAINS, BEFORE, AFTER, ON, BETWEEN)."""

    attribute_type: EventAttributeType = Field("INCLUSIVE", alias="AttributeType")
    values: tuple[str, ...] = Field(alias="Values", min_length=1)

    @model_validator(mode="after")
    def _dates(self) -> AttributeDimension:
        if self.attribute_type in ("BEFORE", "AFTER", "ON", "BETWEEN"):
            need = 2 if self.attribute_type == "BETWEEN" else 1
            if len(self.values) != need:
                raise ValueError(f"{self.attribute_type} takes {need} date value(s)")
            for v in self.values:
                if pd.isna(pd.to_datetime(v, utc=True, errors="coerce")):
                    raise ValueError(f"{v!r} is not a date (expected ISO 8601, e.g. 2026-05-01)")
        return self


class MetricDimension(_Model):
    """An event metric filter: ``ComparisonOperator`` against ``Value``."""

    comparison_operator: ComparisonOperator = Field(alias="ComparisonOperator")
    value: float = Field(alias="Value")


class EventDimensions(_Model):
    """Which events trigger the campaign: type, attribute and metric filters (all must hold)."""

    event_type: SetDimension | None = Field(None, alias="EventType")
    attributes: dict[str, AttributeDimension] | None = Field(None, alias="Attributes")
    metrics: dict[str, MetricDimension] | None = Field(None, alias="Metrics")


class EventFilter(_Model):
    """Pinpoint's CampaignEventFilter."""

    dimensions: EventDimensions = Field(alias="Dimensions")
    filter_type: Literal["SYSTEM", "ENDPOINT"] = Field("ENDPOINT", alias="FilterType")


# ---- schedule ----------------------------------------------------------------------------------
class Schedule(_Model):
    """Pinpoint's Schedule; ``StartTime`` is ``"IMMEDIATE"`` or an ISO 8601 time.

    A naive ``StartTime``/``EndTime`` is wall-clock time in ``Timezone``.
    """

    start_time: Literal["IMMEDIATE"] | datetime = Field("IMMEDIATE", alias="StartTime")
    end_time: datetime | None = Field(None, alias="EndTime")
    frequency: Frequency = Field("ONCE", alias="Frequency")
    is_local_time: bool = Field(False, alias="IsLocalTime")
    timezone: str = Field("UTC", alias="Timezone")
    quiet_time: QuietTime | None = Field(None, alias="QuietTime")
    event_filter: EventFilter | None = Field(None, alias="EventFilter")
    cron: str | None = Field(None, alias="Cron", description="engagekit: cron expression")
    quiet_time_mode: QuietTimeMode = Field("SKIP", alias="QuietTimeMode")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            from croniter import croniter

            if not croniter.is_valid(value):
                raise ValueError(f"{value!r} is not a cron expression (e.g. '0 9 * * MON')")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        if self.frequency == "CRON" and not self.cron:
            raise ValueError("Frequency CRON needs a Cron expression (e.g. '0 9 * * MON')")
        if self.cron and self.frequency != "CRON":
            raise ValueError(f"Cron is only used with Frequency CRON, not {self.frequency}")
        if self.frequency in ("EVENT", "IN_APP_EVENT") and self.event_filter is None:
            raise ValueError(f"Frequency {self.frequency} needs an EventFilter")
        if self.start_time == "IMMEDIATE" and self.frequency not in ("ONCE", "EVENT"):
            raise ValueError(f"a {self.frequency} schedule needs a StartTime, not IMMEDIATE")
        if self.end_time is not None and self.start is not None and self.end <= self.start:
            raise _PathError("EndTime", "EndTime must be after StartTime")
        return self

    # -- instants ----------------------------------------------------------------------------
    @property
    def tz(self) -> tzinfo:
        return zone(self.timezone)

    @property
    def immediate(self) -> bool:
        return self.start_time == "IMMEDIATE"

    @property
    def start(self) -> pd.Timestamp | None:
        """StartTime as a UTC instant (None when IMMEDIATE)."""
        if self.start_time == "IMMEDIATE":
            return None
        return to_utc(self.start_time, self.tz)

    @property
    def end(self) -> pd.Timestamp | None:
        return None if self.end_time is None else to_utc(self.end_time, self.tz)

    @property
    def recurring(self) -> bool:
        return self.frequency in ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "CRON")

    @property
    def event_triggered(self) -> bool:
        return self.frequency in ("EVENT", "IN_APP_EVENT")

    @property
    def start_wall(self) -> datetime:
        """StartTime as naive wall-clock time in the schedule's zone (as written when naive)."""
        assert isinstance(self.start_time, datetime), "an IMMEDIATE schedule has no wall clock"
        if self.start_time.tzinfo is None:
            return self.start_time
        return self.start_time.astimezone(self.tz).replace(tzinfo=None)

    def wall_clock(self, instant: pd.Timestamp) -> datetime:
        """The naive wall-clock time of ``instant`` in the schedule's zone."""
        return instant.tz_convert(self.tz).to_pydatetime().replace(tzinfo=None)

    def to_pinpoint(self) -> dict[str, Any]:
        """Pinpoint's Schedule JSON; engagekit extensions (CRON, DEFER) cannot be exported.

        Times are written with the zone's UTC offset (wall clock and instant both kept);
        ``Timezone`` becomes Pinpoint's offset form (``UTC-05``) as of StartTime.
        """
        from engagekit.errors import DefinitionError

        if self.frequency == "CRON":
            raise DefinitionError(
                "Pinpoint has no cron schedules; use HOURLY/DAILY/WEEKLY/MONTHLY",
                path="Schedule.Frequency",
            )
        if self.quiet_time_mode != "SKIP":
            raise DefinitionError(
                "Pinpoint only skips messages due in quiet time; use QuietTimeMode SKIP",
                path="Schedule.QuietTimeMode",
            )
        out = self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"cron", "quiet_time_mode"}
        )
        if isinstance(self.start_time, datetime):
            out["StartTime"] = _iso(self.start, self.tz)
        if self.end_time is not None:
            out["EndTime"] = _iso(self.end, self.tz)
        at = self.start if self.start is not None else pd.Timestamp.now(tz="UTC")
        out["Timezone"] = pinpoint_offset(self.tz, at)
        return out


class _PathError(ValueError):
    """A validation error that knows the field it is about (for DefinitionError paths)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _iso(ts: pd.Timestamp | None, tz: tzinfo) -> str:
    assert ts is not None
    return ts.tz_convert(tz).isoformat(timespec="seconds").replace("+00:00", "Z")


def pinpoint_offset(tz: tzinfo, at: pd.Timestamp) -> str:
    """A zone's UTC offset at ``at`` in Pinpoint's form: ``UTC``, ``UTC+05:30``, ``UTC-05``."""
    offset = at.tz_convert(tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h:02d}" + (f":{m:02d}" if m else "")


# ---- occurrences -------------------------------------------------------------------------------
def _walls(schedule: Schedule, near: pd.Timestamp | None = None) -> Iterator[pd.Timestamp]:
    """Occurrences of a recurring schedule in order (UTC instants), from its start — or from
    a little before ``near`` (arithmetic jump; nothing at or after ``near`` is skipped)."""
    start = schedule.start
    assert start is not None
    tz = schedule.tz
    wall0 = schedule.start_wall
    k = 0
    if near is not None and near > start:
        if schedule.frequency == "HOURLY":
            k = max(0, int((near - start) / pd.Timedelta(hours=1)) - 2)
        elif schedule.frequency in ("DAILY", "WEEKLY"):
            days = (near.tz_convert(tz).date() - wall0.date()).days
            k = max(0, days // (1 if schedule.frequency == "DAILY" else 7) - 2)
        elif schedule.frequency == "MONTHLY":
            local = near.tz_convert(tz)
            k = max(0, (local.year - wall0.year) * 12 + local.month - wall0.month - 2)
    if schedule.frequency == "HOURLY":
        while True:
            yield start + pd.Timedelta(hours=k)
            k += 1
    if schedule.frequency == "CRON":
        from croniter import croniter

        begin = wall0 - timedelta(seconds=1)
        if near is not None and near > start:
            begin = max(begin, schedule.wall_clock(near) - timedelta(days=2))
        it = croniter(schedule.cron, begin)
        last = None
        while True:
            wall = it.get_next(datetime)
            ts = localize(wall, tz)
            if ts != last:  # a gap maps two wall times onto one instant: fire once
                yield ts
            last = ts
    while True:
        if schedule.frequency == "DAILY":
            wall = wall0 + timedelta(days=k)
        elif schedule.frequency == "WEEKLY":
            wall = wall0 + timedelta(weeks=k)
        else:  # MONTHLY
            month0 = wall0.year * 12 + wall0.month - 1 + k
            year, month = divmod(month0, 12)
            day = min(wall0.day, calendar.monthrange(year, month + 1)[1])
            wall = wall0.replace(year=year, month=month + 1, day=day)
        yield localize(wall, tz)
        k += 1


def occurrences(
    schedule: Schedule,
    since: datetime | str | pd.Timestamp,
    until: datetime | str | pd.Timestamp,
    *,
    now: datetime | str | pd.Timestamp | None = None,
) -> list[pd.Timestamp]:
    """Nominal firing instants (UTC) in ``[since, until)`` within StartTime … EndTime.

    ``IMMEDIATE`` fires at ``now`` (when given); ``ONCE`` at StartTime; event-triggered schedules
    have no occurrences of their own. Naive ``since``/``until`` are read in the schedule's zone.
    """
    lo, hi = to_utc(since, schedule.tz), to_utc(until, schedule.tz)
    end = schedule.end
    if schedule.event_triggered:
        return []
    if schedule.immediate:
        at = to_utc(now, "UTC") if now is not None else None
        return [at] if at is not None and lo <= at < hi else []
    if schedule.frequency == "ONCE":
        s = schedule.start
        return [s] if s is not None and lo <= s < hi else []
    out: list[pd.Timestamp] = []
    for ts in _walls(schedule, near=lo):
        if ts >= hi or (end is not None and ts > end) or len(out) >= _MAX_OCCURRENCES:
            break
        if ts >= lo:
            out.append(ts)
    return out


def next_occurrence(
    schedule: Schedule, after: datetime | str | pd.Timestamp
) -> pd.Timestamp | None:
    """The first occurrence strictly after ``after`` (None when the schedule is over)."""
    at = to_utc(after, schedule.tz)
    end = schedule.end
    if schedule.event_triggered or schedule.immediate:
        return None
    if schedule.frequency == "ONCE":
        s = schedule.start
        return s if s is not None and s > at else None
    for ts in _walls(schedule, near=at):
        if end is not None and ts > end:
            return None
        if ts > at:
            return ts
    return None  # pragma: no cover - the generator is infinite


def occurrence_at(schedule: Schedule, now: datetime | str | pd.Timestamp) -> pd.Timestamp | None:
    """The occurrence a run at ``now`` is for: the latest one at or before ``now``, or the next
    one when none has happened yet (planning ahead). None when the schedule is over or has no
    occurrences (event-triggered)."""
    at = to_utc(now, "UTC")
    if schedule.immediate:
        return at
    if schedule.event_triggered:
        return None
    if schedule.frequency == "ONCE":
        return schedule.start
    start = schedule.start
    assert start is not None
    if at < start:
        return start
    end = schedule.end
    # jump close to ``at``; a cron expression may fire rarely, so look a month back for it
    near = at - pd.Timedelta(days=32) if schedule.frequency == "CRON" else at
    for hint in (near, None):
        last = None
        for ts in _walls(schedule, near=hint):
            if ts > at or (end is not None and ts > end):
                break
            last = ts
        if last is not None:
            return last
    return None


def wave_window(
    schedule: Schedule, occurrence: datetime | str | pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last instants an occurrence can fire at anywhere on Earth.

    Without IsLocalTime both are the occurrence. With it, the wall-clock time arrives first at
    UTC+14 and last at UTC-12: plan the run before ``first`` so no wave is already over.
    """
    at = to_utc(occurrence, schedule.tz)
    if not schedule.is_local_time:
        return at, at
    wall = schedule.wall_clock(at)
    return localize(wall, "UTC+14"), localize(wall, "UTC-12")


# ---- recipient local time and quiet time -------------------------------------------------------
def endpoint_zones(tz_column: pd.Series | None, n: int, default: str) -> pd.Categorical:
    """Each endpoint's zone name: ``Demographic.Timezone`` when valid, else ``default``."""
    if tz_column is None:
        return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[default])
    cat = (
        tz_column
        if isinstance(tz_column.dtype, pd.CategoricalDtype)
        else tz_column.astype("category")
    )
    cats = [str(c) for c in cat.cat.categories]
    fixed = [c if is_zone(c) else default for c in cats]
    names = list(dict.fromkeys([default, *fixed]))
    lookup = np.array([names.index(f) for f in fixed] + [0], dtype=np.int16)
    codes = cat.cat.codes.to_numpy()  # -1 for missing -> last entry -> default
    return pd.Categorical.from_codes(lookup[codes], categories=names)


def has_valid_zone(tz_column: pd.Series | None, n: int) -> np.ndarray:
    """True where ``Demographic.Timezone`` holds a valid zone (Pinpoint applies quiet time only
    to those endpoints)."""
    if tz_column is None:
        return np.zeros(n, dtype=bool)
    cat = (
        tz_column
        if isinstance(tz_column.dtype, pd.CategoricalDtype)
        else tz_column.astype("category")
    )
    valid = np.array([is_zone(str(c)) for c in cat.cat.categories] + [False], dtype=bool)
    return valid[cat.cat.codes.to_numpy()]


def local_due(wall: datetime, zones: pd.Categorical, index: pd.Index | None = None) -> pd.Series:
    """The UTC instant of wall-clock time ``wall`` in each row's zone (one value per zone)."""
    per_zone = np.array(
        [localize(wall, z).value for z in zones.categories], dtype="int64"
    )  # nanoseconds
    values = per_zone[zones.codes] // 1000
    return pd.Series(values.astype("datetime64[us]"), index=index).dt.tz_localize("UTC")


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def quiet_instant(
    due: pd.Timestamp, tz: str, quiet: QuietTime | None, mode: QuietTimeMode = "SKIP"
) -> tuple[pd.Timestamp, bool]:
    """Quiet time for one instant in one zone: ``(due, in_quiet)`` (see :func:`quiet_time_adjust`).

    >>> q = QuietTime(Start="22:00", End="07:00")
    >>> quiet_instant(pd.Timestamp("2026-06-01T21:30Z"), "Europe/Berlin", q, "DEFER")
    (Timestamp('2026-06-02 05:00:00+0000', tz='UTC'), True)
    """
    if quiet is None or quiet.start == quiet.end:
        return due, False
    start, end = _minutes(quiet.start), _minutes(quiet.end)
    local = due.to_pydatetime().astimezone(zone(tz))
    minute = local.hour * 60 + local.minute
    if start < end:
        inside, next_day = start <= minute < end, False
    else:
        inside, next_day = minute >= start or minute < end, minute >= start
    if not inside or mode == "SKIP":
        return due, inside
    day = local.date() + timedelta(days=1 if next_day else 0)
    wall = datetime(day.year, day.month, day.day, end // 60, end % 60)
    return localize(wall, tz), True


def quiet_time_adjust(
    due: pd.Series, zones: pd.Categorical, quiet: QuietTime | None, mode: QuietTimeMode = "SKIP"
) -> tuple[pd.Series, np.ndarray]:
    """Apply quiet time in each row's local time.

    Returns ``(due, in_quiet)``: ``in_quiet`` marks rows due inside the window; in ``"DEFER"``
    mode their due time moves to the window's end (local wall clock), in ``"SKIP"`` mode it is
    unchanged (the caller excludes them). ``Start == End`` means no quiet time.
    """
    n = len(due)
    in_quiet = np.zeros(n, dtype=bool)
    if quiet is None or quiet.start == quiet.end or n == 0:
        return due, in_quiet
    start, end = _minutes(quiet.start), _minutes(quiet.end)
    out = due.copy()
    codes = zones.codes
    for i, name in enumerate(zones.categories):
        rows = np.flatnonzero(codes == i)
        if not len(rows):
            continue
        local = due.iloc[rows].dt.tz_convert(zone(name))
        minute = (local.dt.hour * 60 + local.dt.minute).to_numpy()
        if start < end:
            inside = (minute >= start) & (minute < end)
            next_day = np.zeros(len(rows), dtype=bool)
        else:  # crosses midnight, e.g. 22:00 - 07:00
            inside = (minute >= start) | (minute < end)
            next_day = minute >= start
        in_quiet[rows] = inside
        if mode == "DEFER" and inside.any():
            sel = rows[inside]
            naive = local.iloc[inside].dt.tz_localize(None).dt.normalize()
            naive = naive + pd.to_timedelta(next_day[inside].astype(int), unit="D")
            naive = naive + pd.Timedelta(minutes=end)
            moved = naive.dt.tz_localize(
                zone(name), nonexistent="shift_forward", ambiguous=np.ones(len(sel), dtype=bool)
            )
            out.iloc[sel] = moved.dt.tz_convert("UTC").to_numpy()
    return out, in_quiet


# ---- event triggers ----------------------------------------------------------------------------
def _event_values(events: pd.DataFrame, family: str, name: str) -> pd.Series:
    """An attribute or metric of each event, from a flat ``family.name`` column or a dict column."""
    flat = f"{family}.{name}"
    if flat in events.columns:
        return events[flat]
    if family not in events.columns:
        return pd.Series([None] * len(events), index=events.index, dtype=object)
    col = events[family]
    dtype = col.dtype
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.chunked_array(col.array._pa_array)  # type: ignore[attr-defined]
        if pa.types.is_map(arr.type):
            found = pc.map_lookup(arr, name, "first")
            return pd.Series(found.to_pandas(), index=events.index)
    return pd.Series(
        [v.get(name) if isinstance(v, dict) else None for v in col.tolist()],
        index=events.index,
        dtype=object,
    )


def match_events(
    schedule_or_filter: Schedule | EventFilter,
    events: pd.DataFrame,
    *,
    col_type: str = "event_type",
    col_time: str = "event_timestamp",
) -> pd.Series:
    """A boolean mask of ``events`` matching the filter (and the schedule's Start/End window).

    Attributes: INCLUSIVE/EXCLUSIVE on the value, CONTAINS a substring, BEFORE/AFTER/ON/BETWEEN
    on dates; metrics compare numbers. An event lacking a filtered attribute or metric does not
    match (except for EXCLUSIVE).
    """
    if isinstance(schedule_or_filter, Schedule):
        flt = schedule_or_filter.event_filter
        window = (schedule_or_filter.start, schedule_or_filter.end)
    else:
        flt, window = schedule_or_filter, (None, None)
    mask = np.ones(len(events), dtype=bool)
    if flt is None:
        return pd.Series(mask, index=events.index)
    dims = flt.dimensions
    if dims.event_type is not None:
        hit = events[col_type].astype("string").isin(dims.event_type.values).fillna(False)
        hit = hit.to_numpy(dtype=bool)
        mask &= hit if dims.event_type.dimension_type == "INCLUSIVE" else ~hit
    for name, attr in (dims.attributes or {}).items():
        mask &= _attribute_mask(_event_values(events, "attributes", name), attr)
    for name, metric in (dims.metrics or {}).items():
        values = pd.to_numeric(_event_values(events, "metrics", name), errors="coerce")
        mask &= _compare(values.to_numpy(dtype=float), metric)
    if col_time in events.columns and (window[0] is not None or window[1] is not None):
        times = pd.to_datetime(events[col_time], utc=True)
        if window[0] is not None:
            mask &= (times >= window[0]).to_numpy(dtype=bool)
        if window[1] is not None:
            mask &= (times <= window[1]).to_numpy(dtype=bool)
    return pd.Series(mask, index=events.index)


def _attribute_mask(values: pd.Series, attr: AttributeDimension) -> np.ndarray:
    text = values.astype("string")
    present = text.notna().to_numpy()
    kind = attr.attribute_type
    if kind in ("INCLUSIVE", "EXCLUSIVE"):
        hit = text.isin(attr.values).fillna(False).to_numpy(dtype=bool)
        return hit if kind == "INCLUSIVE" else ~hit
    if kind == "CONTAINS":
        hit = np.zeros(len(text), dtype=bool)
        for v in attr.values:
            hit |= text.str.contains(v, regex=False).fillna(False).to_numpy(dtype=bool)
        return hit
    when = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bounds = [pd.Timestamp(pd.to_datetime(v, utc=True)) for v in attr.values]
    if kind == "BEFORE":
        hit = when < bounds[0]
    elif kind == "AFTER":
        hit = when > bounds[0]
    elif kind == "ON":
        hit = when.dt.normalize() == bounds[0].normalize()
    else:
        hit = (when >= bounds[0]) & (when <= bounds[1])
    return hit.fillna(False).to_numpy(dtype=bool) & present


def _compare(values: np.ndarray, metric: MetricDimension) -> np.ndarray:
    op, v = metric.comparison_operator, metric.value
    with np.errstate(invalid="ignore"):
        if op == "GREATER_THAN":
            return values > v
        if op == "LESS_THAN":
            return values < v
        if op == "GREATER_THAN_OR_EQUAL":
            return values >= v
        if op == "LESS_THAN_OR_EQUAL":
            return values <= v
        return values == v


__all__ = [
    "AttributeDimension",
    "EventDimensions",
    "EventFilter",
    "MetricDimension",
    "QuietTime",
    "Schedule",
    "SetDimension",
    "endpoint_zones",
    "has_valid_zone",
    "is_zone",
    "local_due",
    "localize",
    "match_events",
    "next_occurrence",
    "occurrence_at",
    "occurrences",
    "quiet_instant",
    "quiet_time_adjust",
    "to_utc",
    "wave_window",
    "zone",
]
