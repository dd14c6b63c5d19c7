"""Planning a run: ``plan_campaign`` and its vectorized eligibility, timing and limits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.campaigns._model import (
    _TEMPLATE_SLOT,
    HOLDOUT,
    KIND,
    Campaign,
    Channel,
    TemplateConfiguration,
)
from engagekit.endpoints import PUSH_CHANNEL_TYPES
from engagekit.errors import DefinitionError
from engagekit.experiments import keys_to_buckets, srm_check, unit_keys, units
from engagekit.project import Project, ProjectSettings
from engagekit.schedules import (
    TIMESTAMP_DTYPE,
    Schedule,
    endpoint_zones,
    has_valid_zone,
    localize,
    match_events,
    occurrence_at,
    quiet_instant,
    quiet_time_adjust,
    to_utc,
    zone,
)

MAX_DIRECT: Final = 15

#: Exclusion reasons in precedence order (the first that applies is recorded).
REASONS: Final = (
    "OPTED_OUT",
    "INACTIVE",
    "NO_ADDRESS",
    "SUPPRESSED",
    "OUTSIDE_SCHEDULE",
    "LOCAL_TIME_PASSED",
    "QUIET_TIME",
    "TOTAL_LIMIT",
    "DAILY_LIMIT",
    "USER_CAMPAIGN_LIMIT",
    "USER_DAILY_LIMIT",
    "HOLDOUT",
)
STATUSES: Final = ("scheduled", "excluded")
#: a local-time wave planned more than this after its due time is excluded (LOCAL_TIME_PASSED)
LOCAL_TIME_GRACE: Final = pd.Timedelta(minutes=15)
PLAN_COLUMNS: Final = (
    "run_id", "campaign", "campaign_version", "treatment_id", "holdout", "endpoint_id",
    "user_id", "channel_type", "address", "template", "template_version", "due_at",
    "timezone", "status", "reason", "step",
)  # fmt: skip
#: ledger statuses that count toward limits: a targeted endpoint counts even if the send failed
COUNTED_STATUSES: Final = ("pending", "sending", "sent", "failed", "delivered")
_CHANNEL_ENDPOINTS: Final = {
    "EMAIL": ("EMAIL",),
    "SMS": ("SMS",),
    "VOICE": ("VOICE", "SMS"),
    "PUSH": tuple(sorted(PUSH_CHANNEL_TYPES)),
    "IN_APP": ("IN_APP",),
    "CUSTOM": ("CUSTOM",),
}


# ---- planning ----------------------------------------------------------------------------------
AudienceLike: TypeAlias = pd.Series | np.ndarray | Literal["all"] | None


@dataclass(frozen=True)
class PlanInputs:
    """What a plan was made from (kept on ``plan.attrs`` and in the run record)."""

    run_id: str
    campaign: str
    campaign_version: int
    occurrence: str | None
    now: str
    messages_per_second: int | None
    maximum_duration: int | None
    priority: int | None
    counts: dict[str, int] = field(default_factory=dict)


def plan_campaign(
    campaign: Campaign,
    endpoints: pd.DataFrame,
    now: datetime | str | pd.Timestamp,
    history: pd.DataFrame | None = None,
    *,
    settings: ProjectSettings | None = None,
    audience: AudienceLike = None,
    suppressed: Iterable[str] | pd.DataFrame | pd.Series | None = None,
    run_id: str | None = None,
    version: int = 0,
    occurrence: datetime | str | pd.Timestamp | None = None,
    events: pd.DataFrame | None = None,
    segment: Any = None,
    project: Project | None = None,
    step: str = "send",
) -> pd.DataFrame:
    """Plan one run of ``campaign`` over ``endpoints``: one row per audience endpoint.

    ``audience`` is a boolean mask aligned with ``endpoints`` (or ``"all"``); when omitted the
    campaign's segment is evaluated (``segment`` model, or loaded from ``project``). Endpoints of
    other channels than the campaign's are not part of the audience. ``history`` is the ledger
    (``endpoint_id``, ``campaign``, ``status``, ``created_at``, optional ``user_id`` and
    ``run_id``) for limits; ``suppressed`` the suppressed addresses. ``occurrence`` picks the
    scheduled run (default: the one due at ``now``). Event-triggered campaigns need ``events``.

    Pure: the same inputs give the same plan; no input is modified.
    """
    settings = settings or ProjectSettings.model_validate({"name": "default"})
    now_ts = to_utc(now, "UTC")
    schedule = campaign.schedule
    n_all = len(endpoints)

    # -- audience ----------------------------------------------------------------------------
    mask = _audience_mask(campaign, endpoints, now_ts, audience, segment, project, events)
    channel_types = _CHANNEL_ENDPOINTS[campaign.channel]
    if "ChannelType" in endpoints.columns:
        ch = endpoints["ChannelType"]
        mask &= ch.isin(channel_types).to_numpy(dtype=bool, na_value=False)
    else:
        mask &= False
    event_due: np.ndarray | None = None
    if schedule.event_triggered:
        if events is None:
            raise DefinitionError(
                "an event-triggered campaign is planned from events: pass events=",
                path="Schedule.EventFilter",
                kind=KIND,
            )
        first = _first_matching_event(campaign, events, now_ts)
        ids = endpoints["Id"].astype("string")
        pos_map = first.reindex(ids.to_numpy())
        has = pos_map.notna().to_numpy()
        mask &= has
        event_due = pos_map.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    n = int(mask.sum())
    sel = None if n == n_all else mask
    ids_s, users_s, address_s = _select_columns(endpoints, ("Id", "User.UserId", "Address"), sel, n)

    def col(name: str) -> pd.Series:
        return _select_columns(endpoints, (name,), sel, n)[0]

    # address checks and the history index run in threads while allocation and timing run here
    limits = _limit_values(campaign, settings)
    pool = ThreadPoolExecutor(max_workers=2)
    addr_future = pool.submit(_address_flags, address_s, suppressed)
    hist_future = pool.submit(_index_history, history, run_id, endpoints, campaign.name, now_ts,
                              bool(limits[0] or limits[1])) if any(limits) else None  # fmt: skip

    # -- allocation --------------------------------------------------------------------------
    alloc = campaign.allocation()
    ukeys = unit_keys(units(pd.DataFrame({"Id": ids_s, "User.UserId": users_s}, copy=False)))
    arm_idx = alloc.arm_index(keys_to_buckets(ukeys, campaign.allocation_salt))
    arm_names = alloc.names
    is_holdout = np.zeros(n, dtype=bool)
    if campaign.holdout_percent:
        is_holdout = arm_idx == arm_names.index(HOLDOUT)
    # treatment number per row (holdout rows follow treatment 0's timing)
    arm_to_treatment = np.array(
        [0 if name == HOLDOUT else int(name) for name in arm_names], dtype=np.int8
    )
    treatment_no = arm_to_treatment[arm_idx]

    # -- timing ------------------------------------------------------------------------------
    tz_col = col("Demographic.Timezone") if "Demographic.Timezone" in endpoints.columns else None
    zones = endpoint_zones(tz_col, n, settings.default_timezone)
    has_zone = has_valid_zone(tz_col, n)
    quiet = schedule.quiet_time or settings.quiet_time
    mode = schedule.quiet_time_mode
    occ = to_utc(occurrence, schedule.tz) if occurrence is not None else None
    passed = np.zeros(n, dtype=bool)
    if event_due is not None:
        raw = (
            pd.Series(np.maximum(event_due[mask], np.datetime64(now_ts.tz_localize(None), "us")))
            .astype("datetime64[us]")
            .dt.tz_localize("UTC")
        )
        adjusted, in_quiet = quiet_time_adjust(raw, zones, quiet, mode)
        raw_values = raw.to_numpy(dtype="datetime64[us]")
        due_values = adjusted.to_numpy(dtype="datetime64[us]")
        occ_for = [now_ts]
    else:
        occ_for = []
        n_zones = len(zones.categories)
        raw_m = np.empty((len(campaign.treatments), n_zones), dtype="int64")
        adj_m = np.empty_like(raw_m)
        quiet_m = np.zeros_like(raw_m, dtype=bool)
        late_raw_m = np.zeros_like(raw_m, dtype=bool)
        late_adj_m = np.zeros_like(raw_m, dtype=bool)
        local = np.zeros(len(campaign.treatments), dtype=bool)
        for t in range(len(campaign.treatments)):
            sched = campaign.treatment_schedule(t)
            t_occ = _treatment_occurrence(campaign, t, occ, now_ts)
            occ_for.append(t_occ)
            local[t] = sched.is_local_time
            wall = sched.wall_clock(t_occ)
            for z, name in enumerate(zones.categories):
                at = localize(wall, name) if sched.is_local_time else t_occ
                moved, q = quiet_instant(at, name, quiet, mode)
                raw_m[t, z] = at.value // 1000
                adj_m[t, z] = moved.value // 1000
                quiet_m[t, z] = q
                late_raw_m[t, z] = _after_end(sched, at, name)
                late_adj_m[t, z] = _after_end(sched, moved, name)
        flat = treatment_no.astype(np.int64) * n_zones + zones.codes
        raw_values = raw_m.reshape(-1)[flat].view("datetime64[us]")
        due_values = adj_m.reshape(-1)[flat].view("datetime64[us]")
        in_quiet = quiet_m.reshape(-1)[flat] & has_zone
        late = np.where(in_quiet, late_adj_m.reshape(-1)[flat], late_raw_m.reshape(-1)[flat])
        # a local-time wave already over when the run is planned is not sent late
        cutoff = np.datetime64((now_ts - LOCAL_TIME_GRACE).tz_localize(None), "us")
        passed = local[treatment_no] & (raw_values < cutoff)
    # Pinpoint applies quiet time only to endpoints with a valid Demographic.Timezone
    in_quiet = in_quiet & has_zone
    due_values = np.where(in_quiet, due_values, raw_values)
    if event_due is not None:
        end = schedule.end
        late = np.zeros(n, dtype=bool) if end is None else (
            due_values > np.datetime64(end.tz_localize(None), "us")
        )  # fmt: skip

    # -- eligibility -------------------------------------------------------------------------
    reason = np.zeros(n, dtype=np.int8)  # 0 = none; k = REASONS[k - 1]

    def mark(code: str, cond: np.ndarray) -> None:
        reason[(reason == 0) & cond] = REASONS.index(code) + 1

    mark("OPTED_OUT", _eq(col("OptOut"), "ALL"))
    mark("INACTIVE", _eq(col("EndpointStatus"), "INACTIVE"))
    blank, supp_hit = addr_future.result()
    hist_index = hist_future.result() if hist_future is not None else None
    pool.shutdown()
    mark("NO_ADDRESS", blank)
    if supp_hit is not None:
        mark("SUPPRESSED", supp_hit)
    mark("OUTSIDE_SCHEDULE", late)
    mark("LOCAL_TIME_PASSED", passed)
    if schedule.quiet_time_mode == "SKIP":
        mark("QUIET_TIME", in_quiet)
    else:
        # a message deferred past its MaximumDuration would expire before it is sent
        max_duration = campaign.limits.maximum_duration or settings.limits.maximum_duration
        if max_duration:
            waited = due_values - raw_values
            mark("QUIET_TIME", in_quiet & (waited > np.timedelta64(int(max_duration), "s")))
    _mark_limits(mark, reason, limits, hist_index, ids_s, ukeys, is_holdout)
    mark("HOLDOUT", is_holdout)

    # -- assemble ----------------------------------------------------------------------------
    first_occ = occ_for[0]
    rid = run_id or default_run_id(campaign, first_occ)
    tmpl_names, tmpl_versions = [], []
    for treatment in campaign.treatments:
        ref = treatment.template_for(campaign.channel)
        tmpl_names.append(ref.name if ref else "")
        tmpl_versions.append((ref.version or 0) if ref else 0)  # 0: the active version
    tnames = [str(i) for i in range(len(campaign.treatments))]
    treat_cats = [*tnames, HOLDOUT] if campaign.holdout_percent else tnames
    treat_codes = np.where(is_holdout, len(tnames), treatment_no).astype(np.int8)
    tmpl_cats = list(dict.fromkeys(tmpl_names))
    tmpl_codes = np.array([tmpl_cats.index(x) for x in tmpl_names], dtype=np.int8)[treatment_no]
    reasons_cat = pd.Categorical.from_codes(reason.astype(np.int8) - 1, categories=list(REASONS))
    status = pd.Categorical.from_codes((reason > 0).astype(np.int8), categories=list(STATUSES))
    index = pd.RangeIndex(n)
    plan = pd.DataFrame(
        {
            "run_id": _const(rid, n),
            "campaign": _const(campaign.name, n),
            "campaign_version": pd.Series(np.full(n, version, dtype=np.int64), copy=False),
            "treatment_id": pd.Categorical.from_codes(treat_codes, categories=treat_cats),
            "holdout": is_holdout,
            "endpoint_id": ids_s.array,
            "user_id": users_s.array,
            "channel_type": _categorical_of(col("ChannelType")),
            "address": address_s.array,
            "template": pd.Categorical.from_codes(tmpl_codes, categories=tmpl_cats),
            "template_version": np.array(tmpl_versions, dtype=np.int64)[treatment_no],
            "due_at": pd.array(due_values, dtype=TIMESTAMP_DTYPE),
            "timezone": zones,
            "status": status,
            "reason": reasons_cat,
            "step": _const(step, n),
        },
        index=index,
    )
    plan.attrs["plan"] = PlanInputs(
        run_id=rid,
        campaign=campaign.name,
        campaign_version=version,
        occurrence=None if first_occ is None else first_occ.isoformat(),
        now=now_ts.isoformat(),
        messages_per_second=campaign.limits.messages_per_second
        or settings.limits.messages_per_second
        or None,
        maximum_duration=campaign.limits.maximum_duration
        or settings.limits.maximum_duration
        or None,
        priority=campaign.priority,
        counts=plan_counts(plan),
    ).__dict__
    return plan


def _treatment_occurrence(
    campaign: Campaign, t: int, occ: pd.Timestamp | None, now: pd.Timestamp
) -> pd.Timestamp:
    """The run's nominal instant for treatment ``t``: its own ONCE time if it has one."""
    sched = campaign.treatment_schedule(t)
    if t > 0 and campaign.treatments[t].schedule is not None:
        if sched.frequency == "ONCE" and not sched.immediate:
            assert sched.start is not None
            return sched.start
        base = occ if occ is not None else occurrence_at(campaign.schedule, now)
        # a recurring treatment keeps its own time of day on the run's date
        if base is not None:
            found = occurrence_at(sched, base + pd.Timedelta(hours=23, minutes=59))
            if found is not None:
                return found
    if occ is not None:
        return occ
    found = occurrence_at(sched, now)
    if found is None:
        raise DefinitionError(
            f"the schedule of campaign {campaign.name!r} has no run at {now.isoformat()}",
            path="Schedule",
            kind=KIND,
        )
    return found


