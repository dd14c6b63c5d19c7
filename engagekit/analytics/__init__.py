"""Analytics over the event lake, in DuckDB SQL that Spark SQL runs too.

Every function takes a ``source`` — a :class:`~engagekit.Project` or a DuckDB connection with
``events``, ``endpoints`` and ``plans`` views (``engagekit.events.lake(project)``) — and returns
a pandas DataFrame small enough to read: the aggregation runs in DuckDB over the Parquet files,
never by loading events into pandas. Each result is drawable with ``plot(result)`` (the chart
is named in ``result.attrs["chart"]``); time series also plot with ``result.plot()``.

    >>> from engagekit import analytics
    >>> daily = analytics.usage(project, start="2026-10-01", end="2026-11-01")  # doctest: +SKIP
    >>> analytics.plot(daily)                                                  # doctest: +SKIP

Definitions (UTC days; a user is ``COALESCE(user_id, endpoint_id)``; "active" means a
``_session.start``):

* DAU / WAU / MAU — distinct active users on the day / in the trailing 7 / 30 days;
  sticky factor = DAU / MAU; new users — users whose first session ever is that day.
* Retention cohorts — users by first active day; ``retained_N`` are those active exactly N days
  later (``rolling=True``: on any day 1…N). The 7-day retention rate is the rolling share.
* Revenue — ``_monetization.purchase`` events, revenue = ``_quantity`` × ``_item_price``
  (quantity 1 when absent).
* Campaign metrics — distinct endpoints per (campaign, run, treatment) with a send, delivery,
  open, click, bounce, complaint or opt-out event; targeted users and the holdout come from the
  saved plans; sessions, purchases and revenue per allocated user since the run started.

Running the same SQL in Spark
-----------------------------
The queries use only what both engines share (CTEs, GROUP BY, window functions, CASE, COALESCE,
``count(DISTINCT …)``, ``map['key']``), with literals inlined; the few functions that differ are
spelled by a dialect (:mod:`engagekit.analytics._sql`). Get any query's Spark text with
``sql(name, dialect="spark", **params)`` and run it on the same Parquet::

    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.read.parquet("store/events/*/*/*/*/").createOrReplaceTempView("events")
    spark.read.parquet("store/endpoints.parquet").createOrReplaceTempView("endpoints")
    spark.read.parquet("store/plans/").createOrReplaceTempView("plans")
    spark.sql(analytics.sql("usage", dialect="spark", start="2026-10-01", end="2026-11-01"))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from engagekit.analytics import _queries as Q
from engagekit.analytics._plot import WEEKDAYS, plot
from engagekit.analytics._sql import DialectName, dialect, seconds

Source = Any  # a Project or a duckdb.DuckDBPyConnection with the lake views

DEMOGRAPHIC_COLUMNS = {
    "platform": "Demographic.Platform",
    "platform_version": "Demographic.PlatformVersion",
    "app_version": "Demographic.AppVersion",
    "model": "Demographic.Model",
    "make": "Demographic.Make",
    "locale": "Demographic.Locale",
    "timezone": "Demographic.Timezone",
    "country": "Location.Country",
    "region": "Location.Region",
    "city": "Location.City",
    "channel": "ChannelType",
}


class FunnelStep(BaseModel):
    """One funnel step: an event type, optionally narrowed by attribute and metric filters.

    >>> FunnelStep(event_type="view_item", attributes={"category": ["shoes", "outdoor"]}).label
    'view_item'
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str | None = Field(None, alias="Name")
    event_type: str = Field(alias="EventType", min_length=1)
    attributes: dict[str, str | list[str]] = Field(default_factory=dict, alias="Attributes")
    metrics: dict[str, Any] = Field(default_factory=dict, alias="Metrics")

    @property
    def label(self) -> str:
        return self.name or self.event_type


