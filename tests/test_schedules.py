"""Schedules: recurrence in IANA zones across DST, recipient local time, quiet time, events."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from engagekit.project import QuietTime
from engagekit.schedules import (
    EventFilter,
    Schedule,
    endpoint_zones,
    local_due,
    localize,
    match_events,
    next_occurrence,
    occurrence_at,
    occurrences,
    pinpoint_offset,
    quiet_time_adjust,
    wave_window,
    zone,
)


def _iso(values):
    return [t.strftime("%Y-%m-%dT%H:%MZ") for t in values]


def _daily(start: str, tz: str, **kw) -> Schedule:
    return Schedule(StartTime=start, Frequency="DAILY", Timezone=tz, **kw)


# -- recurrence across DST ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tz", "start", "since", "until", "expected"),
    [
        # Europe/Berlin springs forward on 2026-03-29: 09:00 is 08:00Z before, 07:00Z after
        ("Europe/Berlin", "2026-03-28T09:00", "2026-03-28", "2026-03-31",
         ["2026-03-28T08:00Z", "2026-03-29T07:00Z", "2026-03-30T07:00Z"]),
        # ... and falls back on 2026-10-25
        ("Europe/Berlin", "2026-10-24T09:00", "2026-10-24", "2026-10-27",
         ["2026-10-24T07:00Z", "2026-10-25T08:00Z", "2026-10-26T08:00Z"]),
        # America/New_York springs forward on 2026-03-08 and falls back on 2026-11-01
        ("America/New_York", "2026-03-07T09:00", "2026-03-07", "2026-03-10",
         ["2026-03-07T14:00Z", "2026-03-08T13:00Z", "2026-03-09T13:00Z"]),
        ("America/New_York", "2026-10-31T09:00", "2026-10-31", "2026-11-03",
         ["2026-10-31T13:00Z", "2026-11-01T14:00Z", "2026-11-02T14:00Z"]),
    ],
)  # fmt: skip
def test_daily_schedule_keeps_wall_clock_time_across_dst(tz, start, since, until, expected):
    assert _iso(occurrences(_daily(start, tz), since, until)) == expected


def test_wall_time_in_the_spring_gap_moves_forward_by_the_gap():
    # 02:30 does not exist in New York on 2026-03-08: it is sent at 03:30 EDT
    s = _daily("2026-03-07T02:30", "America/New_York")
    assert _iso(occurrences(s, "2026-03-07", "2026-03-10")) == [
        "2026-03-07T07:30Z",
        "2026-03-08T07:30Z",
        "2026-03-09T06:30Z",
    ]


def test_ambiguous_fall_back_wall_time_fires_once_at_the_first_instant():
    s = _daily("2026-10-24T02:30", "Europe/Berlin")
    got = _iso(occurrences(s, "2026-10-24", "2026-10-27"))
    # 02:30 happens twice on 2026-10-25 (CEST 00:30Z, CET 01:30Z): only the first counts
    assert got == ["2026-10-24T00:30Z", "2026-10-25T00:30Z", "2026-10-26T01:30Z"]


@pytest.mark.parametrize(
    ("tz", "day", "runs"),
    [
        ("Europe/Berlin", "2026-10-25", 25),
        ("Europe/Berlin", "2026-03-29", 23),
        ("America/New_York", "2026-11-01", 25),
        ("America/New_York", "2026-03-08", 23),
    ],
)
def test_hourly_schedule_fires_once_per_real_hour_on_dst_days(tz, day, runs):
    s = Schedule(StartTime="2026-01-01T00:00", Frequency="HOURLY", Timezone=tz)
    start = datetime.fromisoformat(day)
    end = start + pd.Timedelta(days=1)
    assert len(occurrences(s, start, end)) == runs


def test_monthly_on_the_31st_falls_on_the_last_day_of_short_months():
    s = Schedule(StartTime="2026-01-31T10:00", Frequency="MONTHLY", Timezone="UTC")
    got = [t.strftime("%m-%d") for t in occurrences(s, "2026-01-01", "2026-05-01")]
    assert got == ["01-31", "02-28", "03-31", "04-30"]


def test_weekly_schedule_stops_at_end_time():
    s = Schedule(
        StartTime="2026-06-01T09:00",
        EndTime="2026-06-20T00:00",
        Frequency="WEEKLY",
        Timezone="Asia/Tokyo",
    )
    assert _iso(occurrences(s, "2026-01-01", "2027-01-01")) == [
        "2026-06-01T00:00Z",
        "2026-06-08T00:00Z",
        "2026-06-15T00:00Z",
    ]
    assert next_occurrence(s, "2026-06-15T00:00Z") is None


def test_cron_schedule_in_a_zone_follows_dst():
    s = Schedule(
        StartTime="2026-03-01T00:00",
        Frequency="CRON",
        Cron="0 9 * * MON",
        Timezone="Europe/Berlin",
    )
    assert _iso(occurrences(s, "2026-03-20", "2026-04-01")) == [
        "2026-03-23T08:00Z",
        "2026-03-30T07:00Z",
    ]


def test_occurrence_at_is_the_latest_due_run_or_the_first_one_ahead():
    s = _daily("2026-05-01T09:00", "UTC")
    assert occurrence_at(s, "2026-04-01T00:00Z") == pd.Timestamp("2026-05-01T09:00Z")
    assert occurrence_at(s, "2026-05-03T08:59Z") == pd.Timestamp("2026-05-02T09:00Z")
    assert occurrence_at(s, "2026-05-03T09:00Z") == pd.Timestamp("2026-05-03T09:00Z")
    assert next_occurrence(s, "2026-05-03T09:00Z") == pd.Timestamp("2026-05-04T09:00Z")


def test_immediate_and_once_schedules():
    now = pd.Timestamp("2026-05-01T12:34Z")
    assert occurrence_at(Schedule(), now) == now
    once = Schedule(StartTime="2026-05-02T08:00:00+02:00", Frequency="ONCE")
    assert occurrence_at(once, now) == pd.Timestamp("2026-05-02T06:00Z")
    assert occurrences(once, "2026-05-01", "2026-05-03") == [pd.Timestamp("2026-05-02T06:00Z")]


# -- validation ---------------------------------------------------------------------------------
def test_unknown_time_zone_is_refused_with_the_expected_forms():
    with pytest.raises(ValidationError, match="not a time zone: expected an IANA name"):
        Schedule(StartTime="2026-05-01T09:00", Frequency="DAILY", Timezone="Mars/Olympus")


def test_pinpoint_utc_offset_zones_are_accepted():
    assert zone("UTC+05:30").utcoffset(None) == pd.Timedelta(hours=5, minutes=30)
    assert zone("UTC-05").utcoffset(None) == pd.Timedelta(hours=-5)
    assert pinpoint_offset(zone("Asia/Kolkata"), pd.Timestamp("2026-01-01", tz="UTC")) == (
        "UTC+05:30"
    )


def test_end_before_start_is_refused():
    with pytest.raises(ValidationError, match="EndTime must be after StartTime"):
        _daily("2026-05-01T09:00", "UTC", EndTime="2026-04-01T00:00")


@pytest.mark.parametrize("bad", ["25:00", "7:00", "12-00", ""])
def test_malformed_quiet_time_is_refused(bad):
    with pytest.raises(ValidationError, match="QuietTime"):
        Schedule(QuietTime={"Start": bad, "End": "08:00"})


def test_recurring_schedule_needs_a_start_time_and_cron_needs_an_expression():
    with pytest.raises(ValidationError, match="needs a StartTime"):
        Schedule(Frequency="DAILY")
    with pytest.raises(ValidationError, match="needs a Cron expression"):
        Schedule(StartTime="2026-05-01T09:00", Frequency="CRON")
    with pytest.raises(ValidationError, match="not a cron expression"):
        Schedule(StartTime="2026-05-01T09:00", Frequency="CRON", Cron="every monday")


# -- recipient local time -----------------------------------------------------------------------
def test_local_time_run_becomes_waves_by_zone_on_dst_days():
    zones = endpoint_zones(
        pd.Series(["Europe/Berlin", "America/New_York", None, "Not/AZone", "Asia/Tokyo"]),
        5,
        "Europe/London",
    )
    assert list(zones) == [
        "Europe/Berlin",
        "America/New_York",
        "Europe/London",
        "Europe/London",
        "Asia/Tokyo",
    ]
    # 2026-03-29: Berlin and London have just sprung forward, New York did on 03-08
    due = local_due(datetime(2026, 3, 29, 9, 0), zones)
    assert _iso(due) == [
        "2026-03-29T07:00Z",
        "2026-03-29T13:00Z",
        "2026-03-29T08:00Z",
        "2026-03-29T08:00Z",
        "2026-03-29T00:00Z",
    ]


def test_localize_resolves_gaps_forward_and_overlaps_to_the_first_instant():
    assert localize(datetime(2026, 3, 29, 2, 30), "Europe/Berlin") == pd.Timestamp(
        "2026-03-29T01:30Z"
    )
    assert localize(datetime(2026, 11, 1, 1, 30), "America/New_York") == pd.Timestamp(
        "2026-11-01T05:30Z"
    )


# -- quiet time ---------------------------------------------------------------------------------
def _due(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True)).astype("datetime64[us, UTC]")


def test_quiet_time_crossing_midnight_marks_rows_in_local_time():
    zones = pd.Categorical(["Europe/Berlin", "America/New_York", "Asia/Tokyo"])
    due = _due("2026-06-01T21:30Z", "2026-06-01T21:30Z", "2026-06-01T21:30Z")
    # local: Berlin 23:30 (quiet), New York 17:30 (not), Tokyo 06:30 next day (quiet)
    _, quiet = quiet_time_adjust(due, zones, QuietTime(Start="22:00", End="07:00"))
    assert quiet.tolist() == [True, False, True]


def test_quiet_time_defer_moves_messages_to_the_end_of_the_window():
    zones = pd.Categorical(["Europe/Berlin", "Asia/Tokyo", "America/New_York"])
    due = _due("2026-06-01T21:30Z", "2026-06-01T21:30Z", "2026-06-01T21:30Z")
    moved, quiet = quiet_time_adjust(due, zones, QuietTime(Start="22:00", End="07:00"), "DEFER")
    assert quiet.tolist() == [True, True, False]
    # Berlin: 07:00 CEST next day; Tokyo: 07:00 JST the same local morning; NY unchanged
    assert _iso(moved) == ["2026-06-02T05:00Z", "2026-06-01T22:00Z", "2026-06-01T21:30Z"]


def test_quiet_time_defer_on_a_spring_forward_night():
    zones = pd.Categorical(["America/New_York"])
    due = _due("2026-03-08T04:00Z")  # 23:00 EST on 03-07, inside 22:00-07:00
    moved, quiet = quiet_time_adjust(due, zones, QuietTime(Start="22:00", End="07:00"), "DEFER")
    assert quiet.tolist() == [True]
    assert _iso(moved) == ["2026-03-08T11:00Z"]  # 07:00 EDT, after the clocks moved


def test_quiet_time_with_equal_start_and_end_is_off():
    zones = pd.Categorical(["UTC"])
    _, quiet = quiet_time_adjust(
        _due("2026-06-01T09:00Z"), zones, QuietTime(Start="09:00", End="09:00")
    )
    assert not quiet.any()


# -- event triggers -----------------------------------------------------------------------------
def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": ["a", "b", "c", "d", "e"],
            "event_type": ["cart.abandoned", "cart.abandoned", "_session.start",
                           "cart.abandoned", "cart.abandoned"],
            "event_timestamp": pd.to_datetime(
                ["2026-05-02T10:00Z", "2026-05-02T11:00Z", "2026-05-02T11:00Z",
                 "2026-04-01T11:00Z", "2026-05-03T11:00Z"], utc=True),
            "endpoint_id": ["e1", "e2", "e1", "e3", "e4"],
            "attributes": [{"plan": "pro", "sku": "shoe-12"}, {"plan": "free"}, {}, {"plan": "pro"},
                           {"plan": "pro", "sku": "hat-1"}],
            "metrics": [{"value": 120.0}, {"value": 300.0}, {}, {"value": 500.0},
                        {"value": 80.0}],
        }
    )  # fmt: skip


def test_event_filter_matches_type_attributes_metrics_and_window():
    s = Schedule(
        StartTime="2026-05-01T00:00Z",
        EndTime="2026-06-01T00:00Z",
        Frequency="EVENT",
        EventFilter={
            "FilterType": "ENDPOINT",
            "Dimensions": {
                "EventType": {"DimensionType": "INCLUSIVE", "Values": ["cart.abandoned"]},
                "Attributes": {"plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}},
                "Metrics": {"value": {"ComparisonOperator": "GREATER_THAN", "Value": 100}},
            },
        },
    )
    # b: plan free; c: other type; d: before StartTime; e: value 80
    assert match_events(s, _events()).tolist() == [True, False, False, False, False]


def test_event_filter_contains_and_exclusive():
    flt = EventFilter(
        Dimensions={
            "EventType": {"DimensionType": "EXCLUSIVE", "Values": ["_session.start"]},
            "Attributes": {"sku": {"AttributeType": "CONTAINS", "Values": ["shoe", "hat"]}},
        }
    )
    assert match_events(flt, _events()).tolist() == [True, False, False, False, True]


def test_event_schedule_requires_a_filter():
    with pytest.raises(ValidationError, match="needs an EventFilter"):
        Schedule(Frequency="EVENT")


def test_pinpoint_schedule_export_keeps_wall_clock_and_offset():
    s = _daily("2026-11-02T09:00", "America/New_York", IsLocalTime=True,
               QuietTime={"Start": "22:00", "End": "07:00"})  # fmt: skip
    doc = s.to_pinpoint()
    assert doc["StartTime"] == "2026-11-02T09:00:00-05:00"
    assert doc["Timezone"] == "UTC-05"
    assert doc["QuietTime"] == {"Start": "22:00", "End": "07:00"}
    assert np.all(Schedule.model_validate(doc).start == s.start)


def test_wave_window_spans_every_zone_on_earth():
    s = _daily("2026-11-02T09:00", "America/New_York", IsLocalTime=True)
    first, last = wave_window(s, "2026-11-02T09:00:00-05:00")
    assert _iso([first, last]) == ["2026-11-01T19:00Z", "2026-11-02T21:00Z"]
    plain = _daily("2026-11-02T09:00", "America/New_York")
    assert wave_window(plain, "2026-11-02T14:00Z") == (pd.Timestamp("2026-11-02T14:00Z"),) * 2


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(StartTime="2024-01-31T09:30:00", Frequency="HOURLY", Timezone="Europe/Berlin"),
        Schedule(StartTime="2024-01-31T02:30:00", Frequency="DAILY", Timezone="America/New_York"),
        Schedule(StartTime="2024-01-31T09:30:00", Frequency="WEEKLY", Timezone="Asia/Kolkata"),
        Schedule(StartTime="2024-01-31T09:30:00", Frequency="MONTHLY", Timezone="Europe/Berlin"),
        Schedule(StartTime="2024-01-01T00:00:00", Frequency="CRON", Cron="0 0 1 1 *",
                 Timezone="Europe/Berlin"),
    ],
    ids=lambda s: s.frequency + (f"-{s.cron}" if s.cron else ""),
)  # fmt: skip
def test_due_and_next_occurrence_agree_with_the_full_list(schedule):
    every = occurrences(schedule, "2024-01-01", "2028-06-01")
    rng = np.random.default_rng(7)
    for seconds in rng.integers(0, 3 * 365 * 86_400, size=15):
        at = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(seconds=int(seconds))
        before = [t for t in every if t <= at]
        assert occurrence_at(schedule, at) == (before[-1] if before else every[0])
        assert next_occurrence(schedule, at) == next(t for t in every if t > at)
