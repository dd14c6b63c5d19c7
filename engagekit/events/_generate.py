"""A vectorized generator of realistic app and campaign events, for tests, demos and benchmarks.

Users (from an endpoint frame) have a lognormal activity level, a first-seen day (some join
inside the window, so "new users" and retention cohorts are real), and a churn horizon. Sessions
follow a daily rhythm in each user's local time (morning, lunch and evening peaks, busier
weekends); each session has ``_session.start`` / ``_session.stop`` and a shopping funnel of
custom events — ``view_item`` → ``add_to_cart`` → ``checkout_start`` →
``_monetization.purchase`` (metrics ``_quantity`` and ``_item_price``, attributes
``_product_id`` and ``_currency``).

    >>> from engagekit.sample import generate_endpoints
    >>> events = generate_events(generate_endpoints(200, seed=1), 2_000, seed=1)
    >>> len(events)
    2000

Everything is numpy over whole arrays; ``iter_events`` yields one day at a time so 50M events
never sit in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engagekit.events._schema import ATTRIBUTES_TYPE, METRICS_TYPE

DEFAULT_START = "2026-10-01T00:00:00Z"
CATEGORIES = np.array(["shoes", "apparel", "outdoor", "fitness", "accessories", "nutrition"])
PRODUCTS_PER_CATEGORY = 25
APP_ID = "engagekit-demo-app"
# local hour-of-day weights: quiet nights, morning, lunch and evening peaks
HOUR_WEIGHTS = np.array(
    [
        0.6,
        0.3,
        0.2,
        0.15,
        0.15,
        0.3,
        1.0,
        2.2,
        3.0,
        2.6,
        2.2,
        2.4,
        3.2,
        3.0,
        2.2,
        2.0,
        2.2,
        2.8,
        3.6,
        4.4,
        4.8,
        4.2,
        2.8,
        1.4,
    ]
)
WEEKDAY_WEIGHTS = np.array([0.95, 0.92, 0.95, 1.0, 1.05, 1.2, 1.15])  # Monday first
# funnel transition probabilities inside a session
P_CART = 0.3
P_CHECKOUT = 0.5
P_PURCHASE = 0.6
MEAN_VIEWS = 1.6
EVENTS_PER_SESSION = 2 + MEAN_VIEWS + MEAN_VIEWS * P_CART * (1 + P_CHECKOUT * (1 + P_PURCHASE))


def _users(endpoints: pd.DataFrame) -> pd.DataFrame:
    """One app endpoint per user (push first, else the first endpoint), with its time zone."""
    cols = [
        "Id",
        "User.UserId",
        "ChannelType",
        "Demographic.Timezone",
        "Demographic.Platform",
        "Demographic.AppVersion",
        "Demographic.Make",
        "Demographic.Model",
        "Location.Country",
        "Demographic.Locale",
    ]
    have = [c for c in cols if c in endpoints.columns]
    df = endpoints[have].copy()
    for c in cols:
        if c not in df.columns:
            df[c] = pd.Series(pd.NA, index=df.index, dtype="string")
    df["User.UserId"] = df["User.UserId"].astype("string").fillna(df["Id"].astype("string"))
    push = df["ChannelType"].astype("string").isin(["APNS", "GCM", "PUSH"]).to_numpy()
    df["_rank"] = np.where(push, 0, 1)
    df = df.sort_values(["User.UserId", "_rank"], kind="stable").drop_duplicates("User.UserId")
    return df.reset_index(drop=True)


def _utc_offsets_minutes(zones: pd.Series, when: pd.Timestamp) -> np.ndarray:
    """Each row's UTC offset in minutes at ``when`` (computed once per distinct zone)."""
    codes, uniques = pd.factorize(zones.astype("string").fillna("UTC"))
    table = np.zeros(len(uniques), dtype=np.int64)
    for i, name in enumerate(uniques):
        try:
            off = when.tz_convert(ZoneInfo(str(name))).utcoffset()
        except (KeyError, ValueError):
            off = None
        table[i] = int(off.total_seconds() // 60) if off is not None else 0
    return table[codes]


def _arrow_str(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.string())


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def iter_events(
    endpoints: pd.DataFrame,
    n_events: int,
    seed: int = 0,
    start: str | datetime = DEFAULT_START,
    days: int = 30,
) -> Iterator[pd.DataFrame]:
    """Yield the generated events one day at a time (each frame sorted by time)."""
    rng = np.random.default_rng(seed)
    users = _users(endpoints)
    n_users = len(users)
    if n_users == 0 or n_events <= 0:
        return
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    t0 = t0.floor("D")
    # per-user traits
    activity = rng.lognormal(0.0, 1.0, size=n_users)
    first_day = np.where(
        rng.random(n_users) < 0.7, -1, rng.integers(0, max(days, 1), size=n_users)
    )  # 70% were already users before the window
    churn_day = first_day + np.ceil(rng.exponential(days * 1.5, size=n_users)).astype(np.int64)
    offsets = _utc_offsets_minutes(users["Demographic.Timezone"], t0)
    # sessions per day, following the weekday rhythm
    n_sessions = max(1, round(n_events / EVENTS_PER_SESSION))
    weekday = (t0.day_of_week + np.arange(days)) % 7
    day_w = WEEKDAY_WEIGHTS[weekday]
    per_day = rng.multinomial(n_sessions, day_w / day_w.sum())
    # events per day exactly add up to n_events (the surplus is trimmed from custom events)
    target_per_day = np.floor(per_day / max(per_day.sum(), 1) * n_events).astype(np.int64)
    target_per_day[: n_events - int(target_per_day.sum())] += 1
    u = users
    user_ids = u["User.UserId"].astype(str).to_numpy()
    endpoint_ids = u["Id"].astype(str).to_numpy()
    traits = {
        "platform": u["Demographic.Platform"],
        "app_version": u["Demographic.AppVersion"],
        "make": u["Demographic.Make"],
        "model": u["Demographic.Model"],
        "country": u["Location.Country"],
        "locale": u["Demographic.Locale"],
    }
    trait_arrays = {
        k: v.astype("string").to_numpy(dtype=object, na_value=None) for k, v in traits.items()
    }
    hour_p = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
    prices = np.round(rng.gamma(2.0, 15.0, size=len(CATEGORIES) * PRODUCTS_PER_CATEGORY) + 2, 2)
    serial = 0
    for day in range(days):
        drng = np.random.default_rng([seed, day])
        alive = (first_day <= day) & (churn_day >= day)
        weights = np.where(alive, activity, 0.0)
        # a user's first day in the window always has a session (that is what makes them new)
        newcomers = np.flatnonzero(first_day == day)
        s = int(per_day[day])
        if weights.sum() == 0 or s == 0:
            continue
        who = drng.choice(n_users, size=max(s - len(newcomers), 0), p=weights / weights.sum())
        who = np.concatenate([newcomers[:s], who])
        s = len(who)
        local_hour = drng.choice(24, size=s, p=hour_p)
        local_sec = local_hour * 3600 + drng.integers(0, 3600, size=s)
        start_s = t0.value // 10**9 + day * 86400 + local_sec - offsets[who] * 60
        duration = np.minimum(drng.exponential(300.0, size=s), 7200).astype(np.int64) + 5
        # the funnel
        views = drng.poisson(MEAN_VIEWS, size=s)
        cart = (views > 0) & (drng.random(s) < P_CART)
        checkout = cart & (drng.random(s) < P_CHECKOUT)
        purchase = checkout & (drng.random(s) < P_PURCHASE)
        n_per = 2 + views + cart + checkout + purchase
        total = int(n_per.sum())
        sess = np.repeat(np.arange(s), n_per)
        pos = np.arange(total) - np.repeat(np.cumsum(n_per) - n_per, n_per)
        # event kinds by position: 0 start, 1..views view, then cart, checkout, purchase, stop
        last = pos == (n_per[sess] - 1)
        v = views[sess]
        kind = np.full(total, "view_item", dtype=object)
        kind[pos == 0] = "_session.start"
        kind[last] = "_session.stop"
        after_views = pos - v
        kind[(after_views == 1) & ~last & cart[sess]] = "add_to_cart"
        kind[(after_views == 2) & ~last & checkout[sess]] = "checkout_start"
        kind[(after_views == 3) & ~last & purchase[sess]] = "_monetization.purchase"
        # timestamps spread over the session
        frac = np.where(last, 1.0, pos / np.maximum(n_per[sess] - 1, 1))
        ts_s = start_s[sess] + np.floor(frac * duration[sess]).astype(np.int64)
        ts_us = ts_s * 1_000_000 + drng.integers(0, 1_000_000, size=total) * (pos > 0)
        # trim or pad custom events to hit the day's target exactly
        target = int(target_per_day[day])
        custom = np.flatnonzero(kind == "view_item")
        if total > target and len(custom):
            drop = drng.choice(custom, size=min(total - target, len(custom)), replace=False)
            keep = np.ones(total, bool)
            keep[drop] = False
            sess, kind, ts_us, pos = sess[keep], kind[keep], ts_us[keep], pos[keep]
        elif total < target:
            extra = target - total
            es = drng.integers(0, s, size=extra)
            sess = np.concatenate([sess, es])
            kind = np.concatenate([kind, np.full(extra, "view_item", dtype=object)])
            ts_us = np.concatenate(
                [ts_us, (start_s[es] + drng.integers(1, 1 + duration[es])) * 1_000_000]
            )
            pos = np.concatenate([pos, np.ones(extra, np.int64)])
        n = len(kind)
        order = np.argsort(ts_us, kind="stable")
        sess, kind, ts_us = sess[order], kind[order], ts_us[order]
        uidx = who[sess]
        is_view = kind == "view_item"
        is_cart = kind == "add_to_cart"
        is_buy = kind == "_monetization.purchase"
        product = drng.integers(0, len(prices), size=n)
        category = CATEGORIES[product // PRODUCTS_PER_CATEGORY]
        has_cat = is_view | is_cart | (kind == "checkout_start")
        attr_offsets = np.concatenate([[0], np.cumsum(has_cat)]).astype(np.int32)
        attributes = pa.MapArray.from_arrays(
            pa.array(attr_offsets),
            pa.array(np.full(int(has_cat.sum()), "category", dtype=object), pa.string()),
            pa.array(category[has_cat], pa.string()),
        )
        dwell = np.round(drng.exponential(20.0, size=n), 1)
        metric_offsets = np.concatenate([[0], np.cumsum(is_view)]).astype(np.int32)
        metrics = pa.MapArray.from_arrays(
            pa.array(metric_offsets),
            pa.array(np.full(int(is_view.sum()), "dwell_seconds", dtype=object), pa.string()),
            pa.array(dwell[is_view], pa.float64()),
        )
        quantity = np.where(is_buy, drng.integers(1, 4, size=n), np.nan)
        price = np.where(is_buy, prices[product], np.nan)
        session_serial = serial + sess
        ts = pd.to_datetime(ts_us, unit="us", utc=True)
        sstart = pd.to_datetime(start_s[sess] * 1_000_000, unit="us", utc=True)
        frame = pd.DataFrame(
            {
                "event_id": pd.arrays.ArrowExtensionArray(
                    _ids(f"g{seed}-{day}-", np.arange(n, dtype=np.int64))
                ),
                "event_type": pd.array(kind.astype(str), dtype="string"),
                "event_timestamp": ts,
                "arrival_timestamp": ts
                + pd.to_timedelta(drng.integers(50, 5000, size=n), unit="ms"),
                "app_id": APP_ID,
                "endpoint_id": pd.array(endpoint_ids[uidx], dtype="string"),
                "user_id": pd.array(user_ids[uidx], dtype="string"),
                "session_id": pd.arrays.ArrowExtensionArray(
                    _ids(f"s{seed}-", session_serial.astype(np.int64))
                ),
                "session_start_timestamp": sstart,
                "channel_type": "APNS",
                **{k: pd.array(arr[uidx], dtype="string") for k, arr in trait_arrays.items()},
                "product_id": pd.array(
                    np.where(is_buy | is_view | is_cart, "p" + product.astype(str), None),  # type: ignore[call-overload]
                    dtype="string",
                ),
                "currency": pd.array(np.where(is_buy, "USD", None), dtype="string"),  # type: ignore[call-overload]
                "quantity": quantity,
                "item_price": price,
                "attributes": pd.arrays.ArrowExtensionArray(attributes),
                "metrics": pd.arrays.ArrowExtensionArray(metrics),
            }
        )
        serial += s
        yield frame


def generate_events(
    endpoints: pd.DataFrame,
    n_events: int,
    seed: int = 0,
    start: str | datetime = DEFAULT_START,
    days: int = 30,
) -> pd.DataFrame:
    """``n_events`` app events for the users of ``endpoints`` over ``days`` days from ``start``.

    The result is a flat-column frame ready for :func:`engagekit.events.append_events`.
    """
    frames = list(iter_events(endpoints, n_events, seed=seed, start=start, days=days))
    if not frames:
        return pd.DataFrame(columns=["event_id", "event_type", "event_timestamp"])
    return pd.concat(frames, ignore_index=True)


# -- campaign message events -------------------------------------------------------------------
#: Default outcome rates of a simulated e-mail send (per message or per previous step).
CAMPAIGN_RATES = {
    "delivered": 0.97,  # of sent
    "hardbounce": 0.02,  # of sent (the rest of the undelivered soft-bounce)
    "open": 0.30,  # of delivered
    "click": 0.25,  # of opened
    "complaint": 0.002,  # of delivered
    "unsubscribe": 0.01,  # of delivered
}


def generate_campaign_events(
    plan: pd.DataFrame,
    seed: int = 0,
    *,
    rates: dict[str, float] | None = None,
    lift: dict[str, float] | None = None,
    app_endpoints: pd.Series | None = None,
) -> pd.DataFrame:
    """Message events for the scheduled rows of a campaign plan (the contract's plan columns).

    Each scheduled row gets ``_campaign.send`` and ``_email.send`` at ``due_at``, then
    ``_email.delivered`` or a bounce, opens, clicks, complaints and unsubscribes at the given
    ``rates``. ``lift`` maps a treatment id to an extra probability that a delivered recipient
    comes back for a session with a purchase within three days (so experiment analyses have an
    effect to find); ``app_endpoints`` (user id -> endpoint id) routes those sessions to the
    user's app endpoint.
    """
    r = CAMPAIGN_RATES | (rates or {})
    rng = np.random.default_rng(seed)
    sched = plan[(plan["status"] == "scheduled") & ~plan["holdout"].astype(bool)].reset_index(
        drop=True
    )
    n = len(sched)
    if n == 0:
        return pd.DataFrame(columns=["event_id", "event_type", "event_timestamp"])
    due = pd.to_datetime(sched["due_at"], utc=True).astype("datetime64[us, UTC]")
    due_us = due.dt.tz_convert(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    delivered = rng.random(n) < r["delivered"]
    hard = ~delivered & (rng.random(n) < r["hardbounce"] / max(1 - r["delivered"], 1e-9))
    soft = ~delivered & ~hard
    opened = delivered & (rng.random(n) < r["open"])
    clicked = opened & (rng.random(n) < r["click"])
    complained = delivered & (rng.random(n) < r["complaint"])
    unsub = delivered & (rng.random(n) < r["unsubscribe"])
    minute = 60_000_000
    steps = [
        ("_campaign.send", np.ones(n, bool), 0),
        ("_email.send", np.ones(n, bool), 1_000_000),
        ("_email.delivered", delivered, 30_000_000),
        ("_email.hardbounce", hard, 60_000_000),
        ("_email.softbounce", soft, 60_000_000),
        ("_email.open", opened, None),
        ("_email.click", clicked, None),
        ("_email.complaint", complained, None),
        ("_email.unsubscribe", unsub, None),
    ]
    open_delay = (rng.exponential(180, size=n) * minute).astype(np.int64) + minute
    click_delay = open_delay + (rng.exponential(3, size=n) * minute).astype(np.int64) + minute
    late_delay = open_delay + (rng.exponential(30, size=n) * minute).astype(np.int64)
    delays = {
        "_email.open": open_delay,
        "_email.click": click_delay,
        "_email.complaint": late_delay,
        "_email.unsubscribe": late_delay,
    }
    parts = []
    for etype, mask, fixed in steps:
        idx = np.flatnonzero(mask)
        if not len(idx):
            continue
        delay = np.full(len(idx), fixed) if fixed is not None else delays[etype][idx]
        parts.append((etype, idx, due_us[idx] + delay))
    frames = []
    for etype, idx, ts in parts:
        sub = sched.iloc[idx]
        frames.append(
            pd.DataFrame(
                {
                    "event_type": etype,
                    "event_timestamp": pd.to_datetime(ts, unit="us", utc=True),
                    "endpoint_id": sub["endpoint_id"].astype("string").to_numpy(),
                    "user_id": sub["user_id"].astype("string").to_numpy(),
                    "channel_type": sub["channel_type"].astype("string").to_numpy(),
                    "campaign_id": sub["campaign"].astype("string").to_numpy(),
                    "run_id": sub["run_id"].astype("string").to_numpy(),
                    "treatment_id": sub["treatment_id"].astype("string").to_numpy(),
                    "message_id": (
                        "m-" + sub["run_id"].astype(str) + "-" + sub["endpoint_id"].astype(str)
                    ).to_numpy(),
                }
            )
        )
    # behaviour change: an extra session with a purchase for some delivered recipients
    if lift:
        p = sched["treatment_id"].astype(str).map(lift).fillna(0.0).to_numpy(dtype=float)
        back = delivered & (rng.random(n) < p)
        idx = np.flatnonzero(back)
        if len(idx):
            t = due_us[idx] + (rng.uniform(0.05, 3.0, size=len(idx)) * 86400e6).astype(np.int64)
            users = sched["user_id"].astype(str).to_numpy()[idx]
            eps = sched["endpoint_id"].astype(str).to_numpy()[idx]
            if app_endpoints is not None:
                mapped = pd.Series(users).map(app_endpoints).to_numpy(dtype=object)
                eps = np.where(pd.isna(mapped), eps, mapped)
            sid = np.array([f"lift-{seed}-{i}" for i in idx], dtype=object)
            base = {"endpoint_id": eps, "user_id": users, "session_id": sid, "app_id": APP_ID}
            for etype, offset in (
                ("_session.start", 0),
                ("_monetization.purchase", 60),
                ("_session.stop", 240),
            ):
                extra = pd.DataFrame(
                    base
                    | {
                        "event_type": etype,
                        "event_timestamp": pd.to_datetime(
                            t + offset * 1_000_000, unit="us", utc=True
                        ),
                    }
                )
                if etype == "_monetization.purchase":
                    extra["quantity"] = 1.0
                    extra["item_price"] = np.round(rng.gamma(2.0, 15.0, size=len(idx)) + 2, 2)
                    extra["product_id"] = "p-campaign"
                    extra["currency"] = "USD"
                frames.append(extra)
    out = pd.concat(frames, ignore_index=True)
    out["event_id"] = (
        f"c{seed}-"
        + out["event_type"].astype(str)
        + "-"
        + out["endpoint_id"].astype(str)
        + "-"
        + out.get("run_id", pd.Series("", index=out.index)).fillna("").astype(str)
        + "-"
        + out.get("session_id", pd.Series("", index=out.index)).fillna("").astype(str)
    )
    out["attributes"] = pd.arrays.ArrowExtensionArray(pa.array([[]] * len(out), ATTRIBUTES_TYPE))
    out["metrics"] = pd.arrays.ArrowExtensionArray(pa.array([[]] * len(out), METRICS_TYPE))
    return out.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def generate_plan(
    endpoints: pd.DataFrame,
    *,
    campaign: str = "demo",
    run_id: str = "demo-run-1",
    treatments: tuple[str, ...] = ("0", "1"),
    holdout: float = 0.1,
    due_at: str | datetime = "2026-10-08T09:00:00Z",
    channel: str = "EMAIL",
    seed: int = 0,
) -> pd.DataFrame:
    """A campaign plan in the contract's shape (one row per ``channel`` endpoint, users split
    evenly over ``treatments`` after a ``holdout`` share), for tests, demos and benchmarks.

    Real plans come from ``engagekit.campaigns.plan_campaign``; this one skips eligibility.
    """
    rows = endpoints[endpoints["ChannelType"].astype("string") == channel].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    users = rows["User.UserId"].astype("string").fillna(rows["Id"].astype("string"))
    codes, uniques = pd.factorize(users)
    share = (1 - holdout) / len(treatments)
    arms = np.array([*treatments, "holdout"], dtype=object)
    per_user = rng.choice(len(arms), size=len(uniques), p=[share] * len(treatments) + [holdout])
    arm = arms[per_user[codes]]
    is_holdout = arm == "holdout"
    due = pd.Timestamp(due_at)
    due = due.tz_localize("UTC") if due.tzinfo is None else due.tz_convert("UTC")
    return pd.DataFrame(
        {
            "run_id": run_id,
            "campaign": campaign,
            "campaign_version": 1,
            "treatment_id": pd.array(arm.astype(str), dtype="string"),
            "holdout": is_holdout,
            "endpoint_id": rows["Id"].astype("string"),
            "user_id": users,
            "channel_type": channel,
            "address": rows["Address"].astype("string"),
            "template": campaign,
            "template_version": 1,
            "due_at": pd.Series(due, index=rows.index).astype("datetime64[us, UTC]"),
            "timezone": rows["Demographic.Timezone"].astype("string").fillna("UTC"),
            "status": np.where(is_holdout, "excluded", "scheduled"),
            "reason": pd.array(np.where(is_holdout, "HOLDOUT", None), dtype="string"),  # type: ignore[call-overload]
            "step": "send",
        }
    )