def _con(source: Source, start: Any = None, end: Any = None) -> duckdb.DuckDBPyConnection:
    """The source's connection; for a project, the lake narrowed to the hour partitions that
    overlap ``[start, end)`` (queries needing earlier history pass no range)."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        return source
    from engagekit.events import lake

    return lake(source, start=start, end=end)


def _run(source: Source, sql: str, start: Any = None, end: Any = None) -> pd.DataFrame:
    return _con(source, start, end).execute(sql).df()


def _dated(df: pd.DataFrame, col: str) -> pd.DataFrame:
    if col in df.columns:
        df[col] = pd.to_datetime(df[col])
        df = df.set_index(col).sort_index()
    return df


def _finish(
    df: pd.DataFrame, chart: str, title: str, columns: list[str] | None = None
) -> pd.DataFrame:
    df.attrs["chart"] = chart
    df.attrs["title"] = title
    if columns:
        df.attrs["plot_columns"] = columns
    return df


# -- SQL access ---------------------------------------------------------------------------------
def sql(name: str, dialect: DialectName = "duckdb", **params: Any) -> str:
    """The SQL text of one analytics query, for DuckDB or Spark SQL.

    ``name`` is one of ``usage``, ``retention``, ``heatmap``, ``countries``, ``demographics``,
    ``event_metrics``, ``revenue``, ``funnel``, ``campaign_metrics``, ``experiment_frame``;
    ``params`` are the matching function's keyword arguments.

    >>> print(sql("revenue", dialect="spark", start="2026-10-01"))  # doctest: +SKIP
    """
    d = _dialect(dialect)
    p = dict(params)
    start, end = p.pop("start", None), p.pop("end", None)
    if name == "usage":
        return Q.usage(d, start, end)
    if name == "retention":
        return Q.retention(
            d, start, end, tuple(p.get("days", (1, 7, 14, 30))), bool(p.get("rolling", False))
        )
    if name == "heatmap":
        return Q.heatmap(d, start, end, p.get("event_type", Q.SESSION))
    if name == "countries":
        return Q.countries(d, start, end)
    if name == "demographics":
        column, is_list = _demographic_column(p.get("dimension", "platform"))
        return Q.demographics(d, column, is_list, start, end, bool(p.get("active_only", False)))
    if name == "event_metrics":
        return Q.event_metrics(
            d,
            start,
            end,
            p.get("event_type"),
            p.get("attributes"),
            p.get("metrics"),
            p.get("metric"),
            p.get("by", "day"),
        )
    if name == "revenue":
        return Q.revenue(d, start, end, p.get("currency"), p.get("by", "day"))
    if name == "funnel":
        steps = [_step(s) for s in p["steps"]]
        return Q.funnel(
            d,
            [(s.event_type, s.attributes, s.metrics) for s in steps],
            start,
            end,
            seconds(p.get("window", "1D")),
            p.get("by"),
        )
    if name == "campaign_metrics":
        window = p.get("window")
        return Q.campaign_metrics(
            d,
            p.get("campaign"),
            p.get("run_id"),
            None if window is None else seconds(window),
            tuple(p.get("by", ("campaign", "run_id", "treatment_id"))),
        )
    if name == "experiment_frame":
        pre = p.get("pre_window")
        return Q.experiment_frame(
            d,
            p["campaign"],
            p.get("run_id"),
            _metric_specs(p.get("metrics", DEFAULT_EXPERIMENT_METRICS)),
            seconds(p.get("window", "7D")),
            None if pre is None else seconds(pre),
        )
    raise ValueError(f"unknown analytics query {name!r}")


def _dialect(name: DialectName) -> Any:
    return dialect(name)


# -- overview / usage ----------------------------------------------------------------------------
def usage(source: Source, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Daily usage: ``dau``, ``wau``, ``mau``, ``new_users``, ``sessions``,
    ``sessions_per_user``, ``sticky_factor`` (index: UTC day). Plot: lines of DAU/WAU/MAU."""
    df = _dated(_run(source, Q.usage(dialect("duckdb"), start, end)), "day")
    for c in ("dau", "wau", "mau", "new_users", "sessions"):
        df[c] = df[c].fillna(0).astype("int64")
    return _finish(df, "lines", "Daily, weekly and monthly active users", ["dau", "wau", "mau"])


