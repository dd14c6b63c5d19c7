"""SQL text of every analytics query, built for a :class:`Dialect` (DuckDB or Spark SQL).

Each builder returns one ``WITH … SELECT`` over the ``events``, ``endpoints`` and ``plans``
views. Identity: a user is ``COALESCE(user_id, endpoint_id)`` (events of an anonymous
endpoint count as that endpoint's). Days are UTC calendar days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from engagekit.analytics._sql import Dialect, filters_sql, in_list, lit

UID = "COALESCE(user_id, endpoint_id)"
SESSION = "_session.start"
PURCHASE = "_monetization.purchase"

#: Event types counted as each campaign outcome (distinct endpoints per run and treatment).
#: Push and custom channels report acceptance by the provider (``_push.send``,
#: ``_custom.send``) as delivery, as Pinpoint's console does for push.
SEND_TYPES = ("_campaign.send", "_journey.send")
DELIVERED_TYPES = (
    "_email.delivered",
    "_push.send",
    "_custom.send",
    "_SMS.SUCCESS",
    "_VOICE.SUCCESS",
    "_voice.success",
    "_push.delivered",
    "_campaign.received_foreground",
    "_campaign.received_background",
    "_custom.delivered",
)
OPEN_TYPES = ("_email.open", "_campaign.opened_notification", "_push.open")
CLICK_TYPES = ("_email.click",)
BOUNCE_TYPES = ("_email.hardbounce", "_email.softbounce")
COMPLAINT_TYPES = ("_email.complaint",)
OPT_OUT_TYPES = ("_email.unsubscribe", "_SMS.OPTOUT", "_VOICE.OPTOUT")
FAILED_TYPES = (
    "_email.rejected",
    "_email.rendering_failure",
    "_SMS.FAILURE",
    "_VOICE.FAILURE",
    "_push.failure",
    "_custom.failure",
)


def _time(d: Dialect, start: Any, end: Any, col: str = "event_timestamp") -> list[str]:
    out = []
    if start is not None:
        out.append(f"{col} >= {d.ts(start)}")
    if end is not None:
        out.append(f"{col} < {d.ts(end)}")
    return out


def _where(conds: Sequence[str]) -> str:
    return ("WHERE " + " AND ".join(conds)) if conds else ""


def _active_days(d: Dialect, start: Any, end: Any, event_types: Sequence[str]) -> str:
    conds = [in_list("event_type", event_types), *_time(d, start, end)]
    return (
        f"SELECT DISTINCT {d.key(UID)} AS uid, {d.day('event_timestamp')} AS day "
        f"FROM events {_where(conds)}"
    )


def _coverage(d: Dialect, name: str, window: int) -> str:
    """Users active in the trailing ``window`` days, per day, from the ``nb`` CTE.

    A user's activity days form blocks (a gap of ``window`` days or more starts a new one); a
    block covers [first day, last day + window): +1 at a block's first day, -1 ``window`` days
    after its last, summed in day order. ``nb`` holds each activity day's previous and next.
    """
    return f"""
{name}_edges AS (
  SELECT day, 1 AS delta FROM nb
  WHERE prev IS NULL OR {d.days_between("prev", "day")} >= {window}
  UNION ALL
  SELECT {d.add_days("day", window)} AS day, -1 AS delta FROM nb
  WHERE nxt IS NULL OR {d.days_between("day", "nxt")} >= {window}
  UNION ALL
  SELECT day, 0 AS delta FROM cal),
{name} AS (
  SELECT day, sum(sum(delta)) OVER (ORDER BY day
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS {name}
  FROM {name}_edges GROUP BY day)"""


def usage(d: Dialect, start: Any, end: Any, active_types: Sequence[str] = (SESSION,)) -> str:
    """Per UTC day: DAU, WAU, MAU, new users, sessions, sessions per user, sticky factor."""
    lookback = None if start is None else pd.Timestamp(start) - pd.Timedelta(days=30)
    conds = [in_list("event_type", active_types), *_time(d, None, end)]
    return f"""
WITH act_all AS (
  SELECT {d.key(UID)} AS uid, {d.day("event_timestamp")} AS day,
    count(CASE WHEN event_type = {lit(SESSION)} THEN 1 END) AS n
  FROM events {_where(conds)}
  GROUP BY {d.key(UID)}, {d.day("event_timestamp")}),
first_seen AS (SELECT uid, min(day) AS first_day FROM act_all GROUP BY uid),
act AS (SELECT uid, day FROM act_all {_where(_time(d, lookback, None, "day"))}),
cal AS (SELECT DISTINCT day FROM act {_where(_time(d, start, end, "day"))}),
sess AS (SELECT day, sum(n) AS sessions FROM act_all GROUP BY day),
dau AS (SELECT day, count(*) AS dau FROM act GROUP BY day),
new_users AS (SELECT first_day AS day, count(*) AS new_users FROM first_seen GROUP BY first_day),
nb AS (
  SELECT day,
    lag(day) OVER (PARTITION BY uid ORDER BY day) AS prev,
    lead(day) OVER (PARTITION BY uid ORDER BY day) AS nxt
  FROM act),
{_coverage(d, "wau", 7)},
{_coverage(d, "mau", 30)}
SELECT cal.day AS day,
  COALESCE(dau.dau, 0) AS dau,
  wau.wau AS wau,
  mau.mau AS mau,
  COALESCE(new_users.new_users, 0) AS new_users,
  COALESCE(sess.sessions, 0) AS sessions,
  CASE WHEN dau.dau > 0 THEN COALESCE(sess.sessions, 0) / CAST(dau.dau AS DOUBLE) END
    AS sessions_per_user,
  CASE WHEN mau.mau > 0 THEN COALESCE(dau.dau, 0) / CAST(mau.mau AS DOUBLE) END
    AS sticky_factor
FROM cal
LEFT JOIN dau ON dau.day = cal.day
LEFT JOIN wau ON wau.day = cal.day
LEFT JOIN mau ON mau.day = cal.day
LEFT JOIN new_users ON new_users.day = cal.day
LEFT JOIN sess ON sess.day = cal.day
ORDER BY day"""


def retention(
    d: Dialect,
    start: Any,
    end: Any,
    days: Sequence[int],
    rolling: bool,
    active_types: Sequence[str] = (SESSION,),
) -> str:
    """Cohorts by first active day in [start, end): size and users active N days later."""
    horizon = None
    if end is not None:
        horizon = pd.Timestamp(end) + pd.Timedelta(days=max(days) + 1)
    cols = []
    for n in days:
        cond = f"n BETWEEN 1 AND {int(n)}" if rolling else f"n = {int(n)}"
        cols.append(f"count(DISTINCT CASE WHEN {cond} THEN uid END) AS retained_{int(n)}")
    return f"""
WITH act AS ({_active_days(d, None, horizon, active_types)}),
first_seen AS (SELECT uid, min(day) AS cohort FROM act GROUP BY uid),
j AS (
  SELECT f.cohort, f.uid, {d.days_between("f.cohort", "a.day")} AS n
  FROM first_seen f JOIN act a ON a.uid = f.uid
  {_where(_time(d, start, end, "f.cohort"))})
SELECT cohort, count(DISTINCT uid) AS users,
  {", ".join(cols)},
  (SELECT max(day) FROM act) AS observed_until
FROM j GROUP BY cohort ORDER BY cohort"""


def _tz_join(d: Dialect, alias: str = "e") -> tuple[str, str]:
    """CTEs and a JOIN giving each event its user's time zone (endpoint first, then user)."""
    ctes = f"""
ep_tz AS (
  SELECT {d.q("Id")} AS endpoint_id, {d.q("User.UserId")} AS user_id,
    CAST({d.q("Demographic.Timezone")} AS STRING) AS tz
  FROM endpoints),
user_tz AS (
  SELECT user_id, min(tz) AS tz FROM ep_tz
  WHERE user_id IS NOT NULL AND tz IS NOT NULL GROUP BY user_id)"""
    joins = (
        f"LEFT JOIN ep_tz ON ep_tz.endpoint_id = {alias}.endpoint_id "
        f"LEFT JOIN user_tz ON user_tz.user_id = {alias}.user_id"
    )
    return ctes, joins


def heatmap(
    d: Dialect,
    start: Any,
    end: Any,
    event_type: str = SESSION,
    users_cte: str | None = None,
) -> str:
    """Event counts by local ISO weekday (1 = Monday) and local hour."""
    ctes, joins = _tz_join(d)
    conds = [f"e.event_type = {lit(event_type)}", *_time(d, start, end, "e.event_timestamp")]
    users_join = ""
    if users_cte is not None:
        ctes += f",\nsel AS ({users_cte})"
        users_join = "JOIN sel ON sel.uid = COALESCE(e.user_id, e.endpoint_id) "
        conds.append("e.event_timestamp >= sel.since")
        conds.append("(sel.until IS NULL OR e.event_timestamp < sel.until)")
    local = d.local("e.event_timestamp", "COALESCE(ep_tz.tz, user_tz.tz, 'UTC')")
    return f"""
WITH {ctes.strip()},
loc AS (
  SELECT {local} AS lt FROM events e {users_join}{joins}
  {_where(conds)})
SELECT {d.isodow("lt")} AS weekday, {d.hour("lt")} AS hour, count(*) AS events
FROM loc GROUP BY {d.isodow("lt")}, {d.hour("lt")}"""


def countries(d: Dialect, start: Any, end: Any) -> str:
    conds = [f"e.event_type = {lit(SESSION)}", *_time(d, start, end, "e.event_timestamp")]
    return f"""
WITH ep AS (
  SELECT {d.q("Id")} AS endpoint_id, CAST({d.q("Location.Country")} AS STRING) AS country
  FROM endpoints),
s AS (
  SELECT COALESCE(e.country, ep.country, 'unknown') AS country,
    {d.key("COALESCE(e.user_id, e.endpoint_id)")} AS uid
  FROM events e LEFT JOIN ep ON ep.endpoint_id = e.endpoint_id
  {_where(conds)})
SELECT country, count(DISTINCT uid) AS users, count(*) AS sessions
FROM s GROUP BY country ORDER BY users DESC, country"""


def demographics(
    d: Dialect, column: str, is_list: bool, start: Any, end: Any, active_only: bool
) -> str:
    value = d.unnest(d.q(column)) if is_list else f"CAST({d.q(column)} AS STRING)"
    active = ""
    if active_only:
        conds = _time(d, start, end)
        active = (
            f"\n  WHERE {d.q('Id')} IN (SELECT DISTINCT endpoint_id FROM events {_where(conds)})"
        )
    return f"""
WITH v AS (
  SELECT {d.q("Id")} AS endpoint_id, COALESCE({d.q("User.UserId")}, {d.q("Id")}) AS uid,
    {value} AS value
  FROM endpoints{active})
SELECT COALESCE(value, 'unknown') AS value, count(DISTINCT endpoint_id) AS endpoints,
  count(DISTINCT uid) AS users
FROM v GROUP BY COALESCE(value, 'unknown') ORDER BY endpoints DESC, value"""


def event_metrics(
    d: Dialect,
    start: Any,
    end: Any,
    event_type: str | Sequence[str] | None,
    attributes: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    metric: str | None,
    interval: str,
) -> str:
    from engagekit.analytics._sql import metric_expr

    conds = list(_time(d, start, end))
    if event_type is not None:
        types = [event_type] if isinstance(event_type, str) else list(event_type)
        conds.append(in_list("event_type", types))
    conds += filters_sql(attributes, metrics)
    key = "event_type" if interval == "type" else d.day("event_timestamp")
    label = "event_type" if interval == "type" else "day"
    if interval not in ("type", "day", "total"):  # a column or attribute breakdown
        key, label = f"COALESCE(CAST({_by_expr(interval)} AS STRING), 'unknown')", "value"
    if interval == "total":
        key, label = "'all'", "period"
    agg = ""
    if metric is not None:
        m = metric_expr(metric)
        agg = (
            f",\n  min({m}) AS metric_min, max({m}) AS metric_max, avg({m}) AS metric_avg,"
            f" sum({m}) AS metric_sum, count({m}) AS metric_count"
        )
    return f"""
SELECT {key} AS {label}, count(*) AS events, count(DISTINCT {d.key(UID)}) AS users,
  count(DISTINCT session_id) AS sessions,
  CASE WHEN count(DISTINCT session_id) > 0
    THEN count(*) / CAST(count(DISTINCT session_id) AS DOUBLE) END AS events_per_session{agg}
FROM events {_where(conds)}
GROUP BY {key} ORDER BY {label}"""


def revenue(d: Dialect, start: Any, end: Any, currency: str | None, interval: str) -> str:
    pconds = [f"event_type = {lit(PURCHASE)}", *_time(d, start, end)]
    if currency is not None:
        pconds.append(f"currency = {lit(currency)}")
    key = d.day("event_timestamp") if interval == "day" else "'all'"
    label = "day" if interval == "day" else "period"
    return f"""
WITH p AS (
  SELECT {key} AS k, {d.key(UID)} AS uid, COALESCE(quantity, 1) AS units,
    COALESCE(quantity, 1) * COALESCE(item_price, 0) AS revenue
  FROM events {_where(pconds)}),
a AS (
  SELECT {key} AS k, count(DISTINCT {d.key(UID)}) AS active_users
  FROM events {_where([f"event_type = {lit(SESSION)}", *_time(d, start, end)])}
  GROUP BY {key}),
r AS (
  SELECT k, sum(revenue) AS revenue, count(*) AS purchases, sum(units) AS units,
    count(DISTINCT uid) AS paying_users
  FROM p GROUP BY k)
SELECT COALESCE(r.k, a.k) AS {label},
  COALESCE(r.revenue, 0) AS revenue,
  COALESCE(a.active_users, 0) AS active_users,
  CASE WHEN a.active_users > 0 THEN COALESCE(r.revenue, 0) / a.active_users END
    AS revenue_per_user,
  COALESCE(r.paying_users, 0) AS paying_users,
  CASE WHEN r.paying_users > 0 THEN r.revenue / r.paying_users END AS revenue_per_paying_user,
  COALESCE(r.units, 0) AS units,
  CASE WHEN r.units > 0 THEN r.revenue / r.units END AS revenue_per_unit,
  COALESCE(r.purchases, 0) AS purchases,
  CASE WHEN r.purchases > 0 THEN r.units / CAST(r.purchases AS DOUBLE) END
    AS units_per_purchase
FROM r FULL OUTER JOIN a ON a.k = r.k
ORDER BY {label}"""


def funnel(
    d: Dialect,
    steps: Sequence[tuple[str, Mapping[str, Any] | None, Mapping[str, Any] | None]],
    start: Any,
    end: Any,
    window_seconds: float,
    by: str | None = None,
) -> str:
    """Users reaching each ordered step, each after the previous one and within the window
    from the first step (entry = a user's first step-1 event in [start, end)). With ``by`` (a
    flat column or an attribute name) users are grouped by its value on their entry event."""
    # one scan of the lake: every step's events, flagged by the step(s) they match
    horizon = None if end is None else pd.Timestamp(end) + pd.Timedelta(seconds=window_seconds)
    matches = []
    for etype, attrs, metrics in steps:
        conds = [f"event_type = {lit(etype)}", *filters_sql(attrs, metrics)]
        matches.append("(" + " AND ".join(conds) + ")")
    flags = ", ".join(f"COALESCE({m}, false) AS m{i}" for i, m in enumerate(matches, start=1))
    scan = [in_list("event_type", sorted({s[0] for s in steps})), *_time(d, start, horizon)]
    group = "" if by is None else f", COALESCE(CAST({_by_expr(by)} AS STRING), 'unknown') AS g"
    ctes = [
        f"fe AS (SELECT {d.key(UID)} AS uid, event_timestamp AS t, {flags}{group} "
        f"FROM events {_where(scan)})"
    ]
    carry = "" if by is None else ", min(p.g) AS g"
    for i in range(1, len(steps) + 1):
        first = " AND " + " AND ".join(_time(d, None, end, "t")) if i == 1 and end else ""
        cols = "uid, t" + (", g" if by is not None and i == 1 else "")
        ctes.append(f"e{i} AS (SELECT {cols} FROM fe WHERE m{i}{first})")
        if i == 1:
            entry = "" if by is None else f", {d.arg_min('g', 't')} AS g"
            ctes.append(
                f"s1 AS (SELECT uid, min(t) AS t0, min(t) AS t{entry} FROM e1 GROUP BY uid)"
            )
        else:
            ctes.append(
                f"s{i} AS (SELECT p.uid, min(p.t0) AS t0, min(x.t) AS t, "
                f"min(p.t) AS t_prev{carry} FROM s{i - 1} p JOIN e{i} x ON x.uid = p.uid "
                f"AND x.t >= p.t AND x.t <= {d.add_seconds('p.t0', window_seconds)} "
                f"GROUP BY p.uid)"
            )
    epoch = (lambda c: f"unix_seconds({c})") if d.name == "spark" else (lambda c: f"epoch({c})")
    selects = []
    for i in range(1, len(steps) + 1):
        avg = "CAST(NULL AS DOUBLE)" if i == 1 else f"avg({epoch('t')} - {epoch('t_prev')})"
        if by is None:
            selects.append(f"SELECT {i} AS step, count(*) AS users, {avg} AS avg_seconds FROM s{i}")
        else:
            selects.append(
                f"SELECT g AS grp, {i} AS step, count(*) AS users, {avg} AS avg_seconds "
                f"FROM s{i} GROUP BY g"
            )
    order = "step" if by is None else "grp, step"
    return "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL\n".join(selects) + f"\nORDER BY {order}"


#: Flat lake columns a funnel or event breakdown can group by.
BY_COLUMNS = (
    "platform",
    "app_version",
    "make",
    "model",
    "country",
    "locale",
    "channel_type",
    "campaign_id",
    "run_id",
    "treatment_id",
    "journey_id",
    "app_id",
    "event_version",
)


def _by_expr(by: str) -> str:
    from engagekit.analytics._sql import attribute_expr

    return by if by in BY_COLUMNS else attribute_expr(by)


def _plans_filter(
    campaign: str | Sequence[str] | None, run_id: str | Sequence[str] | None
) -> list[str]:
    conds = []
    if campaign is not None:
        conds.append(in_list("campaign", [campaign] if isinstance(campaign, str) else campaign))
    if run_id is not None:
        conds.append(in_list("run_id", [run_id] if isinstance(run_id, str) else run_id))
    return conds


def campaign_metrics(
    d: Dialect,
    campaign: str | Sequence[str] | None,
    run_id: str | Sequence[str] | None,
    window_seconds: float | None,
    by: Sequence[str],
) -> str:
    pconds = _plans_filter(campaign, run_id)
    econds = []
    if campaign is not None:
        econds.append(in_list("campaign_id", [campaign] if isinstance(campaign, str) else campaign))
    if run_id is not None:
        econds.append(in_list("run_id", [run_id] if isinstance(run_id, str) else run_id))
    econds.append("run_id IS NOT NULL")
    message_types = (
        SEND_TYPES
        + DELIVERED_TYPES
        + OPEN_TYPES
        + CLICK_TYPES
        + BOUNCE_TYPES
        + COMPLAINT_TYPES
        + OPT_OUT_TYPES
        + FAILED_TYPES
    )
    econds.append(in_list("event_type", message_types))

    def flag(types: Sequence[str], extra: str = "") -> str:
        return f"max(CASE WHEN {in_list('event_type', types)}{extra} THEN 1 ELSE 0 END)"

    def times(types: Sequence[str]) -> str:
        return f"count(CASE WHEN {in_list('event_type', types)} THEN 1 END)"

    sent_ok = (
        " AND (event_type <> '_campaign.send' OR attributes['campaign_send_status'] IS NULL"
        " OR attributes['campaign_send_status'] = 'SUCCESS')"
    )
    until = (
        ""
        if window_seconds is None
        else f" AND e.event_timestamp < {d.add_seconds('u.since', window_seconds)}"
    )
    keys = ("campaign", "run_id", "treatment_id")
    group = [k for k in keys if k in by]
    sel = ", ".join(f"b.{k}" for k in group) if group else "'all' AS campaign"
    grp = ("GROUP BY " + ", ".join(f"b.{k}" for k in group)) if group else ""
    order = ("ORDER BY " + ", ".join(group)) if group else ""

    def ratio(num: str, den: str) -> str:
        return f"CASE WHEN sum({den}) > 0 THEN sum({num}) / CAST(sum({den}) AS DOUBLE) END"

    uid = d.key("COALESCE(user_id, endpoint_id)")
    return f"""
WITH alloc AS (
  SELECT campaign, run_id, treatment_id, CAST(holdout AS BOOLEAN) AS holdout, status,
    endpoint_id, {uid} AS uid, due_at
  FROM plans {_where(pconds)}),
run_start AS (SELECT run_id, min(due_at) AS started FROM alloc GROUP BY run_id),
targeted AS (
  SELECT campaign, run_id, treatment_id, max(CASE WHEN holdout THEN 1 ELSE 0 END) AS holdout,
    count(DISTINCT endpoint_id) AS targeted, count(DISTINCT uid) AS users,
    count(DISTINCT CASE WHEN status = 'scheduled' THEN endpoint_id END) AS scheduled
  FROM alloc GROUP BY campaign, run_id, treatment_id),
per_endpoint AS (
  SELECT campaign_id, run_id, treatment_id, endpoint_id,
    {flag(SEND_TYPES, sent_ok)} AS sent, {flag(DELIVERED_TYPES)} AS delivered,
    {flag(OPEN_TYPES)} AS opened, {times(OPEN_TYPES)} AS n_opens,
    {flag(CLICK_TYPES)} AS clicked, {times(CLICK_TYPES)} AS n_clicks,
    {flag(BOUNCE_TYPES)} AS bounced, {flag(COMPLAINT_TYPES)} AS complained,
    {flag(OPT_OUT_TYPES)} AS opted_out, {flag(FAILED_TYPES)} AS failed,
    min(event_timestamp) AS first_event
  FROM events {_where(econds)}
  GROUP BY campaign_id, run_id, treatment_id, endpoint_id),
msg AS (
  SELECT campaign_id AS campaign, run_id, treatment_id,
    sum(sent) AS sent, sum(delivered) AS delivered, sum(opened) AS opens,
    sum(n_opens) AS total_opens, sum(clicked) AS clicks, sum(n_clicks) AS total_clicks,
    sum(bounced) AS bounces, sum(complained) AS complaints, sum(opted_out) AS opt_outs,
    sum(failed) AS failures, min(first_event) AS first_event
  FROM per_endpoint GROUP BY campaign_id, run_id, treatment_id),
users AS (
  SELECT DISTINCT a.campaign, a.run_id, a.treatment_id, a.uid,
    COALESCE(r.started, m.first_event) AS since
  FROM alloc a LEFT JOIN run_start r ON r.run_id = a.run_id
  LEFT JOIN (SELECT run_id, min(first_event) AS first_event FROM msg GROUP BY run_id) m
    ON m.run_id = a.run_id),
app AS (
  SELECT {uid} AS uid, event_type, event_timestamp, quantity, item_price
  FROM events
  WHERE event_type IN ({lit(SESSION)}, {lit(PURCHASE)})
    AND event_timestamp >= (SELECT min(since) FROM users)),
beh AS (
  SELECT u.campaign, u.run_id, u.treatment_id,
    count(CASE WHEN e.event_type = {lit(SESSION)} THEN 1 END) AS sessions,
    count(CASE WHEN e.event_type = {lit(PURCHASE)} THEN 1 END) AS purchases,
    sum(CASE WHEN e.event_type = {lit(PURCHASE)}
      THEN COALESCE(e.quantity, 1) * COALESCE(e.item_price, 0) ELSE 0 END) AS revenue,
    count(DISTINCT CASE WHEN e.event_type = {lit(PURCHASE)} THEN u.uid END) AS purchasers
  FROM users u JOIN app e ON e.uid = u.uid
    AND e.event_timestamp >= u.since{until}
  GROUP BY u.campaign, u.run_id, u.treatment_id),
k AS (
  SELECT campaign, run_id, treatment_id FROM targeted
  UNION SELECT campaign, run_id, treatment_id FROM msg),
b AS (
  SELECT k.campaign, k.run_id, k.treatment_id,
    COALESCE(t.holdout, 0) AS holdout, COALESCE(t.targeted, 0) AS targeted,
    COALESCE(t.users, 0) AS users, COALESCE(t.scheduled, 0) AS scheduled,
    COALESCE(m.sent, 0) AS sent, COALESCE(m.delivered, 0) AS delivered,
    COALESCE(m.opens, 0) AS opens, COALESCE(m.total_opens, 0) AS total_opens,
    COALESCE(m.clicks, 0) AS clicks, COALESCE(m.total_clicks, 0) AS total_clicks,
    COALESCE(m.bounces, 0) AS bounces, COALESCE(m.complaints, 0) AS complaints,
    COALESCE(m.opt_outs, 0) AS opt_outs, COALESCE(m.failures, 0) AS failures,
    COALESCE(h.sessions, 0) AS sessions, COALESCE(h.purchases, 0) AS purchases,
    COALESCE(h.revenue, 0) AS revenue, COALESCE(h.purchasers, 0) AS purchasers
  FROM k
  LEFT JOIN targeted t ON t.campaign = k.campaign AND t.run_id = k.run_id
    AND t.treatment_id = k.treatment_id
  LEFT JOIN msg m ON m.campaign = k.campaign AND m.run_id = k.run_id
    AND m.treatment_id = k.treatment_id
  LEFT JOIN beh h ON h.campaign = k.campaign AND h.run_id = k.run_id
    AND h.treatment_id = k.treatment_id)
SELECT {sel},
  max(b.holdout) AS holdout,
  sum(b.targeted) AS targeted, sum(b.users) AS users, sum(b.scheduled) AS scheduled,
  sum(b.sent) AS sent, sum(b.delivered) AS delivered,
  {ratio("b.delivered", "b.sent")} AS delivery_rate,
  sum(b.opens) AS opens, sum(b.total_opens) AS total_opens,
  {ratio("b.opens", "b.delivered")} AS open_rate,
  sum(b.clicks) AS clicks, sum(b.total_clicks) AS total_clicks,
  {ratio("b.clicks", "b.delivered")} AS click_rate,
  sum(b.bounces) AS bounces, {ratio("b.bounces", "b.sent")} AS bounce_rate,
  sum(b.complaints) AS complaints, {ratio("b.complaints", "b.delivered")} AS complaint_rate,
  sum(b.opt_outs) AS opt_outs, {ratio("b.opt_outs", "b.delivered")} AS opt_out_rate,
  sum(b.failures) AS failures,
  sum(b.sessions) AS sessions, {ratio("b.sessions", "b.users")} AS sessions_per_user,
  sum(b.purchases) AS purchases, {ratio("b.purchases", "b.users")} AS purchases_per_user,
  sum(b.purchasers) AS purchasers, {ratio("b.purchasers", "b.users")} AS conversion_rate,
  sum(b.revenue) AS revenue, {ratio("b.revenue", "b.users")} AS revenue_per_user
FROM b {grp} {order}"""


def campaign_users(
    d: Dialect,
    campaign: str | Sequence[str],
    run_id: str | Sequence[str] | None,
    treatment_id: str | Sequence[str] | None,
    window_seconds: float | None,
) -> str:
    """uid, since, until of a campaign's allocated users (a heat-map or frame selection)."""
    conds = _plans_filter(campaign, run_id)
    if treatment_id is not None:
        ids = [treatment_id] if isinstance(treatment_id, str) else treatment_id
        conds.append(in_list("treatment_id", ids))
    until = (
        "CAST(NULL AS TIMESTAMP)"
        if window_seconds is None
        else d.add_seconds("min(due_at)", window_seconds)
    )
    return (
        f"SELECT COALESCE(user_id, endpoint_id) AS uid, min(due_at) AS since, {until} AS until "
        f"FROM plans {_where(conds)} GROUP BY COALESCE(user_id, endpoint_id)"
    )


#: Built-in per-user metrics of an experiment frame: (SQL aggregate over e, kind for stats).
EXPERIMENT_METRICS: dict[str, tuple[str, str]] = {
    "sessions": (f"count(CASE WHEN e.event_type = {lit(SESSION)} AND {{w}} THEN 1 END)", "mean"),
    "purchases": (f"count(CASE WHEN e.event_type = {lit(PURCHASE)} AND {{w}} THEN 1 END)", "mean"),
    "revenue": (
        f"COALESCE(sum(CASE WHEN e.event_type = {lit(PURCHASE)} AND {{w}} "
        f"THEN COALESCE(e.quantity, 1) * COALESCE(e.item_price, 0) END), 0)",
        "mean",
    ),
    "conversion": (
        f"max(CASE WHEN e.event_type = {lit(PURCHASE)} AND {{w}} THEN 1 ELSE 0 END)",
        "proportion",
    ),
    "active": (
        f"max(CASE WHEN e.event_type = {lit(SESSION)} AND {{w}} THEN 1 ELSE 0 END)",
        "proportion",
    ),
}


def experiment_frame(
    d: Dialect,
    campaign: str,
    run_id: str | Sequence[str] | None,
    metrics: Mapping[str, str],
    window_seconds: float,
    pre_seconds: float | None,
) -> str:
    """One row per allocated user: arm, exposure start and per-user metric values."""
    conds = _plans_filter(campaign, run_id)
    until = d.add_seconds("u.since", window_seconds)
    w_post = f"e.event_timestamp >= u.since AND e.event_timestamp < {until}"
    cols = []
    types: set[str] = set()
    for name, spec in metrics.items():
        if spec in EXPERIMENT_METRICS:
            template = EXPERIMENT_METRICS[spec][0]
            types.add(PURCHASE if spec in ("purchases", "revenue", "conversion") else SESSION)
        else:  # an event type: count of it
            template = f"count(CASE WHEN e.event_type = {lit(spec)} AND {{w}} THEN 1 END)"
            types.add(spec)
        cols.append(f"{template.format(w=w_post)} AS {d.q(name)}")
        if pre_seconds is not None:
            w_pre = (
                f"e.event_timestamp < u.since AND e.event_timestamp >= "
                f"{d.add_seconds('u.since', -pre_seconds)}"
            )
            cols.append(f"{template.format(w=w_pre)} AS {d.q(name + '_pre')}")
    lower = "u.since" if pre_seconds is None else d.add_seconds("u.since", -pre_seconds)
    return f"""
WITH alloc AS (
  SELECT COALESCE(user_id, endpoint_id) AS uid, run_id, treatment_id,
    CAST(holdout AS BOOLEAN) AS holdout, status, due_at
  FROM plans {_where(conds)}),
run_start AS (SELECT run_id, min(due_at) AS started FROM alloc GROUP BY run_id),
u AS (
  SELECT a.uid, min(a.treatment_id) AS arm, count(DISTINCT a.treatment_id) AS arms,
    max(CASE WHEN a.holdout THEN 1 ELSE 0 END) AS holdout,
    max(CASE WHEN a.status = 'scheduled' THEN 1 ELSE 0 END) AS scheduled,
    min(a.run_id) AS run_id, min(COALESCE(a.due_at, r.started)) AS since
  FROM alloc a LEFT JOIN run_start r ON r.run_id = a.run_id GROUP BY a.uid),
e AS (
  SELECT {UID} AS uid, event_type, event_timestamp, quantity, item_price
  FROM events WHERE {in_list("event_type", sorted(types))}
    AND {UID} IN (SELECT uid FROM u))
SELECT u.uid AS user_id, u.arm, u.arms, u.holdout, u.scheduled, u.run_id, u.since,
  {", ".join(cols)}
FROM u LEFT JOIN e ON e.uid = u.uid AND e.event_timestamp >= {lower}
  AND e.event_timestamp < {d.add_seconds("u.since", window_seconds)}
GROUP BY u.uid, u.arm, u.arms, u.holdout, u.scheduled, u.run_id, u.since
ORDER BY u.uid"""