def _after_end(schedule: Schedule, due: pd.Timestamp, zone_name: str) -> bool:
    """Whether ``due`` is past the schedule's EndTime — in the recipient's wall-clock time when
    the schedule uses local time (Pinpoint: start and end are then local)."""
    if schedule.end_time is None:
        return False
    if not schedule.is_local_time:
        end = schedule.end
        return end is not None and due > end
    end_wall = schedule.end_time
    if end_wall.tzinfo is not None:
        end_wall = end_wall.astimezone(schedule.tz).replace(tzinfo=None)
    local_wall = due.tz_convert(zone(zone_name)).to_pydatetime().replace(tzinfo=None)
    return local_wall > end_wall


def default_run_id(campaign: Campaign, occurrence: pd.Timestamp) -> str:
    """``<campaign>-<occurrence as YYYYMMDDTHHMMSSZ>``: reruns of one occurrence share it."""
    return f"{campaign.name}-{occurrence.tz_convert('UTC'):%Y%m%dT%H%M%SZ}"


def _const(value: str, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[value])


def _categorical_of(s: pd.Series) -> pd.Categorical:
    """The column as a categorical of its used string values (by codes, no hashing)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.array
        codes = cat.codes  # type: ignore[union-attr]
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(cat.categories)))
        lookup = np.full(len(cat.categories) + 1, -1, dtype=np.int16)
        lookup[used] = np.arange(len(used))
        names = [str(c) for c in cat.categories[used]]
        return pd.Categorical.from_codes(lookup[codes], categories=names)
    return pd.Categorical(s.astype("string"))


def _eq(s: pd.Series, value: str) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = list(s.cat.categories)
        if value not in cats:
            return np.zeros(len(s), dtype=bool)
        return s.cat.codes.to_numpy() == cats.index(value)
    return (s.astype("string") == value).to_numpy(dtype=bool, na_value=False)


def _audience_mask(
    campaign: Campaign,
    endpoints: pd.DataFrame,
    now: pd.Timestamp,
    audience: AudienceLike,
    segment: Any,
    project: Project | None,
    events: pd.DataFrame | None,
) -> np.ndarray:
    n = len(endpoints)
    if isinstance(audience, str):
        if audience != "all":
            raise DefinitionError(f"audience must be a mask or 'all', got {audience!r}")
        return np.ones(n, dtype=bool)
    if audience is not None:
        if isinstance(audience, pd.Series):
            aligned = audience
            if len(audience) != n or not audience.index.equals(endpoints.index):
                aligned = audience.reindex(endpoints.index, fill_value=False)
            return aligned.to_numpy(dtype=bool, na_value=False).copy()
        arr = np.asarray(audience, dtype=bool)
        if arr.shape != (n,):
            raise DefinitionError(f"audience has {arr.shape[0]} values for {n} endpoints")
        return arr.copy()
    from engagekit import segments

    if segment is None:
        if project is None:
            raise DefinitionError(
                "no audience: pass audience= (a boolean mask or 'all'), segment= or project=",
                path="SegmentId",
                kind=KIND,
            )
        segment = segments.load_segment(project, campaign.segment, campaign.segment_version)
    result = segments.evaluate(segment, endpoints, project=project, now=now, events=events)
    return np.array(result.reindex(endpoints.index, fill_value=False), dtype=bool, copy=True)


def _first_matching_event(campaign: Campaign, events: pd.DataFrame, now: pd.Timestamp) -> pd.Series:
    """endpoint id -> time of its first matching event (the trigger)."""
    hit = match_events(campaign.schedule, events)
    matched = events.loc[hit.to_numpy(), ["endpoint_id", "event_timestamp"]]
    times = pd.to_datetime(matched["event_timestamp"], utc=True)
    keep = (times <= now).to_numpy()
    grouped = times[keep].groupby(matched["endpoint_id"].astype("string")[keep]).min()
    return grouped.dt.tz_localize(None).astype("datetime64[us]")


def _suppressed_set(
    suppressed: Iterable[str] | pd.DataFrame | pd.Series | None,
) -> pa.Array | None:
    if suppressed is None:
        return None
    if isinstance(suppressed, pd.DataFrame):
        values = suppressed["address"]
    elif isinstance(suppressed, pd.Series):
        values = suppressed
    else:
        values = pd.Series(list(suppressed), dtype="string")
    arr = pa.array(values.astype("string").dropna(), type=pa.string())
    return pc.unique(pc.utf8_lower(pc.utf8_trim_whitespace(arr)))


_SPACE_BYTES = np.zeros(256, dtype=bool)
_SPACE_BYTES[[9, 10, 11, 12, 13, 32]] = True


def _suppressed_rows(addr: pa.Array | pa.ChunkedArray, supp: pa.Array) -> np.ndarray:
    """Rows whose address, trimmed and lower-cased, is in ``supp`` (already normalized).

    ASCII letters are lower-cased by Arrow's ``ascii_lower``; the rare addresses with
    non-ASCII characters or surrounding spaces go through ``utf8_trim_whitespace`` and
    ``utf8_lower``. Chunks are combined first: ``is_in`` hashes the value set on every call.
    """
    if isinstance(addr, pa.ChunkedArray):
        addr = addr.combine_chunks()
    addr = addr.cast(pa.large_string())
    n = len(addr)
    lowered = pc.ascii_lower(addr)  # exact for ASCII; other rows are redone below
    hit = pc.fill_null(pc.is_in(lowered, value_set=supp), False).to_numpy(zero_copy_only=False)
    edge = ~pc.fill_null(pc.string_is_ascii(addr), True).to_numpy(zero_copy_only=False)
    data = addr.buffers()[2]
    if n and data is not None and data.size:
        offsets = np.frombuffer(addr.buffers()[1], dtype=np.int64)[
            addr.offset : addr.offset + n + 1
        ]
        raw = np.frombuffer(data, dtype=np.uint8)
        filled = offsets[1:] > offsets[:-1]
        first = raw[np.minimum(offsets[:-1], raw.size - 1)]
        last = raw[np.maximum(offsets[1:] - 1, 0)]
        edge |= filled & (_SPACE_BYTES[first] | _SPACE_BYTES[last])
    rows = np.flatnonzero(edge)
    if len(rows):
        fixed = pc.utf8_lower(pc.utf8_trim_whitespace(addr.take(pa.array(rows))))
        hit[rows] = pc.fill_null(pc.is_in(fixed, value_set=supp), False).to_numpy(
            zero_copy_only=False
        )
    return hit


def _limit_values(campaign: Campaign, settings: ProjectSettings) -> tuple[int, int, int, int]:
    """(Total, Daily) per endpoint and (per campaign, per day) per user; 0 means no limit."""
    return (
        campaign.limits.total or settings.limits.total or 0,
        campaign.limits.daily or settings.limits.daily or 0,
        settings.limits.max_per_user_per_campaign or 0,
        settings.limits.max_per_user_per_day or 0,
    )


def _address_flags(
    address: pd.Series, suppressed: Iterable[str] | pd.DataFrame | pd.Series | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(blank, suppressed) flags of the addresses; blank means null, empty or whitespace."""
    addr = pa.array(address, from_pandas=True)
    blank = pc.or_kleene(pc.equal(pc.binary_length(addr), 0), pc.utf8_is_space(addr))
    supp = _suppressed_set(suppressed)
    hit = _suppressed_rows(addr, supp) if supp is not None and len(supp) else None
    return pc.fill_null(blank, True).to_numpy(zero_copy_only=False), hit