def retention_cohorts(
    source: Source,
    start: Any = None,
    end: Any = None,
    days: Sequence[int] = (1, 7, 14, 30),
    *,
    rolling: bool = False,
) -> pd.DataFrame:
    """Daily cohorts (first active day in ``[start, end)``): ``users``, ``retained_N`` and
    ``rate_N`` for each N in ``days``; a rate is NaN while day N is not yet observed."""
    df = _run(source, Q.retention(dialect("duckdb"), start, end, tuple(days), rolling))
    observed = pd.to_datetime(df["observed_until"]).max() if len(df) else pd.NaT
    df = _dated(df.drop(columns="observed_until"), "cohort")
    df["users"] = df["users"].astype("int64")
    for n in days:
        rate = df[f"retained_{n}"] / df["users"]
        if pd.notna(observed):
            censored = np.asarray((df.index + pd.Timedelta(days=n)) > observed)
        else:
            censored = np.ones(len(df), dtype=bool)
        df[f"rate_{n}"] = rate.where(~censored)
    title = "Retention by cohort" + (" (rolling)" if rolling else "")
    return _finish(df, "cohorts", title)


def retention_rate(source: Source, start: Any = None, end: Any = None, days: int = 7) -> float:
    """Share of new users (first session in ``[start, end)``) active again within ``days`` days
    (cohorts not yet observed for ``days`` days are left out)."""
    df = retention_cohorts(source, start, end, days=(days,), rolling=True)
    done = df[df[f"rate_{days}"].notna()]
    total = int(done["users"].sum())
    return float(done[f"retained_{days}"].sum() / total) if total else float("nan")


def _heat(df: pd.DataFrame, title: str, value: str = "events") -> pd.DataFrame:
    grid = pd.DataFrame(
        0,
        index=pd.Index(WEEKDAYS, name="weekday"),
        columns=pd.Index(range(24), name="hour"),
        dtype="int64",
    )
    for wd, hr, v in df[["weekday", "hour", value]].itertuples(index=False):
        grid.iat[int(wd) - 1, int(hr)] = int(v)
    return _finish(grid, "heatmap", title)


def session_heatmap(
    source: Source, start: Any = None, end: Any = None, event_type: str = Q.SESSION
) -> pd.DataFrame:
    """Sessions by weekday × hour in each user's local time (``Demographic.Timezone`` of the
    event's endpoint, else of the user's endpoints, else UTC): a 7 × 24 frame."""
    df = _run(source, Q.heatmap(dialect("duckdb"), start, end, event_type), start, end)
    return _heat(df, f"{event_type} by local weekday and hour")


def countries(source: Source, start: Any = None, end: Any = None) -> pd.DataFrame:
    """Active users and sessions per country (the event's device country, else the endpoint's)."""
    df = _run(source, Q.countries(dialect("duckdb"), start, end), start, end).set_index("country")
    return _finish(df, "bars", "Active users by country", ["users"])


def overview(source: Source, start: Any = None, end: Any = None) -> pd.DataFrame:
    """The console's overview numbers for ``[start, end)``, one row per KPI (column ``value``)."""
    con = _con(source)
    daily = usage(con, start, end)
    ep = con.execute(
        'SELECT count(DISTINCT COALESCE("User.UserId", "Id")) AS users, '
        "count(DISTINCT CASE WHEN CAST(\"EndpointStatus\" AS VARCHAR) = 'ACTIVE' AND "
        "COALESCE(CAST(\"OptOut\" AS VARCHAR), 'NONE') = 'NONE' "
        'THEN COALESCE("User.UserId", "Id") END) AS targetable FROM endpoints'
    ).fetchone()
    active = con.execute(
        f"SELECT count(DISTINCT {Q.UID}) FROM events WHERE event_type = '{Q.SESSION}'"
        + "".join(" AND " + c for c in Q._time(dialect("duckdb"), start, end))
    ).fetchone()
    rev = revenue(con, start, end, by="total")
    values = {
        "targetable_users": float(ep[1]) if ep else 0.0,
        "total_users": float(ep[0]) if ep else 0.0,
        "active_users": float(active[0]) if active else 0.0,
        "new_users": float(daily["new_users"].sum()),
        "sessions": float(daily["sessions"].sum()),
        "sessions_per_user": float(daily["sessions"].sum() / active[0])
        if active and active[0]
        else float("nan"),
        "avg_dau": float(daily["dau"].mean()) if len(daily) else float("nan"),
        "mau": float(daily["mau"].iloc[-1]) if len(daily) else float("nan"),
        "sticky_factor": float(daily["sticky_factor"].mean()) if len(daily) else float("nan"),
        "retention_7d": retention_rate(con, start, end, 7),
        "revenue": float(rev["revenue"].sum()) if len(rev) else 0.0,
        "paying_users": float(rev["paying_users"].sum()) if len(rev) else 0.0,
    }
    df = pd.DataFrame({"value": values})
    df.index.name = "kpi"
    return _finish(df, "kpis", "Overview")


