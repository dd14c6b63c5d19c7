"""A documented model of how recipients behave after a campaign, for demos and benchmarks.

The demo needs a campaign whose effect is real and known, so that the report has something true
to find. This module draws recipients' behaviour over the weeks after a send:

* **Baseline activity.** User *u* has a daily session rate ``λ_u = base_rate · g_u`` with
  ``g_u ~ Gamma(shape=2, scale=0.5)`` (mean 1), so a few users are very active and most are not.
* **Treatment effect.** A recipient in arm *a* whose email was delivered has their rate multiplied
  by ``1 + lift_a · exp(-d / decay_days)`` on day *d* after the send (``d = 0, 1, …``); holdout
  users and undelivered recipients keep the baseline. Sessions per user-day are Poisson.
* **Email engagement.** A delivered email is opened with probability ``open_rate_a`` (within a
  few hours, exponential delay) and clicked with probability ``click_rate_a`` given an open; a
  click starts a session.
* **Purchases.** Each session converts with probability ``purchase_rate · (1 + purchase_lift_a)``;
  a purchase has 1–3 units at a log-normal price (median ``price_median``).
* **Time of day.** Sessions start at an hour drawn from a two-peak diurnal profile in the
  endpoint's own time zone (``Demographic.Timezone``), so heat maps show local evenings.

All draws come from one ``numpy.random.Generator`` seeded by ``seed``: same inputs, same events.
The output has the event lake's flat columns (see :mod:`engagekit.events`).

    >>> from engagekit.simulate import BehaviourModel, simulate_behaviour
    >>> model = BehaviourModel(lift={"0": 0.20, "1": 0.40})            # doctest: +SKIP
    >>> events = simulate_behaviour(allocation, model, start="2026-11-02")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Relative weight of each local hour (0–23) for session starts: a morning and an evening peak.
_MORNING = [1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.2, 2.8, 2.4, 2.0, 2.0]  # 00-11 h
_EVENING = [2.4, 2.2, 2.0, 2.0, 2.2, 2.8, 3.4, 4.0, 4.2, 3.6, 2.6, 1.6]  # 12-23 h
DIURNAL = np.array(_MORNING + _EVENING)


@dataclass(frozen=True)
class BehaviourModel:
    """Parameters of the behaviour model (see the module docstring for the equations)."""

    base_rate: float = 0.12
    lift: dict[str, float] = field(default_factory=lambda: {"0": 0.20, "1": 0.40})
    decay_days: float = 7.0
    open_rate: dict[str, float] = field(default_factory=lambda: {"0": 0.22, "1": 0.30})
    click_rate: dict[str, float] = field(default_factory=lambda: {"0": 0.12, "1": 0.15})
    purchase_rate: float = 0.06
    purchase_lift: dict[str, float] = field(default_factory=lambda: {"0": 0.0, "1": 0.10})
    price_median: float = 24.0
    price_sigma: float = 0.6
    session_minutes_median: float = 6.0
    app_id: str = "demo-app"


def simulate_behaviour(
    allocation: pd.DataFrame,
    model: BehaviourModel,
    *,
    start: str | pd.Timestamp,
    days: int = 28,
    seed: int = 0,
    col_user: str = "user_id",
    col_endpoint: str = "endpoint_id",
    col_arm: str = "treatment_id",
    col_delivered: str = "delivered",
    col_timezone: str = "timezone",
    col_campaign: str = "campaign",
    col_run: str = "run_id",
) -> pd.DataFrame:
    """Draw sessions, email opens/clicks and purchases for every allocated user.

    ``allocation`` has one row per recipient endpoint (holdout included) with the arm
    (``"holdout"`` for the control group), whether the message was delivered, and the
    endpoint's time zone. Returns events with the lake's flat columns, sorted by time.
    """
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    alloc = allocation.reset_index(drop=True)
    n = len(alloc)
    if n == 0:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    arms = alloc[col_arm].astype("string").fillna("holdout")
    delivered = alloc[col_delivered].fillna(False).astype(bool).to_numpy()
    treated = delivered & (arms != "holdout").to_numpy()

    def per_arm(values: dict[str, float]) -> np.ndarray:
        return arms.map(values).fillna(0.0).to_numpy(dtype=float)

    lift = per_arm(model.lift) * treated
    p_lift = per_arm(model.purchase_lift) * treated
    activity = rng.gamma(2.0, 0.5, size=n)
    zones = alloc[col_timezone].astype("string").fillna("UTC")
    emit = _Emitter(
        t0,
        model.app_id,
        user=alloc[col_user].to_numpy(),
        endpoint=alloc[col_endpoint].to_numpy(),
        arm=alloc[col_arm].to_numpy(),
        campaign=alloc[col_campaign].to_numpy(),
        run=alloc[col_run].to_numpy(),
    )

    # email opens and clicks (delivered, non-holdout only)
    opened = rng.random(n) < per_arm(model.open_rate) * treated
    clicked = opened & (rng.random(n) < per_arm(model.click_rate))
    open_delay = rng.exponential(3 * 3600, size=n)
    click_delay = open_delay + rng.exponential(120, size=n)
    idx_open, idx_click = np.flatnonzero(opened), np.flatnonzero(clicked)
    parts = [
        emit(idx_open, "_email.open", open_delay[idx_open], channel="EMAIL"),
        emit(idx_click, "_email.click", click_delay[idx_click], channel="EMAIL"),
    ]

    # sessions: Poisson per user-day, plus one session per click
    d = np.arange(days)
    rate = model.base_rate * activity[:, None] * (1 + lift[:, None] * np.exp(-d / model.decay_days))
    counts = rng.poisson(rate)
    user_rows, day_of = np.nonzero(counts)
    reps = counts[user_rows, day_of]
    s_user = np.repeat(user_rows, reps)
    s_day = np.repeat(day_of, reps)
    hour = rng.choice(24, size=len(s_user), p=DIURNAL / DIURNAL.sum())
    local_secs = s_day * 86400 + hour * 3600 + rng.integers(0, 3600, size=len(s_user))
    s_secs = np.maximum(local_secs - _utc_offsets(zones.to_numpy()[s_user], t0), 0)
    s_user = np.concatenate([s_user, idx_click])
    s_secs = np.concatenate([s_secs, click_delay[idx_click] + 30]).astype(np.int64)
    duration = rng.lognormal(np.log(model.session_minutes_median * 60), 0.8, size=len(s_user))
    session_ids = (f"s-{seed}-" + pd.Series(np.arange(len(s_user))).astype(str)).to_numpy()
    parts.append(emit(s_user, "_session.start", s_secs, session_ids=session_ids))
    parts.append(emit(s_user, "_session.stop", s_secs + duration, session_ids=session_ids))

    # purchases inside sessions
    buys = np.flatnonzero(rng.random(len(s_user)) < model.purchase_rate * (1 + p_lift[s_user]))
    qty = rng.integers(1, 4, size=len(buys)).astype(float)
    price = np.round(
        rng.lognormal(np.log(model.price_median), model.price_sigma, size=len(buys)), 2
    )
    purchase = emit(
        s_user[buys],
        "_monetization.purchase",
        s_secs[buys] + duration[buys] / 2,
        session_ids=session_ids[buys],
    )
    purchase["metrics"] = [
        {"_quantity": q, "_item_price": pr} for q, pr in zip(qty, price, strict=True)
    ]
    purchase["attributes"] = [
        {"_product_id": f"sku-{k}", "_currency": "USD"}
        for k in rng.integers(100, 160, size=len(buys))
    ]
    parts.append(purchase)
    out = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return out.sort_values("event_timestamp", kind="stable", ignore_index=True)


def _utc_offsets(zones: np.ndarray, at: pd.Timestamp) -> np.ndarray:
    """Seconds east of UTC for each zone name, at one instant (DST within a month is ignored)."""
    uniq, inverse = np.unique(zones.astype(str), return_inverse=True)
    offs = np.array([int(at.tz_convert(z).utcoffset().total_seconds()) for z in uniq])
    return offs[inverse]


EVENT_COLUMNS = [
    "event_type",
    "event_timestamp",
    "endpoint_id",
    "user_id",
    "session_id",
    "app_id",
    "channel_type",
    "campaign_id",
    "run_id",
    "treatment_id",
    "attributes",
    "metrics",
]


@dataclass(frozen=True)
class _Emitter:
    """Builds event frames for rows of the allocation (arrays taken once, not per event type)."""

    t0: pd.Timestamp
    app_id: str
    user: np.ndarray
    endpoint: np.ndarray
    arm: np.ndarray
    campaign: np.ndarray
    run: np.ndarray

    def __call__(
        self,
        rows: np.ndarray,
        event_type: str,
        seconds: np.ndarray,
        *,
        channel: str | None = None,
        session_ids: np.ndarray | None = None,
    ) -> pd.DataFrame:
        if len(rows) == 0:
            return pd.DataFrame(columns=EVENT_COLUMNS)
        ts = self.t0 + pd.to_timedelta(np.asarray(seconds, dtype=float), unit="s")
        message = event_type.startswith("_email")  # campaign attribution on message events
        return pd.DataFrame(
            {
                "event_type": event_type,
                "event_timestamp": ts.array,
                "endpoint_id": self.endpoint[rows],
                "user_id": self.user[rows],
                "session_id": session_ids,
                "app_id": self.app_id,
                "channel_type": channel,
                "campaign_id": self.campaign[rows] if message else None,
                "run_id": self.run[rows] if message else None,
                "treatment_id": self.arm[rows] if message else None,
                "attributes": [{}] * len(rows),
                "metrics": [{}] * len(rows),
            }
        )