@dataclass(frozen=True)
class _HistoryIndex:
    """The counted ledger rows as keys: ``mine`` (this campaign), ``recent`` (last 24 h), the
    unique unit keys with each row's position among them, and endpoint keys when needed."""

    mine: np.ndarray
    recent: np.ndarray
    units: np.ndarray
    inverse: np.ndarray
    endpoints: np.ndarray | None


def _index_history(
    history: pd.DataFrame | None,
    run_id: str | None,
    endpoints: pd.DataFrame,
    campaign: str,
    now: pd.Timestamp,
    with_endpoints: bool,
) -> _HistoryIndex | None:
    hist = _counted_history(history, run_id, endpoints)
    if hist is None or not len(hist):
        return None
    created = hist["created_at"]
    day_ago = now - pd.Timedelta(hours=24)
    uniq, inverse = np.unique(unit_keys(hist["user_unit"]), return_inverse=True)
    return _HistoryIndex(
        mine=(hist["campaign"] == campaign).to_numpy(dtype=bool, na_value=False),
        recent=((created > day_ago) & (created <= now)).to_numpy(dtype=bool, na_value=False),
        units=uniq,
        inverse=inverse,
        endpoints=unit_keys(hist["endpoint_id"]) if with_endpoints else None,
    )


def _mark_limits(
    mark: Any,
    reason: np.ndarray,
    limits: tuple[int, int, int, int],
    hist: _HistoryIndex | None,
    ids: pd.Series,
    ukeys: np.ndarray,
    is_holdout: np.ndarray,
) -> None:
    """TOTAL / DAILY (per endpoint, this campaign) and USER_CAMPAIGN / USER_DAILY (per user).

    Joins run on 64-bit unit keys (:func:`engagekit.experiments.unit_keys`), not strings.
    """
    total, daily, user_campaign, user_daily = limits
    if not any(limits):
        return
    n = len(ids)
    # one join of the plan's unit keys against the history's: slot of each plan row (-1: none)
    slot = _key_index(hist.units, ukeys) if hist is not None else np.full(n, -1)

    def per_unit(keep: np.ndarray) -> np.ndarray:
        assert hist is not None
        counts = np.bincount(hist.inverse[keep], minlength=len(hist.units))
        return np.append(counts, 0)[slot]

    if hist is not None and hist.endpoints is not None and (total or daily) and hist.mine.any():
        # only endpoints of units with history can have endpoint history
        rows = np.flatnonzero(per_unit(hist.mine) > 0)
        ep_keys = unit_keys(pa.array(ids, from_pandas=True).take(pa.array(rows)))
        for limit, code, keep in ((total, "TOTAL_LIMIT", hist.mine), (daily, "DAILY_LIMIT",
                                  hist.mine & hist.recent)):  # fmt: skip
            if limit:
                over = np.zeros(n, dtype=bool)
                over[rows] = _count_by_key(hist.endpoints[keep], ep_keys) >= limit
                mark(code, over)
    for limit, code, recent_only, own_campaign in (
        (user_campaign, "USER_CAMPAIGN_LIMIT", False, True),
        (user_daily, "USER_DAILY_LIMIT", True, False),
    ):
        if not limit:
            continue
        prior = np.zeros(n, dtype=np.int64)
        if hist is not None:
            keep = np.ones(len(hist.inverse), dtype=bool)
            if own_campaign:
                keep &= hist.mine
            if recent_only:
                keep &= hist.recent
            prior = per_unit(keep)
        # messages this plan adds to a user before this row (row order), eligible rows only
        eligible = (reason == 0) & ~is_holdout
        mark(code, prior + _rank_within_key(ukeys, eligible) >= limit)