# -- demographics, events, revenue ---------------------------------------------------------------
def _demographic_column(dimension: str) -> tuple[str, bool]:
    if dimension in DEMOGRAPHIC_COLUMNS:
        return DEMOGRAPHIC_COLUMNS[dimension], False
    if dimension.startswith(("Attributes.", "User.UserAttributes.")):
        return dimension, True
    if "." in dimension:
        return dimension, False
    return f"Attributes.{dimension}", True


def demographics(
    source: Source,
    dimension: str = "platform",
    start: Any = None,
    end: Any = None,
    *,
    active_only: bool = False,
) -> pd.DataFrame:
    """Endpoints and users per value of a dimension: ``platform``, ``app_version``, ``model``,
    ``make``, ``country``, ``locale``, ... or a custom attribute (``"Attributes.plan"`` or just
    ``"plan"``; list values count once per item). ``active_only`` keeps endpoints with an event
    in ``[start, end)``."""
    column, is_list = _demographic_column(dimension)
    con = _con(source)
    known = {r[0] for r in con.execute("DESCRIBE endpoints").fetchall()}
    if column not in known:
        raise ValueError(
            f"the endpoints have no column {column!r}; dimensions: "
            f"{', '.join(DEMOGRAPHIC_COLUMNS)} or a custom attribute name"
        )
    df = _run(con, Q.demographics(dialect("duckdb"), column, is_list, start, end, active_only))
    df = df.set_index("value")
    total = df["endpoints"].sum()
    df["share"] = df["endpoints"] / total if total else np.nan
    return _finish(df, "bars", f"Endpoints by {dimension}", ["endpoints"])


def event_metrics(
    source: Source,
    event_type: str | Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    *,
    attributes: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    metric: str | None = None,
    by: str = "day",
) -> pd.DataFrame:
    """Event count, users, sessions and events per session, per day (``by="day"``), per event
    type (``"type"``), in total (``"total"``) or per value of a flat column or attribute
    (``"platform"``, ``"category"``, …), for events matching the attribute and metric filters;
    with ``metric`` also its min / max / avg / sum.

    >>> event_metrics(project, "view_item", attributes={"category": "shoes"},  # doctest: +SKIP
    ...               metrics={"dwell_seconds": (">=", 10)}, metric="dwell_seconds")
    """
    if not by:
        raise ValueError("by must be 'day', 'type', 'total', a column or an attribute name")
    sql_text = Q.event_metrics(
        dialect("duckdb"), start, end, event_type, attributes, metrics, metric, by
    )
    df = _run(source, sql_text, start, end)
    df = _dated(df, "day") if by == "day" else df.set_index(df.columns[0])
    label = event_type if isinstance(event_type, str) else "events"
    return _finish(df, "lines" if by == "day" else "bars", f"{label} per {by}", ["events"])


def revenue(
    source: Source,
    start: Any = None,
    end: Any = None,
    *,
    by: Literal["day", "total"] = "day",
    currency: str | None = None,
) -> pd.DataFrame:
    """Revenue, active users, revenue per user, paying users, revenue per paying user, units,
    revenue per unit, purchases and units per purchase, per day or in total."""
    df = _run(source, Q.revenue(dialect("duckdb"), start, end, currency, by), start, end)
    df = _dated(df, "day") if by == "day" else df.set_index("period")
    for c in ("active_users", "paying_users", "purchases"):
        df[c] = df[c].fillna(0).astype("int64")
    return _finish(df, "lines" if by == "day" else "kpis", "Revenue", ["revenue"])


# -- funnels -------------------------------------------------------------------------------------
def _step(step: str | Mapping[str, Any] | FunnelStep) -> FunnelStep:
    if isinstance(step, FunnelStep):
        return step
    if isinstance(step, str):
        return FunnelStep.model_validate({"event_type": step})
    return FunnelStep.model_validate(dict(step))