def _count_by_key(keys: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """How often each target key occurs in ``keys`` (uint64 hash join)."""
    if not len(keys) or not len(targets):
        return np.zeros(len(targets), dtype=np.int64)
    uniq, counts = np.unique(keys, return_counts=True)
    return np.append(counts, 0)[_key_index(uniq, targets)]


_FILTER_BITS: Final = 24


def _key_index(uniq: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Position of each target key in ``uniq`` (-1 when absent).

    A bitmap of the keys' low 24 bits rules most targets out with one gather; only the rest
    are probed in a hash table.
    """
    out = np.full(len(targets), -1, dtype=np.int64)
    if not len(uniq) or not len(targets):
        return out
    mask = np.uint64((1 << _FILTER_BITS) - 1)
    seen = np.zeros(1 << _FILTER_BITS, dtype=bool)
    seen[(uniq & mask).astype(np.int64)] = True
    maybe = np.flatnonzero(seen[(targets & mask).astype(np.int64)])
    if len(maybe):
        out[maybe] = pd.Index(uniq).get_indexer(targets[maybe])
    return out


def _rank_within_key(keys: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """0, 1, 2 … for the eligible rows of each key in row order (0 elsewhere)."""
    rank = np.zeros(len(keys), dtype=np.int64)
    sel = np.flatnonzero(eligible)
    if len(sel) < 2:
        return rank
    ordered = np.sort(keys[sel])
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return rank
    repeated = pd.Index(np.unique(ordered[1:][same])).get_indexer(keys[sel]) >= 0
    rows = sel[repeated]
    codes, _ = pd.factorize(keys[rows])
    rank[rows] = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    return rank


def _select_columns(
    endpoints: pd.DataFrame, names: Sequence[str], mask: np.ndarray | None, n: int
) -> list[pd.Series]:
    """The rows of ``mask`` of some columns (Arrow filter, in threads; categoricals by codes)."""

    def one(name: str) -> pd.Series:
        if name not in endpoints.columns:
            return pd.Series(pd.array([None] * n, dtype="string"))
        s = endpoints[name]
        if mask is None:
            return s.reset_index(drop=True)
        arr = s.array
        if isinstance(arr, pd.Categorical):
            return pd.Series(pd.Categorical.from_codes(arr.codes[mask], dtype=arr.dtype))
        if hasattr(arr, "__arrow_array__"):
            chunked = arr.__arrow_array__()
            return pd.Series(pd.array(pc.filter(chunked, pa.array(mask)), dtype=s.dtype))
        return pd.Series(s.to_numpy()[mask], dtype=s.dtype)

    if len(names) == 1 or n < 100_000:
        return [one(name) for name in names]
    with ThreadPoolExecutor(max_workers=min(len(names), 4)) as pool:
        return list(pool.map(one, names))


def _counted_history(
    history: pd.DataFrame | None, run_id: str | None, endpoints: pd.DataFrame | None = None
) -> pd.DataFrame | None:
    """Ledger rows that count toward limits (targeted: pending, sent, failed), this run aside.

    ``user_unit`` is the row's user: the history's ``user_id`` when present, else the user of
    its endpoint in ``endpoints``, else the endpoint id — the same fallback as the plan's units,
    so a plan row and its endpoint's history always share a unit key.
    """
    if history is None or not len(history):
        return None
    h = history
    if "status" in h.columns:
        h = h[h["status"].astype("string").isin(COUNTED_STATUSES).to_numpy(dtype=bool)]
    if run_id is not None and "run_id" in h.columns:
        h = h[(h["run_id"].astype("string") != run_id).to_numpy(dtype=bool, na_value=True)]
    created = h["created_at"]
    if not isinstance(created.dtype, pd.DatetimeTZDtype):
        created = pd.to_datetime(created, utc=True, format="ISO8601")
    ep = h["endpoint_id"].astype("string")
    # the ledger's user_id is the plan's; where it is missing, look the endpoint's user up
    unit = h["user_id"].astype("string") if "user_id" in h.columns else None
    missing = np.ones(len(h), dtype=bool) if unit is None else unit.isna().to_numpy()
    if missing.any() and endpoints is not None and "User.UserId" in endpoints.columns:
        mapped = _users_of(ep[missing], endpoints)
        if unit is None:
            unit = mapped
        else:
            unit = unit.copy()
            unit[missing] = mapped.to_numpy()
    return pd.DataFrame(
        {
            "endpoint_id": ep,
            "campaign": h["campaign"].astype("string") if "campaign" in h.columns else pd.NA,
            "created_at": created,
            "user_unit": ep if unit is None else unit.where(unit.notna(), ep),
        }
    )


def _users_of(endpoint_ids: pd.Series, endpoints: pd.DataFrame) -> pd.Series:
    """The ``User.UserId`` of each endpoint id (NA when unknown), probing the big frame once."""
    uniq = pc.unique(pa.array(endpoint_ids, type=pa.string()))
    all_ids = pa.array(endpoints["Id"].astype("string"), type=pa.string())
    where = pc.index_in(all_ids, value_set=uniq)  # position in uniq of each endpoint row
    rows = np.flatnonzero(pc.is_valid(where).to_numpy(zero_copy_only=False))
    user_of_uniq = np.full(len(uniq), None, dtype=object)
    slots = where.to_numpy(zero_copy_only=False)[rows].astype(np.int64)
    user_of_uniq[slots] = (
        endpoints["User.UserId"].astype("string").iloc[rows].to_numpy(dtype=object, na_value=None)
    )
    pos = pc.index_in(pa.array(endpoint_ids, type=pa.string()), value_set=uniq)
    out = user_of_uniq[pos.to_numpy(zero_copy_only=False).astype(np.int64)]
    return pd.Series(out, index=endpoint_ids.index, dtype="string")


def plan_counts(plan: pd.DataFrame) -> dict[str, int]:
    """Rows per status and per exclusion reason (zeros omitted)."""
    out: dict[str, int] = {"rows": len(plan)}
    out |= {f"status.{k}": int(v) for k, v in plan["status"].value_counts().items() if v}
    out |= {f"reason.{k}": int(v) for k, v in plan["reason"].value_counts().items() if v}
    return out


def reason_counts(plan: pd.DataFrame) -> pd.DataFrame:
    """Rows per treatment and outcome (``scheduled`` or the exclusion reason)."""
    outcome = plan["reason"].astype("string").fillna("SCHEDULED")
    return (
        pd.crosstab(plan["treatment_id"].astype("string"), outcome)
        .rename_axis(index="treatment_id", columns="outcome")
        .astype("int64")
    )


def allocation_check(plan: pd.DataFrame, campaign: Campaign, *, threshold: float = 0.001) -> Any:
    """SRM check of the plan's users per arm against the design (counts distinct users, so
    recurring runs concatenated by :func:`load_plans` count each user once)."""
    keys = unit_keys(
        units(pd.DataFrame({"Id": plan["endpoint_id"], "User.UserId": plan["user_id"]}))
    )
    _, first = np.unique(keys, return_index=True)
    arms = plan["treatment_id"].astype("string").to_numpy()[first]
    counts = pd.Series(arms).value_counts()
    return srm_check(counts, campaign.allocation().shares(), threshold=threshold)


def plan_direct(
    endpoints: pd.DataFrame,
    targets: Sequence[str],
    *,
    channel: Channel,
    template: str,
    template_version: int | None = None,
    now: datetime | str | pd.Timestamp,
    settings: ProjectSettings | None = None,
    suppressed: Iterable[str] | pd.DataFrame | pd.Series | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Plan a message now to up to 15 endpoint ids or addresses, through :func:`plan_campaign`.

    An address that matches no endpoint gets an ad-hoc endpoint (``Id`` = the address).
    Opt-outs and suppression still apply.
    """
    targets = [str(t) for t in targets]
    if not 1 <= len(targets) <= MAX_DIRECT:
        raise DefinitionError(
            f"direct messages go to 1–{MAX_DIRECT} endpoint ids or addresses, got {len(targets)}",
            path="Targets",
            kind="direct message",
        )
    slot = _TEMPLATE_SLOT[channel]
    if slot is None:
        raise DefinitionError(f"channel {channel} has no templates", path="Channel")
    alias = TemplateConfiguration.model_fields[slot].alias
    now_ts = to_utc(now, "UTC")
    digest = uuid.uuid5(uuid.NAMESPACE_URL, "|".join(targets)).hex[:8]
    rid = run_id or f"direct-{now_ts:%Y%m%dT%H%M%S%fZ}-{digest}"
    campaign = Campaign.parse(
        {
            "Name": "direct",
            "SegmentId": "direct",
            "Channel": channel,
            "Treatments": [
                {"TemplateConfiguration": {alias: {"Name": template, "Version": template_version}}}
            ],
        }
    )
    ids = (
        endpoints["Id"].astype("string") if "Id" in endpoints.columns else pd.Series(dtype="string")
    )
    addrs = endpoints["Address"].astype("string") if "Address" in endpoints.columns else ids
    hit = (ids.isin(targets) | addrs.isin(targets)).to_numpy(dtype=bool, na_value=False)
    found = set(ids[hit].dropna()) | set(addrs[hit].dropna())
    missing = [t for t in targets if t not in found]
    frame = endpoints
    if missing:
        from engagekit.endpoints import normalize_endpoints

        extra = normalize_endpoints(
            pd.DataFrame(
                {
                    "Id": missing,
                    "ChannelType": [_CHANNEL_ENDPOINTS[channel][0]] * len(missing),
                    "Address": missing,
                    "EndpointStatus": ["ACTIVE"] * len(missing),
                    "OptOut": ["NONE"] * len(missing),
                }
            )
        )
        frame = pd.concat([endpoints, extra], ignore_index=True)
        hit = np.concatenate([hit, np.ones(len(missing), dtype=bool)])
    return plan_campaign(
        campaign, frame, now_ts, settings=settings, audience=hit, suppressed=suppressed,
        run_id=rid,
    )  # fmt: skip