def _funnel_columns(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Conversion columns of one funnel (rows = steps 1..k, complete)."""
    df = df.copy()
    df.insert(0, "name", names)
    users = df["users"].astype("int64")
    df["users"] = users
    first = users.iloc[0]
    prev = users.shift(1)
    df["conversion"] = users / first if first else np.nan
    df["from_previous"] = (users / prev).where(prev > 0)
    df["drop_off"] = (prev - users).fillna(0).astype("int64")
    df["drop_off_rate"] = (1 - df["from_previous"]).where(prev > 0)
    return df[
        ["name", "users", "conversion", "from_previous", "drop_off", "drop_off_rate", "avg_seconds"]
    ]


def funnel(
    source: Source,
    steps: Sequence[str | Mapping[str, Any] | FunnelStep],
    start: Any = None,
    end: Any = None,
    *,
    window: Any = "1D",
    by: str | None = None,
) -> pd.DataFrame:
    """Users through ordered steps: a user enters with their first step-1 event in
    ``[start, end)`` and reaches step k with a step-k event after step k-1, within ``window``
    ('30min', '1D', a timedelta or seconds) of entering. Columns: ``name``, ``users``,
    ``conversion`` (from step 1), ``from_previous``, ``drop_off``, ``drop_off_rate``,
    ``avg_seconds`` (from the previous step).

    ``by`` breaks the funnel down by a value of the entry event — a flat column (``platform``,
    ``country``, ``app_version``, ``treatment_id``, …) or an attribute name — giving one funnel
    per value, indexed by (value, step).

    >>> funnel(project, ["view_item", "add_to_cart",                  # doctest: +SKIP
    ...        {"event_type": "checkout_start"}, "_monetization.purchase"], window="1h",
    ...        by="platform")
    """
    parsed = [_step(s) for s in steps]
    if len(parsed) < 2:
        raise ValueError("a funnel needs at least two steps")
    sql_text = Q.funnel(
        dialect("duckdb"),
        [(s.event_type, s.attributes, s.metrics) for s in parsed],
        start,
        end,
        seconds(window),
        by,
    )
    horizon = None if end is None else pd.Timestamp(end) + pd.Timedelta(seconds=seconds(window))
    raw = _run(source, sql_text, start, horizon)
    names = [s.label for s in parsed]
    steps_index = pd.RangeIndex(1, len(parsed) + 1, name="step")
    if by is None:
        df = _funnel_columns(raw.set_index("step"), names)
        return _finish(df, "funnel", "Funnel")
    parts = []
    for value, part in raw.groupby("grp", sort=True):
        full = part.set_index("step")[["users", "avg_seconds"]].reindex(steps_index)
        full["users"] = full["users"].fillna(0)
        part_df = _funnel_columns(full, names)
        part_df.insert(0, by, value)
        parts.append(part_df.set_index(by, append=True).reorder_levels([by, "step"]))
    if parts:
        df = pd.concat(parts)
    else:
        empty = _funnel_columns(
            pd.DataFrame({"users": 0, "avg_seconds": np.nan}, index=steps_index), names
        )
        df = empty.iloc[0:0].set_index(pd.MultiIndex.from_arrays([[], []], names=[by, "step"]))
    df = df.sort_values([by, "step"]) if len(df) else df
    return _finish(df, "funnel", f"Funnel by {by}")


# -- campaigns -----------------------------------------------------------------------------------
def campaign_metrics(
    source: Source,
    campaign: str | Sequence[str] | None = None,
    run_id: str | Sequence[str] | None = None,
    *,
    by: Sequence[str] = ("campaign", "run_id", "treatment_id"),
    window: Any = None,
) -> pd.DataFrame:
    """Campaign metrics per campaign / run / treatment (``by`` picks the level; the holdout is
    its own row with ``treatment_id == "holdout"``): targeted, sent, delivered, delivery rate,
    opens and open rate, clicks and click rate, bounces, complaints, opt-outs and opt-out rate,
    then sessions, purchases, conversion and revenue per allocated user since the run started
    (within ``window`` of it when given)."""
    unknown = set(by) - {"campaign", "run_id", "treatment_id"}
    if unknown:
        raise ValueError(f"by takes campaign, run_id, treatment_id; not {sorted(unknown)}")
    sql_text = Q.campaign_metrics(
        dialect("duckdb"), campaign, run_id, None if window is None else seconds(window), tuple(by)
    )
    df = _run(source, sql_text)
    keys = [k for k in ("campaign", "run_id", "treatment_id") if k in by] or ["campaign"]
    df = df.set_index(keys)
    df["holdout"] = df["holdout"].fillna(0).astype(bool)
    counts = [
        "targeted",
        "users",
        "scheduled",
        "sent",
        "delivered",
        "opens",
        "total_opens",
        "clicks",
        "total_clicks",
        "bounces",
        "complaints",
        "opt_outs",
        "failures",
        "sessions",
        "purchases",
        "purchasers",
    ]
    for c in counts:
        df[c] = df[c].fillna(0).astype("int64")
    return _finish(df, "campaign", "Campaign metrics")


def campaign_heatmap(
    source: Source,
    campaign: str,
    run_id: str | Sequence[str] | None = None,
    treatment_id: str | Sequence[str] | None = None,
    *,
    window: Any = None,
    event_type: str = Q.SESSION,
) -> pd.DataFrame:
    """Sessions of the campaign's allocated users since its run started, by local weekday ×
    hour (Pinpoint's campaign session heat map)."""
    d = dialect("duckdb")
    users = Q.campaign_users(
        d, campaign, run_id, treatment_id, None if window is None else seconds(window)
    )
    df = _run(source, Q.heatmap(d, None, None, event_type, users_cte=users))
    return _heat(df, f"{campaign}: {event_type} by local weekday and hour")


DEFAULT_EXPERIMENT_METRICS = ("sessions", "purchases", "revenue", "conversion")


def _metric_specs(metrics: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    if isinstance(metrics, Mapping):
        return dict(metrics)
    return {m: m for m in metrics}


def experiment_frame(
    source: Source,
    campaign: str,
    metrics: Sequence[str] | Mapping[str, str] = DEFAULT_EXPERIMENT_METRICS,
    window: Any = "7D",
    *,
    run_id: str | Sequence[str] | None = None,
    pre_window: Any = None,
) -> pd.DataFrame:
    """One row per user allocated to ``campaign`` (every plan row: treatments, excluded rows and
    the holdout — intention to treat), with ``arm`` (treatment id or ``"holdout"``), ``since``
    (the user's scheduled send time) and per-user metric values from events in
    ``[since, since + window)``: built-ins ``sessions``, ``purchases``, ``revenue`` (means),
    ``conversion``, ``active`` (0/1), or any event type (its count); ``{"column": spec}`` names
    them. ``pre_window`` adds ``<metric>_pre`` from ``[since - pre_window, since)`` (CUPED).

    ``frame.attrs["metrics"]`` maps each metric to ``"mean"`` or ``"proportion"``, ready for
    ``engagekit.stats.analyze(frame, metrics=frame.attrs["metrics"], pre=...)``.
    """
    specs = _metric_specs(metrics)
    sql_text = Q.experiment_frame(
        dialect("duckdb"),
        campaign,
        run_id,
        specs,
        seconds(window),
        None if pre_window is None else seconds(pre_window),
    )
    df = _run(source, sql_text)
    df["holdout"] = df["holdout"].astype(bool)
    df["scheduled"] = df["scheduled"].astype(bool)
    df["arm"] = df["arm"].astype("string")
    for name in specs:
        for col in (name, f"{name}_pre"):
            if col in df.columns:
                df[col] = df[col].fillna(0).astype("float64")
    df.attrs["metrics"] = {
        name: (Q.EXPERIMENT_METRICS[spec][1] if spec in Q.EXPERIMENT_METRICS else "mean")
        for name, spec in specs.items()
    }
    df.attrs["campaign"] = campaign
    return df


__all__ = [
    "DEMOGRAPHIC_COLUMNS",
    "FunnelStep",
    "campaign_heatmap",
    "campaign_metrics",
    "countries",
    "demographics",
    "event_metrics",
    "experiment_frame",
    "funnel",
    "overview",
    "plot",
    "retention_cohorts",
    "retention_rate",
    "revenue",
    "session_heatmap",
    "sql",
    "usage",
]
